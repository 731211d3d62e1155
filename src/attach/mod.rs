//! Attach to a running Prometheus and watch its real connections: a second [`Source`] behind
//! the same event contract as the engine.
//!
//! Prometheus's API says which targets it scrapes and how the last scrape went, but not over
//! which connection, to which address, since when. The kernel knows: the process's descriptor
//! table names its sockets, and the socket table of its network namespace (NETLINK_SOCK_DIAG)
//! gives each one's addresses and `tcp_info`. The observer joins the two with the targets'
//! addresses as Prometheus itself would resolve them, and emits `target_added`, `conn_opened`,
//! `conn_closed` (`gone`, or `forced` after our reconnect), `scrape`, `dns_resolved`,
//! `stale_peer`, `probe` and `fds` events.
//!
//! Everything that touches the network runs on one thread that entered the process's network
//! namespace (`setns`, needs CAP_SYS_ADMIN): sockets belong to the namespace they are created
//! in, so the API on its 127.0.0.1, its DNS servers and fresh probes are reached from where
//! Prometheus's own connections leave.

pub mod api;
pub mod diag;
mod observer;
pub mod proc;
pub mod resolve;
pub mod targets;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::sync::mpsc;

pub use observer::ApiAddr;
pub use proc::{FindError, Process};

use crate::source::{Capabilities, Capability, Source, SourceHandle};

/// What `scrapetop attach` was asked.
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    /// The Prometheus process; `None`: the only one running.
    pub pid: Option<i32>,
    /// Its API (`http://host:port/prefix`), reached from inside its namespace; `None`: from its
    /// `--web.listen-address` and `--web.route-prefix`.
    pub api_url: Option<String>,
}

/// Why attaching failed.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// Which process: none, several, unreadable.
    #[error(transparent)]
    Find(#[from] FindError),
    /// A bad `--prometheus` URL.
    #[error("--prometheus {url:?}: {why}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// Entering the namespace or opening the socket table failed.
    #[error("{0}")]
    Setup(String),
}

impl AttachError {
    /// Exit status: 2 for what the operator must fix in the command line.
    pub fn exit_code(&self) -> u8 {
        match self {
            AttachError::Find(_) | AttachError::BadUrl { .. } => 2,
            AttachError::Setup(_) => 1,
        }
    }
}

/// The API address from a `--web.listen-address` value: a wildcard or empty host means the
/// process's own loopback.
pub fn api_from_listen(listen: &str, prefix: &str) -> Option<ApiAddr> {
    let (host, port) = listen.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = match host {
        "" | "0.0.0.0" | "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        "::" => "::1".parse().ok()?,
        h => h.parse().ok()?,
    };
    let addr = SocketAddr::new(ip, port);
    Some(ApiAddr {
        addr,
        host: addr.to_string(),
        prefix: if prefix == "/" {
            String::new()
        } else {
            prefix.trim_end_matches('/').to_owned()
        },
    })
}

/// The API address from `--prometheus URL` (an address, or `localhost`; plain http).
pub fn api_from_url(url: &str) -> Result<ApiAddr, AttachError> {
    // The URL is quoted in errors: never with its credentials.
    let shown = match url.split_once("://") {
        Some((scheme, rest)) if rest.split('/').next().is_some_and(|a| a.contains('@')) => {
            let after = rest.split_once('@').map(|x| x.1).unwrap_or("");
            format!("{scheme}://***@{after}")
        }
        _ => url.to_owned(),
    };
    let bad = |why| AttachError::BadUrl {
        url: shown.clone(),
        why,
    };
    let uri: http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => return Err(bad("https APIs are not supported by attach yet")),
        _ => return Err(bad("expected http://host:port[/prefix]")),
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(bad(
            "credentials in the URL are not supported (and would be shown)",
        ));
    }
    let host = uri.host().ok_or_else(|| bad("no host"))?;
    let port = uri.port_u16().unwrap_or(80);
    let listen = format!("{host}:{port}");
    let mut a = api_from_listen(&listen, uri.path())
        .ok_or_else(|| bad("the host must be an IP address or localhost"))?;
    a.host = uri.authority().map(|x| x.to_string()).unwrap_or(a.host);
    Ok(a)
}

/// The attached Prometheus as a [`Source`].
pub struct AttachSource {
    process: Process,
    api: ApiAddr,
}

impl AttachSource {
    /// Find the process and decide where its API is. Nothing is entered or read yet.
    pub fn new(opts: &AttachOptions) -> Result<AttachSource, AttachError> {
        let process = proc::find(opts.pid)?;
        let api = match &opts.api_url {
            Some(u) => api_from_url(u)?,
            None => api_from_listen(&process.flags.listen, &process.flags.route_prefix)
                .ok_or_else(|| {
                    AttachError::Setup(format!(
                        "PID {}: cannot read --web.listen-address {:?}; give --prometheus URL",
                        process.pid, process.flags.listen
                    ))
                })?,
        };
        Ok(AttachSource { process, api })
    }

    /// The process found.
    pub fn process(&self) -> &Process {
        &self.process
    }
}

impl Source for AttachSource {
    type Error = AttachError;

    /// It can look, probe and ask; it cannot pause Prometheus or load target files into it.
    fn capabilities(&self) -> Capabilities {
        Capabilities::none()
            .with(Capability::Probe)
            .with(Capability::ReResolve)
            .with(Capability::Reconnect)
            .with(Capability::Reload)
    }

    fn start(self) -> Result<SourceHandle, AttachError> {
        let capabilities = self.capabilities();
        let (cmd_tx, cmd_rx) = mpsc::channel(crate::engine::COMMAND_QUEUE);
        let (ev_tx, ev_rx) = mpsc::channel(4096);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let AttachSource { process, api } = self;
        std::thread::Builder::new()
            .name("scrapetop-attach".to_owned())
            .spawn(move || {
                let setup = || -> Result<(tokio::runtime::Runtime, observer::Observer), String> {
                    enter_netns(process.pid)?;
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| format!("runtime: {e}"))?;
                    let obs = {
                        let _g = rt.enter();
                        observer::Observer::new(process, api, ev_tx).map_err(|e| {
                            format!("opening NETLINK_SOCK_DIAG in Prometheus's namespace: {e}")
                        })?
                    };
                    Ok((rt, obs))
                };
                match setup() {
                    Ok((rt, obs)) => {
                        let _ = ready_tx.send(Ok(()));
                        rt.block_on(obs.run(cmd_rx));
                        rt.shutdown_timeout(Duration::from_millis(200));
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
                let _ = done_tx.send(());
            })
            .map_err(|e| AttachError::Setup(format!("starting the observer thread: {e}")))?;
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(AttachError::Setup(e)),
            Err(_) => {
                return Err(AttachError::Setup(
                    "the observer thread did not start within 10 s".to_owned(),
                ));
            }
        }
        let done = tokio::spawn(async move {
            let _ = done_rx.await;
        });
        Ok(SourceHandle {
            commands: cmd_tx,
            events: ev_rx,
            done,
            capabilities,
        })
    }
}

/// Move the calling thread into `pid`'s network namespace (nothing to do when it is already
/// ours).
fn enter_netns(pid: i32) -> Result<(), String> {
    let theirs = proc::netns_inode(pid).map_err(|e| format!("/proc/{pid}/ns/net: {e}"))?;
    let ours = proc::netns_inode(std::process::id() as i32).ok();
    if ours == Some(theirs) {
        return Ok(());
    }
    let f = std::fs::File::open(format!("/proc/{pid}/ns/net"))
        .map_err(|e| format!("opening /proc/{pid}/ns/net (needs root): {e}"))?;
    rustix::thread::move_into_link_name_space(
        std::os::fd::AsFd::as_fd(&f),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )
    .map_err(|e| format!("entering the network namespace of PID {pid} (needs CAP_SYS_ADMIN): {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_address_from_flags_and_urls() {
        let a = api_from_listen(":9090", "/").expect("default");
        assert_eq!(a.addr, "127.0.0.1:9090".parse().expect("addr"));
        assert_eq!(a.prefix, "");
        let a = api_from_listen("[::]:9091", "/prom").expect("v6");
        assert_eq!(a.addr, "[::1]:9091".parse().expect("addr"));
        assert_eq!(a.prefix, "/prom");
        let a = api_from_listen("10.1.2.3:80", "/").expect("ip");
        assert_eq!(a.addr.ip().to_string(), "10.1.2.3");
        assert!(api_from_listen("nohost", "/").is_none());
        let a = api_from_url("http://127.0.0.1:9090/p/").expect("url");
        assert_eq!((a.addr.port(), a.prefix.as_str()), (9090, "/p"));
        assert!(api_from_url("https://127.0.0.1:9090").is_err());
        let e = api_from_url("http://u:secret@127.0.0.1:9090").expect_err("userinfo");
        assert!(!e.to_string().contains("secret"), "{e}");
    }
}

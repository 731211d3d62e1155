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
    /// Its API (`http(s)://host:port/prefix`), reached from inside its namespace; `None`: from
    /// its `--web.listen-address` and `--web.route-prefix`.
    pub api_url: Option<String>,
    /// `--http.config.file`: credentials and TLS for the API, in the format promtool reads.
    pub http_config: Option<std::path::PathBuf>,
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
    /// The HTTP client configuration for the API cannot be used, or the API refused us
    /// (401/403, a TLS failure): the operator must give or fix `--http.config.file`.
    #[error("{0}")]
    Api(String),
    /// Entering the namespace or opening the socket table failed.
    #[error("{0}")]
    Setup(String),
}

impl AttachError {
    /// Exit status: 2 for what the operator must fix in the command line.
    pub fn exit_code(&self) -> u8 {
        match self {
            AttachError::Find(_) | AttachError::BadUrl { .. } | AttachError::Api(_) => 2,
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
        https: false,
        client: api::Client::default(),
        host: addr.to_string(),
        prefix: if prefix == "/" {
            String::new()
        } else {
            prefix.trim_end_matches('/').to_owned()
        },
    })
}

/// The API address from `--prometheus URL` (an address, or `localhost`; http or https).
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
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(bad("expected http(s)://host:port[/prefix]")),
    };
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(bad(
            "credentials in the URL are not supported (and would be shown): give them in --http.config.file",
        ));
    }
    let host = uri.host().ok_or_else(|| bad("no host"))?;
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let listen = format!("{host}:{port}");
    let mut a = api_from_listen(&listen, uri.path())
        .ok_or_else(|| bad("the host must be an IP address or localhost"))?;
    a.host = uri.authority().map(|x| x.to_string()).unwrap_or(a.host);
    a.https = https;
    Ok(a)
}

/// The API's client from `--http.config.file` (or none: plain, system roots for https).
/// Notices (settings scrapetop reads differently) are returned to be shown.
pub fn api_client(
    http_config: Option<&std::path::Path>,
    https: bool,
) -> Result<(api::Client, Vec<String>), AttachError> {
    let (auth, tls, notices) = match http_config {
        Some(p) => crate::config::http_client_file(p)
            .map_err(|e| AttachError::Api(format!("--http.config.file: {e}")))?,
        None => Default::default(),
    };
    let client = api::Client::new(&auth, &tls, https).map_err(|e| {
        AttachError::Api(crate::redact::text(&format!(
            "--http.config.file {}: {e}",
            http_config
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        )))
    })?;
    Ok((client, notices))
}

/// The attached Prometheus as a [`Source`].
pub struct AttachSource {
    process: Process,
    api: ApiAddr,
    notices: Vec<String>,
}

impl AttachSource {
    /// Find the process and decide where its API is. Nothing is entered or read yet.
    pub fn new(opts: &AttachOptions) -> Result<AttachSource, AttachError> {
        let process = proc::find(opts.pid)?;
        let mut api = match &opts.api_url {
            Some(u) => api_from_url(u)?,
            None => api_from_listen(&process.flags.listen, &process.flags.route_prefix)
                .ok_or_else(|| {
                    AttachError::Setup(format!(
                        "PID {}: cannot read --web.listen-address {:?}; give --prometheus URL",
                        process.pid, process.flags.listen
                    ))
                })?,
        };
        if opts.api_url.is_none() && proc::serves_tls(&process) == Some(true) {
            api.https = true;
        }
        let (client, notices) = api_client(opts.http_config.as_deref(), api.https)?;
        api.client = client;
        Ok(AttachSource {
            process,
            api,
            notices,
        })
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
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), Fail>>();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let AttachSource {
            process,
            api,
            notices,
        } = self;
        std::thread::Builder::new()
            .name("scrapetop-attach".to_owned())
            .spawn(move || {
                let setup = || -> Result<(tokio::runtime::Runtime, observer::Observer), Fail> {
                    enter_netns(process.pid, process.netns != 0).map_err(Fail::Setup)?;
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| Fail::Setup(format!("runtime: {e}")))?;
                    let mut obs = {
                        let _g = rt.enter();
                        observer::Observer::new(process, api, ev_tx, notices).map_err(|e| {
                            Fail::Setup(format!(
                                "opening NETLINK_SOCK_DIAG in Prometheus's namespace: {e}"
                            ))
                        })?
                    };
                    // Credentials or TLS the API refuses are the operator's to fix: said
                    // before anything is shown, not as an error event at every poll.
                    rt.block_on(obs.check_api()).map_err(Fail::Api)?;
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
        // Entering, opening and the first API read (10 s at most).
        match ready_rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok(())) => {}
            Ok(Err(Fail::Setup(e))) => return Err(AttachError::Setup(e)),
            Ok(Err(Fail::Api(e))) => return Err(AttachError::Api(e)),
            Err(_) => {
                return Err(AttachError::Setup(
                    "the observer thread did not start within 20 s".to_owned(),
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

/// Why the observer thread could not start.
enum Fail {
    Setup(String),
    Api(String),
}

/// Move the calling thread into `pid`'s network namespace (nothing to do when it is already
/// ours).
fn enter_netns(pid: i32, known: bool) -> Result<(), String> {
    // Unreadable (no ptrace rights): assumed to be ours, as the observer's notice says.
    if !known {
        return Ok(());
    }
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
    fn http_config_files_are_checked_and_never_echo_a_secret() {
        let dir = tempfile::tempdir().expect("dir");
        let good = dir.path().join("good.yml");
        std::fs::write(
            &good,
            "basic_auth:\n  username: u\n  password: hunter2\nfollow_redirects: true\n",
        )
        .expect("write");
        let (client, notices) = api_client(Some(&good), false).expect("usable");
        assert!(notices.is_empty(), "{notices:?}");
        assert!(client.has_auth() && !client.is_https());
        assert!(!format!("{client:?}").contains("hunter2"), "{client:?}");
        for (name, text, want) in [
            (
                "unknown.yml",
                "basic_auth:\n  username: u\n  password: hunter2\nproxy_url: http://p\n",
                "unknown field `proxy_url`",
            ),
            (
                "both.yml",
                "basic_auth:\n  username: u\n  password: hunter2\nauthorization:\n  credentials: hunter2\n",
                "at most one of basic_auth, oauth2 & authorization",
            ),
            (
                "nofile.yml",
                "basic_auth:\n  username: u\n  password_file: missing-pw\n",
                "unable to read basic auth password",
            ),
            (
                "noca.yml",
                "tls_config:\n  ca_file: missing-ca.pem\n",
                "unable to read CA cert",
            ),
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, text).expect("write");
            let e = api_client(Some(&p), true).expect_err(name).to_string();
            assert!(e.contains(want), "{name}: {e}");
            assert!(e.contains(name), "{name}: names the file: {e}");
            assert!(!e.contains("hunter2"), "{name}: {e}");
            assert_eq!(
                api_client(Some(&p), true)
                    .map(|_| ())
                    .map_err(|e| e.exit_code()),
                Err(2)
            );
        }
    }

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
        let a = api_from_url("https://127.0.0.1/").expect("https");
        assert!(a.https && a.addr.port() == 443, "{a:?}");
        let e = api_from_url("http://u:secret@127.0.0.1:9090").expect_err("userinfo");
        assert!(!e.to_string().contains("secret"), "{e}");
    }
}

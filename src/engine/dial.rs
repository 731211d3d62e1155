//! Dialling a new connection: resolve (a lookup on every dial, as Prometheus), connect within
//! the scrape deadline, TLS; failures classified by errno.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::io::Errno;
use tokio::net::{TcpSocket, TcpStream};

use crate::event::{ConnFailKind, DnsCause, EventKind};

use super::conn::{DialError, SockInfo};
use super::ctx::Ctx;
use super::dns::{Answer, resolve};
use super::h2::H2Conn;
use super::http1::Stream;
use super::pool::{self, InUse, Pool};
use super::recheck::schedule_recheck;
use super::spec::Scheme;
use super::target::TargetShared;

/// Classify an OS-level connect error.
pub fn classify_io(e: &std::io::Error) -> ConnFailKind {
    match Errno::from_io_error(e) {
        Some(Errno::MFILE | Errno::NFILE) => return ConnFailKind::Emfile,
        Some(Errno::CONNREFUSED) => return ConnFailKind::Refused,
        Some(Errno::TIMEDOUT) => return ConnFailKind::Timeout,
        _ => {}
    }
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => ConnFailKind::Refused,
        std::io::ErrorKind::TimedOut => ConnFailKind::Timeout,
        _ => ConnFailKind::Other,
    }
}

fn io_message(e: &std::io::Error) -> String {
    match Errno::from_io_error(e) {
        Some(Errno::MFILE) => "socket: too many open files".to_owned(),
        Some(Errno::CONNREFUSED) => "connect: connection refused".to_owned(),
        _ => format!("connect: {e}"),
    }
}

/// Connect to the first address that answers, within `deadline`. Returns the stream, the peer
/// and the connect time of the successful attempt. A socket numbered `fd_ceiling` or above
/// is refused as `EMFILE` (see `FD_RESERVE`).
pub async fn connect_any(
    addrs: &[SocketAddr],
    deadline: tokio::time::Instant,
    fd_ceiling: u64,
) -> Result<(TcpStream, SocketAddr, Duration), DialError> {
    let mut last = DialError {
        kind: ConnFailKind::Other,
        addr: String::new(),
        message: "no addresses".to_owned(),
    };
    for (i, addr) in addrs.iter().enumerate() {
        // Like Go's dialSerial: each remaining address gets an equal share of the time left.
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let share = left / (addrs.len() - i) as u32;
        let start = Instant::now();
        let res = async {
            let sock = if addr.is_ipv4() {
                TcpSocket::new_v4()
            } else {
                TcpSocket::new_v6()
            }?;
            // Descriptors are handed out lowest first: a number this high means fewer than
            // the reserve are left, and those belong to reloads and the census.
            if u64::try_from(sock.as_raw_fd()).unwrap_or(u64::MAX) >= fd_ceiling {
                return Err(std::io::Error::from(Errno::MFILE));
            }
            sock.set_nodelay(true)?;
            sock.connect(*addr).await
        };
        match tokio::time::timeout(share, res).await {
            Ok(Ok(stream)) => {
                let took = start.elapsed();
                // Prometheus (Go) probes idle connections with TCP keep-alive every 15 s.
                let ka = socket2::TcpKeepalive::new()
                    .with_time(Duration::from_secs(15))
                    .with_interval(Duration::from_secs(15));
                let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&ka);
                return Ok((stream, *addr, took));
            }
            Ok(Err(e)) => {
                last = DialError {
                    kind: classify_io(&e),
                    addr: addr.to_string(),
                    message: format!("dial tcp {addr}: {}", io_message(&e)),
                };
                if last.kind == ConnFailKind::Emfile {
                    break;
                }
            }
            Err(_) => {
                last = DialError {
                    kind: ConnFailKind::Timeout,
                    addr: addr.to_string(),
                    message: format!("dial tcp {addr}: i/o timeout"),
                };
            }
        }
    }
    Err(last)
}

/// Resolve (if a name) into socket addresses, reporting DNS events with `cause`.
pub(super) async fn addresses(
    ctx: &Ctx,
    t: &TargetShared,
    cause: DnsCause,
    deadline: tokio::time::Instant,
) -> Result<(Vec<SocketAddr>, Option<Answer>), DialError> {
    addresses_of(ctx, t, &t.pool, cause, deadline).await
}

/// [`addresses`] of `pool`'s host and port (a redirect's destination, or the target's own).
async fn addresses_of(
    ctx: &Ctx,
    t: &TargetShared,
    pool: &Arc<Pool>,
    cause: DnsCause,
    deadline: tokio::time::Instant,
) -> Result<(Vec<SocketAddr>, Option<Answer>), DialError> {
    let host = &pool.host;
    let port = pool.port;
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok((vec![SocketAddr::new(ip, port)], None));
    }
    match resolve(ctx, &t.tref, host, cause, deadline).await {
        Ok(a) => {
            // Only a dial proves the pooled connection matches the answer; a probe's lookup
            // says nothing about it, and rescheduling there would postpone the background
            // recheck forever whenever probes run more often than every 30 s.
            if cause == DnsCause::Dial {
                schedule_recheck(ctx, pool, &a);
            }
            Ok((
                a.addrs
                    .iter()
                    .map(|ip| SocketAddr::new(*ip, port))
                    .collect(),
                Some(a),
            ))
        }
        Err(e) => Err(DialError {
            kind: ConnFailKind::Resolution,
            addr: host_port(host, port),
            message: format!("dial tcp: {}", e.message),
        }),
    }
}

/// A connection ready for a request: HTTP/1.1 checked out for one request, or the pool's
/// HTTP/2 connection (the server chose `h2` by ALPN).
pub(super) enum Dialled {
    /// Our HTTP/1.1 client.
    H1(InUse),
    /// hyper's HTTP/2 client, shared by the pool's targets.
    H2(Arc<H2Conn>),
}

/// Dial a new pooled connection of `pool` (the target's own, or a redirect's destination)
/// for `t`: resolve, connect, (TLS, and HTTP/2 when the server chose it).
pub(super) async fn dial_to(
    ctx: &Arc<Ctx>,
    t: &Arc<TargetShared>,
    pool: &Arc<Pool>,
    deadline: tokio::time::Instant,
) -> Result<Dialled, DialError> {
    ctx.emit.emit(
        Some(&t.tref),
        EventKind::DialStarted {
            host: pool.host.clone(),
            port: pool.port,
        },
    );
    let res = async {
        let (addrs, _) = addresses_of(ctx, t, pool, DnsCause::Dial, deadline).await?;
        let (stream, peer, took) = connect_any(&addrs, deadline, ctx.fd_ceiling).await?;
        let info = SockInfo::of(&stream, peer, took);
        let (stream, tls_info) = match pool.key.scheme {
            Scheme::Http => (Stream::from(stream), None),
            Scheme::Https => {
                let (tls, tls_info) = tls_handshake_to(t, pool, stream, peer, deadline).await?;
                if tls.get_ref().1.alpn_protocol() == Some(super::tls::ALPN_H2) {
                    let h = super::h2::establish(ctx, pool, &t.tref, tls, info, tls_info, deadline)
                        .await?;
                    return Ok(Dialled::H2(h));
                }
                (Stream::from(tls), Some(tls_info))
            }
        };
        let http = t.new_conn(stream);
        Ok(Dialled::H1(pool::establish(
            ctx, pool, &t.tref, http, info, tls_info,
        )))
    }
    .await;
    res.inspect_err(|e: &DialError| {
        ctx.emit.emit(
            Some(&t.tref),
            EventKind::ConnFailed {
                addr: e.addr.clone(),
                kind: e.kind,
                error: e.message.clone(),
            },
        );
    })
}

/// TLS over a connected stream, within the scrape deadline (and Go's 10 s handshake timeout).
pub(super) async fn tls_handshake(
    t: &TargetShared,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    deadline: tokio::time::Instant,
) -> Result<
    (
        tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
        crate::event::TlsInfo,
    ),
    DialError,
> {
    tls_handshake_to(t, &t.pool, stream, peer, deadline).await
}

/// [`tls_handshake`] with `pool`'s host (a redirect's destination, or the target's own).
async fn tls_handshake_to(
    t: &TargetShared,
    pool: &Pool,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    deadline: tokio::time::Instant,
) -> Result<
    (
        tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
        crate::event::TlsInfo,
    ),
    DialError,
> {
    let fail = |message: String| DialError {
        kind: ConnFailKind::Tls,
        addr: peer.to_string(),
        message,
    };
    let cfg = pool
        .tls_config(&t.spec.job.tls, t.spec.job.enable_http2)
        .map_err(fail)?;
    let name = super::tls::server_name_for(&t.spec.job.tls, &pool.host).to_owned();
    let deadline = deadline.min(tokio::time::Instant::now() + Duration::from_secs(10));
    match tokio::time::timeout_at(deadline, super::tls::handshake(stream, &name, cfg)).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(m)) => Err(fail(format!("tls: {m}"))),
        Err(_) => Err(DialError {
            kind: ConnFailKind::Timeout,
            addr: peer.to_string(),
            message: format!("dial tcp {peer}: TLS handshake timeout"),
        }),
    }
}

/// `host:port`, an IPv6 address in brackets.
pub(super) fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

//! A real exporter-like HTTP/1.1 server for the demo and the tests: serves Prometheus text,
//! counts accepted connections and requests on its side, and can be told to misbehave the
//! ways real targets do (slow, 503, `Connection: close`, idle close, resets, refusing new
//! connections while keeping established ones).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// How the exporter answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// 200 with the metrics page.
    Ok,
    /// 200 after a delay.
    Slow(Duration),
    /// This status (body drained by clients), connection kept.
    Status(u16),
    /// 200 with `Connection: close`.
    ConnectionClose,
    /// Reset the connection (RST) instead of answering a request on a reused connection.
    ResetReused,
    /// Reset every connection at its next request.
    ResetAll,
}

/// Settings fixed at start.
#[derive(Debug, Clone)]
pub struct ExporterConfig {
    /// Sample lines in the page.
    pub lines: usize,
    /// Close connections idle this long (like a proxy's keepalive_timeout).
    pub idle_close: Option<Duration>,
    /// Metric name prefix.
    pub name: String,
    /// Serve HTTPS with this configuration.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for ExporterConfig {
    fn default() -> Self {
        ExporterConfig {
            lines: 20,
            idle_close: None,
            name: "demo".to_owned(),
            tls: None,
        }
    }
}

/// Counters and switches shared with the serving tasks.
pub struct ExporterState {
    accepts: AtomicU64,
    requests: AtomicU64,
    open: AtomicU64,
    mode: Mutex<Mode>,
    page: Bytes,
    page_gz: Bytes,
    idle_close: Option<Duration>,
    accepting: AtomicBool,
    tls: Option<tokio_rustls::TlsAcceptor>,
    last_authorization: Mutex<Option<String>>,
}

/// A running exporter.
pub struct Exporter {
    addr: SocketAddr,
    state: Arc<ExporterState>,
    listener: Mutex<Option<JoinHandle<()>>>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

fn page(cfg: &ExporterConfig) -> String {
    let n = &cfg.name;
    let mut s =
        format!("# HELP {n}_requests_total Requests handled.\n# TYPE {n}_requests_total counter\n");
    for i in 0..cfg.lines {
        s.push_str(&format!(
            "{n}_requests_total{{path=\"/p{i}\",code=\"200\"}} {}\n",
            1000 + i * 7
        ));
    }
    s
}

fn gzip(b: &[u8]) -> Bytes {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = e.write_all(b);
    Bytes::from(e.finish().unwrap_or_default())
}

impl Exporter {
    /// Start on `bind` (port 0 picks one).
    pub async fn start(bind: SocketAddr, cfg: ExporterConfig) -> std::io::Result<Exporter> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let text = page(&cfg);
        let state = Arc::new(ExporterState {
            accepts: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            open: AtomicU64::new(0),
            mode: Mutex::new(Mode::Ok),
            page_gz: gzip(text.as_bytes()),
            page: Bytes::from(text),
            idle_close: cfg.idle_close,
            accepting: AtomicBool::new(true),
            tls: cfg.tls.map(tokio_rustls::TlsAcceptor::from),
            last_authorization: Mutex::new(None),
        });
        let conns = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(accept_loop(listener, state.clone(), conns.clone()));
        Ok(Exporter {
            addr,
            state,
            listener: Mutex::new(Some(task)),
            conns,
        })
    }

    /// Listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn accepts(&self) -> u64 {
        self.state.accepts.load(Ordering::Acquire)
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Acquire)
    }

    /// Connections open now.
    pub fn open(&self) -> u64 {
        self.state.open.load(Ordering::Acquire)
    }

    /// The `Authorization` header of the latest request, if any.
    pub fn last_authorization(&self) -> Option<String> {
        self.state
            .last_authorization
            .lock()
            .ok()
            .and_then(|g| g.clone())
    }

    /// Change how requests are answered.
    pub fn set_mode(&self, m: Mode) {
        if let Ok(mut g) = self.state.mode.lock() {
            *g = m;
        }
    }

    /// Stop accepting new connections (new ones are refused) while established ones go on;
    /// `true` listens again on the same address.
    pub async fn set_accepting(&self, on: bool) -> std::io::Result<()> {
        if on == self.state.accepting.load(Ordering::Acquire) {
            return Ok(());
        }
        if on {
            let l = TcpListener::bind(self.addr).await?;
            let task = tokio::spawn(accept_loop(l, self.state.clone(), self.conns.clone()));
            if let Ok(mut g) = self.listener.lock() {
                *g = Some(task);
            }
        } else if let Ok(mut g) = self.listener.lock()
            && let Some(t) = g.take()
        {
            t.abort();
        }
        self.state.accepting.store(on, Ordering::Release);
        Ok(())
    }

    /// Close every established connection now (FIN), keep listening.
    pub fn drop_connections(&self) {
        if let Ok(mut g) = self.conns.lock() {
            for c in g.drain(..) {
                c.abort();
            }
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Ok(mut g) = self.listener.lock()
            && let Some(t) = g.take()
        {
            t.abort();
        }
        self.drop_connections();
    }
}

async fn accept_loop(
    l: TcpListener,
    state: Arc<ExporterState>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
) {
    loop {
        let Ok((stream, _)) = l.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        state.accepts.fetch_add(1, Ordering::AcqRel);
        let mode = state.mode.lock().map(|m| m.clone()).unwrap_or(Mode::Ok);
        if matches!(mode, Mode::ResetReused | Mode::ResetAll) {
            // Linger 0: dropping the socket sends RST instead of FIN.
            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
        }
        let st = state.clone();
        let task = if matches!(mode, Mode::ResetReused | Mode::ResetAll) {
            tokio::spawn(serve_resetting(stream, st, mode))
        } else if let Some(acceptor) = state.tls.clone() {
            tokio::spawn(async move {
                // A failed handshake (a client that does not trust us) just ends the connection.
                if let Ok(tls) = acceptor.accept(stream).await {
                    serve(tls, st).await;
                }
            })
        } else {
            tokio::spawn(serve(stream, st))
        };
        if let Ok(mut g) = conns.lock() {
            g.retain(|t| !t.is_finished());
            g.push(task);
        }
    }
}

/// Serve by hand so a reset is a real RST: read a request, answer the first one (ResetReused)
/// and drop the socket, with linger 0, on the next.
async fn serve_resetting(mut stream: tokio::net::TcpStream, state: Arc<ExporterState>, mode: Mode) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    state.open.fetch_add(1, Ordering::AcqRel);
    let mut buf = Vec::with_capacity(1024);
    let mut served = 0u64;
    let mut chunk = [0u8; 1024];
    while let Ok(n) = stream.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        buf.drain(..end + 4);
        state.requests.fetch_add(1, Ordering::AcqRel);
        if mode == Mode::ResetAll || served > 0 {
            break; // dropped with linger 0: RST
        }
        served += 1;
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\n\r\n",
            state.page.len()
        );
        if stream.write_all(head.as_bytes()).await.is_err()
            || stream.write_all(&state.page).await.is_err()
        {
            break;
        }
    }
    state.open.fetch_sub(1, Ordering::AcqRel);
}

struct ConnTrack {
    busy: AtomicBool,
    last: Mutex<Instant>,
    served: AtomicU64,
}

async fn serve<S>(stream: S, state: Arc<ExporterState>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    state.open.fetch_add(1, Ordering::AcqRel);
    let track = Arc::new(ConnTrack {
        busy: AtomicBool::new(false),
        last: Mutex::new(Instant::now()),
        served: AtomicU64::new(0),
    });
    let (st, tr) = (state.clone(), track.clone());
    let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
        let (st, tr) = (st.clone(), tr.clone());
        async move { answer(req, &st, &tr).await }
    });
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    match state.idle_close {
        None => {
            let _ = conn.await;
        }
        Some(idle) => loop {
            let since = track.last.lock().map(|l| l.elapsed()).unwrap_or_default();
            let wait = idle.saturating_sub(since).max(Duration::from_millis(5));
            tokio::select! {
                _ = &mut conn => break,
                _ = tokio::time::sleep(wait) => {
                    let since = track.last.lock().map(|l| l.elapsed()).unwrap_or_default();
                    if !track.busy.load(Ordering::Acquire) && since >= idle {
                        // Like a proxy's keepalive_timeout: close the idle connection.
                        break;
                    }
                }
            }
        },
    }
    state.open.fetch_sub(1, Ordering::AcqRel);
}

#[derive(Debug)]
struct Reset;
impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reset")
    }
}
impl std::error::Error for Reset {}

async fn answer(
    req: Request<hyper::body::Incoming>,
    st: &ExporterState,
    tr: &ConnTrack,
) -> Result<Response<Full<Bytes>>, Reset> {
    st.requests.fetch_add(1, Ordering::AcqRel);
    tr.busy.store(true, Ordering::Release);
    if let Ok(mut a) = st.last_authorization.lock() {
        *a = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
    }
    let nth = tr.served.fetch_add(1, Ordering::AcqRel);
    let mode = st.mode.lock().map(|m| m.clone()).unwrap_or(Mode::Ok);
    let res = respond(req, st, mode, nth).await;
    tr.busy.store(false, Ordering::Release);
    if let Ok(mut l) = tr.last.lock() {
        *l = Instant::now();
    }
    res
}

async fn respond(
    req: Request<hyper::body::Incoming>,
    st: &ExporterState,
    mode: Mode,
    nth: u64,
) -> Result<Response<Full<Bytes>>, Reset> {
    let gz = req
        .headers()
        .get(hyper::header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("gzip"));
    let ok = |close: bool| {
        let mut b = Response::builder()
            .status(200)
            .header("content-type", "text/plain; version=0.0.4; charset=utf-8");
        if close {
            b = b.header("connection", "close");
        }
        let body = if gz {
            b = b.header("content-encoding", "gzip");
            st.page_gz.clone()
        } else {
            st.page.clone()
        };
        b.body(Full::new(body)).map_err(|_| Reset)
    };
    match mode {
        Mode::Ok => ok(false),
        Mode::Slow(d) => {
            tokio::time::sleep(d).await;
            ok(false)
        }
        Mode::ConnectionClose => ok(true),
        Mode::Status(code) => Response::builder()
            .status(code)
            .body(Full::new(Bytes::from_static(b"unavailable\n")))
            .map_err(|_| Reset),
        Mode::ResetReused if nth > 0 => Err(Reset),
        Mode::ResetReused => ok(false),
        Mode::ResetAll => Err(Reset),
    }
}

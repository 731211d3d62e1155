//! A scrape request encoded once: the bytes a target sends on every scrape.
//!
//! Encoding once per target (not per scrape) is what makes the write path cost nothing but the
//! `write` itself: no header map is cloned, no per-connection write buffer is kept.

use std::fmt;

/// Why a request could not be built (a bad value in the configuration or a redirect target).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The path must start with `/` and contain no whitespace or control characters.
    #[error("invalid request path {0:?}")]
    Path(String),
    /// The Host value contains whitespace or control characters.
    #[error("invalid Host {0:?}")]
    Host(String),
    /// A header name is not an HTTP token.
    #[error("invalid header name {0:?}")]
    HeaderName(String),
    /// A header value contains CR, LF or NUL. The value is not quoted: it may be a secret.
    #[error("invalid value for header {0:?}")]
    HeaderValue(String),
}

/// An encoded `GET` request.
///
/// Header order follows Go's `net/http` (Host, then User-Agent, then the rest sorted by
/// canonical name), so a server's log shows the same request Prometheus sends.
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    bytes: Box<[u8]>,
    /// Length of the request line, for `Debug` (everything after it may hold secrets).
    line: usize,
    close: bool,
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `x-prometheus-scrape-timeout-seconds` → `X-Prometheus-Scrape-Timeout-Seconds`, as Go's
/// `CanonicalHeaderKey` writes it.
fn canonical(name: &str) -> String {
    let mut up = true;
    name.chars()
        .map(|c| {
            let o = if up {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            up = c == '-';
            o
        })
        .collect()
}

impl Request {
    /// `GET path_and_query HTTP/1.1` to `host` (the Host header value, `host[:port]`) with
    /// `headers` (name, value). A `Connection: close` among them makes the connection close after
    /// the response, as Go does for a request that asks for it.
    pub fn get(
        path_and_query: &str,
        host: &str,
        headers: &[(&str, &str)],
    ) -> Result<Request, RequestError> {
        let path_ok = (path_and_query.starts_with('/') || path_and_query == "*")
            && path_and_query.bytes().all(|b| b > b' ' && b != 0x7f);
        if !path_ok {
            return Err(RequestError::Path(path_and_query.to_owned()));
        }
        if host.is_empty() || !host.bytes().all(|b| b > b' ' && b != 0x7f) {
            return Err(RequestError::Host(host.to_owned()));
        }
        let mut hs: Vec<(String, &str)> = Vec::with_capacity(headers.len());
        let mut close = false;
        for (n, v) in headers {
            if n.is_empty() || !n.bytes().all(is_token) {
                return Err(RequestError::HeaderName((*n).to_owned()));
            }
            if v.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                return Err(RequestError::HeaderValue((*n).to_owned()));
            }
            if n.eq_ignore_ascii_case("host") {
                continue; // the host argument is the Host header
            }
            if n.eq_ignore_ascii_case("connection")
                && v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"))
            {
                close = true;
            }
            hs.push((canonical(n), v));
        }
        // Go: User-Agent right after Host, the rest sorted by key (stable: repeated keys keep
        // their order).
        hs.sort_by(|a, b| {
            let ua = |k: &str| k != "User-Agent";
            (ua(&a.0), &a.0).cmp(&(ua(&b.0), &b.0))
        });
        let mut out = Vec::with_capacity(
            32 + path_and_query.len()
                + host.len()
                + hs.iter().map(|(n, v)| n.len() + v.len() + 4).sum::<usize>(),
        );
        out.extend_from_slice(b"GET ");
        out.extend_from_slice(path_and_query.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        let line = out.len() - 2;
        out.extend_from_slice(b"Host: ");
        out.extend_from_slice(host.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (n, v) in &hs {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.trim().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        Ok(Request {
            bytes: out.into_boxed_slice(),
            line,
            close,
        })
    }

    /// The bytes sent on the wire.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether the request asks for the connection to close after the response.
    pub fn close(&self) -> bool {
        self.close
    }
}

/// Shows the request line only: the headers may carry credentials.
impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("line", &String::from_utf8_lossy(&self.bytes[..self.line]))
            .field("len", &self.bytes.len())
            .field("close", &self.close)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_go_does() {
        let r = Request::get(
            "/metrics?x=1",
            "h:9100",
            &[
                ("accept-encoding", "gzip"),
                ("authorization", "Bearer s3cret"),
                ("user-agent", "scrapetop/0.1.0"),
                ("x-prometheus-scrape-timeout-seconds", "10"),
                ("Accept", "text/plain"),
            ],
        )
        .unwrap();
        assert_eq!(
            std::str::from_utf8(r.as_bytes()).unwrap(),
            "GET /metrics?x=1 HTTP/1.1\r\nHost: h:9100\r\nUser-Agent: scrapetop/0.1.0\r\n\
             Accept: text/plain\r\nAccept-Encoding: gzip\r\nAuthorization: Bearer s3cret\r\n\
             X-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n"
        );
        assert!(!r.close());
        let dbg = format!("{r:?}");
        assert!(!dbg.contains("s3cret"), "{dbg}");
    }

    #[test]
    fn rejects_injection() {
        assert!(matches!(
            Request::get("/a b", "h", &[]),
            Err(RequestError::Path(_))
        ));
        assert!(matches!(
            Request::get("metrics", "h", &[]),
            Err(RequestError::Path(_))
        ));
        assert!(matches!(
            Request::get("/", "h\r\nX: y", &[]),
            Err(RequestError::Host(_))
        ));
        assert!(matches!(
            Request::get("/", "h", &[("a b", "c")]),
            Err(RequestError::HeaderName(_))
        ));
        let e = Request::get("/", "h", &[("Authorization", "x\r\nEvil: 1")]).unwrap_err();
        assert!(!e.to_string().contains("Evil"));
        assert!(
            Request::get("/", "h", &[("Connection", "Close")])
                .unwrap()
                .close()
        );
    }
}

//! One target: what it shares with the command loop, its request, and its scrape loop (the
//! scrape itself is in `scrape.rs`, dialling in `dial.rs`, probes and rechecks beside them).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{HeaderValue, Request, header};
use http_body_util::Empty;

use crate::event::TargetRef;

use super::pool::Pool;
use super::spec::{Auth, TargetSpec};

/// State of a target shared between its task and the command loop.
pub struct TargetShared {
    /// Identity.
    pub tref: Arc<TargetRef>,
    /// What to scrape.
    pub spec: TargetSpec,
    /// Its pool.
    pub pool: Arc<Pool>,
    /// Last scrape succeeded.
    pub last_up: AtomicBool,
    /// Removed: an in-flight connection closes with reason `target_removed`.
    pub removed: AtomicBool,
    /// Uncompressed size of the last body read (0 before the first), to size read buffers.
    pub(super) last_bytes: std::sync::atomic::AtomicU64,
    /// Labels the target adds to every sample (`job`, `instance`, …), which `label_limit`
    /// counts with the sample's own.
    pub(super) target_labels: u64,
    /// Precomputed request headers (auth included).
    headers: http::HeaderMap,
    authority: HeaderValue,
}

impl TargetShared {
    /// Build the shared state of a target.
    pub fn new(tref: Arc<TargetRef>, spec: TargetSpec, pool: Arc<Pool>) -> Arc<Self> {
        let mut headers = http::HeaderMap::new();
        // The Accept of the Prometheus version behaved as (`--compat`).
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static(crate::expo::accept_header(spec.job.compat)),
        );
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static(concat!("scrapetop/", env!("CARGO_PKG_VERSION"))),
        );
        let t = spec.job.timeout.as_secs_f64();
        if let Ok(v) = HeaderValue::from_str(&format!("{t}")) {
            headers.insert("x-prometheus-scrape-timeout-seconds", v);
        }
        match &spec.job.auth {
            Auth::None => {}
            Auth::Basic { username, password } => {
                let raw = format!("{username}:{}", password.expose());
                let v = format!("Basic {}", base64(raw.as_bytes()));
                if let Ok(mut v) = HeaderValue::from_str(&v) {
                    v.set_sensitive(true);
                    headers.insert(header::AUTHORIZATION, v);
                }
            }
            Auth::Authorization { kind, credentials } => {
                if let Ok(mut v) =
                    HeaderValue::from_str(&format!("{kind} {}", credentials.expose()))
                {
                    v.set_sensitive(true);
                    headers.insert(header::AUTHORIZATION, v);
                }
            }
        }
        let target_labels = spec
            .final_labels()
            .keys()
            .filter(|k| !k.starts_with("__"))
            .count() as u64;
        let authority = HeaderValue::from_str(&spec.host_port())
            .unwrap_or_else(|_| HeaderValue::from_static("localhost"));
        Arc::new(TargetShared {
            tref,
            spec,
            pool,
            last_up: AtomicBool::new(false),
            removed: AtomicBool::new(false),
            last_bytes: std::sync::atomic::AtomicU64::new(0),
            target_labels,
            headers,
            authority,
        })
    }

    /// hyper's read buffer for a new connection: room for the last body plus headers, a power
    /// of two between 2 KiB and 64 KiB (4 KiB before the first scrape). Larger bodies are read
    /// in several reads; idle connections stay small.
    pub(super) fn read_buf(&self) -> usize {
        match self.last_bytes.load(Ordering::Relaxed) {
            0 => 4096,
            n => usize::try_from(n + 1024)
                .unwrap_or(usize::MAX)
                .checked_next_power_of_two()
                .unwrap_or(65536)
                .clamp(2048, 65536),
        }
    }

    pub(super) fn request(&self) -> Result<Request<Empty<Bytes>>, String> {
        let mut req = Request::get(self.spec.path_and_query.as_str())
            .body(Empty::new())
            .map_err(|e| format!("building request: {e}"))?;
        *req.headers_mut() = self.headers.clone();
        req.headers_mut()
            .insert(header::HOST, self.authority.clone());
        Ok(req)
    }
}

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for c in input.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }
}

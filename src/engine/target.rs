//! One target: what it shares with the command loop, its request, and its scrape loop (the
//! scrape itself is in `scrape.rs`, dialling in `dial.rs`, probes and rechecks beside them).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::event::TargetRef;

use super::http1;
use super::pool::Pool;
use super::spec::{Auth, TargetSpec};

/// State of a target shared between its task and the command loop.
pub struct TargetShared {
    /// Identity.
    pub tref: Arc<TargetRef>,
    /// What to scrape.
    pub spec: TargetSpec,
    /// Its URL (`spec.url()`), built once: error messages name it.
    pub url: Arc<str>,
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
    /// The request, built once (auth included); `Err` says why it cannot be built.
    request: Result<http1::Request, String>,
}

/// The headers of a target's requests, auth included (Prometheus sends them on every hop of
/// a redirect too). A value a header cannot carry is left out (never echoed: it is a secret).
fn headers(spec: &TargetSpec) -> Vec<(&'static str, String)> {
    let auth = match &spec.job.auth {
        Auth::None => None,
        Auth::Basic { username, password } => {
            let raw = format!("{username}:{}", password.expose());
            Some(format!("Basic {}", base64(raw.as_bytes())))
        }
        Auth::Authorization { kind, credentials } => {
            Some(format!("{kind} {}", credentials.expose()))
        }
    };
    // The Accept of the Prometheus version behaved as (`--compat`), or of `scrape_protocols`.
    let accept = spec.job.accept.as_deref();
    let mut headers = vec![
        (
            "Accept",
            accept
                .unwrap_or(crate::expo::accept_header(spec.job.compat))
                .to_owned(),
        ),
        ("Accept-Encoding", "gzip".to_owned()),
        (
            "User-Agent",
            concat!("scrapetop/", env!("CARGO_PKG_VERSION")).to_owned(),
        ),
        (
            "X-Prometheus-Scrape-Timeout-Seconds",
            format!("{}", spec.job.timeout.as_secs_f64()),
        ),
    ];
    let auth = auth.filter(|a| !a.bytes().any(|b| (b < b' ' && b != b'\t') || b == 0x7f));
    if let Some(a) = auth {
        headers.push(("Authorization", a));
    }
    headers
}

impl TargetShared {
    /// Build the shared state of a target.
    pub fn new(tref: Arc<TargetRef>, spec: TargetSpec, pool: Arc<Pool>) -> Arc<Self> {
        let headers = headers(&spec);
        let hs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        // The error names the part, never a credential's value.
        let request = http1::Request::get(&spec.path_and_query, &spec.host_port(), &hs)
            .map_err(|e| format!("building request: {e}"));
        let target_labels = spec
            .final_labels()
            .keys()
            .filter(|k| !k.starts_with("__"))
            .count() as u64;
        Arc::new(TargetShared {
            tref,
            url: spec.url().into(),
            spec,
            pool,
            last_up: AtomicBool::new(false),
            removed: AtomicBool::new(false),
            last_bytes: std::sync::atomic::AtomicU64::new(0),
            target_labels,
            request,
        })
    }

    /// The request sent on every scrape and probe.
    pub(super) fn request(&self) -> Result<&http1::Request, String> {
        self.request.as_ref().map_err(Clone::clone)
    }

    /// The request's headers (name, value), for an HTTP/2 request: built per request, as for
    /// a redirect's hop (not kept: ~400 bytes per target that HTTP/1.1 targets never use).
    pub(super) fn headers(&self) -> Vec<(&'static str, String)> {
        headers(&self.spec)
    }

    /// The request of a redirect's hop: `path_and_query` on `host_port`, the same headers.
    pub(super) fn request_to(
        &self,
        path_and_query: &str,
        host_port: &str,
    ) -> Result<http1::Request, String> {
        // Built again rather than kept: redirects are rare, and keeping the header values
        // cost ~400 bytes per target (4 MB at 10,000).
        let headers = headers(&self.spec);
        let hs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        http1::Request::get(path_and_query, host_port, &hs)
            .map_err(|e| format!("building request: {e}"))
    }

    /// Our HTTP/1.1 client over an established stream, as the job's Prometheus version
    /// behaves (`--compat 2`: Go before 1.24 fails after five 1xx responses).
    pub(super) fn new_conn(&self, stream: http1::Stream) -> http1::Conn<http1::Stream> {
        let c = http1::Conn::new(stream);
        if self.spec.job.compat == crate::expo::Compat::V2 {
            c.with_max_interim(Some(5))
        } else {
            c
        }
    }
}

pub(crate) fn base64(input: &[u8]) -> String {
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

//! Exposition parser benchmark: cost per page and per sample.
//!
//! `cargo bench --bench expo` prints, for each page, the median and p99 time to parse it
//! (fed in chunks as a body arrives) and the median per sample. Pages: the 20-line page of
//! the 10,000-target benchmark (bench/pages.py), a node_exporter-shaped page of 1,492 samples
//! (tests/fixtures/expo/node_exporter.prom), the same as OpenMetrics, and the node page
//! gzipped then inflated and parsed (what body.rs does for `Content-Encoding: gzip`).

use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

use scrapetop::engine::body::{BodyOptions, BodyReader};
use scrapetop::expo::{Compat, Format, Limits, Parser};

/// The 10,000-target benchmark's page (bench/pages.py, 20 lines).
const SMALL: &str =
    "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.47
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 2.1504e+07
# HELP http_requests_total Total HTTP requests by status code and method.
# TYPE http_requests_total counter
http_requests_total{code=\"200\",method=\"get\"} 18231
http_requests_total{code=\"404\",method=\"get\"} 12
http_requests_total{code=\"500\",method=\"post\"} 3
# HELP http_request_duration_seconds Latency of HTTP requests.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le=\"0.05\"} 15120
http_request_duration_seconds_bucket{le=\"0.1\"} 16345
http_request_duration_seconds_bucket{le=\"0.5\"} 17002
http_request_duration_seconds_bucket{le=\"1\"} 18001
http_request_duration_seconds_bucket{le=\"+Inf\"} 18246
http_request_duration_seconds_sum 412.7
http_request_duration_seconds_count 18246
";

fn measure(name: &str, samples: u64, iters: usize, mut f: impl FnMut() -> u64) {
    for _ in 0..iters / 10 + 1 {
        black_box(f());
    }
    let mut times: Vec<Duration> = (0..iters)
        .map(|_| {
            let t = Instant::now();
            let n = black_box(f());
            let d = t.elapsed();
            assert_eq!(n, samples, "{name}");
            d
        })
        .collect();
    times.sort();
    let p50 = times[times.len() / 2];
    let p99 = times[times.len() * 99 / 100];
    println!(
        "{name:<44} samples {samples:>5}  p50 {:>9.1} µs  p99 {:>9.1} µs  per sample {:>6.1} ns",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6,
        p50.as_secs_f64() * 1e9 / samples as f64
    );
}

fn parse(page: &[u8], chunk: usize, format: Format, compat: Compat) -> u64 {
    let mut p = Parser::new(format, compat, Limits::default());
    for c in page.chunks(chunk) {
        if p.feed(c).is_err() {
            return u64::MAX;
        }
    }
    p.finish().unwrap_or(u64::MAX)
}

fn main() {
    let node = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/expo/node_exporter.prom"
    ))
    .expect("fixture");
    // OpenMetrics calls `untyped` `unknown`.
    let mut node_om = String::from_utf8(node.clone())
        .expect("utf-8")
        .replace(" untyped\n", " unknown\n")
        .into_bytes();
    node_om.extend_from_slice(b"# EOF\n");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&node).expect("gzip");
    let node_gz = enc.finish().expect("gzip");
    let small = SMALL.as_bytes();

    println!(
        "page sizes: small {} B, node {} B ({} B gzipped)",
        small.len(),
        node.len(),
        node_gz.len()
    );
    measure("small page (20 lines), one chunk", 12, 20_000, || {
        parse(small, small.len(), Format::Text, Compat::V3)
    });
    measure("node page, one chunk", 1492, 2_000, || {
        parse(&node, node.len(), Format::Text, Compat::V3)
    });
    measure("node page, 16 KiB chunks", 1492, 2_000, || {
        parse(&node, 16384, Format::Text, Compat::V3)
    });
    measure("node page, 16 KiB chunks, compat 2", 1492, 2_000, || {
        parse(&node, 16384, Format::Text, Compat::V2)
    });
    measure(
        "node page as OpenMetrics, 16 KiB chunks",
        1492,
        2_000,
        || parse(&node_om, 16384, Format::OpenMetrics, Compat::V3),
    );
    measure(
        "line counting only (the previous body.rs)",
        1492,
        2_000,
        || {
            // What scrapetop did before the parser: count non-blank, non-comment lines.
            node.split(|&b| b == b'\n')
                .filter(|l| !l.is_empty() && l[0] != b'#')
                .count() as u64
        },
    );
    let opts = BodyOptions::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    measure(
        "node page gzipped: inflate + parse (body.rs)",
        1492,
        1_000,
        || {
            rt.block_on(async {
                let mut r = BodyReader::new(Some("text/plain; version=0.0.4"), Some("gzip"), &opts);
                for c in node_gz.chunks(16384) {
                    if r.feed(c).await.is_err() {
                        return u64::MAX;
                    }
                }
                r.finish().map(|s| s.samples).unwrap_or(u64::MAX)
            })
        },
    );
    measure(
        "node page plain through body.rs, 16 KiB chunks",
        1492,
        2_000,
        || {
            rt.block_on(async {
                let mut r = BodyReader::new(Some("text/plain; version=0.0.4"), None, &opts);
                for c in node.chunks(16384) {
                    if r.feed(c).await.is_err() {
                        return u64::MAX;
                    }
                }
                r.finish().map(|s| s.samples).unwrap_or(u64::MAX)
            })
        },
    );
}

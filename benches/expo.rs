//! Exposition parser benchmark: cost per page and per sample.
//!
//! `cargo bench --bench expo` prints, for each page, the median and p99 time to parse it
//! (fed in chunks as a body arrives) and the median per sample. Pages: the 20-line page of
//! the 10,000-target benchmark (bench/pages.py), a node_exporter-shaped page of 1,492 samples
//! (tests/fixtures/expo/node_exporter.prom), the same as OpenMetrics, and the node page
//! gzipped then inflated and parsed (what body.rs does for `Content-Encoding: gzip`), and
//! protobuf pages (length-delimited `MetricFamily` messages, encoded here): the 20-line page's
//! families and a node-sized page of gauges, classic histograms and summaries.

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

fn var(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn field_bytes(num: u64, data: &[u8], out: &mut Vec<u8>) {
    var(num << 3 | 2, out);
    var(data.len() as u64, out);
    out.extend_from_slice(data);
}

fn field_double(num: u64, x: f64, out: &mut Vec<u8>) {
    var(num << 3 | 1, out);
    out.extend_from_slice(&x.to_le_bytes());
}

fn field_uint(num: u64, x: u64, out: &mut Vec<u8>) {
    var(num << 3, out);
    var(x, out);
}

/// One metric of a protobuf page: labels, then a value (gauge 2, counter 3), a summary of
/// `quantiles` or a histogram of `buckets` upper bounds.
enum Value<'a> {
    Gauge(f64),
    Counter(f64),
    Summary(&'a [f64]),
    Histogram(&'a [f64]),
}

fn metric(labels: &[(&str, &str)], v: Value<'_>) -> Vec<u8> {
    let mut m = Vec::new();
    for (n, val) in labels {
        let mut l = Vec::new();
        field_bytes(1, n.as_bytes(), &mut l);
        field_bytes(2, val.as_bytes(), &mut l);
        field_bytes(1, &l, &mut m);
    }
    let mut inner = Vec::new();
    match v {
        Value::Gauge(x) | Value::Counter(x) => field_double(1, x, &mut inner),
        Value::Summary(qs) => {
            field_uint(1, 100, &mut inner);
            field_double(2, 12.5, &mut inner);
            for q in qs {
                let mut e = Vec::new();
                field_double(1, *q, &mut e);
                field_double(2, 0.25, &mut e);
                field_bytes(3, &e, &mut inner);
            }
        }
        Value::Histogram(bs) => {
            field_uint(1, 18246, &mut inner);
            field_double(2, 412.7, &mut inner);
            for (i, le) in bs.iter().enumerate() {
                let mut e = Vec::new();
                field_uint(1, 15000 + i as u64, &mut e);
                field_double(2, *le, &mut e);
                field_bytes(3, &e, &mut inner);
            }
        }
    }
    let num = match v {
        Value::Gauge(_) => 2,
        Value::Counter(_) => 3,
        Value::Summary(_) => 4,
        Value::Histogram(_) => 7,
    };
    field_bytes(num, &inner, &mut m);
    m
}

/// A delimited MetricFamily (type: COUNTER 0, GAUGE 1, SUMMARY 2, HISTOGRAM 4).
fn family(name: &str, help: &str, ty: u64, metrics: &[Vec<u8>], out: &mut Vec<u8>) {
    let mut mf = Vec::new();
    field_bytes(1, name.as_bytes(), &mut mf);
    field_bytes(2, help.as_bytes(), &mut mf);
    field_uint(3, ty, &mut mf);
    for m in metrics {
        field_bytes(4, m, &mut mf);
    }
    var(mf.len() as u64, out);
    out.extend_from_slice(&mf);
}

/// The 20-line page's families as protobuf (12 samples).
fn small_proto() -> Vec<u8> {
    let mut out = Vec::new();
    let help = "Total user and system CPU time spent in seconds.";
    family(
        "process_cpu_seconds_total",
        help,
        0,
        &[metric(&[], Value::Counter(12.47))],
        &mut out,
    );
    let help = "Resident memory size in bytes.";
    family(
        "process_resident_memory_bytes",
        help,
        1,
        &[metric(&[], Value::Gauge(2.1504e7))],
        &mut out,
    );
    let reqs: Vec<Vec<u8>> = [("200", "get"), ("404", "get"), ("500", "post")]
        .iter()
        .map(|(c, m)| metric(&[("code", c), ("method", m)], Value::Counter(18231.0)))
        .collect();
    family(
        "http_requests_total",
        "Total HTTP requests by status code and method.",
        0,
        &reqs,
        &mut out,
    );
    let bounds = [0.05, 0.1, 0.5, 1.0, f64::INFINITY];
    family(
        "http_request_duration_seconds",
        "Latency of HTTP requests.",
        4,
        &[metric(&[], Value::Histogram(&bounds))],
        &mut out,
    );
    out
}

/// A node-sized protobuf page: 100 gauge families of 10 series with 2 labels (1,000 samples),
/// 20 histograms of 10 buckets (240), 20 summaries of 3 quantiles (100): 1,340 samples.
fn node_proto() -> Vec<u8> {
    let mut out = Vec::new();
    let cpus: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    for f in 0..100 {
        let ms: Vec<Vec<u8>> = cpus
            .iter()
            .map(|c| {
                metric(
                    &[("cpu", c), ("mode", "user")],
                    Value::Gauge(f as f64 * 1.5),
                )
            })
            .collect();
        family(
            &format!("node_gauge_{f}_bytes"),
            "A gauge of the node.",
            1,
            &ms,
            &mut out,
        );
    }
    let bounds = [
        0.001,
        0.005,
        0.01,
        0.05,
        0.1,
        0.5,
        1.0,
        5.0,
        10.0,
        f64::INFINITY,
    ];
    for f in 0..20 {
        let m = metric(&[("device", "sda")], Value::Histogram(&bounds));
        family(
            &format!("node_latency_{f}_seconds"),
            "A histogram.",
            4,
            &[m],
            &mut out,
        );
    }
    for f in 0..20 {
        let m = metric(&[("device", "sda")], Value::Summary(&[0.5, 0.9, 0.99]));
        family(
            &format!("node_summary_{f}_seconds"),
            "A summary.",
            2,
            &[m],
            &mut out,
        );
    }
    out
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

    let small_pb = small_proto();
    let node_pb = node_proto();
    println!(
        "protobuf page sizes: small {} B, node-sized {} B",
        small_pb.len(),
        node_pb.len()
    );
    measure(
        "protobuf: 20-line page's families, one chunk",
        12,
        20_000,
        || parse(&small_pb, small_pb.len(), Format::Protobuf, Compat::V3),
    );
    measure("protobuf: node-sized page, one chunk", 1340, 2_000, || {
        parse(&node_pb, node_pb.len(), Format::Protobuf, Compat::V3)
    });
    measure(
        "protobuf: node-sized page, 16 KiB chunks",
        1340,
        2_000,
        || parse(&node_pb, 16384, Format::Protobuf, Compat::V3),
    );
    measure(
        "protobuf: node-sized page, 16 KiB chunks, compat 2",
        1340,
        2_000,
        || parse(&node_pb, 16384, Format::Protobuf, Compat::V2),
    );
}

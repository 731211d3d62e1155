//! The parser against Prometheus's own published cases, against chunking, and against the
//! scrape-level rules (sample counting, limits, negotiation).

use super::*;

#[path = "prom_cases.rs"]
mod prom_cases;

fn run_chunks(
    format: Format,
    compat: Compat,
    limits: Limits,
    chunks: &[&[u8]],
) -> Result<u64, ExpoError> {
    let mut p = Parser::new(format, compat, limits);
    for c in chunks {
        if let Err(e) = p.feed(c) {
            // Later calls keep returning the first error.
            assert_eq!(p.finish(), Err(e.clone()));
            return Err(e);
        }
    }
    p.finish()
}

fn run(format: Format, compat: Compat, input: &[u8]) -> Result<u64, ExpoError> {
    run_chunks(format, compat, Limits::default(), &[input])
}

/// Whole, split at every byte, and one byte at a time: always the same outcome.
fn run_all_splits(
    format: Format,
    compat: Compat,
    limits: Limits,
    input: &[u8],
) -> Result<u64, ExpoError> {
    let whole = run_chunks(format, compat, limits, &[input]);
    for split in 0..=input.len() {
        let (a, b) = input.split_at(split);
        assert_eq!(
            run_chunks(format, compat, limits, &[a, b]),
            whole,
            "split at {split} of {:?}",
            String::from_utf8_lossy(input)
        );
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(
        run_chunks(format, compat, limits, &bytes),
        whole,
        "byte by byte"
    );
    whole
}

fn check_table(format: Format, compat: Compat, table: &[(&[u8], &str)]) {
    let mut failures = Vec::new();
    for (input, want) in table {
        if input.is_empty() && compat == Compat::V3 {
            // Prometheus 3's scrape takes an empty body as an empty scrape before parsing.
            assert_eq!(run(format, compat, input), Ok(0));
            continue;
        }
        let got = run_all_splits(format, compat, Limits::default(), input);
        let ok = match (&got, *want) {
            (Ok(_), "" | "EOF") => true,
            (Err(e), w) => e.message == w,
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{:?}\n   want {want:?}\n    got {got:?}",
                String::from_utf8_lossy(input)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
}

#[test]
fn prometheus_3_text_cases() {
    check_table(Format::Text, Compat::V3, prom_cases::PROM_V3);
}

#[test]
fn prometheus_3_openmetrics_cases() {
    check_table(Format::OpenMetrics, Compat::V3, prom_cases::OM_V3);
}

#[test]
fn prometheus_2_text_cases() {
    check_table(Format::Text, Compat::V2, prom_cases::PROM_V2);
}

#[test]
fn prometheus_2_openmetrics_cases() {
    check_table(Format::OpenMetrics, Compat::V2, prom_cases::OM_V2);
}

/// Pages that parse, and how many samples `scrape_samples_scraped` reports.
#[test]
fn counts_samples_as_prometheus() {
    let text: &[(&[u8], u64)] = &[
        (b"", 0),
        (b"\n\n   \n", 0),
        (b"# HELP a Some help.\n# TYPE a counter\na 1\na{b=\"c\"} 2 1700000000000\n", 2),
        (b"a 1", 1),
        (b"  a   1  \n", 1),
        (b"# a free comment\n#no space\n#\n# HELP\n# TYPE\na 1\n", 1),
        (b"a{b=\"1\" c=\"2\",} 1\n", 1),
        (b"a{b=\"x\\\"y\\\\z\\nw\\q\"} 1\n", 1),
        (b"a{b=\"raw\nnewline\"} 1\n", 1),
        (b"a +Inf\nb -Inf\nc NaN\nd 1e-400\ne .5\nf 5.\n", 6),
        (b"a 1\nb 2\n\0c 3\n", 2),
        (b"a 1\n\0garbage that would not parse {{{\n", 1),
        (b"# HELP a \0NUL skipped in help\na 1\n", 1),
        (b"# TYPE a histogram\na_bucket{le=\"1\"} 1\na_bucket{le=\"+Inf\"} 2\na_sum 3\na_count 2\n", 4),
        (b"# TYPE a summary\na{quantile=\"0.5\"} 1\na_sum 3\na_count 2\n", 3),
        (b"# TYPE a untyped\na 1\n# TYPE a gauge\na 2\n", 2),
        (b"a 1\na 1\n", 2),
    ];
    for (input, want) in text {
        for compat in [Compat::V2, Compat::V3] {
            assert_eq!(
                run_all_splits(Format::Text, compat, Limits::default(), input),
                Ok(*want),
                "{compat:?} {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }
    let om: &[(&[u8], u64)] = &[
        (b"# EOF\n", 0),
        (b"# EOF", 0),
        (b"# HELP a h\n# TYPE a counter\n# UNIT a_seconds seconds\na_total 1\na_created 1.7e9\n# EOF\n", 2),
        (b"# TYPE s stateset\ns{s=\"a\"} 1\ns{s=\"b\"} 0\n# TYPE i info\ni_info{v=\"1\"} 1\n# EOF\n", 3),
        (b"# TYPE g gaugehistogram\ng_bucket{le=\"+Inf\"} 1\ng_gcount 1\ng_gsum 1\n# TYPE u unknown\nu 1\n# EOF\n", 4),
        (b"a_total 1 1.5 # {trace_id=\"x\"} 1 1.5\na_bucket{le=\"1\"} 1 # {t=\"y\"} 0.5\n# EOF\n", 2),
        (b"a 1\n# EOF\n\0\0", 1),
    ];
    for (input, want) in om {
        for compat in [Compat::V2, Compat::V3] {
            assert_eq!(
                run_all_splits(Format::OpenMetrics, compat, Limits::default(), input),
                Ok(*want),
                "{compat:?} {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }
}

#[test]
fn versions_differ_where_prometheus_does() {
    // Quoted UTF-8 names: Prometheus 3 only.
    let utf8 = b"{\"my.metric\", \"label.name\"=\"v\"} 1\n";
    assert_eq!(run(Format::Text, Compat::V3, utf8), Ok(1));
    assert_eq!(
        run(Format::Text, Compat::V2, utf8).unwrap_err().message,
        r#""INVALID" is not a valid start token"#
    );
    // Exemplars on any metric (3); only on _total/_bucket (2.42).
    let ex = b"a 1 # {t=\"1\"} 1\n# EOF\n";
    assert_eq!(run(Format::OpenMetrics, Compat::V3, ex), Ok(1));
    assert_eq!(
        run(Format::OpenMetrics, Compat::V2, ex)
            .unwrap_err()
            .message,
        "metric name a does not support exemplars"
    );
    // A trailing comma in OpenMetrics labels: accepted by 3, refused by 2.42.
    let tc = b"a{b=\"c\",} 1\n# EOF\n";
    assert_eq!(run(Format::OpenMetrics, Compat::V3, tc), Ok(1));
    assert!(run(Format::OpenMetrics, Compat::V2, tc).is_err());
    // Prometheus 3 refuses an empty quoted metric name after parsing.
    let e = run(Format::Text, Compat::V3, b"{\"\"} 1\n").unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidSample, "{e}");
}

#[test]
fn user_visible_errors_read_like_prometheus() {
    let cases: &[(Compat, &[u8], &str)] = &[
        (
            Compat::V2,
            b"<html><body>Login</body></html>\n",
            r#""INVALID" is not a valid start token"#,
        ),
        (
            Compat::V2,
            b"a x\n",
            r#"strconv.ParseFloat: parsing "x": invalid syntax"#,
        ),
        (
            Compat::V2,
            b"# TYPE a foo\na 1\n",
            r#"invalid metric type "foo""#,
        ),
        (
            Compat::V2,
            b"a{b=\"\xff\"} 1\n",
            "invalid UTF-8 label value",
        ),
        (
            Compat::V2,
            b"a 1\r\n",
            "strconv.ParseFloat: parsing \"1\\r\": invalid syntax",
        ),
        (
            Compat::V2,
            b"a 1 99999999999999999999\n",
            r#"strconv.ParseInt: parsing "99999999999999999999": value out of range"#,
        ),
        (
            Compat::V2,
            b"a 1e999\n",
            r#"strconv.ParseFloat: parsing "1e999": value out of range"#,
        ),
        (
            Compat::V3,
            b"<html>\n",
            r#"expected a valid start token, got "<" ("INVALID") while parsing: "<""#,
        ),
        (
            Compat::V3,
            b"a x\n",
            r#"strconv.ParseFloat: parsing "x": invalid syntax while parsing: "a x""#,
        ),
    ];
    for (compat, input, want) in cases {
        let e = run_all_splits(Format::Text, *compat, Limits::default(), input).unwrap_err();
        assert_eq!(e.message, *want, "{compat:?}");
        assert_eq!(e.kind, ErrorKind::Syntax);
    }
    let e = run(Format::Text, Compat::V3, b"a{b=\"1\",b=\"2\"} 1\n").unwrap_err();
    assert_eq!(e.message, r#"label name "b" is not unique: invalid sample"#);
    assert_eq!(e.kind, ErrorKind::InvalidSample);
    let e = run(Format::Text, Compat::V2, b"a{__name__=\"b\"} 1\n").unwrap_err();
    assert_eq!(
        e.message,
        r#"label name "__name__" is not unique: invalid sample"#
    );
}

#[test]
fn samples_before_an_error_count() {
    let mut p = Parser::new(Format::Text, Compat::V2, Limits::default());
    assert!(p.feed(b"a 1\nb 2\nc x\nd 4\n").is_err());
    assert_eq!(p.samples(), 2);
}

#[test]
fn limits_fail_with_prometheus_texts() {
    let page = b"metric_one{a=\"1\",b=\"2\"} 1\nmetric_two 2\nmetric_three 3\n";
    let lim = |f: fn(&mut Limits)| {
        let mut l = Limits {
            target_labels: 2,
            ..Limits::default()
        };
        f(&mut l);
        l
    };
    // label_limit counts __name__, the page's labels and the target's (job, instance).
    let mut p = Parser::new(Format::Text, Compat::V2, lim(|l| l.label_limit = 4));
    let e = p.feed(page).unwrap_err();
    assert_eq!(
        e.message,
        "label_limit exceeded (metric: metric_one, number of labels: 5, limit: 4)"
    );
    assert_eq!((e.kind, p.samples()), (ErrorKind::LabelLimit, 1));
    assert_eq!(
        run_all_splits(Format::Text, Compat::V2, lim(|l| l.label_limit = 5), page),
        Ok(3)
    );

    let e = run_all_splits(
        Format::Text,
        Compat::V2,
        lim(|l| l.label_name_length_limit = 7),
        page,
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "label_name_length_limit exceeded (metric: metric_one, label name: __name__, length: 8, limit: 7)"
    );
    let e = run_all_splits(
        Format::Text,
        Compat::V2,
        lim(|l| l.label_value_length_limit = 9),
        page,
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        r#"label_value_length_limit exceeded (metric: metric_one, label name: __name__, value: "metric_one", length: 10, limit: 9)"#
    );
    // Escapes count once unescaped.
    let esc = b"m{v=\"\\\\\\\\\"} 1\n";
    assert_eq!(run(Format::Text, Compat::V2, esc), Ok(1));
    let l2 = lim(|l| l.label_value_length_limit = 2);
    assert_eq!(run_all_splits(Format::Text, Compat::V2, l2, esc), Ok(1));

    // sample_limit: parsing goes on so every sample is counted, then the scrape fails.
    let mut p = Parser::new(Format::Text, Compat::V3, lim(|l| l.sample_limit = 2));
    p.feed(page).unwrap();
    assert_eq!(p.finish().unwrap_err().message, "sample limit exceeded");
    assert_eq!(p.samples(), 3);
    // A parse error wins over the sample limit.
    let mut p = Parser::new(Format::Text, Compat::V3, lim(|l| l.sample_limit = 1));
    let e = p.feed(b"a 1\nb 2\nc x\n").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Syntax);
}

#[test]
fn negotiates_like_each_version() {
    use Format::*;
    let v3 = |ct: Option<&str>| negotiate(ct, Compat::V3, None);
    assert_eq!(
        v3(Some("text/plain; version=0.0.4; charset=utf-8")),
        Ok(Text)
    );
    assert_eq!(
        v3(Some(
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        )),
        Ok(OpenMetrics)
    );
    assert_eq!(v3(Some("Text/Plain")), Ok(Text));
    assert_eq!(
        v3(None).unwrap_err().message,
        "non-compliant scrape target sending blank Content-Type and no fallback_scrape_protocol specified for target"
    );
    assert_eq!(
        v3(Some("text/html; charset=utf-8")).unwrap_err().message,
        r#"received unsupported Content-Type "text/html; charset=utf-8" and no fallback_scrape_protocol specified for target"#
    );
    assert!(
        v3(Some("garbage"))
            .unwrap_err()
            .message
            .starts_with("cannot parse Content-Type \"garbage\"")
    );
    assert_eq!(
        negotiate(Some("text/html"), Compat::V3, Some(Text)),
        Ok(Text)
    );
    assert_eq!(
        negotiate(None, Compat::V3, Some(OpenMetrics)),
        Ok(OpenMetrics)
    );
    let v2 = |ct: Option<&str>| negotiate(ct, Compat::V2, None);
    assert_eq!(v2(None), Ok(Text));
    assert_eq!(v2(Some("text/html")), Ok(Text));
    assert_eq!(v2(Some("garbage")), Ok(Text));
    assert_eq!(
        v2(Some("application/openmetrics-text; version=1.0.0")),
        Ok(OpenMetrics)
    );
    assert_eq!(Format::from_protocol("PrometheusText0.0.4"), Some(Text));

    // An unknown type fails only a non-empty body under Prometheus 3.
    let mut p = Parser::for_response(Some("text/html"), Compat::V3, None, Limits::default());
    assert_eq!(p.finish(), Ok(0));
    let mut p = Parser::for_response(Some("text/html"), Compat::V3, None, Limits::default());
    assert_eq!(p.feed(b"a 1\n").unwrap_err().kind, ErrorKind::ContentType);
    // Prometheus 2.42 parses an empty OpenMetrics body, and fails it.
    let mut p = Parser::new(OpenMetrics, Compat::V2, Limits::default());
    assert_eq!(
        p.finish().unwrap_err().message,
        "data does not end with # EOF"
    );
    // Protobuf is parsed: an empty message, then one declared 255 bytes long with 0 there.
    let mut p = Parser::for_response(
        Some(
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
        ),
        Compat::V3,
        None,
        Limits::default(),
    );
    assert_eq!(p.format(), Some(Format::Protobuf));
    assert_eq!(
        (p.feed(b"\x00\xff\x01"), p.finish().map_err(|e| e.message)),
        (
            Ok(()),
            Err(
                "clientpb: insufficient length of buffer, expected at least 257 bytes, got 2 bytes"
                    .to_owned()
            )
        )
    );
}

#[test]
fn node_exporter_fixture_parses() {
    let page = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/expo/node_exporter.prom"
    ))
    .expect("fixture");
    for compat in [Compat::V2, Compat::V3] {
        for size in [1, 7, 4096, 16384, page.len()] {
            let chunks: Vec<&[u8]> = page.chunks(size).collect();
            assert_eq!(
                run_chunks(Format::Text, compat, Limits::default(), &chunks),
                Ok(1492),
                "{compat:?} chunks of {size}"
            );
        }
    }
}

#[test]
fn a_huge_unterminated_quote_costs_linear_time() {
    // Raw newlines are legal inside text-format label values, so an unclosed quote keeps
    // the entry open; retrying must not rescan it for every line.
    let mut p = Parser::new(Format::Text, Compat::V3, Limits::default());
    p.feed(b"a{b=\"").unwrap();
    let line = [b'x'; 99]
        .iter()
        .copied()
        .chain([b'\n'])
        .collect::<Vec<u8>>();
    let start = std::time::Instant::now();
    for _ in 0..100_000 {
        p.feed(&line).unwrap();
    }
    assert!(p.finish().is_err());
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

/// A bounded fuzz run on stable Rust, for CI: mutations of Prometheus's cases and of the
/// node fixture through `check_invariants` (no panic, same outcome however split). Runs
/// `EXPO_FUZZ_SECS` seconds, or by default 2 s or 200,000 inputs, whichever comes first; a failing
/// input is printed so it can become a regression case.
#[test]
fn bounded_fuzz_keeps_the_invariants() {
    let given: Option<u64> = std::env::var("EXPO_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok());
    let secs = given.unwrap_or(2);
    let max_inputs = if given.is_some() { u64::MAX } else { 200_000 };
    let node = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/expo/node_exporter.prom"
    ))
    .expect("fixture");
    let mut seeds: Vec<Vec<u8>> = [
        prom_cases::PROM_V3,
        prom_cases::OM_V3,
        prom_cases::PROM_V2,
        prom_cases::OM_V2,
    ]
    .iter()
    .flat_map(|t| t.iter().map(|(i, _)| i.to_vec()))
    .collect();
    for chunk in node.chunks(700).take(20) {
        seeds.push(chunk.to_vec());
    }
    seeds.push(b"a_total 1 1.5 # {t=\"1\"} 1 2\n{\"x.y\", \"a.b\"=\"c\"} 1\n# EOF\n".to_vec());
    const SPECIAL: &[u8] = b"{}\"\\\n\0 #=,\xff\t9.eE+-_pxHELPTYPEUNITEOF";
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let start = std::time::Instant::now();
    let mut n = 0u64;
    while n < max_inputs && start.elapsed() < std::time::Duration::from_secs(secs) {
        let mut input = seeds[(next() % seeds.len() as u64) as usize].clone();
        for _ in 0..=(next() % 4) {
            let len = input.len().max(1) as u64;
            let at = (next() % len) as usize;
            match next() % 5 {
                0 if !input.is_empty() => {
                    let i = at.min(input.len() - 1);
                    input[i] = SPECIAL[(next() % SPECIAL.len() as u64) as usize];
                }
                1 => input.insert(
                    at.min(input.len()),
                    SPECIAL[(next() % SPECIAL.len() as u64) as usize],
                ),
                2 if !input.is_empty() => {
                    let end = (at + (next() % 8) as usize).min(input.len());
                    input.drain(at.min(end)..end);
                }
                3 => {
                    let other = &seeds[(next() % seeds.len() as u64) as usize];
                    let cut = (next() % (other.len() as u64 + 1)) as usize;
                    input.splice(
                        at.min(input.len())..at.min(input.len()),
                        other[..cut].iter().copied(),
                    );
                }
                _ => {}
            }
        }
        let sel = (next() & 0xff) as u8;
        let mut data = vec![sel];
        data.extend_from_slice(&input);
        if std::panic::catch_unwind(|| check_invariants(&data)).is_err() {
            panic!(
                "invariant broken for input {:?}",
                String::from_utf8_lossy(&data)
            );
        }
        n += 1;
    }
    assert!(n > 100, "only {n} inputs in {secs} s");
    eprintln!("bounded fuzz: {n} inputs in {:?}", start.elapsed());
}

/// Prometheus 3's Accept for `scrape_protocols`: the default list gives the default header,
/// protobuf first is what native histograms switch to.
#[test]
fn accept_from_scrape_protocols() {
    let default = [
        "OpenMetricsText1.0.0",
        "OpenMetricsText0.0.1",
        "PrometheusText1.0.0",
        "PrometheusText0.0.4",
    ];
    assert_eq!(
        super::accept_for_protocols(&default),
        super::accept_header(Compat::V3)
    );
    assert_eq!(
        super::accept_for_protocols(super::PROTO_FIRST_PROTOCOLS),
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
    );
    assert_eq!(
        super::accept_for_protocols(&["PrometheusProto"]),
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,*/*;q=0.5"
    );
}

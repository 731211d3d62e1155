//! The protobuf reader against hand-encoded pages: counts, Prometheus's error texts (2.42 and
//! 3), every split of a page into two chunks giving the same outcome, and cases from
//! Prometheus's published protobuf parser tests (as facts: the same families, re-encoded here).

use super::super::{Compat, Format, Limits, Parser};
use super::Histograms;

fn var(mut n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

fn tag(num: u64, wire: u64) -> Vec<u8> {
    var(num << 3 | wire)
}

fn bytes(num: u64, data: &[u8]) -> Vec<u8> {
    [tag(num, 2), var(data.len() as u64), data.to_vec()].concat()
}

fn double(num: u64, x: f64) -> Vec<u8> {
    [tag(num, 1), x.to_le_bytes().to_vec()].concat()
}

fn uint(num: u64, x: u64) -> Vec<u8> {
    [tag(num, 0), var(x)].concat()
}

fn zigzag(x: i64) -> u64 {
    ((x << 1) ^ (x >> 63)) as u64
}

fn label(n: &str, v: &[u8]) -> Vec<u8> {
    bytes(1, &[bytes(1, n.as_bytes()), bytes(2, v)].concat())
}

/// A delimited MetricFamily (type: COUNTER 0, GAUGE 1, SUMMARY 2, UNTYPED 3, HISTOGRAM 4).
fn family(name: &str, ty: u64, metrics: &[Vec<u8>], extra: &[u8]) -> Vec<u8> {
    let mut mf = [bytes(1, name.as_bytes()), uint(3, ty), extra.to_vec()].concat();
    for m in metrics {
        mf.extend(bytes(4, m));
    }
    [var(mf.len() as u64), mf].concat()
}

fn value(field: u64, v: f64, labels: &[(&str, &str)]) -> Vec<u8> {
    let mut m: Vec<u8> = labels
        .iter()
        .flat_map(|(n, v)| label(n, v.as_bytes()))
        .collect();
    m.extend(bytes(field, &double(1, v)));
    m
}

fn summary(quantiles: &[(f64, f64)]) -> Vec<u8> {
    let mut s = [uint(1, 3), double(2, 1.5)].concat();
    for (q, v) in quantiles {
        s.extend(bytes(3, &[double(1, *q), double(2, *v)].concat()));
    }
    bytes(4, &s)
}

fn histogram(buckets: &[(f64, u64)], extra: &[u8]) -> Vec<u8> {
    let mut h = [uint(1, 3), double(2, 1.5)].concat();
    for (le, c) in buckets {
        h.extend(bytes(3, &[uint(1, *c), double(2, *le)].concat()));
    }
    h.extend_from_slice(extra);
    bytes(7, &h)
}

fn valid() -> Vec<u8> {
    [
        family(
            "fid_requests_total",
            0,
            &[
                value(3, 7.0, &[("code", "200")]),
                value(3, 1.0, &[("code", "500")]),
            ],
            &bytes(2, b"Requests."),
        ),
        family("fid_temp", 1, &[value(2, 21.5, &[])], &[]),
        family("fid_u", 3, &[value(5, 1.0, &[])], &[]),
    ]
    .concat()
}

/// A native histogram: zero threshold, one positive span of 2, packed deltas.
fn native_extra() -> Vec<u8> {
    [
        uint(5, 0),
        double(6, 0.001),
        bytes(12, &[uint(1, 0), uint(2, 2)].concat()),
        bytes(13, &[var(zigzag(1)), var(zigzag(1))].concat()),
    ]
    .concat()
}

fn parser(compat: Compat, limits: Limits, h: Histograms) -> Parser {
    Parser::new(Format::Protobuf, compat, limits).with_histograms(h)
}

/// Whole, and split into two chunks at every byte: the same (result, samples) each time.
fn run_with(
    compat: Compat,
    limits: Limits,
    h: Histograms,
    page: &[u8],
) -> (Result<u64, String>, u64) {
    let once = |chunks: &[&[u8]]| {
        let mut p = parser(compat, limits, h);
        let mut r = Ok(());
        for c in chunks {
            r = p.feed(c);
            if r.is_err() {
                break;
            }
        }
        (
            r.and_then(|_| p.finish()).map_err(|e| e.message),
            p.samples(),
        )
    };
    let whole = once(&[page]);
    for i in 0..=page.len() {
        let (a, b) = page.split_at(i);
        assert_eq!(once(&[a, b]), whole, "split at {i}");
    }
    let bytes: Vec<&[u8]> = page.chunks(1).collect();
    assert_eq!(once(&bytes), whole, "byte by byte");
    whole
}

fn run(compat: Compat, page: &[u8]) -> (Result<u64, String>, u64) {
    run_with(compat, Limits::default(), Histograms::default(), page)
}

const BOTH: [Compat; 2] = [Compat::V2, Compat::V3];

#[test]
fn counters_gauges_untyped_count_one_each() {
    for c in BOTH {
        assert_eq!(run(c, &valid()), (Ok(4), 4), "{c:?}");
    }
}

#[test]
fn summaries_and_classic_histograms_count_as_prometheus() {
    let page = [
        family("fid_s", 2, &[summary(&[(0.5, 0.4), (0.9, 0.8)])], &[]),
        // No +Inf bucket listed: one is added.
        family("fid_h", 4, &[histogram(&[(0.1, 1), (1.0, 2)], &[])], &[]),
        family(
            "fid_i",
            4,
            &[histogram(&[(1.0, 2), (f64::INFINITY, 3)], &[])],
            &[],
        ),
        // Buckets after a +Inf one are not read.
        family(
            "fid_j",
            4,
            &[histogram(&[(f64::INFINITY, 3), (5.0, 3)], &[])],
            &[],
        ),
        // A summary without quantiles, a histogram without buckets.
        family("fid_t", 2, &[summary(&[])], &[]),
        family("fid_k", 4, &[histogram(&[], &[])], &[]),
        // An empty family is skipped, even with a name Prometheus would refuse.
        family("bad name", 1, &[], &[]),
    ]
    .concat();
    for c in BOTH {
        assert_eq!(run(c, &page), (Ok(4 + 5 + 4 + 3 + 2 + 3), 21), "{c:?}");
    }
}

#[test]
fn truncated_and_garbage_pages_fail_with_prometheus_wording() {
    let v = valid();
    let cut = &v[..v.len() - 5];
    let last = family("fid_u", 3, &[value(5, 1.0, &[])], &[]).len();
    let (r, n) = run(Compat::V2, cut);
    assert_eq!(
        r.unwrap_err(),
        format!(
            "protobufparse: insufficient length of buffer, expected at least {last} bytes, got {} bytes",
            last - 5
        )
    );
    assert_eq!(n, 3);
    let (r, _) = run(Compat::V3, cut);
    assert!(
        r.unwrap_err()
            .starts_with("clientpb: insufficient length of buffer")
    );

    let (r, n) = run(Compat::V2, b"this is not protobuf\n");
    assert_eq!(
        r.unwrap_err(),
        "protobufparse: insufficient length of buffer, expected at least 117 bytes, got 21 bytes"
    );
    assert_eq!(n, 0);

    let bad = [v.clone(), vec![0xff; 6]].concat();
    assert_eq!(
        run(Compat::V2, &bad),
        (
            Err("protobufparse: invalid varint encountered".to_owned()),
            4
        )
    );
    assert_eq!(
        run(Compat::V3, &[0xff, 0xff]),
        (Err("clientpb: invalid varint encountered".to_owned()), 0)
    );
}

#[test]
fn wire_errors_are_gogo_protobufs() {
    let wrong = [valid(), var(2), uint(1, 7)].concat();
    for c in BOTH {
        assert_eq!(
            run(c, &wrong),
            (
                Err("proto: wrong wireType = 0 for field Name".to_owned()),
                4
            )
        );
    }
    // A field length past the message's end.
    let past = [var(3), vec![0x0a, 0x05, b'a']].concat();
    assert_eq!(run(Compat::V2, &past).0, Err("unexpected EOF".to_owned()));
    // Field number 0.
    let zero = [var(2), vec![0x00, 0x00]].concat();
    assert_eq!(
        run(Compat::V3, &zero).0,
        Err("proto: MetricFamily: illegal tag 0 (wire type 0)".to_owned())
    );
    // End group at the top of a message.
    let eg = [var(1), vec![0x0c]].concat();
    assert_eq!(
        run(Compat::V2, &eg).0,
        Err("proto: MetricFamily: wiretype end group for non-group".to_owned())
    );
    // Unknown fields are skipped, of every wire type; wire type 6 is refused.
    let unknown = family(
        "fid_a",
        1,
        &[value(2, 1.0, &[])],
        &[
            uint(9, 1),
            double(10, 1.0),
            bytes(11, b"x"),
            vec![0x65, 1, 2, 3, 4],
        ]
        .concat(),
    );
    assert_eq!(run(Compat::V2, &unknown), (Ok(1), 1));
    let six = family("fid_a", 1, &[value(2, 1.0, &[])], &[0x4e]);
    assert_eq!(
        run(Compat::V2, &six).0,
        Err("proto: illegal wireType 6".to_owned())
    );
}

#[test]
fn a_bad_metric_fails_its_family_whole_in_2_and_from_there_in_3() {
    // Second metric of the family: a gauge whose value has the wrong wire type.
    let bad_gauge = bytes(2, &uint(1, 5));
    let page = family("fid_g", 1, &[value(2, 1.0, &[]), bad_gauge], &[]);
    let want = "proto: wrong wireType = 0 for field Value".to_owned();
    assert_eq!(run(Compat::V2, &page), (Err(want.clone()), 0));
    assert_eq!(run(Compat::V3, &page), (Err(want), 1));
}

#[test]
fn names_labels_help_and_types_are_checked() {
    let lbl = family("fid_g", 1, &[value(2, 1.0, &[("a-b", "x")])], &[]);
    assert_eq!(
        run(Compat::V2, &lbl),
        (Err("invalid label name: a-b".to_owned()), 0)
    );
    assert_eq!(run(Compat::V3, &lbl), (Ok(1), 1));
    let name = family("fid.g", 1, &[value(2, 1.0, &[])], &[]);
    assert_eq!(
        run(Compat::V2, &name),
        (Err("invalid metric name: fid.g".to_owned()), 0)
    );
    assert_eq!(run(Compat::V3, &name), (Ok(1), 1));
    let m = [label("x", b"\xff"), bytes(2, &double(1, 1.0))].concat();
    let val = family("fid_g", 1, &[m], &[]);
    for c in BOTH {
        assert_eq!(
            run(c, &val),
            (Err("invalid label value: \u{fffd}".to_owned()), 0)
        );
    }
    let ty = family("fid_g", 7, &[value(2, 1.0, &[])], &[]);
    for c in BOTH {
        assert_eq!(
            run(c, &ty).0,
            Err("unknown metric type for metric \"fid_g\": 7".to_owned())
        );
    }
    // The unit (field 5) exists in Prometheus 3 only.
    let unit = family("fid_g", 1, &[value(2, 1.0, &[])], &bytes(5, b"seconds"));
    assert_eq!(run(Compat::V2, &unit), (Ok(1), 1));
    assert_eq!(
        run(Compat::V3, &unit).0,
        Err("unit \"seconds\" not a suffix of metric \"fid_g\"".to_owned())
    );
    let ok = family(
        "fid_seconds_total",
        0,
        &[value(3, 1.0, &[])],
        &bytes(5, b"seconds"),
    );
    assert_eq!(run(Compat::V3, &ok), (Ok(1), 1));
    // A page label that collides with the bucket's `le`.
    let dup = family(
        "fid_h",
        4,
        &[[label("le", b"1"), histogram(&[(1.0, 1)], &[])].concat()],
        &[],
    );
    for c in BOTH {
        assert_eq!(
            run(c, &dup),
            (
                Err("label name \"le\" is not unique: invalid sample".to_owned()),
                3
            )
        );
    }
}

#[test]
fn native_histograms_as_each_prometheus_takes_them() {
    let page = [
        family("fid_temp", 1, &[value(2, 1.0, &[])], &[]),
        family("fid_n", 4, &[histogram(&[], &native_extra())], &[]),
    ]
    .concat();
    // 2.42 without --enable-feature=native-histograms: the storage refuses it.
    assert_eq!(
        run(Compat::V2, &page),
        (Err("native histograms are disabled".to_owned()), 2)
    );
    // 3 without scrape_native_histograms: its classic part (_count, _sum, +Inf).
    assert_eq!(run(Compat::V3, &page), (Ok(4), 4));
    let native = Histograms {
        scrape_native: true,
        always_classic: false,
    };
    let r = run_with(Compat::V3, Limits::default(), native, &page);
    assert_eq!(r, (Ok(2), 2));
    // Spans that need more buckets than given.
    let bad = [
        uint(5, 0),
        double(6, 0.001),
        bytes(12, &[uint(1, 0), uint(2, 3)].concat()),
        bytes(13, &[var(zigzag(1))].concat()),
    ]
    .concat();
    let page = family("fid_n", 4, &[histogram(&[], &bad)], &[]);
    assert_eq!(
        run_with(Compat::V3, Limits::default(), native, &page).0,
        Err("histogram \"fid_n\": positive side: spans require 3 buckets, have 1".to_owned())
    );
}

/// Prometheus's `protobufparse_test.go` family `test_histogram` (classic buckets and native
/// spans together): 1 native sample, then with `always_scrape_classic_histograms` its
/// `_count`, `_sum`, three buckets and the added +Inf bucket.
#[test]
fn prometheus_fixture_histogram_with_classic_and_native_buckets() {
    let span = |o: i64, l: u64| [uint(1, zigzag(o)), uint(2, l)].concat();
    let deltas = |d: &[i64]| d.iter().flat_map(|&x| var(zigzag(x))).collect::<Vec<u8>>();
    let extra = [
        uint(5, zigzag(3)),
        double(6, 2.938735877055719e-39),
        uint(7, 2),
        bytes(9, &span(-162, 1)),
        bytes(9, &span(23, 4)),
        bytes(10, &deltas(&[1, 3, -2, -1, 1])),
        bytes(12, &span(-161, 1)),
        bytes(12, &span(8, 3)),
        bytes(13, &deltas(&[1, 2, -1, -1])),
    ]
    .concat();
    let buckets = [
        (-0.0004899999999999998, 2),
        (-0.0003899999999999998, 4),
        (-0.0002899999999999998, 16),
    ];
    let page = family(
        "test_histogram",
        4,
        &[histogram(&buckets, &extra)],
        &bytes(
            2,
            b"Test histogram with many buckets removed to keep it manageable in size.",
        ),
    );
    let both = Histograms {
        scrape_native: true,
        always_classic: true,
    };
    let only_native = Histograms {
        scrape_native: true,
        always_classic: false,
    };
    let d = Limits::default();
    assert_eq!(run_with(Compat::V3, d, both, &page), (Ok(7), 7));
    assert_eq!(run_with(Compat::V3, d, only_native, &page), (Ok(1), 1));
    assert_eq!(run(Compat::V3, &page), (Ok(6), 6));
    assert_eq!(
        run(Compat::V2, &page),
        (Err("native histograms are disabled".to_owned()), 1)
    );
}

/// Prometheus's fixture `go_gc_duration_seconds`: a summary of 5 quantiles, 7 samples.
#[test]
fn prometheus_fixture_summary() {
    let q = [
        (0.0, 4.9351e-05),
        (0.25, 7.424100000000001e-05),
        (0.5, 8.3835e-05),
        (0.75, 0.000106744),
        (1.0, 0.002072195),
    ];
    let m = [label("a", b"b"), summary(&q)].concat();
    let page = family(
        "go_gc_duration_seconds",
        2,
        &[m],
        &bytes(2, b"A summary of the GC invocation durations."),
    );
    for c in BOTH {
        assert_eq!(run(c, &page), (Ok(7), 7));
    }
}

#[test]
fn limits_apply_to_protobuf_samples() {
    let lim = |f: fn(&mut Limits)| {
        let mut l = Limits::default();
        f(&mut l);
        l
    };
    let h = Histograms::default();
    let (r, n) = run_with(Compat::V2, lim(|l| l.sample_limit = 3), h, &valid());
    assert_eq!((r.unwrap_err().as_str(), n), ("sample limit exceeded", 4));
    let (r, _) = run_with(Compat::V2, lim(|l| l.label_limit = 1), h, &valid());
    assert_eq!(
        r.unwrap_err(),
        "label_limit exceeded (metric: fid_requests_total, number of labels: 2, limit: 1)"
    );
    let page = family("fid_h", 4, &[histogram(&[(0.25, 1)], &[])], &[]);
    let (r, n) = run_with(
        Compat::V3,
        lim(|l| l.label_value_length_limit = 5),
        h,
        &page,
    );
    assert_eq!(
        r.unwrap_err(),
        "label_value_length_limit exceeded (metric: fid_h_count, label name: __name__, value: \"fid_h_count\", length: 11, limit: 5)"
    );
    assert_eq!(n, 1);
    let (r, _) = run_with(
        Compat::V3,
        lim(|l| l.label_value_length_limit = 11),
        h,
        &page,
    );
    assert!(r.unwrap_err().contains("metric: fid_h_bucket"));
}

#[test]
fn empty_body_is_an_empty_scrape() {
    for c in BOTH {
        assert_eq!(run(c, b""), (Ok(0), 0));
    }
}

#[test]
fn openmetrics_float_formatting_of_le_and_quantile() {
    use super::om_float;
    assert_eq!(om_float(1.0), "1.0");
    assert_eq!(om_float(0.25), "0.25");
    assert_eq!(om_float(100.0), "100.0");
    assert_eq!(om_float(1e21), "1e+21");
    assert_eq!(om_float(1e-5), "1e-05");
    assert_eq!(om_float(f64::INFINITY), "+Inf");
}

/// A gauge histogram (type 5) counts as a classic one; 2.42 names its series without the
/// `_count`/`_sum`/`_bucket` suffixes (seen in a length limit's message), 3 with them.
#[test]
fn gauge_histograms_count_like_histograms() {
    let page = family("fid_gh", 5, &[histogram(&[(1.0, 1)], &[])], &[]);
    for c in BOTH {
        assert_eq!(run(c, &page), (Ok(4), 4));
    }
    let lim = Limits {
        label_value_length_limit: 6,
        ..Limits::default()
    };
    let h = Histograms::default();
    let msg = |c| run_with(c, lim, h, &page).0.unwrap_err();
    assert!(
        msg(Compat::V3).contains("value: \"fid_gh_count\""),
        "{}",
        msg(Compat::V3)
    );
    assert_eq!(run_with(Compat::V2, lim, h, &page), (Ok(4), 4));
}

/// Prometheus's fixture `empty_histogram`: no observations, a no-op span (offset 0, length
/// 0) marking it native for Prometheus 3. 3 with native histograms: one sample; 3 without, and
/// 2.42 (no deltas, no zero bucket: classic to it): `_count`, `_sum`, `+Inf`.
#[test]
fn prometheus_fixture_empty_native_histogram() {
    let noop = bytes(12, &[uint(1, 0), uint(2, 0)].concat());
    let h = bytes(7, &noop);
    let page = family(
        "empty_histogram",
        4,
        &[h],
        &bytes(2, b"A histogram without observations."),
    );
    let native = Histograms {
        scrape_native: true,
        always_classic: true,
    };
    assert_eq!(
        run_with(Compat::V3, Limits::default(), native, &page),
        (Ok(1), 1)
    );
    assert_eq!(run(Compat::V3, &page), (Ok(3), 3));
    assert_eq!(run(Compat::V2, &page), (Ok(3), 3));
}

/// Prometheus's fixtures with created timestamps (`test_counter_with_createdtimestamp`,
/// summary and histogram alike): the timestamp adds no sample. Unknown to 2.42's schema, the
/// field is skipped there.
#[test]
fn prometheus_fixture_created_timestamps_add_no_sample() {
    let ts = bytes(3, &[uint(1, 1_625_851_153), uint(2, 146_848_499)].concat());
    let counter = bytes(3, &[double(1, 42.0), ts.clone()].concat());
    let page = [
        family("test_counter_with_createdtimestamp", 0, &[counter], &[]),
        family(
            "test_summary_with_createdtimestamp",
            2,
            &[bytes(
                4,
                &[
                    uint(1, 42),
                    double(2, 1.234),
                    bytes(4, &[uint(1, 1), uint(2, 2)].concat()),
                ]
                .concat(),
            )],
            &[],
        ),
    ]
    .concat();
    for c in BOTH {
        assert_eq!(run(c, &page), (Ok(3), 3), "{c:?}");
    }
}

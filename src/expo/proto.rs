//! The protobuf exposition format (`application/vnd.google.protobuf;
//! proto=io.prometheus.client.MetricFamily; encoding=delimited`): a stream of `MetricFamily`
//! messages, each preceded by its length as a varint.
//!
//! Read as Prometheus reads it, facts taken from its sources (no code copied):
//! - 2.42 (`model/textparse/protobufparse.go`, gogo-generated `metrics.pb.go`): a whole family
//!   is decoded before any of its samples is returned, so a malformed metric anywhere in it
//!   fails the scrape with the samples of earlier families only. Whether a histogram family
//!   is native is decided by its first metric (bucket deltas, a zero count or threshold);
//!   without `--enable-feature=native-histograms` (which scrapetop does not model) its first
//!   sample fails the scrape with `native histograms are disabled`.
//! - 3 (`prompb/io/prometheus/client/decoder.go`): the family's own fields are decoded first,
//!   then one metric at a time (its labels at its first sample), so samples of the metrics
//!   before a malformed one count. A histogram is native when it has spans or a zero bucket;
//!   unless `scrape_native_histograms` is on it is read as its classic part, and with it on
//!   it is one sample (plus its classic part under `always_scrape_classic_histograms`).
//!
//! Samples as `scrape_samples_scraped` counts them: counter, gauge, untyped 1; summary
//! `_count`, `_sum` and one per quantile; classic histogram `_count`, `_sum` and one bucket
//! per bucket up to the first `+Inf` one (an `+Inf` bucket is added when none is listed).
//! Created timestamps never add to the count. The wire decoder is hand-written: it
//! reproduces gogo-protobuf's error texts and allocates nothing per sample (see BENCHMARKS).

use super::gofmt::{quote, trunc};
use super::{Compat, ErrorKind, ExpoError, Parser};

/// What Prometheus 3 does with histograms in protobuf pages (job settings of the same
/// names). Prometheus 2.42 without feature flags takes no notice of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Histograms {
    /// `scrape_native_histograms`: a native histogram is one sample, not its classic part.
    pub scrape_native: bool,
    /// `always_scrape_classic_histograms`: with native histograms on, a histogram that also
    /// has classic buckets is read both ways.
    pub always_classic: bool,
}

/// Reusable buffers of the protobuf reader: kept across messages so that a page costs no
/// allocation per sample.
#[derive(Debug, Default)]
pub(super) struct ProtoState {
    /// Metrics of the current family: byte ranges in the message.
    metrics: Vec<(usize, usize)>,
    /// Labels of the current metric: (name start, name end, value start, value end), or the
    /// LabelPair's own range before it is parsed (Prometheus 3 parses labels lazily).
    labels: Vec<[usize; 4]>,
    /// Bucket upper bounds or quantiles of the current metric (for `le`/`quantile`).
    bounds: Vec<f64>,
    /// Whether the current family's first histogram is native (2.42's rule).
    first_native: bool,
}

/// A gogo-protobuf decoding error; `Display` is its text.
#[derive(Debug)]
enum WErr {
    Eof,
    Overflow,
    BadLen,
    EndOfGroup,
    IllegalWire(u64),
    NonGroup(&'static str),
    IllegalTag(&'static str, i32, u64),
    WrongWire(u64, &'static str),
}

impl std::fmt::Display for WErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WErr::Eof => f.write_str("unexpected EOF"),
            WErr::Overflow => f.write_str("proto: integer overflow"),
            WErr::BadLen => f.write_str("proto: negative length found during unmarshaling"),
            WErr::EndOfGroup => f.write_str("proto: unexpected end of group"),
            WErr::IllegalWire(w) => write!(f, "proto: illegal wireType {w}"),
            WErr::NonGroup(m) => write!(f, "proto: {m}: wiretype end group for non-group"),
            WErr::IllegalTag(m, n, w) => write!(f, "proto: {m}: illegal tag {n} (wire type {w})"),
            WErr::WrongWire(w, n) => write!(f, "proto: wrong wireType = {w} for field {n}"),
        }
    }
}

/// How a field is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum K {
    /// A varint (wire type 0).
    Var,
    /// A double (wire type 1).
    F64,
    /// A string or message (wire type 2).
    Len,
    /// Repeated varints, packed (2) or one by one (0).
    RVar,
    /// Repeated doubles, packed (2) or one by one (1).
    RF64,
}

/// A message's fields: number, Go field name (for errors), encoding.
type Fields = &'static [(u32, &'static str, K)];

/// A decoded field value; byte ranges are absolute in the buffer walked.
#[derive(Debug, Clone, Copy)]
enum V {
    U(u64),
    F(f64),
    B(usize, usize),
}

const MF2: Fields = &[
    (1, "Name", K::Len),
    (2, "Help", K::Len),
    (3, "Type", K::Var),
    (4, "Metric", K::Len),
];
const MF3: Fields = &[
    (1, "Name", K::Len),
    (2, "Help", K::Len),
    (3, "Type", K::Var),
    (4, "Metric", K::Len),
    (5, "Unit", K::Len),
];
const METRIC: Fields = &[
    (1, "Label", K::Len),
    (2, "Gauge", K::Len),
    (3, "Counter", K::Len),
    (4, "Summary", K::Len),
    (5, "Untyped", K::Len),
    (7, "Histogram", K::Len),
    (6, "TimestampMs", K::Var),
];
const LABEL: Fields = &[(1, "Name", K::Len), (2, "Value", K::Len)];
const VALUE: Fields = &[(1, "Value", K::F64)];
const COUNTER2: Fields = &[(1, "Value", K::F64), (2, "Exemplar", K::Len)];
const COUNTER3: Fields = &[
    (1, "Value", K::F64),
    (2, "Exemplar", K::Len),
    (3, "StartTimestamp", K::Len),
];
const QUANTILE: Fields = &[(1, "Quantile", K::F64), (2, "Value", K::F64)];
const SUMMARY2: Fields = &[
    (1, "SampleCount", K::Var),
    (2, "SampleSum", K::F64),
    (3, "Quantile", K::Len),
];
const SUMMARY3: Fields = &[
    (1, "SampleCount", K::Var),
    (2, "SampleSum", K::F64),
    (3, "Quantile", K::Len),
    (4, "StartTimestamp", K::Len),
];
const HIST2: Fields = &[
    (1, "SampleCount", K::Var),
    (4, "SampleCountFloat", K::F64),
    (2, "SampleSum", K::F64),
    (3, "Bucket", K::Len),
    (5, "Schema", K::Var),
    (6, "ZeroThreshold", K::F64),
    (7, "ZeroCount", K::Var),
    (8, "ZeroCountFloat", K::F64),
    (9, "NegativeSpan", K::Len),
    (10, "NegativeDelta", K::RVar),
    (11, "NegativeCount", K::RF64),
    (12, "PositiveSpan", K::Len),
    (13, "PositiveDelta", K::RVar),
    (14, "PositiveCount", K::RF64),
];
const HIST3: Fields = &[
    (1, "SampleCount", K::Var),
    (4, "SampleCountFloat", K::F64),
    (2, "SampleSum", K::F64),
    (3, "Bucket", K::Len),
    (15, "StartTimestamp", K::Len),
    (5, "Schema", K::Var),
    (6, "ZeroThreshold", K::F64),
    (7, "ZeroCount", K::Var),
    (8, "ZeroCountFloat", K::F64),
    (9, "NegativeSpan", K::Len),
    (10, "NegativeDelta", K::RVar),
    (11, "NegativeCount", K::RF64),
    (12, "PositiveSpan", K::Len),
    (13, "PositiveDelta", K::RVar),
    (14, "PositiveCount", K::RF64),
    (16, "Exemplars", K::Len),
];
const BUCKET: Fields = &[
    (1, "CumulativeCount", K::Var),
    (4, "CumulativeCountFloat", K::F64),
    (2, "UpperBound", K::F64),
    (3, "Exemplar", K::Len),
];
const SPAN: Fields = &[(1, "Offset", K::Var), (2, "Length", K::Var)];
const EXEMPLAR: Fields = &[
    (1, "Label", K::Len),
    (2, "Value", K::F64),
    (3, "Timestamp", K::Len),
];
const TIMESTAMP: Fields = &[(1, "Seconds", K::Var), (2, "Nanos", K::Var)];

/// A varint as gogo reads one: at most 10 bytes, bits past 64 dropped.
fn varint(b: &[u8], i: &mut usize, hi: usize) -> Result<u64, WErr> {
    let mut x = 0u64;
    let mut shift = 0u32;
    loop {
        if shift >= 64 {
            return Err(WErr::Overflow);
        }
        if *i >= hi {
            return Err(WErr::Eof);
        }
        let c = b[*i];
        *i += 1;
        x |= u64::from(c & 0x7f) << shift;
        if c < 0x80 {
            return Ok(x);
        }
        shift += 7;
    }
}

/// A length-prefixed range starting at `*i` (which is left after the length).
fn length(b: &[u8], i: &mut usize, hi: usize) -> Result<(usize, usize), WErr> {
    let n = varint(b, i, hi)? as i64;
    if n < 0 {
        return Err(WErr::BadLen);
    }
    let end = (*i as i64).checked_add(n).ok_or(WErr::BadLen)?;
    if end as u64 > hi as u64 {
        return Err(WErr::Eof);
    }
    Ok((*i, end as usize))
}

fn f64_at(b: &[u8], i: &mut usize, hi: usize) -> Result<f64, WErr> {
    if *i + 8 > hi {
        return Err(WErr::Eof);
    }
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[*i..*i + 8]);
    *i += 8;
    Ok(f64::from_le_bytes(a))
}

/// The length of the unknown field at `lo` (gogo's `skipMetrics`).
fn skip(b: &[u8], lo: usize, hi: usize) -> Result<usize, WErr> {
    let mut i = lo;
    let mut depth = 0u32;
    while i < hi {
        let wire = varint(b, &mut i, hi)?;
        match wire & 7 {
            0 => {
                varint(b, &mut i, hi)?;
            }
            1 => i += 8,
            2 => {
                let n = varint(b, &mut i, hi)? as i64;
                if n < 0 {
                    return Err(WErr::BadLen);
                }
                i = (i as i64).checked_add(n).ok_or(WErr::BadLen)? as usize;
            }
            3 => depth += 1,
            4 => {
                if depth == 0 {
                    return Err(WErr::EndOfGroup);
                }
                depth -= 1;
            }
            5 => i += 4,
            w => return Err(WErr::IllegalWire(w)),
        }
        if depth == 0 {
            return Ok(i - lo);
        }
    }
    Err(WErr::Eof)
}

/// Walks the fields of message `msg` in `b[lo..hi]` as gogo's generated `Unmarshal` does,
/// calling `f` for each known field (each element of a repeated one); unknown fields are
/// skipped.
fn walk(
    msg: &'static str,
    b: &[u8],
    lo: usize,
    hi: usize,
    fields: Fields,
    mut f: impl FnMut(u32, V) -> Result<(), WErr>,
) -> Result<(), WErr> {
    let mut i = lo;
    while i < hi {
        let pre = i;
        let wire = varint(b, &mut i, hi)?;
        let num = (wire >> 3) as u32 as i32;
        let wt = wire & 7;
        if wt == 4 {
            return Err(WErr::NonGroup(msg));
        }
        if num <= 0 {
            return Err(WErr::IllegalTag(msg, num, wire));
        }
        let Some(&(num, name, kind)) = fields.iter().find(|x| x.0 as i32 == num) else {
            let n = skip(b, pre, hi)?;
            if pre + n > hi {
                return Err(WErr::Eof);
            }
            i = pre + n;
            continue;
        };
        match (kind, wt) {
            (K::Var | K::RVar, 0) => f(num, V::U(varint(b, &mut i, hi)?))?,
            (K::F64 | K::RF64, 1) => f(num, V::F(f64_at(b, &mut i, hi)?))?,
            (K::Len, 2) => {
                let (s, e) = length(b, &mut i, hi)?;
                i = e;
                f(num, V::B(s, e))?;
            }
            (K::RVar, 2) => {
                let (_, e) = length(b, &mut i, hi)?;
                while i < e {
                    f(num, V::U(varint(b, &mut i, hi)?))?;
                }
            }
            (K::RF64, 2) => {
                let (_, e) = length(b, &mut i, hi)?;
                while i < e {
                    f(num, V::F(f64_at(b, &mut i, hi)?))?;
                }
            }
            _ => return Err(WErr::WrongWire(wt, name)),
        }
    }
    Ok(())
}

/// Validates a message that only needs checking (exemplars, timestamps).
fn check(msg: &'static str, b: &[u8], s: usize, e: usize, fields: Fields) -> Result<(), WErr> {
    walk(msg, b, s, e, fields, |n, v| match (n, v, msg) {
        (1, V::B(s, e), "Exemplar") => check("LabelPair", b, s, e, LABEL),
        (3, V::B(s, e), "Exemplar") => check("Timestamp", b, s, e, TIMESTAMP),
        _ => Ok(()),
    })
}

/// What a metric contributes, gathered by [`metric`].
#[derive(Debug, Default, Clone, Copy)]
struct MInfo {
    quantiles: u64,
    buckets: u64,
    /// Index of the first bucket whose upper bound is +Inf.
    first_inf: Option<u64>,
    neg_spans: u64,
    pos_spans: u64,
    neg_span_len: u64,
    pos_span_len: u64,
    neg_delta: u64,
    pos_delta: u64,
    neg_count: u64,
    pos_count: u64,
    zero_threshold: f64,
    zero_count: u64,
    zero_count_float: f64,
    sample_count_float: f64,
}

impl MInfo {
    /// Prometheus 2.42's test: deltas or a zero bucket.
    fn native_v2(&self) -> bool {
        self.neg_delta > 0 || self.pos_delta > 0 || self.zero_count > 0 || self.zero_threshold > 0.0
    }

    /// Prometheus 3's test: spans or a zero bucket.
    fn native_v3(&self) -> bool {
        self.neg_spans > 0 || self.pos_spans > 0 || self.zero_threshold > 0.0 || self.zero_count > 0
    }

    /// Classic series of a histogram: `_count`, `_sum`, buckets to the first +Inf, and a
    /// +Inf bucket if none was listed.
    fn classic_series(&self) -> u64 {
        2 + self.first_inf.map_or(self.buckets + 1, |i| i + 1)
    }

    /// Prometheus 3's span/bucket consistency check of a native histogram.
    fn consistency(&self) -> Result<(), String> {
        let float = self.sample_count_float > 0.0 || self.zero_count_float > 0.0;
        let (pos, neg) = if float {
            (self.pos_count, self.neg_count)
        } else {
            (self.pos_delta, self.neg_delta)
        };
        for (side, spans, have) in [
            ("positive", self.pos_span_len, pos),
            ("negative", self.neg_span_len, neg),
        ] {
            if spans != have {
                return Err(format!(
                    "{side} side: spans require {spans} buckets, have {have}"
                ));
            }
        }
        Ok(())
    }
}

/// Decodes one metric in `b[s..e]`, validating it as the emulated Prometheus does. Labels go
/// to `labels` (parsed under 2.42, as raw LabelPair ranges under 3).
fn metric(
    compat: Compat,
    b: &[u8],
    s: usize,
    e: usize,
    labels: &mut Vec<[usize; 4]>,
    bounds: &mut Vec<f64>,
) -> Result<MInfo, WErr> {
    let v3 = compat == Compat::V3;
    let mut m = MInfo::default();
    labels.clear();
    bounds.clear();
    walk("Metric", b, s, e, METRIC, |n, v| {
        let V::B(s, e) = v else { return Ok(()) };
        match n {
            1 if v3 => labels.push([s, e, 0, 0]),
            1 => labels.push(label_pair(b, s, e)?),
            2 => check("Gauge", b, s, e, VALUE)?,
            5 => check("Untyped", b, s, e, VALUE)?,
            3 => walk(
                "Counter",
                b,
                s,
                e,
                if v3 { COUNTER3 } else { COUNTER2 },
                |n, v| match (n, v) {
                    (2, V::B(s, e)) => check("Exemplar", b, s, e, EXEMPLAR),
                    (3, V::B(s, e)) => check("Timestamp", b, s, e, TIMESTAMP),
                    _ => Ok(()),
                },
            )?,
            4 => walk(
                "Summary",
                b,
                s,
                e,
                if v3 { SUMMARY3 } else { SUMMARY2 },
                |n, v| match (n, v) {
                    (3, V::B(s, e)) => {
                        m.quantiles += 1;
                        let mut q = 0.0;
                        walk("Quantile", b, s, e, QUANTILE, |n, v| {
                            if let (1, V::F(x)) = (n, v) {
                                q = x;
                            }
                            Ok(())
                        })?;
                        bounds.push(q);
                        Ok(())
                    }
                    (4, V::B(s, e)) => check("Timestamp", b, s, e, TIMESTAMP),
                    _ => Ok(()),
                },
            )?,
            7 => histogram(b, s, e, v3, &mut m, bounds)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(m)
}

fn histogram(
    b: &[u8],
    s: usize,
    e: usize,
    v3: bool,
    m: &mut MInfo,
    bounds: &mut Vec<f64>,
) -> Result<(), WErr> {
    walk(
        "Histogram",
        b,
        s,
        e,
        if v3 { HIST3 } else { HIST2 },
        |n, v| {
            match (n, v) {
                (4, V::F(x)) => m.sample_count_float = x,
                (6, V::F(x)) => m.zero_threshold = x,
                (7, V::U(x)) => m.zero_count = x,
                (8, V::F(x)) => m.zero_count_float = x,
                (10, _) => m.neg_delta += 1,
                (11, _) => m.neg_count += 1,
                (13, _) => m.pos_delta += 1,
                (14, _) => m.pos_count += 1,
                (3, V::B(s, e)) => {
                    let mut upper = 0.0;
                    walk("Bucket", b, s, e, BUCKET, |n, v| match (n, v) {
                        (2, V::F(x)) => {
                            upper = x;
                            Ok(())
                        }
                        (3, V::B(s, e)) => check("Exemplar", b, s, e, EXEMPLAR),
                        _ => Ok(()),
                    })?;
                    bounds.push(upper);
                    if upper == f64::INFINITY && m.first_inf.is_none() {
                        m.first_inf = Some(m.buckets);
                    }
                    m.buckets += 1;
                }
                (9 | 12, V::B(s, e)) => {
                    let mut len = 0u64;
                    walk("BucketSpan", b, s, e, SPAN, |n, v| {
                        if let (2, V::U(x)) = (n, v) {
                            len = u64::from(x as u32);
                        }
                        Ok(())
                    })?;
                    if n == 9 {
                        m.neg_spans += 1;
                        m.neg_span_len += len;
                    } else {
                        m.pos_spans += 1;
                        m.pos_span_len += len;
                    }
                }
                (15, V::B(s, e)) => check("Timestamp", b, s, e, TIMESTAMP)?,
                (16, V::B(s, e)) => check("Exemplar", b, s, e, EXEMPLAR)?,
                _ => {}
            }
            Ok(())
        },
    )
}

/// A LabelPair's name and value ranges (the last of each, as gogo keeps).
fn label_pair(b: &[u8], s: usize, e: usize) -> Result<[usize; 4], WErr> {
    let mut l = [s, s, s, s];
    walk("LabelPair", b, s, e, LABEL, |n, v| {
        if let V::B(s, e) = v {
            let k = if n == 1 { 0 } else { 2 };
            l[k] = s;
            l[k + 1] = e;
        }
        Ok(())
    })?;
    Ok(l)
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*` (Prometheus 2's metric names; without `:` for label names).
fn legacy_name(n: &[u8], colon: bool) -> bool {
    let ok = |c: u8, first: bool| {
        c.is_ascii_alphabetic()
            || c == b'_'
            || (colon && c == b':')
            || (!first && c.is_ascii_digit())
    };
    !n.is_empty() && n.iter().enumerate().all(|(i, &c)| ok(c, i == 0))
}

fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` as `fmt.Sprint` prints a float, with ".0"
/// added to an integer (Prometheus's `formatOpenMetricsFloat`, the `le`/`quantile` value).
fn om_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let sci = format!("{f:e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let s = if !(-4..21).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    };
    if s.contains(['.', 'e']) { s } else { s + ".0" }
}

/// A family's name, help and unit ranges and its type.
type FamilyHead = ((usize, usize), (usize, usize), (usize, usize), i32);

/// The series of a metric, in Prometheus's order.
#[derive(Debug, Clone, Copy)]
enum Entry {
    Plain,
    Count,
    Sum,
    /// A bucket (`None`: the added +Inf one) or quantile, by index.
    Field(Option<u64>),
    Native,
}

impl Parser {
    /// Feeds a chunk of a protobuf body: complete messages are parsed in place, an
    /// unfinished one is carried in `pending` (only that one).
    pub(super) fn feed_proto(&mut self, mut chunk: &[u8]) -> Result<(), ExpoError> {
        if !self.pending.is_empty() {
            // Complete the carried message first: its length varint, then its bytes.
            let (vl, total) = loop {
                match self.header(&self.pending) {
                    Ok(Some(h)) => break h,
                    Ok(None) => match chunk.split_first() {
                        Some((&c, rest)) => {
                            self.pending.push(c);
                            chunk = rest;
                        }
                        None => return Ok(()),
                    },
                    Err(e) => return self.fail_syntax(e),
                }
            };
            let take = (total - self.pending.len().min(total)).min(chunk.len());
            self.pending.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if self.pending.len() < total {
                return Ok(());
            }
            let buf = std::mem::take(&mut self.pending);
            let res = self.family(&buf, vl, total);
            self.pending = buf;
            self.pending.clear();
            res?;
        }
        while !chunk.is_empty() {
            match self.header(chunk) {
                Ok(Some((vl, total))) if total <= chunk.len() => {
                    self.family(chunk, vl, total)?;
                    chunk = &chunk[total..];
                }
                Ok(_) => {
                    self.pending.extend_from_slice(chunk);
                    return Ok(());
                }
                Err(e) => return self.fail_syntax(e),
            }
        }
        Ok(())
    }

    /// The body ended: a carried message is truncated.
    pub(super) fn finish_proto(&mut self) -> Result<(), ExpoError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let have = self.pending.len();
        let prefix = self.proto_prefix();
        let e = match self.header(&self.pending) {
            Ok(Some((_, total))) => format!(
                "{prefix}: insufficient length of buffer, expected at least {total} bytes, got {have} bytes"
            ),
            _ => format!("{prefix}: invalid varint encountered"),
        };
        self.fail_syntax(e)
    }

    fn proto_prefix(&self) -> &'static str {
        match self.compat {
            Compat::V2 => "protobufparse",
            Compat::V3 => "clientpb",
        }
    }

    /// The length of the length varint and the total length (varint + message) of the
    /// message starting `b`; `None` while the varint is unfinished. Prometheus refuses a
    /// length varint of more than 5 bytes.
    fn header(&self, b: &[u8]) -> Result<Option<(usize, usize)>, String> {
        match b.iter().take(5).position(|&c| c < 0x80) {
            Some(i) => {
                let mut len = 0u64;
                for (k, &d) in b[..=i].iter().enumerate() {
                    len |= u64::from(d & 0x7f) << (7 * k);
                }
                Ok(Some((i + 1, i + 1 + len as usize)))
            }
            None if b.len() < 5 => Ok(None),
            None => Err(format!(
                "{}: invalid varint encountered",
                self.proto_prefix()
            )),
        }
    }

    /// One `MetricFamily` in `b[s..e]`.
    fn family(&mut self, b: &[u8], s: usize, e: usize) -> Result<(), ExpoError> {
        let compat = self.compat;
        let mut name = (s, s);
        let mut help = (s, s);
        let mut unit = (s, s);
        let mut ty: i32 = 0;
        let mut metrics = std::mem::take(&mut self.proto.metrics);
        metrics.clear();
        let mut labels = std::mem::take(&mut self.proto.labels);
        let mut bounds = std::mem::take(&mut self.proto.bounds);
        let res = walk(
            "MetricFamily",
            b,
            s,
            e,
            if compat == Compat::V3 { MF3 } else { MF2 },
            |n, v| {
                match (n, v) {
                    (1, V::B(s, e)) => name = (s, e),
                    (2, V::B(s, e)) => help = (s, e),
                    (5, V::B(s, e)) => unit = (s, e),
                    (3, V::U(x)) => ty = x as u32 as i32,
                    (4, V::B(s, e)) => {
                        if compat == Compat::V2 {
                            // 2.42 decodes the whole family before the first sample.
                            metric(compat, b, s, e, &mut labels, &mut bounds)?;
                        }
                        metrics.push((s, e));
                    }
                    _ => {}
                }
                Ok(())
            },
        );
        let out = match res {
            Err(w) => self.fail_syntax(w.to_string()),
            Ok(()) => self.samples_of(
                b,
                (name, help, unit, ty),
                &metrics,
                &mut labels,
                &mut bounds,
            ),
        };
        self.proto.bounds = bounds;
        self.proto.metrics = metrics;
        self.proto.labels = labels;
        out
    }

    /// The samples of a decoded family.
    fn samples_of(
        &mut self,
        b: &[u8],
        (name, help, unit, ty): FamilyHead,
        metrics: &[(usize, usize)],
        labels: &mut Vec<[usize; 4]>,
        bounds: &mut Vec<f64>,
    ) -> Result<(), ExpoError> {
        let compat = self.compat;
        let nm = &b[name.0..name.1];
        for (k, &(ms, me)) in metrics.iter().enumerate() {
            let info = match metric(compat, b, ms, me, labels, bounds) {
                Ok(i) => i,
                Err(w) => return self.fail_syntax(w.to_string()),
            };
            if k == 0 {
                // The family's checks run once it has a metric (an empty family is skipped).
                if let Err(m) =
                    family_checks(compat, nm, &b[help.0..help.1], &b[unit.0..unit.1], ty)
                {
                    return self.fail_syntax(m);
                }
                self.proto.first_native = info.native_v2();
            }
            // Labels, checked at the metric's first sample.
            for l in labels.iter_mut() {
                if compat == Compat::V3 {
                    match label_pair(b, l[0], l[1]) {
                        Ok(p) => *l = p,
                        Err(w) => return self.fail_syntax(w.to_string()),
                    }
                }
                let (n, v) = (&b[l[0]..l[1]], &b[l[2]..l[3]]);
                let name_ok = match compat {
                    Compat::V2 => legacy_name(n, false),
                    Compat::V3 => !n.is_empty() && std::str::from_utf8(n).is_ok(),
                };
                if !name_ok {
                    return self.fail_syntax(format!("invalid label name: {}", lossy(n)));
                }
                if std::str::from_utf8(v).is_err() {
                    return self.fail_syntax(format!("invalid label value: {}", lossy(v)));
                }
            }
            let histogram = ty == 4 || ty == 5;
            let native = histogram
                && match compat {
                    Compat::V2 => self.proto.first_native,
                    Compat::V3 => self.histograms.scrape_native && info.native_v3(),
                };
            if native {
                if compat == Compat::V3
                    && let Err(m) = info.consistency()
                {
                    return self.fail_syntax(format!("histogram {}: {m}", quote(nm)));
                }
                self.proto_sample(b, nm, Entry::Native, labels, bounds, ty)?;
                if compat == Compat::V2 {
                    return self.fail(ExpoError::new(
                        ErrorKind::InvalidSample,
                        "native histograms are disabled".to_owned(),
                    ));
                }
                if !(self.histograms.always_classic && info.buckets > 0) {
                    continue;
                }
            }
            match ty {
                2 | 4 | 5 => {
                    self.proto_sample(b, nm, Entry::Count, labels, bounds, ty)?;
                    self.proto_sample(b, nm, Entry::Sum, labels, bounds, ty)?;
                    let fields = if ty == 2 {
                        info.quantiles
                    } else {
                        info.classic_series() - 2
                    };
                    for f in 0..fields {
                        let idx = (ty == 2 || f < info.buckets).then_some(f);
                        self.proto_sample(b, nm, Entry::Field(idx), labels, bounds, ty)?;
                    }
                }
                _ => self.proto_sample(b, nm, Entry::Plain, labels, bounds, ty)?,
            }
        }
        Ok(())
    }

    /// One sample: counted, then checked as the scrape loop checks it.
    fn proto_sample(
        &mut self,
        b: &[u8],
        family: &[u8],
        entry: Entry,
        labels: &[[usize; 4]],
        bounds: &[f64],
        ty: i32,
    ) -> Result<(), ExpoError> {
        self.samples += 1;
        let suffix: &[u8] = match entry {
            // 2.42 names a gauge histogram's series after the family, without suffixes.
            _ if ty == 5 && self.compat == Compat::V2 => b"",
            Entry::Count => b"_count",
            Entry::Sum => b"_sum",
            Entry::Field(_) if ty != 2 => b"_bucket",
            _ => b"",
        };
        let magic: Option<&[u8]> = match entry {
            Entry::Field(_) if ty == 2 => Some(b"quantile"),
            Entry::Field(_) => Some(b"le"),
            _ => None,
        };
        let lim = self.limits;
        let metric_name = || {
            let mut m = lossy(family).into_owned();
            m.push_str(&lossy(suffix));
            m
        };
        if lim.label_limit > 0 {
            let n = 1 + labels.len() as u64 + u64::from(magic.is_some()) + lim.target_labels;
            if n > lim.label_limit {
                return self.fail(ExpoError::new(
                    ErrorKind::LabelLimit,
                    format!(
                        "label_limit exceeded (metric: {}, number of labels: {n}, limit: {})",
                        trunc(&metric_name(), 50),
                        lim.label_limit
                    ),
                ));
            }
        }
        if lim.label_name_length_limit > 0 || lim.label_value_length_limit > 0 {
            let magic_value = match entry {
                Entry::Field(Some(i)) => {
                    om_float(bounds.get(i as usize).copied().unwrap_or_default())
                }
                Entry::Field(None) => "+Inf".to_owned(),
                _ => String::new(),
            };
            let full = metric_name();
            let mut all: Vec<(&[u8], &[u8])> = vec![(b"__name__", full.as_bytes())];
            all.extend(labels.iter().map(|l| (&b[l[0]..l[1]], &b[l[2]..l[3]])));
            if let Some(m) = magic {
                all.push((m, magic_value.as_bytes()));
            }
            let over = |l: usize, limit: u64| limit > 0 && l as u64 > limit;
            let worst = all
                .iter()
                .filter(|(n, v)| {
                    over(n.len(), lim.label_name_length_limit)
                        || over(v.len(), lim.label_value_length_limit)
                })
                .min_by(|a, c| a.0.cmp(c.0));
            if let Some(&(n, v)) = worst {
                let ln = lossy(n);
                let message = if over(n.len(), lim.label_name_length_limit) {
                    format!(
                        "label_name_length_limit exceeded (metric: {}, label name: {}, length: {}, limit: {})",
                        trunc(&full, 50),
                        trunc(&ln, 50),
                        n.len(),
                        lim.label_name_length_limit
                    )
                } else {
                    format!(
                        "label_value_length_limit exceeded (metric: {}, label name: {}, value: {}, length: {}, limit: {})",
                        trunc(&full, 50),
                        trunc(&ln, 50),
                        quote(trunc(&lossy(v), 50).as_bytes()),
                        v.len(),
                        lim.label_value_length_limit
                    )
                };
                return self.fail(ExpoError::new(ErrorKind::LabelLimit, message));
            }
        }
        let native = matches!(entry, Entry::Native);
        if native && self.compat == Compat::V2 {
            // Appended past the sample limit, refused by the storage (the caller fails).
            return Ok(());
        }
        if lim.sample_limit > 0 {
            self.appended += 1;
            if self.appended > lim.sample_limit {
                self.sample_limit_hit = true;
                return Ok(());
            }
        }
        // Duplicate label names (the smallest, as in Prometheus's sorted label set).
        let name_at = |i: usize| -> &[u8] {
            if i < labels.len() {
                &b[labels[i][0]..labels[i][1]]
            } else if i == labels.len() {
                b"__name__"
            } else {
                magic.unwrap_or(b"")
            }
        };
        let n = labels.len() + 1 + usize::from(magic.is_some());
        let mut dup: Option<&[u8]> = None;
        for i in 0..n {
            for j in i + 1..n {
                let (a, c) = (name_at(i), name_at(j));
                if a == c && dup.is_none_or(|d| a < d) {
                    dup = Some(a);
                }
            }
        }
        if let Some(d) = dup {
            return self.fail(ExpoError::new(
                ErrorKind::InvalidSample,
                format!("label name {} is not unique: invalid sample", quote(d)),
            ));
        }
        Ok(())
    }
}

/// A family's own checks (name, help, type, unit), run at its first metric.
fn family_checks(
    compat: Compat,
    name: &[u8],
    help: &[u8],
    unit: &[u8],
    ty: i32,
) -> Result<(), String> {
    let name_ok = match compat {
        Compat::V2 => legacy_name(name, true),
        Compat::V3 => !name.is_empty() && std::str::from_utf8(name).is_ok(),
    };
    if !name_ok {
        return Err(format!("invalid metric name: {}", lossy(name)));
    }
    if std::str::from_utf8(help).is_err() {
        return Err(format!(
            "invalid help for metric {}: {}",
            quote(name),
            lossy(help)
        ));
    }
    if !(0..=5).contains(&ty) {
        return Err(format!(
            "unknown metric type for metric {}: {ty}",
            quote(name)
        ));
    }
    if compat == Compat::V3 && !unit.is_empty() {
        let suffix_ok = |n: &[u8]| {
            n.ends_with(unit) && n.len() > unit.len() && n[n.len() - unit.len() - 1] == b'_'
        };
        if ty == 0 && name.ends_with(b"_total") {
            if !suffix_ok(&name[..name.len() - 6]) {
                return Err(format!(
                    "unit {} not a suffix of counter {}",
                    quote(unit),
                    quote(name)
                ));
            }
        } else if !suffix_ok(name) {
            return Err(format!(
                "unit {} not a suffix of metric {}",
                quote(unit),
                quote(name)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "proto_tests.rs"]
mod tests;

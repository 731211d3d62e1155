//! A streaming parser for the Prometheus text exposition format 0.0.4 and OpenMetrics 1.0
//! that accepts and rejects pages as Prometheus's scrape does, and counts samples as
//! `scrape_samples_scraped` does.
//!
//! Why our own: the maintained crates parse a whole page held in memory, accept pages
//! Prometheus rejects (or the reverse) and cost milliseconds per page (see BENCHMARKS.md).
//!
//! ```text
//! Content-Type ──negotiate──▶ Format ──▶ Parser::feed(chunk)* ──▶ Parser::finish() ─▶ samples
//!                                         │ lines straddling chunks are kept (only those)
//!                                         └ first error: the scrape is down with it
//! ```
//!
//! The grammar, the error texts and the checks after parsing (label limits, duplicate label
//! names, sample limit) follow Prometheus 3 or Prometheus 2.42 ([`Compat`]), written from
//! their lexer grammars, parser sources and test cases (facts only, no code copied).
//!
//! The protobuf format (length-delimited `MetricFamily` messages) is read by `proto.rs`'s
//! decoder, with the same checks and counting.
//!
//! Not reproduced: samples of one series repeated within one page count toward
//! `sample_limit` (Prometheus does not count the repeats); label limits count the target's
//! labels but check the lengths only of the page's labels.

mod entry;
pub(crate) mod gofmt;
mod lex;
mod negotiate;
mod proto;

use entry::{EntryParser, Kind, Series, Stop};
use gofmt::{quote, trunc};
use lex::{Lexer, St};
pub use negotiate::{PROTO_FIRST_PROTOCOLS, accept_for_protocols, accept_header, negotiate};
pub use proto::Histograms;

/// Which Prometheus to behave as. The two differ in content negotiation (3 refuses a missing
/// or unknown Content-Type unless a fallback is configured; 2 parses it as the text format),
/// in UTF-8 metric and label names (3 accepts quoted names), in a few grammar details of
/// OpenMetrics and in the wording of errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compat {
    /// Prometheus 2 (measured against 2.42).
    V2,
    /// Prometheus 3.
    #[default]
    V3,
}

/// An exposition format, as chosen from the response's Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `text/plain; version=0.0.4` (and any text for Prometheus 2's fallback).
    Text,
    /// `application/openmetrics-text`.
    OpenMetrics,
    /// `application/vnd.google.protobuf`: length-delimited `MetricFamily` messages.
    Protobuf,
}

impl Format {
    /// The media type Prometheus names this format by (for `fallback_scrape_protocol`).
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain",
            Format::OpenMetrics => "application/openmetrics-text",
            Format::Protobuf => "application/vnd.google.protobuf",
        }
    }

    /// A `fallback_scrape_protocol` value of Prometheus 3 (`PrometheusText0.0.4`, …).
    pub fn from_protocol(s: &str) -> Option<Format> {
        match s {
            "PrometheusText0.0.4" | "PrometheusText1.0.0" => Some(Format::Text),
            "OpenMetricsText0.0.1" | "OpenMetricsText1.0.0" => Some(Format::OpenMetrics),
            "PrometheusProto" => Some(Format::Protobuf),
            _ => None,
        }
    }
}

/// What kind of failure a scrape error is; the message carries Prometheus's wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No parser for the Content-Type (Prometheus 3 without `fallback_scrape_protocol`).
    ContentType,
    /// The page does not parse.
    Syntax,
    /// `sample_limit` exceeded.
    SampleLimit,
    /// `label_limit`, `label_name_length_limit` or `label_value_length_limit` exceeded.
    LabelLimit,
    /// A sample Prometheus's storage refuses (duplicate label names, invalid names).
    InvalidSample,
}

/// Why a page was refused. Display is Prometheus's error text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExpoError {
    /// The class of failure.
    pub kind: ErrorKind,
    /// Prometheus's wording (of the emulated version).
    pub message: String,
}

impl ExpoError {
    fn new(kind: ErrorKind, message: String) -> Self {
        ExpoError { kind, message }
    }
}

/// Per-job limits applied to every sample, as Prometheus applies them; 0 = none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// `sample_limit`.
    pub sample_limit: u64,
    /// `label_limit`: labels of a sample after the target's labels are added.
    pub label_limit: u64,
    /// `label_name_length_limit` (bytes).
    pub label_name_length_limit: u64,
    /// `label_value_length_limit` (bytes).
    pub label_value_length_limit: u64,
    /// How many labels the target adds to every sample (`job`, `instance`, others), counted
    /// by `label_limit`.
    pub target_labels: u64,
}

/// Streams one scrape body through the parser of its format.
///
/// Feed the (decompressed) body in chunks as they arrive, then call [`Parser::finish`]. Only
/// an entry that straddles two chunks is copied (into a buffer reused across the page);
/// nothing is allocated per sample unless it fails. After the first error every further
/// call returns that error; after a NUL byte (text format) the rest is ignored.
#[derive(Debug)]
pub struct Parser {
    format: Result<Format, ExpoError>,
    compat: Compat,
    limits: Limits,
    /// Unfinished entry carried between chunks.
    pending: Vec<u8>,
    /// `pending`'s length at the last failed attempt (to retry only after doubling when an
    /// entry grows huge, so a hostile unterminated quote costs linear time).
    tried_at: usize,
    state: St,
    series: Series,
    samples: u64,
    bytes: u64,
    /// Samples appended toward `sample_limit`.
    appended: u64,
    sample_limit_hit: bool,
    /// Reading stopped (NUL in the text format, protobuf).
    stopped: bool,
    /// OpenMetrics `# EOF` seen.
    eof_word: bool,
    failed: Option<ExpoError>,
    /// What Prometheus 3 does with histograms in protobuf pages.
    histograms: Histograms,
    /// Buffers of the protobuf reader.
    proto: proto::ProtoState,
}

impl Parser {
    /// A parser for a response with this `Content-Type` (`None`: header absent). A
    /// negotiation failure is reported by the first non-empty `feed` (an empty body is up
    /// under Prometheus 3 whatever its type) or by `finish`.
    pub fn for_response(
        content_type: Option<&str>,
        compat: Compat,
        fallback: Option<Format>,
        limits: Limits,
    ) -> Parser {
        Parser::with_format(negotiate(content_type, compat, fallback), compat, limits)
    }

    /// A parser for a known format.
    pub fn new(format: Format, compat: Compat, limits: Limits) -> Parser {
        Parser::with_format(Ok(format), compat, limits)
    }

    fn with_format(format: Result<Format, ExpoError>, compat: Compat, limits: Limits) -> Parser {
        Parser {
            stopped: false,
            format,
            compat,
            limits,
            pending: Vec::new(),
            tried_at: 0,
            state: St::Init,
            series: Series::default(),
            samples: 0,
            bytes: 0,
            appended: 0,
            sample_limit_hit: false,
            eof_word: false,
            failed: None,
            histograms: Histograms::default(),
            proto: proto::ProtoState::default(),
        }
    }

    /// The job's histogram settings (Prometheus 3: `scrape_native_histograms`,
    /// `always_scrape_classic_histograms`); they change how protobuf pages count.
    pub fn with_histograms(mut self, histograms: Histograms) -> Parser {
        self.histograms = histograms;
        self
    }

    /// The format chosen, if negotiation succeeded.
    pub fn format(&self) -> Option<Format> {
        self.format.as_ref().ok().copied()
    }

    /// Samples counted so far (Prometheus's `scrape_samples_scraped`: every sample parsed
    /// before the first error, including the one that failed a label check).
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Bytes fed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Feed the next chunk of the decompressed body.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), ExpoError> {
        if chunk.is_empty() {
            return self.status();
        }
        self.bytes += chunk.len() as u64;
        if let Err(e) = &self.format {
            let e = e.clone();
            return self.fail(e);
        }
        if self.failed.is_some() || self.stopped {
            return self.status();
        }
        if self.format == Ok(Format::Protobuf) {
            return self.feed_proto(chunk);
        }
        if self.eof_word {
            return self.fail_syntax("unexpected data after # EOF".to_owned());
        }
        let mut rest = chunk;
        while !self.pending.is_empty() {
            // Complete the carried entry, a line at a time.
            match memchr::memchr(b'\n', rest) {
                Some(i) => {
                    self.pending.extend_from_slice(&rest[..=i]);
                    rest = &rest[i + 1..];
                }
                None => {
                    self.pending.extend_from_slice(rest);
                    return Ok(());
                }
            }
            if self.pending.len() > 65536 && self.pending.len() < 2 * self.tried_at {
                continue;
            }
            self.run_pending(false)?;
            if self.stopped || self.eof_word {
                if self.eof_word && !rest.is_empty() {
                    return self.fail_syntax("unexpected data after # EOF".to_owned());
                }
                return Ok(());
            }
        }
        self.run(rest, false)
    }

    /// The body ended: the sample count, or the page's error.
    pub fn finish(&mut self) -> Result<u64, ExpoError> {
        if self.bytes == 0 && self.compat == Compat::V3 {
            // Prometheus 3 takes an empty body as an empty scrape before looking at its type.
            return Ok(0);
        }
        if let Err(e) = &self.format {
            let e = e.clone();
            return self.fail(e).map(|_| 0);
        }
        self.status()?;
        if self.format == Ok(Format::Protobuf) {
            self.finish_proto()?;
        } else if !self.stopped && !self.eof_word {
            if self.format == Ok(Format::Text) {
                // Prometheus parses the body with a newline appended.
                self.pending.push(b'\n');
            }
            self.run_pending(true)?;
            if !self.stopped && !self.eof_word {
                // Every entry consumed: what the parser sees next is the end.
                if self.format == Ok(Format::OpenMetrics) {
                    return self
                        .fail_syntax("data does not end with # EOF".to_owned())
                        .map(|_| 0);
                }
            }
        }
        if self.sample_limit_hit {
            return Err(self.set_failed(ExpoError::new(
                ErrorKind::SampleLimit,
                "sample limit exceeded".to_owned(),
            )));
        }
        Ok(self.samples)
    }

    fn status(&self) -> Result<(), ExpoError> {
        match &self.failed {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn set_failed(&mut self, e: ExpoError) -> ExpoError {
        self.failed = Some(e.clone());
        self.pending = Vec::new();
        e
    }

    fn fail(&mut self, e: ExpoError) -> Result<(), ExpoError> {
        Err(self.set_failed(e))
    }

    fn fail_syntax(&mut self, m: String) -> Result<(), ExpoError> {
        self.fail(ExpoError::new(ErrorKind::Syntax, m))
    }

    /// Parse what `pending` holds; keep an unfinished entry there.
    fn run_pending(&mut self, eof: bool) -> Result<(), ExpoError> {
        let buf = std::mem::take(&mut self.pending);
        let res = self.run(&buf, eof);
        // `run` put an unfinished tail into `self.pending` (a fresh Vec): keep the larger
        // allocation instead.
        if !self.pending.is_empty() {
            let tail = std::mem::take(&mut self.pending);
            self.pending = buf;
            self.pending.clear();
            self.pending.extend_from_slice(&tail);
        } else if self.failed.is_none() {
            self.pending = buf;
            self.pending.clear();
        }
        res
    }

    /// Parse entries from `data`; an unfinished one goes to `pending`.
    fn run(&mut self, data: &[u8], eof: bool) -> Result<(), ExpoError> {
        let om = self.format == Ok(Format::OpenMetrics);
        let mut off = 0;
        while off < data.len() || (eof && om && !self.eof_word) {
            if self.eof_word {
                return self.fail_syntax("unexpected data after # EOF".to_owned());
            }
            let buf = &data[off..];
            let mut p = EntryParser {
                lx: Lexer {
                    b: buf,
                    i: 0,
                    start: 0,
                    state: self.state,
                    eof,
                    om,
                    quoted_names: self.compat == Compat::V3,
                },
                series: &mut self.series,
                compat: self.compat,
            };
            match p.entry() {
                Ok(kind) => {
                    let consumed = p.lx.i.min(buf.len());
                    self.state = p.lx.state;
                    match kind {
                        Kind::Blank | Kind::Meta => {}
                        Kind::Series => {
                            self.samples += 1;
                            self.check_series(buf)?;
                        }
                        Kind::Nul => {
                            self.stopped = true;
                            return Ok(());
                        }
                        Kind::EofWord => {
                            self.eof_word = true;
                            if consumed < buf.len() {
                                return self.fail_syntax("unexpected data after # EOF".to_owned());
                            }
                            return Ok(());
                        }
                    }
                    if consumed == 0 {
                        // Cannot happen (every entry consumes a byte); never loop on it.
                        return self.fail_syntax("parser made no progress".to_owned());
                    }
                    off += consumed;
                    if eof && off >= data.len() && !om {
                        return Ok(());
                    }
                }
                Err(Stop::More) => {
                    self.tried_at = buf.len();
                    self.pending.extend_from_slice(buf);
                    return Ok(());
                }
                Err(Stop::Err(m)) => return self.fail_syntax(m),
            }
        }
        Ok(())
    }

    /// What Prometheus checks once a sample parsed: valid names (3), label limits, the
    /// sample limit, duplicate label names.
    fn check_series(&mut self, b: &[u8]) -> Result<(), ExpoError> {
        let s = &self.series;
        let (ns, ne) = s.name.unwrap_or((0, 0));
        let name = &b[ns..ne];
        if self.compat == Compat::V3 && (s.quoted_name || s.labels.iter().any(|l| l.quoted_name)) {
            let bad_name = |r: &[u8]| r.is_empty() || std::str::from_utf8(r).is_err();
            if bad_name(name) || s.labels.iter().any(|l| bad_name(&b[l.name.0..l.name.1])) {
                let mut set = String::from("{__name__=");
                set.push_str(&quote(&unescape(name)));
                for l in &s.labels {
                    set.push_str(", ");
                    set.push_str(&String::from_utf8_lossy(&unescape(&b[l.name.0..l.name.1])));
                    set.push('=');
                    set.push_str(&quote(&unescape(&b[l.value.0..l.value.1])));
                }
                set.push('}');
                return self.fail(ExpoError::new(
                    ErrorKind::InvalidSample,
                    format!("invalid metric name or label names: {set}"),
                ));
            }
        }
        let lim = self.limits;
        if lim.label_limit > 0 {
            let n = 1 + s.labels.len() as u64 + lim.target_labels;
            if n > lim.label_limit {
                let m = String::from_utf8_lossy(&unescape(name)).into_owned();
                return self.fail(ExpoError::new(
                    ErrorKind::LabelLimit,
                    format!(
                        "label_limit exceeded (metric: {}, number of labels: {n}, limit: {})",
                        trunc(&m, 50),
                        lim.label_limit
                    ),
                ));
            }
        }
        if (lim.label_name_length_limit > 0 || lim.label_value_length_limit > 0)
            && let Some(e) = self.length_violation(b)
        {
            return self.fail(e);
        }
        if lim.sample_limit > 0 {
            self.appended += 1;
            if self.appended > lim.sample_limit {
                // Prometheus keeps parsing to count every sample, then fails.
                self.sample_limit_hit = true;
                return Ok(());
            }
        }
        let s = &self.series;
        let n = s.labels.len();
        if n > 0 {
            let label_name = |i: usize| -> &[u8] {
                if i == n {
                    b"__name__"
                } else {
                    let l = &s.labels[i];
                    &b[l.name.0..l.name.1]
                }
            };
            // Few labels per sample: the quadratic scan beats sorting and allocates nothing.
            let mut dup: Option<&[u8]> = None;
            for i in 0..=n {
                for j in i + 1..=n {
                    let (a, c) = (label_name(i), label_name(j));
                    if a == c && dup.is_none_or(|d| a < d) {
                        dup = Some(a);
                    }
                }
            }
            if let Some(d) = dup {
                let d = String::from_utf8_lossy(&unescape(d)).into_owned();
                return self.fail(ExpoError::new(
                    ErrorKind::InvalidSample,
                    format!(
                        "label name {} is not unique: invalid sample",
                        quote(d.as_bytes())
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The first label (in Prometheus's sorted order) over a length limit.
    fn length_violation(&self, b: &[u8]) -> Option<ExpoError> {
        let lim = self.limits;
        let s = &self.series;
        let (ns, ne) = s.name.unwrap_or((0, 0));
        let metric = unescape(&b[ns..ne]);
        let over = |l: u64, limit: u64| limit > 0 && l > limit;
        let mut worst: Option<(Vec<u8>, Vec<u8>)> = None;
        let mut consider = |name: &[u8], raw_value: &[u8]| {
            // Escapes only shorten: skip the unescaping when the raw text fits.
            let name_over = over(name.len() as u64, lim.label_name_length_limit);
            let value_over = over(raw_value.len() as u64, lim.label_value_length_limit)
                && over(
                    unescape(raw_value).len() as u64,
                    lim.label_value_length_limit,
                );
            if (name_over || value_over) && worst.as_ref().is_none_or(|(w, _)| name < &w[..]) {
                worst = Some((name.to_vec(), unescape(raw_value).into_owned()));
            }
        };
        consider(b"__name__", &b[ns..ne]);
        for l in &s.labels {
            consider(&unescape(&b[l.name.0..l.name.1]), &b[l.value.0..l.value.1]);
        }
        let (name, value) = worst?;
        let m = String::from_utf8_lossy(&metric).into_owned();
        let n = String::from_utf8_lossy(&name).into_owned();
        let message = if over(name.len() as u64, lim.label_name_length_limit) {
            format!(
                "label_name_length_limit exceeded (metric: {}, label name: {}, length: {}, limit: {})",
                trunc(&m, 50),
                trunc(&n, 50),
                name.len(),
                lim.label_name_length_limit
            )
        } else {
            let v = String::from_utf8_lossy(&value).into_owned();
            format!(
                "label_value_length_limit exceeded (metric: {}, label name: {}, value: {}, length: {}, limit: {})",
                trunc(&m, 50),
                trunc(&n, 50),
                quote(trunc(&v, 50).as_bytes()),
                value.len(),
                lim.label_value_length_limit
            )
        };
        Some(ExpoError::new(ErrorKind::LabelLimit, message))
    }
}

/// A label value (or quoted name) as Prometheus stores it: `\\`, `\"` and `\n` replaced,
/// other backslashes kept.
fn unescape(raw: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !raw.contains(&b'\\') {
        return std::borrow::Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' && i + 1 < raw.len() {
            match raw[i + 1] {
                b'\\' => out.push(b'\\'),
                b'"' => out.push(b'"'),
                b'n' => out.push(b'\n'),
                _ => {
                    out.push(b'\\');
                    i += 1;
                    continue;
                }
            }
            i += 2;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests;

/// What `p` makes of a body fed in `chunks` (stopping at the first refusal): the outcome and
/// the samples counted. For the invariant checks below.
fn outcome(mut p: Parser, chunks: &[&[u8]]) -> (Result<u64, ExpoError>, u64) {
    let mut fed = Ok(());
    for c in chunks {
        fed = p.feed(c);
        if fed.is_err() {
            break;
        }
    }
    let res = fed.and_then(|_| p.finish());
    (res, p.samples())
}

/// Fuzzing and property tests: parses `data` (its first byte picks format, version and two
/// split points) whole and in three chunks, and panics if the outcomes differ or the count
/// is impossible. Never panics otherwise, whatever the input.
#[doc(hidden)]
pub fn check_invariants(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let format = if sel & 1 == 0 {
        Format::Text
    } else {
        Format::OpenMetrics
    };
    let compat = if sel & 2 == 0 { Compat::V3 } else { Compat::V2 };
    let limits = Limits {
        sample_limit: u64::from(sel >> 6),
        label_limit: if sel & 4 != 0 { 4 } else { 0 },
        label_value_length_limit: if sel & 8 != 0 { 3 } else { 0 },
        ..Limits::default()
    };
    let run = |chunks: &[&[u8]]| outcome(Parser::new(format, compat, limits), chunks);
    let whole = run(&[body]);
    let a = (usize::from(sel >> 4) * 7) % (body.len() + 1);
    let b = (a + usize::from(sel) * 13) % (body.len() + 1);
    let (a, b) = (a.min(b), a.max(b));
    let split = run(&[&body[..a], &body[a..b], &body[b..]]);
    assert_eq!(whole, split, "split at {a} and {b}");
    let lines = body.iter().filter(|&&c| c == b'\n').count() as u64 + 1;
    assert!(whole.1 <= lines, "{} samples in {lines} lines", whole.1);
    if let Ok(n) = whole.0 {
        assert_eq!(n, whole.1);
    }
}

/// Fuzzing the protobuf reader: parses `data` (its first byte picks the version, the
/// histogram settings, limits and two split points) whole and in three chunks, and panics
/// if the outcomes differ or the count is impossible. Never panics otherwise.
#[doc(hidden)]
pub fn check_proto_invariants(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let compat = if sel & 1 == 0 { Compat::V3 } else { Compat::V2 };
    let histograms = Histograms {
        scrape_native: sel & 2 != 0,
        always_classic: sel & 4 != 0,
    };
    let limits = Limits {
        sample_limit: u64::from(sel >> 6),
        label_limit: if sel & 8 != 0 { 4 } else { 0 },
        label_value_length_limit: if sel & 16 != 0 { 3 } else { 0 },
        ..Limits::default()
    };
    let run = |chunks: &[&[u8]]| {
        let p = Parser::new(Format::Protobuf, compat, limits).with_histograms(histograms);
        outcome(p, chunks)
    };
    let whole = run(&[body]);
    let a = (usize::from(sel >> 5) * 7 + body.len() / 3) % (body.len() + 1);
    let b = (a + usize::from(sel) * 13) % (body.len() + 1);
    let (a, b) = (a.min(b), a.max(b));
    let split = run(&[&body[..a], &body[a..b], &body[b..]]);
    assert_eq!(whole, split, "split at {a} and {b}");
    // Every sample needs a byte of its own, but for the _count, _sum and +Inf of a bucketless
    // histogram (3 from a 2-byte metric).
    let bound = 2 * body.len() as u64 + 1;
    assert!(
        whole.1 <= bound,
        "{} samples in {} bytes",
        whole.1,
        body.len()
    );
    if let Ok(n) = whole.0 {
        assert_eq!(n, whole.1);
    }
}

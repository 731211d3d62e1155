//! One entry (a line, or a few when a quoted string holds a raw newline) of either format:
//! the grammar and the error texts of Prometheus's parsers, in the wording of the
//! version being emulated.

use super::Compat;
use super::gofmt::{Float, float_value, go_f, parse_float, parse_int, quote};
use super::lex::{Lexer, More, Tok};

/// What an entry was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An empty line (text format).
    Blank,
    /// HELP, TYPE, UNIT or a comment.
    Meta,
    /// A sample.
    Series,
    /// A NUL at the start of a text-format line: Prometheus stops reading there.
    Nul,
    /// OpenMetrics `# EOF`: nothing may follow.
    EofWord,
}

/// Why an entry did not complete.
#[derive(Debug)]
pub(crate) enum Stop {
    More,
    Err(String),
}

impl From<More> for Stop {
    fn from(_: More) -> Self {
        Stop::More
    }
}

/// A label of the current sample: byte ranges in the entry (quotes stripped).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Label {
    pub name: (usize, usize),
    pub value: (usize, usize),
    pub quoted_name: bool,
}

/// The series of the last sample entry.
#[derive(Debug, Default)]
pub(crate) struct Series {
    /// Metric name range; `None` until seen.
    pub name: Option<(usize, usize)>,
    pub quoted_name: bool,
    pub labels: Vec<Label>,
}

pub(crate) struct EntryParser<'a, 's> {
    pub lx: Lexer<'a>,
    pub series: &'s mut Series,
    pub compat: Compat,
}

type R<T> = Result<T, Stop>;

fn err<T>(s: String) -> R<T> {
    Err(Stop::Err(s))
}

impl<'a> EntryParser<'a, '_> {
    fn v3(&self) -> bool {
        self.compat == Compat::V3
    }

    fn b(&self) -> &'a [u8] {
        self.lx.b
    }

    /// `b[0..min(len, i+1)]`, Prometheus's "while parsing" context of a token error.
    fn ctx_end(&self) -> usize {
        (self.lx.i + 1).min(self.b().len())
    }

    /// "expected X, got ..." in the version's wording.
    fn parse_error(&self, exp: &str, got: Tok) -> String {
        if self.v3() {
            let e = self.ctx_end();
            format!(
                "{exp}, got {} ({}) while parsing: {}",
                quote(&self.b()[self.lx.start.min(e)..e]),
                quote(got.name().as_bytes()),
                quote(&self.b()[..e])
            )
        } else {
            format!("{exp}, got {}", quote(got.name().as_bytes()))
        }
    }

    /// A number error, with Prometheus 3's "while parsing" context.
    fn num_error(&self, e: String) -> String {
        if self.v3() {
            let end = self.lx.i.min(self.b().len());
            format!("{e} while parsing: {}", quote(&self.b()[..end]))
        } else {
            e
        }
    }

    fn name_range(&self) -> (usize, usize, bool) {
        let (s, e) = (self.lx.start, self.lx.i.min(self.b().len()));
        if e >= s + 2 && self.b()[s] == b'"' && self.b()[e - 1] == b'"' {
            (s + 1, e - 1, true)
        } else {
            (s, e, false)
        }
    }

    pub(crate) fn entry(&mut self) -> R<Kind> {
        self.series.name = None;
        self.series.quoted_name = false;
        self.series.labels.clear();
        let r = if self.lx.om {
            self.om_entry()
        } else {
            self.prom_entry()
        };
        match r {
            // An error quotes the byte after the failing token: wait until it is here, so the
            // message does not depend on where the body was split.
            Err(Stop::Err(_)) if !self.lx.eof && self.lx.i + 1 > self.b().len() => Err(Stop::More),
            r => r,
        }
    }

    // ---- text format 0.0.4 ----

    fn prom_entry(&mut self) -> R<Kind> {
        let t = self.lx.lex_skip_ws()?;
        match t {
            Tok::Eof => Ok(Kind::Nul),
            Tok::Linebreak => Ok(Kind::Blank),
            Tok::Help | Tok::Type => {
                let t2 = self.lx.lex_skip_ws()?;
                if t2 != Tok::MName {
                    return err(
                        self.parse_error(&format!("expected metric name after {}", t.name()), t2)
                    );
                }
                let t2 = self.lx.lex_skip_ws()?;
                if t2 != Tok::Text {
                    return err(if self.v3() {
                        format!("expected text in {}, got {}", t.name(), t2.name())
                    } else {
                        format!("expected text in {}", t.name())
                    });
                }
                let buf = self.lx.buf();
                let text = if buf.len() > 1 { &buf[1..] } else { &[][..] };
                if t == Tok::Type {
                    if !matches!(
                        text,
                        b"counter" | b"gauge" | b"histogram" | b"summary" | b"untyped"
                    ) {
                        return err(format!("invalid metric type {}", quote(text)));
                    }
                } else if !valid_utf8(text) {
                    return err(self.bad_help(text));
                }
                let t3 = self.lx.lex_skip_ws()?;
                if t3 != Tok::Linebreak {
                    return err(self.parse_error("linebreak expected after metadata", t3));
                }
                Ok(Kind::Meta)
            }
            Tok::Comment => {
                let t2 = self.lx.lex_skip_ws()?;
                if t2 != Tok::Linebreak {
                    return err(self.parse_error("linebreak expected after comment", t2));
                }
                Ok(Kind::Meta)
            }
            Tok::BraceOpen => {
                self.prom_labels()?;
                let t2 = self.lx.lex_skip_ws()?;
                self.prom_suffix(t2)
            }
            Tok::MName => {
                self.series.name = Some((self.lx.start, self.lx.i));
                let mut t2 = self.lx.lex_skip_ws()?;
                if t2 == Tok::BraceOpen {
                    self.prom_labels()?;
                    t2 = self.lx.lex_skip_ws()?;
                }
                self.prom_suffix(t2)
            }
            _ if self.v3() => err(self.parse_error("expected a valid start token", t)),
            _ => err(format!(
                "{} is not a valid start token",
                quote(t.name().as_bytes())
            )),
        }
    }

    fn bad_help(&self, text: &[u8]) -> String {
        if self.v3() {
            format!("help text {} is not a valid utf8 string", quote(text))
        } else {
            "help text is not a valid utf8 string".to_owned()
        }
    }

    fn metric_name_set(&self) -> String {
        format!(
            "metric name already set while parsing: {}",
            quote(&self.b()[..self.lx.i.min(self.b().len())])
        )
    }

    fn bad_label_value(&self) -> String {
        if self.v3() {
            format!("invalid UTF-8 label value: {}", quote(self.lx.buf()))
        } else {
            "invalid UTF-8 label value".to_owned()
        }
    }

    fn prom_labels(&mut self) -> R<()> {
        let mut t = self.lx.lex_skip_ws()?;
        loop {
            let (ns, ne, quoted) = self.name_range();
            match t {
                Tok::BraceClose => return Ok(()),
                Tok::LName | Tok::QString => {}
                _ => return err(self.parse_error("expected label name", t)),
            }
            let is_q = t == Tok::QString;
            t = self.lx.lex_skip_ws()?;
            if is_q && (t == Tok::Comma || t == Tok::BraceClose) {
                if self.series.name.is_some() {
                    return err(self.metric_name_set());
                }
                self.series.name = Some((ns, ne));
                self.series.quoted_name = true;
                if t == Tok::BraceClose {
                    return Ok(());
                }
                t = self.lx.lex_skip_ws()?;
                continue;
            }
            if t != Tok::Equal {
                return err(self.parse_error("expected equal", t));
            }
            let t2 = self.lx.lex_skip_ws()?;
            if t2 != Tok::LValue {
                return err(self.parse_error("expected label value", t2));
            }
            if !valid_utf8(self.lx.buf()) {
                return err(self.bad_label_value());
            }
            let (vs, ve) = (
                self.lx.start + 1,
                self.lx.i.saturating_sub(1).max(self.lx.start + 1),
            );
            self.series.labels.push(Label {
                name: (ns, ne),
                value: (vs, ve),
                quoted_name: quoted,
            });
            t = self.lx.lex_skip_ws()?;
            if t == Tok::Comma {
                t = self.lx.lex_skip_ws()?;
            }
        }
    }

    fn prom_suffix(&mut self, t: Tok) -> R<Kind> {
        if self.series.name.is_none() {
            return err(format!(
                "metric name not set while parsing: {}",
                quote(&self.b()[..self.lx.i.min(self.b().len())])
            ));
        }
        if t != Tok::Value {
            return err(self.parse_error("expected value after metric", t));
        }
        if let Err(e) = parse_float(self.lx.buf()) {
            return err(self.num_error(e));
        }
        match self.lx.lex_skip_ws()? {
            Tok::Linebreak => {}
            Tok::Timestamp => {
                if let Err(e) = parse_int(self.lx.buf()) {
                    return err(self.num_error(e));
                }
                let t2 = self.lx.lex_skip_ws()?;
                if t2 != Tok::Linebreak {
                    return err(self.parse_error("expected next entry after timestamp", t2));
                }
            }
            t => return err(self.parse_error("expected timestamp or new record", t)),
        }
        Ok(Kind::Series)
    }

    // ---- OpenMetrics 1.0 ----

    fn om_entry(&mut self) -> R<Kind> {
        let t = self.lx.lex()?;
        match t {
            Tok::EofWord => Ok(Kind::EofWord),
            Tok::Eof => err("data does not end with # EOF".to_owned()),
            Tok::Help | Tok::Type | Tok::Unit => {
                let t2 = self.lx.lex()?;
                if t2 != Tok::MName {
                    return err(
                        self.parse_error(&format!("expected metric name after {}", t.name()), t2)
                    );
                }
                let (ns, ne, _) = self.name_range();
                let t2 = self.lx.lex()?;
                if t2 != Tok::Text {
                    return err(format!("expected text in {}", t.name()));
                }
                let buf = self.lx.buf();
                let text = if buf.len() > 1 {
                    &buf[1..buf.len() - 1]
                } else {
                    &[][..]
                };
                match t {
                    Tok::Type => {
                        if !matches!(
                            text,
                            b"counter"
                                | b"gauge"
                                | b"histogram"
                                | b"gaugehistogram"
                                | b"summary"
                                | b"info"
                                | b"stateset"
                                | b"unknown"
                        ) {
                            return err(format!("invalid metric type {}", quote(text)));
                        }
                    }
                    Tok::Help => {
                        if !valid_utf8(text) {
                            return err(self.bad_help(text));
                        }
                    }
                    _ => {
                        let m = &self.b()[ns..ne];
                        let ok = text.is_empty()
                            || (m.len() > text.len()
                                && m.ends_with(text)
                                && m[m.len() - text.len() - 1] == b'_');
                        if !ok {
                            return err(if self.v3() {
                                format!("unit {} not a suffix of metric {}", quote(text), quote(m))
                            } else {
                                format!("unit not a suffix of metric {}", quote(m))
                            });
                        }
                    }
                }
                Ok(Kind::Meta)
            }
            Tok::BraceOpen => {
                self.om_labels(false)?;
                let t2 = self.lx.lex()?;
                self.om_series_end(t2)?;
                Ok(Kind::Series)
            }
            Tok::MName => {
                self.series.name = Some((self.lx.start, self.lx.i));
                let mut t2 = self.lx.lex()?;
                if t2 == Tok::BraceOpen {
                    self.om_labels(false)?;
                    t2 = self.lx.lex()?;
                }
                self.om_series_end(t2)?;
                Ok(Kind::Series)
            }
            _ if self.v3() => err(self.parse_error("expected a valid start token", t)),
            _ => {
                let cur = if self.lx.i < self.b().len() {
                    self.lx.cur()
                } else {
                    b' '
                };
                let mut s = [0u8; 4];
                let cur = char::from(cur).encode_utf8(&mut s);
                err(format!(
                    "{} {} is not a valid start token",
                    quote(t.name().as_bytes()),
                    quote(cur.as_bytes())
                ))
            }
        }
    }

    fn om_labels(&mut self, exemplar: bool) -> R<()> {
        if !self.v3() {
            return self.om_labels_v2(exemplar);
        }
        let mut t = self.lx.lex()?;
        loop {
            let (ns, ne, quoted) = self.name_range();
            match t {
                Tok::BraceClose => return Ok(()),
                Tok::LName | Tok::QString => {}
                _ => return err(self.parse_error("expected label name", t)),
            }
            let is_q = t == Tok::QString;
            t = self.lx.lex()?;
            if is_q && (t == Tok::Comma || t == Tok::BraceClose) {
                if exemplar {
                    return err(self.parse_error("expected label name", t));
                }
                if self.series.name.is_some() {
                    return err(self.metric_name_set());
                }
                self.series.name = Some((ns, ne));
                self.series.quoted_name = true;
                if t == Tok::BraceClose {
                    return Ok(());
                }
                t = self.lx.lex()?;
                continue;
            }
            if t != Tok::Equal {
                return err(self.parse_error("expected equal", t));
            }
            let t2 = self.lx.lex()?;
            if t2 != Tok::LValue {
                return err(self.parse_error("expected label value", t2));
            }
            if !valid_utf8(self.lx.buf()) {
                return err(self.bad_label_value());
            }
            if !exemplar {
                let (vs, ve) = (
                    self.lx.start + 1,
                    self.lx.i.saturating_sub(1).max(self.lx.start + 1),
                );
                self.series.labels.push(Label {
                    name: (ns, ne),
                    value: (vs, ve),
                    quoted_name: quoted,
                });
            }
            t = self.lx.lex()?;
            if t == Tok::Comma {
                t = self.lx.lex()?;
            } else if t != Tok::BraceClose {
                return err(self.parse_error("expected comma or brace close", t));
            }
        }
    }

    /// Prometheus 2.42's stricter label list: no leading or trailing comma.
    fn om_labels_v2(&mut self, exemplar: bool) -> R<()> {
        let mut first = true;
        loop {
            let mut t = self.lx.lex()?;
            match t {
                Tok::BraceClose => return Ok(()),
                Tok::Comma => {
                    if first {
                        return err(self.parse_error("expected label name or left brace", t));
                    }
                    t = self.lx.lex()?;
                    if t != Tok::LName {
                        return err(self.parse_error("expected label name", t));
                    }
                }
                Tok::LName => {
                    if !first {
                        return err(self.parse_error("expected comma", t));
                    }
                }
                _ if first => return err(self.parse_error("expected label name or left brace", t)),
                _ => return err(self.parse_error("expected comma or left brace", t)),
            }
            first = false;
            let name = (self.lx.start, self.lx.i);
            let t2 = self.lx.lex()?;
            if t2 != Tok::Equal {
                return err(self.parse_error("expected equal", t2));
            }
            let t2 = self.lx.lex()?;
            if t2 != Tok::LValue {
                return err(self.parse_error("expected label value", t2));
            }
            if !valid_utf8(self.lx.buf()) {
                return err(self.bad_label_value());
            }
            if !exemplar {
                let (vs, ve) = (
                    self.lx.start + 1,
                    self.lx.i.saturating_sub(1).max(self.lx.start + 1),
                );
                self.series.labels.push(Label {
                    name,
                    value: (vs, ve),
                    quoted_name: false,
                });
            }
        }
    }

    fn om_float(&mut self, t: Tok, after: &str) -> R<Float> {
        if t != Tok::Value {
            return err(self.parse_error(&format!("expected value after {after}"), t));
        }
        let buf = self.lx.buf();
        match parse_float(buf.get(1..).unwrap_or_default()) {
            Ok(f) => Ok(f),
            Err(e) => err(self.num_error(e)),
        }
    }

    /// An OpenMetrics timestamp token: a float in seconds that must be finite.
    fn om_timestamp(&mut self, exemplar: bool) -> R<()> {
        let s = self.lx.buf().get(1..).unwrap_or_default();
        match parse_float(s) {
            Err(e) => err(self.num_error(e)),
            Ok(Float::Finite) => Ok(()),
            Ok(_) => {
                let what = if exemplar {
                    "invalid exemplar timestamp"
                } else {
                    "invalid timestamp"
                };
                err(if self.v3() {
                    format!("{what} {}", go_f(float_value(s)))
                } else {
                    what.to_owned()
                })
            }
        }
    }

    fn om_series_end(&mut self, t: Tok) -> R<()> {
        if self.series.name.is_none() {
            return err(format!(
                "metric name not set while parsing: {}",
                quote(&self.b()[..self.lx.i.min(self.b().len())])
            ));
        }
        self.om_float(t, "metric")?;
        match self.lx.lex()? {
            Tok::Eof => err("data does not end with # EOF".to_owned()),
            Tok::Linebreak => Ok(()),
            Tok::Comment => self.om_exemplar(),
            Tok::Timestamp => {
                self.om_timestamp(false)?;
                match self.lx.lex()? {
                    Tok::Linebreak => Ok(()),
                    Tok::Comment => self.om_exemplar(),
                    t3 => err(self.parse_error("expected next entry after timestamp", t3)),
                }
            }
            // Prometheus 3 lets anything else pass here; the scanner keeps its state and
            // the next entry starts where it stopped.
            _ if self.v3() => Ok(()),
            t2 => err(self.parse_error("expected timestamp or # symbol", t2)),
        }
    }

    fn om_exemplar(&mut self) -> R<()> {
        if !self.v3() {
            let (s, e) = self.series.name.unwrap_or((0, 0));
            let name = &self.b()[s..e];
            if !(name.ends_with(b"_total") || name.ends_with(b"_bucket")) {
                return err(format!(
                    "metric name {} does not support exemplars",
                    String::from_utf8_lossy(name)
                ));
            }
        }
        self.om_labels(true)?;
        let t = self.lx.lex()?;
        self.om_float(t, "exemplar labels")?;
        match self.lx.lex()? {
            Tok::Eof => err("data does not end with # EOF".to_owned()),
            Tok::Linebreak => Ok(()),
            Tok::Timestamp => {
                self.om_timestamp(true)?;
                let t3 = self.lx.lex()?;
                if t3 != Tok::Linebreak {
                    return err(
                        self.parse_error("expected next entry after exemplar timestamp", t3)
                    );
                }
                Ok(())
            }
            t2 => err(self.parse_error("expected timestamp or comment", t2)),
        }
    }
}

/// UTF-8 validity, with the all-ASCII common case first.
fn valid_utf8(b: &[u8]) -> bool {
    b.is_ascii() || std::str::from_utf8(b).is_ok()
}

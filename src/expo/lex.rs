//! The tokenizer of both text formats, written from the lexer grammars of Prometheus
//! (`promlex.l`, `openmetricslex.l`) and the behaviour of the scanners generated from them:
//! longest match without backtracking (a token that fails midway is `INVALID` at that byte),
//! NUL bytes skipped inside label values, help texts and comments, and quoted UTF-8 names only
//! under Prometheus 3.
//!
//! It runs over the bytes available so far. Reaching their end before a token is decided
//! returns [`More`]: the caller keeps the unfinished entry and tries again with more input.

/// The bytes so far end inside an entry: feed more (or the end of the body) and retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct More;

/// Scanner start conditions, as in the grammars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum St {
    Init,
    Comment,
    Meta1,
    Meta2,
    Labels,
    LValue,
    Value,
    Timestamp,
    Exemplar,
    EValue,
    ETimestamp,
}

/// Tokens; `name()` is the spelling Prometheus prints in its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    Invalid,
    Eof,
    Linebreak,
    Whitespace,
    Help,
    Type,
    Unit,
    EofWord,
    Text,
    Comment,
    MName,
    QString,
    BraceOpen,
    BraceClose,
    LName,
    LValue,
    Comma,
    Equal,
    Timestamp,
    Value,
}

impl Tok {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Tok::Invalid => "INVALID",
            Tok::Eof => "EOF",
            Tok::Linebreak => "LINEBREAK",
            Tok::Whitespace => "WHITESPACE",
            Tok::Help => "HELP",
            Tok::Type => "TYPE",
            Tok::Unit => "UNIT",
            Tok::EofWord => "EOFWORD",
            Tok::Text => "TEXT",
            Tok::Comment => "COMMENT",
            Tok::MName => "MNAME",
            Tok::QString => "QSTRING",
            Tok::BraceOpen => "BOPEN",
            Tok::BraceClose => "BCLOSE",
            Tok::LName => "LNAME",
            Tok::LValue => "LVALUE",
            Tok::Comma => "COMMA",
            Tok::Equal => "EQUAL",
            Tok::Timestamp => "TIMESTAMP",
            Tok::Value => "VALUE",
        }
    }
}

fn m_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}
fn m_cont(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}
fn l_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}
fn l_cont(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}
fn ws(c: u8) -> bool {
    c == b' ' || c == b'\t'
}
/// `[^{ \t\n]` of the text format's value (the scanner never matches NUL in a class).
fn prom_value(c: u8) -> bool {
    !matches!(c, 0 | b'\t' | b'\n' | b' ' | b'{')
}
/// `[^ \n]` of OpenMetrics values and timestamps.
fn om_value(c: u8) -> bool {
    !matches!(c, 0 | b' ' | b'\n')
}

/// A scanner over the bytes of one entry (and what follows it, if already here).
pub(crate) struct Lexer<'a> {
    pub b: &'a [u8],
    /// Next byte to look at.
    pub i: usize,
    /// Start of the last token.
    pub start: usize,
    pub state: St,
    /// No more bytes will come: past the end reads as NUL, as in Prometheus's scanner.
    pub eof: bool,
    pub om: bool,
    /// Prometheus 3: quoted (UTF-8) metric and label names.
    pub quoted_names: bool,
}

impl<'a> Lexer<'a> {
    /// The byte at `i`, skipping NULs in the states where Prometheus's scanner does.
    fn at(&mut self) -> Result<u8, More> {
        loop {
            let Some(&c) = self.b.get(self.i) else {
                return if self.eof { Ok(0) } else { Err(More) };
            };
            if c == 0 && matches!(self.state, St::LValue | St::Meta2 | St::Comment) {
                self.i += 1;
                continue;
            }
            return Ok(c);
        }
    }

    fn next(&mut self) -> Result<u8, More> {
        self.i += 1;
        self.at()
    }

    /// The byte at `i` without skipping (0 past the end).
    pub(crate) fn cur(&self) -> u8 {
        self.b.get(self.i).copied().unwrap_or(0)
    }

    /// The last token's bytes.
    pub(crate) fn buf(&self) -> &'a [u8] {
        let end = self.i.min(self.b.len());
        &self.b[self.start.min(end)..end]
    }

    /// Steps past the current byte and every following one in `class`, in a state where no
    /// NUL is skipped (so a tight loop over the slice is the scanner's behaviour).
    fn run_while(&mut self, class: fn(u8) -> bool) -> Result<(), More> {
        debug_assert!(!matches!(self.state, St::LValue | St::Meta2 | St::Comment));
        let rest = self.b.get(self.i + 1..).unwrap_or_default();
        match rest.iter().position(|&c| !class(c)) {
            Some(k) => {
                self.i += 1 + k;
                Ok(())
            }
            None => {
                self.i = self.b.len();
                if self.eof { Ok(()) } else { Err(More) }
            }
        }
    }

    fn ws_run(&mut self) -> Result<Tok, More> {
        if matches!(self.state, St::LValue | St::Meta2 | St::Comment) {
            while ws(self.next()?) {}
        } else {
            self.run_while(ws)?;
        }
        Ok(Tok::Whitespace)
    }

    fn name_run(&mut self, cont: fn(u8) -> bool) -> Result<(), More> {
        self.run_while(cont)
    }

    /// `"(\\.|[^\\"])*"` (raw newlines allowed when `nl`); the cursor is on the opening quote.
    /// False when the scanner gives up (an INVALID token). Jumps between the bytes that
    /// matter with memchr instead of stepping byte by byte.
    fn quoted(&mut self, nl: bool) -> Result<bool, More> {
        let skip_nul = self.state == St::LValue;
        self.i += 1;
        loop {
            let rest = self.b.get(self.i..).unwrap_or_default();
            let hit = memchr::memchr3(b'"', b'\\', 0, rest);
            if !nl {
                let upto = hit.unwrap_or(rest.len());
                if let Some(n) = memchr::memchr(b'\n', &rest[..upto]) {
                    self.i += n;
                    return Ok(false);
                }
            }
            let Some(k) = hit else {
                self.i = self.b.len();
                return if self.eof { Ok(false) } else { Err(More) };
            };
            self.i += k;
            match self.b[self.i] {
                b'"' => {
                    self.next()?;
                    return Ok(true);
                }
                b'\\' => {
                    let c = self.next()?;
                    if c == 0 || c == b'\n' {
                        return Ok(false);
                    }
                    self.i += 1;
                }
                _ if skip_nul => self.i += 1,
                _ => return Ok(false),
            }
        }
    }

    /// Everything up to the next newline (or the end of the body); NULs in it are skipped
    /// by the scanner anyway. The cursor ends on the newline.
    fn skip_to_newline(&mut self, from: usize) -> Result<(), More> {
        match memchr::memchr(b'\n', self.b.get(from..).unwrap_or_default()) {
            Some(k) => {
                self.i = from + k;
                Ok(())
            }
            None => {
                self.i = self.b.len();
                if self.eof { Ok(()) } else { Err(More) }
            }
        }
    }

    /// Matches the rest of a keyword; false (cursor on the mismatch) otherwise.
    fn word(&mut self, rest: &[u8]) -> Result<bool, More> {
        for &w in rest {
            if self.next()? != w {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The next token.
    pub(crate) fn lex(&mut self) -> Result<Tok, More> {
        let Some(&c) = self.b.get(self.i) else {
            return if self.eof { Ok(Tok::Eof) } else { Err(More) };
        };
        self.start = self.i;
        if self.om {
            self.lex_om(c)
        } else {
            self.lex_prom(c)
        }
    }

    /// The next token that is not whitespace (the text-format parser skips them).
    pub(crate) fn lex_skip_ws(&mut self) -> Result<Tok, More> {
        loop {
            let t = self.lex()?;
            if t != Tok::Whitespace {
                return Ok(t);
            }
        }
    }

    fn consume_comment(&mut self) -> Result<Tok, More> {
        // The first byte is taken as it is; after it NULs are skipped only after `# `.
        if self.cur() == 0 {
            return Ok(Tok::Eof);
        }
        let from = self.i;
        if self.state == St::Comment {
            self.skip_to_newline(from)?;
        } else {
            match memchr::memchr2(b'\n', 0, self.b.get(from..).unwrap_or_default()) {
                Some(k) => self.i = from + k,
                None => {
                    self.i = self.b.len();
                    if !self.eof {
                        return Err(More);
                    }
                }
            }
        }
        if self.cur() == b'\n' {
            self.state = St::Init;
            Ok(Tok::Comment)
        } else {
            Ok(Tok::Eof)
        }
    }

    // Over 100 lines: the text format's state table, one arm per state; kept whole to read as one.
    fn lex_prom(&mut self, c: u8) -> Result<Tok, More> {
        match self.state {
            St::Init => match c {
                0 => Ok(Tok::Eof),
                b'\n' => {
                    self.i += 1;
                    Ok(Tok::Linebreak)
                }
                b' ' | b'\t' => self.ws_run(),
                b'#' => {
                    let mut c = self.next()?;
                    if !ws(c) {
                        return self.consume_comment();
                    }
                    while ws(c) {
                        c = self.next()?;
                    }
                    self.state = St::Comment;
                    let kw = match c {
                        b'H' => self.word(b"ELP")?.then_some(Tok::Help),
                        b'T' => self.word(b"YPE")?.then_some(Tok::Type),
                        _ => None,
                    };
                    if let Some(kw) = kw
                        && ws(self.next()?)
                    {
                        while ws(self.next()?) {}
                        self.state = St::Meta1;
                        return Ok(kw);
                    }
                    self.consume_comment()
                }
                c if m_start(c) => {
                    self.name_run(m_cont)?;
                    self.state = St::Value;
                    Ok(Tok::MName)
                }
                b'{' if self.quoted_names => {
                    self.i += 1;
                    self.state = St::Labels;
                    Ok(Tok::BraceOpen)
                }
                _ => Ok(Tok::Invalid),
            },
            St::Comment => self.consume_comment(),
            St::Meta1 => match c {
                b'"' if self.quoted_names => {
                    if !self.quoted(true)? {
                        return Ok(Tok::Invalid);
                    }
                    self.state = St::Meta2;
                    Ok(Tok::MName)
                }
                c if m_start(c) => {
                    self.name_run(m_cont)?;
                    self.state = St::Meta2;
                    Ok(Tok::MName)
                }
                b' ' | b'\t' => self.ws_run(),
                _ => Ok(Tok::Invalid),
            },
            St::Meta2 => {
                let mut c = c;
                if ws(c) {
                    while ws(c) {
                        c = self.next()?;
                    }
                    if c == 0 || c == b'\n' {
                        return Ok(Tok::Whitespace);
                    }
                }
                if c != 0 && c != b'\n' {
                    self.skip_to_newline(self.i + 1)?;
                }
                self.state = St::Init;
                Ok(Tok::Text)
            }
            St::Labels => match c {
                b'"' if self.quoted_names => Ok(if self.quoted(true)? {
                    Tok::QString
                } else {
                    Tok::Invalid
                }),
                b',' => {
                    self.i += 1;
                    Ok(Tok::Comma)
                }
                b'=' => {
                    self.i += 1;
                    self.state = St::LValue;
                    Ok(Tok::Equal)
                }
                b'}' => {
                    self.i += 1;
                    self.state = St::Value;
                    Ok(Tok::BraceClose)
                }
                c if l_start(c) => {
                    self.name_run(l_cont)?;
                    Ok(Tok::LName)
                }
                b' ' | b'\t' => self.ws_run(),
                _ => Ok(Tok::Invalid),
            },
            St::LValue => match c {
                b'"' => {
                    if !self.quoted(true)? {
                        return Ok(Tok::Invalid);
                    }
                    self.state = St::Labels;
                    Ok(Tok::LValue)
                }
                b' ' | b'\t' => self.ws_run(),
                _ => Ok(Tok::Invalid),
            },
            St::Value => match c {
                b' ' | b'\t' => self.ws_run(),
                b'{' => {
                    self.i += 1;
                    self.state = St::Labels;
                    Ok(Tok::BraceOpen)
                }
                c if prom_value(c) => {
                    self.run_while(prom_value)?;
                    self.state = St::Timestamp;
                    Ok(Tok::Value)
                }
                _ => Ok(Tok::Invalid),
            },
            St::Timestamp => match c {
                b'\n' => {
                    self.i += 1;
                    self.state = St::Init;
                    Ok(Tok::Linebreak)
                }
                b' ' | b'\t' => self.ws_run(),
                c if c.is_ascii_digit() => {
                    self.run_while(|c| c.is_ascii_digit())?;
                    Ok(Tok::Timestamp)
                }
                _ => Ok(Tok::Invalid),
            },
            // OpenMetrics-only states never occur in the text format.
            St::Exemplar | St::EValue | St::ETimestamp => Ok(Tok::Invalid),
        }
    }

    /// ` [^ \n]+` after the leading space; the cursor is on the space.
    fn om_spaced_value(&mut self) -> Result<bool, More> {
        if !om_value(self.next()?) {
            return Ok(false);
        }
        self.run_while(om_value)?;
        Ok(true)
    }

    // Over 100 lines: the OpenMetrics state table, one arm per state; kept whole to read as one.
    fn lex_om(&mut self, c: u8) -> Result<Tok, More> {
        match self.state {
            St::Init => match c {
                b'#' => {
                    if self.next()? != b' ' {
                        return Ok(Tok::Invalid);
                    }
                    let c = self.next()?;
                    self.state = St::Comment;
                    let (rest, tok): (&[u8], Tok) = match c {
                        b'E' => {
                            if !self.word(b"OF")? {
                                return Ok(Tok::Invalid);
                            }
                            if self.next()? == b'\n' {
                                self.next()?;
                            }
                            self.state = St::Init;
                            return Ok(Tok::EofWord);
                        }
                        b'H' => (b"ELP ", Tok::Help),
                        b'T' => (b"YPE ", Tok::Type),
                        b'U' => (b"NIT ", Tok::Unit),
                        _ => return Ok(Tok::Invalid),
                    };
                    if !self.word(rest)? {
                        return Ok(Tok::Invalid);
                    }
                    self.next()?;
                    self.state = St::Meta1;
                    Ok(tok)
                }
                c if m_start(c) => {
                    self.name_run(m_cont)?;
                    self.state = St::Value;
                    Ok(Tok::MName)
                }
                b'{' if self.quoted_names => {
                    self.i += 1;
                    self.state = St::Labels;
                    Ok(Tok::BraceOpen)
                }
                _ => Ok(Tok::Invalid),
            },
            St::Meta1 => match c {
                b'"' if self.quoted_names => {
                    if !self.quoted(true)? {
                        return Ok(Tok::Invalid);
                    }
                    self.state = St::Meta2;
                    Ok(Tok::MName)
                }
                c if m_start(c) => {
                    self.name_run(m_cont)?;
                    self.state = St::Meta2;
                    Ok(Tok::MName)
                }
                _ => Ok(Tok::Invalid),
            },
            St::Meta2 => {
                if c != b' ' {
                    return Ok(Tok::Invalid);
                }
                self.skip_to_newline(self.i + 1)?;
                if self.cur() != b'\n' {
                    return Ok(Tok::Invalid);
                }
                self.next()?;
                self.state = St::Init;
                Ok(Tok::Text)
            }
            St::Labels | St::Exemplar => {
                let exemplar = self.state == St::Exemplar;
                match c {
                    b'"' if self.quoted_names => Ok(if self.quoted(!exemplar)? {
                        Tok::QString
                    } else {
                        Tok::Invalid
                    }),
                    c if l_start(c) => {
                        self.name_run(l_cont)?;
                        Ok(Tok::LName)
                    }
                    b'}' => {
                        self.i += 1;
                        self.state = if exemplar { St::EValue } else { St::Value };
                        Ok(Tok::BraceClose)
                    }
                    b'=' => {
                        self.i += 1;
                        self.state = if exemplar { St::EValue } else { St::LValue };
                        Ok(Tok::Equal)
                    }
                    b',' => {
                        self.i += 1;
                        Ok(Tok::Comma)
                    }
                    _ => Ok(Tok::Invalid),
                }
            }
            St::LValue | St::EValue => {
                let exemplar = self.state == St::EValue;
                match c {
                    b'"' => {
                        if !self.quoted(false)? {
                            return Ok(Tok::Invalid);
                        }
                        self.state = if exemplar { St::Exemplar } else { St::Labels };
                        Ok(Tok::LValue)
                    }
                    b' ' if exemplar => {
                        if !self.om_spaced_value()? {
                            return Ok(Tok::Invalid);
                        }
                        self.state = St::ETimestamp;
                        Ok(Tok::Value)
                    }
                    _ => Ok(Tok::Invalid),
                }
            }
            St::Value => match c {
                b' ' => {
                    if !self.om_spaced_value()? {
                        return Ok(Tok::Invalid);
                    }
                    self.state = St::Timestamp;
                    Ok(Tok::Value)
                }
                b'{' => {
                    self.i += 1;
                    self.state = St::Labels;
                    Ok(Tok::BraceOpen)
                }
                _ => Ok(Tok::Invalid),
            },
            St::Timestamp | St::ETimestamp => match c {
                b'\n' => {
                    self.i += 1;
                    self.state = St::Init;
                    Ok(Tok::Linebreak)
                }
                b' ' => {
                    let c = self.next()?;
                    if c == b'#' && self.state == St::Timestamp {
                        let c = self.next()?;
                        if c == b' ' {
                            if self.next()? != b'{' {
                                return Ok(Tok::Invalid);
                            }
                            self.i += 1;
                            self.state = St::Exemplar;
                            return Ok(Tok::Comment);
                        }
                        if om_value(c) {
                            self.run_while(om_value)?;
                        }
                        return Ok(Tok::Timestamp);
                    }
                    if !om_value(c) {
                        return Ok(Tok::Invalid);
                    }
                    self.run_while(om_value)?;
                    Ok(Tok::Timestamp)
                }
                _ => Ok(Tok::Invalid),
            },
            St::Comment => Ok(Tok::Invalid),
        }
    }
}

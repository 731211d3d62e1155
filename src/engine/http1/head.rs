//! A parsed response head, owned by the caller for the length of one response.

use std::fmt;

use super::Error;

/// Heads with at most this many lines are parsed with headers on the stack; longer heads get
/// an exact-size heap array (any number of headers is accepted, as Go does).
const STACK_HEADERS: usize = 32;

/// HTTP version of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `HTTP/1.0`: the connection closes after the response unless it says `keep-alive`.
    Http10,
    /// `HTTP/1.1`.
    Http11,
}

/// How the body of a response is delimited (RFC 9112 section 6.3, as Go's `readTransfer`
/// applies it to responses of a GET).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body (1xx, 204, 304).
    Empty,
    /// `Content-Length`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Read until the server closes.
    Close,
}

/// Where a header sits in the head's bytes.
#[derive(Clone, Copy)]
struct Field {
    name: (u32, u32),
    value: (u32, u32),
}

/// A response's status line and headers. The bytes are copied out of the connection's read
/// buffer, so the head can be kept while the body streams through that buffer.
pub struct Head {
    raw: Box<[u8]>,
    status: u16,
    version: Version,
    reason: (u32, u32),
    fields: Vec<Field>,
}

/// The status line, quoted and cut short, for an error message.
fn first_line(raw: &[u8]) -> String {
    let end = raw
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(raw.len());
    let line = String::from_utf8_lossy(&raw[..end.min(120)]);
    format!("{line:?}")
}

impl Head {
    /// Parse a complete head (`raw` ends with the empty line).
    pub(crate) fn parse(raw: &[u8]) -> Result<Head, Error> {
        // Lines bound the header count from above; the status line and the final empty line
        // are not headers.
        let lines = raw.iter().filter(|&&b| b == b'\n').count();
        let mut stack = [httparse::EMPTY_HEADER; STACK_HEADERS];
        let mut heap = Vec::new();
        let headers: &mut [httparse::Header<'_>] = if lines <= STACK_HEADERS {
            &mut stack
        } else {
            heap.resize(lines, httparse::EMPTY_HEADER);
            &mut heap
        };
        let mut resp = httparse::Response::new(headers);
        let mut cfg = httparse::ParserConfig::default();
        // Go's textproto joins obsolete folded header lines instead of failing.
        cfg.allow_obsolete_multiline_headers_in_responses(true);
        let base = raw.as_ptr() as usize;
        let span = |s: &[u8]| -> (u32, u32) {
            let a = (s.as_ptr() as usize).saturating_sub(base);
            (a as u32, (a + s.len()) as u32)
        };
        match cfg.parse_response(&mut resp, raw) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => {
                return Err(Error::MalformedHead(format!(
                    "malformed HTTP response {}",
                    first_line(raw)
                )));
            }
            Err(e @ (httparse::Error::HeaderName | httparse::Error::HeaderValue)) => {
                return Err(Error::MalformedHead(format!(
                    "malformed MIME header line: {e}"
                )));
            }
            Err(httparse::Error::Status) => {
                return Err(Error::MalformedHead(format!(
                    "malformed HTTP status code {}",
                    first_line(raw)
                )));
            }
            Err(_) => {
                return Err(Error::MalformedHead(format!(
                    "malformed HTTP response {}",
                    first_line(raw)
                )));
            }
        }
        let version = match resp.version {
            Some(0) => Version::Http10,
            _ => Version::Http11,
        };
        let status = resp.code.unwrap_or(0);
        let reason = resp.reason.map_or((0, 0), |r| span(r.as_bytes()));
        let fields = resp
            .headers
            .iter()
            .map(|h| Field {
                name: span(h.name.as_bytes()),
                value: span(h.value),
            })
            .collect();
        Ok(Head {
            raw: raw.into(),
            status,
            version,
            reason,
            fields,
        })
    }

    fn slice(&self, (a, b): (u32, u32)) -> &[u8] {
        self.raw.get(a as usize..b as usize).unwrap_or_default()
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase (may be empty).
    pub fn reason(&self) -> &str {
        std::str::from_utf8(self.slice(self.reason)).unwrap_or("")
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Size of the head in bytes, status line and final empty line included.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Never true: a head has at least a status line. (Present for clippy's `len` rule.)
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// All headers in order, names as sent.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.fields.iter().map(|f| {
            (
                std::str::from_utf8(self.slice(f.name)).unwrap_or(""),
                self.slice(f.value),
            )
        })
    }

    /// Number of headers.
    pub fn header_count(&self) -> usize {
        self.fields.len()
    }

    /// Every value of header `name` (case-insensitive).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The first value of header `name` (case-insensitive), as Go's `Header.Get`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The first value of `name` as text, if it is valid UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Whether any value of `name` lists `token` (comma-separated, case-insensitive), as Go's
    /// `httpguts.HeaderValuesContainsToken`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.all(name).any(|v| {
            v.split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
        })
    }

    /// Whether the status is a redirect the caller may follow (301, 302, 303, 307, 308).
    pub fn is_redirect(&self) -> bool {
        matches!(self.status, 301 | 302 | 303 | 307 | 308)
    }

    /// The `Location` header, for a redirect the caller resolves against the request URL.
    pub fn location(&self) -> Option<&str> {
        self.get_str("location")
    }

    /// Whether the server lets the connection be reused after this response (Go's
    /// `shouldClose`, negated): HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with
    /// `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        if self.has_token("connection", "close") {
            return false;
        }
        match self.version {
            Version::Http11 => true,
            Version::Http10 => self.has_token("connection", "keep-alive"),
        }
    }

    /// How the body is delimited, with Go's rules and error texts for conflicting framing.
    pub(crate) fn framing(&self) -> Result<Framing, Error> {
        if (100..200).contains(&self.status) || self.status == 204 || self.status == 304 {
            return Ok(Framing::Empty);
        }
        // Go ignores Transfer-Encoding on HTTP/1.0 messages.
        if self.version == Version::Http11 {
            let mut te = self.all("transfer-encoding");
            if let Some(first) = te.next() {
                if te.next().is_some() {
                    return Err(Error::Framing("too many transfer encodings".to_owned()));
                }
                if !first.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                    return Err(Error::Framing(format!(
                        "unsupported transfer encoding: {:?}",
                        String::from_utf8_lossy(first)
                    )));
                }
                // Chunked wins over any Content-Length.
                return Ok(Framing::Chunked);
            }
        }
        let mut len: Option<u64> = None;
        for v in self.all("content-length") {
            let v = v.trim_ascii();
            let n = std::str::from_utf8(v)
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| {
                    Error::Framing(format!(
                        "bad Content-Length {:?}",
                        String::from_utf8_lossy(v)
                    ))
                })?;
            if len.is_some_and(|l| l != n) {
                return Err(Error::Framing(
                    "http: message cannot contain multiple Content-Length headers".to_owned(),
                ));
            }
            len = Some(n);
        }
        Ok(match len {
            Some(0) => Framing::Empty,
            Some(n) => Framing::Length(n),
            None => Framing::Close,
        })
    }
}

impl fmt::Debug for Head {
    /// Status and header names only: values may carry cookies or tokens.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Head")
            .field("status", &self.status)
            .field("version", &self.version)
            .field(
                "headers",
                &self.headers().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(s: &str) -> Result<Head, Error> {
        Head::parse(s.as_bytes())
    }

    #[test]
    fn framing_follows_go() {
        let cases: &[(&str, Result<Framing, &str>)] = &[
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
                Ok(Framing::Length(5)),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
                Ok(Framing::Length(5)),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                Err("multiple"),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                Err("bad Content-Length"),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                Ok(Framing::Chunked),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                Err("unsupported transfer encoding"),
            ),
            (
                "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                Ok(Framing::Close),
            ),
            ("HTTP/1.1 200 OK\r\n\r\n", Ok(Framing::Close)),
            (
                "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
                Ok(Framing::Empty),
            ),
            ("HTTP/1.1 304 Not Modified\r\n\r\n", Ok(Framing::Empty)),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                Ok(Framing::Empty),
            ),
        ];
        for (raw, want) in cases {
            let got = head(raw).and_then(|h| h.framing());
            match (want, got) {
                (Ok(w), Ok(g)) => assert_eq!(*w, g, "{raw:?}"),
                (Err(w), Err(e)) => assert!(e.to_string().contains(w), "{raw:?}: {e}"),
                (w, g) => panic!("{raw:?}: want {w:?}, got {g:?}"),
            }
        }
    }

    #[test]
    fn keep_alive_follows_go() {
        let cases = [
            ("HTTP/1.1 200 OK\r\n\r\n", true),
            ("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", false),
            (
                "HTTP/1.1 200 OK\r\nConnection: Upgrade, Close\r\n\r\n",
                false,
            ),
            ("HTTP/1.0 200 OK\r\n\r\n", false),
            ("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\n", true),
        ];
        for (raw, want) in cases {
            assert_eq!(head(raw).unwrap().keep_alive(), want, "{raw:?}");
        }
    }

    #[test]
    fn headers_and_errors() {
        let h = head("HTTP/1.1 302 Found\r\nLocation: /x\r\nA: 1\r\na: 2\r\n\r\n").unwrap();
        assert_eq!((h.status(), h.reason()), (302, "Found"));
        assert!(h.is_redirect());
        assert_eq!(h.location(), Some("/x"));
        assert_eq!(h.all("A").collect::<Vec<_>>(), vec![&b"1"[..], b"2"]);
        assert_eq!(head("HTTP/1.1 200\r\n\r\n").unwrap().reason(), "");
        for bad in [
            "HTTX/1.1 200 OK\r\n\r\n",
            "HTTP/1.1 2x0 OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        ] {
            assert!(matches!(head(bad), Err(Error::MalformedHead(_))), "{bad:?}");
        }
    }
}

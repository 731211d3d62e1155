//! Reading a scrape body as a stream: gzip decoding, byte and sample counting, and the
//! body size limit, without buffering the body.

use std::io::Write;

/// Counts uncompressed bytes and sample lines (neither blank nor comments) of a text
/// exposition, fed in arbitrary chunks.
#[derive(Debug, Default, Clone)]
pub struct Counter {
    /// Uncompressed bytes seen.
    pub bytes: u64,
    /// Complete or final sample lines seen.
    pub samples: u64,
    /// Bytes past this many are not counted for samples; 0 = no limit.
    pub limit: u64,
    /// The limit was exceeded.
    pub exceeded: bool,
    line: Line,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// Only whitespace so far.
    #[default]
    Blank,
    /// Starts with `#`.
    Comment,
    /// A sample.
    Sample,
}

impl Counter {
    /// A counter enforcing `limit` bytes (0 = none).
    pub fn new(limit: u64) -> Self {
        Counter {
            limit,
            ..Default::default()
        }
    }

    /// Feed uncompressed bytes.
    pub fn feed(&mut self, data: &[u8]) {
        self.bytes += data.len() as u64;
        if self.limit > 0 && self.bytes > self.limit {
            self.exceeded = true;
            return;
        }
        for &b in data {
            match (b, self.line) {
                (b'\n', Line::Sample) => {
                    self.samples += 1;
                    self.line = Line::Blank;
                }
                (b'\n', _) => self.line = Line::Blank,
                (b' ' | b'\t' | b'\r', _) => {}
                (b'#', Line::Blank) => self.line = Line::Comment,
                (_, Line::Blank) => self.line = Line::Sample,
                _ => {}
            }
        }
    }

    /// The body ended: count a last line without a newline.
    pub fn finish(&mut self) {
        if self.line == Line::Sample && !self.exceeded {
            self.samples += 1;
        }
        self.line = Line::Blank;
    }
}

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.feed(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A body sink: identity or gzip.
pub enum Sink {
    /// Uncompressed body.
    Plain(Counter),
    /// `Content-Encoding: gzip`.
    Gzip(Box<flate2::write::GzDecoder<Counter>>),
}

impl Sink {
    /// A sink for the given `Content-Encoding`.
    pub fn new(gzip: bool, limit: u64) -> Self {
        if gzip {
            Sink::Gzip(Box::new(flate2::write::GzDecoder::new(Counter::new(limit))))
        } else {
            Sink::Plain(Counter::new(limit))
        }
    }

    /// Feed a chunk of the body as received. Once the limit is exceeded the rest is only
    /// drained (not decoded), so the connection stays usable.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), String> {
        match self {
            Sink::Plain(c) => {
                c.feed(chunk);
                Ok(())
            }
            Sink::Gzip(g) => {
                if g.get_ref().exceeded {
                    return Ok(());
                }
                g.write_all(chunk)
                    .map_err(|e| format!("decompressing gzip body: {e}"))
            }
        }
    }

    /// The body ended: the final counts.
    pub fn finish(self) -> Result<Counter, String> {
        let mut c = match self {
            Sink::Plain(c) => c,
            Sink::Gzip(g) => {
                if g.get_ref().exceeded {
                    g.get_ref().clone()
                } else {
                    g.finish()
                        .map_err(|e| format!("decompressing gzip body: {e}"))?
                }
            }
        };
        c.finish();
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_samples_across_chunks() {
        let text = b"# HELP a x\n# TYPE a counter\na 1\n\n  \na{b=\"c\"} 2\nlast 3";
        for split in 0..text.len() {
            let mut c = Counter::new(0);
            c.feed(&text[..split]);
            c.feed(&text[split..]);
            c.finish();
            assert_eq!(c.samples, 3, "split at {split}");
            assert_eq!(c.bytes, text.len() as u64);
        }
    }

    #[test]
    fn gzip_is_decoded_and_limited() {
        let body = "m 1\n".repeat(1000);
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(body.as_bytes()).unwrap();
        let gz = enc.finish().unwrap();
        let mut s = Sink::new(true, 0);
        for chunk in gz.chunks(7) {
            s.feed(chunk).unwrap();
        }
        let c = s.finish().unwrap();
        assert_eq!((c.samples, c.bytes, c.exceeded), (1000, 4000, false));

        let mut s = Sink::new(true, 100);
        for chunk in gz.chunks(7) {
            s.feed(chunk).unwrap();
        }
        let c = s.finish().unwrap();
        assert!(c.exceeded);
        assert!(c.samples <= 25);
    }
}

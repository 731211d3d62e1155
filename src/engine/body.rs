//! Reading a scrape body as a stream: gzip decoding, the body size limit, and the exposition
//! parser, without buffering the body.
//!
//! [`BodyReader`] is what a scrape feeds its 200 response body through. It reproduces how
//! Prometheus reads a body (scrape.go `readResponse`, then the parser): the whole body is read
//! first, so a read failure (size limit, bad gzip) wins over a parse failure and reports 0
//! samples; `Content-Encoding` must be exactly `gzip` to be decoded; a body of exactly
//! `body_size_limit` bytes fails; every gzip member is read. Inflation is bounded by the
//! scrape deadline and yields to the runtime, so a gzip bomb is down with `context deadline
//! exceeded` instead of burning a core.

use std::io::Write;
use std::time::Instant;

use crate::engine::spec::JobSettings;
use crate::expo::{Compat, ErrorKind, ExpoError, Format, Histograms, Limits, Parser};

/// How a job reads bodies: its limits and the Prometheus version it behaves as.
#[derive(Debug, Clone, Default)]
pub struct BodyOptions {
    /// `body_size_limit` in uncompressed bytes; 0 = none. A body reaching it fails.
    pub body_size_limit: u64,
    /// Sample and label limits.
    pub limits: Limits,
    /// Which Prometheus to behave as.
    pub compat: Compat,
    /// `fallback_scrape_protocol` (Prometheus 3).
    pub fallback: Option<Format>,
    /// How protobuf pages' histograms count (Prometheus 3's job settings).
    pub histograms: Histograms,
    /// When the scrape's deadline passes; checked while inflating.
    pub deadline: Option<Instant>,
    /// Decode as gzip: set by [`BodyReader::new`] from `Content-Encoding`; for callers that
    /// decided themselves (benchmarks).
    pub gzip: bool,
}

impl BodyOptions {
    /// The options of a job; `target_labels` is how many labels the target adds to each
    /// sample (`job`, `instance`, …), which `label_limit` counts.
    pub fn for_job(job: &JobSettings, target_labels: u64, deadline: Option<Instant>) -> Self {
        BodyOptions {
            body_size_limit: job.body_size_limit,
            limits: Limits {
                sample_limit: job.sample_limit,
                label_limit: job.label_limit,
                label_name_length_limit: job.label_name_length_limit,
                label_value_length_limit: job.label_value_length_limit,
                target_labels,
            },
            compat: job.compat,
            fallback: job.fallback_scrape_protocol,
            histograms: job.histograms,
            deadline,
            gzip: false,
        }
    }
}

/// What failed a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyErrorKind {
    /// The scrape deadline passed while the body was read or inflated.
    Deadline,
    /// The uncompressed body reached `body_size_limit`.
    SizeLimit,
    /// `Content-Encoding: gzip` but the body is not valid gzip.
    Gzip,
    /// The exposition was refused (syntax, Content-Type, sample or label limits): see
    /// [`ErrorKind`].
    Exposition(ErrorKind),
}

/// A failed body: the scrape is down with `message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BodyError {
    /// What failed.
    pub kind: BodyErrorKind,
    /// Prometheus's wording.
    pub message: String,
    /// `scrape_samples_scraped` to report: 0 when the read failed, the samples parsed before
    /// the error when the exposition did.
    pub samples: u64,
    /// Uncompressed bytes read.
    pub bytes: u64,
    keep: bool,
}

impl BodyError {
    /// Whether the connection stays open for the next scrape, as Prometheus's does: yes after
    /// a size limit, gzip or exposition error once the rest of the body has been drained; no
    /// after the deadline (the request was cancelled mid-body).
    pub fn keeps_connection(&self) -> bool {
        self.keep
    }
}

/// A body read to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodySummary {
    /// Uncompressed bytes.
    pub bytes: u64,
    /// Bytes as received (compressed when gzip).
    pub wire_bytes: u64,
    /// Samples, as `scrape_samples_scraped`.
    pub samples: u64,
    /// The format the body was parsed as (`None`: empty body under Prometheus 3).
    pub format: Option<Format>,
}

/// Inflated output handed to the parser between two yields to the runtime.
const YIELD_EVERY: u64 = 256 * 1024;
/// Compressed input given to the inflater per step (deflate expands at most ~1,032 times).
const INFLATE_STEP: usize = 1024;

/// Where decoded bytes go: the size limit, then the parser.
#[derive(Debug)]
struct Intake {
    parser: Parser,
    bytes: u64,
    /// 0 = none.
    limit: u64,
    limit_hit: bool,
    /// A parse error is kept while the read goes on: a later read error wins, as in
    /// Prometheus (which reads the whole body before parsing).
    parse_error: Option<ExpoError>,
    deadline: Option<Instant>,
    timed_out: bool,
}

impl Intake {
    fn take(&mut self, mut data: &[u8]) -> std::io::Result<()> {
        if self.limit_hit {
            return Err(std::io::Error::other("limit"));
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.timed_out = true;
            return Err(std::io::Error::other("deadline"));
        }
        if self.limit > 0 && self.bytes + data.len() as u64 >= self.limit {
            // Prometheus reads at most `limit` bytes and fails when it got that many.
            data = &data[..(self.limit - self.bytes) as usize];
            self.limit_hit = true;
        }
        self.bytes += data.len() as u64;
        if self.parse_error.is_none()
            && let Err(e) = self.parser.feed(data)
        {
            self.parse_error = Some(e);
        }
        if self.limit_hit {
            return Err(std::io::Error::other("limit"));
        }
        Ok(())
    }
}

impl Write for Intake {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.take(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads one 200 response body: feed every chunk as it arrives (also after an error, so the
/// connection is drained and stays usable), then [`finish`](Self::finish).
#[derive(Debug)]
pub struct BodyReader {
    gz: Option<Box<flate2::write::MultiGzDecoder<Intake>>>,
    plain: Option<Intake>,
    wire_bytes: u64,
    /// The gzip stream failed: its message; the rest is drained.
    gzip_error: Option<String>,
    /// Output inflated since the last yield.
    since_yield: u64,
}

impl BodyReader {
    /// A reader for a response with these `Content-Type` and `Content-Encoding` headers
    /// (`None`: absent). Only `Content-Encoding: gzip`, exactly, is decoded, as Prometheus
    /// does; `opts.gzip` also asks for decoding.
    pub fn new(
        content_type: Option<&str>,
        content_encoding: Option<&str>,
        opts: &BodyOptions,
    ) -> Self {
        let parser = Parser::for_response(content_type, opts.compat, opts.fallback, opts.limits)
            .with_histograms(opts.histograms);
        let intake = Intake {
            parser,
            bytes: 0,
            limit: opts.body_size_limit,
            limit_hit: false,
            parse_error: None,
            deadline: opts.deadline,
            timed_out: false,
        };
        let gzip = opts.gzip || content_encoding == Some("gzip");
        let (gz, plain) = if gzip {
            (
                Some(Box::new(flate2::write::MultiGzDecoder::new(intake))),
                None,
            )
        } else {
            (None, Some(intake))
        };
        BodyReader {
            gz,
            plain,
            wire_bytes: 0,
            gzip_error: None,
            since_yield: 0,
        }
    }

    fn intake(&self) -> &Intake {
        match (&self.gz, &self.plain) {
            (Some(g), _) => g.get_ref(),
            (None, Some(p)) => p,
            (None, None) => unreachable!("a BodyReader has an intake"),
        }
    }

    /// Uncompressed bytes so far.
    pub fn bytes(&self) -> u64 {
        self.intake().bytes
    }

    /// Bytes received so far.
    pub fn wire_bytes(&self) -> u64 {
        self.wire_bytes
    }

    /// Feed the next chunk as received. Errors only when the deadline passed while
    /// inflating (the connection must then be closed); every other failure is kept for
    /// [`finish`](Self::finish) while the rest of the body is drained.
    pub async fn feed(&mut self, chunk: &[u8]) -> Result<(), BodyError> {
        self.wire_bytes += chunk.len() as u64;
        if let Some(p) = &mut self.plain {
            if !p.limit_hit {
                let _ = p.take(chunk);
            }
            if p.timed_out {
                return Err(self.deadline_error());
            }
            return Ok(());
        }
        if self.gzip_error.is_some() {
            return Ok(());
        }
        for step in chunk.chunks(INFLATE_STEP) {
            let Some(gz) = self.gz.as_mut() else {
                return Ok(());
            };
            if gz.get_ref().limit_hit {
                return Ok(());
            }
            let before = gz.get_ref().bytes;
            let res = gz.write_all(step);
            let intake = gz.get_ref();
            if intake.timed_out {
                return Err(self.deadline_error());
            }
            if intake.limit_hit {
                return Ok(());
            }
            if let Err(e) = res {
                self.gzip_error = Some(gzip_message(&e, self.wire_bytes));
                return Ok(());
            }
            self.since_yield += intake.bytes - before;
            if self.since_yield >= YIELD_EVERY {
                // A small chunk can inflate to megabytes: let other scrapes run.
                self.since_yield = 0;
                tokio::task::yield_now().await;
                if self
                    .gz
                    .as_ref()
                    .is_some_and(|g| g.get_ref().deadline.is_some_and(|d| Instant::now() >= d))
                {
                    return Err(self.deadline_error());
                }
            }
        }
        Ok(())
    }

    /// The error to report when the scrape deadline passed while this body was being read:
    /// an earlier read failure keeps its message, but the connection is closed either way.
    pub fn deadline_error(&self) -> BodyError {
        let intake = self.intake();
        let (kind, message) = if intake.limit_hit {
            (
                BodyErrorKind::SizeLimit,
                "body size limit exceeded".to_owned(),
            )
        } else if let Some(g) = &self.gzip_error {
            (BodyErrorKind::Gzip, g.clone())
        } else {
            (
                BodyErrorKind::Deadline,
                "context deadline exceeded".to_owned(),
            )
        };
        BodyError {
            kind,
            message,
            samples: 0,
            bytes: intake.bytes,
            keep: false,
        }
    }

    /// The body ended: its summary, or why the scrape is down.
    pub fn finish(self) -> Result<BodySummary, BodyError> {
        let wire_bytes = self.wire_bytes;
        let read_fail = |kind, message: String, bytes| BodyError {
            kind,
            message,
            samples: 0,
            bytes,
            keep: true,
        };
        let mut intake = match (self.gz, self.plain) {
            (Some(gz), _) => {
                if let Some(m) = self.gzip_error {
                    let b = gz.get_ref().bytes;
                    return Err(read_fail(BodyErrorKind::Gzip, m, b));
                }
                if gz.get_ref().limit_hit {
                    let b = gz.get_ref().bytes;
                    return Err(read_fail(
                        BodyErrorKind::SizeLimit,
                        "body size limit exceeded".to_owned(),
                        b,
                    ));
                }
                if wire_bytes == 0 {
                    // Go's gzip reader fails on an empty stream before reading anything.
                    return Err(read_fail(BodyErrorKind::Gzip, "EOF".to_owned(), 0));
                }
                let mut gz = gz;
                if let Err(e) = gz.try_finish() {
                    let i = gz.get_ref();
                    if i.limit_hit {
                        return Err(read_fail(
                            BodyErrorKind::SizeLimit,
                            "body size limit exceeded".to_owned(),
                            i.bytes,
                        ));
                    }
                    return Err(read_fail(
                        BodyErrorKind::Gzip,
                        gzip_message(&e, wire_bytes),
                        i.bytes,
                    ));
                }
                match gz.finish() {
                    Ok(i) => i,
                    Err(e) => {
                        return Err(read_fail(
                            BodyErrorKind::Gzip,
                            gzip_message(&e, wire_bytes),
                            0,
                        ));
                    }
                }
            }
            (None, Some(p)) => p,
            (None, None) => unreachable!("a BodyReader has an intake"),
        };
        if intake.limit_hit {
            return Err(read_fail(
                BodyErrorKind::SizeLimit,
                "body size limit exceeded".to_owned(),
                intake.bytes,
            ));
        }
        let result = match intake.parse_error.take() {
            Some(e) => Err(e),
            None => intake.parser.finish(),
        };
        match result {
            Ok(samples) => Ok(BodySummary {
                bytes: intake.bytes,
                wire_bytes,
                samples,
                format: if intake.bytes == 0 {
                    None
                } else {
                    intake.parser.format()
                },
            }),
            Err(e) => Err(BodyError {
                kind: BodyErrorKind::Exposition(e.kind),
                message: e.message,
                samples: intake.parser.samples(),
                bytes: intake.bytes,
                keep: true,
            }),
        }
    }
}

/// Go's wording for a broken gzip stream (compress/gzip, compress/flate).
fn gzip_message(e: &std::io::Error, offset: u64) -> String {
    let text = e.to_string().to_ascii_lowercase();
    if e.kind() == std::io::ErrorKind::UnexpectedEof || text.contains("unexpected eof") {
        "unexpected EOF".to_owned()
    } else if text.contains("header") {
        "gzip: invalid header".to_owned()
    } else if text.contains("crc") || text.contains("checksum") {
        "gzip: invalid checksum".to_owned()
    } else {
        format!("flate: corrupt input before offset {offset}")
    }
}

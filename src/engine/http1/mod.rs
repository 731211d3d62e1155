//! A purpose-built HTTP/1.1 client connection for the scrape path.
//!
//! Why not hyper's `client::conn::http1` here: per connection it keeps an 8 KiB header write
//! buffer, a read buffer, a dispatch channel whose blocks hold ~8 KiB each and a second task,
//! about 24 KiB before any page is read (BENCHMARKS.md). A scrape connection carries one GET at
//! a time from one task, so none of that machinery is needed:
//!
//! - the request is encoded once per target ([`Request`]) and written straight from it;
//! - the read buffer exists only while a response is read: it starts at the size the last
//!   response needed (1-64 KiB), grows when a head or page needs it (a head up to
//!   [`MAX_HEAD`], body reads up to 64 KiB) and is freed when the response ends, so an idle
//!   connection holds no buffer at all;
//! - there is no task and no channel: the caller's task drives every call, and
//!   [`Conn::idle_closed`] is the future it selects on between scrapes to notice a server that
//!   closed the idle connection (what hyper's `Connection` future finishing signalled).
//!
//! Behaviour follows Go's `net/http` transport, which is what Prometheus uses: response heads up
//! to 10 MiB (`MaxResponseHeaderBytes` 0 means `10 << 20` in `persistConn`), any number of
//! headers, 1xx interim responses skipped (their bytes count against the head limit, as in
//! Go 1.24+), `Connection: close` and HTTP/1.0 without keep-alive end reuse, bodies framed by
//! `Transfer-Encoding: chunked` (trailers read and discarded), `Content-Length` or the close of
//! the connection, and bytes arriving on an idle connection make it unusable ("unsolicited
//! response on idle HTTP channel"). Timeouts are the caller's: it wraps calls in the scrape
//! deadline. Every call is cancel-safe in the sense that matters: a call abandoned mid-way leaves
//! the connection marked unusable, never silently reusable.

mod error;
mod head;
mod request;
mod stream;

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use self::error::io_err;
pub use self::error::{Error, IdleEnd};
use self::head::Framing;
pub use self::head::{Head, Version};
pub use self::request::{Request, RequestError};
pub use self::stream::Stream;

/// Largest response head accepted, 1xx interim heads included: Go's client default.
pub const MAX_HEAD: usize = 10 << 20;
/// Longest chunk-size line (Go's `maxLineLength` in its chunked reader).
const MAX_CHUNK_LINE: usize = 4096;
/// Smallest read buffer a response starts with.
const MIN_READ: usize = 1024;
/// Body reads never use a buffer larger than this: a big page streams through it.
const MAX_READ: usize = 64 * 1024;
/// Read buffer of a connection's first response (nothing is known about the target yet).
const FIRST_READ: usize = 4096;

/// Read buffers between responses: a finished response's buffer waits here, per thread, for
/// the next request of the same size, instead of being freed and a zeroed one allocated
/// (`calloc` and its memset were 2 % of the CPU per scrape at 2,000 targets). Bounded in
/// count and bytes, so memory stays what the connections in flight need.
mod spare {
    use std::cell::RefCell;

    /// Most buffers kept per thread.
    const MAX_KEPT: usize = 64;
    /// Most bytes kept per thread.
    const MAX_BYTES: usize = 512 * 1024;

    thread_local! {
        static KEPT: RefCell<(Vec<Vec<u8>>, usize)> = const { RefCell::new((Vec::new(), 0)) };
    }

    /// A buffer of `len` initialised bytes (contents unspecified).
    pub(super) fn take(len: usize) -> Vec<u8> {
        KEPT.with_borrow_mut(|(kept, bytes)| {
            let i = kept.iter().rposition(|b| b.len() == len)?;
            *bytes -= len;
            Some(kept.swap_remove(i))
        })
        .unwrap_or_else(|| vec![0; len])
    }

    /// Keep `buf` for a later [`take`], or free it.
    pub(super) fn give(buf: Vec<u8>) {
        let len = buf.len();
        if len == 0 || len > super::MAX_READ {
            return;
        }
        KEPT.with_borrow_mut(|(kept, bytes)| {
            if kept.len() < MAX_KEPT && *bytes + len <= MAX_BYTES {
                *bytes += len;
                kept.push(buf);
            }
        });
    }
}

/// Where the body reader stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyState {
    /// Bytes left of a `Content-Length` body.
    Length(u64),
    /// Until EOF.
    Close,
    /// Expecting a chunk-size line.
    ChunkSize,
    /// Bytes left of the current chunk.
    ChunkData(u64),
    /// Expecting the CRLF after a chunk's data.
    ChunkEnd,
    /// Reading trailer lines; bytes of trailers so far.
    Trailers(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Ready for a request.
    Idle,
    /// Writing a request (abandoned here: unusable).
    Writing,
    /// Waiting for the response head.
    Head,
    /// Reading the body.
    Body(BodyState),
    /// The response ended and the connection may not be reused.
    Done,
    /// An error (or an abandoned call) left it unusable.
    Broken,
    /// The server closed it while idle.
    Closed,
}

/// One HTTP/1.1 client connection over a stream the caller owns (plain TCP or TLS).
///
/// Use: [`send`](Conn::send) a request and get the head, read the body with
/// [`body_chunk`](Conn::body_chunk) until it returns `None` (or [`drain`](Conn::drain) it), then
/// the connection is [`reusable`](Conn::is_reusable) unless the response or an error said
/// otherwise. Between requests, select on [`idle_closed`](Conn::idle_closed).
pub struct Conn<S> {
    io: S,
    /// Read buffer, fully initialised; empty (no allocation) between responses.
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// Bytes after `start` already searched for the end of a head without finding it.
    scan: usize,
    /// The last read filled all the room there was: the page is big, read more next time.
    last_read_full: bool,
    state: State,
    /// The current response lets the connection be reused (so far).
    keep_alive: bool,
    /// The current request went out on a connection that had completed responses before.
    reused: bool,
    /// Responses read to their end.
    requests: u64,
    /// Bytes received for the current response (heads included).
    resp_bytes: u64,
    /// Head bytes consumed for the current response (1xx heads included).
    head_bytes: usize,
    /// Read buffer size for the next response: what the last one needed.
    next_buf: u32,
    max_head: usize,
    /// 1xx responses allowed before the final one (`None`: any number).
    max_interim: Option<u32>,
    /// 1xx responses seen for the current request.
    interim: u32,
}

impl<S> std::fmt::Debug for Conn<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("state", &self.state)
            .field("requests", &self.requests)
            .field("buffer", &self.buf.capacity())
            .finish()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// A connection over an established stream (TCP connected, TLS handshake done).
    pub fn new(io: S) -> Self {
        Conn {
            io,
            buf: Vec::new(),
            start: 0,
            end: 0,
            scan: 0,
            last_read_full: false,
            state: State::Idle,
            keep_alive: true,
            reused: false,
            requests: 0,
            resp_bytes: 0,
            head_bytes: 0,
            next_buf: FIRST_READ as u32,
            max_head: MAX_HEAD,
            max_interim: None,
            interim: 0,
        }
    }

    /// Fail a response after more than `n` 1xx interim responses, as Go up to 1.23 does
    /// (`max1xxResponses` = 5; Prometheus 2.x builds). Go 1.24+ (Prometheus 3) has no count
    /// limit, only the head size limit over all of them: the default here.
    pub fn with_max_interim(mut self, n: Option<u32>) -> Self {
        self.max_interim = n;
        self
    }

    /// Accept response heads up to `limit` bytes instead of Go's 10 MiB.
    pub fn with_max_head(mut self, limit: usize) -> Self {
        self.max_head = limit.max(64);
        self
    }

    /// The stream (for its fd or addresses).
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The stream back; buffered bytes, if any, are lost.
    pub fn into_inner(self) -> S {
        self.io
    }

    /// Responses read to their end on this connection.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Whether a new request may be sent: idle, and nothing said the connection must close.
    pub fn is_reusable(&self) -> bool {
        self.state == State::Idle
    }

    /// Capacity of the read buffer now (0 between responses).
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Bytes received for the current (or last) response, heads included.
    pub fn response_bytes(&self) -> u64 {
        self.resp_bytes
    }

    /// Whether the request that just failed with `e` may be sent again on a fresh connection,
    /// as Go's transport does: this connection had been used before (so the server may have
    /// closed it as idle just as the request went out) and not a byte of the response came.
    pub fn retry_allowed(&self, e: &Error) -> bool {
        self.reused
            && self.resp_bytes == 0
            && matches!(e, Error::Closed | Error::Reset { .. } | Error::Io { .. })
    }

    /// Send `req` and read the response head, skipping 1xx interim responses. The body follows
    /// with [`body_chunk`](Conn::body_chunk).
    pub async fn send(&mut self, req: &Request) -> Result<Head, Error> {
        match self.state {
            State::Idle => {}
            State::Closed => return Err(Error::NotReady("closed by the server while idle")),
            State::Done => return Err(Error::NotReady("the last response closed it")),
            State::Broken => return Err(Error::NotReady("broken by an earlier error")),
            State::Writing | State::Head | State::Body(_) => {
                return Err(Error::NotReady("the last response was not read to its end"));
            }
        }
        self.reused = self.requests > 0;
        self.resp_bytes = 0;
        self.head_bytes = 0;
        self.interim = 0;
        self.keep_alive = !req.close();
        self.state = State::Writing;
        let written = async {
            self.io.write_all(req.as_bytes()).await?;
            self.io.flush().await
        }
        .await;
        if let Err(e) = written {
            self.state = State::Broken;
            return Err(io_err("write", e));
        }
        self.state = State::Head;
        self.buf = spare::take(self.next_buf as usize);
        self.start = 0;
        self.end = 0;
        self.scan = 0;
        self.last_read_full = false;
        poll_fn(|cx| self.poll_head(cx)).await
    }

    /// The next piece of the body as received (after de-chunking), or `None` at its end. Read
    /// until `None`: only then is the connection reusable.
    pub async fn body_chunk(&mut self) -> Result<Option<&[u8]>, Error> {
        let range = poll_fn(|cx| self.poll_body(cx)).await?;
        Ok(range.map(|(a, b)| &self.buf[a..b]))
    }

    /// Read and discard the rest of the body, so the connection can be reused (what
    /// Prometheus does with a non-200 response). Returns the bytes discarded. Bound it with the
    /// scrape deadline: a server may send forever.
    pub async fn drain(&mut self) -> Result<u64, Error> {
        let mut n = 0u64;
        while let Some(r) = poll_fn(|cx| self.poll_body(cx)).await? {
            n += (r.1 - r.0) as u64;
        }
        Ok(n)
    }

    /// Read and discard at most about `max` more bytes of the body: `true` if the body ended
    /// within them (the connection is then reusable), otherwise the connection is given up.
    /// Go's client does this with a redirect's body before following it (`maxBodySlurpSize`,
    /// 2 KiB): a longer body costs the connection.
    pub async fn drain_limit(&mut self, max: u64) -> Result<bool, Error> {
        let mut n = 0u64;
        while let Some(r) = poll_fn(|cx| self.poll_body(cx)).await? {
            n += (r.1 - r.0) as u64;
            if n > max {
                self.state = State::Broken;
                self.release_buf();
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Resolves when the idle connection ends without a request: the server closed or reset
    /// it, or sent bytes nobody asked for. Pending while it stays open. Select on it between
    /// scrapes; dropping the future is harmless.
    pub fn idle_closed(&mut self) -> impl Future<Output = IdleEnd> + '_ {
        poll_fn(|cx| self.poll_idle_closed(cx))
    }

    /// Poll form of [`idle_closed`](Conn::idle_closed).
    pub fn poll_idle_closed(&mut self, cx: &mut Context<'_>) -> Poll<IdleEnd> {
        match self.state {
            State::Idle => {}
            State::Closed => return Poll::Ready(IdleEnd::Closed),
            _ => return Poll::Ready(IdleEnd::NotIdle),
        }
        let mut probe = [0u8; 1];
        let mut rb = ReadBuf::new(&mut probe);
        let end = match ready!(Pin::new(&mut self.io).poll_read(cx, &mut rb)) {
            Ok(()) if rb.filled().is_empty() => {
                self.state = State::Closed;
                return Poll::Ready(IdleEnd::Closed);
            }
            Ok(()) => IdleEnd::Unsolicited,
            Err(e) => match io_err("read", e) {
                Error::Reset { source, .. } => IdleEnd::Reset(source),
                Error::Io { source, .. } => IdleEnd::Error(source),
                _ => IdleEnd::Closed,
            },
        };
        self.state = State::Broken;
        Poll::Ready(end)
    }

    /// Look once, without waiting, whether the idle connection has ended (for a connection
    /// taken from a pool nobody watched). Best effort: an end the runtime has not yet seen
    /// is found by the request itself, and [`retry_allowed`](Conn::retry_allowed) covers it.
    pub fn check_idle(&mut self) -> Option<IdleEnd> {
        let mut cx = Context::from_waker(Waker::noop());
        match self.poll_idle_closed(&mut cx) {
            Poll::Ready(e) => Some(e),
            Poll::Pending => None,
        }
    }

    fn fail<T>(&mut self, e: Error) -> Poll<Result<T, Error>> {
        self.state = State::Broken;
        self.release_buf();
        Poll::Ready(Err(e))
    }

    fn release_buf(&mut self) {
        spare::give(std::mem::take(&mut self.buf));
        self.start = 0;
        self.end = 0;
        self.scan = 0;
    }

    /// The response was read to its end.
    fn finish(&mut self) {
        self.requests += 1;
        if self.start != self.end {
            // Bytes past the response: Go sees them as an unsolicited response on an idle
            // connection and closes it.
            self.keep_alive = false;
        }
        self.next_buf = usize::try_from(self.resp_bytes)
            .unwrap_or(MAX_READ)
            .clamp(MIN_READ, MAX_READ)
            .next_power_of_two() as u32;
        self.release_buf();
        self.state = if self.keep_alive {
            State::Idle
        } else {
            State::Done
        };
    }

    /// Read more bytes into the buffer, making room first (compacting, or growing when the
    /// buffer is full of bytes still needed: a long head or line). Returns 0 at EOF.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<usize, Error>> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.last_read_full && self.buf.len() < MAX_READ {
                // The page did not fit in one read: read it in larger pieces.
                self.buf.resize(self.buf.len() * 2, 0);
            }
        }
        if self.end == self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let grown = (self.buf.len() * 2).max(MIN_READ);
            self.buf.resize(grown, 0);
        }
        let room = self.buf.len() - self.end;
        let mut rb = ReadBuf::new(&mut self.buf[self.end..]);
        match ready!(Pin::new(&mut self.io).poll_read(cx, &mut rb)) {
            Ok(()) => {
                let n = rb.filled().len();
                self.end += n;
                self.resp_bytes += n as u64;
                self.last_read_full = n == room;
                Poll::Ready(Ok(n))
            }
            Err(e) => Poll::Ready(Err(io_err("read", e))),
        }
    }

    fn poll_head(&mut self, cx: &mut Context<'_>) -> Poll<Result<Head, Error>> {
        loop {
            let avail = &self.buf[self.start..self.end];
            if let Some(len) = find_head_end(avail, &mut self.scan) {
                if self.head_bytes + len > self.max_head {
                    let limit = self.max_head;
                    return self.fail(Error::HeadTooLarge { limit });
                }
                let head = match Head::parse(&avail[..len]) {
                    Ok(h) => h,
                    Err(e) => return self.fail(e),
                };
                self.start += len;
                self.scan = 0;
                self.head_bytes += len;
                let status = head.status();
                if (100..200).contains(&status) && status != 101 {
                    // Interim (100 Continue, 103 Early Hints): the real one follows.
                    self.interim += 1;
                    if self.max_interim.is_some_and(|m| self.interim > m) {
                        return self.fail(Error::TooManyInterim);
                    }
                    continue;
                }
                let framing = match head.framing() {
                    Ok(f) => f,
                    Err(e) => return self.fail(e),
                };
                if !head.keep_alive() || status == 101 {
                    self.keep_alive = false;
                }
                match framing {
                    Framing::Empty => self.finish(),
                    Framing::Length(n) => self.state = State::Body(BodyState::Length(n)),
                    Framing::Chunked => self.state = State::Body(BodyState::ChunkSize),
                    Framing::Close => {
                        self.keep_alive = false;
                        self.state = State::Body(BodyState::Close);
                    }
                }
                return Poll::Ready(Ok(head));
            }
            // No end of head in `avail`: the head is longer than what is buffered.
            if self.head_bytes + avail.len() >= self.max_head {
                let limit = self.max_head;
                return self.fail(Error::HeadTooLarge { limit });
            }
            match ready!(self.poll_fill(cx)) {
                Ok(0) if self.resp_bytes == 0 => return self.fail(Error::Closed),
                Ok(0) => return self.fail(Error::UnexpectedEof),
                Ok(_) => {}
                Err(e) => return self.fail(e),
            }
        }
    }

    /// The next body piece as a range of `buf`, or `None` at the end of the body.
    fn poll_body(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<(usize, usize)>, Error>> {
        loop {
            let body = match self.state {
                State::Body(b) => b,
                State::Idle | State::Done => return Poll::Ready(Ok(None)),
                State::Closed | State::Broken => {
                    return Poll::Ready(Err(Error::NotReady("no response to read")));
                }
                State::Writing | State::Head => {
                    return self.fail(Error::NotReady("the response head was not read"));
                }
            };
            let avail = self.end - self.start;
            match body {
                BodyState::Length(0) => {
                    self.finish();
                    return Poll::Ready(Ok(None));
                }
                BodyState::Length(left) | BodyState::ChunkData(left) if avail > 0 => {
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(avail);
                    let r = (self.start, self.start + n);
                    self.start += n;
                    let left = left - n as u64;
                    self.state = State::Body(match body {
                        BodyState::Length(_) => BodyState::Length(left),
                        _ if left == 0 => BodyState::ChunkEnd,
                        _ => BodyState::ChunkData(left),
                    });
                    return Poll::Ready(Ok(Some(r)));
                }
                BodyState::Close if avail > 0 => {
                    let r = (self.start, self.end);
                    self.start = self.end;
                    return Poll::Ready(Ok(Some(r)));
                }
                BodyState::ChunkSize => {
                    let avail = &self.buf[self.start..self.end];
                    if let Some(i) = avail.iter().position(|&b| b == b'\n') {
                        if i >= MAX_CHUNK_LINE {
                            return self.fail(Error::Chunk("header line too long"));
                        }
                        let size = match parse_chunk_size(&avail[..i]) {
                            Ok(s) => s,
                            Err(m) => return self.fail(Error::Chunk(m)),
                        };
                        self.start += i + 1;
                        self.state = State::Body(if size == 0 {
                            BodyState::Trailers(0)
                        } else {
                            BodyState::ChunkData(size)
                        });
                        continue;
                    }
                    if avail.len() >= MAX_CHUNK_LINE {
                        return self.fail(Error::Chunk("header line too long"));
                    }
                }
                BodyState::ChunkEnd if avail >= 2 => {
                    if &self.buf[self.start..self.start + 2] != b"\r\n" {
                        return self.fail(Error::Chunk("malformed chunked encoding"));
                    }
                    self.start += 2;
                    self.state = State::Body(BodyState::ChunkSize);
                    continue;
                }
                BodyState::Trailers(seen) => {
                    let avail = &self.buf[self.start..self.end];
                    if let Some(i) = avail.iter().position(|&b| b == b'\n') {
                        let empty = i == 0 || (i == 1 && avail[0] == b'\r');
                        self.start += i + 1;
                        if empty {
                            self.finish();
                            return Poll::Ready(Ok(None));
                        }
                        let seen = seen + i + 1;
                        if self.head_bytes + seen > self.max_head {
                            let limit = self.max_head;
                            return self.fail(Error::HeadTooLarge { limit });
                        }
                        self.state = State::Body(BodyState::Trailers(seen));
                        continue;
                    }
                    if self.head_bytes + seen + avail.len() >= self.max_head {
                        let limit = self.max_head;
                        return self.fail(Error::HeadTooLarge { limit });
                    }
                }
                _ => {}
            }
            // More bytes are needed.
            match ready!(self.poll_fill(cx)) {
                Ok(0) if body == BodyState::Close => {
                    self.keep_alive = false;
                    self.finish();
                    return Poll::Ready(Ok(None));
                }
                Ok(0) => return self.fail(Error::UnexpectedEof),
                Ok(_) => {}
                Err(e) => return self.fail(e),
            }
        }
    }
}

/// The length of the head at the start of `buf` (through the empty line), if complete.
/// `scan` remembers how far the search got, so a head arriving in many reads is searched once.
fn find_head_end(buf: &[u8], scan: &mut usize) -> Option<usize> {
    let mut i = *scan;
    while let Some(p) = buf.get(i..)?.iter().position(|&b| b == b'\n') {
        let nl = i + p;
        match (buf.get(nl + 1), buf.get(nl + 2)) {
            (Some(b'\n'), _) => return Some(nl + 2),
            (Some(b'\r'), Some(b'\n')) => return Some(nl + 3),
            (None, _) | (Some(b'\r'), None) => {
                // Could still become the end: look again from this newline.
                *scan = nl;
                return None;
            }
            _ => i = nl + 1,
        }
    }
    *scan = buf.len();
    None
}

/// A chunk-size line (without its `\n`) as Go's chunked reader reads it: trailing
/// whitespace and extensions dropped, then hex.
fn parse_chunk_size(line: &[u8]) -> Result<u64, &'static str> {
    let line = line.trim_ascii_end();
    let line = match line.iter().position(|&b| b == b';') {
        Some(i) => line[..i].trim_ascii_end(),
        None => line,
    };
    if line.is_empty() {
        return Err("empty hex number for chunk length");
    }
    if line.len() > 16 {
        return Err("http chunk length too large");
    }
    let mut n = 0u64;
    for &b in line {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return Err("invalid byte in chunk length"),
        };
        n = n << 4 | u64::from(d);
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_end_is_found_across_reads() {
        let head = b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody";
        for split in 0..head.len() {
            let mut scan = 0;
            let first = find_head_end(&head[..split], &mut scan);
            let got = first.or_else(|| find_head_end(head, &mut scan));
            assert_eq!(got, Some(25), "split at {split}");
        }
        let mut scan = 0;
        assert_eq!(find_head_end(b"HTTP/1.0 200 OK\n\nx", &mut scan), Some(17));
    }

    #[test]
    fn chunk_sizes_as_go() {
        assert_eq!(parse_chunk_size(b"1a\r"), Ok(26));
        assert_eq!(parse_chunk_size(b"5;name=value\r"), Ok(5));
        assert_eq!(parse_chunk_size(b"0"), Ok(0));
        assert!(parse_chunk_size(b"\r").is_err());
        assert!(parse_chunk_size(b"x1\r").is_err());
        assert!(parse_chunk_size(b"11111111111111111\r").is_err());
    }
}

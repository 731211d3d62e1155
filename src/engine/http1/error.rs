//! How a request, a response or an idle connection ended.

use std::io;

/// Why a request or a response failed. After any error the connection is unusable.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server closed the connection before sending any byte of the response. On a reused
    /// connection this is the idle-close race Go retries ([`Conn::retry_allowed`](super::Conn::retry_allowed)).
    #[error("EOF")]
    Closed,
    /// The server closed the connection in the middle of a response (head or body).
    #[error("unexpected EOF")]
    UnexpectedEof,
    /// The connection was reset (RST, or a write after the server closed it).
    #[error("{op}: connection reset by peer")]
    Reset {
        /// `read` or `write`.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Another I/O error (TLS errors from a rustls stream arrive here too).
    #[error("{op}: {source}")]
    Io {
        /// `read` or `write`.
        op: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The status line or a header line does not parse (Go's wording).
    #[error("{0}")]
    MalformedHead(String),
    /// The head (with any 1xx heads before it) is larger than the limit.
    #[error("net/http: server response headers exceeded {limit} bytes; aborted")]
    HeadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The chunked body is malformed (Go's wording).
    #[error("{0}")]
    Chunk(&'static str),
    /// More 1xx interim responses than allowed ([`Conn::with_max_interim`](super::Conn::with_max_interim)).
    #[error("net/http: too many 1xx informational responses")]
    TooManyInterim,
    /// Conflicting or invalid body framing (Content-Length, Transfer-Encoding).
    #[error("{0}")]
    Framing(String),
    /// The connection cannot take a request now (a previous response was not read to its end,
    /// an earlier error, or the server closed it).
    #[error("connection not usable: {0}")]
    NotReady(&'static str),
}

impl Error {
    /// A reset, or an EOF before or during the response: the connection broke under it.
    pub fn is_reset_or_eof(&self) -> bool {
        matches!(
            self,
            Error::Closed | Error::UnexpectedEof | Error::Reset { .. }
        )
    }
}

pub(super) fn io_err(op: &'static str, e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => Error::Reset { op, source: e },
        io::ErrorKind::UnexpectedEof => Error::UnexpectedEof,
        _ => Error::Io { op, source: e },
    }
}

/// How an idle connection ended, as [`Conn::idle_closed`](super::Conn::idle_closed) reports it.
#[derive(Debug)]
pub enum IdleEnd {
    /// The server closed it (EOF; for TLS, close_notify or EOF).
    Closed,
    /// It was reset.
    Reset(io::Error),
    /// The server sent bytes without a request: Go drops such a connection.
    Unsolicited,
    /// Another read error.
    Error(io::Error),
    /// The connection is not idle (a response is under way, or it already ended): nothing to
    /// watch.
    NotIdle,
}

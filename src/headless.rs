//! Headless mode: one JSON object per line on stdout for every event, commands as JSON lines
//! on stdin.
//!
//! Nothing a consumer does may stop `quit`, SIGINT or SIGTERM from working, and no input may
//! grow memory without bound:
//! - stdin is read in lines of at most [`MAX_LINE`] bytes; a longer line is discarded as it
//!   streams (never buffered) and a line that is not UTF-8 is reported, and reading goes on;
//! - stdout is written by a thread of its own from a bounded queue: a consumer that stops
//!   reading loses events (counted and reported as `dropped`, and in the log at exit), it never
//!   blocks the engine or the exit path;
//! - everything written (events, `error`s for bad lines, `state` answers) goes through one
//!   ordered path, and a command is handed to the engine only after the lines before it have
//!   been answered, so an `error` never arrives after a later command's `command_ack`;
//! - the engine's command queue is bounded ([`crate::engine::COMMAND_QUEUE`]): when it is full,
//!   the command waits in a small outbox and stdin is not read until it is taken, so a flood
//!   of commands slows its writer (a full pipe) instead of growing memory or being dropped;
//!   events keep being written meanwhile, and SIGINT/SIGTERM still quit.

use std::collections::VecDeque;
use std::io::Write;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};

use crate::event::{Command, Event, EventKind};
use crate::model::Model;
use crate::source::{Capabilities, SourceHandle};

/// How long the writer lets events gather after a partial batch: bounds its wake-ups (and
/// the stdout thread's) to about 10 a second while adding at most this much delay to an
/// event (or to the answer to a command). A wake-up costs ~25 µs of CPU on this VM: at 10 ms
/// they were 200 a second, ~1 µs per scrape at 2,000 targets.
const BATCH_PAUSE: Duration = Duration::from_millis(100);

/// Most events taken from the source in one turn (more than a pause's worth at 10,000
/// targets scraped every second).
const BATCH: usize = 4096;

/// The longest command line read; the rest of a longer line is discarded unread into memory.
/// Commands are a few dozen bytes: 1 MiB leaves room for any path while bounding memory.
pub const MAX_LINE: usize = 1 << 20;

/// How much of a bad line an `error` event quotes (after redaction).
const ECHO_MAX: usize = 200;

/// How much of an over-long line is kept for the quote, so that a URL's userinfo is still
/// seen whole by the redaction even when it does not fit in the quote.
const KEEP_OF_LONG: usize = 4096;

/// After `quit` (or SIGINT, SIGTERM, the end of stdin with `--exit-on-eof`): how long the
/// engine gets to close its connections before the process leaves without it.
const QUIT_GRACE: Duration = Duration::from_secs(3);

/// At exit: how long a slow consumer gets to take the events still queued for it.
const FLUSH_GRACE: Duration = Duration::from_millis(1500);

/// Serialized events are handed to the stdout thread in chunks of about this size…
const CHUNK_BYTES: usize = 1 << 16;

/// …through a queue of at most this many bytes; a chunk that does not fit is dropped and
/// counted. 16 MiB is about what the engine's own channel (65,536 events) holds, so a reader
/// that only hiccups (the soak's Python reader during 1,000 reconnects) loses nothing, while a
/// reader that stopped costs at most this much memory.
const QUEUE_BYTES: usize = 16 << 20;

/// At most this many stdin lines are taken per turn of the loop, so events still get their
/// turn during a burst of commands.
const STEPS_PER_TURN: usize = 256;

/// Every command the headless reader accepts, for error messages.
const COMMANDS: &str = "reconnect, re_resolve, probe, pause, resume, reload, load, quit, state";

/// A line on stdin: an engine command, or `{"cmd":"state"}` answered from the model.
#[derive(Debug, PartialEq)]
pub enum Input {
    /// For the engine.
    Engine(Command),
    /// Print the model's state as a `state` event.
    State,
}

/// Parse one command line for the engine (`state` is not one). Errors are user-facing.
pub fn parse_command(line: &str) -> Result<Command, String> {
    match parse_input(line)? {
        Input::Engine(c) => Ok(c),
        Input::State => Err(format!(
            "bad command {}: state is answered by the headless reader",
            echo(line)
        )),
    }
}

/// Parse one input line. Errors are user-facing; they quote the line redacted and truncated.
///
/// Every command refuses fields it does not take (serde ignores extra fields of unit variants
/// of an internally tagged enum, so they are checked here for all commands alike).
pub fn parse_input(line: &str) -> Result<Input, String> {
    // serde's messages quote values (`invalid type: string "…"`): cut and redacted too.
    let bad = |why: String| {
        format!(
            "bad command {}: {}",
            echo(line),
            cut(&crate::redact::text(&why))
        )
    };
    let obj: serde_json::Map<String, Value> =
        serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
    let cmd = match obj.get("cmd") {
        Some(Value::String(c)) => c.as_str(),
        Some(_) => return Err(bad("\"cmd\" must be a string".into())),
        None => return Err(bad(format!("no \"cmd\"; valid commands: {COMMANDS}"))),
    };
    let fields: &[&str] = match cmd {
        "reconnect" | "re_resolve" | "probe" => &["target", "job", "instance"],
        "load" => &["path", "replace"],
        "pause" | "resume" | "reload" | "quit" | "state" => &[],
        other => {
            return Err(bad(format!(
                "unknown command {}; valid commands: {COMMANDS}",
                echo(other)
            )));
        }
    };
    if let Some(k) = obj
        .keys()
        .find(|k| *k != "cmd" && !fields.contains(&k.as_str()))
    {
        let expected = if fields.is_empty() {
            "none".to_owned()
        } else {
            fields.join(", ")
        };
        return Err(bad(format!(
            "unknown field {} for {cmd} (its fields: {expected})",
            echo(k)
        )));
    }
    if cmd == "state" {
        return Ok(Input::State);
    }
    serde_json::from_value::<Command>(Value::Object(obj))
        .map(Input::Engine)
        .map_err(|e| bad(e.to_string()))
}

/// Quote user input in an error: redacted as every other echo is (userinfo, and every quoted
/// value when the line names an auth key), at most `ECHO_MAX` bytes of it.
pub fn echo(s: &str) -> String {
    let r = crate::redact::text(s);
    if r.len() <= ECHO_MAX {
        return format!("{r:?}");
    }
    format!(
        "{:?}… (cut at {ECHO_MAX} bytes)",
        &r[..floor_char(&r, ECHO_MAX)]
    )
}

/// `s` cut to at most [`ECHO_MAX`] bytes, marked when cut.
fn cut(s: &str) -> String {
    match s.len() <= ECHO_MAX {
        true => s.to_owned(),
        false => format!("{}…", &s[..floor_char(s, ECHO_MAX)]),
    }
}

/// The largest char boundary of `s` at or below `at`.
fn floor_char(s: &str, mut at: usize) -> usize {
    at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Reads lines of at most `max` bytes from a byte stream; see [`LineReader::next_line`].
pub struct LineReader<R> {
    inner: R,
    max: usize,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    /// Lines of at most `max` bytes (without the newline).
    pub fn new(inner: R, max: usize) -> Self {
        LineReader { inner, max }
    }

    /// The next line without its `\n`: `Ok(text)`, or `Err(message)` for a line that is not
    /// UTF-8 or is longer than `max` (whose rest is consumed without being kept); `None` at
    /// the end of the stream. Memory held is at most `max` + 1 bytes whatever the input.
    pub async fn next_line(&mut self) -> std::io::Result<Option<Result<String, String>>> {
        let mut line = Vec::new();
        let mut total = 0usize;
        loop {
            let buf = self.inner.fill_buf().await?;
            if buf.is_empty() {
                if total == 0 {
                    return Ok(None);
                }
                break;
            }
            let (chunk, used, end) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..i], i + 1, true),
                None => (buf, buf.len(), false),
            };
            let room = (self.max + 1).saturating_sub(line.len());
            line.extend_from_slice(&chunk[..chunk.len().min(room)]);
            total = total.saturating_add(chunk.len());
            self.inner.consume(used);
            if end {
                break;
            }
        }
        if total > self.max {
            line.truncate(KEEP_OF_LONG);
            return Ok(Some(Err(format!(
                "command line longer than {} bytes ({total} bytes), discarded: {}",
                self.max,
                echo(&String::from_utf8_lossy(&line))
            ))));
        }
        Ok(Some(String::from_utf8(line).map_err(|e| {
            format!(
                "command line is not valid UTF-8 (bad byte at offset {}): {}",
                e.utf8_error().valid_up_to(),
                echo(&String::from_utf8_lossy(e.as_bytes()))
            )
        })))
    }
}

/// What the headless loop is told, in the order it happened.
enum Step {
    /// A line from stdin, or the reason it was refused.
    Line(Result<String, String>),
    /// stdin ended.
    Eof,
}

/// Commands the engine's queue had no room for, in order. While one from stdin waits, stdin is
/// not read, so it holds at most that one plus a quit and a reload from signals (a quit or
/// reload already waiting is not kept twice): never more than three, whatever the input.
#[derive(Debug, Default)]
struct Outbox {
    waiting: VecDeque<Command>,
}

impl Outbox {
    /// Hand `c` to the engine now if nothing waits before it and the queue has room; else keep
    /// it. A closed queue (the engine is gone) takes nothing: there is nobody to tell.
    fn send(&mut self, tx: &mpsc::Sender<Command>, c: Command) {
        let c = if self.waiting.is_empty() {
            match tx.try_send(c) {
                Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => return,
                Err(mpsc::error::TrySendError::Full(c)) => c,
            }
        } else {
            c
        };
        let repeat = matches!(c, Command::Quit | Command::Reload) && self.waiting.contains(&c);
        if !repeat {
            self.waiting.push_back(c);
        }
    }

    /// Whether stdin may be read: nothing waits.
    fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// With room for one (`permit`), hand over the first waiting command, then as many more as
    /// fit.
    fn flush(&mut self, permit: mpsc::Permit<'_, Command>, tx: &mpsc::Sender<Command>) {
        if let Some(c) = self.waiting.pop_front() {
            permit.send(c);
        }
        while let Some(c) = self.waiting.pop_front() {
            if let Err(e) = tx.try_send(c) {
                if let mpsc::error::TrySendError::Full(c) = e {
                    self.waiting.push_front(c);
                }
                return;
            }
        }
    }
}

/// Serialized events on their way to the stdout thread.
struct Chunk {
    bytes: Vec<u8>,
    /// Events in `bytes`, not counting a `dropped` report.
    events: u64,
}

/// The ordered output path: events are serialized here and handed to the stdout thread
/// without ever waiting for it.
struct Output {
    buf: Vec<u8>,
    events_in_buf: u64,
    tx: Option<std::sync::mpsc::Sender<Chunk>>,
    /// Bytes handed to the stdout thread and not yet written.
    pending: Arc<AtomicUsize>,
    /// Events lost and not yet reported to the consumer as `dropped`.
    unreported: u64,
    /// Events lost in this run.
    dropped: u64,
    /// Events handed to the stdout thread.
    queued: u64,
}

impl Output {
    fn push(&mut self, ev: &impl Serialize) {
        let mark = self.buf.len();
        if let Err(e) = serde_json::to_writer(&mut self.buf, ev) {
            self.buf.truncate(mark);
            tracing::warn!("an event could not be serialized: {e}");
            return;
        }
        self.buf.push(b'\n');
        self.events_in_buf += 1;
        if self.buf.len() >= CHUNK_BYTES {
            self.hand_over();
        }
    }

    /// Give what is serialized to the stdout thread, or drop it (counted) if its queue is full.
    fn hand_over(&mut self) {
        if self.events_in_buf == 0 && self.unreported == 0 {
            return;
        }
        let events = std::mem::take(&mut self.events_in_buf);
        let report = (self.unreported > 0).then(|| {
            let ev = Event::now(
                None,
                EventKind::Dropped {
                    count: self.unreported,
                },
            );
            let mut b = serde_json::to_vec(&ev).unwrap_or_default();
            b.push(b'\n');
            b
        });
        let report = report.unwrap_or_default();
        let len = report.len() + self.buf.len();
        // A chunk larger than the whole queue (a `state` answer at 10,000 targets is tens of
        // MiB) goes through when nothing else waits: it is in memory already, and dropping it
        // would lose every answer at that size however fast the reader is.
        let pending = self.pending.load(Ordering::Relaxed);
        let fits = pending + len <= QUEUE_BYTES || pending == 0;
        let sent = match &self.tx {
            Some(tx) if fits => {
                // An exact-size copy: the queue's memory is what it holds, not 64 KiB a chunk.
                let mut bytes = Vec::with_capacity(len);
                bytes.extend_from_slice(&report);
                bytes.extend_from_slice(&self.buf);
                self.pending.fetch_add(len, Ordering::Relaxed);
                let ok = tx.send(Chunk { bytes, events }).is_ok();
                if !ok {
                    self.pending.fetch_sub(len, Ordering::Relaxed);
                }
                ok
            }
            _ => false,
        };
        self.buf.clear();
        if self.buf.capacity() > 4 * CHUNK_BYTES {
            // A big `state` answer went through: do not keep its buffer for the whole run.
            self.buf = Vec::with_capacity(CHUNK_BYTES);
        }
        if sent {
            self.queued += events;
            self.unreported = 0;
            return;
        }
        if self.dropped == 0 {
            tracing::warn!(
                "stdout is not read fast enough: dropping events (counted, reported as `dropped`)"
            );
        }
        self.unreported += events;
        self.dropped += events;
    }
}

/// Start the thread that writes stdout. It ends when the queue closes or a write fails; its
/// result arrives on the returned receiver. It writes through its own descriptor (a duplicate
/// of stdout), so a write blocked forever holds no lock that the exit path would need.
fn spawn_writer(
    written: Arc<AtomicU64>,
    pending: Arc<AtomicUsize>,
) -> std::io::Result<(
    std::sync::mpsc::Sender<Chunk>,
    oneshot::Receiver<std::io::Result<()>>,
)> {
    let mut file = std::fs::File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
    // Unbounded in count, bounded in bytes by `Output::hand_over`.
    let (tx, rx) = std::sync::mpsc::channel::<Chunk>();
    let (done_tx, done_rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("stdout".into())
        .spawn(move || {
            let res = rx.iter().try_for_each(|c| {
                file.write_all(&c.bytes)?;
                pending.fetch_sub(c.bytes.len(), Ordering::Relaxed);
                written.fetch_add(c.events, Ordering::Relaxed);
                Ok(())
            });
            let _ = done_tx.send(res);
        })?;
    Ok((tx, done_rx))
}

/// Run until `quit`, a signal, or (with `exit_on_eof`) the end of stdin. `metrics`, when
/// given, is handed the model after each batch (it reads it at most once a second).
// Over 100 lines: one select loop whose arms share the output, the model and the quit
// deadline; split up, that state would have to travel through every piece.
pub async fn run(
    source: SourceHandle,
    exit_on_eof: bool,
    metrics: Option<crate::metrics::Publisher>,
) -> anyhow::Result<()> {
    let SourceHandle {
        commands,
        mut events,
        done,
        capabilities,
    } = source;
    let (step_tx, mut steps) = mpsc::channel::<Step>(64);
    // Signals have their own channel: it is read even while stdin waits for the engine.
    let (signal_tx, mut signals) = mpsc::channel::<Command>(4);

    spawn_stdin_reader(step_tx);
    // Registered before any event is written, so a signal is never missed.
    spawn_signal_forwarder(signal_tx)?;

    let written = Arc::new(AtomicU64::new(0));
    let pending = Arc::new(AtomicUsize::new(0));
    let (tx, mut writer_done) = spawn_writer(written.clone(), pending.clone())?;
    let mut out = Output {
        buf: Vec::with_capacity(CHUNK_BYTES),
        events_in_buf: 0,
        tx: Some(tx),
        pending,
        unreported: 0,
        dropped: 0,
        queued: 0,
    };
    let mut writer_finished = false;
    let mut write_error: Option<std::io::Error> = None;
    let mut quit_by: Option<tokio::time::Instant> = None;
    let mut outbox = Outbox::default();
    // The quit deadline runs from when quit is asked, not from when the engine takes it.
    let forward = |c: Command, outbox: &mut Outbox, quit_by: &mut Option<tokio::time::Instant>| {
        if c == Command::Quit {
            quit_by.get_or_insert_with(|| tokio::time::Instant::now() + QUIT_GRACE);
        }
        outbox.send(&commands, c);
    };

    let mut batch = Vec::with_capacity(BATCH);
    let mut model = Model::new();
    model.log_scrapes = false;
    loop {
        let quit_deadline = quit_by.unwrap_or_else(tokio::time::Instant::now);
        tokio::select! {
            n = events.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    break;
                }
                for ev in batch.drain(..) {
                    out.push(&ev);
                    model.apply(ev);
                }
                if let Some(m) = &metrics {
                    m.publish(&model);
                }
                if n < BATCH {
                    // A partial batch: let events gather for a moment rather than waking up
                    // for each one (at 10,000 targets every scrape would wake this thread).
                    out.hand_over();
                    tokio::time::sleep(BATCH_PAUSE).await;
                }
            }
            permit = commands.reserve(), if !outbox.is_empty() => match permit {
                Ok(p) => outbox.flush(p, &commands),
                // The engine is gone: nothing waiting can be carried out.
                Err(_) => outbox = Outbox::default(),
            },
            Some(c) = signals.recv() => forward(c, &mut outbox, &mut quit_by),
            Some(first) = steps.recv(), if outbox.is_empty() => {
                // Up to STEPS_PER_TURN lines a turn (one a turn would cap a burst of
                // commands at a few thousand a second), stopping when the engine's queue
                // is full.
                let (mut next, mut taken) = (Some(first), 0);
                while let Some(step) = next.take() {
                    match step {
                        Step::Line(Ok(text)) => {
                            let text = text.trim();
                            if !text.is_empty() {
                                // A command the source cannot carry out is answered, not
                                // sent.
                                match checked_input(text, &capabilities) {
                                    Ok(Input::Engine(c)) => {
                                        // What is answered so far goes out before the
                                        // command's effects can.
                                        out.hand_over();
                                        forward(c, &mut outbox, &mut quit_by);
                                    }
                                    Ok(Input::State) => out.push(&state_event(&model)),
                                    Err(error) => {
                                        out.push(&Event::now(None, EventKind::Error { error }))
                                    }
                                }
                            }
                        }
                        Step::Line(Err(error)) => {
                            out.push(&Event::now(None, EventKind::Error { error }))
                        }
                        Step::Eof => {
                            if exit_on_eof {
                                forward(Command::Quit, &mut outbox, &mut quit_by);
                            }
                        }
                    }
                    taken += 1;
                    if taken < STEPS_PER_TURN && outbox.is_empty() {
                        next = steps.try_recv().ok();
                    }
                }
            }
            res = &mut writer_done, if !writer_finished => {
                writer_finished = true;
                out.tx = None;
                let e = match res {
                    Ok(Err(e)) => e,
                    _ => std::io::Error::other("the stdout writer stopped"),
                };
                tracing::warn!("writing stdout: {e}; quitting");
                write_error = Some(e);
                forward(Command::Quit, &mut outbox, &mut quit_by);
            }
            _ = tokio::time::sleep_until(quit_deadline), if quit_by.is_some() => {
                tracing::warn!(
                    "the engine did not stop within {} s of quit; leaving without it",
                    QUIT_GRACE.as_secs()
                );
                break;
            }
        }
        // Hand over once the burst is written, so a reader sees events promptly.
        if events.is_empty() {
            out.hand_over();
        }
    }
    out.hand_over();
    let Output {
        tx,
        dropped,
        queued,
        ..
    } = out;
    drop(tx);
    if !writer_finished
        && let Ok(Ok(Err(e))) = tokio::time::timeout(FLUSH_GRACE, &mut writer_done).await
    {
        write_error = Some(e);
    }
    warn_if_behind(
        dropped,
        queued.saturating_sub(written.load(Ordering::Relaxed)),
    );
    drop(commands);
    let _ = tokio::time::timeout(Duration::from_secs(1), done).await;
    match write_error {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// Read stdin line by line (bounded lines) into `tx`, ending with [`Step::Eof`].
fn spawn_stdin_reader(tx: mpsc::Sender<Step>) {
    tokio::spawn(async move {
        let mut lines = LineReader::new(tokio::io::BufReader::new(tokio::io::stdin()), MAX_LINE);
        loop {
            let step = match lines.next_line().await {
                Ok(Some(line)) => Step::Line(line),
                Ok(None) => Step::Eof,
                Err(e) => {
                    tracing::warn!("reading stdin: {e}; no more commands are read");
                    Step::Eof
                }
            };
            let end = matches!(step, Step::Eof);
            if tx.send(step).await.is_err() || end {
                break;
            }
        }
    });
}

/// Turn SIGINT/SIGTERM into quit and SIGHUP into reload. Registers the handlers before it
/// returns.
fn spawn_signal_forwarder(tx: mpsc::Sender<Command>) -> std::io::Result<()> {
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            let cmd = tokio::select! {
                _ = int.recv() => Command::Quit,
                _ = term.recv() => Command::Quit,
                _ = hup.recv() => Command::Reload,
            };
            if tx.send(cmd).await.is_err() {
                break;
            }
        }
    });
    Ok(())
}

/// Parse one stdin line; a command the source cannot carry out is an error to answer, not to
/// send.
fn checked_input(text: &str, capabilities: &Capabilities) -> Result<Input, String> {
    parse_input(text).and_then(|i| match &i {
        Input::Engine(c) => capabilities.check(c).map(|()| i).map_err(|e| e.to_string()),
        Input::State => Ok(i),
    })
}

/// Say at exit how far stdout fell behind, if it did.
fn warn_if_behind(dropped: u64, unwritten: u64) {
    if dropped > 0 || unwritten > 0 {
        tracing::warn!(
            dropped,
            unwritten,
            "stdout fell behind: {dropped} events dropped while running, {unwritten} still \
             queued at exit and not written"
        );
    }
}

/// The answer to `{"cmd":"state"}`.
fn state_event(model: &Model) -> impl Serialize + '_ {
    #[derive(serde::Serialize)]
    struct StateEvent<'a> {
        ts: String,
        event: &'static str,
        #[serde(flatten)]
        state: crate::model::Snapshot<'a>,
    }
    StateEvent {
        ts: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        event: "state",
        state: model.snapshot(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full engine queue keeps the command (and closes stdin by `is_empty` turning false),
    /// keeps one quit and one reload from signals however many arrive, and hands everything
    /// over in order once there is room.
    #[tokio::test]
    async fn a_full_command_queue_holds_commands_in_order_and_never_loses_quit() {
        let (tx, mut rx) = mpsc::channel::<Command>(2);
        let mut out = Outbox::default();
        out.send(&tx, Command::Pause);
        out.send(&tx, Command::Resume);
        assert!(out.is_empty(), "room for two");
        out.send(&tx, Command::Pause);
        assert!(
            !out.is_empty(),
            "the third waits, and stdin is no longer read"
        );
        for _ in 0..1000 {
            out.send(&tx, Command::Reload);
            out.send(&tx, Command::Quit);
        }
        assert_eq!(
            out.waiting,
            [Command::Pause, Command::Reload, Command::Quit],
            "bounded whatever the signals"
        );
        let mut got = Vec::new();
        while !out.is_empty() {
            got.push(rx.recv().await.expect("queued"));
            let permit = tx.reserve().await.expect("open");
            out.flush(permit, &tx);
        }
        while let Ok(c) = rx.try_recv() {
            got.push(c);
        }
        assert_eq!(
            got,
            [
                Command::Pause,
                Command::Resume,
                Command::Pause,
                Command::Reload,
                Command::Quit
            ]
        );
        // The engine gone: nothing is kept for it.
        drop(rx);
        out.send(&tx, Command::Pause);
        assert!(out.is_empty());
    }

    #[test]
    fn a_state_answer_larger_than_the_queue_goes_out_when_nothing_waits() {
        let (tx, rx) = std::sync::mpsc::channel::<Chunk>();
        let pending = Arc::new(AtomicUsize::new(0));
        let mut out = Output {
            buf: vec![b'x'; QUEUE_BYTES + 1],
            events_in_buf: 1,
            tx: Some(tx),
            pending: pending.clone(),
            unreported: 0,
            dropped: 0,
            queued: 0,
        };
        out.hand_over();
        assert_eq!(
            out.dropped, 0,
            "an oversized answer with an empty queue is sent"
        );
        assert_eq!(
            rx.try_recv().map(|c| c.bytes.len()).ok(),
            Some(QUEUE_BYTES + 1)
        );
        // With the queue still holding it, the next oversized answer is dropped and counted.
        out.buf = vec![b'y'; QUEUE_BYTES + 1];
        out.events_in_buf = 1;
        out.hand_over();
        assert_eq!(out.dropped, 1);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn commands_parse_as_documented() {
        let cases = [
            (
                r#"{"cmd":"reconnect"}"#,
                Command::Reconnect(crate::event::Selector {
                    job: None,
                    instance: None,
                    ..crate::event::Selector::all()
                }),
            ),
            (
                r#"{"cmd":"re_resolve","job":"node"}"#,
                Command::ReResolve(crate::event::Selector {
                    job: Some("node".into()),
                    instance: None,
                    ..crate::event::Selector::all()
                }),
            ),
            (
                r#"{"cmd":"probe","job":"node","instance":"a:1"}"#,
                Command::Probe(crate::event::Selector {
                    job: Some("node".into()),
                    instance: Some("a:1".into()),
                    ..crate::event::Selector::all()
                }),
            ),
            (
                r#"{"cmd":"reconnect","target":"0e50b34cf8fd9feb"}"#,
                Command::Reconnect(crate::event::Selector {
                    target: "0e50b34cf8fd9feb".parse().ok(),
                    ..crate::event::Selector::all()
                }),
            ),
            (r#"{"cmd":"pause"}"#, Command::Pause),
            (r#"{"cmd":"resume"}"#, Command::Resume),
            (r#"{"cmd":"reload"}"#, Command::Reload),
            (r#"{"cmd":"quit"}"#, Command::Quit),
            (
                r#"{"cmd":"load","path":"t.txt","replace":true}"#,
                Command::Load {
                    path: "t.txt".into(),
                    replace: true,
                },
            ),
        ];
        for (line, want) in cases {
            assert_eq!(parse_command(line), Ok(want), "{line}");
        }
        for bad in [
            "",
            "{}",
            "nope",
            r#"{"cmd":"explode"}"#,
            r#"{"cmd":"reconnect","jbo":"x"}"#,
            r#"{"cmd":"state"}"#,
        ] {
            assert!(parse_command(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(parse_input(r#"{"cmd":"state"}"#), Ok(Input::State));
    }

    #[test]
    fn engine_wide_commands_refuse_unknown_fields_like_reconnect_does() {
        for line in [
            r#"{"cmd":"pause","job":"x"}"#,
            r#"{"cmd":"resume","now":1}"#,
            r#"{"cmd":"reload","path":"a"}"#,
            r#"{"cmd":"quit","force":true}"#,
            r#"{"cmd":"state","job":"x"}"#,
            r#"{"cmd":"load","path":"a","jbo":"x"}"#,
        ] {
            let err = parse_input(line).expect_err(line);
            assert!(err.contains("unknown field"), "{line}: {err}");
        }
    }

    #[test]
    fn the_list_of_valid_commands_includes_state() {
        let err = parse_input(r#"{"cmd":"explode"}"#).expect_err("refused");
        for cmd in ["reconnect", "re_resolve", "probe", "load", "quit", "state"] {
            assert!(err.contains(cmd), "{cmd} missing: {err}");
        }
    }

    #[test]
    fn errors_quote_bad_lines_truncated_and_redacted() {
        let long = format!(
            r#"{{"cmd":"load","path":"http://u:hunter2@h/{}"#,
            "x".repeat(5000)
        );
        let err = parse_input(&long).expect_err("refused");
        assert!(err.len() < 1000, "{} bytes", err.len());
        assert!(!err.contains("hunter2"), "{err}");
        let err = parse_input(r#"{"cmd":"probe","job":1,"instance":"u:hunter2@h:1"}"#)
            .expect_err("refused");
        assert!(!err.contains("hunter2"), "{err}");
        // serde quotes a mistyped value whole: the quote is cut too.
        let huge = format!(
            r#"{{"cmd":"load","path":"a","replace":"{}"}}"#,
            "y".repeat(100_000)
        );
        let err = parse_input(&huge).expect_err("refused");
        assert!(err.len() < 1000, "{} bytes", err.len());
        let err = parse_input(&format!("{:?}", "z".repeat(100_000))).expect_err("refused");
        assert!(err.len() < 1000, "{} bytes", err.len());
    }

    fn read_all(input: &[u8], max: usize) -> Vec<Result<String, String>> {
        use futures_util::FutureExt;
        let mut r = LineReader::new(input, max);
        let mut lines = Vec::new();
        while let Some(l) = r
            .next_line()
            .now_or_never()
            .expect("a slice never waits")
            .expect("a slice never fails")
        {
            lines.push(l);
        }
        lines
    }

    #[test]
    fn a_line_that_is_not_utf8_is_an_error_and_the_next_line_is_read() {
        let lines = read_all(b"ok\n\xff\xfe\nnext", 100);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(lines[0], Ok("ok".into()));
        assert!(
            lines[1].as_ref().is_err_and(|e| e.contains("UTF-8")),
            "{lines:?}"
        );
        assert_eq!(lines[2], Ok("next".into()));
    }

    #[test]
    fn an_over_long_line_is_cut_reported_and_the_next_line_is_read() {
        let mut input = b"{\"cmd\":\"load\",\"path\":\"http://u:hunter2@h/".to_vec();
        input.extend(std::iter::repeat_n(b'x', 10_000));
        input.extend(b"\n\n{\"cmd\":\"quit\"}\n");
        let lines = read_all(&input, 1000);
        assert_eq!(lines.len(), 3, "{lines:?}");
        let err = lines[0].as_ref().expect_err("too long");
        assert!(err.contains("longer than 1000 bytes"), "{err}");
        assert!(err.len() < 400, "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        assert_eq!(lines[1], Ok(String::new()));
        assert_eq!(lines[2], Ok(r#"{"cmd":"quit"}"#.into()));
        // Exactly at the limit is fine.
        assert_eq!(read_all(b"abc\n", 3), [Ok("abc".to_owned())]);
        assert!(read_all(b"abcd\n", 3)[0].is_err());
    }
}

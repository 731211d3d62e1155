//! One typed reader of scrapetop's JSON lines (headless stdout), shared by the headless and
//! netns suites: every line is checked to be an event of the contract (or the `state`
//! answer) and handed over typed, so tests match `EventKind`s instead of indexing JSON.

use std::collections::VecDeque;
use std::time::Duration;

use scrapetop::event::Event;
use serde_json::Value;

/// One line of output. Lines are read one at a time and matched at once, so an `Event` held
/// inline (not boxed) costs nothing that matters here.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Line {
    /// An event of the contract.
    Event(Event),
    /// The answer to `{"cmd":"state"}` (a dump of the model, not an event kind).
    State(Value),
}

/// Read one output line as the contract says it must be; the error says why it is not.
pub fn check(line: &str) -> Result<Line, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON ({e}): {line}"))?;
    if !(v["ts"].is_string() && v["event"].is_string()) {
        return Err(format!("no ts or event: {line}"));
    }
    if v["event"] == "state" {
        return Ok(Line::State(v));
    }
    serde_json::from_value::<Event>(v)
        .map(Line::Event)
        .map_err(|e| format!("not an event of the contract ({e}): {line}"))
}

/// Parse one output line; a line that is not part of the contract fails the test.
pub fn parse(line: &str) -> Line {
    check(line).unwrap_or_else(|e| panic!("{e}"))
}

/// How many recent lines a timeout message shows.
const RECENT: usize = 30;

/// Typed events from any source of lines, with a bounded memory of recent ones for failure
/// messages.
pub struct Events<S> {
    source: S,
    recent: VecDeque<String>,
    states: VecDeque<Value>,
}

/// Where lines come from: `Ok(None)` is the end of the output.
pub trait LineSource {
    /// The next line, or `None` at the end; waits at most until `deadline`.
    fn next_line(
        &mut self,
        deadline: tokio::time::Instant,
    ) -> impl std::future::Future<Output = Result<Option<String>, ()>>;
}

impl<R: tokio::io::AsyncBufRead + Unpin> LineSource for tokio::io::Lines<R> {
    async fn next_line(&mut self, deadline: tokio::time::Instant) -> Result<Option<String>, ()> {
        match tokio::time::timeout_at(deadline, tokio::io::Lines::next_line(self)).await {
            Err(_) => Err(()),
            Ok(r) => Ok(r.unwrap_or(None)),
        }
    }
}

impl<S: LineSource> Events<S> {
    /// Read typed lines from `source`.
    pub fn new(source: S) -> Self {
        Events {
            source,
            recent: VecDeque::with_capacity(RECENT),
            states: VecDeque::new(),
        }
    }

    /// The last lines read, for failure messages.
    pub fn recent(&self) -> String {
        self.recent.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    async fn next(&mut self, what: &str, deadline: tokio::time::Instant) -> Line {
        let line = match self.source.next_line(deadline).await {
            Ok(Some(l)) => l,
            Ok(None) => panic!(
                "output ended waiting for {what}; last lines:\n{}",
                self.recent()
            ),
            Err(()) => panic!(
                "timed out waiting for {what}; last lines:\n{}",
                self.recent()
            ),
        };
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(line.clone());
        parse(&line)
    }

    /// Wait (bounded) for an event matching `pred`; the events before it are skipped.
    pub async fn wait_for(
        &mut self,
        what: &str,
        within: Duration,
        pred: impl Fn(&Event) -> bool,
    ) -> Event {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match self.next(what, deadline).await {
                Line::Event(ev) if pred(&ev) => return ev,
                Line::Event(_) => {}
                Line::State(v) => self.states.push_back(v),
            }
        }
    }

    /// Wait (bounded) for `n` events matching `pred`.
    pub async fn wait_n(
        &mut self,
        what: &str,
        n: usize,
        within: Duration,
        pred: impl Fn(&Event) -> bool,
    ) -> Vec<Event> {
        let deadline = tokio::time::Instant::now() + within;
        let mut got = Vec::with_capacity(n);
        while got.len() < n {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            got.push(self.wait_for(what, left, &pred).await);
        }
        got
    }

    /// Wait (bounded) for the answer to `{"cmd":"state"}`.
    pub async fn wait_state(&mut self, within: Duration) -> Value {
        if let Some(v) = self.states.pop_front() {
            return v;
        }
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Line::State(v) = self.next("state", deadline).await {
                return v;
            }
        }
    }
}

/// Wait (bounded) for an event whose kind matches a pattern, and evaluate an expression over
/// its bindings: `expect_event!(src, 5 * S, EventKind::Scrape(s) if s.up => s.conn_id)`.
/// Works with every source that has `wait_for(what, within, pred)`: the engine harness and
/// the headless reader. Gives `(event, value)`.
#[macro_export]
macro_rules! expect_event {
    ($src:expr, $within:expr, $pat:pat $(if $guard:expr)? => $out:expr) => {{
        // The pattern's bindings serve the expression, not the test of the kind.
        #[allow(unused_variables)]
        let pred = |e: &::scrapetop::event::Event| matches!(&e.kind, $pat $(if $guard)?);
        let ev = $src
            .wait_for(stringify!($pat $(if $guard)?), $within, pred)
            .await;
        #[allow(unused_variables)]
        let out = match &ev.kind {
            $pat => $out,
            #[allow(unreachable_patterns)]
            _ => unreachable!(),
        };
        (ev, out)
    }};
    ($src:expr, $within:expr, $pat:pat $(if $guard:expr)?) => {{
        expect_event!($src, $within, $pat $(if $guard)? => ()).0
    }};
}

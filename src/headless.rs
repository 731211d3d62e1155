//! Headless mode: one JSON object per line on stdout for every event, commands as JSON lines
//! on stdin.

use std::io::Write;

use tokio::io::AsyncBufReadExt;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::event::{Command, Event, EventKind};
use crate::model::Model;
use crate::source::SourceHandle;

/// How long the writer lets events gather after a partial batch: bounds its wake-ups to
/// about 100 a second while adding at most this much delay to an event.
const BATCH_PAUSE: std::time::Duration = std::time::Duration::from_millis(10);

/// A line on stdin: an engine command, or `{"cmd":"state"}` answered from the model.
#[derive(Debug, PartialEq)]
pub enum Input {
    /// For the engine.
    Engine(Command),
    /// Print the model's state as a `state` event.
    State,
}

/// Parse one command line. Errors are user-facing.
pub fn parse_command(line: &str) -> Result<Command, String> {
    serde_json::from_str::<Command>(line).map_err(|e| format!("bad command {line:?}: {e}"))
}

/// Parse one input line.
pub fn parse_input(line: &str) -> Result<Input, String> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct State {
        cmd: String,
    }
    if let Ok(State { cmd }) = serde_json::from_str::<State>(line)
        && cmd == "state"
    {
        return Ok(Input::State);
    }
    parse_command(line).map(Input::Engine)
}

/// Run until `quit`, a signal, or (with `exit_on_eof`) the end of stdin. `metrics`, when
/// given, is handed the model after each batch (it reads it at most once a second).
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
    let (err_tx, mut err_rx) = mpsc::unbounded_channel::<Result<Event, ()>>();

    let cmd_tx = commands.clone();
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        loop {
            match lines.next_line().await {
                Ok(Some(line)) => {
                    let line = line.trim();
                    if line.is_empty() {
                        continue;
                    }
                    // A command the source cannot carry out is answered, not sent.
                    let input = parse_input(line).and_then(|i| match &i {
                        Input::Engine(c) => {
                            capabilities.check(c).map(|()| i).map_err(|e| e.to_string())
                        }
                        Input::State => Ok(i),
                    });
                    match input {
                        Ok(Input::Engine(c)) => {
                            if cmd_tx.send(c).is_err() {
                                break;
                            }
                        }
                        Ok(Input::State) => {
                            let _ = err_tx.send(Err(()));
                        }
                        Err(e) => {
                            let _ =
                                err_tx.send(Ok(Event::now(None, EventKind::Error { error: e })));
                        }
                    }
                }
                Ok(None) | Err(_) => {
                    if exit_on_eof {
                        let _ = cmd_tx.send(Command::Quit);
                    }
                    break;
                }
            }
        }
    });

    let sig_tx = commands.clone();
    // Registered before any event is written, so a signal is never missed.
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
            let quit = cmd == Command::Quit;
            if sig_tx.send(cmd).is_err() || quit {
                break;
            }
        }
    });

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut batch = Vec::with_capacity(256);
    let mut model = Model::new();
    model.log_scrapes = false;
    loop {
        tokio::select! {
            n = events.recv_many(&mut batch, 256) => {
                if n == 0 {
                    break;
                }
                for ev in batch.drain(..) {
                    write_event(&mut out, &ev)?;
                    model.apply(ev);
                }
                if let Some(m) = &metrics {
                    m.publish(&model);
                }
                if n < 256 {
                    // A partial batch: let events gather for a moment rather than waking up
                    // for each one (at 10,000 targets every scrape would wake this thread).
                    out.flush()?;
                    tokio::time::sleep(BATCH_PAUSE).await;
                }
            }
            Some(input) = err_rx.recv() => match input {
                Ok(ev) => write_event(&mut out, &ev)?,
                Err(()) => write_state(&mut out, &model)?,
            },
        }
        // Flush once the burst is written, so a reader sees events promptly.
        if events.is_empty() {
            out.flush()?;
        }
    }
    out.flush()?;
    drop(commands);
    let _ = done.await;
    Ok(())
}

fn write_state(out: &mut impl Write, model: &Model) -> std::io::Result<()> {
    #[derive(serde::Serialize)]
    struct StateEvent<'a> {
        ts: String,
        event: &'static str,
        #[serde(flatten)]
        state: crate::model::Snapshot<'a>,
    }
    let ev = StateEvent {
        ts: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        event: "state",
        state: model.snapshot(),
    };
    serde_json::to_writer(&mut *out, &ev)?;
    out.write_all(b"\n")
}

fn write_event(out: &mut impl Write, ev: &Event) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, ev)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

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
        ] {
            assert!(parse_command(bad).is_err(), "{bad} accepted");
        }
    }
}

//! The full-screen terminal UI.
//!
//! It meets the engine only through messages: [`Event`]s in, [`Command`]s out. The loop
//! `select!`s over terminal input, engine events and a frame deadline; a pending key is handled
//! before a backlog of events, events are applied in bounded batches, and a frame is drawn only
//! when something changed, at most `fps` times a second.

pub mod app;
pub mod columns;
pub mod derived;
pub mod export;
pub mod format;
pub mod index;
pub mod keys;
pub mod ops;
pub mod prompt;
// ratatui types with elided lifetimes (`Frame`, `Line`) are everywhere here; to be spelled out
// (`Frame<'_>`) once the screen restructuring has landed, then this allow goes.
#[allow(elided_lifetimes_in_paths)]
pub mod render;
pub mod timeline;
pub mod tty;
pub mod view;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use crossterm::event::{EnableMouseCapture, Event as TermEvent, EventStream};
use futures_util::StreamExt as _;
use tokio::sync::mpsc;

use crate::event::{Command, Event};
use crate::model::Model;

use app::{App, Facts};
use format::Theme;
use keys::Bindings;

/// How many engine events are applied per loop turn before input is looked at again.
pub const BATCH: usize = 256;

/// After a partial batch, engine events are left to gather this long: the UI then wakes at
/// most ~100 times a second for events, whatever the scrape rate (frames are at most `fps`).
const EVENT_PAUSE: Duration = Duration::from_millis(10);

/// Options of the UI.
#[derive(Debug, Clone)]
pub struct TuiOptions {
    /// Maximum frames per second (default 10).
    pub fps: u32,
    /// Capture the mouse (scroll, click to select); breaks the terminal's copy and paste.
    pub mouse: bool,
    /// The engine runs the built-in demo; the header says so and how to leave it.
    pub demo: bool,
    /// A YAML file rebinding keys.
    pub keys_file: Option<PathBuf>,
    /// Where `e` writes exports.
    pub export_dir: PathBuf,
    /// Where logs go (shown in help).
    pub log_file: PathBuf,
    /// "What to try" lines shown first in help (the demo's script).
    pub hints: Vec<String>,
    /// `--web.listen-address`: handed the live model after each batch of events.
    pub metrics: Option<crate::metrics::Publisher>,
    /// What the event source can do; a key whose command it cannot carry out says so.
    pub capabilities: crate::source::Capabilities,
}

/// `$XDG_STATE_HOME/scrapetop`, else `~/.local/state/scrapetop`, else `.` (derived from the
/// environment by hand rather than with a `dirs` crate).
pub fn state_dir() -> PathBuf {
    let abs = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    if let Some(p) = std::env::var_os("XDG_STATE_HOME").and_then(abs) {
        return p.join("scrapetop");
    }
    match std::env::var_os("HOME").and_then(abs) {
        Some(h) => h.join(".local/state/scrapetop"),
        None => PathBuf::from("."),
    }
}

impl Default for TuiOptions {
    /// 10 fps, no mouse, exports and log in [`state_dir`].
    fn default() -> Self {
        let dir = state_dir();
        TuiOptions {
            fps: 10,
            mouse: false,
            demo: false,
            keys_file: None,
            export_dir: dir.join("exports"),
            log_file: dir.join("scrapetop.log"),
            hints: Vec::new(),
            metrics: None,
            capabilities: crate::source::Capabilities::all(),
        }
    }
}

/// Build the app state for the given options (reads the keys file).
pub fn new_app(opts: &TuiOptions) -> anyhow::Result<App> {
    let bindings = match &opts.keys_file {
        Some(p) => Bindings::from_file(p)?,
        None => Bindings::defaults(),
    };
    let facts = Facts {
        demo: opts.demo,
        export_dir: opts.export_dir.clone(),
        log_file: opts.log_file.clone(),
        keys_file: opts.keys_file.clone(),
        hints: opts.hints.clone(),
    };
    Ok(App::new(Model::new(), bindings, Theme::from_env(), facts))
}

/// How long quitting waits for room in the engine's command queue.
const QUIT_SEND: Duration = Duration::from_secs(1);

/// Runs the full-screen UI until quit. Events arrive on `events`; commands go out on `commands`.
/// Restores the terminal on quit, error, panic (ratatui::init's hook; the panic is logged via
/// tracing first), SIGTERM, SIGINT and SIGQUIT, and around a stop (SIGTSTP, then SIGCONT).
pub async fn run(
    opts: TuiOptions,
    events: mpsc::Receiver<Event>,
    commands: mpsc::Sender<Command>,
) -> anyhow::Result<()> {
    // A bad keys file is reported before the terminal is taken over.
    let app = new_app(&opts)?;
    use tokio::signal::unix::{SignalKind, signal};
    let mut signals = Signals {
        term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
        int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
        hup: signal(SignalKind::hangup()).context("installing the SIGHUP handler")?,
        quit: signal(SignalKind::quit()).context("installing the SIGQUIT handler")?,
        tstp: signal(SignalKind::from_raw(rustix::process::Signal::TSTP.as_raw()))
            .context("installing the SIGTSTP handler")?,
        cont: signal(SignalKind::from_raw(rustix::process::Signal::CONT.as_raw()))
            .context("installing the SIGCONT handler")?,
    };

    let mut terminal = ratatui::try_init().context("initialising the terminal")?;
    // ratatui's hook restores the terminal; ours runs before it, so the panic reaches the log
    // file while the screen still belongs to us (nothing is written to the terminal).
    let restore_hook = std::panic::take_hook();
    let mouse = opts.mouse;
    std::panic::set_hook(Box::new(move |info| {
        tracing::error!("panic: {info}");
        if mouse {
            let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture);
        }
        restore_hook(info);
    }));
    if opts.mouse {
        crossterm::execute!(std::io::stdout(), EnableMouseCapture).context("enabling the mouse")?;
    }
    let result = event_loop(&mut terminal, app, &opts, events, &commands, &mut signals).await;
    tty::give_back(opts.mouse);
    if result.is_err() {
        // Quit and SIGTERM already told the engine; an error must too.
        let _ = tokio::time::timeout(QUIT_SEND, commands.send(Command::Quit)).await;
    }
    result
}

/// Signals the UI handles itself, so none of them can leave the terminal in raw mode: SIGTERM,
/// SIGINT and SIGQUIT quit (ctrl+c arrives as a key in raw mode; the signals come from `kill`),
/// SIGHUP reloads the target sources, as in headless mode, and SIGTSTP / SIGCONT give the
/// terminal back around a stop (see [`tty`]).
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
    tstp: tokio::signal::unix::Signal,
    cont: tokio::signal::unix::Signal,
}

/// When the next frame may be drawn and whether one is needed.
struct Frames {
    /// Something changed since the last frame.
    dirty: bool,
    /// The shown model's version at the last frame.
    drawn_version: u64,
    /// No frame before this instant (at most `fps` frames a second).
    next: tokio::time::Instant,
    /// Time between frames.
    interval: Duration,
}

impl Frames {
    /// Draw now, not at the next frame slot (operator actions, resizes, a redraw after a stop).
    fn now(&mut self) {
        self.dirty = true;
        self.next = tokio::time::Instant::now();
    }

    /// Draw a frame if one is needed and due.
    fn draw_if_due(
        &mut self,
        terminal: &mut ratatui::DefaultTerminal,
        app: &mut App,
    ) -> anyhow::Result<()> {
        if app.shown_version() != self.drawn_version {
            self.dirty = true;
        }
        let now_tokio = tokio::time::Instant::now();
        if self.dirty && now_tokio >= self.next {
            app.refresh(Instant::now(), SystemTime::now());
            let now = SystemTime::now();
            terminal
                .draw(|f| render::draw(f, app, now))
                .context("drawing")?;
            self.drawn_version = app.shown_version();
            self.dirty = false;
            self.next = now_tokio + self.interval;
        }
        Ok(())
    }
}

/// One terminal event: keys and mouse to the app, a resize redraws, the end of input quits.
fn on_terminal_event(
    ev: Option<std::io::Result<TermEvent>>,
    terminal: &ratatui::DefaultTerminal,
    app: &mut App,
    mouse: bool,
    frames: &mut Frames,
) -> anyhow::Result<()> {
    match ev {
        Some(Ok(TermEvent::Key(k))) => {
            if app.on_key(k) {
                // Operator actions draw at once, not at the next frame slot.
                frames.now();
            }
        }
        Some(Ok(TermEvent::Mouse(m))) if mouse => {
            let size = terminal.size().context("terminal size")?;
            let area = ratatui::layout::Rect::new(0, 0, size.width, size.height);
            if app.on_mouse(
                m,
                render::table_top(
                    area,
                    render::banner_lines(
                        app.frozen
                            .as_deref()
                            .unwrap_or(&app.model)
                            .limitations
                            .len(),
                    ),
                ),
            ) {
                frames.dirty = true;
            }
        }
        Some(Ok(TermEvent::Resize(..))) => frames.now(),
        Some(Ok(_)) => {}
        Some(Err(e)) => return Err(e).context("reading terminal input"),
        None => {
            app.outbox.push(Command::Quit);
            app.quit = true;
        }
    }
    Ok(())
}

fn leave(app: &mut App, why: &str) {
    tracing::info!("{why}: leaving");
    app.outbox.push(Command::Quit);
    app.quit = true;
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    mut app: App,
    opts: &TuiOptions,
    mut events: mpsc::Receiver<Event>,
    commands: &mpsc::Sender<Command>,
    signals: &mut Signals,
) -> anyhow::Result<()> {
    let mut frames = Frames {
        dirty: true,
        drawn_version: u64::MAX,
        next: tokio::time::Instant::now(),
        interval: Duration::from_secs(1) / opts.fps.clamp(1, 120),
    };
    let mut input = EventStream::new();
    let mut batch: Vec<Event> = Vec::with_capacity(BATCH);
    // Engine events are taken when this instant has passed (see EVENT_PAUSE).
    let mut events_at = tokio::time::Instant::now();
    // Ages on screen have one-second resolution: a 1 Hz tick redraws them when nothing else
    // happens (and not at all while frozen). That is the only drawing an idle UI does.
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    loop {
        frames.draw_if_due(terminal, &mut app)?;
        let events_open = tokio::time::Instant::now() >= events_at;
        tokio::select! {
            // Input first: a key press is handled before a backlog of engine events.
            biased;
            ev = input.next() => on_terminal_event(ev, terminal, &mut app, opts.mouse, &mut frames)?,
            _ = signals.term.recv() => leave(&mut app, "SIGTERM"),
            _ = signals.int.recv() => leave(&mut app, "SIGINT"),
            _ = signals.quit.recv() => leave(&mut app, "SIGQUIT"),
            _ = signals.hup.recv() => {
                tracing::info!("SIGHUP: reloading");
                app.outbox.push(Command::Reload);
            }
            _ = signals.tstp.recv() => {
                tty::suspend(terminal, opts.mouse)?;
                frames.now();
            }
            _ = signals.cont.recv() => {
                tty::resume(terminal, opts.mouse)?;
                frames.now();
            }
            n = events.recv_many(&mut batch, BATCH), if !app.engine_gone && events_open => {
                if n == 0 {
                    tracing::info!("engine event channel closed");
                    app.engine_gone = true;
                    frames.dirty = true;
                } else {
                    app.apply(batch.drain(..));
                    if let Some(m) = &opts.metrics {
                        m.publish(&app.model);
                    }
                    if n < BATCH {
                        // A partial batch: let events gather briefly instead of waking for
                        // each scrape (keys are still handled at once).
                        events_at = tokio::time::Instant::now() + EVENT_PAUSE;
                    }
                }
            }
            _ = tokio::time::sleep_until(events_at), if !events_open => {}
            _ = tokio::time::sleep_until(frames.next), if frames.dirty => {}
            _ = clock.tick(), if app.frozen.is_none() => frames.dirty = true,
        }

        let outbox: Vec<Command> = app.outbox.drain(..).collect();
        for cmd in outbox {
            if let Err(e) = opts.capabilities.check(&cmd) {
                app.refuse(&cmd, &e);
                continue;
            }
            tracing::debug!(cmd = cmd.name(), "command");
            if cmd == Command::Quit {
                // Quit must arrive: wait for room (the engine takes commands in microseconds).
                let _ = tokio::time::timeout(QUIT_SEND, commands.send(cmd)).await;
                continue;
            }
            // A key never waits on the engine: with its queue full the command is refused and
            // said so. The engine may be gone already; then there is nobody to tell.
            if let Err(mpsc::error::TrySendError::Full(cmd)) = commands.try_send(cmd) {
                let why = format!(
                    "{}: not sent, the engine has {} commands waiting",
                    cmd.name(),
                    crate::engine::COMMAND_QUEUE
                );
                tracing::warn!("{why}");
                app.refuse(&cmd, &why);
            }
        }
        if app.quit {
            return Ok(());
        }
    }
}

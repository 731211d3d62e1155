//! Taking the terminal over and giving it back: on quit, on error, on panic, and around a stop
//! (SIGTSTP / SIGCONT), so that no way of leaving or pausing scrapetop strands the operator in
//! raw mode, on the alternate screen, without a cursor or with the mouse captured.
//!
//! A stop works as in htop and other full-screen programs: on SIGTSTP the terminal is given
//! back and the process stops itself with SIGSTOP (which cannot be caught, so the shell sees an
//! ordinary stopped job); on SIGCONT (`fg`) raw mode and the alternate screen are taken again
//! and everything is redrawn, since the shell used the terminal in between.

use std::io::Write as _;

use anyhow::Context as _;
use crossterm::cursor::Show;
use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::terminal::{
    Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};

/// Give the terminal back to the shell: mouse capture off, main screen, cursor shown, cooked
/// mode. Errors are ignored: this runs on the way out, where nothing better can be done.
pub fn give_back(mouse: bool) {
    let mut out = std::io::stdout();
    if mouse {
        let _ = crossterm::execute!(out, DisableMouseCapture);
    }
    let _ = crossterm::execute!(out, LeaveAlternateScreen, Show);
    let _ = disable_raw_mode();
    let _ = out.flush();
}

/// Take the terminal (again): raw mode, alternate screen, mouse capture if asked for.
///
/// Raw mode is first switched off, because after a stop the shell has put its own modes back
/// while crossterm still believes raw mode is on (and would then do nothing).
pub fn take(mouse: bool) -> anyhow::Result<()> {
    let _ = disable_raw_mode();
    enable_raw_mode().context("entering raw mode")?;
    let mut out = std::io::stdout();
    crossterm::execute!(out, EnterAlternateScreen).context("entering the alternate screen")?;
    if mouse {
        crossterm::execute!(out, EnableMouseCapture).context("enabling the mouse")?;
    }
    Ok(())
}

/// SIGTSTP: give the terminal back and stop; returns once continued (SIGCONT), with the
/// terminal taken again and the next frame drawn in full.
pub fn suspend(terminal: &mut ratatui::DefaultTerminal, mouse: bool) -> anyhow::Result<()> {
    // Adopted by init (the shell is gone): nobody could continue us, and the kernel would
    // discard a terminal stop for such a process anyway.
    if rustix::process::getppid().is_none_or(|p| p.as_raw_nonzero().get() == 1) {
        tracing::info!("SIGTSTP ignored: no parent shell to continue scrapetop");
        return Ok(());
    }
    tracing::info!("SIGTSTP: giving the terminal back and stopping");
    give_back(mouse);
    // SIGSTOP to ourselves: the whole process stops before the call returns, and continues
    // when the shell sends SIGCONT.
    rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::STOP)
        .context("stopping (SIGSTOP)")?;
    resume(terminal, mouse)
}

/// SIGCONT (after our own stop, or after an uncatchable SIGSTOP from someone else): take the
/// terminal again and forget what was on it, so the next frame redraws everything.
pub fn resume(terminal: &mut ratatui::DefaultTerminal, mouse: bool) -> anyhow::Result<()> {
    tracing::info!("continued: taking the terminal again");
    take(mouse)?;
    // Not `terminal.clear()`: it asks the terminal for the cursor position, and the answer is
    // read by the input stream instead. Clear the screen, then make both of ratatui's buffers
    // blank so that the next frame is written in full.
    crossterm::execute!(std::io::stdout(), Clear(ClearType::All))
        .context("clearing the terminal")?;
    terminal.swap_buffers();
    Ok(())
}

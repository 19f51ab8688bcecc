//! Running commands and reporting progress.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, Result, bail};

/// Set when Ctrl-C (or SIGTERM) arrives while a handler is installed.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// A progress line: `==> what`.
pub(crate) fn progress(what: impl std::fmt::Display) {
    println!("==> {what}");
}

/// Runs `command` with inherited stdio; fails unless it exits 0.
pub(crate) fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("could not start {}", describe(command)))?;
    if !status.success() {
        bail!("`{}` failed ({status})", describe(command));
    }
    Ok(())
}

/// Runs `command` and returns its stdout; `None` if it cannot run or fails.
pub(crate) fn stdout_of(command: &mut Command) -> Option<String> {
    let output = command
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `program arg arg` for messages.
pub(crate) fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Makes Ctrl-C and SIGTERM set a flag instead of killing us, so guards can
/// stop what we started. Children in our process group still get Ctrl-C.
pub(crate) fn trap_interrupts(on_interrupt: impl Fn() + Send + 'static) -> Result<()> {
    ctrlc::set_handler(move || {
        INTERRUPTED.store(true, Ordering::SeqCst);
        on_interrupt();
    })
    .context("installing the Ctrl-C handler")
}

pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Fails if an interrupt arrived.
pub(crate) fn check_interrupted() -> Result<()> {
    if interrupted() {
        bail!("interrupted");
    }
    Ok(())
}

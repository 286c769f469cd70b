//! Printing results: JSON for `--json`, otherwise plain aligned tables and key–value blocks.
//!
//! Everything a command prints on stdout goes through [`write`] (the [`out!`](crate::out) macro):
//! once stdout is closed (`vigil executions list | head -1`), the rest is dropped quietly and the
//! command finishes as it would have, with its own exit code. What a command does never depends
//! on whether anyone still reads what it says.

use std::{
    fmt,
    io::{self, Write as _},
    sync::atomic::{AtomicBool, Ordering},
};

use serde::Serialize;

/// Set once a write to stdout failed: the reader is gone, and nothing more is written.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Prints one line on stdout, like `println!`, but a closed stdout ends the output quietly
/// instead of panicking.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Writes `text` on stdout unless stdout has been found closed; a failure to write (a broken
/// pipe, or any other) marks it closed. The failure is logged at debug level only when it is a
/// broken pipe, the ordinary way a reader such as `head` stops reading.
pub(crate) fn write(text: fmt::Arguments<'_>) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = io::stdout().lock();
    if let Err(error) = stdout.write_fmt(text).and_then(|()| stdout.flush()) {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if error.kind() == io::ErrorKind::BrokenPipe {
            tracing::debug!("stdout closed by its reader; the rest of the output is dropped");
        } else {
            tracing::warn!(%error, "cannot write to stdout; the rest of the output is dropped");
        }
    }
}

/// Prints `value` as pretty JSON on stdout.
///
/// # Errors
/// When the value cannot be serialised (a bug).
pub(crate) fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    crate::out!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints rows under a header, each column as wide as its widest cell.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        crate::out!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    if rows.is_empty() {
        crate::out!("(none)");
    }
}

/// Prints `key: value` lines with the keys aligned.
pub(crate) fn fields(pairs: &[(&str, String)]) {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in pairs {
        crate::out!("{key:<width$}  {value}");
    }
}

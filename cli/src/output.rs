//! Writing to stdout and stderr without ever panicking. Rust's `print!` panics when stdout is
//! closed (`personio-lms runs | head -1`); here a closed stdout is noted instead: nothing more is
//! written to it, a running sync is asked to stop cleanly (as for Ctrl-C), and the process exits
//! with 141, the code a shell reports for a command ended by a closed pipe.
//!
//! `main.rs` shadows `print!`, `println!`, `eprint!` and `eprintln!` with macros that come here,
//! so every module of the binary writes through these functions.

use crate::stop::{mark_stdout_closed, stdout_closed};
use std::io::Write;

pub fn write_stdout(text: std::fmt::Arguments<'_>) {
    if stdout_closed() {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    // Any failure means the text cannot be delivered: a closed pipe, a full disk. Either way the
    // reader gets nothing more, which a closed stdout says.
    if stdout
        .write_fmt(text)
        .and_then(|()| stdout.flush())
        .is_err()
    {
        mark_stdout_closed();
    }
}

pub fn write_stderr(text: std::fmt::Arguments<'_>) {
    // Nowhere left to report a failure to write the report of failures.
    let _ = std::io::stderr().lock().write_fmt(text);
}

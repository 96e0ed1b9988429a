//! Stopping a command cleanly. Ctrl-C (SIGINT), SIGTERM and a closed stdout become one stop
//! request of the process: a sync starts no new change, lets the changes in flight finish (a few
//! seconds at most), records the run as aborted and releases its lease; any other command ends at
//! once. A second Ctrl-C or SIGTERM ends the process at once.
//!
//! The exit code says what stopped the command: 130 (SIGINT), 143 (SIGTERM), 141 (stdout closed),
//! the codes a shell reports for a command those signals ended.

use crate::error::ExitCode;
use common::retry::human_duration;
use common::sync::{CancelToken, IN_FLIGHT_GRACE, StopRequest};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static TOKEN: OnceLock<CancelToken> = OnceLock::new();
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether stdout was found closed (a write failed, or the reader went away during a run).
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::SeqCst)
}

/// Notes that stdout is closed and asks the command to stop.
pub fn mark_stdout_closed() {
    if !STDOUT_CLOSED.swap(true, Ordering::SeqCst) {
        request(StopRequest::OutputClosed);
    }
}
/// Whether the command stops by itself when asked (a sync run); others are ended by `main`.
static STOPS_CLEANLY: AtomicBool = AtomicBool::new(false);

/// The process's stop token, handed to a sync run.
pub fn token() -> CancelToken {
    TOKEN.get_or_init(CancelToken::new).clone()
}

/// Says that the command in progress handles a stop request itself (a sync run).
pub fn stops_cleanly() {
    STOPS_CLEANLY.store(true, Ordering::SeqCst);
}

/// Why the command was asked to stop, if it was.
pub fn requested() -> Option<StopRequest> {
    token().requested()
}

/// Asks the command to stop (the first request wins).
pub fn request(request: StopRequest) {
    if !token().cancel(request) || request == StopRequest::OutputClosed {
        return;
    }
    if STOPS_CLEANLY.load(Ordering::SeqCst) {
        eprintln!(
            "\n{}: stopping; changes in flight get up to {} to finish, then the run is recorded \
             and its lease released (again to quit at once)",
            signal_name(request),
            human_duration(IN_FLIGHT_GRACE),
        );
    } else {
        eprintln!("\n{}: stopping", signal_name(request));
    }
}

fn signal_name(request: StopRequest) -> &'static str {
    match request {
        StopRequest::Interrupted => "Ctrl-C (SIGINT)",
        StopRequest::Terminated => "SIGTERM",
        StopRequest::OutputClosed => "stdout closed",
    }
}

pub fn exit_code(request: StopRequest) -> ExitCode {
    match request {
        StopRequest::Interrupted => ExitCode::Interrupted,
        StopRequest::Terminated => ExitCode::Terminated,
        StopRequest::OutputClosed => ExitCode::OutputClosed,
    }
}

/// Starts listening for SIGINT and SIGTERM and, when `watch_stdout`, for the reader of stdout
/// going away. Call from within the runtime.
pub fn listen(watch_stdout: bool) {
    tokio::spawn(signals());
    if watch_stdout {
        tokio::spawn(stdout_reader_gone());
    }
}

#[cfg(unix)]
async fn signals() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        eprintln!("warning: cannot listen for Ctrl-C and SIGTERM; they end the process at once");
        return;
    };
    loop {
        let received = tokio::select! {
            _ = interrupt.recv() => StopRequest::Interrupted,
            _ = terminate.recv() => StopRequest::Terminated,
        };
        if requested().is_some_and(|first| first != StopRequest::OutputClosed) {
            eprintln!("{}: quitting at once", signal_name(received));
            std::process::exit(exit_code(received).code());
        }
        request(received);
    }
}

#[cfg(not(unix))]
async fn signals() {
    loop {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        if requested().is_some() {
            std::process::exit(ExitCode::Interrupted.code());
        }
        request(StopRequest::Interrupted);
    }
}

/// Notices a reader of stdout that went away while nothing is written (a sync prints at its
/// end): `personio-lms sync | head -1` where `head` was stopped.
async fn stdout_reader_gone() {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tick.tick().await;
        if stdout_closed() {
            return;
        }
        if stdout_has_no_reader() {
            mark_stdout_closed();
            return;
        }
    }
}

/// Whether stdout is a pipe or socket whose other end is closed: `poll` reports an error or a
/// hang-up on it. A terminal or a file never does.
#[cfg(unix)]
fn stdout_has_no_reader() -> bool {
    let mut stdout = libc::pollfd {
        fd: libc::STDOUT_FILENO,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid `pollfd` for a call with zero timeout; `poll` only reads its fd and
    // events and writes its revents.
    let ready = unsafe { libc::poll(&mut stdout, 1, 0) };
    ready > 0 && stdout.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

#[cfg(not(unix))]
fn stdout_has_no_reader() -> bool {
    false
}

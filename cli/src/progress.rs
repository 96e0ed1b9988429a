//! Progress bars on stderr for long runs, only when stderr is a terminal: in pipes and CI the
//! `tracing` logs are the record, and a bar would only add noise.
//!
//! A bar appears only once there is something to count (never an empty `0/0`), its counts only
//! move forward, and while one is drawn, log lines are printed above it ([`LogWriter`]) rather
//! than onto its line.

use common::certificates::{JobReport, PushProgress};
use common::sync::SyncProgress;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::Mutex;

/// The bar being drawn, if any: the log writer prints around it.
static DRAWN: Mutex<Option<ProgressBar>> = Mutex::new(None);

fn drawn() -> std::sync::MutexGuard<'static, Option<ProgressBar>> {
    DRAWN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// stderr for `tracing`: while a bar is drawn, each log line is written with the bar cleared
/// and redrawn below it.
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = drawn().clone();
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf))?,
            None => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// One bar that appears on its first non-zero total and never counts backwards.
struct Bar {
    wanted: bool,
    message: &'static str,
    bar: Mutex<Option<ProgressBar>>,
}

impl Bar {
    fn new(wanted: bool, message: &'static str) -> Self {
        Self {
            wanted: wanted && std::io::stderr().is_terminal(),
            message,
            bar: Mutex::new(None),
        }
    }

    fn update(&self, done: u64, total: u64) {
        if !self.wanted || total == 0 {
            return;
        }
        let mut slot = self.bar.lock().unwrap_or_else(|p| p.into_inner());
        let bar = slot.get_or_insert_with(|| {
            let bar = ProgressBar::new(total);
            // The template is a constant; should indicatif ever reject it, the default is fine.
            if let Ok(style) =
                ProgressStyle::with_template("{msg:32} [{bar:30}] {pos}/{len} {elapsed}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(self.message);
            *drawn() = Some(bar.clone());
            bar
        });
        // Counts only grow: a page total that grows as Personio pages, concurrent applies that
        // report out of order.
        if total > bar.length().unwrap_or(0) {
            bar.set_length(total);
        }
        if done > bar.position() {
            bar.set_position(done.min(bar.length().unwrap_or(done)));
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).take() {
            bar.finish_and_clear();
            // One bar at a time: the sync's phases and the certificate push follow each other.
            *drawn() = None;
        }
    }
}

/// The sync's two phases, each its own bar: Personio pages, then the planned changes.
pub struct SyncBar {
    reading: Bar,
    writing: Bar,
}

impl SyncBar {
    /// `dry_run`: the second phase plans and writes nothing, and says so.
    pub fn new(wanted: bool, dry_run: bool) -> Self {
        Self {
            reading: Bar::new(wanted, "reading Personio"),
            writing: Bar::new(
                wanted,
                if dry_run {
                    "planning (dry run, nothing written)"
                } else {
                    "writing to the LMS"
                },
            ),
        }
    }

    pub fn finish(&self) {
        self.reading.finish();
        self.writing.finish();
    }
}

impl SyncProgress for SyncBar {
    fn pages_read(&self, read: u32, total: u32) {
        self.reading.update(u64::from(read), u64::from(total));
    }

    fn applied(&self, done: usize, total: usize) {
        if total > 0 {
            self.reading.finish();
        }
        self.writing.update(done as u64, total as u64);
    }
}

/// Certificates pushed so far.
pub struct PushBar(Bar);

impl PushBar {
    pub fn new(wanted: bool, message: &'static str) -> Self {
        Self(Bar::new(wanted, message))
    }

    pub fn finish(&self) {
        self.0.finish();
    }
}

impl PushProgress for PushBar {
    fn job_finished(&self, done: usize, total: usize, _report: &JobReport) {
        self.0.update(done as u64, total as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bar that draws nowhere, to test the counting rules without a terminal.
    fn hidden(message: &'static str) -> Bar {
        Bar {
            wanted: true,
            message,
            bar: Mutex::new(None),
        }
    }

    fn shown(bar: &Bar) -> Option<(u64, Option<u64>)> {
        bar.bar
            .lock()
            .expect("lock")
            .as_ref()
            .map(|bar| (bar.position(), bar.length()))
    }

    #[test]
    fn no_bar_until_there_is_something_to_count() {
        let bar = hidden("x");
        bar.update(0, 0);
        assert_eq!(shown(&bar), None, "no 0/0 bar");
        bar.update(0, 4);
        assert_eq!(shown(&bar), Some((0, Some(4))));
        bar.finish();
    }

    #[test]
    fn counts_never_go_backwards() {
        let bar = hidden("x");
        bar.update(3, 10);
        bar.update(2, 10);
        assert_eq!(shown(&bar), Some((3, Some(10))));
        bar.update(4, 8);
        assert_eq!(
            shown(&bar),
            Some((4, Some(10))),
            "the total does not shrink"
        );
        bar.finish();
        assert_eq!(shown(&bar), None);
    }

    #[test]
    fn a_dry_run_never_says_it_writes() {
        let bar = SyncBar::new(true, true);
        assert!(!bar.writing.message.contains("writing"));
        assert!(bar.writing.message.contains("dry run"));
        assert_eq!(
            SyncBar::new(true, false).writing.message,
            "writing to the LMS"
        );
    }
}

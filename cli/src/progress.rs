//! Progress bars on stderr for long runs, only when stderr is a terminal: in pipes and CI the
//! `tracing` logs are the record, and a bar would only add noise.

use common::certificates::{JobReport, PushProgress};
use common::sync::SyncProgress;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

fn bar(wanted: bool, message: &'static str) -> Option<ProgressBar> {
    if !wanted || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(0);
    // The template is a constant; should indicatif ever reject it, the default style is fine.
    if let Ok(style) = ProgressStyle::with_template("{msg:32} [{bar:30}] {pos}/{len} {elapsed}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message);
    Some(bar)
}

/// The sync's two phases (Personio pages, then LMS writes) on one bar.
pub struct SyncBar(Option<ProgressBar>);

impl SyncBar {
    pub fn new(wanted: bool) -> Self {
        Self(bar(wanted, "reading Personio"))
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

impl SyncProgress for SyncBar {
    fn pages_read(&self, read: u32, total: u32) {
        if let Some(bar) = &self.0 {
            bar.set_length(u64::from(total));
            bar.set_position(u64::from(read));
        }
    }

    fn applied(&self, done: usize, total: usize) {
        if let Some(bar) = &self.0 {
            bar.set_message("writing to the LMS");
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    }
}

/// Certificates pushed so far.
pub struct PushBar(Option<ProgressBar>);

impl PushBar {
    pub fn new(wanted: bool, message: &'static str) -> Self {
        Self(bar(wanted, message))
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

impl PushProgress for PushBar {
    fn job_finished(&self, done: usize, total: usize, _report: &JobReport) {
        if let Some(bar) = &self.0 {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    }
}

//! Delta runs: between full runs, a scheduled run lists only the employees Personio reports as
//! changed since the previous successful run (`updated_since`, minus an overlap against clocks
//! and changes saved while that run listed), at a fraction of a full listing's requests. A delta
//! never deactivates anybody it does not list; the full run every `full_every_hours` catches
//! what deltas and webhooks cannot see (employees deleted without an event, missed events).

use serde::{Deserialize, Serialize};

/// The longest time between full runs that can be set: a week.
pub const MAX_FULL_EVERY_HOURS: u32 = 168;
/// The longest overlap that can be set.
pub const MAX_OVERLAP_MINUTES: u32 = 60;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeltaRunSettings {
    /// Scheduled runs between full runs are deltas. Off: every scheduled run is full.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Hours between full runs (1..=168).
    #[serde(default = "default_full_every_hours")]
    pub full_every_hours: u32,
    /// Minutes a delta reaches back before the previous successful run started (0..=60).
    #[serde(default = "default_overlap_minutes")]
    pub overlap_minutes: u32,
}

fn enabled_by_default() -> bool {
    true
}

fn default_full_every_hours() -> u32 {
    24
}

fn default_overlap_minutes() -> u32 {
    5
}

impl Default for DeltaRunSettings {
    fn default() -> Self {
        Self {
            enabled: enabled_by_default(),
            full_every_hours: default_full_every_hours(),
            overlap_minutes: default_overlap_minutes(),
        }
    }
}

impl DeltaRunSettings {
    pub fn full_every(&self) -> chrono::Duration {
        chrono::Duration::hours(i64::from(self.full_every_hours))
    }

    pub fn overlap(&self) -> chrono::Duration {
        chrono::Duration::minutes(i64::from(self.overlap_minutes))
    }

    /// The field (below `delta_runs.`) and what is wrong with it.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        if !(1..=MAX_FULL_EVERY_HOURS).contains(&self.full_every_hours) {
            return Some((
                "full_every_hours",
                format!(
                    "must be between 1 and {MAX_FULL_EVERY_HOURS}, got {}",
                    self.full_every_hours
                ),
            ));
        }
        if self.overlap_minutes > MAX_OVERLAP_MINUTES {
            return Some((
                "overlap_minutes",
                format!(
                    "must be between 0 and {MAX_OVERLAP_MINUTES}, got {}",
                    self.overlap_minutes
                ),
            ));
        }
        None
    }
}

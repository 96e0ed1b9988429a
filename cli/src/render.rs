//! Output for people: short headers, count lines and compact tables. Pure functions from records
//! to text, so the formatting is unit-tested and every command prints runs the same way.

use common::app::preflight::{CheckStatus, PreflightReport};
use common::certificates::{BatchReport, PushOutcome};
use common::domain::certificate::{LedgerEntry, LedgerState};
use common::domain::run::{EmployeeOutcome, OutcomeAction, RunKind, RunRecord, RunStatus};
use std::fmt::Write as _;

/// Check-mark symbols: Unicode on a UTF-8 terminal, ASCII otherwise (pipes, logs, old consoles).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Symbols {
    Unicode,
    Ascii,
}

impl Symbols {
    /// Unicode when stdout is a terminal whose locale says UTF-8.
    pub fn detect() -> Self {
        use std::io::IsTerminal;
        let utf8_locale = ["LC_ALL", "LC_CTYPE", "LANG"]
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
            .is_some_and(|value| {
                let value = value.to_ascii_lowercase();
                value.contains("utf-8") || value.contains("utf8")
            });
        if std::io::stdout().is_terminal() && utf8_locale {
            Self::Unicode
        } else {
            Self::Ascii
        }
    }

    fn status(self, status: CheckStatus) -> &'static str {
        match (self, status) {
            (Self::Unicode, CheckStatus::Ok) => "✓",
            (Self::Unicode, CheckStatus::Warning) => "!",
            (Self::Unicode, CheckStatus::Failed) => "✗",
            (Self::Ascii, CheckStatus::Ok) => "[ok]",
            (Self::Ascii, CheckStatus::Warning) => "[!!]",
            (Self::Ascii, CheckStatus::Failed) => "[XX]",
        }
    }
}

/// The widest a table cell gets before it is cut with `…`.
const MAX_CELL_CHARS: usize = 70;

/// A left-aligned text table with a header row and a rule, two spaces between columns.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| cut(cell, MAX_CELL_CHARS)).collect())
        .collect();
    let mut widths: Vec<usize> = headers
        .iter()
        .map(|header| header.chars().count())
        .collect();
    for row in &cells {
        for (index, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(index) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let line = |values: &mut dyn Iterator<Item = &str>| {
        let padded: Vec<String> = values
            .zip(&widths)
            .map(|(value, width)| {
                let pad = width.saturating_sub(value.chars().count());
                format!("{value}{}", " ".repeat(pad))
            })
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut out = String::new();
    out.push_str(&line(&mut headers.iter().copied()));
    out.push('\n');
    let rule: Vec<String> = widths.iter().map(|width| "-".repeat(*width)).collect();
    out.push_str(&rule.join("  "));
    out.push('\n');
    for row in &cells {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
        out.push('\n');
    }
    out
}

fn cut(text: &str, max: usize) -> String {
    let single_line = text.replace(['\n', '\r'], " ");
    if single_line.chars().count() <= max {
        single_line
    } else {
        let kept: String = single_line.chars().take(max.saturating_sub(1)).collect();
        format!("{kept}…")
    }
}

pub fn action_label(action: OutcomeAction) -> &'static str {
    match action {
        OutcomeAction::Created => "created",
        OutcomeAction::Adopted => "adopted",
        OutcomeAction::Updated => "updated",
        OutcomeAction::Deactivated => "deactivated",
        OutcomeAction::Unchanged => "unchanged",
        OutcomeAction::NotCreated => "not created",
        OutcomeAction::Skipped => "skipped",
        OutcomeAction::HeldBack => "held back",
        OutcomeAction::Failed => "FAILED",
    }
}

/// The action as a dry run's plan says it: what would happen.
pub fn planned_action_label(action: OutcomeAction) -> &'static str {
    match action {
        OutcomeAction::Created => "would create",
        OutcomeAction::Adopted => "would adopt",
        OutcomeAction::Updated => "would update",
        OutcomeAction::Deactivated => "would deactivate",
        OutcomeAction::Unchanged => "no change",
        OutcomeAction::NotCreated => "would not create",
        OutcomeAction::Skipped => "would skip",
        OutcomeAction::HeldBack => "would hold back",
        OutcomeAction::Failed => "would FAIL",
    }
}

pub fn status_label(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "running",
        RunStatus::Succeeded => "succeeded",
        RunStatus::CompletedWithFailures => "completed with failures",
        RunStatus::Failed => "FAILED",
    }
}

/// `created 3 · updated 1 · …`, leaving out zeros except `unchanged`, so that "nothing changed"
/// reads as `unchanged 57`.
pub fn counts_line(record: &RunRecord) -> String {
    let counts = &record.counts;
    let all = [
        ("created", counts.created),
        ("adopted", counts.adopted),
        ("updated", counts.updated),
        ("deactivated", counts.deactivated),
        ("unchanged", counts.unchanged),
        ("not created", counts.not_created),
        ("skipped", counts.skipped),
        ("failed", counts.failed),
        ("held back", counts.held_back),
        ("groups added", counts.groups_added),
        ("groups removed", counts.groups_removed),
        ("invitations", counts.invitations),
    ];
    all.iter()
        .filter(|(name, count)| *count > 0 || *name == "unchanged")
        .map(|(name, count)| format!("{name} {count}"))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// Whether a run changed nothing in the LMS.
pub fn changed_nothing(record: &RunRecord) -> bool {
    let counts = &record.counts;
    counts.created
        + counts.adopted
        + counts.updated
        + counts.deactivated
        + counts.groups_added
        + counts.groups_removed
        + counts.invitations
        == 0
}

/// A run: a status line, the counts, the changed employees (at most `max_rows`), notices, error.
pub fn run_summary(record: &RunRecord, max_rows: usize) -> String {
    let mut out = String::new();
    let took = record
        .finished_at
        .map(|finished| {
            let millis = (finished - record.started_at).num_milliseconds().max(0);
            format!(" in {:.1} s", millis as f64 / 1000.0)
        })
        .unwrap_or_default();
    let dry = if record.dry_run {
        " (dry run: nothing written)"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "run {} {}{took}{dry}",
        record.run_id,
        status_label(record.status)
    );
    let _ = writeln!(out, "  {}", counts_line(record));
    if changed_nothing(record) && record.status != RunStatus::Failed {
        let _ = writeln!(out, "  nothing changed in the LMS");
    }
    if let Some(error) = &record.error {
        let _ = writeln!(out, "  error: {error}");
    }
    if record.dry_run && !record.fields_sent.is_empty() {
        let _ = writeln!(
            out,
            "  personal data sent to the LMS: {}",
            record.fields_sent.join(", ")
        );
    }
    // Unchanged rows only when they say something (a kept account, an owed invitation, an
    // employee a targeted run was asked about).
    let listed: Vec<_> = record
        .outcomes
        .iter()
        .filter(|outcome| {
            outcome.action != OutcomeAction::Unchanged
                || outcome.reason.is_some()
                || !outcome.change_lines().is_empty()
        })
        .collect();
    if !listed.is_empty() {
        let rows: Vec<Vec<String>> = listed
            .iter()
            .take(max_rows)
            .map(|outcome| {
                let label = if record.dry_run {
                    planned_action_label(outcome.action)
                } else {
                    action_label(outcome.action)
                };
                let mut reason = outcome.reason.clone().unwrap_or_default();
                if is_new(outcome) && !outcome.groups_added.is_empty() {
                    if !reason.is_empty() {
                        reason.push_str("; ");
                    }
                    reason.push_str(&format!("+groups {}", outcome.groups_added.join(", ")));
                }
                vec![
                    outcome.name.clone().unwrap_or_else(|| "-".into()),
                    outcome.email.clone().unwrap_or_else(|| "-".into()),
                    label.to_owned(),
                    reason,
                ]
            })
            .collect();
        out.push('\n');
        for line in table(&["name", "email", "action", "reason"], &rows).lines() {
            let _ = writeln!(out, "  {line}");
        }
        if listed.len() > max_rows {
            let _ = writeln!(
                out,
                "  … and {} more (`runs show {}` lists all)",
                listed.len() - max_rows,
                record.run_id
            );
        }
    }
    let changed: Vec<&EmployeeOutcome> = listed
        .iter()
        .take(max_rows)
        .copied()
        .filter(|outcome| !is_new(outcome) && !outcome.change_lines().is_empty())
        .collect();
    if !changed.is_empty() {
        let heading = if record.dry_run {
            "changes it would make"
        } else {
            "changes"
        };
        let _ = writeln!(out, "\n  {heading}:");
        for outcome in changed {
            let _ = writeln!(out, "  {}:", who(outcome));
            for line in outcome.change_lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    if !record.notices.is_empty() {
        let _ = writeln!(out, "\n  notices:");
        for notice in compact_notices(&record.notices) {
            let _ = writeln!(out, "  - {notice}");
        }
    }
    out
}

/// A new account: its groups are part of its row, there is nothing to compare with.
fn is_new(outcome: &EmployeeOutcome) -> bool {
    matches!(
        outcome.action,
        OutcomeAction::Created | OutcomeAction::Adopted
    )
}

/// "Name (Personio id)", as far as the outcome knows them.
fn who(outcome: &EmployeeOutcome) -> String {
    let id = outcome.personio_id.map(|id| id.to_string());
    match (&outcome.name, id) {
        (Some(name), Some(id)) => format!("{name} ({id})"),
        (Some(name), None) => name.clone(),
        (None, Some(id)) => format!("employee {id}"),
        (None, None) => outcome.email.clone().unwrap_or_else(|| "-".into()),
    }
}

/// The sync reports each missing LMS group as its own notice; on screen they read better as one
/// line. Notices of any other form are shown as they are.
pub fn compact_notices(notices: &[String]) -> Vec<String> {
    const PREFIX: &str = "the LMS has no group named \"";
    let mut missing = Vec::new();
    let mut others = Vec::new();
    for notice in notices {
        match notice
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once("\";"))
        {
            Some((group, _)) => missing.push(group.to_owned()),
            None => others.push(notice.clone()),
        }
    }
    let mut compacted = Vec::new();
    if !missing.is_empty() {
        compacted.push(format!(
            "missing LMS groups ({}; the sync never creates groups): {}",
            missing.len(),
            missing.join(", ")
        ));
    }
    compacted.extend(others);
    compacted
}

/// The run history, newest first, one line each.
pub fn runs_list(records: &[RunRecord]) -> String {
    if records.is_empty() {
        return "no runs yet\n".to_owned();
    }
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|record| {
            vec![
                record.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                record.run_id.to_string(),
                match record.kind {
                    RunKind::Full => format!("{:?}", record.trigger).to_lowercase(),
                    RunKind::Targeted => format!("{:?}, targeted", record.trigger).to_lowercase(),
                    RunKind::Delta => format!("{:?}, delta", record.trigger).to_lowercase(),
                },
                format!(
                    "{}{}",
                    status_label(record.status),
                    if record.dry_run { " (dry run)" } else { "" }
                ),
                counts_line(record),
            ]
        })
        .collect();
    table(
        &["started (UTC)", "run id", "trigger", "status", "counts"],
        &rows,
    )
}

/// The pre-flight checklist.
pub fn preflight(report: &PreflightReport, symbols: Symbols) -> String {
    let mut out = String::new();
    for check in &report.checks {
        let _ = writeln!(
            out,
            "{} {}: {}",
            symbols.status(check.status),
            check.name,
            check.detail
        );
    }
    if !report.groups_missing.is_empty() {
        let _ = writeln!(
            out,
            "\nLMS groups missing (the sync never creates groups): {}",
            report.groups_missing.join(", ")
        );
    }
    let verdict = if report.passed() {
        "pre-flight check passed"
    } else {
        "pre-flight check FAILED"
    };
    let _ = writeln!(out, "\n{verdict}");
    out
}

fn push_outcome_cells(outcome: &PushOutcome) -> (String, String) {
    match outcome {
        PushOutcome::Uploaded { document_id } => {
            ("uploaded".into(), format!("document {document_id}"))
        }
        PushOutcome::AlreadyDone { document_id } => {
            ("already done".into(), format!("document {document_id}"))
        }
        PushOutcome::Recovered { document_id } => {
            ("recovered".into(), format!("document {document_id}"))
        }
        PushOutcome::Parked => (
            "parked".into(),
            "employee not synced yet; pushed after the next sync".into(),
        ),
        PushOutcome::Busy { until } => ("busy".into(), format!("another worker until {until}")),
        PushOutcome::Failed { reason, retryable } => (
            if *retryable {
                "failed (retryable)"
            } else {
                "FAILED"
            }
            .into(),
            reason.clone(),
        ),
    }
}

/// Certificate results: counts, then one row per job; `line_of` names the input line of a job.
pub fn batch_report(report: &BatchReport, line_of: &dyn Fn(usize) -> Option<usize>) -> String {
    let counts = report.counts();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "uploaded {} · already done {} · recovered {} · parked {} · busy {} · failed {}",
        counts.uploaded,
        counts.already_done,
        counts.recovered,
        counts.parked,
        counts.busy,
        counts.failed_permanent + counts.failed_retryable
    );
    if let Some(problem) = &report.integration_problem {
        let _ = writeln!(out, "integration problem: {problem}");
    }
    let rows: Vec<Vec<String>> = report
        .jobs
        .iter()
        .map(|job| {
            let (state, detail) = push_outcome_cells(&job.outcome);
            vec![
                line_of(job.index).map_or_else(|| "-".into(), |line| line.to_string()),
                job.certificate_id
                    .as_ref()
                    .map_or_else(|| "-".into(), ToString::to_string),
                state,
                detail,
            ]
        })
        .collect();
    if !rows.is_empty() {
        out.push('\n');
        out.push_str(&table(&["line", "certificate", "result", "detail"], &rows));
    }
    out
}

/// The certificate ledger.
pub fn ledger(entries: &[LedgerEntry]) -> String {
    if entries.is_empty() {
        return "no certificates yet\n".to_owned();
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|entry| {
            let (state, detail) = match &entry.state {
                LedgerState::Parked { .. } => ("parked", "waiting for the employee's sync".into()),
                LedgerState::InProgress { expires_at } => {
                    ("in progress", format!("claim expires {expires_at}"))
                }
                LedgerState::Done { document_id } => ("done", format!("document {document_id}")),
                LedgerState::Failed { reason } => ("failed", reason.clone()),
            };
            vec![
                entry.certificate_id.to_string(),
                state.to_owned(),
                detail,
                entry.attempts.to_string(),
                entry.updated_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            ]
        })
        .collect();
    table(
        &[
            "certificate",
            "state",
            "document / reason",
            "attempts",
            "updated (UTC)",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use common::app::preflight::Check;
    use common::domain::IntegrationId;
    use common::domain::run::{EmployeeOutcome, RunCounts, RunId, RunKind, Trigger};

    fn record() -> RunRecord {
        let started = Utc
            .with_ymd_and_hms(2026, 11, 23, 5, 0, 0)
            .single()
            .expect("valid");
        RunRecord {
            integration_id: IntegrationId::new("acme"),
            run_id: RunId("run-1".into()),
            trigger: Trigger::Cli,
            kind: RunKind::Full,
            targets: Vec::new(),
            dry_run: false,
            started_at: started,
            finished_at: Some(started + chrono::Duration::milliseconds(1500)),
            status: RunStatus::Succeeded,
            counts: RunCounts {
                created: 1,
                unchanged: 5,
                ..RunCounts::default()
            },
            outcomes: vec![EmployeeOutcome {
                personio_id: None,
                email: Some("zoë@example.com".into()),
                name: Some("Zoë Ünal".into()),
                action: OutcomeAction::Created,
                groups_added: vec!["Sales".into()],
                groups_removed: Vec::new(),
                changes: Vec::new(),
                invited: true,
                reason: None,
            }],
            notices: vec![
                "the LMS has no group named \"Legal\"; nobody was added to it".into(),
                "the deactivation guard held back 3 deactivations".into(),
                "the LMS has no group named \"Sales\"; nobody was added to it".into(),
            ],
            error: None,
            fields_sent: Vec::new(),
        }
    }

    #[test]
    fn tables_align_by_characters_not_bytes() {
        let text = table(
            &["name", "x"],
            &[
                vec!["Zoë".into(), "1".into()],
                vec!["Al".into(), "22".into()],
            ],
        );
        assert_eq!(text, "name  x\n----  --\nZoë   1\nAl    22\n");
    }

    #[test]
    fn long_cells_are_cut() {
        let long = "a".repeat(100);
        let text = table(&["h"], &[vec![long]]);
        let row = text.lines().nth(2).expect("a row");
        assert_eq!(row.chars().count(), MAX_CELL_CHARS);
        assert!(row.ends_with('…'));
    }

    #[test]
    fn a_run_summary_has_status_counts_table_and_notices() {
        let text = run_summary(&record(), 10);
        assert!(text.starts_with("run run-1 succeeded in 1.5 s\n"), "{text}");
        assert!(text.contains("  created 1 · unchanged 5\n"));
        assert!(
            text.contains("Zoë Ünal  zoë@example.com  created  +groups Sales"),
            "{text}"
        );
        assert!(
            !text.contains("changes:"),
            "a new account has nothing to compare"
        );
        assert!(
            text.contains(
                "  - missing LMS groups (2; the sync never creates groups): Legal, Sales\n  \
             - the deactivation guard held back 3 deactivations\n"
            ),
            "{text}"
        );
        assert!(!text.contains("nothing changed"));
    }

    #[test]
    fn a_plan_says_what_would_happen_field_by_field() {
        let mut record = record();
        record.dry_run = true;
        record.fields_sent = vec!["first_name".into(), "email".into(), "department".into()];
        let mut mover = EmployeeOutcome::new(
            Some(common::domain::employee::PersonioId(102)),
            OutcomeAction::Updated,
        );
        mover.name = Some("Grace Hopper".into());
        mover.email = Some("grace@example.com".into());
        mover.changes = vec![common::domain::run::FieldChange {
            field: "department".into(),
            from: Some("Customer Support".into()),
            to: Some("Marketing".into()),
        }];
        mover.groups_added = vec!["Marketing".into()];
        mover.groups_removed = vec!["Customer Support".into()];
        let mut leaver = EmployeeOutcome::new(
            Some(common::domain::employee::PersonioId(103)),
            OutcomeAction::NotCreated,
        );
        leaver.name = Some("Alan Turing".into());
        leaver.reason = Some("inactive in Personio (left 2024-03-31)".into());
        record.outcomes = vec![mover, leaver];
        let text = run_summary(&record, 10);
        assert!(
            text.contains("  personal data sent to the LMS: first_name, email, department\n"),
            "{text}"
        );
        assert!(text.contains("would update"), "{text}");
        assert!(
            text.contains("would not create  inactive in Personio (left 2024-03-31)"),
            "{text}"
        );
        assert!(
            text.contains(
                "  changes it would make:\n  Grace Hopper (102):\n    \
                 ~ department: Customer Support → Marketing\n    + group Marketing\n    \
                 - group Customer Support\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn targeted_runs_are_marked_in_the_history() {
        let mut record = record();
        record.kind = RunKind::Targeted;
        assert!(runs_list(&[record]).contains("cli, targeted"));
    }

    #[test]
    fn a_no_change_run_says_so_and_lists_nobody() {
        let mut record = record();
        record.counts = RunCounts {
            unchanged: 6,
            ..RunCounts::default()
        };
        record.outcomes.clear();
        let text = run_summary(&record, 10);
        assert!(
            text.contains("  unchanged 6\n  nothing changed in the LMS\n"),
            "{text}"
        );
        assert!(!text.contains("email"));
    }

    #[test]
    fn long_outcome_lists_are_truncated_with_a_pointer() {
        let mut record = record();
        let outcome = record.outcomes[0].clone();
        record.outcomes = vec![outcome; 5];
        let text = run_summary(&record, 2);
        assert!(
            text.contains("… and 3 more (`runs show run-1` lists all)"),
            "{text}"
        );
    }

    #[test]
    fn the_checklist_uses_the_chosen_symbols() {
        let report = PreflightReport {
            checks: vec![
                Check {
                    name: "settings",
                    status: CheckStatus::Ok,
                    detail: "settings are valid".into(),
                },
                Check {
                    name: "personio.auth",
                    status: CheckStatus::Failed,
                    detail: "rejected".into(),
                },
            ],
            ..PreflightReport::default()
        };
        let ascii = preflight(&report, Symbols::Ascii);
        assert!(
            ascii.starts_with("[ok] settings: settings are valid\n[XX] personio.auth: rejected\n")
        );
        assert!(ascii.ends_with("pre-flight check FAILED\n"));
        let unicode = preflight(&report, Symbols::Unicode);
        assert!(unicode.contains("✗ personio.auth"));
    }

    #[test]
    fn batch_reports_name_input_lines() {
        let report = BatchReport {
            jobs: vec![common::certificates::JobReport {
                index: 0,
                certificate_id: None,
                outcome: PushOutcome::Failed {
                    reason: "course_name: missing".into(),
                    retryable: false,
                },
            }],
            integration_problem: None,
        };
        let text = batch_report(&report, &|index| Some(index + 4));
        assert!(text.starts_with(
            "uploaded 0 · already done 0 · recovered 0 · parked 0 · busy 0 · failed 1\n"
        ));
        assert!(
            text.contains("4     -            FAILED  course_name: missing"),
            "{text}"
        );
    }
}

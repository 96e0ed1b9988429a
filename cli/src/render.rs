//! Output for people: short headers, count lines and compact tables. Pure functions from records
//! to text, so the formatting is unit-tested and every command prints runs the same way.

use common::app::explain::Explanation;
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

/// How wide output may be. On a terminal a table fits its width: the last column (the reason,
/// the detail) wraps onto continuation lines. Anywhere else (a pipe, a file, CI logs) nothing is
/// cut or wrapped, so `grep` and scripts see every word on the row's one line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    Unlimited,
    Columns(usize),
}

impl Width {
    /// The terminal's width when stdout is one, else unlimited.
    pub fn detect() -> Self {
        use std::io::IsTerminal;
        if !std::io::stdout().is_terminal() {
            return Self::Unlimited;
        }
        let columns = console::Term::stdout()
            .size_checked()
            .map_or(100, |(_, columns)| usize::from(columns));
        Self::Columns(columns.max(40))
    }
}

/// The narrowest the wrapped last column gets, however many columns come before it.
const MIN_WRAPPED_CHARS: usize = 24;

/// A left-aligned text table with a header row and a rule, two spaces between columns. Cells are
/// one line each (line breaks become spaces); within `width`, the last column wraps.
pub fn table(headers: &[&str], rows: &[Vec<String>], width: Width) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| one_line(cell)).collect())
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
    let last = widths.len().saturating_sub(1);
    let lead: usize = widths[..last].iter().map(|width| width + 2).sum();
    let wrap_at = match width {
        Width::Columns(columns) if lead + widths[last] > columns => {
            let available = columns.saturating_sub(lead).max(MIN_WRAPPED_CHARS);
            widths[last] = widths[last].min(available);
            Some(available)
        }
        _ => None,
    };
    let line = |values: &[&str]| {
        let padded: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(value, width)| {
                let pad = width.saturating_sub(value.chars().count());
                format!("{value}{}", " ".repeat(pad))
            })
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut out = String::new();
    out.push_str(&line(headers));
    out.push('\n');
    let rule: Vec<String> = widths.iter().map(|width| "-".repeat(*width)).collect();
    out.push_str(&rule.join("  "));
    out.push('\n');
    for row in &cells {
        let mut values: Vec<&str> = row.iter().map(String::as_str).collect();
        let wrapped = match (wrap_at, values.get(last)) {
            (Some(at), Some(cell)) => wrap(cell, at),
            _ => Vec::new(),
        };
        if let Some(first) = wrapped.first() {
            values[last] = first;
        }
        out.push_str(&line(&values));
        out.push('\n');
        for more in wrapped.iter().skip(1) {
            out.push_str(&format!("{}{more}", " ".repeat(lead)));
            out.push('\n');
        }
    }
    out
}

fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// Splits `text` into lines of at most `width` characters at spaces; a word longer than a line
/// is split inside.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split(' ').filter(|word| !word.is_empty()) {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let used = current.chars().count();
            let needed = word.len() + usize::from(used > 0);
            if used + needed <= width {
                if used > 0 {
                    current.push(' ');
                }
                current.extend(word.iter());
                break;
            }
            if used > 0 {
                lines.push(std::mem::take(&mut current));
                continue;
            }
            let rest = word.split_off(width);
            lines.push(word.into_iter().collect());
            word = rest;
        }
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    lines
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
        OutcomeAction::Repaired => "repaired",
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
        OutcomeAction::Repaired => "would repair",
    }
}

pub fn status_label(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "running",
        RunStatus::Succeeded => "succeeded",
        RunStatus::CompletedWithFailures => "completed with failures",
        RunStatus::Failed => "FAILED",
        RunStatus::Aborted => "ABORTED",
        RunStatus::Abandoned => "abandoned",
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
        ("not applied", counts.not_applied),
        ("repaired", counts.repaired),
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
        + counts.repaired
        + counts.groups_added
        + counts.groups_removed
        + counts.invitations
        == 0
}

/// Less `indent` characters (for a table printed indented).
fn narrower(width: Width, indent: usize) -> Width {
    match width {
        Width::Unlimited => Width::Unlimited,
        Width::Columns(columns) => Width::Columns(columns.saturating_sub(indent)),
    }
}

/// What an employee row says about who it is: the Personio id (what the admin searches
/// Personio by) and the name, `-` where the run did not know them.
pub fn employee_cells(outcome: &EmployeeOutcome) -> [String; 3] {
    [
        outcome
            .personio_id
            .map_or_else(|| "-".into(), |id| id.to_string()),
        outcome.name.clone().unwrap_or_else(|| "-".into()),
        outcome.email.clone().unwrap_or_else(|| "-".into()),
    ]
}

/// The reason column of an outcome: why, and the groups it joined.
fn outcome_reason(outcome: &EmployeeOutcome) -> String {
    let mut parts = Vec::new();
    if let Some(reason) = &outcome.reason {
        parts.push(reason.clone());
    }
    // A new account's groups belong to its row; an existing one's are in its changes.
    if is_new(outcome) && !outcome.groups_added.is_empty() {
        parts.push(format!("+groups {}", outcome.groups_added.join(", ")));
    }
    if outcome.invited {
        parts.push("invited".into());
    }
    parts.join("; ")
}

/// A run: a status line, the counts, the changed employees (at most `max_rows`), notices, error.
pub fn run_summary(record: &RunRecord, max_rows: usize, width: Width) -> String {
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
                let mut row = employee_cells(outcome).to_vec();
                row.push(label.to_owned());
                row.push(outcome_reason(outcome));
                row
            })
            .collect();
        out.push('\n');
        let headers = ["personio id", "name", "email", "action", "reason"];
        for line in table(&headers, &rows, narrower(width, 2)).lines() {
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

/// Runs recorded before the sync reported missing groups in one notice have one notice per
/// group; on screen they read better as one line. Notices of any other form are shown as they are.
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
pub fn runs_list(records: &[RunRecord], width: Width) -> String {
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
                    RunKind::Reconcile => format!("{:?}, reconcile", record.trigger).to_lowercase(),
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
        width,
    )
}

/// `explain`: who, the verdict, then each part of the answer, then the recent outcomes.
pub fn explanation(answer: &Explanation, width: Width) -> String {
    let mut out = String::new();
    let who = [
        answer.name.clone(),
        answer.personio_id.map(|id| format!("Personio id {id}")),
        answer.email.clone(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" · ");
    let _ = writeln!(out, "{who}");
    let _ = writeln!(out, "{}\n", answer.verdict);

    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row = |label: &str, text: String| rows.push(vec![label.to_owned(), text]);
    row(
        "Personio",
        match (&answer.parse_error, &answer.selection) {
            (Some(error), _) => format!("listed, but the record cannot be read: {error}"),
            (None, Some(selection)) => format!(
                "listed; {:?} = {} ({})",
                selection.attribute,
                selection
                    .value
                    .as_ref()
                    .map_or_else(|| "(no value)".to_owned(), |value| format!("{value:?}")),
                if selection.selected {
                    "selected"
                } else {
                    "not selected"
                }
            ),
            (None, None) => "not listed".to_owned(),
        },
    );
    if let Some(error) = &answer.mapping_error {
        row("profile", format!("cannot be mapped: {error}"));
    }
    if !answer.fields_sent.is_empty() {
        row("sent to LMS", answer.fields_sent.join(", "));
    }
    if !answer.groups.is_empty() {
        row("groups", answer.groups.join(", "));
    }
    row(
        "link",
        match &answer.link {
            Some(link) => format!(
                "LMS user {} · {} · groups added by the sync: {} · last write {}",
                link.lms_user_id.0,
                if link.active { "active" } else { "deactivated" },
                if link.groups.is_empty() {
                    "none".to_owned()
                } else {
                    link.groups.iter().cloned().collect::<Vec<_>>().join(", ")
                },
                link.updated_at.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            None => "none (the sync has no LMS account for this employee)".to_owned(),
        },
    );
    row(
        "LMS now",
        match (&answer.lms_user, &answer.lms_error) {
            (_, Some(error)) => format!("could not be asked: {error}"),
            (Some(user), None) => format!(
                "user {} · {} · {}",
                user.id.0,
                user.email,
                if user.active { "active" } else { "inactive" }
            ),
            (None, None) => "no user with this Personio id or email".to_owned(),
        },
    );
    row(
        "next run",
        format!("{}: {}", answer.next_run.action, answer.next_run.reason),
    );
    for line in table(&["", ""], &rows, width).lines().skip(2) {
        let _ = writeln!(out, "{line}");
    }

    if let Some(profile) = &answer.profile
        && let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(profile)
    {
        let _ = writeln!(out, "\nthe profile the LMS receives:");
        let values: Vec<Vec<String>> = fields
            .iter()
            .filter(|(name, _)| answer.fields_sent.iter().any(|sent| sent == *name))
            .map(|(name, value)| {
                let shown = match value {
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                vec![format!("  {name}"), shown]
            })
            .chain(
                answer
                    .fields_sent
                    .iter()
                    .filter_map(|sent| sent.strip_prefix("custom."))
                    .map(|custom| {
                        vec![
                            format!("  custom.{custom}"),
                            profile.custom.get(custom).cloned().unwrap_or_default(),
                        ]
                    }),
            )
            .collect();
        for line in table(&["", ""], &values, width).lines().skip(2) {
            let _ = writeln!(out, "{line}");
        }
    }

    if answer.recent_runs.is_empty() {
        let _ = writeln!(out, "\nno recent run names this employee");
    } else {
        let _ = writeln!(out, "\nrecent runs:");
        let rows: Vec<Vec<String>> = answer
            .recent_runs
            .iter()
            .map(|mention| {
                vec![
                    mention.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    short_id(&mention.run_id.0).to_owned(),
                    format!(
                        "{}{}",
                        action_label(mention.outcome.action),
                        if mention.dry_run { " (dry run)" } else { "" }
                    ),
                    outcome_reason(&mention.outcome),
                ]
            })
            .collect();
        for line in table(
            &["started (UTC)", "run", "action", "reason"],
            &rows,
            narrower(width, 2),
        )
        .lines()
        {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

/// The first 8 characters of a run id: unique enough for `runs show`, which takes prefixes.
fn short_id(run_id: &str) -> &str {
    run_id.get(..8).unwrap_or(run_id)
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
        PushOutcome::Parked { reason } => (
            "parked".into(),
            format!("{reason}; pushed after the sync that links them"),
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
pub fn batch_report(
    report: &BatchReport,
    line_of: &dyn Fn(usize) -> Option<usize>,
    width: Width,
) -> String {
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
        out.push_str(&table(
            &["line", "certificate", "result", "detail"],
            &rows,
            width,
        ));
    }
    out
}

/// The certificate ledger.
pub fn ledger(entries: &[LedgerEntry], parked_expiry: chrono::Duration, width: Width) -> String {
    if entries.is_empty() {
        return "no certificates yet\n".to_owned();
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|entry| {
            let (state, detail) = match &entry.state {
                LedgerState::Parked { reason, .. } => {
                    let until = entry
                        .parked_since()
                        .map(|since| (since + parked_expiry).format("%Y-%m-%d").to_string())
                        .unwrap_or_default();
                    let reason = reason
                        .clone()
                        .unwrap_or_else(|| "waiting for the employee's sync".into());
                    ("parked", format!("{reason} (fails on {until})"))
                }
                LedgerState::InProgress { expires_at, .. } => {
                    ("in progress", format!("claim expires {expires_at}"))
                }
                LedgerState::Done { document_id } => ("done", format!("document {document_id}")),
                LedgerState::Failed { reason } => ("failed", reason.clone()),
            };
            let (employee, course) = subject_cells(entry);
            vec![
                entry.certificate_id.to_string(),
                employee,
                course,
                state.to_owned(),
                entry.attempts.to_string(),
                entry.updated_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                detail,
            ]
        })
        .collect();
    // The reason last: it is the long one, and the column that wraps on a terminal.
    table(
        &[
            "certificate",
            "employee",
            "course",
            "state",
            "attempts",
            "updated (UTC)",
            "document / reason",
        ],
        &rows,
        width,
    )
}

/// What a run asked of Personio and the LMS (the figures of its EMF line and of `/metrics`):
/// `  requests: Personio 12 (429: 1) · LMS 40 (429: 2; create 10, read 20, patch 10)`. Empty for
/// a run recorded before requests were counted.
pub fn request_lines(record: &RunRecord) -> String {
    let figures = common::metrics::RunFigures::of(record);
    if figures.personio.requests + figures.lms.requests == 0 {
        return String::new();
    }
    let side = |name: &str, counts: &common::domain::run::RequestCounts| {
        let kinds: Vec<String> = counts
            .by_kind
            .iter()
            .map(|(kind, count)| format!("{kind} {count}"))
            .collect();
        let mut detail = format!("429: {}", counts.throttled);
        if !kinds.is_empty() {
            detail.push_str("; ");
            detail.push_str(&kinds.join(", "));
        }
        format!("{name} {} ({detail})", counts.requests)
    };
    format!(
        "  requests: {} · {}\n",
        side("Personio", &figures.personio),
        side("LMS", &figures.lms)
    )
}

/// Whose certificate (the Personio id once linked, with the LMS user and email) and which
/// course, from the entry's subject or, for entries written before it was kept, a parked job.
fn subject_cells(entry: &LedgerEntry) -> (String, String) {
    let subject = entry.subject.clone().or_else(|| match &entry.state {
        LedgerState::Parked { job, .. } => common::certificates::CertificateJob::parse(job)
            .ok()
            .map(|job| common::domain::certificate::CertificateSubject {
                lms_user_id: job.lms_user_id,
                email: job.email,
                personio_id: None,
                course_name: job.course_name,
                completed_on: job.completed_on,
            }),
        _ => None,
    });
    let Some(subject) = subject else {
        return ("?".into(), "?".into());
    };
    let mut employee = match subject.personio_id {
        Some(id) => format!("{id} (LMS user {})", subject.lms_user_id),
        None => format!("LMS user {}", subject.lms_user_id),
    };
    if let Some(email) = &subject.email {
        employee.push_str(&format!(", {email}"));
    }
    (
        employee,
        format!("{} ({})", subject.course_name, subject.completed_on),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use common::app::preflight::Check;
    use common::domain::IntegrationId;
    use common::domain::employee::PersonioId;
    use common::domain::run::{EmployeeOutcome, RunCounts, RunId, RunKind, Trigger};

    fn record() -> RunRecord {
        let started = Utc
            .with_ymd_and_hms(2026, 11, 23, 5, 0, 0)
            .single()
            .expect("valid");
        RunRecord {
            finished_at: Some(started + chrono::Duration::milliseconds(1500)),
            status: RunStatus::Succeeded,
            counts: RunCounts {
                created: 1,
                unchanged: 5,
                ..RunCounts::default()
            },
            outcomes: vec![EmployeeOutcome {
                personio_id: Some(PersonioId(42)),
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
            ..RunRecord::started(
                IntegrationId::new("acme"),
                RunId("run-1".into()),
                Trigger::Cli,
                started,
            )
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
            Width::Unlimited,
        );
        assert_eq!(text, "name  x\n----  --\nZoë   1\nAl    22\n");
    }

    #[test]
    fn long_reasons_stay_whole_off_a_terminal_and_wrap_on_one() {
        let reason = "the LMS refused the user (HTTP 400): userName must be unique within the \
                      tenant; fix the duplicate in the LMS and the next run links it";
        let rows = [vec![
            "1042".to_owned(),
            "FAILED".to_owned(),
            reason.to_owned(),
        ]];
        let piped = table(&["id", "action", "reason"], &rows, Width::Unlimited);
        let row = piped.lines().nth(2).expect("a row");
        assert!(row.ends_with(reason), "never cut:\n{piped}");
        assert_eq!(piped.lines().count(), 3);

        let wrapped = table(&["id", "action", "reason"], &rows, Width::Columns(60));
        let lines: Vec<&str> = wrapped.lines().collect();
        assert!(lines.len() > 3, "{wrapped}");
        assert!(
            lines.iter().all(|line| line.chars().count() <= 60),
            "{wrapped}"
        );
        // Continuation lines start under the reason column, and every word is there.
        let lead = "1042  FAILED  ".len();
        assert!(lines[3].starts_with(&" ".repeat(lead)), "{wrapped}");
        let words: Vec<&str> = lines[2..]
            .iter()
            .map(|line| line[lead.min(line.len())..].trim())
            .collect();
        assert_eq!(words.join(" "), reason);
    }

    #[test]
    fn words_longer_than_a_line_are_split() {
        assert_eq!(wrap("abcdefgh ij", 3), vec!["abc", "def", "gh", "ij"]);
        assert_eq!(wrap("", 5), vec![""]);
    }

    #[test]
    fn a_run_summary_has_status_counts_table_and_notices() {
        let text = run_summary(&record(), 10, Width::Unlimited);
        assert!(text.starts_with("run run-1 succeeded in 1.5 s\n"), "{text}");
        assert!(text.contains("  created 1 · unchanged 5\n"));
        assert!(
            text.contains(
                "42           Zoë Ünal  zoë@example.com  created  +groups Sales; invited"
            ),
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
        let text = run_summary(&record, 10, Width::Unlimited);
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
        assert!(runs_list(&[record], Width::Unlimited).contains("cli, targeted"));
    }

    #[test]
    fn a_no_change_run_says_so_and_lists_nobody() {
        let mut record = record();
        record.counts = RunCounts {
            unchanged: 6,
            ..RunCounts::default()
        };
        record.outcomes.clear();
        let text = run_summary(&record, 10, Width::Unlimited);
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
        let text = run_summary(&record, 2, Width::Unlimited);
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
        let text = batch_report(&report, &|index| Some(index + 4), Width::Unlimited);
        assert!(text.starts_with(
            "uploaded 0 · already done 0 · recovered 0 · parked 0 · busy 0 · failed 1\n"
        ));
        assert!(
            text.contains("4     -            FAILED  course_name: missing"),
            "{text}"
        );
    }

    #[test]
    fn request_lines_show_both_systems_with_429s_and_kinds() {
        let mut record = record();
        assert_eq!(request_lines(&record), "", "not counted: nothing to show");
        record.stats.personio.requests = 12;
        record.stats.personio.throttled = 1;
        record.stats.lms.requests = 30;
        record.stats.lms.by_kind = [("read".to_owned(), 20), ("create".to_owned(), 10)]
            .into_iter()
            .collect();
        assert_eq!(
            request_lines(&record),
            "  requests: Personio 12 (429: 1) · LMS 30 (429: 0; create 10, read 20)\n"
        );
    }
}

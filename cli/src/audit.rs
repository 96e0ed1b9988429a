//! `personio-lms audit`: the audit trail of the integration's admin actions, as the admin API
//! served on this state file recorded them (`personio-lms serve`, or any host of the admin API
//! on the same SQLite file), newest first, a page at a time.

use crate::app::{load_config, open_store};
use crate::error::{CliError, ExitCode};
use crate::render::{Width, table};
use common::app::audit::read_audit_page;
use common::domain::audit::{AuditCursor, AuditEntry, AuditPage, AuditResult};
use serde_json::json;
use std::fmt::Write as _;
use std::path::Path;

pub async fn audit(
    path: &Path,
    limit: usize,
    cursor: Option<&str>,
    json: bool,
) -> Result<ExitCode, CliError> {
    let after = cursor
        .map(|cursor| {
            cursor.parse::<AuditCursor>().map_err(|reason| {
                CliError::Input(format!(
                    "--cursor {reason}: pass the `next page` cursor a previous listing printed"
                ))
            })
        })
        .transpose()?;
    let config = load_config(path)?;
    let store = open_store(&config)?;
    let page = read_audit_page(&store, &config.integration_id, limit, after)
        .await
        .map_err(|error| CliError::failed("cannot read the audit trail", error))?;
    if json {
        let value = json!({
            "entries": page.entries,
            "next_cursor": page.next.as_ref().map(ToString::to_string),
        });
        println!("{value:#}");
    } else {
        print!("{}", audit_listing(&page, Width::detect()));
    }
    Ok(ExitCode::Success)
}

/// The entries as a table, and how to get the next page.
pub fn audit_listing(page: &AuditPage, width: Width) -> String {
    if page.entries.is_empty() {
        return "no admin actions recorded\n".to_owned();
    }
    let rows: Vec<Vec<String>> = page.entries.iter().map(audit_row).collect();
    let mut out = table(
        &["when (UTC)", "action", "by", "answer", "what", "request id"],
        &rows,
        width,
    );
    if let Some(next) = &page.next {
        let _ = writeln!(out, "\nolder entries: personio-lms audit --cursor {next} …");
    }
    out
}

fn audit_row(entry: &AuditEntry) -> Vec<String> {
    let answer = match entry.outcome.result {
        AuditResult::Succeeded => entry.outcome.status.to_string(),
        AuditResult::Refused | AuditResult::Failed => format!(
            "{} {}",
            entry.outcome.status,
            entry.outcome.problem.as_deref().unwrap_or_default()
        ),
    };
    let mut what = entry.fields.join(", ");
    if let Some(detail) = &entry.detail {
        if !what.is_empty() {
            what.push_str("; ");
        }
        what.push_str(detail);
    }
    vec![
        entry.at.format("%Y-%m-%d %H:%M:%S").to_string(),
        entry.action.to_string(),
        entry.subject.clone().unwrap_or_else(|| "-".into()),
        answer.trim_end().to_owned(),
        what,
        entry.request_id.clone(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use common::domain::IntegrationId;
    use common::domain::audit::{AuditAction, AuditOutcome};

    fn entry(action: AuditAction, status: u16, problem: Option<&str>) -> AuditEntry {
        AuditEntry {
            integration_id: IntegrationId::new("acme"),
            tenant_id: "local".into(),
            entry_id: "e-1".into(),
            at: Utc
                .with_ymd_and_hms(2026, 11, 23, 5, 0, 0)
                .single()
                .expect("valid"),
            subject: Some("ada@acme.example".into()),
            request_id: "req-1".into(),
            action,
            fields: vec!["schedule".into(), "settings.selection.attribute".into()],
            detail: None,
            outcome: AuditOutcome::of_status(status, problem.map(str::to_owned)),
            expires_at: None,
        }
    }

    #[test]
    fn the_listing_names_who_did_what_and_how_it_was_answered() {
        let page = AuditPage {
            entries: vec![
                entry(AuditAction::Update, 200, None),
                entry(
                    AuditAction::Update,
                    412,
                    Some("the integration is no longer at version 3"),
                ),
            ],
            next: Some(AuditCursor {
                at: Utc
                    .with_ymd_and_hms(2026, 11, 23, 5, 0, 0)
                    .single()
                    .expect("valid"),
                entry_id: "e-1".into(),
            }),
        };
        let text = audit_listing(&page, Width::Unlimited);
        assert!(
            text.contains("2026-11-23 05:00:00  update  ada@acme.example  200"),
            "{text}"
        );
        assert!(
            text.contains("412 the integration is no longer at version 3"),
            "{text}"
        );
        assert!(
            text.contains("schedule, settings.selection.attribute"),
            "{text}"
        );
        assert!(text.contains("--cursor 1795410000000000-e-1"), "{text}");
        assert_eq!(
            audit_listing(&AuditPage::default(), Width::Unlimited),
            "no admin actions recorded\n"
        );
    }
}

//! The wording of the emails a sync sends (the invitation and the run summary), in one place for
//! every notifier.
//! Texts are German first, then English, because the product serves German-speaking companies
//! with international staff. Nothing here ever sees a secret: only names, addresses and counts.

use crate::domain::run::{OutcomeAction, RunCounts, RunRecord, RunStatus};
use crate::domain::settings::SummaryPolicy;
use crate::ports::OutgoingEmail;
use std::fmt::Write;

/// The invitation a newly created LMS user receives.
pub fn invitation_email(to: &str, name: Option<&str>, login_url: Option<&str>) -> OutgoingEmail {
    let greeting_de = name.map_or("Hallo".to_owned(), |name| format!("Hallo {name}"));
    let greeting_en = name.map_or("Hello".to_owned(), |name| format!("Hello {name}"));
    let mut text = format!(
        "{greeting_de},\n\nfür Sie wurde ein Zugang zur Lernplattform eingerichtet. \
         Melden Sie sich mit Ihrer Arbeits-E-Mail-Adresse ({to}) an.\n"
    );
    if let Some(url) = login_url {
        let _ = writeln!(text, "Anmeldung: {url}");
    }
    let _ = write!(
        text,
        "\n{greeting_en},\n\nan account on the learning platform has been set up for you. \
         Sign in with your work email address ({to}).\n"
    );
    if let Some(url) = login_url {
        let _ = writeln!(text, "Sign in: {url}");
    }

    let link = |label: &str| {
        login_url.map_or(String::new(), |url| {
            format!(
                "<p><a href=\"{}\">{}</a></p>",
                escape_html(url),
                escape_html(label)
            )
        })
    };
    let html = format!(
        "<!DOCTYPE html>\n<html><body>\n\
         <p>{}</p><p>für Sie wurde ein Zugang zur Lernplattform eingerichtet. \
         Melden Sie sich mit Ihrer Arbeits-E-Mail-Adresse ({}) an.</p>{}\n<hr>\n\
         <p>{}</p><p>an account on the learning platform has been set up for you. \
         Sign in with your work email address ({}).</p>{}\n</body></html>\n",
        escape_html(&format!("{greeting_de},")),
        escape_html(to),
        link("Zur Lernplattform"),
        escape_html(&format!("{greeting_en},")),
        escape_html(to),
        link("Go to the learning platform"),
    );
    OutgoingEmail {
        to: to.to_owned(),
        subject: "Ihr Zugang zur Lernplattform / Your learning platform account".to_owned(),
        text,
        html,
    }
}

/// Whether a finished run's summary goes to the admin under `policy`. A change is anything written
/// to the LMS; a problem is a failed run, a failed employee or a held-back deactivation. Skipped
/// employees and notices (missing groups) repeat every run until someone fixes the data, so on
/// their own they send nothing.
pub fn summary_due(policy: SummaryPolicy, run: &RunRecord) -> bool {
    let counts = &run.counts;
    let changed = counts.created
        + counts.adopted
        + counts.updated
        + counts.deactivated
        + counts.repaired
        + counts.groups_added
        + counts.groups_removed
        > 0;
    let problem = matches!(
        run.status,
        RunStatus::Failed | RunStatus::CompletedWithFailures
    ) || counts.failed + counts.held_back > 0;
    match policy {
        SummaryPolicy::Always => true,
        SummaryPolicy::OnChanges => changed || problem,
        SummaryPolicy::OnFailures => problem,
        SummaryPolicy::Never => false,
    }
}

/// The summary of one run for the integration's admin: counts, then everything that needs a look
/// (failures, skips, held-back deactivations, notices), each with its reason.
pub fn run_summary_email(to: &str, run: &RunRecord) -> OutgoingEmail {
    let summary = RunSummary::of(run);
    OutgoingEmail {
        to: to.to_owned(),
        text: summary.text(),
        html: summary.html(),
        subject: summary.subject,
    }
}

/// What both bodies of the run summary show, worked out once.
struct RunSummary<'a> {
    run: &'a RunRecord,
    status: &'static str,
    /// `" (dry run)"` or empty.
    dry: &'static str,
    subject: String,
    counts: [(&'static str, u32); 14],
    /// One line per employee that failed, was skipped or was held back.
    attention: Vec<String>,
}

impl<'a> RunSummary<'a> {
    fn of(run: &'a RunRecord) -> Self {
        let status = match run.status {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::CompletedWithFailures => "completed with failures",
            RunStatus::Failed => "FAILED",
            RunStatus::Aborted => "ABORTED",
            RunStatus::Abandoned => "abandoned",
        };
        let dry = if run.dry_run { " (dry run)" } else { "" };
        Self {
            run,
            status,
            dry,
            subject: format!("Personio → LMS sync {}{dry}: {status}", run.integration_id),
            counts: count_rows(run.counts),
            attention: needs_attention(run),
        }
    }

    fn text(&self) -> String {
        let run = self.run;
        let mut text = format!(
            "Sync run {} of integration {}{}\nStatus: {}\nStarted: {}\n",
            run.run_id,
            run.integration_id,
            self.dry,
            self.status,
            run.started_at.to_rfc3339()
        );
        if let Some(finished) = run.finished_at {
            let _ = writeln!(text, "Finished: {}", finished.to_rfc3339());
        }
        if let Some(error) = &run.error {
            let _ = if run.status == RunStatus::Aborted {
                writeln!(
                    text,
                    "\nThe run stopped early: {error}\nWhat it did is recorded; the next run does the rest."
                )
            } else {
                writeln!(
                    text,
                    "\nThe run failed as a whole: {error}\nNobody was deactivated because of it."
                )
            };
        }
        text.push('\n');
        for (label, count) in self.counts {
            let _ = writeln!(text, "{label}: {count}");
        }
        let section = |text: &mut String, title: &str, lines: &[String]| {
            if !lines.is_empty() {
                let _ = writeln!(text, "\n{title}:");
                for line in lines {
                    let _ = writeln!(text, "- {line}");
                }
            }
        };
        section(&mut text, "Notices", &run.notices);
        section(&mut text, "Needs attention", &self.attention);
        text
    }

    fn html(&self) -> String {
        let run = self.run;
        let mut html = format!(
            "<!DOCTYPE html>\n<html><body>\n<h2>{}</h2>\n<p>Run {} · started {}</p>\n",
            escape_html(&self.subject),
            escape_html(&run.run_id.to_string()),
            escape_html(&run.started_at.to_rfc3339()),
        );
        if let Some(error) = &run.error {
            let _ = writeln!(
                html,
                "<p><strong>The run failed as a whole:</strong> {}. Nobody was deactivated because of it.</p>",
                escape_html(error)
            );
        }
        html.push_str("<table>\n");
        for (label, count) in self.counts {
            let _ = writeln!(html, "<tr><td>{label}</td><td>{count}</td></tr>");
        }
        html.push_str("</table>\n");
        let section = |html: &mut String, title: &str, lines: &[String]| {
            if !lines.is_empty() {
                let _ = writeln!(html, "<h3>{title}</h3>\n<ul>");
                for line in lines {
                    let _ = writeln!(html, "<li>{}</li>", escape_html(line));
                }
                html.push_str("</ul>\n");
            }
        };
        section(&mut html, "Notices", &run.notices);
        section(&mut html, "Needs attention", &self.attention);
        html.push_str("</body></html>\n");
        html
    }
}

fn count_rows(counts: RunCounts) -> [(&'static str, u32); 14] {
    [
        ("Created", counts.created),
        ("Adopted", counts.adopted),
        ("Updated", counts.updated),
        ("Deactivated", counts.deactivated),
        ("Unchanged", counts.unchanged),
        (
            "Not created (account would start locked)",
            counts.not_created,
        ),
        ("Skipped", counts.skipped),
        ("Held back", counts.held_back),
        ("Failed", counts.failed),
        ("Group memberships added", counts.groups_added),
        ("Group memberships removed", counts.groups_removed),
        ("Invitations sent", counts.invitations),
        ("Not applied (left for the next run)", counts.not_applied),
        ("Repaired in the LMS", counts.repaired),
    ]
}

/// "who: what: why" for every employee that failed, was skipped or was held back.
fn needs_attention(run: &RunRecord) -> Vec<String> {
    run.outcomes
        .iter()
        .filter(|outcome| {
            matches!(
                outcome.action,
                OutcomeAction::Failed | OutcomeAction::Skipped | OutcomeAction::HeldBack
            )
        })
        .map(|outcome| {
            let who = [
                outcome.name.clone(),
                outcome.email.clone(),
                outcome.personio_id.map(|id| format!("Personio id {id}")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
            let action = match outcome.action {
                OutcomeAction::Failed => "failed",
                OutcomeAction::Skipped => "skipped",
                _ => "held back",
            };
            let reason = outcome.reason.as_deref().unwrap_or("no reason recorded");
            format!("{who}: {action}: {reason}")
        })
        .collect()
}

fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::IntegrationId;
    use crate::domain::employee::PersonioId;
    use crate::domain::run::{EmployeeOutcome, RunCounts, RunId, RunKind, Trigger};
    use chrono::Utc;

    #[test]
    fn invitation_names_the_person_and_escapes_html() {
        let email = invitation_email(
            "jo@example.com",
            Some("Jo <Müller>"),
            Some("https://lms.example.com/login?a=1&b=2"),
        );
        assert_eq!(email.to, "jo@example.com");
        assert!(email.text.contains("Hallo Jo <Müller>,"));
        assert!(
            email
                .text
                .contains("Sign in: https://lms.example.com/login?a=1&b=2")
        );
        assert!(email.html.contains("Hallo Jo &lt;Müller&gt;,"));
        assert!(
            email
                .html
                .contains("href=\"https://lms.example.com/login?a=1&amp;b=2\"")
        );
        let plain = invitation_email("jo@example.com", None, None);
        assert!(plain.text.starts_with("Hallo,"));
        assert!(!plain.html.contains("href"));
    }

    #[test]
    fn summary_lists_counts_failures_and_notices() {
        let run = RunRecord {
            finished_at: Some(Utc::now()),
            status: RunStatus::CompletedWithFailures,
            counts: RunCounts {
                created: 3,
                failed: 1,
                ..RunCounts::default()
            },
            outcomes: vec![
                EmployeeOutcome {
                    personio_id: Some(PersonioId(9)),
                    email: Some("x@example.com".into()),
                    name: Some("X Y".into()),
                    action: OutcomeAction::Failed,
                    groups_added: vec![],
                    groups_removed: Vec::new(),
                    changes: Vec::new(),
                    invited: false,
                    reason: Some("HTTP 400 <invalid>".into()),
                },
                EmployeeOutcome {
                    personio_id: Some(PersonioId(10)),
                    email: None,
                    name: None,
                    action: OutcomeAction::Created,
                    groups_added: vec![],
                    groups_removed: Vec::new(),
                    changes: Vec::new(),
                    invited: false,
                    reason: None,
                },
            ],
            notices: vec!["LMS group \"Sales\" does not exist".into()],
            ..RunRecord::started(
                IntegrationId::new("acme"),
                RunId("r1".into()),
                Trigger::Schedule,
                Utc::now(),
            )
        };
        let email = run_summary_email("admin@example.com", &run);
        assert_eq!(
            email.subject,
            "Personio → LMS sync acme: completed with failures"
        );
        assert!(email.text.contains("Created: 3\n"));
        assert!(email.text.contains("Failed: 1\n"));
        assert!(
            email
                .text
                .contains("- X Y, x@example.com, Personio id 9: failed: HTTP 400 <invalid>")
        );
        assert!(!email.text.contains("Personio id 10"));
        assert!(email.text.contains("- LMS group \"Sales\" does not exist"));
        assert!(email.html.contains("HTTP 400 &lt;invalid&gt;"));
    }

    #[test]
    fn a_reconcile_run_that_repaired_something_changed_the_lms() {
        let mut run = RunRecord {
            kind: RunKind::Reconcile,
            finished_at: Some(Utc::now()),
            status: RunStatus::Succeeded,
            ..RunRecord::started(
                IntegrationId::new("acme"),
                RunId("r2".into()),
                Trigger::Schedule,
                Utc::now(),
            )
        };
        assert!(!summary_due(SummaryPolicy::OnChanges, &run));
        run.counts.repaired = 1;
        assert!(summary_due(SummaryPolicy::OnChanges, &run));
        assert!(!summary_due(SummaryPolicy::OnFailures, &run));
        let email = run_summary_email("admin@example.com", &run);
        assert!(
            email.text.contains("Repaired in the LMS: 1\n"),
            "{}",
            email.text
        );
    }
}

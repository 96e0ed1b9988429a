//! `demo`: the whole job end to end on embedded defaults, needing nothing but the repository.
//!
//! A Personio sandbox (in-process, rate limits off so the demo takes seconds; the client's own
//! rate budget is off to match), an in-process LMS seeded with some of the company's group names
//! (not all, so "missing group" notices show), a temporary SQLite state file and outbox. The
//! syncs and the certificate push go through the same `common` code as `sync` and `backfill`.

use crate::app::print_sync;
use crate::args::DemoArgs;
use crate::error::{CliError, ExitCode};
use crate::render::{self, Width};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::app::{
    ConnectPolicy, EmployeeKey, IntegrationSync, connect_personio, explain_employee,
    sync_integration,
};
use common::certificates::{CertificatePusher, FetchLimits, PdfFetcher};
use common::domain::IntegrationId;
use common::domain::integration::PersonioConnection;
use common::domain::link::EmployeeLink;
use common::domain::run::Trigger;
use common::domain::settings::{GroupSource, IntegrationSettings};
use common::lms::memory::MemoryLms;
use common::notify::OutboxNotifier;
use common::personio::PersonioClient;
use common::ports::{HrSource, LinkStore};
use common::progress::NoProgress;
use common::secret::Secret;
use common::store::SqliteStore;
use common::sync::{SyncEngine, SyncRequest};
use personio_sandbox::{
    Employee, LMS_SYNC_KEY, LMS_SYNC_LABEL, NewEmployee, RunningSandbox, Sandbox, SandboxConfig,
};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

const INTEGRATION: &str = "demo";
/// Rows per table: enough to see what happened, short enough to read at a glance.
const MAX_ROWS: usize = 12;

struct Demo {
    sandbox: RunningSandbox,
    hr: Arc<dyn HrSource>,
    /// The same client as `hr`, for the webhook management API.
    personio: Arc<PersonioClient>,
    notifier: Arc<OutboxNotifier>,
    lms: Arc<MemoryLms>,
    store: Arc<SqliteStore>,
    engine: SyncEngine,
    pusher: CertificatePusher,
    settings: IntegrationSettings,
    integration: IntegrationId,
    outbox: PathBuf,
}

fn failed(context: &str) -> impl FnOnce(String) -> CliError + '_ {
    move |error| CliError::Failed(format!("demo: {context}: {error}"))
}

pub async fn run(args: &DemoArgs) -> Result<ExitCode, CliError> {
    let started = Instant::now();
    let scratch = tempfile::Builder::new()
        .prefix("personio-lms-demo-")
        .tempdir()
        .map_err(|error| failed("cannot create a temporary directory")(error.to_string()))?;
    let demo = Demo::start(args, scratch.path()).await?;
    let result = demo.script(args).await;
    demo.sandbox.shutdown().await;
    let code = result?;
    println!();
    if args.keep {
        let kept = scratch.keep();
        println!(
            "kept {} (state file demo.sqlite, outbox/); done in {:.1} s",
            kept.display(),
            started.elapsed().as_secs_f64()
        );
    } else {
        println!(
            "removed the temporary directory (use --keep to keep it); done in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(code)
}

/// The demo's LMS: every other department/team/position name of the sandbox's company is a
/// group, the rest show up as "missing group" notices, as in a real LMS set up by hand. Returns
/// the LMS and every name.
pub fn demo_lms(sandbox: &RunningSandbox) -> (Arc<MemoryLms>, BTreeSet<String>) {
    let names: BTreeSet<String> = sandbox
        .employees()
        .iter()
        .flat_map(|employee| {
            ["department", "team", "position"]
                .into_iter()
                .filter_map(|key| name_of(employee, key))
        })
        .collect();
    let lms = Arc::new(MemoryLms::with_groups(names.iter().step_by(2)));
    (lms, names)
}

fn header(step: u32, title: &str) {
    println!("\n== {step}. {title}");
}

/// A relation's name (`{type, attributes: {id, name}}`) or a plain text attribute.
fn name_of(employee: &Employee, key: &str) -> Option<String> {
    let value = &employee.attribute(key)?.value;
    value
        .pointer("/attributes/name")
        .and_then(Value::as_str)
        .or_else(|| value.as_str())
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
}

fn full_name(employee: &Employee) -> String {
    format!(
        "{} {}",
        employee.text("first_name").unwrap_or_default(),
        employee.text("last_name").unwrap_or_default()
    )
}

impl Demo {
    async fn start(args: &DemoArgs, dir: &Path) -> Result<Self, CliError> {
        let sandbox = Sandbox::start(
            SandboxConfig::default()
                .with_employees(args.employees as usize)
                .with_seed(args.seed)
                .without_rate_limits()
                // Its webhook deliveries go to the demo's receiver on 127.0.0.1.
                .with_http_webhooks(),
        )
        .await
        .map_err(|error| failed("cannot start the Personio sandbox")(error.to_string()))?;

        let (lms, names) = demo_lms(&sandbox);

        let (client_id, client_secret) = sandbox.default_credential();
        let personio = PersonioConnection {
            base_url: Some(sandbox.base_url()),
            ..PersonioConnection::default()
        };
        // The sandbox runs without rate limits, so the client keeps no budget either.
        let policy = ConnectPolicy {
            personio_rate_budget: false,
            ..crate::config::CONNECT_POLICY
        };
        let hr = Arc::new(
            connect_personio(&personio, &client_id, &Secret::new(client_secret), &policy)
                .map_err(|error| failed("the Personio client")(error.to_string()))?,
        );
        let store = Arc::new(
            SqliteStore::open(dir.join("demo.sqlite"))
                .map_err(|error| failed("the state file")(error.to_string()))?,
        );
        let outbox = dir.join("outbox");
        let notifier = Arc::new(OutboxNotifier::new(&outbox, "personio-lms@demo.example"));
        let engine = SyncEngine::new(hr.clone(), lms.clone(), store.clone(), notifier.clone());
        let fetcher = PdfFetcher::new(FetchLimits::default(), policy.network())
            .map_err(|error| failed("the PDF fetcher")(error.to_string()))?;
        let pusher =
            CertificatePusher::new(hr.clone(), store.clone(), fetcher).with_lms(lms.clone());

        let mut settings = IntegrationSettings::new(LMS_SYNC_LABEL);
        settings.groups.by = BTreeSet::from([
            GroupSource::Department,
            GroupSource::Team,
            GroupSource::Position,
        ]);
        settings.notifications.invite_new_users = true;
        settings.notifications.login_url = Some("https://lms.demo.example".into());
        settings.notifications.admin_email = Some("hr@demo.example".into());
        settings.certificates.enabled = true;

        println!("personio-lms demo");
        println!(
            "  Personio sandbox  {} ({} employees, seed {}, rate limits off)",
            sandbox.base_url(),
            sandbox.employee_count(),
            args.seed
        );
        println!(
            "  LMS               in-process, {} of {} department/team/position names exist as groups",
            names.len().div_ceil(2),
            names.len()
        );
        println!(
            "  state             {} (removed at the end unless --keep)",
            dir.join("demo.sqlite").display()
        );
        println!("  outbox            {}", outbox.display());
        Ok(Self {
            sandbox,
            hr: hr.clone(),
            personio: hr,
            notifier,
            lms,
            store,
            engine,
            pusher,
            settings,
            integration: IntegrationId::new(INTEGRATION),
            outbox,
        })
    }

    async fn sync(&self) -> Result<IntegrationSync, CliError> {
        let mut request = SyncRequest::new(
            self.integration.clone(),
            self.settings.clone(),
            Trigger::Demo,
        );
        request.lease_holder = "personio-lms demo".into();
        sync_integration(
            &self.engine,
            &self.pusher,
            request,
            &NoProgress,
            &NoProgress,
        )
        .await
        .map_err(|error| failed("sync")(error.to_string()))
    }

    async fn active_links(&self) -> Result<Vec<EmployeeLink>, CliError> {
        let mut links: Vec<EmployeeLink> = self
            .store
            .links(&self.integration)
            .await
            .map_err(|error| failed("reading the links")(error.to_string()))?
            .into_iter()
            .filter(|link| link.active)
            .collect();
        links.sort_by_key(|link| link.personio_id.0);
        Ok(links)
    }

    fn employee(&self, link: &EmployeeLink) -> Result<Employee, CliError> {
        u64::try_from(link.personio_id.0)
            .ok()
            .and_then(|id| self.sandbox.employee(id))
            .ok_or_else(|| {
                CliError::Failed(format!("demo: employee {} vanished", link.personio_id.0))
            })
    }

    async fn script(&self, args: &DemoArgs) -> Result<ExitCode, CliError> {
        header(1, "First sync: every selected employee gets an LMS account");
        let first = self.sync().await?;
        print_sync(&first, MAX_ROWS);

        header(2, "Changes in Personio");
        let changes = self.change_employees(args).await?;
        print!(
            "{}",
            render::table(&["employee", "change"], &changes, Width::detect())
        );

        header(3, "Re-sync: only the changed employees are written");
        let second = self.sync().await?;
        print_sync(&second, MAX_ROWS);

        header(4, "Why was someone not synced? `personio-lms explain`");
        self.explain_a_skipped_employee(&second).await?;

        header(
            5,
            "A change in Personio reaches the LMS within seconds: a webhook",
        );
        self.change_through_a_webhook().await?;

        header(6, "Certificates from the LMS become Personio documents");
        let pushed = self.push_certificates().await?;
        print!(
            "{}",
            render::batch_report(&pushed, &|_| None, Width::detect())
        );
        let documents = self.sandbox.documents();
        println!("\ndocuments in Personio (the sandbox): {}", documents.len());
        let rows: Vec<Vec<String>> = documents
            .iter()
            .map(|document| {
                vec![
                    document.id.to_string(),
                    document.employee_id.to_string(),
                    document.title.clone(),
                    document.date.to_string(),
                    document.file_name.clone(),
                    format!("{} bytes", document.bytes.len()),
                ]
            })
            .collect();
        print!(
            "{}",
            render::table(
                &["doc id", "employee", "title", "date", "file", "size"],
                &rows,
                Width::detect()
            )
        );

        header(7, "Emails in the outbox");
        let emails = outbox_emails(&self.outbox);
        println!("{} emails in {}", emails.len(), self.outbox.display());
        print!(
            "{}",
            render::table(
                &["subject", "count", "to"],
                &emails_by_subject(&emails),
                Width::detect()
            )
        );

        header(8, "The LMS now");
        let users = self.lms.users();
        let writes = self.lms.write_counts();
        println!(
            "{} users ({} active) · writes: {} creates, {} updates, {} deactivations, {} group adds",
            users.len(),
            users.iter().filter(|user| user.active).count(),
            writes.creates,
            writes.updates,
            writes.deactivations,
            writes.group_adds
        );
        let verdicts = [first.verdict(), second.verdict()];
        Ok(verdicts
            .into_iter()
            .map(crate::app::sync_exit_code)
            .max_by_key(|code| code.code())
            .unwrap_or(ExitCode::Success))
    }

    /// A synced employee's last name changed in Personio: the sandbox delivers `person.updated`
    /// to a receiver in this process, the queued job becomes a targeted run, the LMS has the new
    /// name, no scheduled run involved.
    async fn change_through_a_webhook(&self) -> Result<(), CliError> {
        let links = self.active_links().await?;
        let Some(link) = links.first() else {
            println!("(nobody is synced, so no change to follow)");
            return Ok(());
        };
        let employee = self.employee(link)?;
        let id = employee.id();
        let new_name = format!(
            "{}-Webhook",
            employee.text("last_name").unwrap_or("Employee")
        );
        let external_id = link.personio_id.to_string();
        let shown = crate::demo_webhook::through_a_webhook(
            crate::demo_webhook::WebhookParts {
                personio: self.personio.clone(),
                lms: self.lms.clone(),
                store: self.store.clone(),
                notifier: self.notifier.clone(),
                integration: &self.integration,
                settings: &self.settings,
                personio_url: self.sandbox.base_url(),
            },
            || {
                self.sandbox
                    .set_attribute(id, "last_name", new_name.as_str())
                    .map_err(|error| error.to_string())
            },
            |lms| {
                lms.users().iter().any(|user| {
                    user.profile.external_id == external_id
                        && user.profile.last_name.as_deref() == Some(new_name.as_str())
                })
            },
        )
        .await?;
        let rows = vec![
            vec![
                "webhook installed".to_owned(),
                format!("Personio delivers to {}", shown.receiver_url),
            ],
            vec![
                "change in Personio".to_owned(),
                format!("{}: last name → {new_name}", full_name(&employee)),
            ],
            vec![
                "event received".to_owned(),
                format!(
                    "person.updated queued after {} ms",
                    shown.event_queued_after.as_millis()
                ),
            ],
            vec![
                "targeted run".to_owned(),
                format!(
                    "run {} (trigger webhook) wrote the LMS user",
                    shown.run_id.get(..8).unwrap_or(&shown.run_id)
                ),
            ],
            vec![
                "in the LMS".to_owned(),
                format!(
                    "{} ms after the change in Personio",
                    shown.in_lms_after.as_millis()
                ),
            ],
        ];
        print!(
            "{}",
            render::table(&["step", "what happened"], &rows, Width::detect())
        );
        Ok(())
    }

    /// `explain` of the first employee the re-sync skipped (the demo's new hire without an email
    /// is one), as `personio-lms explain ID` prints it.
    async fn explain_a_skipped_employee(&self, run: &IntegrationSync) -> Result<(), CliError> {
        let skipped = run.record().and_then(|record| {
            record
                .outcomes
                .iter()
                .filter(|outcome| outcome.action == common::domain::run::OutcomeAction::Skipped)
                .find_map(|outcome| outcome.personio_id)
        });
        let Some(id) = skipped else {
            println!("nobody was skipped in this run");
            return Ok(());
        };
        println!("$ personio-lms explain {id}\n");
        let answer = explain_employee(
            self.hr.as_ref(),
            self.lms.as_ref(),
            self.store.as_ref(),
            &self.integration,
            &self.settings,
            &EmployeeKey::PersonioId(id),
            common::retry::Deadline::after(std::time::Duration::from_secs(60)),
        )
        .await
        .map_err(|error| failed("explain")(error.to_string()))?;
        print!("{}", render::explanation(&answer, Width::detect()));
        Ok(())
    }

    /// A new hire, one without an email, a long-gone leaver selected by mistake, a leaver, an
    /// email change, a department move and a deselection, made through the sandbox's mutation
    /// API; returns what was changed, for the table.
    async fn change_employees(&self, args: &DemoArgs) -> Result<Vec<Vec<String>>, CliError> {
        let links = self.active_links().await?;
        let [leaver, renamed, mover, deselected, ..] = links.as_slice() else {
            return Err(CliError::Input(format!(
                "demo: --employees {} selects too few employees to show every change; use more",
                args.employees
            )));
        };
        let sandbox = &self.sandbox;
        let mutation = |error: personio_sandbox::SandboxError| failed("sandbox")(error.to_string());
        let mut rows = Vec::new();

        let hire = sandbox
            .add_employee(
                NewEmployee::new("Mia", "Neumann", "mia.neumann@demo.example")
                    .with(LMS_SYNC_KEY, "ja"),
            )
            .map_err(mutation)?;
        rows.push(vec![
            format!("Mia Neumann (#{hire})"),
            "new hire, selected for the LMS".into(),
        ]);

        let no_email = sandbox
            .add_employee(
                NewEmployee::new("Lena", "Vogel", "lena.vogel@demo.example")
                    .with(LMS_SYNC_KEY, "ja"),
            )
            .map_err(mutation)?;
        sandbox
            .set_attribute(no_email, "email", "")
            .map_err(mutation)?;
        rows.push(vec![
            format!("Lena Vogel (#{no_email})"),
            "new hire, selected, but without an email in Personio".into(),
        ]);

        let long_gone = sandbox
            .add_employee(
                NewEmployee::new("Tom", "Richter", "tom.richter@demo.example")
                    .with(LMS_SYNC_KEY, "ja"),
            )
            .map_err(mutation)?;
        sandbox
            .set_status(long_gone, "inactive")
            .map_err(mutation)?;
        sandbox
            .set_attribute(long_gone, "termination_date", "2024-03-31")
            .map_err(mutation)?;
        rows.push(vec![
            format!("Tom Richter (#{long_gone})"),
            "left on 2024-03-31, selected by mistake, never had an LMS account".into(),
        ]);

        let employee = self.employee(leaver)?;
        let today = chrono::Utc::now().date_naive().to_string();
        sandbox
            .set_status(employee.id(), "inactive")
            .map_err(mutation)?;
        sandbox
            .set_attribute(employee.id(), "termination_date", today.clone())
            .map_err(mutation)?;
        rows.push(vec![
            format!("{} (#{})", full_name(&employee), employee.id()),
            format!("left the company: status inactive, termination date {today}"),
        ]);

        let employee = self.employee(renamed)?;
        let old_email = employee.text("email").unwrap_or_default().to_owned();
        let new_email = format!("new.{old_email}");
        sandbox
            .set_attribute(employee.id(), "email", new_email.clone())
            .map_err(mutation)?;
        rows.push(vec![
            format!("{} (#{})", full_name(&employee), employee.id()),
            format!("email {old_email} → {new_email}"),
        ]);

        let employee = self.employee(mover)?;
        let current = name_of(&employee, "department");
        let target = sandbox
            .employees()
            .into_iter()
            .filter_map(|other| {
                let value = other.attribute("department")?.value.clone();
                let name = name_of(&other, "department")?;
                (Some(&name) != current.as_ref()).then_some((name, value))
            })
            .next();
        if let Some((name, value)) = target {
            sandbox
                .set_attribute(employee.id(), "department", value)
                .map_err(mutation)?;
            rows.push(vec![
                format!("{} (#{})", full_name(&employee), employee.id()),
                format!(
                    "department {} → {name}",
                    current.unwrap_or_else(|| "(none)".into())
                ),
            ]);
        }

        let employee = self.employee(deselected)?;
        sandbox
            .set_attribute(employee.id(), LMS_SYNC_KEY, "nein")
            .map_err(mutation)?;
        rows.push(vec![
            format!("{} (#{})", full_name(&employee), employee.id()),
            format!("deselected: {LMS_SYNC_LABEL} = nein"),
        ]);
        Ok(rows)
    }

    /// Three certificates of synced employees (inline PDFs), and one of an LMS user no employee
    /// is linked to, which is parked until a sync links it.
    async fn push_certificates(&self) -> Result<common::certificates::BatchReport, CliError> {
        let links = self.active_links().await?;
        let today = chrono::Utc::now().date_naive();
        let courses = [
            "Datenschutz-Grundlagen (DSGVO)",
            "Fire safety",
            "IT security basics",
        ];
        let mut jobs = Vec::new();
        for (index, (link, course)) in links.iter().skip(4).zip(courses).enumerate() {
            let employee = self.employee(link)?;
            let pdf = certificate_pdf(course, &full_name(&employee), &today.to_string());
            jobs.push(json!({
                "integration_id": INTEGRATION,
                "certificate_id": format!("demo-cert-{}", index + 1),
                "lms_user_id": link.lms_user_id.0,
                "course_name": course,
                "completed_on": today.to_string(),
                "pdf_base64": BASE64.encode(pdf),
            }));
        }
        jobs.push(json!({
            "integration_id": INTEGRATION,
            "certificate_id": "demo-cert-unlinked",
            "lms_user_id": "lms-user-not-synced",
            "course_name": "Onboarding",
            "completed_on": today.to_string(),
            "pdf_base64": BASE64.encode(certificate_pdf("Onboarding", "Unknown", &today.to_string())),
        }));
        Ok(self
            .pusher
            .push_batch(
                &self.integration,
                &self.settings.certificates,
                jobs,
                common::retry::Deadline::after(std::time::Duration::from_secs(60)),
                &NoProgress,
            )
            .await)
    }
}

/// `To` and `Subject` of every `.eml` in the outbox, oldest first.
fn outbox_emails(dir: &Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "eml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|message| {
            let header = |name: &str| {
                message
                    .lines()
                    .take_while(|line| !line.is_empty())
                    .find_map(|line| line.strip_prefix(name))
                    .map(str::trim)
                    .unwrap_or_default()
                    .to_owned()
            };
            (header("To:"), decode_subject(&header("Subject:")))
        })
        .collect()
}

/// One row per subject: how many, and the first recipients.
fn emails_by_subject(emails: &[(String, String)]) -> Vec<Vec<String>> {
    let mut subjects: Vec<(String, Vec<String>)> = Vec::new();
    for (to, subject) in emails {
        let (to, subject) = (to.clone(), subject.clone());
        match subjects.iter_mut().find(|(known, _)| *known == subject) {
            Some((_, recipients)) => recipients.push(to),
            None => subjects.push((subject, vec![to])),
        }
    }
    subjects
        .into_iter()
        .map(|(subject, recipients)| {
            let mut shown = recipients
                .iter()
                .take(2)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if recipients.len() > 2 {
                shown.push_str(", …");
            }
            vec![subject, recipients.len().to_string(), shown]
        })
        .collect()
}

/// Undoes RFC 2047 base64 encoded-words (`=?utf-8?b?…?=`), as a mail client shows the subject.
/// Only the first header line is read, so a folded subject shows its first part.
fn decode_subject(subject: &str) -> String {
    let mut decoded = String::new();
    let mut previous_was_encoded = false;
    for word in subject.split_whitespace() {
        let text = word
            .strip_prefix("=?utf-8?b?")
            .or_else(|| word.strip_prefix("=?UTF-8?B?"))
            .and_then(|rest| rest.strip_suffix("?="))
            .and_then(|text| BASE64.decode(text).ok())
            .and_then(|bytes| String::from_utf8(bytes).ok());
        // Whitespace between two encoded words is folding, not content (RFC 2047, section 6.2).
        let encoded = text.is_some();
        let folded = encoded && previous_was_encoded;
        if !decoded.is_empty() && !folded {
            decoded.push(' ');
        }
        decoded.push_str(text.as_deref().unwrap_or(word));
        previous_was_encoded = encoded;
    }
    decoded
}

/// A one-page PDF (PDF 1.4, Helvetica) saying who completed which course when, with a correct
/// cross-reference table so any viewer opens it.
pub fn certificate_pdf(course: &str, name: &str, date: &str) -> Vec<u8> {
    let text = |value: &str| -> String {
        value
            .chars()
            .map(|c| match c {
                '(' | ')' | '\\' => format!("\\{c}"),
                c if c.is_ascii() && !c.is_ascii_control() => c.to_string(),
                _ => "?".to_owned(),
            })
            .collect()
    };
    let content = format!(
        "BT /F1 26 Tf 72 740 Td (Certificate of completion) Tj ET\n\
         BT /F1 16 Tf 72 690 Td ({}) Tj ET\n\
         BT /F1 14 Tf 72 660 Td (completed by {} on {}) Tj ET\n",
        text(course),
        text(name),
        text(date)
    );
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_owned(),
        format!(
            "<< /Length {} >>\nstream\n{content}endstream",
            content.len()
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut pdf = String::from("%PDF-1.4\n");
    let mut offsets = Vec::with_capacity(objects.len());
    for (index, object) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.push_str(&format!("{} 0 obj\n{object}\nendobj\n", index + 1));
    }
    let xref = pdf.len();
    pdf.push_str(&format!(
        "xref\n0 {}\n0000000000 65535 f \n",
        objects.len() + 1
    ));
    for offset in offsets {
        pdf.push_str(&format!("{offset:010} 00000 n \n"));
    }
    pdf.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    ));
    pdf.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificate_pdf_has_a_correct_cross_reference_table() {
        let pdf = certificate_pdf("Fire (safety)", "Zoë Ünal", "2026-11-23");
        let text = String::from_utf8(pdf.clone()).expect("ASCII");
        assert!(common::certificates::job::looks_like_pdf(&pdf));
        assert!(text.contains("(Fire \\(safety\\)) Tj"));
        assert!(text.contains("completed by Zo? ?nal on 2026-11-23"));
        let startxref: usize = text
            .rsplit("startxref\n")
            .next()
            .and_then(|tail| tail.lines().next())
            .and_then(|line| line.parse().ok())
            .expect("startxref");
        assert!(text[startxref..].starts_with("xref\n0 6\n"));
        for (number, line) in text[startxref..].lines().skip(3).take(5).enumerate() {
            let offset: usize = line[..10].parse().expect("offset");
            assert!(
                text[offset..].starts_with(&format!("{} 0 obj", number + 1)),
                "object {} not at {offset}",
                number + 1
            );
        }
    }

    #[test]
    fn encoded_subjects_are_decoded() {
        assert_eq!(decode_subject("=?utf-8?b?WsO2w6s=?= plain"), "Zöë plain");
        assert_eq!(decode_subject("Sync finished"), "Sync finished");
        assert_eq!(
            decode_subject("=?utf-8?b?WsO2?= =?utf-8?b?w6s=?="),
            "Zöë",
            "adjacent encoded words join without a space"
        );
    }
}

//! The command line (clap derive).

use crate::error::EXIT_CODES_HELP;
use crate::job_flags::JobFlags;
use clap::{Args, Parser, Subcommand};
use common::domain::employee::PersonioId;
use std::net::SocketAddr;
use std::path::PathBuf;
use url::Url;

/// A Personio employee id on the command line.
fn personio_id(text: &str) -> Result<PersonioId, String> {
    common::app::parse_employee_id(text).map_err(|error| error.to_string())
}

#[derive(Debug, Parser)]
#[command(
    name = "personio-lms",
    version,
    about = "Personio ⇄ learning platform integration: sync employees to the LMS, push certificates back",
    after_help = EXIT_CODES_HELP,
)]
pub struct Cli {
    /// More logs on stderr (info; twice for debug). RUST_LOG overrides.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// The config file of a command.
#[derive(Debug, Clone, Args)]
pub struct ConfigArg {
    /// The integration's TOML config (see `personio-lms init-config`).
    #[arg(long, short, value_name = "FILE")]
    pub config: PathBuf,
}

/// How long a command may take before its remaining work is abandoned.
#[derive(Debug, Clone, Copy, Args)]
pub struct TimeoutArg {
    /// Give up after this many seconds. Default: `sync` gives its changes the time their number
    /// needs (two minutes plus ten seconds per round of concurrent changes), `check` 60,
    /// certificate pushes 1800.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
}

impl TimeoutArg {
    /// The timeout given, or `default` seconds.
    pub fn or(self, default: u64) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout.unwrap_or(default))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// End to end on embedded defaults: Personio sandbox, in-process LMS, temp state and outbox.
    Demo(DemoArgs),
    /// One sync run against the Personio and SCIM endpoints of the config.
    Sync {
        #[command(flatten)]
        config: ConfigArg,
        /// Plan and record, write nothing to the LMS and send no email.
        #[arg(long)]
        dry_run: bool,
        /// Also read the LMS and repair what was changed there by hand (deleted or edited
        /// users, removed group memberships); each repair is reported. Covers everyone.
        #[arg(long, conflicts_with = "only")]
        reconcile: bool,
        /// Print the run record as JSON.
        #[arg(long)]
        json: bool,
        /// Do not ask before a first sync that creates many accounts.
        #[arg(long, short)]
        yes: bool,
        /// Sync just these employees (Personio ids), read one by one; nobody else is touched.
        #[arg(long, value_name = "ID[,ID…]", value_delimiter = ',', value_parser = personio_id)]
        only: Vec<PersonioId>,
        #[command(flatten)]
        timeout: TimeoutArg,
    },
    /// Pre-flight check: credentials, attribute access, LMS groups, document category.
    Check {
        #[command(flatten)]
        config: ConfigArg,
        /// Print the report as JSON (exit code 5 when it failed, as without).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        timeout: TimeoutArg,
    },
    /// Why an employee is (not) synced: selection, profile, link, LMS user, next run, recent runs.
    Explain {
        /// The employee's Personio id or email address.
        employee: String,
        #[command(flatten)]
        config: ConfigArg,
        /// Print the explanation as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        timeout: TimeoutArg,
    },
    /// The run history, newest first; `runs show RUN_ID` for one run.
    Runs(RunsArgs),
    /// Push one certificate (PDF) to Personio as an employee document.
    PushCertificate {
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        job: JobFlags,
        #[command(flatten)]
        timeout: TimeoutArg,
    },
    /// Push every certificate job of an NDJSON file (one job per line).
    Backfill {
        #[command(flatten)]
        config: ConfigArg,
        /// The jobs, one JSON object per line.
        jobs: PathBuf,
        #[command(flatten)]
        timeout: TimeoutArg,
    },
    /// The certificate ledger: every certificate, its state and document.
    Certificates {
        #[command(flatten)]
        config: ConfigArg,
        /// Print the ledger as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The whole product on this machine: the admin API and the web console, the scheduler and
    /// the workers, state in SQLite (`--demo`: with a Personio sandbox and an in-process LMS).
    Serve(ServeArgs),
    /// The audit trail: who changed the integration through the admin API, when, and how it
    /// was answered (newest first).
    Audit {
        #[command(flatten)]
        config: ConfigArg,
        /// How many entries to show.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=1000))]
        limit: u16,
        /// Continue after this entry (the cursor a previous listing printed).
        #[arg(long)]
        cursor: Option<String>,
        /// Print the entries as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Personio webhooks of an integration on a host that receives them (`personio-lms serve`
    /// or the AWS stack), through its admin API: changes reach the LMS within seconds.
    Webhooks(WebhooksArgs),
    /// Break the integration's sync lease, after showing who holds it (a run that died).
    Unlock {
        #[command(flatten)]
        config: ConfigArg,
        /// Break it without asking.
        #[arg(long)]
        yes: bool,
    },
    /// Serve the Personio sandbox (same flags as `personio-sandbox`).
    Sandbox(personio_sandbox::SandboxArgs),
    /// Print a commented example config.
    InitConfig,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct RunsArgs {
    /// The integration's TOML config.
    #[arg(long, short, value_name = "FILE", required = true)]
    pub config: Option<PathBuf>,
    /// How many runs to list.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Print the runs as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(subcommand)]
    pub show: Option<RunsCommand>,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// One run: counts, notices and every employee's outcome.
    Show {
        /// The run's id, a unique prefix of it (the first characters `runs` shows), or `latest`.
        run_id: String,
        #[command(flatten)]
        config: ConfigArg,
        /// Print the run record as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Generated employees in the sandbox.
    #[arg(long, default_value_t = 80, value_parser = clap::value_parser!(u32).range(10..=5000))]
    pub employees: u32,
    /// Seed of the generated company.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Keep the temporary directory (state file, outbox) and print its path.
    #[arg(long)]
    pub keep: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn runs_takes_a_config_or_a_show_subcommand() {
        let listed =
            Cli::try_parse_from(["personio-lms", "runs", "--config", "a.toml"]).expect("ok");
        assert!(matches!(
            listed.command,
            Command::Runs(RunsArgs { show: None, .. })
        ));
        let shown =
            Cli::try_parse_from(["personio-lms", "runs", "show", "r-1", "--config", "a.toml"])
                .expect("ok");
        assert!(matches!(
            shown.command,
            Command::Runs(RunsArgs {
                show: Some(RunsCommand::Show { .. }),
                ..
            })
        ));
        assert!(Cli::try_parse_from(["personio-lms", "runs"]).is_err());
    }

    #[test]
    fn sync_only_takes_personio_ids() {
        let parsed =
            Cli::try_parse_from(["personio-lms", "sync", "-c", "a.toml", "--only", "7,12"])
                .expect("ok");
        let Command::Sync { only, .. } = parsed.command else {
            panic!("expected sync");
        };
        assert_eq!(only, [PersonioId(7), PersonioId(12)]);
        assert!(
            Cli::try_parse_from([
                "personio-lms",
                "sync",
                "-c",
                "a.toml",
                "--only",
                "7",
                "--reconcile"
            ])
            .is_err(),
            "a reconcile covers everyone"
        );
        let error = Cli::try_parse_from(["personio-lms", "sync", "-c", "a.toml", "--only", "7,x"])
            .expect_err("not an id");
        assert!(
            error
                .to_string()
                .contains("\"x\" is not a Personio employee id"),
            "{error}"
        );
    }

    #[test]
    fn push_certificate_needs_a_job_or_its_flags() {
        assert!(Cli::try_parse_from(["personio-lms", "push-certificate", "-c", "a.toml"]).is_err());
        assert!(
            Cli::try_parse_from([
                "personio-lms",
                "push-certificate",
                "-c",
                "a.toml",
                "--job",
                "j.json"
            ])
            .is_ok()
        );
        assert!(
            Cli::try_parse_from([
                "personio-lms",
                "push-certificate",
                "-c",
                "a.toml",
                "--certificate-id",
                "c",
                "--lms-user-id",
                "u",
                "--course",
                "x",
                "--completed-on",
                "2026-01-01",
                "--pdf",
                "c.pdf",
                "--pdf-url",
                "https://x/c.pdf",
            ])
            .is_err(),
            "--pdf and --pdf-url exclude each other"
        );
    }
}

/// The admin API `webhooks --api` names unless told otherwise (`personio-lms serve`'s default
/// address).
pub const DEFAULT_API: &str = "http://127.0.0.1:8080";

/// `personio-lms webhooks install|status|remove`.
#[derive(Debug, Args)]
pub struct WebhooksArgs {
    #[command(subcommand)]
    pub action: WebhooksAction,
}

#[derive(Debug, Clone, Copy, Subcommand, PartialEq, Eq)]
pub enum WebhooksActionKind {
    Install,
    Status,
    Remove,
}

#[derive(Debug, Subcommand)]
pub enum WebhooksAction {
    /// Register the integration's webhook in Personio with a new random token (again: the
    /// token is replaced and the old one stops working).
    Install(WebhookTarget),
    /// Whether the webhook is registered and enabled, and how its deliveries of the last 24 h
    /// went (Personio's activity).
    Status(WebhookTarget),
    /// Delete the webhook in Personio and its token; scheduled runs go on as before.
    Remove(WebhookTarget),
}

impl WebhooksAction {
    pub fn parts(&self) -> (WebhooksActionKind, &WebhookTarget) {
        match self {
            Self::Install(target) => (WebhooksActionKind::Install, target),
            Self::Status(target) => (WebhooksActionKind::Status, target),
            Self::Remove(target) => (WebhooksActionKind::Remove, target),
        }
    }
}

/// Which integration, on which host. The admin token comes from the environment only
/// (`PERSONIO_LMS_ADMIN_TOKEN`), never from the command line.
#[derive(Debug, Args)]
pub struct WebhookTarget {
    /// The integration's id on that host.
    #[arg(long, value_name = "ID")]
    pub integration: String,
    /// The host's admin API (`personio-lms serve`'s address, or the AWS stack's API URL).
    #[arg(
        long,
        value_name = "URL",
        env = "PERSONIO_LMS_API",
        default_value = DEFAULT_API
    )]
    pub api: String,
    /// Print the API's answer as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Where the credential key comes from unless `--key-env` names another variable.
pub const DEFAULT_KEY_ENV: &str = "PERSONIO_LMS_CREDENTIAL_KEY";

/// `personio-lms serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The address to listen on. Anything but a loopback address needs --public-url.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where the state file, the credential key, the admin token's hash and the outbox live
    /// [default: personio-lms-data; with --demo a temporary directory].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The URL people open the console at, when it is not the listen address (a TLS proxy in
    /// front). An https URL makes the session cookie Secure.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<Url>,
    /// Also start a Personio sandbox and an in-process LMS, with a demo integration synced.
    #[arg(long)]
    pub demo: bool,
    /// Make a new admin token (the old one stops working) and print it.
    #[arg(long)]
    pub reset_admin_token: bool,
    /// The environment variable that may hold the credential key (32 bytes, base64); without
    /// it the key is DIR/credential.key, created on first start.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_KEY_ENV)]
    pub key_env: String,
    /// Seconds between two looks for due integrations.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub scheduler_seconds: u64,
    /// Sync runs at the same time (never two of one integration).
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=32))]
    pub sync_workers: u64,
    /// Seconds a sync run or a certificate batch in flight may still take after SIGINT/SIGTERM.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub shutdown_grace: u64,
    /// Sender of the invitation and run-summary emails written to DIR/outbox.
    #[arg(long, value_name = "ADDRESS", default_value = crate::config::DEFAULT_EMAIL_FROM)]
    pub email_from: String,
}

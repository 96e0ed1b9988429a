//! The command line (`personio-sandbox`, or embedded as `personio-lms sandbox`).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::{Faults, RateLimits, SandboxConfig};
use crate::error::SandboxError;
use crate::sandbox::Sandbox;
use crate::webhooks::settings::{DeliveryPolicy, WebhookFaults, WebhookSettings};

/// Flags of the sandbox command.
#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Number of generated employees.
    #[arg(long, default_value_t = 200)]
    pub employees: usize,
    /// Seed of the data generator (and of the default credential).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Serve this `GET /v1/company/employees`-shaped JSON file instead of generated employees.
    #[arg(long)]
    pub dataset: Option<PathBuf>,
    /// Write the served employees to this file (same shape) and continue.
    #[arg(long)]
    pub save_dataset: Option<PathBuf>,
    /// Turn off Personio's rate limits.
    #[arg(long)]
    pub no_rate_limits: bool,
    /// Latency added to every API response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Random extra latency up to this many milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_jitter_ms: u64,
    /// Share (0..1) of requests answered with 500/502.
    #[arg(long, default_value_t = 0.0)]
    pub error_share: f64,
    /// Share of requests that hang for --hang-secs.
    #[arg(long, default_value_t = 0.0)]
    pub timeout_share: f64,
    /// Share of responses whose JSON body is cut in half.
    #[arg(long, default_value_t = 0.0)]
    pub truncate_share: f64,
    /// Share of requests whose connection is closed without a response.
    #[arg(long, default_value_t = 0.0)]
    pub drop_share: f64,
    /// How long a hanging request hangs.
    #[arg(long, default_value_t = 30)]
    pub hang_secs: u64,
    /// Seed of the fault sequence (API faults and dropped webhook events).
    #[arg(long, default_value_t = 0)]
    pub fault_seed: u64,
    /// Accept `http://` webhook URLs on a loopback host (a sandbox deviation for local
    /// receivers; Personio requires HTTPS).
    #[arg(long)]
    pub allow_http_webhooks: bool,
    /// Share (0..1) of webhook events lost before delivery.
    #[arg(long, default_value_t = 0.0)]
    pub webhook_drop_share: f64,
    /// An attribute whose changes fire no webhook event (repeatable), e.g. `position`.
    #[arg(long = "webhook-silent-attribute", value_name = "KEY")]
    pub webhook_silent_attributes: Vec<String>,
    /// Retry failed webhook deliveries after MS, 2×MS, 4×MS, … instead of Personio's
    /// minutes-to-days schedule.
    #[arg(long, value_name = "MS")]
    pub fast_webhook_retries: Option<u64>,
    /// The `company_id` webhook events carry.
    #[arg(long, default_value = "4242")]
    pub company_id: String,
    /// Serve the `/_sandbox/employees` control surface (change the data over HTTP).
    #[arg(long)]
    pub control_api: bool,
}

impl SandboxArgs {
    pub fn config(&self) -> SandboxConfig {
        let faults = Faults {
            latency: Duration::from_millis(self.latency_ms),
            latency_jitter: Duration::from_millis(self.latency_jitter_ms),
            server_error_share: self.error_share,
            timeout_share: self.timeout_share,
            truncated_share: self.truncate_share,
            dropped_share: self.drop_share,
            hang: Duration::from_secs(self.hang_secs),
            seed: self.fault_seed,
            only: Vec::new(),
        };
        let mut config = SandboxConfig::default()
            .with_port(self.port)
            .with_employees(self.employees)
            .with_seed(self.seed)
            .with_faults(faults)
            .with_rate_limits(if self.no_rate_limits {
                RateLimits::disabled()
            } else {
                RateLimits::personio()
            });
        if let Some(dataset) = &self.dataset {
            config = config.with_dataset(dataset);
        }
        if self.control_api {
            config = config.with_control_api();
        }
        config.with_webhooks(self.webhook_settings())
    }

    fn webhook_settings(&self) -> WebhookSettings {
        WebhookSettings {
            company_id: self.company_id.clone(),
            allow_http_loopback: self.allow_http_webhooks,
            delivery: self
                .fast_webhook_retries
                .map_or_else(DeliveryPolicy::personio, |ms| {
                    DeliveryPolicy::compressed(Duration::from_millis(ms))
                }),
            faults: WebhookFaults {
                drop_share: self.webhook_drop_share,
                seed: self.fault_seed,
                silent_attributes: self.webhook_silent_attributes.clone(),
            },
        }
    }
}

/// Starts the sandbox, prints `listening on URL`, `client_id=…`, `client_secret=…` (in that
/// order, flushed, so scripts can read them), and serves until Ctrl-C or SIGTERM.
pub async fn serve(args: SandboxArgs) -> Result<(), SandboxError> {
    let sandbox = Sandbox::start(args.config()).await?;
    if let Some(path) = &args.save_dataset {
        sandbox.save_dataset(path)?;
    }
    let (client_id, client_secret) = sandbox.default_credential();
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {}", sandbox.base_url())
            .and_then(|()| writeln!(stdout, "client_id={client_id}"))
            .and_then(|()| writeln!(stdout, "client_secret={client_secret}"))
            .and_then(|()| stdout.flush())
            .map_err(SandboxError::Server)?;
    }
    wait_for_termination().await?;
    tracing::info!("shutting down");
    sandbox.shutdown().await;
    Ok(())
}

async fn wait_for_termination() -> Result<(), SandboxError> {
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(SandboxError::Signal)?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.map_err(SandboxError::Signal),
            _ = terminate.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map_err(SandboxError::Signal)
    }
}

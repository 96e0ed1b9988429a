//! `personio-lms serve`: the whole product on one machine. The admin API (`common::admin`, the
//! same routes and OpenAPI document as on AWS) and the web console over HTTP, the scheduler, the
//! sync worker and the certificate worker in-process, state in one SQLite file.
//!
//! The data directory holds everything it keeps:
//! - `state.sqlite`: integrations, links, runs, the certificate ledger, the job queue, and the
//!   credentials sealed with the credential key;
//! - `credential.key` (0600), unless the key comes from an environment variable;
//! - `admin-token.sha256` (0600): the admin token's hash;
//! - `outbox/`: invitation and run-summary emails as `.eml` files.
//!
//! One host per data directory: the host holds a lease on the state file while it runs, so a
//! second one refuses to start, and a host that starts after a crash knows that the jobs and
//! leases of the crashed one are nobody's and takes them back.

mod access;
mod demo;
mod http;
#[cfg(test)]
mod tests;
mod workers;

pub use access::LOCAL_TENANT;

use crate::args::ServeArgs;
use crate::error::{CliError, ExitCode};
use access::{Access, SessionPolicy, ensure_admin_token};
use common::admin::{AdminAdapters, AdminApi, AdminLimits, WebhookHosting};
use common::app::{
    CertificateConsumer, ConnectPolicy, Connector, CredentialsConnector, SyncJobHandler,
    WebhookReceiver,
};
use common::certificates::{Clock, FetchLimits, PdfFetcher};
use common::domain::IntegrationId;
use common::metrics::MetricsRegistry;
use common::notify::OutboxNotifier;
use common::ports::{IntegrationStore, LeaseOutcome, LeaseStore};
use common::store::{CredentialKey, JobKind, SealedCredentials, SqliteJobQueue, SqliteStore};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{error, info, warn};
use url::Url;
use workers::{WorkerContext, WorkerSettings};

/// The lease that keeps a second host off the same state file.
const HOST_LEASE_ID: &str = "@personio-lms-serve";
const HOST_LEASE_TTL_SECONDS: i64 = 15;
/// Every lease this kind of host takes starts so (the host lease, sync runs' leases).
const HOLDER_PREFIX: &str = "personio-lms serve";

/// What the data directory opened to.
struct Opened {
    store: Arc<SqliteStore>,
    credentials: Arc<SealedCredentials>,
    access: Access,
    new_token: Option<common::secret::Secret>,
    key_source: String,
}

fn open_data_dir(dir: &Path, args: &ServeArgs, secure: bool) -> Result<Opened, CliError> {
    std::fs::create_dir_all(dir)
        .map_err(|error| CliError::failed(&format!("cannot create {}", dir.display()), error))?;
    let (key, key_source) = match std::env::var(&args.key_env) {
        Ok(text) => (
            CredentialKey::from_base64(&text)
                .map_err(|error| CliError::Input(format!("{}: {error}", args.key_env)))?,
            format!("${}", args.key_env),
        ),
        Err(_) => {
            let path = dir.join("credential.key");
            let (key, created) = CredentialKey::load_or_create(&path)
                .map_err(|error| CliError::Failed(error.to_string()))?;
            if created {
                info!(path = %path.display(), "created a new credential key");
            }
            (key, path.display().to_string())
        }
    };
    let store = SqliteStore::open(dir.join("state.sqlite")).map_err(|error| {
        CliError::failed(
            &format!("cannot open the state file in {}", dir.display()),
            error,
        )
    })?;
    let credentials = SealedCredentials::new(&store, key);
    let token = ensure_admin_token(&dir.join("admin-token.sha256"), args.reset_admin_token)?;
    Ok(Opened {
        store: Arc::new(store),
        credentials: Arc::new(credentials),
        access: Access::new(token.hash, SessionPolicy::default(), secure),
        new_token: token.new_token,
        key_source,
    })
}

fn host_holder() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
    format!("{HOLDER_PREFIX} on {host} (pid {})", std::process::id())
}

/// Holds the state file for this host; a crashed host's hold is waited out (it expires within
/// its TTL), a live one's is not.
async fn hold_state(store: &SqliteStore, holder: &str) -> Result<Option<String>, CliError> {
    let id = IntegrationId::new(HOST_LEASE_ID);
    let ttl = chrono::Duration::seconds(HOST_LEASE_TTL_SECONDS);
    let mut waited = false;
    loop {
        let outcome = store
            .acquire_lease(&id, holder, chrono::Utc::now(), ttl)
            .await
            .map_err(|error| CliError::failed("cannot take the state file", error))?;
        match outcome {
            LeaseOutcome::Acquired(_) => return Ok(None),
            LeaseOutcome::HeldBy(lease) if !waited => {
                println!(
                    "another personio-lms serve ({}) held this data directory until {}; waiting for its hold to end",
                    lease.holder, lease.expires_at
                );
                let wait = (lease.expires_at - chrono::Utc::now())
                    .to_std()
                    .unwrap_or_default()
                    + Duration::from_millis(500);
                tokio::time::sleep(wait).await;
                waited = true;
            }
            LeaseOutcome::HeldBy(lease) => return Ok(Some(lease.holder)),
        }
    }
}

/// Renews the hold until the host stops, then lets go of it.
async fn keep_holding(store: Arc<SqliteStore>, holder: String, mut stop: workers::Stop) {
    let id = IntegrationId::new(HOST_LEASE_ID);
    let ttl = chrono::Duration::seconds(HOST_LEASE_TTL_SECONDS);
    let every = Duration::from_secs((HOST_LEASE_TTL_SECONDS / 3) as u64);
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = workers::stopped(&mut stop) => break,
        }
        match store
            .renew_lease(&id, &holder, chrono::Utc::now(), ttl)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                error!("this host lost its hold on the state file; another host may be using it")
            }
            Err(error) => warn!(%error, "cannot renew the hold on the state file"),
        }
    }
}

/// After a crash: the jobs the dead host held are delivered again at once, and the leases its
/// runs held are released (nobody else uses this state file).
async fn recover(store: &SqliteStore, queue: &SqliteJobQueue, holder: &str) {
    let now = chrono::Utc::now();
    for kind in [JobKind::Sync, JobKind::Certificate] {
        match queue.hand_back_in_flight(kind, now).await {
            Ok(0) => {}
            Ok(count) => warn!(
                ?kind,
                count, "jobs of a host that stopped without finishing them are delivered again"
            ),
            Err(error) => warn!(%error, "cannot hand back the jobs of an earlier start"),
        }
    }
    let integrations = match store.integrations_of_tenant(LOCAL_TENANT).await {
        Ok(integrations) => integrations,
        Err(error) => {
            warn!(%error, "cannot list the integrations to release stale leases");
            return;
        }
    };
    for record in integrations {
        if let Ok(Some(lease)) = store.lease(&record.id).await
            && lease.holder.starts_with(HOLDER_PREFIX)
            && !lease.holder.starts_with(holder)
        {
            match store.release_lease(&record.id, &lease.holder).await {
                Ok(()) => {
                    warn!(integration = %record.id, holder = %lease.holder, "released the lease of a run an earlier start did not finish")
                }
                Err(error) => {
                    warn!(integration = %record.id, %error, "cannot release a stale lease; it expires by itself")
                }
            }
        }
    }
}

/// The names and origins this server answers for.
fn addresses(bound: SocketAddr, public_url: Option<&Url>) -> (Vec<String>, Vec<String>) {
    let port = bound.port();
    let mut hosts = vec![match bound {
        SocketAddr::V4(address) => format!("{}:{port}", address.ip()),
        SocketAddr::V6(address) => format!("[{}]:{port}", address.ip()),
    }];
    if bound.ip().is_loopback() {
        for alias in [
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("[::1]:{port}"),
        ] {
            if !hosts.contains(&alias) {
                hosts.push(alias);
            }
        }
    }
    let mut origins: Vec<String> = hosts.iter().map(|host| format!("http://{host}")).collect();
    if let Some(url) = public_url {
        if let Some(host) = url.host_str() {
            hosts.push(match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            });
        }
        origins.push(url.origin().ascii_serialization());
    }
    (hosts, origins)
}

pub async fn run(args: &ServeArgs) -> Result<ExitCode, CliError> {
    if !args.listen.ip().is_loopback() && args.public_url.is_none() {
        return Err(CliError::Input(format!(
            "--listen {} reaches beyond this machine: give the console's address with --public-url \
             (https, with TLS in front of this server)",
            args.listen
        )));
    }
    let secure = args
        .public_url
        .as_ref()
        .is_some_and(|url| url.scheme() == "https");
    let scratch = match (&args.data_dir, args.demo) {
        (None, true) => Some(
            tempfile::Builder::new()
                .prefix("personio-lms-serve-demo-")
                .tempdir()
                .map_err(|error| CliError::failed("cannot create a temporary directory", error))?,
        ),
        _ => None,
    };
    let data_dir = match (&args.data_dir, &scratch) {
        (Some(dir), _) => dir.clone(),
        (None, Some(scratch)) => scratch.path().to_owned(),
        (None, None) => PathBuf::from("personio-lms-data"),
    };
    let opened = open_data_dir(&data_dir, args, secure)?;
    let holder = host_holder();
    if let Some(other) = hold_state(&opened.store, &holder).await? {
        eprintln!(
            "error: another personio-lms serve ({other}) is using {}; stop it first",
            data_dir.display()
        );
        return Ok(ExitCode::LeaseHeld);
    }
    let queue = SqliteJobQueue::new(&opened.store);
    recover(&opened.store, &queue, &holder).await;

    let demo = if args.demo {
        Some(demo::DemoWorld::start().await?)
    } else {
        None
    };
    let credentials_connector = CredentialsConnector::new(
        opened.credentials.clone(),
        match &demo {
            // The sandbox has no rate limits, so the demo's client keeps no budget either.
            Some(_) => ConnectPolicy {
                personio_rate_budget: false,
                ..ConnectPolicy::LOCAL
            },
            None => ConnectPolicy::LOCAL,
        },
    );
    let connector: Arc<dyn Connector> = match &demo {
        Some(world) => Arc::new(world.connector(credentials_connector)),
        None => Arc::new(credentials_connector),
    };
    // One outbox for the invitations and summaries of every run, queued or run by the API.
    let notifier = Arc::new(OutboxNotifier::new(
        data_dir.join("outbox"),
        &args.email_from,
    ));
    let api = AdminApi::new(AdminAdapters {
        integrations: opened.store.clone(),
        state: opened.store.clone(),
        credentials: opened.credentials.clone(),
        queue: Arc::new(queue.clone()),
        connector: connector.clone(),
        audit: opened.store.clone(),
        notifier: notifier.clone(),
    })
    .with_limits(AdminLimits {
        // No gateway cuts a request off here: a plan of a large company may take its time.
        remote_budget: Duration::from_secs(120),
        ..AdminLimits::default()
    });
    let fetch_failed = |error: common::certificates::FetchError| {
        CliError::failed("cannot set up the PDF download client", error)
    };
    let sync_handler = Arc::new(SyncJobHandler::new(
        opened.store.clone(),
        opened.store.clone(),
        connector.clone(),
        notifier,
        PdfFetcher::new(FetchLimits::default(), connector.policy().network())
            .map_err(fetch_failed)?,
    ));
    let consumer = Arc::new(
        CertificateConsumer::new(
            opened.store.clone(),
            opened.store.clone(),
            connector,
            FetchLimits::default(),
        )
        .map_err(fetch_failed)?,
    );

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|error| CliError::failed(&format!("cannot listen on {}", args.listen), error))?;
    let bound = listener
        .local_addr()
        .map_err(|error| CliError::failed("cannot read the listening address", error))?;
    let (hosts, origins) = addresses(bound, args.public_url.as_ref());
    let site = match &args.public_url {
        Some(url) => url.as_str().trim_end_matches('/').to_owned(),
        None => format!("http://{}", hosts[0]),
    };
    let console_url = format!("{site}/console/");

    println!("personio-lms serve");
    println!("listening on http://{}", hosts[0]);
    println!("  console           {console_url}");
    println!(
        "  metrics           {site}/metrics (Prometheus text format; send the admin token as bearer)"
    );
    println!(
        "  webhooks          {site}/webhooks/personio/<integration id> (Personio's deliveries; \
         install with `personio-lms webhooks install`)"
    );
    println!("  data directory    {}", data_dir.display());
    println!("  credential key    {}", opened.key_source);
    match &opened.new_token {
        Some(token) => {
            println!("admin token: {}", token.expose());
            println!(
                "  (shown once, stored only as a hash: sign in to the console with it, or send it as \
                 `Authorization: Bearer …`; --reset-admin-token makes a new one)"
            );
        }
        None => println!(
            "  admin token       as printed on the first start (--reset-admin-token makes a new one)"
        ),
    }

    let (stop_sender, stop) = watch::channel(false);
    let metrics = Arc::new(MetricsRegistry::new());
    let clock: Clock = Arc::new(chrono::Utc::now);
    let context = WorkerContext {
        store: opened.store.clone(),
        queue: queue.clone(),
        clock,
        settings: WorkerSettings {
            scheduler_tick: Duration::from_secs(args.scheduler_seconds),
            sync_workers: usize::try_from(args.sync_workers).unwrap_or(2),
            grace: Duration::from_secs(args.shutdown_grace),
            ..WorkerSettings::default()
        },
        holder: holder.clone(),
        metrics: metrics.clone(),
    };
    // Personio delivers webhooks to this host's public URL (https in front of it), or, for the
    // sandbox of the demo, to its loopback address. Tokens are sealed beside the credentials.
    let api = api.with_webhooks(WebhookHosting {
        tokens: opened.credentials.clone(),
        public_url: site.clone(),
    });
    let webhooks = WebhookReceiver::new(
        opened.store.clone(),
        opened.credentials.clone(),
        Arc::new(queue.clone()),
    );
    let web = Arc::new(http::Web {
        api,
        webhooks,
        access: opened.access,
        metrics,
        hosts,
        origins,
    });
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(keep_holding(
        opened.store.clone(),
        holder.clone(),
        stop.clone(),
    ));
    tasks.spawn(workers::scheduler(context.clone(), stop.clone()));
    tasks.spawn(workers::sync_worker(
        context.clone(),
        sync_handler,
        stop.clone(),
    ));
    tasks.spawn(workers::certificate_worker(context, consumer, stop.clone()));
    let populating = match &demo {
        Some(world) => Some(tokio::spawn(
            world.populate(web.clone(), opened.store.clone()),
        )),
        None => None,
    };

    let mut server_stop = stop.clone();
    let server = axum::serve(listener, http::router(web))
        .with_graceful_shutdown(async move { workers::stopped(&mut server_stop).await });
    let server = tokio::spawn(async move { server.await });
    let signal = shutdown_signal().await;
    println!(
        "{signal}: stopping (work in flight may take up to {} s)",
        args.shutdown_grace
    );
    let _ = stop_sender.send(true);
    if let Some(populating) = populating {
        populating.abort();
    }
    let grace = Duration::from_secs(args.shutdown_grace);
    if tokio::time::timeout(grace, server).await.is_err() {
        warn!("requests still open after the grace period were cut off");
    }
    // The workers bound themselves by the same grace; a little more for handing work back.
    let _ = tokio::time::timeout(grace + Duration::from_secs(10), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if let Err(error) = opened
        .store
        .release_lease(&IntegrationId::new(HOST_LEASE_ID), &holder)
        .await
    {
        warn!(%error, "cannot release the hold on the state file; it expires by itself");
    }
    if let Some(world) = demo {
        world.shutdown().await;
    }
    println!("stopped");
    Ok(ExitCode::Success)
}

/// Waits for SIGINT (Ctrl-C) or SIGTERM and names it.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = terminate.recv() => "SIGTERM",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

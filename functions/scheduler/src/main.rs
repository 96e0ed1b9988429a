use common::aws::host::{AwsServices, MetricsOutput, init_tracing};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = scheduler::Config::from_env()?;
    let scheduler = scheduler::Scheduler::new(&config, &AwsServices::from_environment().await)
        .with_metrics(MetricsOutput::from_env()?);
    let scheduler = &scheduler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        scheduler.handle(event)
    }))
    .await
}

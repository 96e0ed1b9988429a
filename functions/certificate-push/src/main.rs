use aws_lambda_events::event::sqs::SqsEvent;
use common::app::ConnectPolicy;
use common::aws::host::{AwsServices, IntegrationsConfig, MetricsOutput, init_tracing};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = IntegrationsConfig::from_env()?;
    let function = certificate_push::CertificatePush::new(
        &config,
        &AwsServices::from_environment().await,
        ConnectPolicy::HOSTED,
    )?
    .with_metrics(MetricsOutput::from_env()?);
    let function = &function;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        function.handle(event)
    }))
    .await
}

use aws_lambda_events::event::sqs::SqsEvent;
use common::app::ConnectPolicy;
use common::aws::host::{AwsServices, MetricsOutput, init_tracing};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = employee_sync::Config::from_env()?;
    let function = employee_sync::EmployeeSync::new(
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

//! The admin API Lambda function: adapters built once per container, then one API Gateway
//! HTTP API event at a time.

use common::app::ConnectPolicy;
use common::aws::host::init_tracing;
use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let host = admin_api::Host::from_env(ConnectPolicy::HOSTED).await?;
    let host = &host;
    lambda_http::run(service_fn(move |request| async move {
        host.handle(request).await
    }))
    .await
}

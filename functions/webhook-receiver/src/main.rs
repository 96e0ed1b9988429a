//! The webhook receiver Lambda function: adapters built once per container, then one Personio
//! delivery at a time.

use common::aws::host::init_tracing;
use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let host = webhook_receiver::Host::from_env().await?;
    let host = &host;
    lambda_http::run(service_fn(move |request| async move {
        host.handle(request).await
    }))
    .await
}

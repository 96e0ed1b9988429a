//! Cross-crate integration tests. One module per area; one binary for all of them.

mod admin_api;
mod aws_dynamodb;
mod aws_secrets;
mod aws_ses;
mod aws_sqs;
mod certificates;
mod faults;
mod lambda_certificate_push;
mod lambda_employee_sync;
mod lambda_scheduler;
mod lambda_support;
mod lambda_webhook_receiver;
mod personio_client;
mod personio_webhooks;
mod prometheus_page;
mod scim_lms;
mod scim_quirks;
mod smtp_notifier;
mod sync_harness;
mod sync_sandbox;
mod sync_scim;
mod sync_semantics;
mod webhook_flow;

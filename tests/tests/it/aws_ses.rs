//! `SesNotifier` against moto's SES v2 through the real SDK client; delivery is checked in
//! moto's record of sent messages (`/moto-api/data.json`).

use aws_sdk_sesv2::Client;
use common::aws::{SesNotifier, endpoint_sdk_config};
use common::ports::{Notifier, NotifyError, OutgoingEmail};
use integration_tests::aws::{REGION, moto_endpoint, unique_name};

async fn ses_client(endpoint: &str) -> Client {
    Client::new(&endpoint_sdk_config(endpoint, REGION).await)
}

fn summary_email(to: &str) -> OutgoingEmail {
    OutgoingEmail {
        to: to.to_owned(),
        subject: "Synchronisation abgeschlossen: 3 Änderungen ✓".into(),
        text: "Erstellt: 1\nAktualisiert: 2\nGrüße".into(),
        html: "<p>Erstellt: <b>1</b></p><p>Aktualisiert: 2 — Grüße</p>".into(),
    }
}

/// The messages moto recorded as sent to `to`.
async fn messages_sent_to(endpoint: &str, to: &str) -> Vec<serde_json::Value> {
    let data: serde_json::Value = reqwest::get(format!("{endpoint}/moto-api/data.json"))
        .await
        .and_then(|response| response.error_for_status())
        .unwrap_or_else(|error| panic!("moto data: {error}"))
        .json()
        .await
        .unwrap_or_else(|error| panic!("moto data is not JSON: {error}"));
    data["ses"]["Message"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|message| {
            message["destinations"]["ToAddresses"]
                .as_array()
                .is_some_and(|addresses| addresses.iter().any(|address| address == to))
        })
        .cloned()
        .collect()
}

#[tokio::test]
async fn an_email_from_a_verified_sender_is_delivered() {
    let Some(endpoint) = moto_endpoint() else {
        return;
    };
    let client = ses_client(&endpoint).await;
    let from = format!("{}@sync.example.com", unique_name("noreply"));
    client
        .create_email_identity()
        .email_identity(&from)
        .send()
        .await
        .unwrap_or_else(|error| panic!("verify {from}: {error:?}"));
    let to = format!("{}@acme.example", unique_name("admin"));
    let email = summary_email(&to);

    SesNotifier::new(client, &from).send(&email).await.unwrap();

    let sent = messages_sent_to(&endpoint, &to).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["source"], from.as_str());
    assert_eq!(sent[0]["subject"], email.subject.as_str());
    // moto keeps one body, the HTML one when there is one.
    assert_eq!(sent[0]["body"], email.html.as_str());
}

#[tokio::test]
async fn an_unverified_sender_is_rejected_and_nothing_is_sent() {
    let Some(endpoint) = moto_endpoint() else {
        return;
    };
    let from = format!("{}@unverified.example.com", unique_name("noreply"));
    let to = format!("{}@acme.example", unique_name("admin"));
    let error = SesNotifier::new(ses_client(&endpoint).await, &from)
        .send(&summary_email(&to))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, NotifyError::Rejected { to: refused, reason } if *refused == to && reason.contains("MessageRejected")),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    assert_eq!(
        messages_sent_to(&endpoint, &to).await,
        Vec::<serde_json::Value>::new()
    );
}

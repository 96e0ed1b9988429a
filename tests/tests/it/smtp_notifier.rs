//! The SMTP notifier against a real SMTP server (aiosmtpd): STARTTLS and TLS with the server's
//! certificate trusted through `ca_file`, a login, and the failures an admin meets (a wrong
//! password is permanent, an untrusted certificate or a dead server is retryable).

use common::notify::{SmtpConfig, SmtpNotifier, SmtpSecurity};
use common::ports::{Notifier, OutgoingEmail};
use common::secret::Secret;
use integration_tests::smtp::{PASSWORD, Security, SmtpServer, USER};
use std::time::Duration;

fn config(server: &SmtpServer, security: SmtpSecurity, login: bool) -> SmtpConfig {
    SmtpConfig {
        host: if security == SmtpSecurity::None {
            "127.0.0.1".into()
        } else {
            // The certificate names localhost and 127.0.0.1; the name is what gets verified.
            "localhost".into()
        },
        port: server.port(),
        security,
        user: login.then(|| USER.to_owned()),
        password: login.then(|| Secret::new(PASSWORD)),
        from: "lms-sync@example.com".into(),
        extra_roots_pem: (security != SmtpSecurity::None).then(|| server.ca_pem()),
        timeout: Duration::from_secs(10),
    }
}

fn email() -> OutgoingEmail {
    OutgoingEmail {
        to: "hr@example.com".into(),
        subject: "Personio → LMS sync acme: succeeded".into(),
        text: "Created: 3\nGrüße".into(),
        html: "<p>Created: 3</p>".into(),
    }
}

#[tokio::test]
async fn starttls_with_a_login_delivers_the_rendered_message() {
    let Some(server) = SmtpServer::start(Security::Starttls, true) else {
        return;
    };
    let notifier = SmtpNotifier::new(config(&server, SmtpSecurity::Starttls, true)).unwrap();
    notifier.send(&email()).await.unwrap();

    let received = server.wait_for(1);
    assert_eq!(received.len(), 1);
    let message = &received[0];
    assert_eq!(message.mail_from, "lms-sync@example.com");
    assert_eq!(message.rcpt_tos, vec!["hr@example.com".to_owned()]);
    assert_eq!(message.login.as_deref(), Some(USER));
    assert!(message.encrypted, "STARTTLS upgraded the session");
    assert!(message.message.contains("To: hr@example.com\r\n"));
    assert!(message.message.contains("From: lms-sync@example.com\r\n"));
    // The same rendering as the outbox's: RFC 2047 subject, multipart text + HTML.
    assert!(message.message.contains("Subject: =?UTF-8?B?"));
    assert!(message.message.contains("multipart/alternative"));
}

#[tokio::test]
async fn tls_from_the_first_byte_without_a_login() {
    let Some(server) = SmtpServer::start(Security::Tls, false) else {
        return;
    };
    let notifier = SmtpNotifier::new(config(&server, SmtpSecurity::Tls, false)).unwrap();
    notifier.send(&email()).await.unwrap();
    let received = server.wait_for(1);
    assert_eq!(received.len(), 1);
    assert!(received[0].encrypted);
    assert_eq!(received[0].login, None);
}

#[tokio::test]
async fn a_wrong_password_is_refused_for_good() {
    let Some(server) = SmtpServer::start(Security::Starttls, true) else {
        return;
    };
    let mut config = config(&server, SmtpSecurity::Starttls, true);
    config.password = Some(Secret::new("not-the-password"));
    let error = SmtpNotifier::new(config)
        .unwrap()
        .send(&email())
        .await
        .unwrap_err();
    assert!(!error.is_retryable(), "{error}");
    assert!(!error.to_string().contains("not-the-password"), "{error}");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn an_untrusted_certificate_is_not_accepted() {
    let Some(server) = SmtpServer::start(Security::Tls, false) else {
        return;
    };
    let mut config = config(&server, SmtpSecurity::Tls, false);
    config.extra_roots_pem = None;
    let error = SmtpNotifier::new(config)
        .unwrap()
        .send(&email())
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert!(error.to_string().contains("ca_file"), "{error}");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_relay_on_this_machine_without_encryption() {
    let Some(server) = SmtpServer::start(Security::None, false) else {
        return;
    };
    let notifier = SmtpNotifier::new(config(&server, SmtpSecurity::None, false)).unwrap();
    notifier.send(&email()).await.unwrap();
    let received = server.wait_for(1);
    assert_eq!(received.len(), 1);
    assert!(!received[0].encrypted);
}

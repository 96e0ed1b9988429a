//! A local outbox: every email becomes an RFC 5322 `.eml` file in a folder, which any mail client
//! opens. The CLI and the demo use it instead of sending mail.

use crate::ports::{Notifier, NotifyError, OutgoingEmail};
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

pub struct OutboxNotifier {
    dir: PathBuf,
    from: String,
}

impl OutboxNotifier {
    /// `from` is the sender address written into every message.
    pub fn new(dir: impl Into<PathBuf>, from: impl Into<String>) -> Self {
        Self {
            dir: dir.into(),
            from: from.into(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait]
impl Notifier for OutboxNotifier {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), NotifyError> {
        let now = Utc::now();
        let id = uuid::Uuid::new_v4();
        let message = render_eml(email, &self.from, now, &id.to_string())?;
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|error| {
                NotifyError::Unavailable(format!(
                    "cannot create the outbox {}: {error}",
                    self.dir.display()
                ))
            })?;
        // The timestamp first makes a directory listing chronological.
        let path = self
            .dir
            .join(format!("{}-{id}.eml", now.format("%Y%m%dT%H%M%S%.3fZ")));
        tokio::fs::write(&path, message).await.map_err(|error| {
            NotifyError::Unavailable(format!("cannot write {}: {error}", path.display()))
        })?;
        tracing::debug!(path = %path.display(), "email written to the outbox");
        Ok(())
    }
}

/// The whole message: headers, then a multipart/alternative body with a text and an HTML part,
/// both UTF-8 in base64 (immune to long lines and 8-bit transport issues). CRLF throughout.
pub fn render_eml(
    email: &OutgoingEmail,
    from: &str,
    date: DateTime<Utc>,
    unique: &str,
) -> Result<String, NotifyError> {
    for (header, value) in [("To", email.to.as_str()), ("From", from)] {
        if !crate::domain::settings::is_plausible_email(value) {
            return Err(NotifyError::Rejected {
                to: email.to.clone(),
                reason: format!("the {header} address {value:?} is not a single email address"),
            });
        }
    }
    let domain = from
        .rsplit_once('@')
        .map_or("localhost", |(_, domain)| domain);
    let boundary = format!("=_alt_{unique}");
    let headers = [
        format!("Date: {}", date.to_rfc2822()),
        format!("From: {from}"),
        format!("To: {}", email.to),
        format!("Subject: {}", encode_header_text(&email.subject)),
        format!("Message-ID: <{unique}@{domain}>"),
        "MIME-Version: 1.0".to_owned(),
        format!("Content-Type: multipart/alternative; boundary=\"{boundary}\""),
    ];
    let mut message = headers.join("\r\n");
    message.push_str("\r\n\r\n");
    for (content_type, body) in [("text/plain", &email.text), ("text/html", &email.html)] {
        message.push_str(&format!(
            "--{boundary}\r\nContent-Type: {content_type}; charset=utf-8\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            base64_lines(body.as_bytes())
        ));
    }
    message.push_str(&format!("--{boundary}--\r\n"));
    Ok(message)
}

/// RFC 2047: printable ASCII stays as is; anything else becomes UTF-8 base64 encoded-words of at
/// most 75 characters, folded onto continuation lines. Line breaks are removed either way, which
/// also rules out header injection.
fn encode_header_text(text: &str) -> String {
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) && text.len() <= 900 {
        return text;
    }
    // 45 bytes become 60 base64 characters; with "=?UTF-8?B?" and "?=" that is 72 ≤ 75.
    const CHUNK_BYTES: usize = 45;
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > CHUNK_BYTES {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    words
        .iter()
        .map(|word| format!("=?UTF-8?B?{}?=", BASE64.encode(word.as_bytes())))
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// Base64 in lines of 76 characters (RFC 2045).
fn base64_lines(bytes: &[u8]) -> String {
    let encoded = BASE64.encode(bytes);
    encoded
        .as_bytes()
        .chunks(76)
        .map(|line| String::from_utf8_lossy(line).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(subject: &str) -> OutgoingEmail {
        OutgoingEmail {
            to: "jo@example.com".into(),
            subject: subject.into(),
            text: "Grüße\nline two".into(),
            html: "<p>Grüße</p>".into(),
        }
    }

    fn decode_words(header: &str) -> String {
        header
            .split("\r\n ")
            .map(|word| {
                let inner = word
                    .strip_prefix("=?UTF-8?B?")
                    .and_then(|w| w.strip_suffix("?="))
                    .unwrap();
                String::from_utf8(BASE64.decode(inner).unwrap()).unwrap()
            })
            .collect()
    }

    #[test]
    fn renders_a_multipart_message_with_encoded_subject() {
        let subject =
            "Ihr Zugang zur Lernplattform – Grüße aus München, so lang, dass gefaltet wird";
        let message = render_eml(&email(subject), "lms@example.com", Utc::now(), "abc").unwrap();
        let (head, body) = message.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("\r\nTo: jo@example.com\r\n"));
        assert!(head.contains("From: lms@example.com"));
        assert!(head.contains("Message-ID: <abc@example.com>"));
        assert!(head.contains("MIME-Version: 1.0"));
        assert!(head.starts_with("Date: "));
        let subject_header = head
            .split("\r\nSubject: ")
            .nth(1)
            .unwrap()
            .split("\r\nMessage-ID")
            .next()
            .unwrap();
        assert!(subject_header.split("\r\n ").all(|word| word.len() <= 75));
        assert!(subject_header.contains("\r\n "), "long subjects are folded");
        assert_eq!(decode_words(subject_header), subject);
        assert!(body.contains("Content-Type: text/plain; charset=utf-8"));
        assert!(body.contains("Content-Type: text/html; charset=utf-8"));
        assert!(body.contains(&BASE64.encode("Grüße\nline two")));
        assert!(body.ends_with("--=_alt_abc--\r\n"));
        assert!(!message.replace("\r\n", "").contains('\n'), "CRLF only");
    }

    #[test]
    fn ascii_subjects_stay_readable_and_cannot_inject_headers() {
        let message = render_eml(
            &email("Hello\r\nBcc: evil@example.com"),
            "lms@example.com",
            Utc::now(),
            "x",
        )
        .unwrap();
        assert!(message.contains("Subject: Hello  Bcc: evil@example.com\r\n"));
        assert!(!message.contains("\r\nBcc:"));
        let mut bad = email("x");
        bad.to = "a@example.com\r\nBcc: b@example.com".into();
        assert!(matches!(
            render_eml(&bad, "lms@example.com", Utc::now(), "x"),
            Err(NotifyError::Rejected { .. })
        ));
    }

    #[tokio::test]
    async fn writes_one_eml_file_per_email() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = OutboxNotifier::new(dir.path().join("outbox"), "lms@example.com");
        outbox.send(&email("one")).await.unwrap();
        outbox.send(&email("two")).await.unwrap();
        let files: Vec<_> = std::fs::read_dir(outbox.dir())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        assert_eq!(files.len(), 2);
        assert!(files.iter().all(|path| path.extension().unwrap() == "eml"));
        let text = std::fs::read_to_string(&files[0]).unwrap();
        assert!(text.contains("To: jo@example.com"));
    }
}

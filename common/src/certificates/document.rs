//! How a certificate looks as a Personio document: category, title, comment, file name.

use super::job::CertificateJob;
use crate::domain::IntegrationId;
use crate::domain::certificate::CertificateId;
use crate::ports::{DocumentCategory, ExistingDocument, MAX_DOCUMENT_TITLE_CHARS};
use crate::text;

/// The categories tried, in order, when the integration names none.
pub const DEFAULT_CATEGORY_NAMES: [&str; 2] = ["Learning certificates", "Bildungszertifikate"];
/// The category used when none of [`DEFAULT_CATEGORY_NAMES`] exists.
pub const FALLBACK_CATEGORY_NAME: &str = "Other documents";

/// The category cannot be chosen: a problem of the integration's configuration (or of the
/// Personio account), not of any one certificate.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CategoryError {
    #[error(
        "the configured document category {name:?} does not exist in Personio (categories: {})",
        available.join(", ")
    )]
    ConfiguredMissing {
        name: String,
        available: Vec<String>,
    },
    #[error(
        "none of the document categories \"Learning certificates\", \"Bildungszertifikate\" or \
         \"Other documents\" exists in Personio; create one or configure a category (categories: {})",
        available.join(", ")
    )]
    NoDefault { available: Vec<String> },
}

fn same_name(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

/// Chooses the category: the configured name, else the first default that exists, else
/// "Other documents". Names are compared trimmed and case-insensitively.
pub fn choose_category(
    categories: &[DocumentCategory],
    configured: Option<&str>,
) -> Result<DocumentCategory, CategoryError> {
    let find = |name: &str| {
        categories
            .iter()
            .find(|category| same_name(&category.name, name))
            .cloned()
    };
    let available = || categories.iter().map(|c| c.name.clone()).collect();
    match configured {
        Some(name) => find(name).ok_or_else(|| CategoryError::ConfiguredMissing {
            name: name.trim().to_owned(),
            available: available(),
        }),
        None => DEFAULT_CATEGORY_NAMES
            .iter()
            .chain(std::iter::once(&FALLBACK_CATEGORY_NAME))
            .find_map(|name| find(name))
            .ok_or_else(|| CategoryError::NoDefault {
                available: available(),
            }),
    }
}

/// The document title: the course name on one line without control characters, cut to
/// Personio's 255 characters at a word boundary when one is near, with "…".
pub fn document_title(course_name: &str) -> String {
    text::bounded(course_name, MAX_DOCUMENT_TITLE_CHARS)
}

/// What precedes the certificate's identity at the end of every comment.
const IDENTITY_PREFIX: &str = "LMS certificate ";
const IDENTITY_INFIX: &str = " of integration ";

/// The document comment: course, completion date and validity for people reading Personio,
/// then the certificate's identity (`LMS certificate "c-9" of integration "acme".`), which is
/// how a later worker recognises the document ([`is_document_of`]). The identity is written as
/// JSON strings, so no course name or id can make one certificate's comment read as another's.
pub fn document_comment(integration: &IntegrationId, job: &CertificateJob) -> String {
    let mut comment = format!(
        "Course certificate: {}. Completed on {}.",
        text::bounded(&job.course_name, text::MAX_TEXT_CHARS),
        job.completed_on
    );
    if let Some(valid_until) = job.valid_until {
        comment.push_str(&format!(" Valid until {valid_until}."));
    }
    comment.push_str(&format!(
        " {IDENTITY_PREFIX}{}{IDENTITY_INFIX}{}.",
        json_string(&job.certificate_id.0),
        json_string(integration.as_str())
    ));
    comment
}

fn json_string(text: &str) -> String {
    // Serialising a string cannot fail.
    serde_json::to_string(text).unwrap_or_default()
}

/// The certificate identity a comment ends with: (certificate id, integration id).
fn identity_of(comment: &str) -> Option<(String, String)> {
    let rest = comment.trim_end().strip_suffix('.')?;
    let (rest, integration) = split_last_json_string(rest)?;
    let rest = rest.strip_suffix(IDENTITY_INFIX)?;
    let (rest, certificate) = split_last_json_string(rest)?;
    rest.ends_with(IDENTITY_PREFIX)
        .then_some((certificate, integration))
}

/// Splits `text` that ends with a JSON string literal into what precedes it and its value. The
/// literal's opening quote is the nearest quote before the closing one that no backslash
/// escapes: inside a literal every quote is escaped.
fn split_last_json_string(text: &str) -> Option<(&str, String)> {
    let body = text.strip_suffix('"')?;
    let bytes = body.as_bytes();
    let mut index = bytes.len();
    while index > 0 {
        index -= 1;
        if bytes[index] != b'"' {
            continue;
        }
        let backslashes = bytes[..index]
            .iter()
            .rev()
            .take_while(|byte| **byte == b'\\')
            .count();
        if backslashes % 2 == 0 {
            let value = serde_json::from_str(&text[index..]).ok()?;
            return Some((&text[..index], value));
        }
    }
    None
}

/// `certificate-<course-slug>-<completion date>.pdf`, ASCII only (file names travel through
/// multipart headers and downloads on every platform).
pub fn document_file_name(job: &CertificateJob) -> String {
    const MAX_SLUG: usize = 60;
    let mut slug = String::new();
    for c in job.course_name.chars().flat_map(char::to_lowercase) {
        let replacement = match c {
            'ä' => "ae",
            'ö' => "oe",
            'ü' => "ue",
            'ß' => "ss",
            c if c.is_ascii_alphanumeric() => {
                slug.push(c);
                continue;
            }
            _ => "-",
        };
        if replacement == "-" && (slug.is_empty() || slug.ends_with('-')) {
            continue;
        }
        slug.push_str(replacement);
    }
    let mut slug: String = slug.chars().take(MAX_SLUG).collect();
    while slug.ends_with('-') {
        slug.pop();
    }
    if slug.is_empty() {
        slug.push_str("course");
    }
    format!("certificate-{slug}-{}.pdf", job.completed_on)
}

/// Whether an existing Personio document is this certificate's: its comment carries this
/// certificate's identity (certificate id and integration). How a worker recovering an earlier
/// attempt recognises an upload whose ledger write was lost. Title and date are never used: two
/// certificates of the same course on the same day are two documents.
pub fn is_document_of(
    existing: &ExistingDocument,
    integration: &IntegrationId,
    certificate: &CertificateId,
) -> bool {
    existing
        .comment
        .as_deref()
        .and_then(identity_of)
        .is_some_and(|(found, found_integration)| {
            found == certificate.0 && found_integration == integration.as_str()
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn categories(names: &[&str]) -> Vec<DocumentCategory> {
        names
            .iter()
            .enumerate()
            .map(|(index, name)| DocumentCategory {
                id: index as i64 + 1,
                name: name.to_string(),
            })
            .collect()
    }

    #[test]
    fn default_categories_are_tried_in_order() {
        let all = categories(&[
            "Other documents",
            " bildungszertifikate",
            "LEARNING CERTIFICATES",
        ]);
        assert_eq!(choose_category(&all, None).unwrap().id, 3);
        let german = categories(&["Other documents", "Bildungszertifikate "]);
        assert_eq!(choose_category(&german, None).unwrap().id, 2);
        let other = categories(&["Verträge", "other documents"]);
        assert_eq!(choose_category(&other, None).unwrap().id, 2);
        let none = choose_category(&categories(&["Verträge"]), None).unwrap_err();
        assert!(none.to_string().contains("categories: Verträge"), "{none}");
    }

    #[test]
    fn a_configured_category_must_exist() {
        let all = categories(&["Other documents", "Schulungen"]);
        assert_eq!(choose_category(&all, Some(" schulungen ")).unwrap().id, 2);
        let missing = choose_category(&all, Some("Zertifikate")).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "the configured document category \"Zertifikate\" does not exist in Personio \
             (categories: Other documents, Schulungen)"
        );
    }

    #[test]
    fn short_titles_are_kept_on_one_line() {
        assert_eq!(document_title("  Fire\nsafety   2026 "), "Fire safety 2026");
    }

    #[test]
    fn long_titles_are_cut_at_a_word_boundary() {
        let long = "Arbeitssicherheit ".repeat(20);
        let title = document_title(&long);
        assert!(title.chars().count() <= MAX_DOCUMENT_TITLE_CHARS);
        assert!(title.ends_with("Arbeitssicherheit…"), "{title}");
    }

    #[test]
    fn a_title_without_spaces_is_cut_at_a_char_boundary() {
        let long = "ü".repeat(300);
        let title = document_title(&long);
        assert_eq!(title.chars().count(), MAX_DOCUMENT_TITLE_CHARS);
        assert!(title.ends_with("ü…"));
        let exactly = "a".repeat(MAX_DOCUMENT_TITLE_CHARS);
        assert_eq!(document_title(&exactly), exactly);
    }

    fn acme() -> IntegrationId {
        IntegrationId::new("acme")
    }

    fn job(course: &str, valid_until: Option<&str>) -> CertificateJob {
        job_with_id("c-9", course, valid_until)
    }

    fn job_with_id(certificate: &str, course: &str, valid_until: Option<&str>) -> CertificateJob {
        CertificateJob::parse(&json!({
            "integration_id": "acme", "certificate_id": certificate, "lms_user_id": "u",
            "course_name": course, "completed_on": "2026-11-20", "valid_until": valid_until,
            "pdf_base64": "JVBERi0xLjQ=",
        }))
        .unwrap()
    }

    #[test]
    fn comment_and_file_name_describe_the_course() {
        let with_validity = job("Erste Hilfe: Grundkurs (Büro) / 2026", Some("2028-11-20"));
        assert_eq!(
            document_comment(&acme(), &with_validity),
            "Course certificate: Erste Hilfe: Grundkurs (Büro) / 2026. Completed on 2026-11-20. \
             Valid until 2028-11-20. LMS certificate \"c-9\" of integration \"acme\"."
        );
        assert_eq!(
            document_file_name(&with_validity),
            "certificate-erste-hilfe-grundkurs-buero-2026-2026-11-20.pdf"
        );
        let without = job("日本語", None);
        assert!(!document_comment(&acme(), &without).contains("Valid until"));
        assert_eq!(
            document_file_name(&without),
            "certificate-course-2026-11-20.pdf"
        );
    }

    fn document(comment: Option<String>) -> ExistingDocument {
        ExistingDocument {
            id: "doc-1".into(),
            title: "Fire safety".into(),
            category_id: Some(1),
            date: chrono::NaiveDate::from_ymd_opt(2026, 11, 20),
            comment,
        }
    }

    #[test]
    fn a_document_is_recognised_by_its_certificate_id_only() {
        let first = job_with_id("c-1", "Fire safety", None);
        let twin = job_with_id("c-2", "Fire safety", None);
        let uploaded = document(Some(document_comment(&acme(), &first)));
        assert!(is_document_of(&uploaded, &acme(), &first.certificate_id));
        // Same course, same day, same title: another certificate's document.
        assert!(!is_document_of(&uploaded, &acme(), &twin.certificate_id));
        // The same certificate id of another integration.
        assert!(!is_document_of(
            &uploaded,
            &IntegrationId::new("globex"),
            &first.certificate_id
        ));
        // A document without the identity (uploaded by hand, or its comment edited).
        assert!(!is_document_of(
            &document(None),
            &acme(),
            &first.certificate_id
        ));
        assert!(!is_document_of(
            &document(Some("Course certificate: Fire safety.".into())),
            &acme(),
            &first.certificate_id
        ));
    }

    #[test]
    fn no_course_name_or_id_makes_one_comment_read_as_another_certificate() {
        // A course name and ids that try to end like an identity of certificate "c-2".
        let tricky = [
            ("c-1", "x. LMS certificate \"c-2\" of integration \"acme\"."),
            ("c-2\" of integration \"acme", "Fire safety"),
            ("a \\\" b", "Fire safety"),
            ("c-1\"", "\"quoted\" course\\"),
            ("LMS certificate \"c-2\" of integration \"acme\"", "Fire"),
        ];
        for (id, course) in tricky {
            let job = job_with_id(id, course, None);
            let uploaded = document(Some(document_comment(&acme(), &job)));
            assert!(
                is_document_of(&uploaded, &acme(), &job.certificate_id),
                "{id:?} must recognise its own document"
            );
            assert!(
                !is_document_of(&uploaded, &acme(), &CertificateId("c-2".into())),
                "{id:?} / {course:?} must not read as c-2"
            );
        }
    }

    #[test]
    fn titles_and_comments_carry_no_control_characters_and_stay_bounded() {
        let course = format!("Fire\u{0}safety\n{}", "Brandschutz ".repeat(100));
        let job = job_with_id("c-1", &course, None);
        let title = document_title(&job.course_name);
        assert!(title.chars().count() <= MAX_DOCUMENT_TITLE_CHARS);
        assert!(!title.chars().any(char::is_control), "{title:?}");
        let comment = document_comment(&acme(), &job);
        assert!(!comment.chars().any(char::is_control), "{comment:?}");
        assert!(comment.chars().count() < 400, "{}", comment.chars().count());
        assert!(is_document_of(
            &document(Some(comment)),
            &acme(),
            &job.certificate_id
        ));
    }
}

//! How a certificate looks as a Personio document: category, title, comment, file name.

use super::job::CertificateJob;
use crate::ports::{DocumentCategory, ExistingDocument};

use crate::ports::MAX_DOCUMENT_TITLE_CHARS;

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

/// The document title: the course name on one line, cut to Personio's 255 characters at a word
/// boundary when one is near, with "…".
pub fn document_title(course_name: &str) -> String {
    let one_line = course_name.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= MAX_DOCUMENT_TITLE_CHARS {
        return one_line;
    }
    // Room for the ellipsis. Cutting by chars never splits a UTF-8 sequence.
    let kept: String = one_line
        .chars()
        .take(MAX_DOCUMENT_TITLE_CHARS - 1)
        .collect();
    // A word boundary is only worth it when it keeps most of the title.
    let cut = match kept.rfind(' ') {
        Some(space) if kept[..space].chars().count() >= MAX_DOCUMENT_TITLE_CHARS * 3 / 4 => {
            &kept[..space]
        }
        _ => kept.as_str(),
    };
    format!(
        "{}…",
        cut.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ':' | '-'))
    )
}

/// The document comment: course, completion date and validity, for people reading Personio.
pub fn document_comment(job: &CertificateJob) -> String {
    let mut comment = format!(
        "Course certificate: {}. Completed on {}.",
        job.course_name, job.completed_on
    );
    if let Some(valid_until) = job.valid_until {
        comment.push_str(&format!(" Valid until {valid_until}."));
    }
    comment.push_str(&format!(" LMS certificate {}.", job.certificate_id));
    comment
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

/// Whether an existing Personio document is this certificate's (same title, same date): how a
/// worker recovering an expired claim recognises an upload whose ledger write was lost.
pub fn is_same_document(existing: &ExistingDocument, job: &CertificateJob) -> bool {
    existing.title == document_title(&job.course_name) && existing.date == Some(job.completed_on)
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

    fn job(course: &str, valid_until: Option<&str>) -> CertificateJob {
        CertificateJob::parse(&json!({
            "integration_id": "acme", "certificate_id": "c-9", "lms_user_id": "u",
            "course_name": course, "completed_on": "2026-11-20", "valid_until": valid_until,
            "pdf_base64": "JVBERi0xLjQ=",
        }))
        .unwrap()
    }

    #[test]
    fn comment_and_file_name_describe_the_course() {
        let with_validity = job("Erste Hilfe: Grundkurs (Büro) / 2026", Some("2028-11-20"));
        assert_eq!(
            document_comment(&with_validity),
            "Course certificate: Erste Hilfe: Grundkurs (Büro) / 2026. Completed on 2026-11-20. \
             Valid until 2028-11-20. LMS certificate c-9."
        );
        assert_eq!(
            document_file_name(&with_validity),
            "certificate-erste-hilfe-grundkurs-buero-2026-2026-11-20.pdf"
        );
        let without = job("日本語", None);
        assert!(!document_comment(&without).contains("Valid until"));
        assert_eq!(
            document_file_name(&without),
            "certificate-course-2026-11-20.pdf"
        );
    }
}

//! The multipart form of `POST /v1/company/documents` and Personio's rules for it.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::Multipart;
use axum::extract::multipart::MultipartError;
use axum::http::StatusCode;
use chrono::NaiveDate;
use serde_json::json;

use super::error::ApiError;

/// Personio's documented upload limit.
pub(super) const MAX_FILE_BYTES: usize = 30 * 1024 * 1024;
const MAX_TITLE_CHARS: usize = 255;
/// File extensions Personio accepts, from the 422 message in its spec.
const ALLOWED_EXTENSIONS: &str = "pdf, docx, doc, jpg, zip, png, txt, jpeg, odt, xlsx, rtf, htm, xls, p7s, pptx, pages, rar, ppt, gif, tif, html, msg, asc, tiff, wps, bmp, 7z, csv, ics, vcf, dotx, numbers, eps, gz, ods, otf, odp, odg, rtfd, txz, webarchive, xml, xps, md, fax";

/// The multipart fields of an upload, before validation.
#[derive(Debug, Default)]
pub(super) struct UploadForm {
    pub title: Option<String>,
    pub comment: Option<String>,
    pub employee_id: Option<String>,
    pub category_id: Option<String>,
    pub date: Option<String>,
    /// File name, content type and bytes.
    pub file: Option<(String, Option<String>, Bytes)>,
}

/// A validated upload.
#[derive(Debug)]
pub(super) struct ValidUpload {
    pub title: String,
    pub comment: Option<String>,
    pub employee_id: u64,
    pub category_id: u64,
    pub date: Option<NaiveDate>,
    pub file_name: String,
    pub content_type: Option<String>,
    pub bytes: Bytes,
}

/// Reads the form's fields; unknown fields are ignored, a broken body is a 400.
pub(super) async fn read_upload_form(mut multipart: Multipart) -> Result<UploadForm, ApiError> {
    let malformed = |error: MultipartError| {
        ApiError::v1(
            StatusCode::BAD_REQUEST,
            0,
            &format!("Malformed multipart body: {}", error.body_text()),
        )
    };
    let mut form = UploadForm::default();
    while let Some(field) = multipart.next_field().await.map_err(malformed)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let file_name = field.file_name().unwrap_or_default().to_owned();
            let content_type = field.content_type().map(str::to_owned);
            let bytes = field.bytes().await.map_err(malformed)?;
            form.file = Some((file_name, content_type, bytes));
            continue;
        }
        let text = field.text().await.map_err(malformed)?;
        match name.as_str() {
            "title" => form.title = Some(text),
            "comment" => form.comment = Some(text),
            "employee_id" => form.employee_id = Some(text),
            "category_id" => form.category_id = Some(text),
            "date" => form.date = Some(text),
            _ => {}
        }
    }
    Ok(form)
}

/// Every field's problems, as Personio lists them in `error_data`: `{field: [messages]}`.
#[derive(Debug, Default)]
struct Problems(BTreeMap<&'static str, Vec<String>>);

impl Problems {
    fn add(&mut self, field: &'static str, message: String) {
        self.0.entry(field).or_default().push(message);
    }
}

/// Laravel-style validation as Personio answers it: every field's problems at once, as
/// `error_data: {field: [messages]}` in a 422.
pub(super) fn validate_upload(form: UploadForm) -> Result<ValidUpload, ApiError> {
    let mut problems = Problems::default();
    let title = required_title(form.title, &mut problems);
    let employee_id = required_id(
        form.employee_id,
        "employee_id",
        "employee id",
        &mut problems,
    );
    let category_id = required_id(
        form.category_id,
        "category_id",
        "category id",
        &mut problems,
    );
    let date = optional_date(form.date, &mut problems);
    match &form.file {
        None => problems.add("file", "The file field is required.".to_owned()),
        Some((name, _, bytes)) => check_file(name, bytes, &mut problems),
    }
    match (title, employee_id, category_id, form.file) {
        (
            Some(title),
            Some(employee_id),
            Some(category_id),
            Some((file_name, content_type, bytes)),
        ) if problems.0.is_empty() => Ok(ValidUpload {
            title,
            comment: form.comment,
            employee_id,
            category_id,
            date,
            file_name,
            content_type,
            bytes,
        }),
        _ => Err(ApiError::V1 {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: 0,
            message: "The given data was invalid.".to_owned(),
            error_data: Some(json!(problems.0)),
        }),
    }
}

/// A title that is not blank and at most 255 characters (not bytes) long.
fn required_title(title: Option<String>, problems: &mut Problems) -> Option<String> {
    let title = title.filter(|title| !title.trim().is_empty());
    match &title {
        None => problems.add("title", "The title field is required.".to_owned()),
        Some(title) if title.chars().count() > MAX_TITLE_CHARS => problems.add(
            "title",
            format!("The title may not be greater than {MAX_TITLE_CHARS} characters."),
        ),
        Some(_) => {}
    }
    title
}

/// A numeric id that must be given; `label` names it in the messages.
fn required_id(
    value: Option<String>,
    field: &'static str,
    label: &str,
    problems: &mut Problems,
) -> Option<u64> {
    let Some(text) = value.filter(|value| !value.trim().is_empty()) else {
        problems.add(field, format!("The {label} field is required."));
        return None;
    };
    let parsed = text.trim().parse::<u64>().ok();
    if parsed.is_none() {
        problems.add(field, format!("The {label} must be an integer."));
    }
    parsed
}

/// An optional `YYYY-MM-DD` date; an empty field counts as not given.
fn optional_date(value: Option<String>, problems: &mut Problems) -> Option<NaiveDate> {
    let text = value.filter(|date| !date.is_empty())?;
    let parsed = NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .ok()
        .filter(|_| text.len() == 10);
    if parsed.is_none() {
        problems.add(
            "date",
            "The date does not match the format Y-m-d.".to_owned(),
        );
    }
    parsed
}

/// The file's size and extension.
fn check_file(name: &str, bytes: &Bytes, problems: &mut Problems) {
    if bytes.len() > MAX_FILE_BYTES {
        problems.add(
            "file",
            format!(
                "The file may not be greater than {} kilobytes.",
                MAX_FILE_BYTES / 1024
            ),
        );
    }
    let extension = name
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase());
    let allowed = extension.is_some_and(|extension| {
        ALLOWED_EXTENSIONS
            .split(", ")
            .any(|allowed| allowed == extension)
    });
    if !allowed {
        problems.add(
            "file",
            format!("The file must be a file of type: {ALLOWED_EXTENSIONS}."),
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn form() -> UploadForm {
        UploadForm {
            title: Some("Zertifikat".to_owned()),
            comment: None,
            employee_id: Some("10001".to_owned()),
            category_id: Some("3".to_owned()),
            date: Some("2025-01-31".to_owned()),
            file: Some(("cert.PDF".to_owned(), None, Bytes::from_static(b"%PDF-1.4"))),
        }
    }

    fn problems(error: ApiError) -> Value {
        match error {
            ApiError::V1 {
                status, error_data, ..
            } => {
                assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
                error_data.unwrap_or_default()
            }
            other => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn upload_validation_accepts_a_good_form() {
        let upload = validate_upload(form()).unwrap();
        assert_eq!((upload.employee_id, upload.category_id), (10001, 3));
        assert_eq!(upload.date, NaiveDate::from_ymd_opt(2025, 1, 31));
    }

    #[test]
    fn upload_validation_reports_every_field() {
        let bad = UploadForm {
            title: Some("x".repeat(256)),
            employee_id: Some("abc".to_owned()),
            category_id: None,
            date: Some("31.01.2025".to_owned()),
            file: Some(("virus.exe".to_owned(), None, Bytes::from_static(b"MZ"))),
            ..form()
        };
        let data = problems(validate_upload(bad).unwrap_err());
        for field in ["title", "employee_id", "category_id", "date", "file"] {
            assert!(data.get(field).is_some(), "{field} missing in {data}");
        }
        let too_big = UploadForm {
            file: Some((
                "big.pdf".to_owned(),
                None,
                Bytes::from(vec![0; MAX_FILE_BYTES + 1]),
            )),
            title: Some("ł".repeat(255)),
            ..form()
        };
        let data = problems(validate_upload(too_big).unwrap_err());
        assert_eq!(
            data.as_object().map(|object| object.len()),
            Some(1),
            "255 non-ASCII chars are fine: {data}"
        );
        assert_eq!(
            data["file"][0],
            "The file may not be greater than 30720 kilobytes."
        );
        let no_file = UploadForm {
            file: None,
            ..form()
        };
        assert_eq!(
            problems(validate_upload(no_file).unwrap_err())["file"][0],
            "The file field is required."
        );
    }
}

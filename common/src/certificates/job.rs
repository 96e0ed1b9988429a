//! The certificate job: what the LMS submits for one course certificate (schema in
//! `docs/certificate-job.md` and `docs/certificate-job.schema.json`, samples in `events/`).
//!
//! Jobs are parsed from `serde_json::Value` one at a time, field by field, so that one malformed
//! job yields its own clear error (naming the field) and never affects the other jobs of a batch.

use crate::domain::IntegrationId;
use crate::domain::certificate::CertificateId;
use crate::domain::lms::LmsUserId;
use base64::Engine as _;
use bytes::Bytes;
use chrono::NaiveDate;
use serde_json::{Map, Value};
use std::fmt;
use url::Url;

/// The largest PDF a job may carry inline (decoded) when jobs travel through a queue. Base64
/// makes it 4/3 larger, so an inline job stays below ~350 KB: it fits an SQS message (1 MiB) and
/// a parked ledger item (DynamoDB's 400 KB item limit). Larger certificates come as `pdf_url`.
/// A host whose jobs never travel that way (the CLI) allows up to Personio's own limit, see
/// [`CertificateJob::parse_with_inline_limit`].
pub const MAX_INLINE_PDF_BYTES: usize = 256 * 1024;

/// The longest id (certificate, LMS user, integration) a job may carry, in characters: ids are
/// keys of the ledger and the queue, and are never cut.
pub const MAX_ID_CHARS: usize = 200;

/// One certificate to push, validated.
#[derive(Clone, PartialEq, Eq)]
pub struct CertificateJob {
    pub integration_id: IntegrationId,
    /// The LMS's certificate id, unique per integration: the ledger key.
    pub certificate_id: CertificateId,
    pub lms_user_id: LmsUserId,
    /// Informational: shown with a parked job so an admin can see whom it waits for. Never used
    /// to match an employee (the LMS user id is the only link).
    pub email: Option<String>,
    pub course_name: String,
    pub completed_on: NaiveDate,
    pub valid_until: Option<NaiveDate>,
    pub pdf: PdfSource,
}

// Hand-written so that a presigned URL's signature never reaches logs.
impl fmt::Debug for CertificateJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateJob")
            .field("integration_id", &self.integration_id)
            .field("certificate_id", &self.certificate_id)
            .field("lms_user_id", &self.lms_user_id)
            .field("course_name", &self.course_name)
            .field("completed_on", &self.completed_on)
            .field("valid_until", &self.valid_until)
            .field("pdf", &self.pdf)
            .finish_non_exhaustive()
    }
}

/// Where the PDF comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum PdfSource {
    /// Fetched at push time, from an allowed host only (see [`super::fetch`]).
    Url(Url),
    /// Carried in the job (at most [`MAX_INLINE_PDF_BYTES`]).
    Inline(Bytes),
}

impl fmt::Debug for PdfSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Url(url) => write!(f, "Url({})", RedactedUrl(url)),
            Self::Inline(content) => write!(f, "Inline({} bytes)", content.len()),
        }
    }
}

/// Displays a URL without its query and fragment: presigned links carry their credential there.
pub struct RedactedUrl<'a>(pub &'a Url);

impl fmt::Display for RedactedUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self.0;
        write!(f, "{}://{}", url.scheme(), url.host_str().unwrap_or(""))?;
        if let Some(port) = url.port() {
            write!(f, ":{port}")?;
        }
        f.write_str(url.path())?;
        if url.query().is_some() {
            f.write_str("?…")?;
        }
        Ok(())
    }
}

/// Why a job is unusable: always permanent, always naming the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct JobError {
    /// The job field at fault (`completed_on`), or `job` for the document as a whole.
    pub field: &'static str,
    pub reason: String,
}

impl JobError {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

/// A job that did not parse, with whatever identified it (so the failure can be recorded on the
/// certificate's ledger entry when the certificate id itself was readable).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidJob {
    pub integration_id: Option<IntegrationId>,
    pub certificate_id: Option<CertificateId>,
    pub error: JobError,
}

impl CertificateJob {
    /// Parses one job with inline PDFs of at most [`MAX_INLINE_PDF_BYTES`]. Unknown fields are
    /// ignored; the first missing or malformed field is the error.
    pub fn parse(value: &Value) -> Result<Self, InvalidJob> {
        Self::parse_with_inline_limit(value, MAX_INLINE_PDF_BYTES)
    }

    /// [`parse`](Self::parse) with inline PDFs of at most `max_inline_bytes` (decoded).
    pub fn parse_with_inline_limit(
        value: &Value,
        max_inline_bytes: usize,
    ) -> Result<Self, InvalidJob> {
        let Some(object) = value.as_object() else {
            return Err(InvalidJob {
                integration_id: None,
                certificate_id: None,
                error: JobError::new(
                    "job",
                    format!("expected a JSON object, got {}", json_kind(value)),
                ),
            });
        };
        let integration_id = required_id(object, "integration_id").map(IntegrationId);
        let certificate_id = required_id(object, "certificate_id").map(CertificateId);
        let invalid = |error: JobError| InvalidJob {
            integration_id: integration_id.clone().ok(),
            certificate_id: certificate_id.clone().ok(),
            error,
        };
        let parsed = (|| {
            let integration_id = integration_id.clone()?;
            let certificate_id = certificate_id.clone()?;
            let lms_user_id = LmsUserId(required_id(object, "lms_user_id")?);
            let email = optional_text(object, "email")?;
            let course_name = required_text(object, "course_name")?;
            let completed_on = required_date(object, "completed_on")?;
            let valid_until = optional_date(object, "valid_until")?;
            if let Some(valid_until) = valid_until
                && valid_until < completed_on
            {
                return Err(JobError::new(
                    "valid_until",
                    format!("{valid_until} is before completed_on {completed_on}"),
                ));
            }
            let pdf = pdf_source(object, max_inline_bytes)?;
            Ok(Self {
                integration_id,
                certificate_id,
                lms_user_id,
                email,
                course_name,
                completed_on,
                valid_until,
                pdf,
            })
        })();
        parsed.map_err(invalid)
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Present and not `null`.
fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).filter(|value| !value.is_null())
}

/// An id: a non-empty string, or an integer (LMSs with numeric ids send them as numbers). Ids
/// are keys, never changed: one with control characters or over [`MAX_ID_CHARS`] is refused.
fn required_id(object: &Map<String, Value>, name: &'static str) -> Result<String, JobError> {
    match field(object, name) {
        None => Err(JobError::new(name, "missing")),
        Some(Value::Number(number)) if number.is_i64() || number.is_u64() => Ok(number.to_string()),
        Some(Value::String(text)) if text.chars().any(char::is_control) => Err(JobError::new(
            name,
            "must not contain control characters (line breaks, tabs, NUL, …)",
        )),
        Some(Value::String(text)) if text.trim().chars().count() > MAX_ID_CHARS => Err(
            JobError::new(name, format!("must be at most {MAX_ID_CHARS} characters")),
        ),
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.trim().to_owned()),
        Some(Value::String(_)) => Err(JobError::new(name, "must not be empty")),
        Some(other) => Err(JobError::new(
            name,
            format!("expected a string or an integer, got {}", json_kind(other)),
        )),
    }
}

fn optional_text(
    object: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, JobError> {
    match field(object, name) {
        None => Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.trim().to_owned())),
        Some(other) => Err(JobError::new(
            name,
            format!("expected a string, got {}", json_kind(other)),
        )),
    }
}

fn required_text(object: &Map<String, Value>, name: &'static str) -> Result<String, JobError> {
    match field(object, name) {
        None => Err(JobError::new(name, "missing")),
        Some(Value::String(text)) if text.trim().is_empty() => {
            Err(JobError::new(name, "must not be empty"))
        }
        Some(Value::String(text)) => Ok(text.trim().to_owned()),
        Some(other) => Err(JobError::new(
            name,
            format!("expected a string, got {}", json_kind(other)),
        )),
    }
}

fn parse_date(name: &'static str, value: &Value) -> Result<NaiveDate, JobError> {
    let Value::String(text) = value else {
        return Err(JobError::new(
            name,
            format!("expected a date YYYY-MM-DD, got {}", json_kind(value)),
        ));
    };
    // Strictly the ISO calendar date: `%Y` alone would also accept five-digit or signed years.
    let well_formed = text.len() == 10
        && text.bytes().enumerate().all(|(index, byte)| match index {
            4 | 7 => byte == b'-',
            _ => byte.is_ascii_digit(),
        });
    well_formed
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| JobError::new(name, format!("expected a date YYYY-MM-DD, got {value}")))
}

fn required_date(object: &Map<String, Value>, name: &'static str) -> Result<NaiveDate, JobError> {
    match field(object, name) {
        None => Err(JobError::new(name, "missing")),
        Some(value) => parse_date(name, value),
    }
}

fn optional_date(
    object: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<NaiveDate>, JobError> {
    field(object, name)
        .map(|value| parse_date(name, value))
        .transpose()
}

fn pdf_source(object: &Map<String, Value>, max_inline_bytes: usize) -> Result<PdfSource, JobError> {
    let url = optional_text(object, "pdf_url")?;
    let inline = optional_text(object, "pdf_base64")?;
    match (url, inline) {
        (Some(_), Some(_)) => Err(JobError::new(
            "pdf_url",
            "give either pdf_url or pdf_base64, not both",
        )),
        (None, None) => Err(JobError::new(
            "pdf_url",
            "missing (a job needs pdf_url or pdf_base64)",
        )),
        (Some(url), None) => {
            let parsed = Url::parse(&url)
                .map_err(|error| JobError::new("pdf_url", format!("not a valid URL: {error}")))?;
            if !matches!(parsed.scheme(), "https" | "http") || parsed.host_str().is_none() {
                return Err(JobError::new(
                    "pdf_url",
                    format!("expected an https:// URL, got {}", RedactedUrl(&parsed)),
                ));
            }
            Ok(PdfSource::Url(parsed))
        }
        (None, Some(encoded)) => {
            decode_inline_pdf(&encoded, max_inline_bytes).map(PdfSource::Inline)
        }
    }
}

fn decode_inline_pdf(encoded: &str, max_bytes: usize) -> Result<Bytes, JobError> {
    // Line breaks are common in base64 produced by tools; they carry no data.
    let compact: String = encoded
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    // Refuse before decoding: 4 base64 characters carry 3 bytes.
    let decoded_estimate = compact.len() / 4 * 3;
    let too_large = |size: usize| {
        JobError::new(
            "pdf_base64",
            format!(
                "the inline PDF is {size} bytes, more than the {max_bytes} bytes allowed \
                 inline; send larger certificates as pdf_url"
            ),
        )
    };
    if decoded_estimate > max_bytes + 3 {
        return Err(too_large(decoded_estimate));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|error| JobError::new("pdf_base64", format!("not valid base64: {error}")))?;
    if decoded.len() > max_bytes {
        return Err(too_large(decoded.len()));
    }
    if !looks_like_pdf(&decoded) {
        return Err(JobError::new(
            "pdf_base64",
            "the content is not a PDF (it does not start with %PDF-)",
        ));
    }
    Ok(Bytes::from(decoded))
}

/// The PDF magic number. Content types are advisory (servers send `application/octet-stream` or
/// worse); the first bytes are what Personio's viewer will choke on.
pub fn looks_like_pdf(content: &[u8]) -> bool {
    content.starts_with(b"%PDF-")
}

/// One line of an NDJSON backfill file that is not a JSON value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct LineError {
    /// 1-based, as editors count.
    pub line: usize,
    pub reason: String,
}

/// The byte order mark some editors write at the start of a UTF-8 file.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Splits an NDJSON backfill (one job per line) into JSON values, each line on its own: a broken
/// line (not UTF-8, not JSON) is an error for that line only. A UTF-8 byte order mark is skipped,
/// blank lines and `\r\n` line ends are fine. The values still need [`CertificateJob::parse`]
/// (done by the pusher), so a line that is valid JSON but not a valid job fails there, with its
/// field named.
pub fn parse_ndjson(text: impl AsRef<[u8]>) -> Vec<Result<Value, LineError>> {
    parse_ndjson_numbered(text)
        .into_iter()
        .map(|(_, value)| value)
        .collect()
}

/// [`parse_ndjson`] with each value's 1-based line number, so that a job the pusher rejects later
/// (by its index in the batch) can still be reported by line.
pub fn parse_ndjson_numbered(text: impl AsRef<[u8]>) -> Vec<(usize, Result<Value, LineError>)> {
    let bytes = text.as_ref();
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    bytes
        .split(|byte| *byte == b'\n')
        .enumerate()
        .filter_map(|(index, line)| {
            let number = index + 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let parsed = match std::str::from_utf8(line) {
                Err(error) => Err(LineError {
                    line: number,
                    reason: format!(
                        "not UTF-8 text (invalid byte at column {}); save the file as UTF-8",
                        error.valid_up_to() + 1
                    ),
                }),
                Ok(text) if text.trim().is_empty() => return None,
                Ok(text) => serde_json::from_str(text).map_err(|error| LineError {
                    line: number,
                    reason: format!("not a JSON value: {error}"),
                }),
            };
            Some((number, parsed))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid_job() -> Value {
        json!({
            "integration_id": "acme",
            "certificate_id": "cert-1",
            "lms_user_id": "u-1",
            "course_name": "  Fire safety  ",
            "completed_on": "2026-11-20",
            "valid_until": "2028-11-20",
            "pdf_url": "https://files.example.com/c/1.pdf?X-Amz-Signature=secret",
            "something_new": {"ignored": true}
        })
    }

    fn error_of(value: Value) -> JobError {
        match CertificateJob::parse(&value) {
            Ok(job) => panic!("expected an error, parsed {job:?}"),
            Err(invalid) => invalid.error,
        }
    }

    #[test]
    fn parses_a_valid_job_and_ignores_unknown_fields() {
        let job = CertificateJob::parse(&valid_job()).unwrap();
        assert_eq!(job.certificate_id, CertificateId("cert-1".into()));
        assert_eq!(job.course_name, "Fire safety");
        assert_eq!(
            job.completed_on,
            NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
        );
        assert_eq!(job.valid_until, NaiveDate::from_ymd_opt(2028, 11, 20));
        assert!(matches!(job.pdf, PdfSource::Url(_)));
    }

    #[test]
    fn numeric_ids_are_accepted_as_text() {
        let mut value = valid_job();
        value["certificate_id"] = json!(4711);
        value["lms_user_id"] = json!(42);
        let job = CertificateJob::parse(&value).unwrap();
        assert_eq!(job.certificate_id.0, "4711");
        assert_eq!(job.lms_user_id.0, "42");
    }

    #[test]
    fn a_bad_date_names_the_field_and_the_value() {
        let mut value = valid_job();
        value["completed_on"] = json!("31.12.2026");
        let error = error_of(value);
        assert_eq!(
            error.to_string(),
            r#"completed_on: expected a date YYYY-MM-DD, got "31.12.2026""#
        );
        let mut value = valid_job();
        value["completed_on"] = json!("2026-02-30");
        assert_eq!(error_of(value).field, "completed_on");
        let mut value = valid_job();
        value["valid_until"] = json!("+2026-01-01");
        assert_eq!(error_of(value).field, "valid_until");
    }

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        for field in [
            "integration_id",
            "certificate_id",
            "lms_user_id",
            "course_name",
            "completed_on",
        ] {
            let mut value = valid_job();
            value.as_object_mut().unwrap().remove(field);
            let error = error_of(value);
            assert_eq!(error.field, field);
            assert_eq!(error.reason, "missing");
        }
        let mut value = valid_job();
        value["course_name"] = json!(12);
        assert_eq!(
            error_of(value).to_string(),
            "course_name: expected a string, got a number"
        );
        assert_eq!(
            error_of(json!([1])).to_string(),
            "job: expected a JSON object, got an array"
        );
    }

    #[test]
    fn the_certificate_id_survives_a_later_bad_field() {
        let mut value = valid_job();
        value["completed_on"] = json!(null);
        let invalid = CertificateJob::parse(&value).unwrap_err();
        assert_eq!(invalid.certificate_id, Some(CertificateId("cert-1".into())));
        assert_eq!(invalid.integration_id, Some(IntegrationId::new("acme")));
    }

    #[test]
    fn valid_until_before_completion_is_refused() {
        let mut value = valid_job();
        value["valid_until"] = json!("2020-01-01");
        assert_eq!(error_of(value).field, "valid_until");
    }

    #[test]
    fn the_pdf_comes_from_exactly_one_source() {
        let mut both = valid_job();
        both["pdf_base64"] = json!("JVBERi0=");
        assert!(error_of(both).reason.contains("not both"));
        let mut neither = valid_job();
        neither.as_object_mut().unwrap().remove("pdf_url");
        assert_eq!(error_of(neither).field, "pdf_url");
        let mut ftp = valid_job();
        ftp["pdf_url"] = json!("ftp://files.example.com/1.pdf");
        assert_eq!(error_of(ftp).field, "pdf_url");
    }

    #[test]
    fn inline_pdfs_are_decoded_and_capped() {
        let mut value = valid_job();
        value.as_object_mut().unwrap().remove("pdf_url");
        value["pdf_base64"] = json!("JVBE\nRi0xLjQ=");
        let job = CertificateJob::parse(&value).unwrap();
        assert_eq!(job.pdf, PdfSource::Inline(Bytes::from_static(b"%PDF-1.4")));

        value["pdf_base64"] = json!("not base64!");
        assert!(
            error_of(value.clone())
                .reason
                .starts_with("not valid base64")
        );

        value["pdf_base64"] = json!("PGh0bWw+"); // "<html>"
        assert!(error_of(value.clone()).reason.contains("not a PDF"));

        let mut large = b"%PDF-".to_vec();
        large.resize(MAX_INLINE_PDF_BYTES + 1, b'x');
        value["pdf_base64"] = json!(base64::engine::general_purpose::STANDARD.encode(large));
        let error = error_of(value.clone());
        assert_eq!(error.field, "pdf_base64");
        assert!(error.reason.contains("send larger certificates as pdf_url"));

        let mut at_limit = b"%PDF-".to_vec();
        at_limit.resize(MAX_INLINE_PDF_BYTES, b'x');
        value["pdf_base64"] = json!(base64::engine::general_purpose::STANDARD.encode(at_limit));
        assert!(CertificateJob::parse(&value).is_ok());
    }

    #[test]
    fn debug_output_hides_the_presigned_query() {
        let job = CertificateJob::parse(&valid_job()).unwrap();
        let debug = format!("{job:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(
            debug.contains("https://files.example.com/c/1.pdf?…"),
            "{debug}"
        );
    }

    #[test]
    fn the_documented_samples_parse_as_described() {
        for sample in [
            include_str!("../../../events/certificate-url.json"),
            include_str!("../../../events/certificate-inline.json"),
        ] {
            let value: Value = serde_json::from_str(sample).unwrap();
            CertificateJob::parse(&value).unwrap();
        }
        let invalid: Value =
            serde_json::from_str(include_str!("../../../events/certificate-invalid.json")).unwrap();
        assert_eq!(
            CertificateJob::parse(&invalid)
                .unwrap_err()
                .error
                .to_string(),
            r#"completed_on: expected a date YYYY-MM-DD, got "31.12.2026""#
        );
        let backfill = parse_ndjson(include_str!("../../../events/certificate-backfill.ndjson"));
        assert_eq!(backfill.len(), 2);
        for line in backfill {
            CertificateJob::parse(&line.unwrap()).unwrap();
        }
    }

    #[test]
    fn a_line_that_is_not_utf8_fails_alone_and_a_bom_is_accepted() {
        let mut file = b"\xEF\xBB\xBF{\"a\":1}\r\n".to_vec();
        file.extend_from_slice(b"{\"name\":\"M\xFCller\"}\n");
        file.extend_from_slice(b"{\"a\":3}\n");
        let parsed = parse_ndjson_numbered(&file);
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[0], (1, Ok(json!({"a": 1}))));
        let (line, error) = &parsed[1];
        assert_eq!(*line, 2);
        let error = error.clone().unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 2: not UTF-8 text (invalid byte at column 11); save the file as UTF-8"
        );
        assert_eq!(parsed[2], (3, Ok(json!({"a": 3}))));
    }

    #[test]
    fn ids_are_bounded_and_free_of_control_characters() {
        let mut value = valid_job();
        value["certificate_id"] = json!("cert\u{0}1");
        let error = error_of(value);
        assert_eq!(error.field, "certificate_id");
        assert!(error.reason.contains("control characters"), "{error}");
        let mut value = valid_job();
        value["lms_user_id"] = json!("u".repeat(MAX_ID_CHARS + 1));
        assert_eq!(error_of(value).field, "lms_user_id");
        let mut value = valid_job();
        value["certificate_id"] = json!("c".repeat(MAX_ID_CHARS));
        assert!(CertificateJob::parse(&value).is_ok());
    }

    #[test]
    fn a_host_may_allow_larger_inline_pdfs() {
        let mut value = valid_job();
        value.as_object_mut().unwrap().remove("pdf_url");
        let mut large = b"%PDF-".to_vec();
        large.resize(MAX_INLINE_PDF_BYTES * 4, b'x');
        value["pdf_base64"] = json!(base64::engine::general_purpose::STANDARD.encode(&large));
        assert_eq!(error_of(value.clone()).field, "pdf_base64");
        let job = CertificateJob::parse_with_inline_limit(&value, MAX_INLINE_PDF_BYTES * 4)
            .expect("within the host's limit");
        assert_eq!(job.pdf, PdfSource::Inline(Bytes::from(large)));
    }

    #[test]
    fn ndjson_lines_are_numbered_and_independent() {
        let text = "{\"a\":1}\n\n{broken\n  \n[2]\n";
        let parsed = parse_ndjson(text);
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[0], Ok(json!({"a": 1})));
        let error = parsed[1].clone().unwrap_err();
        assert_eq!(error.line, 3);
        assert!(error.to_string().starts_with("line 3: not a JSON value"));
        assert_eq!(parsed[2], Ok(json!([2])));
        let lines: Vec<usize> = parse_ndjson_numbered(text)
            .into_iter()
            .map(|(line, _)| line)
            .collect();
        assert_eq!(lines, vec![1, 3, 5]);
    }
}

//! `push-certificate`: one certificate job, from a JSON file or from flags.

use crate::error::CliError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::certificates::job::looks_like_pdf;
use common::domain::IntegrationId;
use common::ports::MAX_DOCUMENT_BYTES;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// The job's fields as flags (the same names as the job's JSON fields).
#[derive(Debug, Clone, clap::Args)]
pub struct JobFlags {
    /// The LMS's certificate id (unique per integration).
    #[arg(long, required_unless_present = "job")]
    pub certificate_id: Option<String>,
    /// The LMS user who earned it.
    #[arg(long, required_unless_present = "job")]
    pub lms_user_id: Option<String>,
    /// The course name (the document's title).
    #[arg(long, required_unless_present = "job")]
    pub course: Option<String>,
    /// Completion date, YYYY-MM-DD.
    #[arg(long, required_unless_present = "job")]
    pub completed_on: Option<String>,
    /// Valid until, YYYY-MM-DD (optional).
    #[arg(long)]
    pub valid_until: Option<String>,
    /// The user's email (optional; helps find the employee).
    #[arg(long)]
    pub email: Option<String>,
    /// The certificate PDF, sent inline.
    #[arg(long, conflicts_with = "pdf_url", required_unless_present_any = ["job", "pdf_url"])]
    pub pdf: Option<PathBuf>,
    /// Where the integration downloads the PDF (its host must be in
    /// settings.certificates.allowed_pdf_hosts).
    #[arg(long)]
    pub pdf_url: Option<String>,
    /// A whole job as JSON (see docs/certificate-job.md) instead of the flags.
    #[arg(long, conflicts_with_all = ["certificate_id", "lms_user_id", "course", "completed_on", "pdf", "pdf_url"])]
    pub job: Option<PathBuf>,
}

impl JobFlags {
    /// The job as the pusher takes it. The integration id comes from the config unless the job
    /// file names one (then the pusher checks that it matches).
    pub fn to_job(&self, integration: &IntegrationId) -> Result<Value, CliError> {
        if let Some(path) = &self.job {
            let text = read(path)?;
            return serde_json::from_str(&text).map_err(|error| {
                CliError::Input(format!("{}: not a JSON job: {error}", path.display()))
            });
        }
        let mut job = Map::new();
        job.insert("integration_id".into(), json!(integration.as_str()));
        for (field, value) in [
            ("certificate_id", &self.certificate_id),
            ("lms_user_id", &self.lms_user_id),
            ("course_name", &self.course),
            ("completed_on", &self.completed_on),
            ("valid_until", &self.valid_until),
            ("email", &self.email),
            ("pdf_url", &self.pdf_url),
        ] {
            if let Some(value) = value {
                job.insert(field.into(), json!(value));
            }
        }
        if let Some(path) = &self.pdf {
            job.insert("pdf_base64".into(), json!(BASE64.encode(read_pdf(path)?)));
        }
        Ok(Value::Object(job))
    }
}

/// The file `--pdf` names, checked here so that a problem names the flag: at most Personio's
/// 30 MB for a document, and a PDF.
fn read_pdf(path: &Path) -> Result<Vec<u8>, CliError> {
    let cannot_read =
        |error: std::io::Error| CliError::Input(format!("--pdf {}: {error}", path.display()));
    let size = std::fs::metadata(path).map_err(cannot_read)?.len();
    if size > MAX_DOCUMENT_BYTES as u64 {
        return Err(CliError::Input(format!(
            "--pdf {}: {size} bytes, more than the {MAX_DOCUMENT_BYTES} bytes (30 MB) Personio \
             takes for a document",
            path.display()
        )));
    }
    let bytes = std::fs::read(path).map_err(cannot_read)?;
    if !looks_like_pdf(&bytes) {
        return Err(CliError::Input(format!(
            "--pdf {}: not a PDF (it does not start with %PDF-)",
            path.display()
        )));
    }
    Ok(bytes)
}

fn read(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path)
        .map_err(|error| CliError::Input(format!("cannot read {}: {error}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> JobFlags {
        JobFlags {
            certificate_id: Some("c-1".into()),
            lms_user_id: Some("u-1".into()),
            course: Some("Fire safety".into()),
            completed_on: Some("2026-11-20".into()),
            valid_until: None,
            email: None,
            pdf: None,
            pdf_url: Some("https://files.lms.example/c-1.pdf".into()),
            job: None,
        }
    }

    #[test]
    fn flags_become_a_job_the_core_parses() {
        let job = flags().to_job(&IntegrationId::new("acme")).expect("a job");
        let parsed = common::certificates::CertificateJob::parse(&job).expect("valid");
        assert_eq!(parsed.course_name, "Fire safety");
        assert_eq!(parsed.integration_id, IntegrationId::new("acme"));
        assert!(job.get("valid_until").is_none());
    }

    #[test]
    fn an_inline_pdf_is_base64() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pdf = dir.path().join("c.pdf");
        std::fs::write(&pdf, b"%PDF-1.4\n%%EOF\n").expect("write");
        let mut flags = flags();
        flags.pdf_url = None;
        flags.pdf = Some(pdf);
        let job = flags.to_job(&IntegrationId::new("acme")).expect("a job");
        assert_eq!(job["pdf_base64"], "JVBERi0xLjQKJSVFT0YK");
    }

    #[test]
    fn a_pdf_up_to_personios_limit_is_taken_and_a_larger_one_names_the_flag() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut flags = flags();
        flags.pdf_url = None;
        // Far more than the 256 KiB a queued job may carry inline.
        let big = dir.path().join("big.pdf");
        let mut content = b"%PDF-1.7\n".to_vec();
        content.resize(5 * 1024 * 1024, b'x');
        std::fs::write(&big, &content).expect("write");
        flags.pdf = Some(big);
        let job = flags.to_job(&IntegrationId::new("acme")).expect("a job");
        let parsed =
            common::certificates::CertificateJob::parse_with_inline_limit(&job, MAX_DOCUMENT_BYTES)
                .expect("within Personio's limit");
        assert!(
            matches!(parsed.pdf, common::certificates::PdfSource::Inline(bytes) if bytes.len() == content.len())
        );

        let huge = dir.path().join("huge.pdf");
        let file = std::fs::File::create(&huge).expect("create");
        file.set_len(MAX_DOCUMENT_BYTES as u64 + 1).expect("grow");
        flags.pdf = Some(huge);
        let error = flags
            .to_job(&IntegrationId::new("acme"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("--pdf") && error.contains("30 MB"),
            "{error}"
        );
        assert!(!error.contains("pdf_base64"), "{error}");

        let html = dir.path().join("login.html");
        std::fs::write(&html, b"<html>").expect("write");
        flags.pdf = Some(html);
        let error = flags
            .to_job(&IntegrationId::new("acme"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("--pdf") && error.contains("not a PDF"),
            "{error}"
        );
    }
}

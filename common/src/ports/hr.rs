use crate::domain::employee::{EmployeePage, EmployeeRecord, PersonioId};
use crate::domain::run::RequestCounts;
use crate::retry::Deadline;
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, FixedOffset, NaiveDate};
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

/// The HR system (Personio): employees, document categories, employee documents.
#[async_trait]
pub trait HrSource: Send + Sync {
    /// Pages through the employees, one parsed page at a time, so that no caller holds the raw
    /// JSON of every page at once. The stream ends after the last page; a page that fails for
    /// good ends it with that error.
    fn employee_pages<'a>(
        &'a self,
        query: &'a EmployeeQuery,
        deadline: Deadline,
    ) -> BoxStream<'a, Result<EmployeePage, HrError>>;

    /// One employee by id (`GET /v1/company/employees/{id}`); `Ok(None)` when Personio has no
    /// such employee (its documented 404). A targeted run reads its employees this way, and a
    /// full run confirms with it that an employee missing from the listing is really gone.
    async fn employee(
        &self,
        id: PersonioId,
        deadline: Deadline,
    ) -> Result<Option<EmployeeRecord>, HrError>;

    async fn document_categories(
        &self,
        deadline: Deadline,
    ) -> Result<Vec<DocumentCategory>, HrError>;

    /// Uploads one document (validated against Personio's limits before anything is sent).
    async fn upload_document(
        &self,
        document: &DocumentUpload,
        deadline: Deadline,
    ) -> Result<UploadedDocument, HrError>;

    /// Existing documents of one employee (optionally of one category), every page.
    async fn find_documents(
        &self,
        owner: PersonioId,
        category_id: Option<i64>,
        deadline: Deadline,
    ) -> Result<Vec<ExistingDocument>, HrError>;

    /// The requests this adapter has sent so far (a run reads it before and after and records
    /// the difference). An adapter that sends no HTTP requests answers zeros.
    fn request_counts(&self) -> RequestCounts {
        RequestCounts::default()
    }
}

/// Which employees, and which of their attributes, to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EmployeeQuery {
    /// `attributes[]` projection; `None` reads every attribute the credential may read.
    pub attributes: Option<Vec<String>>,
    pub updated_since: Option<DateTime<FixedOffset>>,
    pub email: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentCategory {
    pub id: i64,
    pub name: String,
}

/// The longest document title the HR system takes, in characters (Personio's limit).
pub const MAX_DOCUMENT_TITLE_CHARS: usize = 255;
/// The largest document the HR system takes: Personio's 30 MB, counted as 30,720 KiB as its
/// validator does.
pub const MAX_DOCUMENT_BYTES: usize = 30 * 1024 * 1024;

/// One employee document to upload (`POST /v1/company/documents`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentUpload {
    pub employee_id: PersonioId,
    pub category_id: i64,
    /// At most [`MAX_DOCUMENT_TITLE_CHARS`] characters.
    pub title: String,
    pub comment: Option<String>,
    pub date: Option<NaiveDate>,
    pub file_name: String,
    pub content_type: String,
    /// At most [`MAX_DOCUMENT_BYTES`].
    pub content: Bytes,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadedDocument {
    pub id: String,
}

/// A document already in Personio (v2 document list).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExistingDocument {
    pub id: String,
    pub title: String,
    pub category_id: Option<i64>,
    pub date: Option<NaiveDate>,
    /// The document's comment: where the certificate push writes a certificate's identity.
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum HrError {
    /// Personio rejected the credentials (after one re-authentication).
    #[error("Personio rejected the API credentials: {message}")]
    Unauthorized { message: String },
    /// A 4xx other than 401/429: permanent, with Personio's `error.message`.
    #[error("Personio refused the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    /// The request is invalid before it is sent (a document over the limits, …).
    #[error("invalid request for Personio: {0}")]
    Invalid(String),
    /// 429/5xx/timeouts/dropped connections that outlasted the retries or the deadline.
    #[error("Personio is unavailable: {reason} (after {attempts} attempts)")]
    Unavailable { reason: String, attempts: u32 },
    /// The deadline passed before an answer.
    #[error("the deadline passed before Personio answered")]
    DeadlineExceeded,
    /// A body that is not what the API documents.
    #[error("Personio sent a malformed response: {0}")]
    Malformed(String),
    /// The base URL answers, but not as Personio does (a typo, the web app's URL instead of the
    /// API's): the credentials were never judged, so they are not blamed.
    #[error(
        "the Personio base URL does not point at the Personio API: {reason}; check the base URL (https://api.personio.de)"
    )]
    NotPersonio { reason: String },
}

impl HrError {
    /// Whether a later attempt can succeed without anything else changing.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Unavailable { .. } | Self::DeadlineExceeded | Self::Malformed(_)
        )
    }
}

//! [`PersonioClient`]: the `HrSource` adapter over Personio's HTTP API.

use super::budget::EndpointGroup;
use super::config::PersonioConfig;
use super::documents::{
    DocumentListPage, parse_document_categories, parse_document_list, parse_uploaded_document,
    validate_upload,
};
use super::employees::{ParsedPage, parse_employees_page, parse_single_employee};
use super::paging::{EmployeePaging, PagingStep};
use super::transport::{Call, Repeat, TokenFlow, Transport};
use crate::domain::employee::{EmployeePage, EmployeeRecord, PersonioId};
use crate::domain::run::RequestCounts;
use crate::ports::{
    DocumentCategory, DocumentUpload, EmployeeQuery, ExistingDocument, HrError, HrSource,
    UploadedDocument,
};
use crate::retry::Deadline;
use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use reqwest::multipart::{Form, Part};
use std::sync::Arc;

/// The v2 document list's page size (Personio allows 1..=200).
const DOCUMENT_PAGE_SIZE: u32 = 100;
/// A generous bound on the v2 document pages of one employee, against a cursor that loops.
const MAX_DOCUMENT_PAGES: usize = 1_000;

/// Personio over HTTP. Cheap to clone; clones share the HTTP connections, the tokens and the
/// rate budget (which every client of the same credential in the process shares anyway).
#[derive(Clone)]
pub struct PersonioClient {
    transport: Arc<Transport>,
}

impl std::fmt::Debug for PersonioClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonioClient")
            .field("base_url", &self.transport.config.base_url.as_str())
            .field("client_id", &self.transport.config.client_id)
            .finish_non_exhaustive()
    }
}

impl PersonioClient {
    /// Builds the one HTTP client this Personio client uses for every request: it follows no
    /// redirect (the client secret goes to the configured base URL only) and reaches the
    /// addresses `config.network` allows.
    pub fn new(config: PersonioConfig) -> Result<Self, HrError> {
        let http = crate::net::client_builder(config.network)
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!(
                "personio-lms-integration/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|error| HrError::Invalid(format!("cannot build the HTTP client: {error}")))?;
        Ok(Self::with_http_client(config, http))
    }

    /// Uses an existing HTTP client (to share its connection pool with other adapters). It must
    /// follow no redirect: build it with [`crate::net::client_builder`].
    pub fn with_http_client(config: PersonioConfig, http: reqwest::Client) -> Self {
        Self {
            transport: Arc::new(Transport::new(config, http)),
        }
    }

    pub fn config(&self) -> &PersonioConfig {
        &self.transport.config
    }

    pub(super) fn transport(&self) -> &Transport {
        &self.transport
    }

    /// One employees page at `offset`, parsed (its JSON is dropped before this returns).
    async fn employee_page(
        &self,
        query: &EmployeeQuery,
        offset: u64,
        deadline: Deadline,
    ) -> Result<ParsedPage, HrError> {
        let call = Call {
            name: "list employees",
            group: EndpointGroup::Employees,
            token: Some(TokenFlow::V1),
            repeat: Repeat::Safe,
        };
        let url = self.transport.url("/v1/company/employees");
        let mut parameters: Vec<(&str, String)> = vec![
            ("limit", self.config().page_size.to_string()),
            ("offset", offset.to_string()),
        ];
        for attribute in query.attributes.iter().flatten() {
            parameters.push(("attributes[]", attribute.clone()));
        }
        if let Some(updated_since) = query.updated_since {
            parameters.push(("updated_since", updated_since.to_rfc3339()));
        }
        if let Some(email) = &query.email {
            parameters.push(("email", email.clone()));
        }
        self.transport
            .execute(
                call,
                deadline,
                |http| http.get(&url).query(&parameters),
                parse_employees_page,
            )
            .await
    }

    async fn document_list_page(
        &self,
        owner: PersonioId,
        category_id: Option<i64>,
        cursor: Option<&str>,
        deadline: Deadline,
    ) -> Result<DocumentListPage, HrError> {
        let call = Call {
            name: "list documents (v2)",
            group: EndpointGroup::Documents,
            token: Some(TokenFlow::V2),
            repeat: Repeat::Safe,
        };
        let url = self.transport.url("/v2/document-management/documents");
        let mut parameters: Vec<(&str, String)> = vec![
            ("owner_id", owner.to_string()),
            ("limit", DOCUMENT_PAGE_SIZE.to_string()),
        ];
        if let Some(category_id) = category_id {
            parameters.push(("category_id", category_id.to_string()));
        }
        if let Some(cursor) = cursor {
            parameters.push(("cursor", cursor.to_owned()));
        }
        self.transport
            .execute(
                call,
                deadline,
                |http| http.get(&url).query(&parameters),
                parse_document_list,
            )
            .await
    }
}

#[async_trait]
impl HrSource for PersonioClient {
    fn employee_pages<'a>(
        &'a self,
        query: &'a EmployeeQuery,
        deadline: Deadline,
    ) -> BoxStream<'a, Result<EmployeePage, HrError>> {
        let paging = EmployeePaging::new(self.config().page_size);
        futures::stream::unfold(Some(paging), move |paging| async move {
            let mut paging = paging?;
            let offset = paging.next_offset()?;
            let parsed = match self.employee_page(query, offset, deadline).await {
                Ok(parsed) => parsed,
                Err(error) => return Some((Err(error), None)),
            };
            // An `updated_since` answer holds every selected employee at once (Personio
            // ignores `offset` there and echoes `limit` in its page counts): never page on.
            if query.updated_since.is_some() {
                return Some((Ok(parsed.page), None));
            }
            match paging.observe(&parsed) {
                Ok(PagingStep::Continue) | Ok(PagingStep::Last) => {
                    Some((Ok(parsed.page), Some(paging)))
                }
                Ok(PagingStep::Done) => None,
                Err(error) => Some((Err(error), None)),
            }
        })
        .boxed()
    }

    fn request_counts(&self) -> RequestCounts {
        self.transport.counters.snapshot()
    }

    async fn employee(
        &self,
        id: PersonioId,
        deadline: Deadline,
    ) -> Result<Option<EmployeeRecord>, HrError> {
        let call = Call {
            name: "read employee",
            group: EndpointGroup::Employees,
            token: Some(TokenFlow::V1),
            repeat: Repeat::Safe,
        };
        let url = self.transport.url(&format!("/v1/company/employees/{id}"));
        match self
            .transport
            .execute(call, deadline, |http| http.get(&url), parse_single_employee)
            .await
        {
            Ok(record) => Ok(Some(record)),
            // Personio documents a 404 for an id it does not know.
            Err(HrError::Rejected { status: 404, .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn document_categories(
        &self,
        deadline: Deadline,
    ) -> Result<Vec<DocumentCategory>, HrError> {
        let call = Call {
            name: "list document categories",
            group: EndpointGroup::Documents,
            token: Some(TokenFlow::V1),
            repeat: Repeat::Safe,
        };
        let url = self.transport.url("/v1/company/document-categories");
        self.transport
            .execute(
                call,
                deadline,
                |http| http.get(&url),
                parse_document_categories,
            )
            .await
    }

    async fn upload_document(
        &self,
        document: &DocumentUpload,
        deadline: Deadline,
    ) -> Result<UploadedDocument, HrError> {
        validate_upload(document)?;
        let call = Call {
            name: "upload document",
            group: EndpointGroup::Documents,
            token: Some(TokenFlow::V1),
            repeat: Repeat::OnlyWhenRefused,
        };
        let url = self.transport.url("/v1/company/documents");
        let file_part = || {
            let length = document.content.len() as u64;
            Part::stream_with_length(reqwest::Body::from(document.content.clone()), length)
                .file_name(document.file_name.clone())
        };
        // Checked up front so that a bad content type is reported, not sent.
        file_part().mime_str(&document.content_type).map_err(|_| {
            HrError::Invalid(format!(
                "content_type: `{}` is not a MIME type",
                document.content_type
            ))
        })?;
        let form = || {
            let mut form = Form::new()
                .text("title", document.title.clone())
                .text("employee_id", document.employee_id.to_string())
                .text("category_id", document.category_id.to_string());
            if let Some(comment) = &document.comment {
                form = form.text("comment", comment.clone());
            }
            if let Some(date) = document.date {
                form = form.text("date", date.format("%Y-%m-%d").to_string());
            }
            // The content type parsed above, so the fallback is never taken.
            let file = file_part()
                .mime_str(&document.content_type)
                .unwrap_or_else(|_| file_part());
            form.part("file", file)
        };
        tracing::info!(employee = %document.employee_id, category = document.category_id, bytes = document.content.len(), "uploading document");
        self.transport
            .execute(
                call,
                deadline,
                |http| http.post(&url).multipart(form()),
                parse_uploaded_document,
            )
            .await
    }

    async fn find_documents(
        &self,
        owner: PersonioId,
        category_id: Option<i64>,
        deadline: Deadline,
    ) -> Result<Vec<ExistingDocument>, HrError> {
        let mut documents = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_DOCUMENT_PAGES {
            let page = self
                .document_list_page(owner, category_id, cursor.as_deref(), deadline)
                .await?;
            documents.extend(page.documents);
            match page.next_cursor {
                Some(next) if Some(&next) == cursor.as_ref() => {
                    return Err(HrError::Malformed(
                        "the v2 document list returned the same cursor again".to_owned(),
                    ));
                }
                Some(next) => cursor = Some(next),
                None => return Ok(documents),
            }
        }
        Err(HrError::Malformed(format!(
            "the v2 document list did not end within {MAX_DOCUMENT_PAGES} pages"
        )))
    }
}

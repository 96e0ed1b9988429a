//! Document categories, uploads (v1) and the document list (v2): limits and answer parsing.

use crate::ports::{
    DocumentCategory, DocumentUpload, ExistingDocument, HrError, MAX_DOCUMENT_BYTES,
    MAX_DOCUMENT_TITLE_CHARS, UploadedDocument,
};
use chrono::NaiveDate;
use serde_json::Value;

/// Checks an upload against Personio's documented limits, so that a certain refusal costs no
/// request (and no slot of the 60/min budget). The error names the field.
pub fn validate_upload(document: &DocumentUpload) -> Result<(), HrError> {
    let invalid =
        |field: &str, problem: String| Err(HrError::Invalid(format!("{field}: {problem}")));
    if document.title.trim().is_empty() {
        return invalid("title", "must not be empty".to_owned());
    }
    let title_chars = document.title.chars().count();
    if title_chars > MAX_DOCUMENT_TITLE_CHARS {
        return invalid(
            "title",
            format!("{title_chars} characters, Personio allows at most {MAX_DOCUMENT_TITLE_CHARS}"),
        );
    }
    if document.employee_id.0 <= 0 {
        return invalid(
            "employee_id",
            format!("{} is not a Personio id", document.employee_id),
        );
    }
    if document.category_id <= 0 {
        return invalid(
            "category_id",
            format!("{} is not a category id", document.category_id),
        );
    }
    if document.file_name.trim().is_empty() {
        return invalid("file", "the file needs a name".to_owned());
    }
    if document.content.is_empty() {
        return invalid("file", "the file is empty".to_owned());
    }
    if document.content.len() > MAX_DOCUMENT_BYTES {
        return invalid(
            "file",
            format!(
                "{} bytes, Personio allows at most {MAX_DOCUMENT_BYTES} bytes (30 MB)",
                document.content.len()
            ),
        );
    }
    Ok(())
}

fn json(body: &[u8], what: &str) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|error| format!("{what} is not JSON: {error}"))
}

/// An id that Personio sends as a number (v1) or a numeric string (v2).
fn numeric_id(value: Option<&Value>) -> Option<i64> {
    let value = value?;
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|text| text.trim().parse().ok()))
}

fn id_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// `GET /v1/company/document-categories`: `data: [{id, type, attributes: {name}}]`.
pub fn parse_document_categories(body: &[u8]) -> Result<Vec<DocumentCategory>, String> {
    let root = json(body, "document categories")?;
    let items = root
        .get("data")
        .and_then(Value::as_array)
        .ok_or("document categories have no `data` array")?;
    items
        .iter()
        .map(|item| {
            let id = numeric_id(item.get("id")).ok_or("a document category has no numeric id")?;
            let name = item
                .pointer("/attributes/name")
                .or_else(|| item.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| format!("document category {id} has no name"))?;
            Ok(DocumentCategory {
                id,
                name: name.to_owned(),
            })
        })
        .collect()
}

/// `POST /v1/company/documents` → `data: {id, type: "Document", attributes}`.
pub fn parse_uploaded_document(body: &[u8]) -> Result<UploadedDocument, String> {
    let root = json(body, "upload answer")?;
    let id = id_text(root.pointer("/data/id")).ok_or("upload answer has no `data.id`")?;
    Ok(UploadedDocument { id })
}

/// One page of `GET /v2/document-management/documents`.
#[derive(Debug)]
pub struct DocumentListPage {
    pub documents: Vec<ExistingDocument>,
    pub next_cursor: Option<String>,
}

/// `{_data: [{id, name, comment, category: {id}, date, …}], _meta: {links: {next: {href}}}}`; the next
/// page's cursor is the `cursor` parameter of the `next` link.
pub fn parse_document_list(body: &[u8]) -> Result<DocumentListPage, String> {
    let root = json(body, "document list")?;
    let items = root
        .get("_data")
        .and_then(Value::as_array)
        .ok_or("document list has no `_data` array")?;
    let documents = items
        .iter()
        .map(|item| {
            let id = id_text(item.get("id")).ok_or("a document has no id")?;
            let title = item
                .get("name")
                .or_else(|| item.get("title"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let category_id = numeric_id(item.pointer("/category/id"))
                .or_else(|| numeric_id(item.get("category_id")));
            let date = item
                .get("date")
                .and_then(Value::as_str)
                .and_then(|text| text.get(..10))
                .and_then(|day| NaiveDate::parse_from_str(day, "%Y-%m-%d").ok());
            let comment = item
                .get("comment")
                .or_else(|| item.get("description"))
                .and_then(Value::as_str)
                .filter(|comment| !comment.is_empty())
                .map(str::to_owned);
            Ok(ExistingDocument {
                id,
                title,
                category_id,
                date,
                comment,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let next_href = root
        .pointer("/_meta/links/next/href")
        .and_then(Value::as_str)
        .filter(|href| !href.is_empty());
    let next_cursor = match next_href {
        None => None,
        Some(href) => {
            Some(cursor_of(href).ok_or_else(|| format!("next link `{href}` has no cursor"))?)
        }
    };
    Ok(DocumentListPage {
        documents,
        next_cursor,
    })
}

pub(super) fn cursor_of(href: &str) -> Option<String> {
    let query = href.split_once('?').map_or(href, |(_, query)| query);
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "cursor")
        .map(|(_, cursor)| cursor.into_owned())
        .filter(|cursor| !cursor.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::employee::PersonioId;
    use bytes::Bytes;

    fn upload() -> DocumentUpload {
        DocumentUpload {
            employee_id: PersonioId(7),
            category_id: 3,
            title: "Certificate: Fire safety".to_owned(),
            comment: None,
            date: NaiveDate::from_ymd_opt(2025, 1, 31),
            file_name: "certificate.pdf".to_owned(),
            content_type: "application/pdf".to_owned(),
            content: Bytes::from_static(b"%PDF-1.7"),
        }
    }

    fn refusal(document: &DocumentUpload) -> String {
        match validate_upload(document) {
            Err(HrError::Invalid(message)) => message,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn uploads_within_the_limits_pass() {
        assert!(validate_upload(&upload()).is_ok());
        let mut at_the_limits = upload();
        at_the_limits.title = "ł".repeat(MAX_DOCUMENT_TITLE_CHARS);
        at_the_limits.content = Bytes::from(vec![0u8; MAX_DOCUMENT_BYTES]);
        assert!(validate_upload(&at_the_limits).is_ok());
    }

    #[test]
    fn uploads_over_the_limits_name_the_field() {
        let mut long_title = upload();
        long_title.title = "x".repeat(MAX_DOCUMENT_TITLE_CHARS + 1);
        assert!(refusal(&long_title).starts_with("title:"));
        let mut blank_title = upload();
        blank_title.title = "  ".to_owned();
        assert!(refusal(&blank_title).starts_with("title:"));
        let mut big = upload();
        big.content = Bytes::from(vec![0u8; MAX_DOCUMENT_BYTES + 1]);
        assert!(refusal(&big).starts_with("file:"));
        let mut empty = upload();
        empty.content = Bytes::new();
        assert!(refusal(&empty).starts_with("file:"));
        let mut nobody = upload();
        nobody.employee_id = PersonioId(0);
        assert!(refusal(&nobody).starts_with("employee_id:"));
        let mut no_category = upload();
        no_category.category_id = -1;
        assert!(refusal(&no_category).starts_with("category_id:"));
    }

    #[test]
    fn parses_the_spec_examples() {
        let categories = br#"{"success":true,"data":[{"id":1,"type":"DocumentCategory","attributes":{"name":"Certificates of employment"}},{"id":2,"type":"DocumentCategory","attributes":{"name":"Other documents"}}]}"#;
        let parsed = parse_document_categories(categories).expect("categories");
        assert_eq!(parsed.len(), 2);
        assert_eq!(
            (parsed[1].id, parsed[1].name.as_str()),
            (2, "Other documents")
        );

        let uploaded = br#"{"success":true,"data":{"id":1,"type":"Document","attributes":{"title":"Personio","date":"2022-02-02"}}}"#;
        assert_eq!(parse_uploaded_document(uploaded).expect("upload").id, "1");
    }

    #[test]
    fn parses_v2_document_pages_and_their_cursor() {
        let page = br#"{"_data":[{"id":"12","name":"Zertifikat","comment":"LMS certificate \"c-1\" of integration \"acme\".","date":"2025-01-31","category":{"id":"3"},"owner":{"id":"7"}},{"id":"13","name":"Vertrag","comment":"","date":"2025-02-01"}],
            "_meta":{"links":{"self":{"href":"http://x/v2/document-management/documents?owner_id=7"},
            "next":{"href":"http://x/v2/document-management/documents?cursor=cur_3a%3D&limit=100"}}}}"#;
        let parsed = parse_document_list(page).expect("page");
        assert_eq!(
            parsed.documents,
            vec![
                ExistingDocument {
                    id: "12".to_owned(),
                    title: "Zertifikat".to_owned(),
                    category_id: Some(3),
                    date: NaiveDate::from_ymd_opt(2025, 1, 31),
                    comment: Some(r#"LMS certificate "c-1" of integration "acme"."#.to_owned()),
                },
                ExistingDocument {
                    id: "13".to_owned(),
                    title: "Vertrag".to_owned(),
                    category_id: None,
                    date: NaiveDate::from_ymd_opt(2025, 2, 1),
                    comment: None,
                }
            ]
        );
        assert_eq!(parsed.next_cursor.as_deref(), Some("cur_3a="));

        let last = br#"{"_data":[],"_meta":{"links":{"self":{"href":"http://x"}}}}"#;
        assert_eq!(parse_document_list(last).expect("page").next_cursor, None);
        assert!(parse_document_list(br#"{"_data":[{"name":"no id"}]}"#).is_err());
    }
}

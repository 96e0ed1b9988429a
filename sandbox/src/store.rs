//! The sandbox's data: employees (ordered by id) and uploaded documents.

use std::collections::HashSet;

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use crate::employee::{Employee, Visibility, render_list};
use crate::error::SandboxError;

/// A document uploaded through `POST /v1/company/documents`.
#[derive(Debug, Clone)]
pub struct UploadedDocument {
    pub id: u64,
    pub employee_id: u64,
    pub category_id: u64,
    pub title: String,
    pub comment: Option<String>,
    pub date: NaiveDate,
    pub file_name: String,
    pub content_type: Option<String>,
    pub bytes: Bytes,
    pub created_at: DateTime<Utc>,
    /// The client id of the credential that uploaded it.
    pub uploaded_by: String,
}

/// A parsed `GET /v1/company/employees` query.
#[derive(Debug, Clone, Default)]
pub(crate) struct EmployeeQuery {
    pub limit: usize,
    pub offset: usize,
    pub email: Option<String>,
    pub projection: Option<HashSet<String>>,
    pub updated_since: Option<DateTime<Utc>>,
}

#[derive(Debug, Default)]
pub(crate) struct Store {
    employees: Vec<Employee>,
    documents: Vec<UploadedDocument>,
}

impl Store {
    pub fn new(mut employees: Vec<Employee>) -> Self {
        employees.sort_by_key(Employee::id);
        Self {
            employees,
            documents: Vec::new(),
        }
    }

    pub fn employees(&self) -> &[Employee] {
        &self.employees
    }

    fn position(&self, id: u64) -> Option<usize> {
        self.employees.binary_search_by_key(&id, Employee::id).ok()
    }

    pub fn employee(&self, id: u64) -> Option<&Employee> {
        self.position(id).map(|index| &self.employees[index])
    }

    fn employee_mut(&mut self, id: u64) -> Result<&mut Employee, SandboxError> {
        let index = self.position(id).ok_or(SandboxError::UnknownEmployee(id))?;
        Ok(&mut self.employees[index])
    }

    pub fn next_employee_id(&self) -> u64 {
        self.employees.last().map_or(1, |last| last.id() + 1)
    }

    /// Renders the response body for a query.
    ///
    /// With `updated_since`, Personio ignores `email`, `limit` and `offset`, selects only
    /// employees with a change to an attribute the credential may read (and, with
    /// `attributes[]`, to one of those attributes), and answers the whole selection at once.
    /// Its documented examples then echo the request's `limit` with `offset` 0 and
    /// `total_pages` counted from that limit although every employee is in `data`; the sandbox
    /// answers the same, so a client must not page on after an `updated_since` answer.
    pub fn list(&self, query: &EmployeeQuery, whitelist: Option<&HashSet<String>>) -> String {
        let visibility = Visibility {
            whitelist,
            projection: query.projection.as_ref(),
        };
        if let Some(since) = query.updated_since {
            let keys = change_keys(query.projection.as_ref(), whitelist);
            let selected: Vec<&Employee> = self
                .employees
                .iter()
                .filter(|employee| employee.modified_since(since, keys.as_ref()))
                .collect();
            let count = selected.len();
            return render_list(&selected, count, 0, query.limit, visibility);
        }
        if let Some(email) = &query.email {
            let selected: Vec<&Employee> = self
                .employees
                .iter()
                .filter(|employee| {
                    employee
                        .text("email")
                        .is_some_and(|own| own.eq_ignore_ascii_case(email))
                })
                .collect();
            let count = selected.len();
            let page: Vec<&Employee> = selected
                .into_iter()
                .skip(query.offset)
                .take(query.limit)
                .collect();
            return render_list(&page, count, query.offset, query.limit, visibility);
        }
        let total = self.employees.len();
        let start = query.offset.min(total);
        let end = start.saturating_add(query.limit).min(total);
        let page: Vec<&Employee> = self.employees[start..end].iter().collect();
        render_list(&page, total, query.offset, query.limit, visibility)
    }

    pub fn add_employee(&mut self, employee: Employee) -> Result<u64, SandboxError> {
        let id = employee.id();
        match self.employees.binary_search_by_key(&id, Employee::id) {
            Ok(_) => Err(SandboxError::DuplicateEmployee(id)),
            Err(index) => {
                self.employees.insert(index, employee);
                Ok(id)
            }
        }
    }

    /// Changes one attribute; returns its value before.
    pub fn set_attribute(
        &mut self,
        id: u64,
        key: &str,
        value: Value,
        at: DateTime<Utc>,
    ) -> Result<Value, SandboxError> {
        self.employee_mut(id)?.set_value(key, value, at)
    }

    pub fn remove_employee(&mut self, id: u64) -> Result<Employee, SandboxError> {
        let index = self.position(id).ok_or(SandboxError::UnknownEmployee(id))?;
        Ok(self.employees.remove(index))
    }

    pub fn add_document(&mut self, mut document: UploadedDocument) -> UploadedDocument {
        document.id = self.documents.last().map_or(1, |last| last.id + 1);
        self.documents.push(document.clone());
        document
    }

    pub fn documents(&self) -> &[UploadedDocument] {
        &self.documents
    }
}

/// The attributes whose changes count for `updated_since`: those both the projection and the
/// whitelist admit (`None`: every attribute). `id` always counts, so a new employee is selected.
fn change_keys(
    projection: Option<&HashSet<String>>,
    whitelist: Option<&HashSet<String>>,
) -> Option<HashSet<String>> {
    let mut keys: HashSet<String> = match (projection, whitelist) {
        (None, None) => return None,
        (Some(projection), Some(whitelist)) => {
            projection.intersection(whitelist).cloned().collect()
        }
        (Some(only), None) | (None, Some(only)) => only.clone(),
    };
    keys.insert("id".to_owned());
    Some(keys)
}

/// The documents of one owner, optionally of one category, in upload (= id) order.
pub(crate) fn documents_of(
    documents: &[UploadedDocument],
    owner_id: u64,
    category_id: Option<u64>,
) -> impl Iterator<Item = &UploadedDocument> {
    documents.iter().filter(move |document| {
        document.employee_id == owner_id && category_id.is_none_or(|id| document.category_id == id)
    })
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::generator::generate;

    fn page(store: &Store, query: &EmployeeQuery) -> Value {
        serde_json::from_str(&store.list(query, None)).unwrap_or_default()
    }

    fn query(limit: usize, offset: usize) -> EmployeeQuery {
        EmployeeQuery {
            limit,
            offset,
            ..EmployeeQuery::default()
        }
    }

    #[test]
    fn pages_count_records_and_report_metadata() {
        let store = Store::new(generate(2, 250));
        let last = page(&store, &query(100, 200));
        assert_eq!(
            last["metadata"],
            serde_json::json!({"total_elements": 250, "current_page": 2, "total_pages": 3})
        );
        assert_eq!(last["data"].as_array().map(Vec::len), Some(50));
        assert_eq!(
            last["data"][0]["attributes"]["id"]["value"],
            store.employees()[200].id()
        );
        // An offset that is not a multiple of the limit still counts records.
        let odd = page(&store, &query(10, 15));
        assert_eq!(
            odd["data"][0]["attributes"]["id"]["value"],
            store.employees()[15].id()
        );
        assert_eq!(odd["metadata"]["current_page"], 1);
        assert_eq!(
            page(&store, &query(100, 1000))["data"],
            serde_json::json!([])
        );
    }

    #[test]
    fn a_page_of_a_hundred_renders_a_hundred_records() {
        // How fast pages render is the listing benchmark's business (bench/), not a test's.
        let store = Store::new(generate(3, 1000));
        let body: serde_json::Value =
            serde_json::from_str(&store.list(&query(100, 900), None)).expect("JSON page");
        assert_eq!(body["data"].as_array().map(Vec::len), Some(100));
        assert_eq!(
            body["data"][0]["attributes"]["id"]["value"],
            store.employees()[900].id()
        );
    }

    #[test]
    fn documents_get_increasing_ids_and_filter_by_owner_and_category() {
        let mut store = Store::new(Vec::new());
        let document = |employee_id, category_id| UploadedDocument {
            id: 0,
            employee_id,
            category_id,
            title: "t".to_owned(),
            comment: None,
            date: NaiveDate::default(),
            file_name: "t.pdf".to_owned(),
            content_type: None,
            bytes: Bytes::new(),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            uploaded_by: "c".to_owned(),
        };
        let ids: Vec<u64> = [(1, 1), (1, 2), (2, 1), (1, 1)]
            .into_iter()
            .map(|(owner, category)| store.add_document(document(owner, category)).id)
            .collect();
        assert_eq!(ids, [1, 2, 3, 4]);
        let of_owner: Vec<u64> = documents_of(store.documents(), 1, None)
            .map(|document| document.id)
            .collect();
        assert_eq!(of_owner, [1, 2, 4]);
        let of_category: Vec<u64> = documents_of(store.documents(), 1, Some(1))
            .map(|document| document.id)
            .collect();
        assert_eq!(of_category, [1, 4]);
    }
}

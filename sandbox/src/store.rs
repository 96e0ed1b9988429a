//! The sandbox's data: employees (ordered by id) and uploaded documents.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use crate::SandboxError;
use crate::employee::{Employee, Visibility, render_list};

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
    /// Personio ignores `email`, `limit` and `offset` when `updated_since` is given, and then
    /// uses `attributes[]` as a selection filter too; the whole selection is one page.
    pub fn list(&self, query: &EmployeeQuery, whitelist: Option<&HashSet<String>>) -> String {
        let visibility = Visibility {
            whitelist,
            projection: query.projection.as_ref(),
        };
        if let Some(since) = query.updated_since {
            let selected: Vec<&Employee> = self
                .employees
                .iter()
                .filter(|employee| employee.modified_since(since, query.projection.as_ref()))
                .collect();
            let count = selected.len();
            return render_list(&selected, count, 0, count.max(1), visibility);
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

    pub fn set_attribute(
        &mut self,
        id: u64,
        key: &str,
        value: Value,
        at: DateTime<Utc>,
    ) -> Result<(), SandboxError> {
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

/// The documents of one owner, optionally of one category, in upload (= id) order.
pub(crate) fn documents_of<'a>(
    documents: &'a [UploadedDocument],
    owner_id: u64,
    category_id: Option<u64>,
) -> impl Iterator<Item = &'a UploadedDocument> {
    documents.iter().filter(move |document| {
        document.employee_id == owner_id && category_id.is_none_or(|id| document.category_id == id)
    })
}

/// Counts per key, for inspection.
pub(crate) fn bump<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, u64>, key: K) {
    *counts.entry(key).or_default() += 1;
}

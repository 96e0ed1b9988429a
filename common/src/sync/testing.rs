//! Test doubles for the sync: an `HrSource` serving fixed employees, and employee builders.
//! Compiled for this crate's tests and, with the `test-support` feature, for other crates.

use crate::domain::employee::{
    AttributeValue, CustomAttribute, Employee, EmployeePage, EmployeeParseError, EmployeeRecord,
    EmploymentStatus, OrgUnit, PersonioId,
};
use crate::ports::{
    DocumentCategory, DocumentUpload, EmployeeQuery, ExistingDocument, HrError, HrSource,
    UploadedDocument,
};
use crate::retry::Deadline;
use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use std::collections::{BTreeSet, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

/// The selection attribute's label used by [`employee`].
pub const SELECTION_LABEL: &str = "LMS Sync";
/// Its key.
pub const SELECTION_KEY: &str = "dynamic_100";

/// A selected, active employee with names, email, department, team and position.
pub fn employee(id: i64, email: &str) -> Employee {
    let mut employee = Employee {
        id: PersonioId(id),
        first_name: Some(format!("First{id}")),
        last_name: Some(format!("Last{id}")),
        email: Some(email.to_owned()),
        status: Some(EmploymentStatus::Active),
        position: Some("Engineer".to_owned()),
        department: Some(OrgUnit {
            id: Some(1),
            name: "Engineering".to_owned(),
        }),
        team: Some(OrgUnit {
            id: Some(2),
            name: "Platform".to_owned(),
        }),
        ..Employee::default()
    };
    set_custom(&mut employee, SELECTION_KEY, SELECTION_LABEL, "ja");
    employee
}

/// Sets the selection attribute to yes or no.
pub fn select(employee: &mut Employee, selected: bool) {
    let value = if selected { "ja" } else { "nein" };
    set_custom(employee, SELECTION_KEY, SELECTION_LABEL, value);
}

/// Sets a custom attribute (text value).
pub fn set_custom(employee: &mut Employee, key: &str, label: &str, value: &str) {
    employee.custom.insert(
        key.to_owned(),
        CustomAttribute {
            key: key.to_owned(),
            label: label.to_owned(),
            value: AttributeValue::Text(value.to_owned()),
        },
    );
}

/// An `HrSource` over a fixed list of employees, served in pages like Personio's. The list can
/// be replaced between runs, and the listing can be made to fail after some pages.
pub struct StaticHrSource {
    employees: Mutex<Vec<Result<Employee, EmployeeParseError>>>,
    page_size: usize,
    fail_after_pages: Mutex<Option<usize>>,
    pages_served: AtomicU32,
    /// Employees the listing leaves out while single reads still find them (paging drift).
    hidden_from_listing: Mutex<HashSet<PersonioId>>,
    single_reads: AtomicU32,
    single_read_failure: Mutex<Option<String>>,
    categories: Mutex<Vec<DocumentCategory>>,
    documents: Mutex<Vec<(DocumentUpload, UploadedDocument)>>,
}

impl StaticHrSource {
    pub fn new(employees: Vec<Result<Employee, EmployeeParseError>>) -> Self {
        Self::with_page_size(employees, 100)
    }

    /// Only parsed employees.
    pub fn of(employees: Vec<Employee>) -> Self {
        Self::new(employees.into_iter().map(Ok).collect())
    }

    pub fn with_page_size(
        employees: Vec<Result<Employee, EmployeeParseError>>,
        page_size: usize,
    ) -> Self {
        Self {
            employees: Mutex::new(employees),
            page_size: page_size.max(1),
            fail_after_pages: Mutex::new(None),
            pages_served: AtomicU32::new(0),
            hidden_from_listing: Mutex::new(HashSet::new()),
            single_reads: AtomicU32::new(0),
            single_read_failure: Mutex::new(None),
            categories: Mutex::new(Vec::new()),
            documents: Mutex::new(Vec::new()),
        }
    }

    pub fn set_employees(&self, employees: Vec<Result<Employee, EmployeeParseError>>) {
        *lock(&self.employees) = employees;
    }

    /// Changes the employees in place (for "this one changed" scenarios).
    pub fn update_employees(
        &self,
        change: impl FnOnce(&mut Vec<Result<Employee, EmployeeParseError>>),
    ) {
        change(&mut lock(&self.employees));
    }

    /// After `pages` pages the listing ends with "Personio is unavailable", as the client reports
    /// it once its own retries are spent (`None` = never).
    pub fn fail_after_pages(&self, pages: Option<usize>) {
        *lock(&self.fail_after_pages) = pages;
    }

    /// Leaves these employees out of the listing, as a listing that shifted while it was paged
    /// does; a single read still finds them.
    pub fn hide_from_listing(&self, ids: impl IntoIterator<Item = i64>) {
        *lock(&self.hidden_from_listing) = ids.into_iter().map(PersonioId).collect();
    }

    /// Makes single reads fail with "Personio is unavailable: `reason`" (`None`: they work).
    pub fn fail_single_reads(&self, reason: Option<&str>) {
        *lock(&self.single_read_failure) = reason.map(str::to_owned);
    }

    /// Single employee reads so far.
    pub fn single_reads(&self) -> u32 {
        self.single_reads.load(Ordering::SeqCst)
    }

    /// Pages served so far, over every listing.
    pub fn pages_served(&self) -> u32 {
        self.pages_served.load(Ordering::SeqCst)
    }

    pub fn set_categories(&self, categories: Vec<DocumentCategory>) {
        *lock(&self.categories) = categories;
    }

    /// Every document uploaded so far.
    pub fn uploaded(&self) -> Vec<DocumentUpload> {
        lock(&self.documents)
            .iter()
            .map(|(upload, _)| upload.clone())
            .collect()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[async_trait]
impl HrSource for StaticHrSource {
    fn employee_pages<'a>(
        &'a self,
        _query: &'a EmployeeQuery,
        _deadline: Deadline,
    ) -> BoxStream<'a, Result<EmployeePage, HrError>> {
        let hidden = lock(&self.hidden_from_listing).clone();
        let employees: Vec<_> = lock(&self.employees)
            .iter()
            .filter(|employee| match employee {
                Ok(employee) => !hidden.contains(&employee.id),
                Err(error) => error.employee_id.is_none_or(|id| !hidden.contains(&id)),
            })
            .cloned()
            .collect();
        let chunks: Vec<_> = employees
            .chunks(self.page_size)
            .map(<[_]>::to_vec)
            .collect();
        // Personio answers an empty company with one empty page.
        let total_pages = chunks.len().max(1);
        let chunks = if chunks.is_empty() {
            vec![Vec::new()]
        } else {
            chunks
        };
        let fail_after = *lock(&self.fail_after_pages);
        let mut pages: Vec<Result<EmployeePage, HrError>> = Vec::new();
        for (index, employees) in chunks.into_iter().enumerate() {
            if fail_after.is_some_and(|limit| index >= limit) {
                pages.push(Err(HrError::Unavailable {
                    reason: "HTTP 503 (injected failure)".to_owned(),
                    attempts: 3,
                }));
                break;
            }
            let attributes_present: BTreeSet<String> = employees
                .iter()
                .flatten()
                .flat_map(present_attributes)
                .collect();
            pages.push(Ok(EmployeePage {
                current_page: index as u32,
                total_pages: total_pages as u32,
                employees,
                attributes_present,
            }));
        }
        stream::iter(pages)
            .inspect(|page| {
                if page.is_ok() {
                    self.pages_served.fetch_add(1, Ordering::SeqCst);
                }
            })
            .boxed()
    }

    async fn employee(
        &self,
        id: PersonioId,
        _deadline: Deadline,
    ) -> Result<Option<EmployeeRecord>, HrError> {
        self.single_reads.fetch_add(1, Ordering::SeqCst);
        if let Some(reason) = lock(&self.single_read_failure).clone() {
            return Err(HrError::Unavailable {
                reason,
                attempts: 3,
            });
        }
        let found = lock(&self.employees)
            .iter()
            .find(|employee| match employee {
                Ok(employee) => employee.id == id,
                Err(error) => error.employee_id == Some(id),
            })
            .cloned();
        Ok(found.map(|employee| EmployeeRecord {
            attributes_present: employee
                .as_ref()
                .map(present_attributes)
                .unwrap_or_default()
                .into_iter()
                .collect(),
            employee,
        }))
    }

    async fn document_categories(
        &self,
        _deadline: Deadline,
    ) -> Result<Vec<DocumentCategory>, HrError> {
        Ok(lock(&self.categories).clone())
    }

    async fn upload_document(
        &self,
        document: &DocumentUpload,
        _deadline: Deadline,
    ) -> Result<UploadedDocument, HrError> {
        let mut documents = lock(&self.documents);
        let uploaded = UploadedDocument {
            id: format!("doc-{}", documents.len() + 1),
        };
        documents.push((document.clone(), uploaded.clone()));
        Ok(uploaded)
    }

    async fn find_documents(
        &self,
        owner: PersonioId,
        category_id: Option<i64>,
        _deadline: Deadline,
    ) -> Result<Vec<ExistingDocument>, HrError> {
        Ok(lock(&self.documents)
            .iter()
            .filter(|(upload, _)| {
                upload.employee_id == owner
                    && category_id.is_none_or(|category| upload.category_id == category)
            })
            .map(|(upload, uploaded)| ExistingDocument {
                id: uploaded.id.clone(),
                title: upload.title.clone(),
                category_id: Some(upload.category_id),
                date: upload.date,
                comment: upload.comment.clone(),
            })
            .collect())
    }
}

/// The attribute keys Personio would have sent for `employee` (what the real client reports in
/// `EmployeePage::attributes_present`): standard attributes that have a value, and every custom
/// attribute by key and label.
fn present_attributes(employee: &Employee) -> Vec<String> {
    let standard = [
        ("first_name", employee.first_name.is_some()),
        ("last_name", employee.last_name.is_some()),
        ("preferred_name", employee.preferred_name.is_some()),
        ("email", employee.email.is_some()),
        ("gender", employee.gender.is_some()),
        ("status", employee.status.is_some()),
        ("position", employee.position.is_some()),
        ("department", employee.department.is_some()),
        ("team", employee.team.is_some()),
        ("office", employee.office.is_some()),
        ("subcompany", employee.subcompany.is_some()),
        ("supervisor", employee.supervisor.is_some()),
        ("employment_type", employee.employment_type.is_some()),
        ("hire_date", employee.hire_date.is_some()),
        ("contract_end_date", employee.contract_end_date.is_some()),
        ("termination_date", employee.termination_date.is_some()),
        ("last_modified_at", employee.last_modified_at.is_some()),
    ];
    standard
        .into_iter()
        .filter(|(_, present)| *present)
        .map(|(key, _)| key.to_owned())
        .chain(
            employee
                .custom
                .values()
                .flat_map(|attribute| [attribute.key.clone(), attribute.label.clone()]),
        )
        .collect()
}

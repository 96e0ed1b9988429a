//! When to stop paging through `GET /v1/company/employees`.
//!
//! A listing that ends too early makes the sync deactivate people who are still there, so the
//! rules prefer the record count over the page count, and a server that never ends its listing
//! (the same page again, more pages than records) is an error rather than an endless loop or a
//! silently truncated list.

use super::employees::ParsedPage;
use crate::domain::employee::PersonioId;
use crate::ports::HrError;

/// Bound on pages when Personio sends no usable `total_elements` (a million employees).
const MAX_PAGES_WITHOUT_TOTAL: u64 = 10_000;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PagingStep {
    /// Yield this page and fetch the next.
    Continue,
    /// Yield this page; it was the last.
    Last,
    /// Nothing to yield (an empty page after others): the listing is over.
    Done,
}

#[derive(Debug)]
pub(crate) struct EmployeePaging {
    page_size: u32,
    /// Records seen so far = the next request's `offset`.
    offset: u64,
    pages: u64,
    finished: bool,
    /// Set from the first page's `total_elements`: one page of slack for employees added while
    /// paging.
    max_pages: Option<u64>,
    previous_ids: Option<Vec<Option<PersonioId>>>,
}

impl EmployeePaging {
    pub fn new(page_size: u32) -> Self {
        Self {
            page_size: page_size.max(1),
            offset: 0,
            pages: 0,
            finished: false,
            max_pages: None,
            previous_ids: None,
        }
    }

    /// The offset of the next page to fetch, or `None` once the listing is over.
    pub fn next_offset(&self) -> Option<u64> {
        (!self.finished).then_some(self.offset)
    }

    /// Takes note of a fetched page and says what to do with it.
    pub fn observe(&mut self, parsed: &ParsedPage) -> Result<PagingStep, HrError> {
        self.pages += 1;
        if parsed.records == 0 {
            self.finished = true;
            // An empty first page is an empty company: the caller still gets that page.
            return Ok(if self.pages == 1 {
                PagingStep::Last
            } else {
                PagingStep::Done
            });
        }
        let ids: Vec<Option<PersonioId>> = parsed
            .page
            .employees
            .iter()
            .map(|employee| match employee {
                Ok(employee) => Some(employee.id),
                Err(error) => error.employee_id,
            })
            .collect();
        if self.previous_ids.as_ref() == Some(&ids) {
            self.finished = true;
            return Err(HrError::Malformed(format!(
                "Personio answered offset {} with the same employees as the page before",
                self.offset
            )));
        }
        let total = parsed.metadata.total_elements;
        let max_pages = *self.max_pages.get_or_insert_with(|| {
            total.map_or(MAX_PAGES_WITHOUT_TOTAL, |total| {
                total.div_ceil(u64::from(self.page_size)) + 1
            })
        });
        if self.pages > max_pages {
            self.finished = true;
            return Err(HrError::Malformed(format!(
                "Personio kept paging past {max_pages} pages for {} employees",
                total.map_or_else(
                    || "an unknown number of".to_owned(),
                    |total| total.to_string()
                )
            )));
        }
        self.offset += parsed.records as u64;
        self.previous_ids = Some(ids);
        let short_page = parsed.records < self.page_size as usize;
        let counted_out = match (
            total,
            parsed.metadata.current_page,
            parsed.metadata.total_pages,
        ) {
            (Some(total), _, _) => self.offset >= total,
            (None, Some(current), Some(pages)) => current + 1 >= pages,
            _ => false,
        };
        if short_page || counted_out {
            self.finished = true;
            Ok(PagingStep::Last)
        } else {
            Ok(PagingStep::Continue)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::employee::{Employee, EmployeePage};
    use crate::personio::employees::PageMetadata;

    fn page(ids: std::ops::Range<i64>, total: Option<u64>, current: u64, pages: u64) -> ParsedPage {
        let employees: Vec<_> = ids
            .map(|id| {
                Ok(Employee {
                    id: PersonioId(id),
                    ..Employee::default()
                })
            })
            .collect();
        ParsedPage {
            metadata: PageMetadata {
                total_elements: total,
                current_page: Some(current),
                total_pages: Some(pages),
            },
            records: employees.len(),
            page: EmployeePage {
                employees,
                ..EmployeePage::default()
            },
        }
    }

    #[test]
    fn stops_when_every_record_is_seen() {
        let mut paging = EmployeePaging::new(100);
        assert_eq!(paging.next_offset(), Some(0));
        assert_eq!(
            paging.observe(&page(0..100, Some(200), 0, 2)).ok(),
            Some(PagingStep::Continue)
        );
        assert_eq!(paging.next_offset(), Some(100));
        assert_eq!(
            paging.observe(&page(100..200, Some(200), 1, 2)).ok(),
            Some(PagingStep::Last)
        );
        assert_eq!(paging.next_offset(), None);
    }

    #[test]
    fn a_short_page_is_the_last_and_an_empty_page_ends_the_listing() {
        let mut paging = EmployeePaging::new(100);
        assert_eq!(
            paging.observe(&page(0..40, None, 0, 9)).ok(),
            Some(PagingStep::Last)
        );

        let mut paging = EmployeePaging::new(2);
        assert_eq!(
            paging.observe(&page(0..2, None, 0, 5)).ok(),
            Some(PagingStep::Continue)
        );
        assert_eq!(
            paging.observe(&page(0..0, None, 1, 5)).ok(),
            Some(PagingStep::Done)
        );

        let mut empty_company = EmployeePaging::new(100);
        assert_eq!(
            empty_company.observe(&page(0..0, Some(0), 0, 0)).ok(),
            Some(PagingStep::Last)
        );
    }

    #[test]
    fn page_counts_decide_only_without_a_record_count() {
        let mut paging = EmployeePaging::new(2);
        assert_eq!(
            paging.observe(&page(0..2, None, 0, 2)).ok(),
            Some(PagingStep::Continue)
        );
        assert_eq!(
            paging.observe(&page(2..4, None, 1, 2)).ok(),
            Some(PagingStep::Last)
        );

        // A page count that claims the end while records are missing does not end the listing.
        let mut paging = EmployeePaging::new(2);
        assert_eq!(
            paging.observe(&page(0..2, Some(6), 0, 1)).ok(),
            Some(PagingStep::Continue)
        );
    }

    #[test]
    fn the_same_page_again_is_an_error() {
        let mut paging = EmployeePaging::new(2);
        paging.observe(&page(0..2, None, 0, 3)).expect("first page");
        let repeated = paging.observe(&page(0..2, None, 0, 3));
        assert!(
            matches!(repeated, Err(HrError::Malformed(_))),
            "{repeated:?}"
        );
        assert_eq!(paging.next_offset(), None);
    }

    #[test]
    fn more_pages_than_the_records_allow_is_an_error() {
        let mut paging = EmployeePaging::new(2);
        // 4 records = 2 pages, plus one page of slack; the server keeps inventing new ones.
        for (index, start) in [0, 2, 4].into_iter().enumerate() {
            let step = paging.observe(&page(start..start + 2, Some(4 + 100), index as u64, 99));
            assert_eq!(step.ok(), Some(PagingStep::Continue));
            if index == 0 {
                // Personio says 104 records on the first page: 53 pages allowed.
                assert_eq!(paging.max_pages, Some(53));
                paging.max_pages = Some(3);
            }
        }
        let step = paging.observe(&page(6..8, Some(104), 3, 99));
        assert!(matches!(step, Err(HrError::Malformed(_))), "{step:?}");
    }
}

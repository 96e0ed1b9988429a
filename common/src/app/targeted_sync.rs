//! Targeted runs ("provision on demand"): the sync for just the employees named, by the CLI
//! (`sync --only 12,34`), the admin API (`POST /integrations/{id}/employees/{personio_id}/sync`)
//! and a sync job naming employees. Each named employee is read by itself, planned and applied
//! with the lease taken as for any run; nobody else is created, changed or deactivated. A named
//! employee who is deselected or no longer in Personio has just that account deactivated.
//!
//! What the hosts share is how employees are named: the ids, checked once here.

use crate::domain::employee::PersonioId;
use crate::sync::SyncScope;
use std::collections::BTreeSet;

/// The most employees one targeted run takes; more is a full run's work.
pub const MAX_NAMED_EMPLOYEES: usize = 500;

/// Why a list of employees cannot start a targeted run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NamedEmployeesError {
    #[error("{0:?} is not a Personio employee id (a positive whole number)")]
    NotAnId(String),
    #[error("no employee is named")]
    Empty,
    #[error("{0} employees are named; a targeted run takes at most {MAX_NAMED_EMPLOYEES}")]
    TooMany(usize),
}

/// One Personio employee id as a person or a URL gives it.
pub fn parse_employee_id(text: &str) -> Result<PersonioId, NamedEmployeesError> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .map(PersonioId)
        .ok_or_else(|| NamedEmployeesError::NotAnId(text.to_owned()))
}

/// The scope of a run for the named employees (repeats count once).
pub fn named_scope(
    ids: impl IntoIterator<Item = PersonioId>,
) -> Result<SyncScope, NamedEmployeesError> {
    let ids: BTreeSet<PersonioId> = ids.into_iter().collect();
    if let Some(bad) = ids.iter().find(|id| id.0 <= 0) {
        return Err(NamedEmployeesError::NotAnId(bad.to_string()));
    }
    match ids.len() {
        0 => Err(NamedEmployeesError::Empty),
        count if count > MAX_NAMED_EMPLOYEES => Err(NamedEmployeesError::TooMany(count)),
        _ => Ok(SyncScope::Employees(ids)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_positive_whole_numbers() {
        assert_eq!(parse_employee_id(" 42 "), Ok(PersonioId(42)));
        for bad in ["", "0", "-3", "4.2", "ada@example.com", "12a"] {
            assert_eq!(
                parse_employee_id(bad),
                Err(NamedEmployeesError::NotAnId(bad.to_owned())),
                "{bad}"
            );
        }
        assert_eq!(
            parse_employee_id("x").unwrap_err().to_string(),
            "\"x\" is not a Personio employee id (a positive whole number)"
        );
    }

    #[test]
    fn a_scope_names_each_employee_once_and_not_too_many() {
        assert_eq!(
            named_scope([PersonioId(3), PersonioId(1), PersonioId(3)]),
            Ok(SyncScope::Employees(BTreeSet::from([
                PersonioId(1),
                PersonioId(3)
            ])))
        );
        assert_eq!(named_scope([]), Err(NamedEmployeesError::Empty));
        assert_eq!(
            named_scope([PersonioId(-1)]),
            Err(NamedEmployeesError::NotAnId("-1".into()))
        );
        let many = (1..=MAX_NAMED_EMPLOYEES as i64 + 1).map(PersonioId);
        assert_eq!(
            named_scope(many),
            Err(NamedEmployeesError::TooMany(MAX_NAMED_EMPLOYEES + 1))
        );
    }
}

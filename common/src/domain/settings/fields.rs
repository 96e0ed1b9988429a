//! Which profile fields leave Personio: the `fields` setting.
//!
//! What identifies and addresses a person is always sent (the names, the work email, the Personio
//! id) and so is the status (it decides whether the account may sign in). Everything else is the
//! admin's choice; birthday and gender are off unless listed (data minimisation under the GDPR).
//! A field that is not sent is left empty in the profile the sync writes, so a value sent before
//! is removed from the LMS at the user's next write.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// An optional profile field, named as in Personio.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileField {
    Position,
    Department,
    Team,
    Office,
    Subcompany,
    EmploymentType,
    HireDate,
    ContractEndDate,
    TerminationDate,
    Supervisor,
    Gender,
    Birthday,
}

impl ProfileField {
    pub const ALL: [ProfileField; 12] = [
        Self::Position,
        Self::Department,
        Self::Team,
        Self::Office,
        Self::Subcompany,
        Self::EmploymentType,
        Self::HireDate,
        Self::ContractEndDate,
        Self::TerminationDate,
        Self::Supervisor,
        Self::Gender,
        Self::Birthday,
    ];

    /// The name in settings, plans and run records (`hire_date`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Position => "position",
            Self::Department => "department",
            Self::Team => "team",
            Self::Office => "office",
            Self::Subcompany => "subcompany",
            Self::EmploymentType => "employment_type",
            Self::HireDate => "hire_date",
            Self::ContractEndDate => "contract_end_date",
            Self::TerminationDate => "termination_date",
            Self::Supervisor => "supervisor",
            Self::Gender => "gender",
            Self::Birthday => "birthday",
        }
    }

    /// The Personio attribute it is read from, where it has a fixed key (the birthday is a
    /// custom attribute found by its `universal_id`).
    pub fn personio_attribute(self) -> Option<&'static str> {
        match self {
            Self::Birthday => None,
            other => Some(other.name()),
        }
    }

    /// Sent unless the settings say otherwise: everything but the special categories of
    /// personal data an LMS does not need (birthday, gender).
    pub fn sent_by_default(self) -> bool {
        !matches!(self, Self::Gender | Self::Birthday)
    }
}

/// Always sent, whatever `fields` says: without them there is no account to sign in to.
pub const ALWAYS_SENT: [&str; 6] = [
    "first_name",
    "last_name",
    "display_name",
    "email",
    "personio_id",
    "status",
];

/// The default of `fields`.
pub fn default_fields() -> BTreeSet<ProfileField> {
    ProfileField::ALL
        .into_iter()
        .filter(|field| field.sent_by_default())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_serde_names() {
        for field in ProfileField::ALL {
            let json = serde_json::to_value(field).expect("serialises");
            assert_eq!(json, field.name());
        }
        assert_eq!(
            default_fields().len(),
            ProfileField::ALL.len() - 2,
            "all but birthday and gender"
        );
        assert!(!default_fields().contains(&ProfileField::Birthday));
        assert!(!default_fields().contains(&ProfileField::Gender));
    }
}

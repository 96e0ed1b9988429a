//! Changes to the sandbox's data, as HR makes them in Personio: each is stored, then fires its
//! webhook events. The Rust handle ([`crate::RunningSandbox`]) and the HTTP control surface both
//! change the data through here only.

use chrono::Utc;
use serde_json::Value;

use crate::employee::Employee;
use crate::error::SandboxError;
use crate::generator::{self, NewEmployee};
use crate::state::AppState;
use crate::webhooks::changes::Change;

/// Adds a new hire (an otherwise generated profile) and returns its id.
pub(crate) fn add_employee(state: &AppState, hire: &NewEmployee) -> Result<u64, SandboxError> {
    let now = Utc::now();
    let (id, status) = {
        let mut store = state.store_mut();
        let id = store.next_employee_id();
        let employee = generator::new_hire(state.seed, id, hire, now);
        let status = employee.text("status").unwrap_or_default().to_owned();
        (store.add_employee(employee)?, status)
    };
    state
        .webhooks
        .publish(&Change::Hired { person: id, status }, now);
    Ok(id)
}

/// Changes one attribute's value; a value set to what it was fires no event.
pub(crate) fn set_attribute(
    state: &AppState,
    id: u64,
    key: &str,
    value: Value,
) -> Result<(), SandboxError> {
    let now = Utc::now();
    let before = state
        .store_mut()
        .set_attribute(id, key, value.clone(), now)?;
    if before != value {
        let change = Change::Updated {
            person: id,
            key: key.to_owned(),
            from: before,
            to: value,
        };
        state.webhooks.publish(&change, now);
    }
    Ok(())
}

/// Removes an employee, as when a record is deleted in Personio.
pub(crate) fn remove_employee(state: &AppState, id: u64) -> Result<Employee, SandboxError> {
    let now = Utc::now();
    let removed = state.store_mut().remove_employee(id)?;
    state.webhooks.publish(&Change::Removed { person: id }, now);
    Ok(removed)
}

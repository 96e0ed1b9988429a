//! Finding one run the way an admin names it: its full id, `latest`, or a unique prefix of its id
//! (the first 8 characters of a UUID are as good as the whole in a history of hundreds).

use super::run_history;
use crate::domain::IntegrationId;
use crate::domain::run::{RunId, RunRecord};
use crate::ports::{RunStore, StoreError, SyncStore};

/// The word for the newest run.
pub const LATEST: &str = "latest";

/// How many runs a prefix is matched against: the history an admin scrolls through.
pub const PREFIX_SEARCH_RUNS: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum RunLookupError {
    #[error("no run {0} (see the run history)")]
    NotFound(String),
    #[error("no runs yet")]
    NoRuns,
    #[error("{given:?} matches {count} runs ({}); give more of the id", shown(.matches))]
    Ambiguous {
        given: String,
        count: usize,
        matches: Vec<RunId>,
    },
    #[error("a run id must not be empty")]
    Empty,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn shown(matches: &[RunId]) -> String {
    let mut names: Vec<String> = matches.iter().take(5).map(ToString::to_string).collect();
    if matches.len() > 5 {
        names.push("…".into());
    }
    names.join(", ")
}

/// The run named by `given`: `latest`, the exact id, or the one run whose id starts with it,
/// with its effective status (a dead run reads `abandoned`, as in every reader).
pub async fn find_run(
    store: &dyn SyncStore,
    integration: &IntegrationId,
    given: &str,
) -> Result<RunRecord, RunLookupError> {
    let found = find_stored_run(store, integration, given).await?;
    run_history::run(store, integration, &found.run_id)
        .await?
        .ok_or_else(|| RunLookupError::NotFound(given.trim().to_owned()))
}

async fn find_stored_run(
    store: &dyn RunStore,
    integration: &IntegrationId,
    given: &str,
) -> Result<RunRecord, RunLookupError> {
    let given = given.trim();
    if given.is_empty() {
        return Err(RunLookupError::Empty);
    }
    if given.eq_ignore_ascii_case(LATEST) {
        return store
            .runs(integration, 1)
            .await?
            .into_iter()
            .next()
            .ok_or(RunLookupError::NoRuns);
    }
    if let Some(record) = store.run(integration, &RunId(given.to_owned())).await? {
        return Ok(record);
    }
    let mut matches: Vec<RunRecord> = store
        .runs(integration, PREFIX_SEARCH_RUNS)
        .await?
        .into_iter()
        .filter(|record| record.run_id.0.starts_with(given))
        .collect();
    match matches.len() {
        0 => Err(RunLookupError::NotFound(given.to_owned())),
        1 => Ok(matches.remove(0)),
        count => Err(RunLookupError::Ambiguous {
            given: given.to_owned(),
            count,
            matches: matches.into_iter().map(|record| record.run_id).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use crate::store::contract::fixtures::{acme, minutes, run, t0};

    #[tokio::test]
    async fn latest_exact_and_unique_prefixes_find_a_run() {
        let store = MemoryStore::new();
        let acme = acme();
        assert!(matches!(
            find_run(&store, &acme, "latest").await,
            Err(RunLookupError::NoRuns)
        ));
        for (id, minute) in [("3f2a-0001", 0), ("3f2b-0002", 1), ("9c00-0003", 2)] {
            store
                .put_run(&run(&acme, id, t0() + minutes(minute)))
                .await
                .expect("stored");
        }
        let found = |given: &'static str| {
            let store = &store;
            let acme = &acme;
            async move { find_run(store, acme, given).await.map(|r| r.run_id.0) }
        };
        assert_eq!(found("latest").await.expect("newest"), "9c00-0003");
        assert_eq!(found("LATEST").await.expect("newest"), "9c00-0003");
        assert_eq!(found("3f2b-0002").await.expect("exact"), "3f2b-0002");
        assert_eq!(found("9c").await.expect("prefix"), "9c00-0003");
        let ambiguous = found("3f2").await.expect_err("two match").to_string();
        assert!(
            ambiguous.starts_with("\"3f2\" matches 2 runs (") && ambiguous.contains("3f2a-0001"),
            "{ambiguous}"
        );
        assert!(matches!(
            found("zz").await,
            Err(RunLookupError::NotFound(_))
        ));
        assert!(matches!(found(" ").await, Err(RunLookupError::Empty)));
    }
}

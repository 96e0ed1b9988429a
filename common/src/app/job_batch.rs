//! A batch of sync jobs → as few runs as do the same work. Webhook events come one employee at a
//! time, often several close together (a hire fires `person.created`, `employment.created`,
//! `employment.updated`…); the queue hands them over in a batch (on AWS the webhook queue's
//! batching window), and the jobs of one integration that name employees become one targeted
//! run of all of them. Full, reconcile and delta jobs of one integration become one job each;
//! dry runs stay apart. What each message becomes is the result of the run it was folded into.

use super::sync_job::{SyncJobDone, SyncJobError, SyncJobHandler};
use super::targeted_sync::MAX_NAMED_EMPLOYEES;
use crate::domain::IntegrationId;
use crate::domain::job::SyncJob;
use crate::domain::run::RunKind;
use crate::ports::QueueMessage;
use crate::retry::Deadline;
use std::collections::BTreeSet;
use tracing::info;

/// One run's job and the messages folded into it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoalescedJob {
    pub job: SyncJob,
    pub message_ids: Vec<String>,
}

/// What a batch became: the runs, and the messages that are not sync jobs.
#[derive(Debug, Default)]
pub struct Coalesced {
    pub jobs: Vec<CoalescedJob>,
    pub unreadable: Vec<(String, String)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Named,
    Reconcile,
    Delta,
    Full,
}

fn shape(job: &SyncJob) -> Shape {
    if !job.employees.is_empty() {
        Shape::Named
    } else if job.kind == RunKind::Reconcile {
        // A reconcile also reads and repairs the LMS: it is not folded into a plain full run.
        Shape::Reconcile
    } else if job.delta {
        Shape::Delta
    } else {
        Shape::Full
    }
}

/// Folds the jobs of `messages` together (order kept: a run's place is its first message's).
pub fn coalesce(messages: &[QueueMessage]) -> Coalesced {
    let mut coalesced = Coalesced::default();
    for message in messages {
        let job: SyncJob = match serde_json::from_str(&message.body) {
            Ok(job) => job,
            Err(error) => {
                coalesced
                    .unreadable
                    .push((message.message_id.clone(), error.to_string()));
                continue;
            }
        };
        let fits = |existing: &CoalescedJob| {
            existing.job.integration_id == job.integration_id
                && existing.job.dry_run == job.dry_run
                && shape(&existing.job) == shape(&job)
                && (shape(&job) != Shape::Named
                    || union_len(&existing.job, &job) <= MAX_NAMED_EMPLOYEES)
        };
        match coalesced.jobs.iter_mut().find(|existing| fits(existing)) {
            Some(existing) => {
                let names: BTreeSet<_> = existing
                    .job
                    .employees
                    .iter()
                    .chain(&job.employees)
                    .copied()
                    .collect();
                existing.job.employees = names.into_iter().collect();
                existing.job.requested_at = existing.job.requested_at.min(job.requested_at);
                existing.message_ids.push(message.message_id.clone());
            }
            None => coalesced.jobs.push(CoalescedJob {
                job,
                message_ids: vec![message.message_id.clone()],
            }),
        }
    }
    coalesced
}

fn union_len(a: &SyncJob, b: &SyncJob) -> usize {
    a.employees
        .iter()
        .chain(&b.employees)
        .collect::<BTreeSet<_>>()
        .len()
}

/// What one message became.
#[derive(Debug)]
pub struct MessageResult {
    pub message_id: String,
    pub integration: Option<IntegrationId>,
    pub result: Result<SyncJobDone, String>,
    /// Whether the queue should deliver the message again.
    pub retry: bool,
}

impl SyncJobHandler {
    /// Runs a batch of sync jobs, folded together by [`coalesce`], one run after another.
    pub async fn handle_batch(
        &self,
        messages: &[QueueMessage],
        deadline: Deadline,
        lease_holder: &str,
    ) -> Vec<MessageResult> {
        let Coalesced { jobs, unreadable } = coalesce(messages);
        if jobs.len() < messages.len() - unreadable.len() {
            info!(
                messages = messages.len(),
                runs = jobs.len(),
                "sync jobs coalesced"
            );
        }
        let mut results: Vec<MessageResult> = unreadable
            .into_iter()
            .map(|(message_id, reason)| {
                let error = SyncJobError::InvalidJob(reason);
                tracing::error!(%message_id, %error, "not a sync job; dropped");
                MessageResult {
                    message_id,
                    integration: None,
                    retry: false,
                    result: Err(error.to_string()),
                }
            })
            .collect();
        for CoalescedJob { job, message_ids } in jobs {
            let integration = job.integration_id.clone();
            let outcome = self.handle_job(job, deadline, lease_holder).await;
            for message_id in message_ids {
                results.push(MessageResult {
                    message_id,
                    integration: Some(integration.clone()),
                    retry: outcome.as_ref().is_err_and(SyncJobError::is_retryable),
                    result: outcome
                        .as_ref()
                        .map(Clone::clone)
                        .map_err(ToString::to_string),
                });
            }
        }
        results
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::employee::PersonioId;
    use crate::domain::run::Trigger;
    use chrono::{Duration, Utc};

    fn message(id: &str, job: &SyncJob) -> QueueMessage {
        QueueMessage {
            message_id: id.to_owned(),
            body: serde_json::to_string(job).unwrap(),
            group_id: None,
        }
    }

    fn job(integration: &str, employees: &[i64]) -> SyncJob {
        SyncJob {
            integration_id: IntegrationId::new(integration),
            trigger: Trigger::Webhook,
            dry_run: false,
            kind: if employees.is_empty() {
                RunKind::Full
            } else {
                RunKind::Targeted
            },
            requested_at: Utc::now(),
            employees: employees.iter().copied().map(PersonioId).collect(),
            delta: false,
        }
    }

    #[test]
    fn named_jobs_of_one_integration_become_one_run_and_others_stay_apart() {
        let early = Utc::now() - Duration::seconds(5);
        let mut first = job("acme", &[7]);
        first.requested_at = early;
        let mut dry = job("acme", &[9]);
        dry.dry_run = true;
        let mut delta = job("acme", &[]);
        delta.delta = true;
        let mut reconcile = job("acme", &[]);
        reconcile.kind = RunKind::Reconcile;
        let messages = vec![
            message("m1", &first),
            message("m2", &job("globex", &[7])),
            message("m3", &job("acme", &[7])),
            message("m4", &job("acme", &[3])),
            message("m5", &dry),
            message("m6", &job("acme", &[])),
            message("m7", &delta),
            message("m8", &job("acme", &[])),
            message("m10", &reconcile),
            QueueMessage {
                message_id: "m9".into(),
                body: "nope".into(),
                group_id: None,
            },
        ];
        let coalesced = coalesce(&messages);
        assert_eq!(coalesced.unreadable.len(), 1);
        let summary: Vec<(String, Vec<i64>, Vec<String>)> = coalesced
            .jobs
            .iter()
            .map(|run| {
                (
                    run.job.integration_id.to_string(),
                    run.job.employees.iter().map(|id| id.0).collect(),
                    run.message_ids.clone(),
                )
            })
            .collect();
        let ids = |ids: &[&str]| ids.iter().map(|id| (*id).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            summary,
            vec![
                ("acme".into(), vec![3, 7], ids(&["m1", "m3", "m4"])),
                ("globex".into(), vec![7], ids(&["m2"])),
                ("acme".into(), vec![9], ids(&["m5"])),
                ("acme".into(), vec![], ids(&["m6", "m8"])),
                ("acme".into(), vec![], ids(&["m7"])),
                ("acme".into(), vec![], ids(&["m10"])),
            ]
        );
        assert_eq!(coalesced.jobs[0].job.requested_at, early);
        assert!(coalesced.jobs[4].job.delta);
    }

    #[test]
    fn a_run_names_at_most_the_targeted_limit() {
        let messages: Vec<QueueMessage> = (1..=MAX_NAMED_EMPLOYEES as i64 + 1)
            .map(|id| message(&format!("m{id}"), &job("acme", &[id])))
            .collect();
        let coalesced = coalesce(&messages);
        assert_eq!(coalesced.jobs.len(), 2);
        assert_eq!(coalesced.jobs[0].job.employees.len(), MAX_NAMED_EMPLOYEES);
    }
}

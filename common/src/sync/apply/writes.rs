//! Phases 3 and 4: the user writes (in bulk where the LMS takes it, else one by one with bounded
//! concurrency), supervisors first, and the second pass for references that could not be
//! written with them.

use super::bounded;
use super::{ApplyContext, Step, Work};
use crate::domain::employee::PersonioId;
use crate::domain::link::ManagerLink;
use crate::domain::lms::{DEFAULT_ROLE, LmsUserId};
use crate::domain::run::OutcomeAction;
use crate::ports::{LmsError, LmsFeatures, ManagerRef, UserWrite, WriteKind};
use crate::sync::breaker::tracking;
use crate::sync::managers::Desired;
use futures::FutureExt;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::{OnceCell, watch};

/// A manager reference as resolved for one write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Resolution {
    pub reference: ManagerRef,
    /// What the link records once the write went through.
    pub link: ManagerLink,
    /// The supervisor's account is created in this run, but later than this write.
    pub awaiting: bool,
}

impl Resolution {
    fn none() -> Self {
        Self {
            reference: ManagerRef::None,
            link: ManagerLink::None,
            awaiting: false,
        }
    }

    fn user(id: LmsUserId) -> Self {
        Self {
            reference: ManagerRef::User(id.clone()),
            link: ManagerLink::Set { user: id },
            awaiting: false,
        }
    }

    fn pending(supervisor: PersonioId, awaiting: bool) -> Self {
        Self {
            reference: ManagerRef::None,
            link: ManagerLink::Pending { supervisor },
            awaiting,
        }
    }
}

/// The run's own creates (and adoptions) by Personio id, the supervisors looked up, and the
/// LMS's users by external id when the run listed them all (phase 2).
#[derive(Default)]
pub(super) struct RunUsers {
    created: std::sync::Mutex<HashMap<PersonioId, LmsUserId>>,
    lookups: std::sync::Mutex<HashMap<PersonioId, Arc<OnceCell<Option<LmsUserId>>>>>,
    listed: std::sync::OnceLock<HashMap<String, LmsUserId>>,
}

impl RunUsers {
    /// Every LMS user by external id, from a listing of them all: a supervisor the links do
    /// not know is then found (or known to be missing) without a request.
    pub fn set_listing(&self, users: HashMap<String, LmsUserId>) {
        let _ = self.listed.set(users);
    }

    pub fn record(&self, employee: PersonioId, user: LmsUserId) {
        self.created
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(employee, user);
    }

    pub fn get(&self, employee: PersonioId) -> Option<LmsUserId> {
        self.created
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&employee)
            .cloned()
    }

    fn lookup_cell(&self, supervisor: PersonioId) -> Arc<OnceCell<Option<LmsUserId>>> {
        self.lookups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(supervisor)
            .or_default()
            .clone()
    }
}

/// The creates in an order where each supervisor comes before the employees it supervises
/// (a cycle is cut where it is found), followed by every other change in plan order.
fn write_order(works: &[Work]) -> Vec<usize> {
    let creates: HashMap<PersonioId, usize> = works
        .iter()
        .enumerate()
        .filter(|(_, work)| work.step == Step::Create && !work.failed())
        .filter_map(|(index, work)| Some((work.target.as_ref()?.personio_id, index)))
        .collect();
    let mut order = Vec::with_capacity(works.len());
    let mut placed = vec![false; works.len()];
    let mut on_path = vec![false; works.len()];
    for start in 0..works.len() {
        if placed[start] || works[start].step != Step::Create || works[start].failed() {
            continue;
        }
        // Walk up the chain of supervisors being created, then place it top-down.
        let mut chain = vec![start];
        on_path[start] = true;
        while let Some(next) = works[*chain.last().unwrap_or(&start)]
            .supervisor()
            .and_then(|supervisor| creates.get(&supervisor).copied())
            .filter(|next| !placed[*next] && !on_path[*next])
        {
            on_path[next] = true;
            chain.push(next);
        }
        for index in chain.into_iter().rev() {
            on_path[index] = false;
            placed[index] = true;
            order.push(index);
        }
    }
    order.extend((0..works.len()).filter(|index| !placed[*index]));
    order
}

/// Whether a work needs a user write at all.
fn writes_user(work: &Work) -> bool {
    !work.failed() && !matches!(work.step, Step::CatchUp | Step::Kept)
}

impl ApplyContext<'_> {
    /// The manager reference of `work`'s write. `batch` names the employees created in the same
    /// batch request (referenced by `bulkId`).
    pub(super) async fn resolve_manager(
        &self,
        work: &Work,
        batch: Option<&HashSet<PersonioId>>,
    ) -> Resolution {
        let Some(target) = &work.target else {
            return Resolution::none();
        };
        match self.plan.managers.desired(&target.profile) {
            Desired::Clear => Resolution::none(),
            Desired::User(id) => Resolution::user(id),
            Desired::CreatedInRun(supervisor) => match self.run_users.get(supervisor) {
                Some(id) => Resolution::user(id),
                None if batch.is_some_and(|batch| batch.contains(&supervisor)) => Resolution {
                    reference: ManagerRef::SameBatch(supervisor.to_string()),
                    link: ManagerLink::Pending { supervisor },
                    awaiting: false,
                },
                None => Resolution::pending(supervisor, true),
            },
            Desired::Unknown(supervisor) => match self.look_up_supervisor(supervisor).await {
                Some(id) => Resolution::user(id),
                None => Resolution::pending(supervisor, false),
            },
        }
    }

    /// The LMS user of a supervisor the links do not know: from the run's listing of the LMS
    /// users when it made one, else asked once per run.
    async fn look_up_supervisor(&self, supervisor: PersonioId) -> Option<LmsUserId> {
        if let Some(id) = self.run_users.get(supervisor) {
            return Some(id);
        }
        if let Some(listed) = self.run_users.listed.get() {
            return listed.get(&supervisor.to_string()).cloned();
        }
        let cell = self.run_users.lookup_cell(supervisor);
        cell.get_or_init(|| async {
            let external_id = supervisor.to_string();
            match self
                .retry("looking up a supervisor", || {
                    self.lms().find_user_by_external_id(&external_id)
                })
                .await
            {
                Ok(found) => found.map(|user| user.id),
                Err(error) => {
                    self.notice(format!(
                        "looking up the LMS user of supervisor (Personio employee {supervisor}) \
                         failed: {error}; the reference is retried in the next run"
                    ));
                    None
                }
            }
        })
        .await
        .clone()
    }

    fn user_write<'w>(&'w self, work: &'w Work, manager: ManagerRef) -> Option<UserWrite<'w>> {
        let target = work.target.as_ref()?;
        let kind = match &work.step {
            Step::Create => WriteKind::Create {
                role: DEFAULT_ROLE.to_owned(),
            },
            Step::Adopt(id) => WriteKind::Update { id: id.clone() },
            Step::Update | Step::Manager => WriteKind::Update {
                id: work.user.clone()?,
            },
            Step::Deactivate | Step::CatchUp | Step::Kept => return None,
        };
        Some(UserWrite {
            kind,
            profile: &target.profile,
            mapping: &self.mapping,
            manager,
        })
    }

    /// A write went through.
    fn wrote(&self, work: &mut Work, user: LmsUserId, resolution: Resolution) {
        if matches!(work.step, Step::Create | Step::Adopt(_))
            && let Some(target) = &work.target
        {
            self.run_users.record(target.personio_id, user.clone());
        }
        work.user = Some(user);
        work.written = true;
        if work.step != Step::Deactivate {
            work.manager = resolution.link;
            work.awaiting_supervisor = resolution.awaiting;
        }
    }

    /// Whether a `Manager` change has nothing to write after all (the reference resolves to
    /// what was written: a supervisor still without an account).
    fn manager_unchanged(work: &Work, resolution: &Resolution) -> bool {
        work.step == Step::Manager
            && work
                .link
                .as_ref()
                .is_some_and(|link| link.manager == resolution.link)
    }

    pub(super) async fn write_users(&self, works: &mut Vec<Work>, features: &LmsFeatures) {
        if self.dry_run() {
            for work in works.iter_mut() {
                work.user = work.user.clone().or_else(|| match &work.step {
                    Step::Adopt(id) => Some(id.clone()),
                    _ => None,
                });
            }
            return;
        }
        for work in works.iter() {
            if let (Step::Adopt(id), Some(target)) = (&work.step, &work.target) {
                self.run_users.record(target.personio_id, id.clone());
            }
        }
        let order = write_order(works);
        let batch_size = features
            .batch_size
            .filter(|size| *size > 1 && self.request.settings.scim.bulk);
        let rest = match batch_size {
            Some(size) => self.write_in_batches(works, &order, size).await,
            None => order,
        };
        self.write_one_by_one(works, rest).await;
    }

    /// Bulk requests of up to `size` writes. Returns the writes left to go one by one (a server
    /// that turned out to have no bulk endpoint, or writes that need a request of their own).
    async fn write_in_batches(
        &self,
        works: &mut [Work],
        order: &[usize],
        size: usize,
    ) -> Vec<usize> {
        let mut single = Vec::new();
        let pending: Vec<usize> = order
            .iter()
            .copied()
            .filter(|i| writes_user(&works[*i]))
            .collect();
        single.extend(order.iter().copied().filter(|i| !writes_user(&works[*i])));
        let mut chunks = pending.chunks(size);
        for chunk in chunks.by_ref() {
            if let Some(reason) = self.stopped() {
                for index in chunk {
                    works[*index].fail(reason.to_owned());
                }
                continue;
            }
            let creating: HashSet<PersonioId> = chunk
                .iter()
                .filter(|index| works[**index].step == Step::Create)
                .filter_map(|index| works[*index].target.as_ref().map(|t| t.personio_id))
                .collect();
            let mut resolutions = Vec::with_capacity(chunk.len());
            for index in chunk {
                resolutions.push(self.resolve_manager(&works[*index], Some(&creating)).await);
            }
            let mut sent = Vec::new();
            for (index, resolution) in chunk.iter().zip(&resolutions) {
                if self.write_of(&works[*index], ManagerRef::None).is_none() {
                    works[*index].fail("nothing to write: no LMS user is known".to_owned());
                    self.applied_one();
                } else if Self::manager_unchanged(&works[*index], resolution) {
                    works[*index].outcome.action = OutcomeAction::Unchanged;
                    works[*index].outcome.reason = None;
                    self.applied_one();
                } else {
                    sent.push((*index, resolution.clone()));
                }
            }
            let results = {
                let writes: Vec<UserWrite<'_>> = sent
                    .iter()
                    .filter_map(|(index, resolution)| {
                        self.write_of(&works[*index], resolution.reference.clone())
                    })
                    .collect();
                self.retry("sending a bulk request", || self.lms().write_batch(&writes))
                    .await
            };
            let results = match results {
                Ok(results) => results,
                Err(error) if error.is_systemic() => {
                    for (index, _) in &sent {
                        works[*index].fail(format!("the LMS refused the bulk request: {error}"));
                    }
                    self.notice(format!("the LMS refused a bulk request: {error}"));
                    continue;
                }
                Err(error) => {
                    tracing::warn!(%error, "a bulk request failed; writing its users one by one");
                    single.extend(sent.iter().map(|(index, _)| *index));
                    single.extend(chunks.flatten().copied());
                    break;
                }
            };
            let failed_creates: HashSet<String> = sent
                .iter()
                .zip(&results)
                .filter(|((index, _), result)| {
                    result.is_err() && works[*index].step == Step::Create
                })
                .filter_map(|((index, _), _)| {
                    works[*index]
                        .target
                        .as_ref()
                        .map(|t| t.personio_id.to_string())
                })
                .collect();
            for ((index, resolution), result) in sent.into_iter().zip(results) {
                let work = &mut works[index];
                match result {
                    Ok(user) => {
                        let resolution = self.settled(resolution);
                        self.wrote(work, user.id, resolution);
                        self.after_write(work).await;
                        self.applied_one();
                    }
                    // The supervisor this write named by bulkId was not created: on its own.
                    Err(_)
                        if matches!(&resolution.reference, ManagerRef::SameBatch(supervisor)
                            if failed_creates.contains(supervisor)) =>
                    {
                        single.push(index)
                    }
                    Err(error) if single_remedy(&work.step, &error) => single.push(index),
                    Err(error) => {
                        self.fail_write(work, error);
                        self.applied_one();
                    }
                }
            }
        }
        // Supervisors before the employees they supervise, as in `order`.
        let position: HashMap<usize, usize> = order
            .iter()
            .enumerate()
            .map(|(at, index)| (*index, at))
            .collect();
        single.sort_by_key(|index| position.get(index).copied().unwrap_or(usize::MAX));
        single.dedup();
        single
    }

    /// A `SameBatch` reference, once its batch is through: the supervisor's id, or pending.
    fn settled(&self, resolution: Resolution) -> Resolution {
        match &resolution.reference {
            ManagerRef::SameBatch(_) => match &resolution.link {
                ManagerLink::Pending { supervisor } => match self.run_users.get(*supervisor) {
                    Some(id) => Resolution::user(id),
                    None => Resolution::pending(*supervisor, true),
                },
                _ => resolution,
            },
            _ => resolution,
        }
    }

    fn deactivation<'w>(&'w self, work: &'w Work) -> UserWrite<'w> {
        // A deactivation carries no profile worth mapping; the empty one is never sent.
        static EMPTY: std::sync::OnceLock<crate::domain::lms::LmsProfile> =
            std::sync::OnceLock::new();
        UserWrite {
            kind: WriteKind::Deactivate {
                id: work.user.clone().unwrap_or(LmsUserId(String::new())),
            },
            profile: EMPTY.get_or_init(Default::default),
            mapping: &self.mapping,
            manager: ManagerRef::None,
        }
    }

    /// The write of one employee, or `None` when it has none.
    fn write_of<'w>(&'w self, work: &'w Work, manager: ManagerRef) -> Option<UserWrite<'w>> {
        match work.step {
            Step::Deactivate => Some(self.deactivation(work)),
            _ => self.user_write(work, manager),
        }
    }

    /// The writes in `indices` (in that order) one request each, `apply_concurrency` at once.
    /// A create whose supervisor is created earlier in the order waits for that create, so the
    /// reference is written with it.
    async fn write_one_by_one(&self, works: &mut Vec<Work>, indices: Vec<usize>) {
        let mut taken: Vec<Option<Work>> = works.drain(..).map(Some).collect();
        let mut announce = HashMap::new();
        let mut listen = HashMap::new();
        for index in &indices {
            if let Some(work) = &taken[*index]
                && work.step == Step::Create
                && let Some(target) = &work.target
            {
                let (sender, receiver) = watch::channel(None::<Option<LmsUserId>>);
                announce.insert(*index, sender);
                listen.insert(target.personio_id, (*index, receiver));
            }
        }
        let position: HashMap<usize, usize> = indices
            .iter()
            .enumerate()
            .map(|(at, index)| (*index, at))
            .collect();
        let jobs: Vec<_> = indices
            .iter()
            .filter_map(|index| {
                let work = taken[*index].take()?;
                let wait = work
                    .supervisor()
                    .and_then(|supervisor| listen.get(&supervisor))
                    .filter(|(supervisor_index, _)| {
                        position.get(supervisor_index) < position.get(index)
                    })
                    .map(|(_, receiver)| receiver.clone());
                Some((*index, work, wait, announce.remove(index)))
            })
            .collect();
        let jobs = jobs
            .into_iter()
            .map(|(index, work, wait, announce)| {
                // One employee's retries count once for the run's LMS breaker.
                async move {
                    let (work, _) = tracking(self.write_single(work, wait, announce)).await;
                    (index, work)
                }
                .boxed()
            })
            .collect();
        let done: Vec<(usize, Work)> =
            bounded(jobs, self.request.settings.apply_concurrency, false).await;
        for (index, work) in done {
            taken[index] = Some(work);
        }
        works.extend(taken.into_iter().flatten());
    }

    async fn write_single(
        &self,
        mut work: Work,
        wait: Option<watch::Receiver<Option<Option<LmsUserId>>>>,
        announce: Option<watch::Sender<Option<Option<LmsUserId>>>>,
    ) -> Work {
        if !writes_user(&work) {
            // Groups and invitations only (phases 5 and 6), a departure not confirmed, or
            // failed before: nothing to write here.
            self.applied_one();
        } else if let Some(reason) = self.stopped() {
            work.fail(reason.to_owned());
        } else {
            if let Some(mut supervisor) = wait {
                // A dropped sender (its create ended without a word) is as good as an answer.
                let _ = supervisor.wait_for(Option::is_some).await;
            }
            let resolution = self.resolve_manager(&work, None).await;
            if Self::manager_unchanged(&work, &resolution) {
                work.outcome.action = OutcomeAction::Unchanged;
                work.outcome.reason = None;
            } else {
                match work.step.clone() {
                    Step::Create => self.create_single(&mut work, resolution).await,
                    Step::Deactivate => self.deactivate_single(&mut work).await,
                    Step::CatchUp | Step::Kept => {}
                    Step::Adopt(_) | Step::Update | Step::Manager => {
                        self.update_single(&mut work, resolution).await
                    }
                }
            }
            self.applied_one();
        }
        if let Some(announce) = announce {
            let _ = announce.send(Some(work.user.clone().filter(|_| work.written)));
        }
        work
    }

    async fn create_single(&self, work: &mut Work, resolution: Resolution) {
        let created = match self.user_write(work, resolution.reference.clone()) {
            Some(write) => {
                self.retry("creating a user", || self.lms().create_user(&write))
                    .await
            }
            None => return,
        };
        match created {
            Ok(user) => {
                self.wrote(work, user.id, resolution);
                self.after_write(work).await;
            }
            Err(LmsError::Conflict { detail }) => {
                Box::pin(self.adopt_or_report(work, resolution, detail)).await
            }
            Err(error) => self.fail_write(work, error),
        }
    }

    async fn update_single(&self, work: &mut Work, resolution: Resolution) {
        let id = match (&work.step, &work.user) {
            (Step::Adopt(id), _) | (_, Some(id)) => id.clone(),
            _ => return work.fail("no LMS user to update".into()),
        };
        let updated = match self.user_write(work, resolution.reference.clone()) {
            Some(write) => {
                self.retry("updating a user", || self.lms().update_user(&id, &write))
                    .await
            }
            None => return,
        };
        match updated {
            Ok(()) => {
                self.wrote(work, id, resolution);
                self.after_write(work).await;
            }
            Err(LmsError::NotFound { .. }) if matches!(work.step, Step::Update | Step::Manager) => {
                Box::pin(self.replace_deleted(work)).await
            }
            Err(error) => self.fail_write(work, error),
        }
    }

    async fn deactivate_single(&self, work: &mut Work) {
        let Some(id) = work.user.clone() else { return };
        match self
            .retry("deactivating a user", || self.lms().deactivate_user(&id))
            .await
        {
            Ok(()) => self.wrote(work, id, Resolution::none()),
            Err(LmsError::NotFound { .. }) => {
                let why = work.outcome.reason.take().unwrap_or_default();
                work.outcome.reason = Some(format!("{why}; the LMS user had already been deleted"));
                self.wrote(work, id, Resolution::none());
            }
            Err(error) => self.fail_write(work, error),
        }
    }

    /// A create refused because the email (userName) is taken: the user holding it is adopted
    /// when nobody else claims it, else the clash is reported with who holds it.
    async fn adopt_or_report(&self, work: &mut Work, resolution: Resolution, detail: String) {
        let Some(target) = work.target.clone() else {
            return;
        };
        let email = &target.profile.email;
        match self
            .retry("looking up a user by email", || {
                self.lms().find_user_by_email(email)
            })
            .await
        {
            Ok(Some(user)) => {
                let foreign = user
                    .external_id
                    .as_deref()
                    .filter(|id| !id.is_empty() && *id != target.profile.external_id);
                if let Some(other) = foreign {
                    return work.fail(format!(
                        "the LMS refused to create the user: the email {email} belongs to LMS \
                         user {} (external id {other}); correct the email in Personio or in the LMS",
                        user.id
                    ));
                }
                self.adopt_if_found(work, Some(user));
                if !work.failed() {
                    self.update_single(work, resolution).await;
                }
            }
            Ok(None) => work.fail(format!(
                "the LMS refused to create the user because the email {email} is taken \
                 ({detail}), but shows no user with it: it may keep deleted accounts (soft \
                 delete). Restore or purge that account in the LMS; the next run links it"
            )),
            Err(error) => work.fail(format!("looking up the LMS user by email failed: {error}")),
        }
    }

    /// The linked user was deleted in the LMS: the employee is still selected, so the account
    /// comes back (adopted if one with the email exists, created otherwise).
    async fn replace_deleted(&self, work: &mut Work) {
        let Some(target) = work.target.clone() else {
            return;
        };
        work.replaced = work.link.clone();
        work.step = Step::Create;
        work.user = None;
        work.outcome.action = OutcomeAction::Created;
        match self
            .look_up(&target.profile.external_id, &target.profile.email)
            .await
        {
            Ok(found) => self.adopt_if_found(work, found),
            Err(reason) => return work.fail(reason),
        }
        if work.failed() {
            return;
        }
        let resolution = self.resolve_manager(work, None).await;
        match work.step {
            Step::Adopt(_) => self.update_single(work, resolution).await,
            _ => self.create_single(work, resolution).await,
        }
        if !work.failed() {
            work.outcome.reason = Some(
                "the linked LMS user no longer existed; the account was set up again".to_owned(),
            );
        }
    }

    /// What a successful write still has to say: an email change the LMS does not take (unless
    /// an LMS admin has made it already).
    async fn after_write(&self, work: &mut Work) {
        let Some(target) = work.target.clone() else {
            return;
        };
        let Some(link) = work.link.clone() else {
            return;
        };
        if self.email_changes_by_hand()
            && work.replaced.is_none()
            && !link.email.eq_ignore_ascii_case(&target.profile.email)
        {
            let holder = self
                .retry("looking up a user by email", || {
                    self.lms().find_user_by_email(&target.profile.email)
                })
                .await;
            if matches!(&holder, Ok(Some(user)) if work.user.as_ref() == Some(&user.id)) {
                return;
            }
            work.keep_old_email = true;
            work.fail(format!(
                "updated, except the email: the LMS keys users by email and takes no email \
                 change over SCIM; change {} to {} in the LMS by hand (reported by every run \
                 until then)",
                link.email, target.profile.email
            ));
        }
    }

    fn fail_write(&self, work: &mut Work, error: LmsError) {
        // A write cut short because the run is stopping (out of time, the LMS breaker) is no
        // failure of the employee: not applied, and the next run finds out whether it landed
        // (by external id) before writing again.
        if let (LmsError::Unavailable { .. }, Some(stopped)) = (&error, self.stopped()) {
            return work.fail(format!(
                "{stopped} (the write in flight was cut short: {error})"
            ));
        }
        let reason = match (&work.step, error) {
            (_, LmsError::ManualStep(step)) => step,
            (Step::Create, error) => format!("creating the LMS user failed: {error}"),
            (Step::Adopt(id), error) => format!("adopting LMS user {id} failed: {error}"),
            (Step::Deactivate, error) => format!("deactivating the LMS user failed: {error}"),
            (_, error) => format!("updating the LMS user failed: {error}"),
        };
        work.fail(reason);
    }

    /// Phase 4: references to supervisors created later in the run than the employee, written
    /// now that the supervisor exists (one update each).
    pub(super) async fn second_pass(&self, works: &mut Vec<Work>, _features: &LmsFeatures) {
        if self.dry_run() {
            return;
        }
        let due: Vec<usize> = works
            .iter()
            .enumerate()
            .filter(|(_, work)| work.written && work.awaiting_supervisor && !work.failed())
            .filter(|(_, work)| {
                work.supervisor()
                    .is_some_and(|supervisor| self.run_users.get(supervisor).is_some())
            })
            .map(|(index, _)| index)
            .collect();
        if due.is_empty() {
            return;
        }
        tracing::info!(employees = due.len(), "second pass over manager references");
        let mut taken: Vec<Option<Work>> = works.drain(..).map(Some).collect();
        let jobs: Vec<(usize, Work)> = due
            .iter()
            .filter_map(|index| Some((*index, taken[*index].take()?)))
            .collect();
        let jobs = jobs
            .into_iter()
            .map(|(index, mut work)| {
                async move {
                    let resolution = self.resolve_manager(&work, None).await;
                    let step = std::mem::replace(&mut work.step, Step::Manager);
                    self.second_write(&mut work, resolution).await;
                    work.step = step;
                    (index, work)
                }
                .boxed()
            })
            .collect();
        let done: Vec<(usize, Work)> =
            bounded(jobs, self.request.settings.apply_concurrency, false).await;
        for (index, work) in done {
            taken[index] = Some(work);
        }
        works.extend(taken.into_iter().flatten());
    }

    async fn second_write(&self, work: &mut Work, resolution: Resolution) {
        let (Some(id), Some(write)) = (
            work.user.clone(),
            self.user_write(work, resolution.reference.clone()),
        ) else {
            return;
        };
        match self
            .retry("writing a manager reference", || {
                self.lms().update_user(&id, &write)
            })
            .await
        {
            Ok(()) => {
                work.manager = resolution.link;
                work.awaiting_supervisor = false;
            }
            Err(error) => self.notice(format!(
                "the manager reference of Personio employee {} could not be written ({error}); \
                 the next run retries it",
                work.outcome
                    .personio_id
                    .map(|id| id.to_string())
                    .unwrap_or_default()
            )),
        }
    }
}

/// Whether a write that failed in a bulk request has a remedy that needs a request of its own.
fn single_remedy(step: &Step, error: &LmsError) -> bool {
    match (step, error) {
        (Step::Create, LmsError::Conflict { .. }) => true,
        (Step::Update | Step::Manager | Step::Deactivate, LmsError::NotFound { .. }) => true,
        // On its own, the adapter can fall back to PUT.
        (_, error) => error.is_retryable() || error.refuses_patch(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lms::{LmsProfile, Manager};
    use crate::sync::plan::PlannedChange;
    use crate::sync::roster::SyncTarget;

    fn create(id: i64, supervisor: Option<i64>) -> Work {
        Work::from_change(
            PlannedChange::Create {
                target: Box::new(SyncTarget {
                    personio_id: PersonioId(id),
                    name: None,
                    profile: LmsProfile {
                        external_id: id.to_string(),
                        manager: supervisor.map(|supervisor| Manager {
                            personio_id: Some(supervisor.to_string()),
                            name: None,
                        }),
                        ..LmsProfile::default()
                    },
                    hash: String::new(),
                    groups: Default::default(),
                    locked: None,
                }),
            },
            false,
        )
    }

    #[test]
    fn supervisors_are_written_before_the_employees_they_supervise() {
        // 4 → 3 → 2 → 1 (1 supervises 2, …), 5 and 6 supervise each other, 7 has an outside one.
        let works = vec![
            create(4, Some(3)),
            create(3, Some(2)),
            create(7, Some(99)),
            create(2, Some(1)),
            create(1, None),
            create(5, Some(6)),
            create(6, Some(5)),
        ];
        let order: Vec<i64> = write_order(&works)
            .into_iter()
            .map(|index| works[index].target.as_ref().unwrap().personio_id.0)
            .collect();
        let at = |id: i64| order.iter().position(|other| *other == id).unwrap();
        assert_eq!(order.len(), 7);
        assert!(at(1) < at(2) && at(2) < at(3) && at(3) < at(4), "{order:?}");
        assert!(order.contains(&5) && order.contains(&6) && order.contains(&7));
    }
}

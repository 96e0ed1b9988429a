//! In-memory learning platform (the demo's LMS and the core's test double).
//!
//! It behaves like the SCIM LMS where the sync can tell: ids it assigns, case-insensitive email
//! lookup, a userName uniqueness check, the role kept from creation, groups that exist only when
//! seeded. Write counters and fault injection let tests prove what the engine wrote and how it
//! copes with failures.

use crate::domain::lms::{LmsGroup, LmsGroupId, LmsProfile, LmsUser, LmsUserId};
use crate::domain::settings::AttributeMapping;
use crate::domain::settings::scim::FieldTargets;
use crate::ports::{
    FieldTarget, LearningPlatform, ListedUser, LmsError, LmsFeatures, ManagerRef, MappingReport,
    UserWrite, WriteKind,
};
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// A user as the in-memory LMS holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryLmsUser {
    pub id: LmsUserId,
    /// The synced fields as last written (a user seeded as "already in the LMS" has its own).
    pub profile: LmsProfile,
    pub role: String,
    pub active: bool,
    /// The manager reference as written (the supervisor's LMS user).
    pub manager: Option<LmsUserId>,
}

impl MemoryLmsUser {
    fn as_lms_user(&self) -> LmsUser {
        LmsUser {
            id: self.id.clone(),
            external_id: Some(self.profile.external_id.clone()).filter(|id| !id.is_empty()),
            email: self.profile.email.clone(),
            active: self.active,
        }
    }
}

/// How many writes of each kind the LMS has accepted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LmsWriteCounts {
    pub creates: u32,
    pub updates: u32,
    pub deactivations: u32,
    /// Memberships added.
    pub group_adds: u32,
    /// Requests that changed memberships (one per `add_group_members` or
    /// `remove_group_members` call).
    pub group_requests: u32,
    /// Batch requests (`write_batch` calls), each carrying several of the writes above.
    pub batches: u32,
    /// Writes (of those above) that went in batches.
    pub batched: u32,
    /// Memberships removed.
    pub group_removes: u32,
}

impl LmsWriteCounts {
    pub fn total(&self) -> u32 {
        self.creates + self.updates + self.deactivations + self.group_adds + self.group_removes
    }

    /// The write requests an LMS would have received: single writes, batches, group requests.
    pub fn requests(&self) -> u32 {
        self.creates + self.updates + self.deactivations - self.batched
            + self.batches
            + self.group_requests
    }
}

/// How many lookups the LMS has answered (to prove per-run caching).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LmsReadCounts {
    pub user_lookups: u32,
    pub group_lookups: u32,
    /// Listing pages of users and groups.
    pub listings: u32,
}

/// A failure injected into writes concerning one email address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LmsFault {
    /// Every write fails with a permanent 400.
    Rejected,
    /// The next `times` writes fail with a retryable "unavailable", then writes succeed.
    Unavailable { times: u32 },
}

/// The whole LMS failing, as a system problem: every call fails the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LmsOutage {
    /// Every call answers 401: the token is wrong or revoked.
    TokenRejected,
    /// No call gets through: the server is down.
    Unreachable,
    /// Every call answers with a redirect elsewhere, which the network policy does not follow.
    Redirected,
}

impl LmsOutage {
    fn error(self) -> LmsError {
        match self {
            Self::TokenRejected => LmsError::Unauthorized {
                status: 401,
                detail: "invalid token (injected outage)".into(),
            },
            Self::Unreachable => LmsError::Unavailable {
                reason: "cannot connect: Connection refused (injected outage)".into(),
                attempts: 3,
            },
            Self::Redirected => LmsError::Refused(
                "it answered HTTP 308 with a redirect to https://elsewhere.example, which is not \
                 followed (injected outage)"
                    .into(),
            ),
        }
    }
}

#[derive(Default)]
struct State {
    users: BTreeMap<LmsUserId, MemoryLmsUser>,
    groups: BTreeMap<LmsGroupId, String>,
    memberships: BTreeSet<(LmsGroupId, LmsUserId)>,
    next_id: u64,
    writes: LmsWriteCounts,
    reads: LmsReadCounts,
    faults: HashMap<String, LmsFault>,
    batch_size: Option<usize>,
    email_changes_by_hand: bool,
    /// Mapped fields this LMS has no place for.
    unsupported: BTreeSet<String>,
    /// Creates answered in reverse order of arrival (see `answer_creates_out_of_order`).
    creates_out_of_order: bool,
    creates_arrived: u64,
    unreachable: bool,
}

impl State {
    fn next_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{:04}", self.next_id)
    }

    fn user_with_email(&self, email: &str) -> Option<&MemoryLmsUser> {
        self.users
            .values()
            .find(|user| user.profile.email.eq_ignore_ascii_case(email))
    }

    fn user(&self, id: &LmsUserId) -> Result<&MemoryLmsUser, LmsError> {
        self.users.get(id).ok_or_else(|| LmsError::NotFound {
            what: format!("user {id}"),
        })
    }

    /// Consumes one injected fault for a write concerning `email`, if there is one.
    fn fault(&mut self, email: &str) -> Result<(), LmsError> {
        let key = email.to_lowercase();
        match self.faults.get_mut(&key) {
            None => Ok(()),
            Some(LmsFault::Rejected) => Err(LmsError::Rejected {
                status: 400,
                detail: format!("invalidValue: the user {email} is refused (injected fault)"),
            }),
            Some(LmsFault::Unavailable { times }) => {
                *times = times.saturating_sub(1);
                if *times == 0 {
                    self.faults.remove(&key);
                }
                Err(LmsError::Unavailable {
                    reason: format!("HTTP 503 for {email} (injected fault)"),
                    attempts: 1,
                })
            }
        }
    }

    fn ensure_email_free(&self, email: &str, except: Option<&LmsUserId>) -> Result<(), LmsError> {
        match self.user_with_email(email) {
            Some(other) if Some(&other.id) != except => Err(LmsError::Conflict {
                detail: format!("userName {email} is already taken by user {}", other.id),
            }),
            _ => Ok(()),
        }
    }
}

#[derive(Default)]
pub struct MemoryLms {
    state: Mutex<State>,
    /// Added to every call, to make runs last like against a real LMS (demo, lease tests).
    latency: Mutex<Duration>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    outage: Mutex<Option<LmsOutage>>,
    /// Calls failed by the outage.
    refused_calls: AtomicUsize,
}

impl MemoryLms {
    pub fn new() -> Self {
        Self::default()
    }

    /// An LMS with these groups already set up.
    pub fn with_groups<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let lms = Self::new();
        for name in names {
            lms.seed_group(name);
        }
        lms
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock (only possible in a failing test) leaves plain data
        // behind that is still consistent enough to inspect.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Creates a group, as an LMS admin would; returns the existing one's id for a known name.
    pub fn seed_group(&self, name: impl Into<String>) -> LmsGroupId {
        let name = name.into();
        let mut state = self.lock();
        if let Some((id, _)) = state.groups.iter().find(|(_, existing)| **existing == name) {
            return id.clone();
        }
        let id = LmsGroupId(state.next_id("group"));
        state.groups.insert(id.clone(), name);
        id
    }

    /// A user created in the LMS by hand (not counted as a sync write).
    pub fn seed_user(&self, profile: LmsProfile, role: &str) -> LmsUserId {
        let mut state = self.lock();
        let id = LmsUserId(state.next_id("user"));
        let user = MemoryLmsUser {
            id: id.clone(),
            active: profile.active,
            profile,
            role: role.to_owned(),
            manager: None,
        };
        state.users.insert(id.clone(), user);
        id
    }

    /// An LMS admin changing a user's role (the sync must never undo it).
    pub fn set_role(&self, id: &LmsUserId, role: &str) -> Result<(), LmsError> {
        let mut state = self.lock();
        let user = state.users.get_mut(id).ok_or_else(|| LmsError::NotFound {
            what: format!("user {id}"),
        })?;
        user.role = role.to_owned();
        Ok(())
    }

    /// An LMS admin deleting a user.
    pub fn remove_user(&self, id: &LmsUserId) -> Option<MemoryLmsUser> {
        let mut state = self.lock();
        state.memberships.retain(|(_, member)| member != id);
        state.users.remove(id)
    }

    /// Injects `fault` into every write concerning `email` (case-insensitive).
    pub fn inject_fault(&self, email: &str, fault: LmsFault) {
        self.lock().faults.insert(email.to_lowercase(), fault);
    }

    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Takes batches of up to `size` writes (`None`: one request per write, the default).
    pub fn set_batch_size(&self, size: Option<usize>) {
        self.lock().batch_size = size;
    }

    /// Keys users by email: an email change is refused as a manual step.
    pub fn set_email_changes_by_hand(&self, by_hand: bool) {
        self.lock().email_changes_by_hand = by_hand;
    }

    /// Mapped fields (`status`, `custom.costCenter`) this LMS has no attribute for.
    pub fn set_unsupported_fields<I: IntoIterator<Item = S>, S: Into<String>>(&self, fields: I) {
        self.lock().unsupported = fields.into_iter().map(Into::into).collect();
    }

    /// Answers creates in reverse order of arrival: create n takes `1000 - n` ms. Under paused
    /// Tokio time this is deterministic: of the creates in flight, the last sent returns first.
    pub fn answer_creates_out_of_order(&self) {
        self.lock().creates_out_of_order = true;
    }

    /// Every call fails as an unreachable LMS would.
    pub fn set_unreachable(&self, unreachable: bool) {
        self.lock().unreachable = unreachable;
    }

    /// An LMS admin editing a user by hand (not a sync write).
    pub fn edit_user(&self, id: &LmsUserId, edit: impl FnOnce(&mut MemoryLmsUser)) {
        if let Some(user) = self.lock().users.get_mut(id) {
            edit(user);
        }
    }

    /// An LMS admin removing a member from a group.
    pub fn remove_member(&self, name: &str, user: &LmsUserId) {
        let mut state = self.lock();
        let group = state
            .groups
            .iter()
            .find(|(_, existing)| *existing == name)
            .map(|(id, _)| id.clone());
        if let Some(group) = group {
            state.memberships.remove(&(group, user.clone()));
        }
    }

    pub fn users(&self) -> Vec<MemoryLmsUser> {
        self.lock().users.values().cloned().collect()
    }

    pub fn user(&self, id: &LmsUserId) -> Option<MemoryLmsUser> {
        self.lock().users.get(id).cloned()
    }

    pub fn user_by_email(&self, email: &str) -> Option<MemoryLmsUser> {
        self.lock().user_with_email(email).cloned()
    }

    /// An LMS admin adding a member by hand (not counted as a sync write).
    pub fn seed_membership(&self, group_name: &str, user: &LmsUserId) -> Option<LmsGroupId> {
        let mut state = self.lock();
        let group = state
            .groups
            .iter()
            .find(|(_, name)| *name == group_name)
            .map(|(id, _)| id.clone())?;
        state.memberships.insert((group.clone(), user.clone()));
        Some(group)
    }

    /// The names of the groups `user` is a member of.
    pub fn groups_of(&self, user: &LmsUserId) -> BTreeSet<String> {
        let state = self.lock();
        state
            .memberships
            .iter()
            .filter(|(_, member)| member == user)
            .filter_map(|(group, _)| state.groups.get(group).cloned())
            .collect()
    }

    /// The members of the group called `name` (empty when there is no such group).
    pub fn members(&self, name: &str) -> BTreeSet<LmsUserId> {
        let state = self.lock();
        state
            .memberships
            .iter()
            .filter(|(group, _)| state.groups.get(group).is_some_and(|n| n == name))
            .map(|(_, member)| member.clone())
            .collect()
    }

    pub fn write_counts(&self) -> LmsWriteCounts {
        self.lock().writes
    }

    pub fn read_counts(&self) -> LmsReadCounts {
        self.lock().reads
    }

    /// Makes every call take at least `latency`.
    pub fn set_latency(&self, latency: Duration) {
        *self
            .latency
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = latency;
    }

    /// Makes every call fail as `outage` says (`None`: the LMS works again).
    pub fn set_outage(&self, outage: Option<LmsOutage>) {
        *self
            .outage
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = outage;
    }

    /// How many calls the outage failed.
    pub fn refused_calls(&self) -> usize {
        self.refused_calls.load(Ordering::SeqCst)
    }

    /// Every call starts here: the latency, then the outage.
    async fn enter(&self) -> Result<(), LmsError> {
        let latency = *self
            .latency
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !latency.is_zero() {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(latency).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
        let outage = *self
            .outage
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match outage {
            Some(outage) => {
                self.refused_calls.fetch_add(1, Ordering::SeqCst);
                Err(outage.error())
            }
            None => Ok(()),
        }
    }

    /// The most calls that were waiting out the latency at the same time (0 without latency).
    pub fn max_concurrent_calls(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }
}

impl MemoryLms {
    fn resolve_manager(
        state: &State,
        manager: &ManagerRef,
        batch: &HashMap<String, LmsUserId>,
    ) -> Option<LmsUserId> {
        match manager {
            ManagerRef::None => None,
            ManagerRef::User(id) => state.users.contains_key(id).then(|| id.clone()),
            ManagerRef::SameBatch(external_id) => batch.get(external_id).cloned(),
        }
    }

    async fn create_in(
        &self,
        write: &UserWrite<'_>,
        role: &str,
        batch: &HashMap<String, LmsUserId>,
    ) -> Result<LmsUser, LmsError> {
        let profile = write.profile;
        let mut state = self.lock();
        state.fault(&profile.email)?;
        state.ensure_email_free(&profile.email, None)?;
        let id = LmsUserId(state.next_id("user"));
        let manager = Self::resolve_manager(&state, &write.manager, batch);
        let user = MemoryLmsUser {
            id: id.clone(),
            profile: profile.clone(),
            role: role.to_owned(),
            active: profile.active,
            manager,
        };
        let answer = user.as_lms_user();
        state.users.insert(id, user);
        state.writes.creates += 1;
        Ok(answer)
    }

    fn update_in(
        &self,
        id: &LmsUserId,
        write: &UserWrite<'_>,
        batch: &HashMap<String, LmsUserId>,
    ) -> Result<(), LmsError> {
        let profile = write.profile;
        let mut state = self.lock();
        let current = state.user(id)?.profile.email.clone();
        state.fault(&profile.email)?;
        // An LMS keyed by email keeps the email it has (as a SCIM server with an immutable
        // userName does); the rest is written.
        let email = if state.email_changes_by_hand {
            current
        } else {
            state.ensure_email_free(&profile.email, Some(id))?;
            profile.email.clone()
        };
        let manager = Self::resolve_manager(&state, &write.manager, batch);
        if let Some(user) = state.users.get_mut(id) {
            user.profile = LmsProfile {
                email,
                ..profile.clone()
            };
            user.active = profile.active;
            user.manager = manager;
        }
        state.writes.updates += 1;
        Ok(())
    }

    fn deactivate_in(&self, id: &LmsUserId) -> Result<(), LmsError> {
        let mut state = self.lock();
        let email = state.user(id)?.profile.email.clone();
        state.fault(&email)?;
        if let Some(user) = state.users.get_mut(id) {
            user.active = false;
            user.profile.active = false;
        }
        state.writes.deactivations += 1;
        Ok(())
    }

    async fn one_write(
        &self,
        write: &UserWrite<'_>,
        batch: &HashMap<String, LmsUserId>,
    ) -> Result<LmsUser, LmsError> {
        let written = |id: &LmsUserId, active| LmsUser {
            id: id.clone(),
            external_id: Some(write.profile.external_id.clone()),
            email: write.profile.email.clone(),
            active,
        };
        match &write.kind {
            WriteKind::Create { role } => self.create_in(write, role, batch).await,
            WriteKind::Update { id } => self
                .update_in(id, write, batch)
                .map(|()| written(id, write.profile.active)),
            WriteKind::Deactivate { id } => self.deactivate_in(id).map(|()| written(id, false)),
        }
    }

    /// A user's synced fields, as a listing shows them.
    fn document_of(user: &MemoryLmsUser) -> serde_json::Value {
        serde_json::json!({
            "profile": user.profile,
            "active": user.active,
            "manager": user.manager,
        })
    }
}

#[async_trait]
impl LearningPlatform for MemoryLms {
    async fn features(&self) -> Result<LmsFeatures, LmsError> {
        let state = self.lock();
        if state.unreachable {
            return Err(LmsError::Unavailable {
                reason: "connection refused (injected)".into(),
                attempts: 3,
            });
        }
        Ok(LmsFeatures {
            batch_size: state.batch_size,
            listing: true,
            page_size: 1000,
            email_changes_by_hand: state.email_changes_by_hand,
        })
    }

    async fn describe_mapping(
        &self,
        mapping: &AttributeMapping,
    ) -> Result<MappingReport, LmsError> {
        let state = self.lock();
        let fields = mapping
            .fields
            .iter()
            .map(|(field, targets)| {
                let name = field.to_string();
                let off = matches!(targets, FieldTargets::Off);
                let supported = !off && !state.unsupported.contains(&name);
                FieldTarget {
                    target: supported.then(|| name.clone()),
                    note: (!supported && !off)
                        .then(|| "the LMS offers no attribute for it".to_owned()),
                    field: name,
                    off,
                }
            })
            .collect();
        Ok(MappingReport {
            fields,
            warnings: Vec::new(),
        })
    }

    async fn find_user_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Option<LmsUser>, LmsError> {
        self.enter().await?;
        let mut state = self.lock();
        state.reads.user_lookups += 1;
        Ok(state
            .users
            .values()
            .find(|user| !external_id.is_empty() && user.profile.external_id == external_id)
            .map(MemoryLmsUser::as_lms_user))
    }

    async fn find_user_by_id(&self, id: &LmsUserId) -> Result<Option<LmsUser>, LmsError> {
        self.enter().await?;
        let mut state = self.lock();
        state.reads.user_lookups += 1;
        Ok(state.users.get(id).map(MemoryLmsUser::as_lms_user))
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<LmsUser>, LmsError> {
        self.enter().await?;
        let mut state = self.lock();
        state.reads.user_lookups += 1;
        Ok(state.user_with_email(email).map(MemoryLmsUser::as_lms_user))
    }

    async fn list_users(
        &self,
        _synced: Option<&AttributeMapping>,
    ) -> Result<Vec<ListedUser>, LmsError> {
        self.enter().await?;
        let mut state = self.lock();
        state.reads.listings += (state.users.len() / 1000) as u32 + 1;
        Ok(state
            .users
            .values()
            .map(|user| ListedUser {
                user: user.as_lms_user(),
                document: Self::document_of(user),
            })
            .collect())
    }

    async fn drift(
        &self,
        listed: &ListedUser,
        write: &UserWrite<'_>,
    ) -> Result<Vec<String>, LmsError> {
        let state = self.lock();
        let manager = Self::resolve_manager(&state, &write.manager, &HashMap::new());
        let wanted = serde_json::to_value(write.profile).unwrap_or_default();
        let current = &listed.document["profile"];
        let mut drifted: Vec<String> = wanted
            .as_object()
            .map(|fields| {
                fields
                    .iter()
                    .filter(|(key, value)| {
                        *key != "manager" && current.get(key.as_str()) != Some(value)
                    })
                    .map(|(key, _)| key.clone())
                    .collect()
            })
            .unwrap_or_default();
        if listed.document["active"] != serde_json::Value::Bool(write.profile.active)
            && !drifted.contains(&"active".to_owned())
        {
            drifted.push("active".into());
        }
        if listed.document["manager"] != serde_json::to_value(&manager).unwrap_or_default() {
            drifted.push("manager".into());
        }
        Ok(drifted)
    }

    async fn create_user(&self, write: &UserWrite<'_>) -> Result<LmsUser, LmsError> {
        let arrival = {
            let mut state = self.lock();
            state.creates_arrived += 1;
            state.creates_out_of_order.then_some(state.creates_arrived)
        };
        match arrival {
            Some(arrival) => {
                tokio::time::sleep(Duration::from_millis(1000u64.saturating_sub(arrival))).await;
            }
            None => self.enter().await?,
        }
        let role = match &write.kind {
            WriteKind::Create { role } => role.clone(),
            _ => return self.one_write(write, &HashMap::new()).await,
        };
        self.create_in(write, &role, &HashMap::new()).await
    }

    async fn update_user(&self, id: &LmsUserId, write: &UserWrite<'_>) -> Result<(), LmsError> {
        self.enter().await?;
        self.update_in(id, write, &HashMap::new())
    }

    async fn deactivate_user(&self, id: &LmsUserId) -> Result<(), LmsError> {
        self.enter().await?;
        self.deactivate_in(id)
    }

    async fn write_batch(
        &self,
        writes: &[UserWrite<'_>],
    ) -> Result<Vec<Result<LmsUser, LmsError>>, LmsError> {
        self.enter().await?;
        let Some(size) = self.lock().batch_size else {
            return Err(LmsError::Rejected {
                status: 501,
                detail: "this LMS takes no batches".into(),
            });
        };
        if writes.len() > size {
            return Err(LmsError::Rejected {
                status: 413,
                detail: format!(
                    "a batch of {} writes is over the limit of {size}",
                    writes.len()
                ),
            });
        }
        let mut created = HashMap::new();
        let mut results = Vec::with_capacity(writes.len());
        for write in writes {
            let result = self.one_write(write, &created).await;
            if let (Ok(user), WriteKind::Create { .. }) = (&result, &write.kind) {
                created.insert(write.profile.external_id.clone(), user.id.clone());
            }
            results.push(result);
        }
        let mut state = self.lock();
        state.writes.batches += 1;
        state.writes.batched += results.iter().filter(|result| result.is_ok()).count() as u32;
        Ok(results)
    }

    async fn find_group(&self, name: &str) -> Result<Option<LmsGroup>, LmsError> {
        self.enter().await?;
        let mut state = self.lock();
        state.reads.group_lookups += 1;
        Ok(state
            .groups
            .iter()
            .find(|(_, existing)| *existing == name)
            .map(|(id, name)| LmsGroup {
                id: id.clone(),
                name: name.clone(),
            }))
    }

    async fn list_groups(&self) -> Result<Option<Vec<LmsGroup>>, LmsError> {
        self.enter().await?;
        let mut state = self.lock();
        state.reads.listings += 1;
        Ok(Some(
            state
                .groups
                .iter()
                .map(|(id, name)| LmsGroup {
                    id: id.clone(),
                    name: name.clone(),
                })
                .collect(),
        ))
    }

    async fn add_group_members(
        &self,
        group: &LmsGroupId,
        users: &[LmsUserId],
    ) -> Result<(), LmsError> {
        self.enter().await?;
        let mut state = self.lock();
        if !state.groups.contains_key(group) {
            return Err(LmsError::NotFound {
                what: format!("group {group}"),
            });
        }
        for user in users {
            let email = state.user(user)?.profile.email.clone();
            state.fault(&email)?;
        }
        for user in users {
            if state.memberships.insert((group.clone(), user.clone())) {
                state.writes.group_adds += 1;
            }
        }
        state.writes.group_requests += 1;
        Ok(())
    }

    async fn remove_group_members(
        &self,
        group: &LmsGroupId,
        users: &[LmsUserId],
    ) -> Result<(), LmsError> {
        self.enter().await?;
        let mut state = self.lock();
        if !state.groups.contains_key(group) {
            return Err(LmsError::NotFound {
                what: format!("group {group}"),
            });
        }
        for user in users {
            if let Ok(member) = state.user(user) {
                let email = member.profile.email.clone();
                state.fault(&email)?;
            }
        }
        for user in users {
            if state.memberships.remove(&(group.clone(), user.clone())) {
                state.writes.group_removes += 1;
            }
        }
        state.writes.group_requests += 1;
        Ok(())
    }

    async fn group_members(&self, group: &LmsGroupId) -> Result<BTreeSet<LmsUserId>, LmsError> {
        self.enter().await?;
        let mut state = self.lock();
        state.reads.group_lookups += 1;
        if !state.groups.contains_key(group) {
            return Err(LmsError::NotFound {
                what: format!("group {group}"),
            });
        }
        Ok(state
            .memberships
            .iter()
            .filter(|(member_of, _)| member_of == group)
            .map(|(_, user)| user.clone())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::settings::ScimSettings;

    fn mapping() -> AttributeMapping {
        AttributeMapping::new(&ScimSettings::default(), &[]).expect("the default mapping")
    }

    async fn create(lms: &MemoryLms, profile: &LmsProfile) -> Result<LmsUser, LmsError> {
        let mapping = mapping();
        lms.create_user(&UserWrite {
            kind: WriteKind::Create {
                role: "User".into(),
            },
            profile,
            mapping: &mapping,
            manager: ManagerRef::None,
        })
        .await
    }

    async fn update(lms: &MemoryLms, id: &LmsUserId, profile: &LmsProfile) -> Result<(), LmsError> {
        let mapping = mapping();
        lms.update_user(
            id,
            &UserWrite {
                kind: WriteKind::Update { id: id.clone() },
                profile,
                mapping: &mapping,
                manager: ManagerRef::None,
            },
        )
        .await
    }

    fn profile(external_id: &str, email: &str) -> LmsProfile {
        LmsProfile {
            external_id: external_id.into(),
            email: email.into(),
            status: "Active".into(),
            active: true,
            ..LmsProfile::default()
        }
    }

    #[tokio::test]
    async fn users_are_found_by_external_id_and_email_case_insensitively() {
        let lms = MemoryLms::new();
        let created = create(&lms, &profile("1", "Ann@Example.com"))
            .await
            .unwrap();
        let by_email = lms.find_user_by_email("ann@EXAMPLE.com").await.unwrap();
        assert_eq!(by_email.as_ref().map(|u| &u.id), Some(&created.id));
        let by_external = lms.find_user_by_external_id("1").await.unwrap();
        assert_eq!(by_external, by_email);
        assert_eq!(lms.find_user_by_external_id("").await.unwrap(), None);
        assert_eq!(lms.user(&created.id).unwrap().role, "User");
    }

    #[tokio::test]
    async fn email_uniqueness_is_enforced() {
        let lms = MemoryLms::new();
        create(&lms, &profile("1", "a@example.com")).await.unwrap();
        let second = create(&lms, &profile("2", "b@example.com")).await.unwrap();
        assert!(matches!(
            create(&lms, &profile("3", "A@example.com")).await,
            Err(LmsError::Conflict { .. })
        ));
        assert!(matches!(
            update(&lms, &second.id, &profile("2", "a@example.com")).await,
            Err(LmsError::Conflict { .. })
        ));
        assert_eq!(lms.write_counts().creates, 2);
        assert_eq!(lms.write_counts().updates, 0);
    }

    #[tokio::test]
    async fn updates_keep_the_role_and_deactivation_keeps_the_user() {
        let lms = MemoryLms::new();
        let user = create(&lms, &profile("1", "a@example.com")).await.unwrap();
        lms.set_role(&user.id, "Admin").unwrap();
        let mut changed = profile("1", "a@example.com");
        changed.title = Some("Lead".into());
        update(&lms, &user.id, &changed).await.unwrap();
        lms.deactivate_user(&user.id).await.unwrap();
        let stored = lms.user(&user.id).unwrap();
        assert_eq!(stored.role, "Admin");
        assert_eq!(stored.profile.title.as_deref(), Some("Lead"));
        assert!(!stored.active);
        assert_eq!(
            lms.write_counts(),
            LmsWriteCounts {
                creates: 1,
                updates: 1,
                deactivations: 1,
                ..LmsWriteCounts::default()
            }
        );
    }

    #[tokio::test]
    async fn groups_exist_only_when_seeded_and_adds_are_idempotent() {
        let lms = MemoryLms::with_groups(["Sales"]);
        assert_eq!(lms.find_group("Marketing").await.unwrap(), None);
        assert_eq!(lms.find_group("sales").await.unwrap(), None);
        let group = lms.find_group("Sales").await.unwrap().unwrap();
        let user = create(&lms, &profile("1", "a@example.com")).await.unwrap();
        lms.add_group_member(&group.id, &user.id).await.unwrap();
        lms.add_group_member(&group.id, &user.id).await.unwrap();
        assert_eq!(lms.members("Sales"), BTreeSet::from([user.id.clone()]));
        assert_eq!(
            lms.groups_of(&user.id),
            BTreeSet::from(["Sales".to_owned()])
        );
        assert_eq!(lms.write_counts().group_adds, 1);
        lms.remove_group_member(&group.id, &user.id).await.unwrap();
        lms.remove_group_member(&group.id, &user.id).await.unwrap();
        assert!(lms.members("Sales").is_empty());
        assert_eq!(lms.write_counts().group_removes, 1);
        let missing = LmsGroupId("group-404".into());
        assert!(matches!(
            lms.remove_group_member(&missing, &user.id).await,
            Err(LmsError::NotFound { .. })
        ));
    }

    #[tokio::test]
    async fn injected_faults_hit_the_given_email_only() {
        let lms = MemoryLms::new();
        lms.inject_fault("bad@example.com", LmsFault::Rejected);
        lms.inject_fault("flaky@example.com", LmsFault::Unavailable { times: 2 });
        let rejected = create(&lms, &profile("1", "BAD@example.com"))
            .await
            .unwrap_err();
        assert!(!rejected.is_retryable());
        for _ in 0..2 {
            let error = create(&lms, &profile("2", "flaky@example.com"))
                .await
                .unwrap_err();
            assert!(error.is_retryable());
        }
        create(&lms, &profile("2", "flaky@example.com"))
            .await
            .unwrap();
        create(&lms, &profile("3", "good@example.com"))
            .await
            .unwrap();
        assert_eq!(lms.write_counts().creates, 2);
    }
}

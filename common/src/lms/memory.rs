//! In-memory learning platform (the demo's LMS and the core's test double).
//!
//! It behaves like the SCIM LMS where the sync can tell: ids it assigns, case-insensitive email
//! lookup, a userName uniqueness check, the role kept from creation, groups that exist only when
//! seeded. Write counters and fault injection let tests prove what the engine wrote and how it
//! copes with failures.

use crate::domain::lms::{LmsGroup, LmsGroupId, LmsProfile, LmsUser, LmsUserId};
use crate::ports::{LearningPlatform, LmsError};
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
    pub group_adds: u32,
    pub group_removes: u32,
}

impl LmsWriteCounts {
    pub fn total(&self) -> u32 {
        self.creates + self.updates + self.deactivations + self.group_adds + self.group_removes
    }
}

/// How many lookups the LMS has answered (to prove per-run caching).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LmsReadCounts {
    pub user_lookups: u32,
    pub group_lookups: u32,
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

#[async_trait]
impl LearningPlatform for MemoryLms {
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

    async fn create_user(&self, profile: &LmsProfile, role: &str) -> Result<LmsUser, LmsError> {
        self.enter().await?;
        let mut state = self.lock();
        state.fault(&profile.email)?;
        state.ensure_email_free(&profile.email, None)?;
        let id = LmsUserId(state.next_id("user"));
        let user = MemoryLmsUser {
            id: id.clone(),
            profile: profile.clone(),
            role: role.to_owned(),
            active: profile.active,
        };
        let answer = user.as_lms_user();
        state.users.insert(id, user);
        state.writes.creates += 1;
        Ok(answer)
    }

    async fn update_user(&self, id: &LmsUserId, profile: &LmsProfile) -> Result<(), LmsError> {
        self.enter().await?;
        let mut state = self.lock();
        state.user(id)?;
        state.fault(&profile.email)?;
        state.ensure_email_free(&profile.email, Some(id))?;
        if let Some(user) = state.users.get_mut(id) {
            user.profile = profile.clone();
            user.active = profile.active;
        }
        state.writes.updates += 1;
        Ok(())
    }

    async fn deactivate_user(&self, id: &LmsUserId) -> Result<(), LmsError> {
        self.enter().await?;
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

    async fn add_group_member(&self, group: &LmsGroupId, user: &LmsUserId) -> Result<(), LmsError> {
        self.enter().await?;
        let mut state = self.lock();
        if !state.groups.contains_key(group) {
            return Err(LmsError::NotFound {
                what: format!("group {group}"),
            });
        }
        let email = state.user(user)?.profile.email.clone();
        state.fault(&email)?;
        if state.memberships.insert((group.clone(), user.clone())) {
            state.writes.group_adds += 1;
        }
        Ok(())
    }

    async fn remove_group_member(
        &self,
        group: &LmsGroupId,
        user: &LmsUserId,
    ) -> Result<(), LmsError> {
        self.enter().await?;
        let mut state = self.lock();
        if !state.groups.contains_key(group) {
            return Err(LmsError::NotFound {
                what: format!("group {group}"),
            });
        }
        if let Ok(member) = state.user(user) {
            let email = member.profile.email.clone();
            state.fault(&email)?;
        }
        if state.memberships.remove(&(group.clone(), user.clone())) {
            state.writes.group_removes += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let created = lms
            .create_user(&profile("1", "Ann@Example.com"), "User")
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
        lms.create_user(&profile("1", "a@example.com"), "User")
            .await
            .unwrap();
        let second = lms
            .create_user(&profile("2", "b@example.com"), "User")
            .await
            .unwrap();
        assert!(matches!(
            lms.create_user(&profile("3", "A@example.com"), "User")
                .await,
            Err(LmsError::Conflict { .. })
        ));
        assert!(matches!(
            lms.update_user(&second.id, &profile("2", "a@example.com"))
                .await,
            Err(LmsError::Conflict { .. })
        ));
        assert_eq!(lms.write_counts().creates, 2);
        assert_eq!(lms.write_counts().updates, 0);
    }

    #[tokio::test]
    async fn updates_keep_the_role_and_deactivation_keeps_the_user() {
        let lms = MemoryLms::new();
        let user = lms
            .create_user(&profile("1", "a@example.com"), "User")
            .await
            .unwrap();
        lms.set_role(&user.id, "Admin").unwrap();
        let mut changed = profile("1", "a@example.com");
        changed.title = Some("Lead".into());
        lms.update_user(&user.id, &changed).await.unwrap();
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
                group_adds: 0,
                group_removes: 0,
            }
        );
    }

    #[tokio::test]
    async fn groups_exist_only_when_seeded_and_adds_are_idempotent() {
        let lms = MemoryLms::with_groups(["Sales"]);
        assert_eq!(lms.find_group("Marketing").await.unwrap(), None);
        assert_eq!(lms.find_group("sales").await.unwrap(), None);
        let group = lms.find_group("Sales").await.unwrap().unwrap();
        let user = lms
            .create_user(&profile("1", "a@example.com"), "User")
            .await
            .unwrap();
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
        let rejected = lms
            .create_user(&profile("1", "BAD@example.com"), "User")
            .await
            .unwrap_err();
        assert!(!rejected.is_retryable());
        for _ in 0..2 {
            let error = lms
                .create_user(&profile("2", "flaky@example.com"), "User")
                .await
                .unwrap_err();
            assert!(error.is_retryable());
        }
        lms.create_user(&profile("2", "flaky@example.com"), "User")
            .await
            .unwrap();
        lms.create_user(&profile("3", "good@example.com"), "User")
            .await
            .unwrap();
        assert_eq!(lms.write_counts().creates, 2);
    }
}

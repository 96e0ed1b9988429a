use crate::domain::lms::{LmsGroup, LmsGroupId, LmsProfile, LmsUser, LmsUserId};
use crate::domain::run::RequestCounts;
use crate::domain::settings::AttributeMapping;
use async_trait::async_trait;
use serde::Serialize;
use std::collections::BTreeSet;

/// The supervisor reference a write carries, as the engine resolved it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManagerRef {
    /// No manager: the employee has no supervisor, or the reference is cleared.
    None,
    /// The supervisor's LMS user.
    User(LmsUserId),
    /// The supervisor is created by an earlier write of the same batch (by Personio id):
    /// a bulk request references it by `bulkId`.
    SameBatch(String),
}

/// What one user write does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteKind {
    /// A new user with `role` (the role is sent here only, never on update).
    Create { role: String },
    /// Overwrites the synced fields of an existing user, and only those.
    Update { id: LmsUserId },
    /// Sets `active` to false and nothing else.
    Deactivate { id: LmsUserId },
}

/// One user write: the profile, where its fields go, the resolved manager.
#[derive(Clone, Debug)]
pub struct UserWrite<'a> {
    pub kind: WriteKind,
    pub profile: &'a LmsProfile,
    pub mapping: &'a AttributeMapping,
    pub manager: ManagerRef,
}

/// A user as listed, with its synced attributes for a comparison (`drift`).
#[derive(Clone, Debug, PartialEq)]
pub struct ListedUser {
    pub user: LmsUser,
    /// The resource as the LMS answered it (projected to the synced attributes).
    pub document: serde_json::Value,
}

/// What the LMS lets the engine do beyond one request per write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LmsFeatures {
    /// Writes per batch request (`write_batch`), when the LMS takes batches.
    pub batch_size: Option<usize>,
    /// Whether reading every user in pages is possible (`list_users`).
    pub listing: bool,
    /// Results per listing page.
    pub page_size: usize,
    /// The LMS keys users by email and takes no email change from a client: a changed email
    /// has to be changed in the LMS by hand.
    pub email_changes_by_hand: bool,
}

/// Where one mapped field goes on this LMS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldTarget {
    /// `title`, `custom.costCenter`.
    pub field: String,
    /// The attribute path written, or `None` when the field has nowhere to go.
    pub target: Option<String>,
    /// Why a field goes nowhere (or a remark about where it goes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The settings send it nowhere on purpose (`""`): not a warning.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub off: bool,
}

/// The mapping as this LMS can take it, and what the LMS said about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MappingReport {
    pub fields: Vec<FieldTarget>,
    /// Remarks about the server (no `/Schemas`, defaults assumed, …).
    pub warnings: Vec<String>,
}

impl MappingReport {
    /// The fields with nowhere to go that the settings want sent.
    pub fn dropped(&self) -> impl Iterator<Item = &FieldTarget> {
        self.fields
            .iter()
            .filter(|field| field.target.is_none() && !field.off)
    }
}

/// The learning platform: users and groups.
#[async_trait]
pub trait LearningPlatform: Send + Sync {
    /// What the LMS supports beyond single writes.
    async fn features(&self) -> Result<LmsFeatures, LmsError>;

    /// Where each mapped field goes on this LMS.
    async fn describe_mapping(&self, mapping: &AttributeMapping)
    -> Result<MappingReport, LmsError>;

    async fn find_user_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Option<LmsUser>, LmsError>;

    /// The user with the LMS's own id (`None` when the LMS has none): how the certificate push
    /// tells an LMS user that exists but is not synced yet from an id that names nobody.
    async fn find_user_by_id(&self, id: &LmsUserId) -> Result<Option<LmsUser>, LmsError>;

    /// Case-insensitive match on the user's email / userName.
    async fn find_user_by_email(&self, email: &str) -> Result<Option<LmsUser>, LmsError>;

    /// Every user, page by page. With `synced` the synced attributes of the mapping are read
    /// too (for `drift`); without, only what identifies a user.
    async fn list_users(
        &self,
        synced: Option<&AttributeMapping>,
    ) -> Result<Vec<ListedUser>, LmsError>;

    /// The names of the synced fields of `listed` that differ from what `write` would write.
    async fn drift(
        &self,
        listed: &ListedUser,
        write: &UserWrite<'_>,
    ) -> Result<Vec<String>, LmsError>;

    /// Creates a user (`WriteKind::Create`). A create of a user that exists already with the
    /// same external id returns that user, brought up to date.
    async fn create_user(&self, write: &UserWrite<'_>) -> Result<LmsUser, LmsError>;

    /// An update (also used to adopt an existing user, and for an email change: the id stays).
    async fn update_user(&self, id: &LmsUserId, write: &UserWrite<'_>) -> Result<(), LmsError>;

    /// Deactivates a user (never deletes).
    async fn deactivate_user(&self, id: &LmsUserId) -> Result<(), LmsError>;

    /// Several writes in one request where the LMS takes batches (`features().batch_size`), in
    /// order: a write may reference a user created by an earlier one (`ManagerRef::SameBatch`).
    /// One result per write; `Err` when the request failed as a whole.
    async fn write_batch(
        &self,
        writes: &[UserWrite<'_>],
    ) -> Result<Vec<Result<LmsUser, LmsError>>, LmsError>;

    /// The existing group whose name is exactly `name`; groups are never created by the sync.
    async fn find_group(&self, name: &str) -> Result<Option<LmsGroup>, LmsError>;

    /// Every group (names and ids only), or `None` when the LMS cannot list them.
    async fn list_groups(&self) -> Result<Option<Vec<LmsGroup>>, LmsError>;

    /// The requests this adapter has sent so far, by kind (a run reads it before and after and
    /// records the difference). An adapter that sends no HTTP requests answers zeros.
    fn request_counts(&self) -> RequestCounts {
        RequestCounts::default()
    }

    /// Adds members in one request (idempotent; the engine chunks).
    async fn add_group_members(
        &self,
        group: &LmsGroupId,
        users: &[LmsUserId],
    ) -> Result<(), LmsError>;

    /// Adds one member.
    async fn add_group_member(&self, group: &LmsGroupId, user: &LmsUserId) -> Result<(), LmsError> {
        self.add_group_members(group, std::slice::from_ref(user))
            .await
    }

    /// Removes members in one request (idempotent: a user who is not a member is no error; the
    /// engine chunks). The sync only removes memberships it added itself, and only when
    /// `groups.remove_when_moved` is on.
    async fn remove_group_members(
        &self,
        group: &LmsGroupId,
        users: &[LmsUserId],
    ) -> Result<(), LmsError>;

    /// Removes one member.
    async fn remove_group_member(
        &self,
        group: &LmsGroupId,
        user: &LmsUserId,
    ) -> Result<(), LmsError> {
        self.remove_group_members(group, std::slice::from_ref(user))
            .await
    }

    /// The members of a group.
    async fn group_members(&self, group: &LmsGroupId) -> Result<BTreeSet<LmsUserId>, LmsError>;
}

#[derive(Debug, thiserror::Error)]
pub enum LmsError {
    #[error("the learning platform has no {what}")]
    NotFound { what: String },
    /// A uniqueness clash (SCIM 409 `uniqueness`), e.g. the userName is taken by another user.
    #[error("the learning platform refused a duplicate: {detail}")]
    Conflict { detail: String },
    /// 401 or 403: the token is wrong, expired or lacks the rights the sync needs.
    #[error("the learning platform rejected the token (HTTP {status}): {detail}")]
    Unauthorized { status: u16, detail: String },
    /// A 4xx the request will keep getting (SCIM `invalidValue`, `mutability`, …).
    #[error("the learning platform refused the request (HTTP {status}): {detail}")]
    Rejected { status: u16, detail: String },
    /// 429/5xx/timeouts/transport errors that outlasted the retries or the deadline.
    #[error("the learning platform is unavailable: {reason} (after {attempts} attempts)")]
    Unavailable { reason: String, attempts: u32 },
    #[error("the learning platform sent a malformed response: {0}")]
    Malformed(String),
    /// The LMS's address is one this host does not connect to (a redirect elsewhere, an
    /// internal address): permanent until an admin changes the base URL.
    #[error("not connecting to the learning platform: {0}")]
    Refused(String),
    /// Something the LMS does not take over its API and an admin has to do by hand there.
    #[error("{0}")]
    ManualStep(String),
}

impl LmsError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Malformed(_))
    }

    /// The server does not take the update as sent: the PATCH method (405/501), or the
    /// filtered paths and operation shapes of RFC 7644 §3.5.2 (`invalidPath`, `noTarget`,
    /// `invalidSyntax`). Worth one try with PUT.
    pub fn refuses_patch(&self) -> bool {
        match self {
            Self::Rejected {
                status: 405 | 501, ..
            } => true,
            Self::Rejected {
                status: 400,
                detail,
            } => ["invalidPath", "noTarget", "invalidSyntax"]
                .iter()
                .any(|scim_type| detail.starts_with(scim_type)),
            _ => false,
        }
    }

    /// A problem of the whole LMS connection rather than of one user: the run stops writing.
    pub fn is_systemic(&self) -> bool {
        matches!(self, Self::Unauthorized { .. })
    }
}

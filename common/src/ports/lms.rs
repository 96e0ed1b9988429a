use crate::domain::lms::{LmsGroup, LmsGroupId, LmsProfile, LmsUser, LmsUserId};
use crate::domain::run::RequestCounts;
use async_trait::async_trait;

/// The learning platform: users and groups.
#[async_trait]
pub trait LearningPlatform: Send + Sync {
    async fn find_user_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Option<LmsUser>, LmsError>;

    /// The user with the LMS's own id (`None` when the LMS has none): how the certificate push
    /// tells an LMS user that exists but is not synced yet from an id that names nobody.
    async fn find_user_by_id(&self, id: &LmsUserId) -> Result<Option<LmsUser>, LmsError>;

    /// Case-insensitive match on the user's email / userName.
    async fn find_user_by_email(&self, email: &str) -> Result<Option<LmsUser>, LmsError>;

    /// Creates a user with `role` (only ever sent here, never on update).
    async fn create_user(&self, profile: &LmsProfile, role: &str) -> Result<LmsUser, LmsError>;

    /// Overwrites the synced fields of an existing user, and only those (also used to adopt an
    /// existing user found by email, and for an email change: the id stays the same).
    async fn update_user(&self, id: &LmsUserId, profile: &LmsProfile) -> Result<(), LmsError>;

    /// Deactivates a user (never deletes).
    async fn deactivate_user(&self, id: &LmsUserId) -> Result<(), LmsError>;

    /// The existing group whose name is exactly `name`; groups are never created by the sync.
    async fn find_group(&self, name: &str) -> Result<Option<LmsGroup>, LmsError>;

    /// Adds a member (idempotent).
    async fn add_group_member(&self, group: &LmsGroupId, user: &LmsUserId) -> Result<(), LmsError>;

    /// The requests this adapter has sent so far, by kind (a run reads it before and after and
    /// records the difference). An adapter that sends no HTTP requests answers zeros.
    fn request_counts(&self) -> RequestCounts {
        RequestCounts::default()
    }
    /// Removes a member (idempotent: a user who is not a member is no error). The sync only
    /// removes memberships it added itself, and only when `groups.remove_when_moved` is on.
    async fn remove_group_member(
        &self,
        group: &LmsGroupId,
        user: &LmsUserId,
    ) -> Result<(), LmsError>;
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
}

impl LmsError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Malformed(_))
    }
}

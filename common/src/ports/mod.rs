//! The narrow traits through which the core talks to the world. Adapters implement them; hosts
//! pick the adapters. Every error type says whether retrying can help (`is_retryable`).

mod audit;
mod credentials;
mod hr;
mod hr_webhooks;
mod lms;
mod notifier;
mod queue;
mod store;
mod webhook_tokens;

pub use audit::{AuditLog, AuditQuery};
pub use credentials::{Credentials, CredentialsError, CredentialsStore, IntegrationCredentials};
pub use hr::{
    DocumentCategory, DocumentUpload, EmployeeQuery, ExistingDocument, HrError, HrSource,
    MAX_DOCUMENT_BYTES, MAX_DOCUMENT_TITLE_CHARS, UploadedDocument,
};
pub use hr_webhooks::{
    HrWebhooks, RegisteredWebhook, SUBSCRIBED_EVENTS, WebhookDelivery, WebhookRegistration,
};
pub use lms::{
    FieldTarget, LearningPlatform, ListedUser, LmsError, LmsFeatures, ManagerRef, MappingReport,
    UserWrite, WriteKind,
};
pub use notifier::{Notifier, NotifyError, OutgoingEmail};
pub use queue::{JobQueue, QueueError, QueueMessage, content_dedup_id};
pub use store::{
    CertificateLedger, CertificateStore, IntegrationStore, Lease, LeaseOutcome, LeaseStore,
    LinkStore, RunStore, StateStore, StoreError, SyncStore,
};
pub use webhook_tokens::{MemoryWebhookTokens, WebhookTokens};

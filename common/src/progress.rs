//! Progress nobody watches. The sync run and the certificate push each tell an observer how far
//! they are (`SyncProgress`, `PushProgress`; the CLI draws bars from them); a host that shows no
//! progress hands them this.

/// The observer of every engine's progress that does nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

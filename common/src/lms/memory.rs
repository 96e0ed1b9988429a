//! In-memory learning platform (the demo's LMS and the core's test double).

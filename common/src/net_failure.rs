//! An HTTP exchange that got no usable answer, told apart once for both HTTP adapters (Personio,
//! SCIM): it timed out, could not connect, broke off, or its body could not be read whole. And how
//! long a server that cannot be reached is worth trying, so that both adapters give up on a dead
//! server equally fast.

/// Attempts of one call that may find the server unreachable (connection refused, no route, timed
/// out) in a row before the call gives up. A restart blip is ridden out; a server that is down is
/// reported after a few seconds when it refuses connections, instead of after the whole backoff.
pub const UNREACHABLE_ATTEMPTS: u32 = 3;

/// Why an exchange brought no answer to act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoAnswer {
    /// No answer within the request's timeout.
    TimedOut,
    /// No connection: the request never left (refused, no route, DNS, TLS handshake).
    CannotConnect(String),
    /// The connection broke after the request may have been sent.
    ConnectionLost(String),
    /// An answer came, but its body could not be read whole.
    Body(String),
}

impl NoAnswer {
    /// Classifies a `reqwest` error. URLs are left out: a query string can hold an email address.
    pub fn of(error: reqwest::Error) -> Self {
        let error = error.without_url();
        if error.is_timeout() {
            Self::TimedOut
        } else if error.is_connect() {
            Self::CannotConnect(innermost_cause(&error))
        } else if error.is_body() || error.is_decode() {
            Self::Body(error_chain(&error))
        } else {
            Self::ConnectionLost(error_chain(&error))
        }
    }

    /// Whether this attempt says the server cannot be reached at all (as opposed to a broken
    /// answer from a server that is there).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::TimedOut | Self::CannotConnect(_))
    }

    /// Whether the server cannot have acted on the request.
    pub fn request_never_left(&self) -> bool {
        matches!(self, Self::CannotConnect(_))
    }

    pub fn describe(&self) -> String {
        match self {
            Self::TimedOut => "the request timed out".to_owned(),
            Self::CannotConnect(reason) => format!("cannot connect: {reason}"),
            Self::ConnectionLost(reason) => format!("connection failed: {reason}"),
            Self::Body(reason) => format!("incomplete or unreadable answer: {reason}"),
        }
    }
}

/// Counts one call's attempts that found the server unreachable in a row.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reachability {
    unreachable_in_a_row: u32,
}

impl Reachability {
    /// Notes an attempt's result; `true` when the call should give up now because the server
    /// was unreachable [`UNREACHABLE_ATTEMPTS`] times in a row.
    pub fn give_up_after(&mut self, failure: Option<&NoAnswer>) -> bool {
        match failure {
            Some(failure) if failure.is_unreachable() => {
                self.unreachable_in_a_row += 1;
                self.unreachable_in_a_row >= UNREACHABLE_ATTEMPTS
            }
            _ => {
                self.unreachable_in_a_row = 0;
                false
            }
        }
    }
}

/// The error and its causes in one line (reqwest's own message hides the cause).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The deepest cause, which names what happened ("Connection refused (os error 111)") where the
/// outer layers only say that a request failed.
fn innermost_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut deepest: &(dyn std::error::Error + 'static) = error;
    while let Some(cause) = deepest.source() {
        deepest = cause;
    }
    deepest.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_refused_connection_cannot_connect_and_names_the_refusal() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let error = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/x?email=ada@example.com"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .expect_err("nothing listens");
        let failure = NoAnswer::of(error);
        assert!(failure.is_unreachable() && failure.request_never_left());
        let text = failure.describe();
        assert!(text.to_lowercase().contains("refused"), "{text}");
        assert!(!text.contains("ada@example.com"), "{text}");
    }

    #[test]
    fn three_unreachable_attempts_in_a_row_give_up_and_an_answer_resets_the_count() {
        let mut reachability = Reachability::default();
        let refused = NoAnswer::CannotConnect("refused".into());
        assert!(!reachability.give_up_after(Some(&refused)));
        assert!(!reachability.give_up_after(Some(&NoAnswer::TimedOut)));
        assert!(!reachability.give_up_after(None), "an answer came");
        assert!(!reachability.give_up_after(Some(&refused)));
        assert!(!reachability.give_up_after(Some(&NoAnswer::Body("cut".into()))));
        assert!(!reachability.give_up_after(Some(&refused)));
        assert!(!reachability.give_up_after(Some(&refused)));
        assert!(reachability.give_up_after(Some(&refused)));
    }
}

//! Asking before something large and hard to undo: on a terminal the user answers; without one
//! nothing waits for an answer that cannot come, the command stops and names the flag that skips
//! the question.

use crate::error::CliError;
use std::io::{BufRead, IsTerminal, Write};

/// Asks `question` on a terminal (stderr for the question, stdin for the answer); `Ok` only for
/// yes. Without a terminal, or on any other answer, an error naming `flag`.
pub fn confirm(question: &str, flag: &str) -> Result<(), CliError> {
    let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !terminal {
        return Err(CliError::Input(format!(
            "{question} — there is no terminal to ask on; run again with {flag} to go ahead"
        )));
    }
    let mut stderr = std::io::stderr();
    let _ = write!(stderr, "{question} Continue? [y/N] ");
    let _ = stderr.flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|error| CliError::Input(format!("no answer: {error}")))?;
    if is_yes(&answer) {
        Ok(())
    } else {
        Err(CliError::Input(format!(
            "stopped: nothing was done (answer y, or run with {flag})"
        )))
    }
}

fn is_yes(answer: &str) -> bool {
    matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes" | "j" | "ja"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_yes_goes_ahead() {
        assert!(is_yes("y\n") && is_yes(" Yes ") && is_yes("ja"));
        assert!(!is_yes("") && !is_yes("n") && !is_yes("yess"));
    }
}

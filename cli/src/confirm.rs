//! Asking before something large or hard to undo, one yes/no rule for every question. Two ways
//! to ask: [`confirm`] only on a terminal (without one nothing waits for an answer that cannot
//! come: the command stops and names the flag that skips the question), and [`ask_on_stdin`]
//! with or without one (`echo y | personio-lms unlock …` works).

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

/// Asks on stdout and reads the answer from stdin, also without a terminal; no answer at all is
/// an error naming `flag`, so that a script without it fails clearly instead of doing nothing.
pub async fn ask_on_stdin(prompt: &str, flag: &str, what: &str) -> Result<bool, CliError> {
    print!("{prompt}");
    let _ = std::io::stdout().flush();
    // A blocking read off the runtime's threads, so that Ctrl-C still ends the command.
    let answer = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map(|read| (read, line))
    })
    .await
    .map_err(|error| CliError::failed("cannot read the answer", error))?;
    match answer {
        Ok((0, _)) => Err(CliError::Input(format!(
            "no answer on stdin; pass {flag} to {what} without asking"
        ))),
        Ok((_, line)) => Ok(is_yes(&line)),
        Err(error) => Err(CliError::failed("cannot read the answer", error)),
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

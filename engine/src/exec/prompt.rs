//! Asking the user on the terminal (`pause`, `vars_prompt`, `--step`): the live view is taken
//! off the screen meanwhile, the question goes to stderr (stdout may carry `--output json`),
//! and input is read without echo when asked (passwords).

use crate::output::Output;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

/// Whether stdin is a terminal someone can answer on.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

/// Show `question` and read one line (without its line break). `None` at end of input or when
/// reading fails. Without `echo` the answer is not shown (a terminal is needed for that).
pub async fn ask(out: &Arc<dyn Output>, question: &str, echo: bool) -> Option<String> {
    out.suspend();
    let question = question.to_string();
    let answer = tokio::task::spawn_blocking(move || {
        let mut err = std::io::stderr();
        let _ = write!(err, "{question}");
        let _ = err.flush();
        if !echo && interactive() {
            let line = console::Term::stderr().read_secure_line().ok();
            return line;
        }
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim_end_matches(['\n', '\r']).to_string()),
        }
    })
    .await
    .ok()
    .flatten();
    out.resume();
    answer
}

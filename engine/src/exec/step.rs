//! `--step`: before each task, `Perform task: TASK: name (N)o/(y)es/(c)ontinue:` on the
//! terminal; `y` runs it, `c` runs it and every later task without asking, anything else skips
//! it. Asked once per task: hosts that reach the task later wait for the answer.

use super::play::PlayRun;
use crate::plan::Leaf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// Answers given so far in one batch, by task.
pub type StepAnswers = std::sync::Mutex<std::collections::HashMap<String, Arc<OnceCell<bool>>>>;

impl PlayRun {
    /// Whether the user lets `leaf` run (always, without `--step`).
    pub(crate) async fn step_allows(&self, leaf: &Leaf) -> bool {
        let runner = &self.runner;
        if !runner.opts.step || runner.step_continue.load(Ordering::SeqCst) {
            return true;
        }
        let key = format!("{}\u{0}{}", leaf.task.span, leaf.display_name);
        let cell = match self.step_answers.lock() {
            Ok(mut m) => m.entry(key).or_default().clone(),
            Err(_) => return true,
        };
        *cell
            .get_or_init(|| async {
                if runner.step_continue.load(Ordering::SeqCst) {
                    return true;
                }
                let question = format!(
                    "Perform task: TASK: {} (N)o/(y)es/(c)ontinue: ",
                    leaf.display_name
                );
                let answer = super::prompt::ask(&runner.out, &question, true).await;
                match answer.map(|a| a.trim().to_ascii_lowercase()).as_deref() {
                    Some("y" | "yes") => true,
                    Some("c" | "continue") => {
                        runner.step_continue.store(true, Ordering::SeqCst);
                        true
                    }
                    _ => false,
                }
            })
            .await
    }
}

//! `until`/`retries`/`delay` as ansible-core 2.18's task executor applies them: the task runs
//! at most `1 + retries` times (`retries` defaults to 3 when `until` is given); with `retries`
//! and no `until`, it retries until the result did not fail. Every run's result carries
//! `attempts` (visible to `changed_when`/`failed_when`); when the last run still does not
//! satisfy the condition the result is marked failed with `attempts` set to `retries`.

use super::outcome::Outcome;
use crate::value::Value;

/// How often a task runs and how long it waits in between.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct RetryPolicy {
    /// Runs at most, the first included.
    pub runs: u64,
    /// Seconds between runs.
    pub delay: f64,
}

/// What to do after one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Next {
    /// The result stands.
    Done,
    /// Run again; `left` is what ansible prints as "(N retries left)".
    Retry { left: u64 },
    /// Out of runs: the result fails with `attempts` set to this.
    GiveUp { attempts: u64 },
}

/// `delay` when the task sets none.
const DEFAULT_DELAY: f64 = 5.0;
/// `retries` when the task gives `until` without it.
const DEFAULT_RETRIES: u64 = 3;

impl RetryPolicy {
    /// From the task's rendered `retries` and `delay` (`None`: not set or not a number).
    pub fn new(retries: Option<i64>, has_until: bool, delay: Option<f64>) -> Self {
        let extra = match retries {
            Some(r) => r.max(0) as u64,
            None if has_until => DEFAULT_RETRIES,
            None => 0,
        };
        let delay = match delay {
            Some(d) if d < 0.0 => 1.0,
            Some(d) => d,
            None => DEFAULT_DELAY,
        };
        RetryPolicy {
            runs: 1 + extra,
            delay,
        }
    }

    /// Whether runs are counted (`attempts`) and the condition checked at all.
    pub fn retrying(&self) -> bool {
        self.runs > 1
    }

    /// After run number `attempt` (from 1), whose condition held or not.
    pub fn next(&self, attempt: u64, held: bool) -> Next {
        if !self.retrying() || held {
            Next::Done
        } else if attempt < self.runs {
            Next::Retry {
                left: self.runs - attempt,
            }
        } else {
            Next::GiveUp {
                attempts: self.runs - 1,
            }
        }
    }
}

/// Count run `attempt` in the result (before `changed_when`/`failed_when` see it).
pub(super) fn mark_attempt(o: &mut Outcome, attempt: u64) {
    o.result.insert("attempts".into(), Value::from(attempt));
}

/// The last run did not satisfy the condition: the task fails as ansible-core reports it.
pub(super) fn give_up(o: &mut Outcome, attempts: u64) {
    o.result.insert("attempts".into(), Value::from(attempts));
    o.result.insert("failed".into(), Value::Bool(true));
    o.failed = true;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn without_until_or_retries_a_task_runs_once() {
        let p = RetryPolicy::new(None, false, None);
        assert_eq!(p.runs, 1);
        assert!(!p.retrying());
        assert_eq!(p.next(1, false), Next::Done);
    }

    #[test]
    fn until_alone_retries_three_times_after_the_first_run() {
        let p = RetryPolicy::new(None, true, None);
        assert_eq!(
            p,
            RetryPolicy {
                runs: 4,
                delay: 5.0
            }
        );
        assert_eq!(p.next(1, false), Next::Retry { left: 3 });
        assert_eq!(p.next(3, false), Next::Retry { left: 1 });
        assert_eq!(p.next(4, false), Next::GiveUp { attempts: 3 });
        assert_eq!(p.next(2, true), Next::Done);
    }

    #[test]
    fn retries_zero_runs_once_and_never_fails_for_the_condition() {
        let p = RetryPolicy::new(Some(0), true, Some(0.0));
        assert_eq!(p.runs, 1);
        assert_eq!(p.next(1, false), Next::Done);
        let p = RetryPolicy::new(Some(-2), true, None);
        assert_eq!(p.runs, 1);
    }

    #[test]
    fn retries_without_until_retry_a_failing_task() {
        let p = RetryPolicy::new(Some(2), false, None);
        assert!(p.retrying());
        assert_eq!(p.next(1, false), Next::Retry { left: 2 });
        assert_eq!(p.next(3, false), Next::GiveUp { attempts: 2 });
    }

    #[test]
    fn a_negative_delay_is_one_second() {
        assert_eq!(RetryPolicy::new(Some(1), true, Some(-3.0)).delay, 1.0);
        assert_eq!(RetryPolicy::new(Some(1), true, Some(0.0)).delay, 0.0);
    }

    #[test]
    fn giving_up_fails_the_result_with_the_configured_retries() {
        let mut o = Outcome::ok(
            json!({"changed": true})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        mark_attempt(&mut o, 3);
        give_up(&mut o, 2);
        assert!(o.failed);
        assert_eq!(o.result["attempts"], json!(2));
        assert_eq!(o.result["failed"], json!(true));
        assert_eq!(o.result["changed"], json!(true));
    }
}

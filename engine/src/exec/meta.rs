//! `meta`: actions on the run itself (flush handlers, end the host or play, clear errors or
//! facts, reset the connection).

use super::outcome::Outcome;
use super::play::PlayRun;
use crate::plan::Leaf;
use crate::value::{to_display_string, Map};
use std::sync::atomic::Ordering;
use std::sync::Arc;

impl PlayRun {
    pub(super) async fn meta(self: &Arc<Self>, h: usize, leaf: &Leaf, args: &Map) -> Outcome {
        let what = args
            .get("_raw_params")
            .map(to_display_string)
            .unwrap_or_default();
        match what.trim() {
            "flush_handlers" => self.flush_handlers(h).await,
            "end_host" => {
                if let Ok(mut hr) = self.hosts[h].lock() {
                    hr.ended = true;
                }
            }
            "end_play" | "end_batch" => {
                self.ended.store(true, Ordering::SeqCst);
                for hr in &self.hosts {
                    if let Ok(mut hr) = hr.lock() {
                        hr.ended = true;
                    }
                }
            }
            "clear_host_errors" => {
                if let Ok(mut hr) = self.hosts[h].lock() {
                    hr.failed = false;
                }
            }
            "clear_facts" => {
                let host = &self.plan.hosts[h];
                self.runner
                    .vars
                    .update_host(host, |s| s.facts = Arc::new(Map::new()));
            }
            "reset_connection" => self.runner.conns.reset(&self.plan.hosts[h]).await,
            "noop" | "" => {}
            other => {
                return Outcome::failed(format!(
                    "invalid meta action requested: {other} (task '{}')",
                    leaf.display_name
                ))
            }
        }
        Outcome::uncounted()
    }
}

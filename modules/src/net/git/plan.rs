//! `git`'s decision, without a host: clone (no repository at `dest`), update (the remote's
//! commit for `version` differs from the checked-out one, the remote URL changed, or local
//! modifications are to be discarded) or nothing.

use super::{GitArgs, Seen};
use crate::planned::Plan;
use kplay_engine::module::{ModuleError, ModuleResult};
use kplay_engine::value::Value;

/// What `apply` runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changes {
    /// Clone `repo` into `dest` and check out `version`.
    Clone,
    /// Fetch and check out `version` in the existing repository, first pointing the remote at
    /// `repo` (`set_url`) and discarding local modifications (`reset`) when asked.
    Update { set_url: bool, reset: bool },
}

/// The commit `version` names among `ls-remote` lines, or `version` itself when it looks like a
/// commit id (an abbreviated one can only be resolved after fetching).
pub fn resolve_remote(ls_remote: &str, version: &str) -> Option<String> {
    let refs: Vec<(&str, &str)> = ls_remote
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .collect();
    let find = |name: &str| {
        refs.iter()
            .find(|(_, r)| *r == name)
            .map(|(s, _)| s.to_string())
    };
    if version == "HEAD" {
        return find("HEAD");
    }
    find(&format!("refs/heads/{version}"))
        .or_else(|| find(&format!("refs/tags/{version}^{{}}")))
        .or_else(|| find(&format!("refs/tags/{version}")))
        .or_else(|| {
            (version.len() >= 7 && version.chars().all(|c| c.is_ascii_hexdigit()))
                .then(|| version.to_string())
        })
}

/// Whether two commit ids name the same commit (either may be abbreviated).
fn same_commit(a: &str, b: &str) -> bool {
    !a.is_empty() && !b.is_empty() && (a.starts_with(b) || b.starts_with(a))
}

/// The commit `version` will be at: what the remote says, else `version` itself (as
/// ansible-core's check mode reports it when the remote cannot name it).
fn remote_head(a: &GitArgs, seen: &Seen) -> Option<String> {
    seen.ls_remote
        .as_deref()
        .and_then(|ls| resolve_remote(ls, &a.version))
}

/// See [`crate::planned::QueryPlanApply::plan`]. As ansible-core: with no repository at
/// `dest`, `clone: false` reports `changed` (what a clone would do) without cloning;
/// `update: false` reports the checked-out commit and changes nothing, not even the remote's
/// URL; local modifications fail the update unless `force`.
pub fn plan(a: &GitArgs, seen: &Seen) -> Result<Plan<Changes>, ModuleError> {
    let Some(local) = &seen.local else {
        let after = remote_head(a, seen)
            .map(Value::String)
            .unwrap_or(Value::Null);
        let result = ModuleResult::new(true)
            .set("before", Value::Null)
            .set("after", after);
        return Ok(if a.clone {
            Plan::change(Changes::Clone, result)
        } else {
            Plan {
                changes: None,
                result,
            }
        });
    };
    let before = local.before.as_str();
    let result = ModuleResult::new(false).set("before", before);
    if !a.update {
        return Ok(Plan::nothing(result.set("after", before)));
    }
    if local.dirty && !a.force {
        return Err(ModuleError::new(format!(
            "Local modifications exist in the destination: {} (force=no).",
            a.dest
        )));
    }
    let set_url = !local.url.is_empty() && local.url != a.repo;
    let after = remote_head(a, seen).unwrap_or_else(|| a.version.clone());
    let moved = !same_commit(before, &after);
    let result = result
        .set("after", after)
        .set("remote_url_changed", set_url);
    Ok(if moved || set_url || local.dirty {
        Plan::change(
            Changes::Update {
                set_url,
                reset: local.dirty,
            },
            result,
        )
    } else {
        Plan::nothing(result)
    })
}

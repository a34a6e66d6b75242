//! Carrying out `file`'s plan: the change of the path (by kplay's agent when it serves the
//! task, else by sh), the tree fix for `recurse`, then the path's final stat for the result.

use super::plan::{add_path_info, Changes, PATH_INFO_KEYS};
use crate::common::attrs::{agent_attr_failure, attr_failure};
use crate::common::probe::{parse_reply, probe, ProbeRequest, PROBE_FN};
use crate::common::{agent_call, run_sh};
use kplay_engine::agent::Reply;
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;

/// Apply `ch` and return `result` with the path's info as it is now.
pub async fn apply(
    ctx: &ModuleContext<'_>,
    ch: Changes,
    mut result: ModuleResult,
) -> Result<ModuleResult, ModuleError> {
    let by_agent = match &ch.agent {
        Some(req) => match agent_call(ctx, req).await? {
            None => false,
            Some(Reply::Failed { step, message }) => {
                return Err(ModuleError::new(
                    agent_attr_failure(step, &message).unwrap_or(message),
                ))
            }
            Some(_) => true,
        },
        None => false,
    };
    let script = if by_agent {
        ch.tree_fix.clone()
    } else {
        format!("{}{}", ch.script, ch.tree_fix)
    };
    if ch.removes {
        run_step(ctx, script).await?;
        return Ok(result);
    }
    let q = sh_quote(&ch.path);
    let stats = if by_agent {
        run_step(ctx, script).await?;
        let reqs = [
            ProbeRequest::new(&ch.path).checksum(None),
            ProbeRequest::new(&ch.path).follow(true).checksum(None),
        ];
        probe(ctx, &reqs).await?.paths
    } else {
        // One round trip: the change, then the stat the result reports.
        let script =
            format!("{PROBE_FN}set -e\n{script}set +e\nkp {q} 0 - -1 0\nkp {q} 1 - -1 0\n");
        let out = checked(run_sh(ctx, script, None).await?)?;
        parse_reply(&out, &[&ch.path, &ch.path])
            .map_err(|e| ModuleError::new(e.to_string()))?
            .1
    };
    if let [own, followed] = stats.as_slice() {
        for k in PATH_INFO_KEYS {
            result.extra.shift_remove(*k);
        }
        add_path_info(own, followed, &mut result.extra);
    }
    Ok(result)
}

/// Run a sh step (nothing when empty).
async fn run_step(ctx: &ModuleContext<'_>, script: String) -> Result<(), ModuleError> {
    if script.is_empty() {
        return Ok(());
    }
    checked(run_sh(ctx, script, None).await?).map(|_| ())
}

/// The output of a sh step, or its failure in Ansible's words.
fn checked(out: kplay_engine::transport::ExecOutput) -> Result<Vec<u8>, ModuleError> {
    if out.rc != 0 {
        let stderr = out.stderr_str();
        return Err(ModuleError::new(
            attr_failure(out.rc, &stderr).unwrap_or_else(|| stderr.trim().to_string()),
        ));
    }
    Ok(out.stdout)
}

//! `kplay reset`: run `reset.yml` (remove what the deploy installed) and clear the deploy state,
//! so the next deploy starts again from the first step. The state is cleared only when the
//! playbook succeeded on every host: a half-reset cluster keeps its record.

use crate::error::DeployError;
use crate::layout::Layout;
use crate::run::{load_inventory, run_playbook, runtime, Engine};
use crate::state::StateFile;
use kplay_engine::exec::load_playbooks;
use kplay_engine::output::Output;
use std::sync::Arc;

pub const PLAYBOOK: &str = "reset.yml";

pub struct Request {
    pub inventory: Vec<String>,
    pub layout: Layout,
}

/// The hosts a reset touches, for the confirmation question.
pub fn hosts(req: &Request) -> Result<Vec<String>, DeployError> {
    let inv = load_inventory(&req.inventory)?;
    Ok(inv.hosts().map(|h| h.name.clone()).collect())
}

/// Runs the reset (the caller has asked for confirmation). Returns the playbook's exit code.
pub fn reset(req: &Request, eng: &Engine, out: Arc<dyn Output>) -> Result<i32, DeployError> {
    let inventory = load_inventory(&req.inventory)?;
    let Some(path) = (eng.resolve)(PLAYBOOK) else {
        return Err(DeployError::Refused(format!(
            "reset is not available yet in this kplay (no playbooks/{PLAYBOOK} on disk or embedded)"
        )));
    };
    let state = StateFile::lock(&req.layout.state)?;
    let mut extra = eng.options.extra_vars.clone();
    extra.insert(
        "kplay_deploy_dir".into(),
        req.layout.deploy_dir.display().to_string().into(),
    );
    let mut opts = eng.options.clone();
    opts.extra_vars = extra;
    let pb = load_playbooks(
        std::slice::from_ref(&path),
        &eng.registry,
        &opts.roles_path,
        &opts.extra_vars,
    )?
    .pop()
    .ok_or_else(|| DeployError::Refused(format!("{} holds no play", path.display())))?;
    let rt = runtime()?;
    let (code, _) = run_playbook(&rt, eng, &opts, inventory, &path, &pb, out);
    if code == 0 && !opts.check {
        state.clear()?;
        println!(
            "reset done; deploy state cleared ({})",
            req.layout.state.display()
        );
    } else if code != 0 {
        println!(
            "reset failed (exit {code}); the deploy state is kept ({})",
            req.layout.state.display()
        );
    }
    Ok(code)
}

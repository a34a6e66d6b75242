//! kplay's modules, one file each. `register_all` puts them into the engine's registry.
//!
//! Every module is idempotent, honours check mode and produces a diff where Ansible's does.

use kplay_engine::module::ModuleRegistry;
use std::sync::Arc;

pub mod common;
#[cfg(test)]
pub(crate) mod testutil;

// --- file modules (copy, template, file, stat) ---
pub mod copy;
pub mod file;
pub mod stat;
pub mod template;
// (end file modules)

// --- editing modules (lineinfile, blockinfile, replace) ---
pub mod edit;
pub mod lineinfile;
pub mod blockinfile;
pub mod replace;
// (end editing modules)

// --- command and controller modules (command, shell, raw, debug, set_fact, assert, fail, include_vars, ping, setup) ---
pub mod assert;
pub(crate) mod cmdline;
pub mod command;
pub mod debug;
pub mod facts;
pub mod fail;
pub mod include_vars;
pub mod ping;
pub mod raw;
pub mod set_fact;
pub mod setup;
pub mod shell;
// (end command and controller modules)

/// Register every module this crate provides.
pub fn register_all(reg: &mut ModuleRegistry) {
    let _ = Arc::new(());
    let _ = &reg;
    // --- register file modules ---
    reg.register(Arc::new(copy::CopyModule));
    reg.register(Arc::new(stat::StatModule));
    reg.register(Arc::new(template::TemplateModule));
    reg.register(Arc::new(file::FileModule));
    // (end register file modules)
    // --- register editing modules ---
    reg.register(Arc::new(lineinfile::LineinfileModule));
    reg.register(Arc::new(blockinfile::BlockinfileModule));
    reg.register(Arc::new(replace::ReplaceModule));
    // (end register editing modules)
    // --- register command and controller modules ---
    reg.register(Arc::new(command::CommandModule));
    reg.register(Arc::new(shell::ShellModule));
    reg.register(Arc::new(raw::RawModule));
    reg.register(Arc::new(debug::DebugModule));
    reg.register(Arc::new(set_fact::SetFactModule));
    reg.register(Arc::new(assert::AssertModule));
    reg.register(Arc::new(fail::FailModule));
    reg.register(Arc::new(include_vars::IncludeVarsModule));
    reg.register(Arc::new(ping::PingModule));
    reg.register(Arc::new(setup::SetupModule));
    // (end register command and controller modules)
}

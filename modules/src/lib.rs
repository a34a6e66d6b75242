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
pub mod blockinfile;
pub mod edit;
pub mod lineinfile;
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

// --- system modules B ---
pub mod apt;
pub mod dnf;
pub mod fetch;
pub mod get_url;
pub mod package;
pub mod script;
pub mod slurp;
pub(crate) mod target_http;
pub mod unarchive;
pub mod uri;
pub mod wait_for;
pub mod wait_for_connection;
pub mod yum;
// (end system modules B)

// --- system modules A ---
pub mod authorized_key;
pub mod group;
pub mod hostname;
pub mod kube;
pub mod modprobe;
pub mod mount;
pub mod service;
pub mod sysctl;
pub(crate) mod sysprobe;
pub mod systemd;
pub mod user;
pub mod x509_cert;
// (end system modules A)

/// Shell function definitions that module scripts start with and that a persistent remote
/// shell may define once per connection (see `kplay_engine::transport::persistent`).
pub fn shell_preludes() -> Vec<&'static str> {
    vec![common::probe::PROBE_KP]
}

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
    // --- system modules B ---
    reg.register(Arc::new(slurp::SlurpModule));
    reg.register(Arc::new(fetch::FetchModule));
    reg.register(Arc::new(script::ScriptModule));
    reg.register(Arc::new(wait_for_connection::WaitForConnectionModule));
    reg.register(Arc::new(apt::AptModule));
    reg.register(Arc::new(dnf::DnfModule));
    reg.register(Arc::new(yum::YumModule));
    reg.register(Arc::new(package::PackageModule));
    reg.register(Arc::new(get_url::GetUrlModule));
    reg.register(Arc::new(uri::UriModule));
    reg.register(Arc::new(wait_for::WaitForModule));
    reg.register(Arc::new(unarchive::UnarchiveModule));
    // (end system modules B)
    // --- system modules A ---
    reg.register(Arc::new(sysctl::SysctlModule));
    reg.register(Arc::new(authorized_key::AuthorizedKeyModule));
    reg.register(Arc::new(mount::MountModule));
    reg.register(Arc::new(group::GroupModule));
    reg.register(Arc::new(user::UserModule));
    reg.register(Arc::new(systemd::SystemdModule));
    reg.register(Arc::new(service::ServiceModule));
    reg.register(Arc::new(modprobe::ModprobeModule));
    reg.register(Arc::new(hostname::HostnameModule));
    reg.register(Arc::new(x509_cert::X509CertModule));
    reg.register(Arc::new(kube::KubeModule));
    // (end system modules A)
}

//! kplay's modules, one file each. `register_all` puts them into the engine's registry.
//!
//! Every module is idempotent, honours check mode and produces a diff where Ansible's does.

use common::args::Spec;
use kplay_engine::module::{Module, ModuleRegistry};
use planned::Planned;
use std::sync::Arc;

pub mod common;
pub mod planned;

// Modules grouped by kind; re-exported so `crate::copy` and `kplay_modules::copy` keep working.
/// Files on the host: content, attributes, edits, archives, trees.
pub mod files {
    pub mod archive;
    pub mod assemble;
    pub mod blockinfile;
    pub mod copy;
    pub mod fetch;
    pub mod file;
    pub mod find;
    pub mod ini_file;
    pub mod lineinfile;
    pub mod replace;
    pub mod slurp;
    pub mod stat;
    pub mod synchronize;
    pub mod tempfile;
    pub mod template;
    pub mod unarchive;
}
pub use files::{
    archive, assemble, blockinfile, copy, fetch, file, find, ini_file, lineinfile, replace, slurp,
    stat, synchronize, tempfile, template, unarchive,
};
/// Packages and their sources: apt, dnf/yum, pip, keys, repositories.
pub mod packages {
    pub mod apt;
    pub mod apt_key;
    pub mod apt_repository;
    pub mod deb822_repository;
    pub mod dnf;
    pub mod dpkg_selections;
    pub mod package;
    pub mod package_facts;
    pub mod pip;
    pub mod redhat_subscription;
    pub mod rhsm_repository;
    pub mod rpm_key;
    pub mod yum;
    pub mod yum_repository;
}
pub use packages::{
    apt, apt_key, apt_repository, deb822_repository, dnf, dpkg_selections, package, package_facts,
    pip, redhat_subscription, rhsm_repository, rpm_key, yum, yum_repository,
};
/// Service managers: systemd and SysV init.
pub mod services {
    pub mod service;
    pub mod service_facts;
    pub mod systemd;
}
pub use services::{service, service_facts, systemd};
/// System configuration: users, groups, kernel settings, mounts, time, keys, facts.
pub mod system {
    pub mod authorized_key;
    pub mod cron;
    pub mod facts;
    pub mod getent;
    pub mod group;
    pub mod hostname;
    pub mod iptables;
    pub mod known_hosts;
    pub mod modprobe;
    pub mod mount;
    pub mod reboot;
    pub mod selinux;
    pub mod setup;
    pub mod sysctl;
    pub mod timezone;
    pub mod user;
    pub mod x509_cert;
}
pub use system::{
    authorized_key, cron, facts, getent, group, hostname, iptables, known_hosts, modprobe, mount,
    reboot, selinux, setup, sysctl, timezone, user, x509_cert,
};
/// Commands: command, shell, raw, script, and modules from a playbook's library/.
pub mod commands {
    pub(crate) mod cmdline;
    pub mod command;
    pub mod library_module;
    pub mod raw;
    pub mod script;
    pub mod shell;
}
pub(crate) use commands::cmdline;
pub use commands::{command, library_module, raw, script, shell};
/// Network: HTTP from the target, waits, git, Kubernetes and Helm.
pub mod net {
    pub mod get_url;
    pub mod git;
    pub mod helm;
    pub mod helm_repository;
    pub mod kube;
    pub(crate) mod target_http;
    pub mod uri;
    pub mod wait_for;
    pub mod wait_for_connection;
}
pub(crate) use net::target_http;
pub use net::{get_url, git, helm, helm_repository, kube, uri, wait_for, wait_for_connection};
/// Control flow and variables: debug, assert, fail, set_fact, include_vars, ping.
pub mod control {
    pub mod assert;
    pub mod debug;
    pub mod fail;
    pub mod include_vars;
    pub mod ping;
    pub mod set_fact;
}
pub use control::{assert, debug, fail, include_vars, ping, set_fact};
#[cfg(test)]
pub(crate) mod testutil;

// --- file modules (copy, template, file, stat) ---
// (end file modules)

// --- editing modules (lineinfile, blockinfile, replace) ---
// (end editing modules)

// --- command and controller modules (command, shell, raw, debug, set_fact, assert, fail, include_vars, ping, setup) ---
// (end command and controller modules)

// --- system modules B ---
// (end system modules B)

// --- system modules A ---
// (end system modules A)

/// Shell function definitions that module scripts start with and that a persistent remote
/// shell may define once per connection (see `kplay_engine::transport::persistent`).
pub fn shell_preludes() -> Vec<&'static str> {
    vec![common::probe::PROBE_KP]
}

/// Every module with its declared arguments: adding a module is one line here.
pub fn modules() -> Vec<(Arc<dyn Module>, &'static Spec)> {
    vec![
        (Arc::new(copy::CopyModule), &copy::SPEC),
        (Arc::new(stat::StatModule), &stat::SPEC),
        (Arc::new(template::TemplateModule), &template::SPEC),
        (Arc::new(file::FileModule), &file::SPEC),
        (Arc::new(lineinfile::LineinfileModule), &lineinfile::SPEC),
        (Arc::new(blockinfile::BlockinfileModule), &blockinfile::SPEC),
        (Arc::new(replace::ReplaceModule), &replace::SPEC),
        (Arc::new(ini_file::IniFileModule), &ini_file::SPEC),
        (Arc::new(command::CommandModule), &command::SPEC),
        (Arc::new(shell::ShellModule), &shell::SPEC),
        (Arc::new(raw::RawModule), &raw::SPEC),
        (Arc::new(debug::DebugModule), &debug::SPEC),
        (Arc::new(set_fact::SetFactModule), &set_fact::SPEC),
        (Arc::new(assert::AssertModule), &assert::SPEC),
        (Arc::new(fail::FailModule), &fail::SPEC),
        (
            Arc::new(include_vars::IncludeVarsModule),
            &include_vars::SPEC,
        ),
        (Arc::new(ping::PingModule), &ping::SPEC),
        (Arc::new(setup::SetupModule), &setup::SPEC),
        (Arc::new(slurp::SlurpModule), &slurp::SPEC),
        (Arc::new(fetch::FetchModule), &fetch::SPEC),
        (Arc::new(script::ScriptModule), &script::SPEC),
        (
            Arc::new(wait_for_connection::WaitForConnectionModule),
            &wait_for_connection::SPEC,
        ),
        (Arc::new(Planned(apt::AptModule)), &apt::SPEC),
        (Arc::new(Planned(dnf::DNF)), &dnf::SPEC),
        (Arc::new(Planned(dnf::YUM)), &dnf::YUM_SPEC),
        (Arc::new(package::PackageModule), &package::SPEC),
        (Arc::new(get_url::GetUrlModule), &get_url::SPEC),
        (Arc::new(uri::UriModule), &uri::SPEC),
        (Arc::new(wait_for::WaitForModule), &wait_for::SPEC),
        (Arc::new(unarchive::UnarchiveModule), &unarchive::SPEC),
        (Arc::new(Planned(sysctl::SysctlModule)), &sysctl::SPEC),
        (
            Arc::new(Planned(authorized_key::AuthorizedKeyModule)),
            &authorized_key::SPEC,
        ),
        (Arc::new(Planned(mount::MountModule)), &mount::SPEC),
        (Arc::new(Planned(group::GroupModule)), &group::SPEC),
        (Arc::new(Planned(user::UserModule)), &user::SPEC),
        (Arc::new(Planned(systemd::SystemdModule)), &systemd::SPEC),
        (Arc::new(Planned(service::ServiceModule)), &service::SPEC),
        (Arc::new(Planned(modprobe::ModprobeModule)), &modprobe::SPEC),
        (Arc::new(hostname::HostnameModule), &hostname::SPEC),
        (Arc::new(x509_cert::X509CertModule), &x509_cert::SPEC),
        (Arc::new(kube::KubeModule), &kube::SPEC),
        (Arc::new(selinux::SelinuxModule), &selinux::SPEC),
        (Arc::new(find::FindModule), &find::SPEC),
        (Arc::new(Planned(helm::HelmModule)), &helm::SPEC),
        (
            Arc::new(Planned(helm_repository::HelmRepositoryModule)),
            &helm_repository::SPEC,
        ),
        (Arc::new(Planned(iptables::IptablesModule)), &iptables::SPEC),
        (
            Arc::new(yum_repository::YumRepositoryModule),
            &yum_repository::SPEC,
        ),
        (
            Arc::new(apt_repository::AptRepositoryModule),
            &apt_repository::SPEC,
        ),
        (
            Arc::new(Planned(dpkg_selections::DpkgSelectionsModule)),
            &dpkg_selections::SPEC,
        ),
        (
            Arc::new(package_facts::PackageFactsModule),
            &package_facts::SPEC,
        ),
        (Arc::new(Planned(timezone::TimezoneModule)), &timezone::SPEC),
        (
            Arc::new(service_facts::ServiceFactsModule),
            &service_facts::SPEC,
        ),
        (Arc::new(synchronize::SynchronizeModule), &synchronize::SPEC),
        (Arc::new(getent::GetentModule), &getent::SPEC),
        (Arc::new(pip::PipModule), &pip::SPEC),
        (Arc::new(cron::CronModule), &cron::SPEC),
        (Arc::new(assemble::AssembleModule), &assemble::SPEC),
        (Arc::new(git::GitModule), &git::SPEC),
        (Arc::new(known_hosts::KnownHostsModule), &known_hosts::SPEC),
        (Arc::new(archive::ArchiveModule), &archive::SPEC),
        (Arc::new(rpm_key::RpmKeyModule), &rpm_key::SPEC),
        (Arc::new(apt_key::AptKeyModule::default()), &apt_key::SPEC),
        (Arc::new(reboot::RebootModule), &reboot::SPEC),
        (
            Arc::new(deb822_repository::Deb822RepositoryModule::default()),
            &deb822_repository::SPEC,
        ),
        (Arc::new(tempfile::TempfileModule), &tempfile::SPEC),
        (
            Arc::new(redhat_subscription::RedhatSubscriptionModule),
            &redhat_subscription::SPEC,
        ),
        (
            Arc::new(rhsm_repository::RhsmRepositoryModule),
            &rhsm_repository::SPEC,
        ),
    ]
}

/// Register every module this crate provides.
pub fn register_all(reg: &mut ModuleRegistry) {
    for (m, _) in modules() {
        reg.register(m);
    }
}

/// The collection a module's name is shown in: the first it declares, else `ansible.builtin`.
fn collection_of(m: &dyn Module) -> &'static str {
    m.collections()
        .first()
        .copied()
        .unwrap_or("ansible.builtin")
}

/// Every module's collection and declared arguments, sorted by name (`kplay doc --list`).
pub fn specs() -> Vec<(&'static str, &'static Spec)> {
    let mut v: Vec<(&'static str, &'static Spec)> = modules()
        .into_iter()
        .map(|(m, s)| (collection_of(m.as_ref()), s))
        .collect();
    v.sort_by_key(|(_, s)| s.module);
    v
}

/// The collection and spec of the module answering to `name` (short name, alias or fully
/// qualified name).
pub fn spec_for(name: &str) -> Option<(&'static str, &'static Spec)> {
    let mut reg = ModuleRegistry::new();
    register_all(&mut reg);
    let module = reg.get(name)?;
    modules()
        .into_iter()
        .find(|(m, _)| m.name() == module.name())
        .map(|(m, s)| (collection_of(m.as_ref()), s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_declares_a_documented_spec_under_its_own_name() {
        let mut undocumented = Vec::new();
        for (m, spec) in modules() {
            assert_eq!(
                spec.module,
                m.name(),
                "spec of {} is named {}",
                m.name(),
                spec.module
            );
            assert!(!spec.doc.is_empty(), "{} has no description", spec.module);
            let mut seen = std::collections::HashSet::new();
            for p in spec.all() {
                if p.doc.is_empty() {
                    undocumented.push(format!("{}.{}", spec.module, p.name));
                }
                assert!(
                    seen.insert(p.name),
                    "{}.{} is declared twice",
                    spec.module,
                    p.name
                );
                if !p.choices.is_empty() {
                    if let common::args::DefaultValue::Str(d) = p.default {
                        assert!(
                            p.choices.contains(&d),
                            "{}.{} default not a choice",
                            spec.module,
                            p.name
                        );
                    }
                }
            }
        }
        assert!(undocumented.is_empty(), "no description: {undocumented:?}");
    }

    #[test]
    fn spec_for_answers_to_aliases_and_collections() {
        let name = |n: &str| spec_for(n).map(|(c, s)| format!("{c}.{}", s.module));
        assert_eq!(
            name("ansible.builtin.copy").as_deref(),
            Some("ansible.builtin.copy")
        );
        assert_eq!(
            name("systemd_service").as_deref(),
            Some("ansible.builtin.systemd")
        );
        assert_eq!(
            name("community.general.ini_file").as_deref(),
            Some("community.general.ini_file")
        );
        assert_eq!(
            name("ansible.posix.sysctl").as_deref(),
            Some("ansible.posix.sysctl")
        );
        assert!(spec_for("nope").is_none());
    }
}

//! kplay's modules, one file (or folder) each. `register_all` puts them into the engine's registry.
//!
//! Every module is idempotent, honours check mode and produces a diff where Ansible's does.
//! Adding a module is one file plus one line in the table below.

use common::args::Spec;
use kplay_engine::module::{Module, ModuleRegistry};
use planned::Planned;
use std::sync::Arc;

pub mod common;
pub mod planned;

/// The module table: one line per module, grouped by kind (each group is a folder of
/// `modules/src/`). `name => constructor` declares `group::name`, re-exports it at the crate
/// root (so `crate::copy` works) and registers the constructor with `name::SPEC`; `name [PATH]`
/// names another spec. After `;`, files of the group that are not modules.
macro_rules! module_table {
    ($(
        $(#[$doc:meta])*
        $group:ident {
            $( $m:ident $([$spec:path])? => $ctor:expr, )*
            $( ; $( $pv:vis mod $plain:ident, )* )?
        }
    )*) => {
        $(
            $(#[$doc])*
            pub mod $group {
                $( pub mod $m; )*
                $( $( $pv mod $plain; )* )?
            }
            $( pub use $group::$m; )*
            $( $( $pv use $group::$plain; )* )?
        )*

        /// Every module with its declared arguments, in table order.
        pub fn modules() -> Vec<(Arc<dyn Module>, &'static Spec)> {
            vec![ $( $( (Arc::new($ctor) as Arc<dyn Module>, module_table!(@spec $m $($spec)?)), )* )* ]
        }
    };
    (@spec $m:ident) => { &$m::SPEC };
    (@spec $m:ident $spec:path) => { &$spec };
}

module_table! {
    /// Files on the host: content, attributes, edits, archives, trees.
    files {
        archive => Planned(archive::ArchiveModule),
        assemble => Planned(assemble::AssembleModule),
        blockinfile => Planned(blockinfile::BlockinfileModule),
        copy => Planned(copy::CopyModule),
        fetch => fetch::FetchModule,
        file => Planned(file::FileModule),
        find => find::FindModule,
        ini_file => Planned(ini_file::IniFileModule),
        lineinfile => Planned(lineinfile::LineinfileModule),
        replace => Planned(replace::ReplaceModule),
        slurp => slurp::SlurpModule,
        stat => stat::StatModule,
        synchronize => synchronize::SynchronizeModule,
        tempfile => tempfile::TempfileModule,
        template => Planned(template::TemplateModule),
        unarchive => Planned(unarchive::UnarchiveModule),
    }
    /// Packages and their sources: apt, dnf/yum, pip, keys, repositories.
    packages {
        apt => Planned(apt::AptModule),
        apt_key => Planned(apt_key::AptKeyModule::default()),
        apt_repository => Planned(apt_repository::AptRepositoryModule::default()),
        deb822_repository => Planned(deb822_repository::Deb822RepositoryModule::default()),
        dnf => Planned(dnf::DNF),
        dpkg_selections => Planned(dpkg_selections::DpkgSelectionsModule),
        package => package::PackageModule,
        package_facts => package_facts::PackageFactsModule,
        pip => Planned(pip::PipModule),
        redhat_subscription => offline_refused::OfflineRefused::rhsm(&redhat_subscription::SPEC),
        rhsm_repository => offline_refused::OfflineRefused::rhsm(&rhsm_repository::SPEC),
        rpm_key => Planned(rpm_key::RpmKeyModule),
        yum [dnf::YUM_SPEC] => Planned(dnf::YUM),
        yum_repository => Planned(yum_repository::YumRepositoryModule),
        ; pub mod offline_refused, pub mod repo_files,
    }
    /// Service managers: systemd and SysV init.
    services {
        service => Planned(service::ServiceModule),
        service_facts => service_facts::ServiceFactsModule,
        systemd => Planned(systemd::SystemdModule),
    }
    /// System configuration: users, groups, kernel settings, mounts, time, keys, facts.
    system {
        authorized_key => Planned(authorized_key::AuthorizedKeyModule),
        cron => Planned(cron::CronModule),
        getent => getent::GetentModule,
        group => Planned(group::GroupModule),
        hostname => Planned(hostname::HostnameModule),
        iptables => Planned(iptables::IptablesModule),
        known_hosts => Planned(known_hosts::KnownHostsModule),
        modprobe => Planned(modprobe::ModprobeModule),
        mount => Planned(mount::MountModule),
        reboot => reboot::RebootModule,
        selinux => Planned(selinux::SelinuxModule),
        setup => setup::SetupModule,
        sysctl => Planned(sysctl::SysctlModule),
        timezone => Planned(timezone::TimezoneModule),
        user => Planned(user::UserModule),
        x509_cert => Planned(x509_cert::X509CertModule),
        ; pub mod facts,
    }
    /// Commands: command, shell, raw, script, and modules from a playbook's library/.
    commands {
        command => command::CommandModule,
        raw => raw::RawModule,
        script => script::ScriptModule,
        shell => shell::ShellModule,
        ; pub(crate) mod cmdline, pub mod library_module,
    }
    /// Network: HTTP from the target, waits, git, Kubernetes and Helm.
    net {
        get_url => Planned(get_url::GetUrlModule),
        git => Planned(git::GitModule),
        helm => Planned(helm::HelmModule),
        helm_repository => Planned(helm_repository::HelmRepositoryModule),
        kube => kube::KubeModule,
        uri => uri::UriModule,
        wait_for => wait_for::WaitForModule,
        wait_for_connection => wait_for_connection::WaitForConnectionModule,
        ; pub(crate) mod target_http,
    }
    /// Control flow and variables: debug, assert, fail, set_fact, include_vars, ping.
    control {
        assert => assert::AssertModule,
        debug => debug::DebugModule,
        fail => fail::FailModule,
        include_vars => include_vars::IncludeVarsModule,
        ping => ping::PingModule,
        set_fact => set_fact::SetFactModule,
    }
}

#[cfg(test)]
pub(crate) mod testutil;

/// Shell function definitions that module scripts start with and that a persistent remote
/// shell may define once per connection (see `kplay_engine::transport::persistent`).
pub fn shell_preludes() -> Vec<&'static str> {
    vec![common::probe::PROBE_KP]
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
    fn no_two_modules_answer_to_the_same_name() {
        let mut seen = std::collections::HashMap::new();
        for (m, _) in modules() {
            let mut names = vec![m.name()];
            names.extend(m.aliases());
            for n in names {
                if let Some(other) = seen.insert(n, m.name()) {
                    panic!("{n} names both {other} and {}", m.name());
                }
            }
        }
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

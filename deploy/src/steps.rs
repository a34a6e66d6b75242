//! The layered install steps, in the order `kplay deploy` runs them (preflight first, so bad input
//! is refused before the bootstrap node gets anything), and how an operator names one
//! on the command line (`--from 2`, `--from 02`, `--only cluster-etcd`, `--only 02-cluster-etcd.yml`).
//!
//! The numbered steps follow kubeplay/kubespray, so users recognise them; each is a playbook a user
//! can also run alone (`kplay run playbooks/02-cluster-etcd.yml`). Hook stages sit between them
//! (the seed's tkestack hooks): their playbooks come from the operator's `hooks/<stage>/`.

use crate::error::DeployError;

/// What a step runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// `playbooks/<file>` (on disk in the working directory, else embedded in kplay).
    Playbook(&'static str),
    /// Every `*.yml`/`*.yaml` in `hooks/<stage>/`, in name order.
    Hook(&'static str),
}

/// One step of a deploy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// The name in the state file, the summary and on the command line.
    pub name: &'static str,
    pub kind: StepKind,
    /// Why an operator would care, shown by `kplay deploy --list`.
    pub about: &'static str,
}

impl Step {
    /// The step's number (`02-cluster-etcd` → 2), for `--from 2`.
    pub fn number(&self) -> Option<u32> {
        let digits: String = self
            .name
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        (!digits.is_empty() && self.name[digits.len()..].starts_with('-'))
            .then(|| digits.parse().ok())
            .flatten()
    }

    pub fn is_hook(&self) -> bool {
        matches!(self.kind, StepKind::Hook(_))
    }
}

/// Hook stage names (directories under `hooks/`).
pub const PRE_INSTALL: &str = "pre-install";
pub const POST_CLUSTER_READY: &str = "post-cluster-ready";
pub const POST_INSTALL: &str = "post-install";

/// Every step in run order. Hook stages are only part of a deploy when their directory holds
/// playbooks (see [`crate::hooks`]).
pub const ALL: [Step; 10] = [
    Step {
        name: PRE_INSTALL,
        kind: StepKind::Hook(PRE_INSTALL),
        about: "operator hooks before anything is installed",
    },
    Step {
        name: "00-preflight",
        kind: StepKind::Playbook("00-preflight.yml"),
        about: "checks every node before anything changes on any host",
    },
    Step {
        name: "bootstrap-node",
        kind: StepKind::Playbook("bootstrap-node.yml"),
        about: "bundle pushed, served over HTTP, image registry over TLS",
    },
    Step {
        name: "01-cluster-bootstrap-os",
        kind: StepKind::Playbook("01-cluster-bootstrap-os.yml"),
        about: "offline repo, hosts, kernel settings, chrony, containerd",
    },
    Step {
        name: "02-cluster-etcd",
        kind: StepKind::Playbook("02-cluster-etcd.yml"),
        about: "TLS etcd cluster",
    },
    Step {
        name: "03-cluster-kubernetes",
        kind: StepKind::Playbook("03-cluster-kubernetes.yml"),
        about: "control plane and nodes",
    },
    Step {
        name: "04-cluster-network",
        kind: StepKind::Playbook("04-cluster-network.yml"),
        about: "CNI network",
    },
    Step {
        name: POST_CLUSTER_READY,
        kind: StepKind::Hook(POST_CLUSTER_READY),
        about: "operator hooks once the cluster is ready",
    },
    Step {
        name: "05-cluster-apps",
        kind: StepKind::Playbook("05-cluster-apps.yml"),
        about: "cluster add-ons",
    },
    Step {
        name: POST_INSTALL,
        kind: StepKind::Hook(POST_INSTALL),
        about: "operator hooks after the install",
    },
];

/// The playbook files of the numbered steps and the bootstrap node, for content resolution.
pub fn playbook_files() -> impl Iterator<Item = &'static str> {
    ALL.iter().filter_map(|s| match s.kind {
        StepKind::Playbook(f) => Some(f),
        StepKind::Hook(_) => None,
    })
}

/// Index into [`ALL`] of the step an operator named: a number (`2`, `02`), a full name
/// (`02-cluster-etcd`), the name without its number (`cluster-etcd`), the playbook file
/// (`02-cluster-etcd.yml`, `playbooks/02-cluster-etcd.yml`), `bootstrap`, or a hook stage
/// (`pre-install`, `hooks/pre-install`). Case does not matter.
pub fn parse(word: &str) -> Result<usize, DeployError> {
    let w = word.trim().to_ascii_lowercase();
    let w = w.strip_prefix("playbooks/").unwrap_or(&w);
    let w = w.strip_prefix("hooks/").unwrap_or(w);
    let w = w.trim_end_matches('/');
    let w = w
        .strip_suffix(".yml")
        .or_else(|| w.strip_suffix(".yaml"))
        .unwrap_or(w);
    let found = ALL.iter().position(|s| {
        let bare = s
            .number()
            .map(|_| s.name.split_once('-').map(|x| x.1).unwrap_or(s.name));
        s.name == w
            || bare == Some(w)
            || (w == "bootstrap" && s.name == "bootstrap-node")
            || (!w.is_empty()
                && w.chars().all(|c| c.is_ascii_digit())
                && w.parse::<u32>().ok().is_some_and(|n| s.number() == Some(n)))
    });
    found.ok_or_else(|| DeployError::UnknownStep {
        word: word.to_string(),
        known: ALL.iter().map(|s| s.name).collect::<Vec<_>>().join(", "),
    })
}

/// Steps that install or use Kubernetes: left out when the bundle carries none.
pub const NEEDS_KUBERNETES: &[&str] = &[
    "03-cluster-kubernetes",
    "04-cluster-network",
    "05-cluster-apps",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn name_of(word: &str) -> &'static str {
        ALL[parse(word).unwrap()].name
    }

    #[test]
    fn steps_are_named_by_number_name_bare_name_or_file() {
        for w in [
            "2",
            "02",
            "002",
            "02-cluster-etcd",
            "cluster-etcd",
            "02-cluster-etcd.yml",
            "playbooks/02-cluster-etcd.yml",
            "02-Cluster-ETCD",
        ] {
            assert_eq!(name_of(w), "02-cluster-etcd", "{w}");
        }
        assert_eq!(name_of("0"), "00-preflight");
        assert_eq!(name_of("preflight"), "00-preflight");
    }

    #[test]
    fn the_bootstrap_node_and_hook_stages_have_names() {
        assert_eq!(name_of("bootstrap"), "bootstrap-node");
        assert_eq!(name_of("bootstrap-node.yml"), "bootstrap-node");
        assert_eq!(name_of("hooks/post-install/"), POST_INSTALL);
        assert_eq!(name_of("post-cluster-ready"), POST_CLUSTER_READY);
    }

    #[test]
    fn an_unknown_step_lists_the_known_ones() {
        let e = parse("7").unwrap_err().to_string();
        assert!(e.contains("unknown step '7'"), "{e}");
        assert!(e.contains("02-cluster-etcd"), "{e}");
        assert!(parse("").is_err());
        assert!(parse("cluster").is_err());
    }

    #[test]
    fn steps_run_in_layer_order() {
        let numbered: Vec<u32> = ALL.iter().filter_map(Step::number).collect();
        assert_eq!(numbered, [0, 1, 2, 3, 4, 5]);
        // Preflight checks every node before the bootstrap node gets anything.
        assert_eq!(ALL[1].name, "00-preflight");
        assert_eq!(ALL[2].name, "bootstrap-node");
        assert!(
            parse("post-cluster-ready").unwrap() > parse("04").unwrap()
                && parse("post-cluster-ready").unwrap() < parse("05").unwrap()
        );
    }
}

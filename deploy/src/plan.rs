//! Which steps a deploy runs, and why: a pure function of the steps' availability, their current
//! input hashes, the state file and the operator's `--from`/`--only`/`--force`.
//!
//! - by default a step runs unless it finished before with the same inputs;
//! - `--from STEP` runs STEP and every later step, finished or not (earlier ones are left alone);
//! - `--only STEP…` runs exactly those steps, finished or not;
//! - `--to STEP` leaves every step after STEP alone (the others follow the default or `--from`);
//! - `--force` runs every selected step;
//! - a step whose playbook does not exist is "not available yet" (never run, never faked); hook
//!   stages after one wait, since the cluster they hook into is not there.

use crate::error::DeployError;
use crate::state::{InputsSummary, State};
use crate::steps::Step;

/// One step as this deploy sees it.
#[derive(Clone, Debug)]
pub struct StepInfo {
    pub step: Step,
    /// The playbook(s) exist (on disk or embedded); hooks: their directory holds playbooks.
    pub available: bool,
    /// Why this deploy leaves the step out although its playbooks exist (e.g. the bundle carries
    /// no Kubernetes for 03-05): listed and skipped, never run half-equipped.
    pub excluded: Option<&'static str>,
    /// Current input hash and its parts; None when not available.
    pub inputs: Option<(String, InputsSummary)>,
}

#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub from: Option<usize>,
    /// `--to STEP`: the last step this deploy considers.
    pub to: Option<usize>,
    pub only: Vec<usize>,
    pub force: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    Run(RunReason),
    Skip(SkipReason),
    NotAvailable,
    /// Left out by this deploy, with the reason (see [`StepInfo::excluded`]).
    Excluded(&'static str),
    /// A hook stage waiting for an earlier step that is not available yet.
    Waiting(&'static str),
}

#[derive(Clone, Debug, PartialEq)]
pub enum RunReason {
    /// Never finished.
    NotDone,
    /// A deploy was running it when it stopped.
    Interrupted,
    /// Finished before, but with other inputs (what changed, in words).
    Changed(Vec<String>),
    Forced,
    /// Named by `--from`/`--only`.
    Requested,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SkipReason {
    /// Finished at this time with the same inputs.
    Finished(String),
    /// Outside `--from`/`--only`.
    NotSelected,
}

impl Decision {
    pub fn runs(&self) -> bool {
        matches!(self, Decision::Run(_))
    }

    /// A short phrase for the plan listing and the summary.
    pub fn describe(&self) -> String {
        match self {
            Decision::Run(RunReason::NotDone) => "to run".into(),
            Decision::Run(RunReason::Interrupted) => "to run (interrupted last time)".into(),
            Decision::Run(RunReason::Changed(what)) => {
                format!("to run again (changed: {})", what.join(", "))
            }
            Decision::Run(RunReason::Forced) => "to run (--force)".into(),
            Decision::Run(RunReason::Requested) => "to run (requested)".into(),
            Decision::Skip(SkipReason::Finished(at)) => format!("finished {at}, unchanged"),
            Decision::Skip(SkipReason::NotSelected) => "not selected".into(),
            Decision::NotAvailable => "not available yet".into(),
            Decision::Excluded(why) => format!("left out: {why}"),
            Decision::Waiting(on) => format!("waiting for {on} (not available yet)"),
        }
    }
}

/// Decides every step. Refuses a selection that names a step that cannot run.
pub fn decide(
    steps: &[StepInfo],
    state: &State,
    sel: &Selection,
) -> Result<Vec<Decision>, DeployError> {
    let index_of = |i: usize| {
        steps
            .iter()
            .position(|s| s.step.name == crate::steps::ALL[i].name)
    };
    for &i in sel.only.iter().chain(sel.from.iter()).chain(sel.to.iter()) {
        let step = crate::steps::ALL[i];
        match index_of(i).map(|p| &steps[p]) {
            Some(info) if info.available => {}
            _ if step.is_hook() => {
                return Err(DeployError::Refused(format!(
                    "--from/--only/--to {}: there are no playbooks in hooks/{}/",
                    step.name, step.name
                )))
            }
            _ => {
                return Err(DeployError::Refused(format!(
                    "--from/--only/--to {}: this step is not available yet in this kplay (no playbooks/{} on disk or embedded)",
                    step.name,
                    playbook_of(&step)
                )))
            }
        }
    }
    let from_pos = sel.from.and_then(index_of);
    let to_pos = sel.to.and_then(index_of);
    let only_pos: Vec<usize> = sel.only.iter().filter_map(|&i| index_of(i)).collect();
    let mut out = Vec::with_capacity(steps.len());
    let mut first_unavailable: Option<&'static str> = None;
    for (pos, info) in steps.iter().enumerate() {
        let d = if !info.available {
            if !info.step.is_hook() {
                first_unavailable.get_or_insert(info.step.name);
            }
            Decision::NotAvailable
        } else if let Some(why) = info.excluded {
            if !info.step.is_hook() {
                first_unavailable.get_or_insert(info.step.name);
            }
            Decision::Excluded(why)
        } else if let (true, Some(on)) = (info.step.is_hook(), first_unavailable) {
            Decision::Waiting(on)
        } else if from_pos.is_some_and(|f| pos < f)
            || to_pos.is_some_and(|t| pos > t)
            || (!only_pos.is_empty() && !only_pos.contains(&pos))
        {
            Decision::Skip(SkipReason::NotSelected)
        } else if sel.force {
            Decision::Run(RunReason::Forced)
        } else if from_pos.is_some() || !only_pos.is_empty() {
            Decision::Run(RunReason::Requested)
        } else {
            let now = info.inputs.as_ref();
            match (state.steps.get(info.step.name), now) {
                (Some(rec), Some((hash, _))) if &rec.hash == hash => {
                    Decision::Skip(SkipReason::Finished(rec.finished.clone()))
                }
                (Some(rec), Some((_, summary))) => {
                    let mut what = summary.changes_since(&rec.inputs);
                    if what.is_empty() {
                        what.push("inputs".into());
                    }
                    Decision::Run(RunReason::Changed(what))
                }
                _ if state
                    .running
                    .as_ref()
                    .is_some_and(|r| r.step == info.step.name) =>
                {
                    Decision::Run(RunReason::Interrupted)
                }
                _ => Decision::Run(RunReason::NotDone),
            }
        };
        out.push(d);
    }
    Ok(out)
}

fn playbook_of(step: &Step) -> &'static str {
    match step.kind {
        crate::steps::StepKind::Playbook(f) => f,
        crate::steps::StepKind::Hook(h) => h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{fresh, Running, StepRecord};
    use crate::steps::{parse, ALL};

    /// Steps as a deploy would list them: hooks only when `hooks` names them.
    fn infos(available: &[&str], hooks: &[&str]) -> Vec<StepInfo> {
        ALL.iter()
            .filter(|s| !s.is_hook() || hooks.contains(&s.name))
            .map(|s| {
                let avail = s.is_hook() || available.contains(&s.name);
                StepInfo {
                    step: *s,
                    available: avail,
                    excluded: None,
                    inputs: avail.then(|| (format!("h-{}", s.name), InputsSummary::default())),
                }
            })
            .collect()
    }

    fn finished(state: &mut State, name: &str, hash: &str) {
        state.steps.insert(
            name.into(),
            StepRecord {
                hash: hash.into(),
                finished: "2024-01-01T00:00:00Z".into(),
                seconds: 1.0,
                inputs: InputsSummary::default(),
            },
        );
    }

    const TODAY: [&str; 4] = [
        "00-preflight",
        "bootstrap-node",
        "01-cluster-bootstrap-os",
        "02-cluster-etcd",
    ];

    fn names(steps: &[StepInfo], d: &[Decision], f: impl Fn(&Decision) -> bool) -> Vec<String> {
        steps
            .iter()
            .zip(d)
            .filter(|(_, d)| f(d))
            .map(|(s, _)| s.step.name.to_string())
            .collect()
    }

    #[test]
    fn a_fresh_deploy_runs_every_available_step_and_lists_the_rest() {
        let steps = infos(&TODAY, &[]);
        let d = decide(&steps, &fresh(), &Selection::default()).unwrap();
        assert_eq!(names(&steps, &d, Decision::runs), TODAY);
        assert_eq!(
            names(&steps, &d, |d| *d == Decision::NotAvailable),
            [
                "03-cluster-kubernetes",
                "04-cluster-network",
                "05-cluster-apps"
            ]
        );
    }

    #[test]
    fn finished_steps_with_the_same_inputs_are_skipped_and_changed_ones_rerun() {
        let steps = infos(&TODAY, &[]);
        let mut st = fresh();
        finished(&mut st, "bootstrap-node", "h-bootstrap-node");
        finished(&mut st, "00-preflight", "h-00-preflight");
        finished(&mut st, "01-cluster-bootstrap-os", "old");
        finished(&mut st, "02-cluster-etcd", "h-02-cluster-etcd");
        let d = decide(&steps, &st, &Selection::default()).unwrap();
        assert_eq!(
            names(&steps, &d, Decision::runs),
            ["01-cluster-bootstrap-os"]
        );
        assert!(matches!(d[2], Decision::Run(RunReason::Changed(_))));
        assert_eq!(steps[2].step.name, "01-cluster-bootstrap-os");
    }

    #[test]
    fn an_interrupted_step_is_where_the_next_deploy_resumes() {
        let steps = infos(&TODAY, &[]);
        let mut st = fresh();
        finished(&mut st, "bootstrap-node", "h-bootstrap-node");
        finished(&mut st, "00-preflight", "h-00-preflight");
        finished(
            &mut st,
            "01-cluster-bootstrap-os",
            "h-01-cluster-bootstrap-os",
        );
        st.running = Some(Running {
            step: "02-cluster-etcd".into(),
            started: "x".into(),
            pid: 1,
        });
        let d = decide(&steps, &st, &Selection::default()).unwrap();
        assert_eq!(names(&steps, &d, Decision::runs), ["02-cluster-etcd"]);
        assert_eq!(d[3], Decision::Run(RunReason::Interrupted));
    }

    #[test]
    fn from_runs_the_named_step_and_every_later_one() {
        let steps = infos(&TODAY, &[]);
        let mut st = fresh();
        for s in TODAY {
            finished(&mut st, s, &format!("h-{s}"));
        }
        let sel = Selection {
            from: Some(parse("01").unwrap()),
            ..Default::default()
        };
        let d = decide(&steps, &st, &sel).unwrap();
        assert_eq!(
            names(&steps, &d, Decision::runs),
            ["01-cluster-bootstrap-os", "02-cluster-etcd"]
        );
        assert_eq!(d[0], Decision::Skip(SkipReason::NotSelected));
        assert_eq!(d[1], Decision::Skip(SkipReason::NotSelected));
    }

    #[test]
    fn to_leaves_every_later_step_alone_and_skips_finished_ones() {
        let steps = infos(&TODAY, &[]);
        let mut st = fresh();
        finished(&mut st, "00-preflight", "h-00-preflight");
        let sel = Selection {
            to: Some(parse("01").unwrap()),
            ..Default::default()
        };
        let d = decide(&steps, &st, &sel).unwrap();
        assert_eq!(
            names(&steps, &d, Decision::runs),
            ["bootstrap-node", "01-cluster-bootstrap-os"]
        );
        assert!(matches!(d[0], Decision::Skip(SkipReason::Finished(_))));
        assert_eq!(d[3], Decision::Skip(SkipReason::NotSelected));
        let sel = Selection {
            from: Some(parse("bootstrap").unwrap()),
            to: Some(parse("bootstrap").unwrap()),
            ..Default::default()
        };
        let d = decide(&steps, &st, &sel).unwrap();
        assert_eq!(names(&steps, &d, Decision::runs), ["bootstrap-node"]);
    }

    #[test]
    fn only_runs_exactly_the_named_steps() {
        let steps = infos(&TODAY, &[]);
        let sel = Selection {
            only: vec![parse("bootstrap").unwrap(), parse("2").unwrap()],
            ..Default::default()
        };
        let d = decide(&steps, &fresh(), &sel).unwrap();
        assert_eq!(
            names(&steps, &d, Decision::runs),
            ["bootstrap-node", "02-cluster-etcd"]
        );
    }

    #[test]
    fn force_reruns_finished_steps() {
        let steps = infos(&TODAY, &[]);
        let mut st = fresh();
        for s in TODAY {
            finished(&mut st, s, &format!("h-{s}"));
        }
        let sel = Selection {
            force: true,
            ..Default::default()
        };
        let d = decide(&steps, &st, &sel).unwrap();
        assert_eq!(names(&steps, &d, Decision::runs), TODAY);
        assert!(d[..4]
            .iter()
            .all(|d| *d == Decision::Run(RunReason::Forced)));
    }

    #[test]
    fn naming_a_step_that_is_not_available_is_refused() {
        let steps = infos(&TODAY, &[]);
        let sel = Selection {
            only: vec![parse("03").unwrap()],
            ..Default::default()
        };
        let e = decide(&steps, &fresh(), &sel).unwrap_err().to_string();
        assert!(
            e.contains("03-cluster-kubernetes") && e.contains("not available yet"),
            "{e}"
        );
        let sel = Selection {
            from: Some(parse("post-install").unwrap()),
            ..Default::default()
        };
        let e = decide(&steps, &fresh(), &sel).unwrap_err().to_string();
        assert!(e.contains("hooks/post-install/"), "{e}");
    }

    #[test]
    fn hooks_after_a_missing_step_wait_and_earlier_hooks_run() {
        let steps = infos(
            &TODAY,
            &["pre-install", "post-cluster-ready", "post-install"],
        );
        let d = decide(&steps, &fresh(), &Selection::default()).unwrap();
        assert_eq!(d[0], Decision::Run(RunReason::NotDone));
        let waiting = names(&steps, &d, |d| matches!(d, Decision::Waiting(_)));
        assert_eq!(waiting, ["post-cluster-ready", "post-install"]);
        assert!(d.contains(&Decision::Waiting("03-cluster-kubernetes")));
        let all: Vec<&str> = ALL.iter().map(|s| s.name).collect();
        let steps = infos(&all, &["post-cluster-ready"]);
        let d = decide(&steps, &fresh(), &Selection::default()).unwrap();
        assert!(d.iter().all(Decision::runs));
    }
}

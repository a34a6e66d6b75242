//! Query → plan → apply: the shape of every module that brings a host to a declared state.
//!
//! `query` reads the host, `plan` is a pure function from the arguments and what was seen to
//! the changes (and the result the task reports, diff included), `apply` carries the changes
//! out. [`Planned`] turns such a module into the engine's [`Module`] once for all of them, so
//! check mode (stop after `plan`) and `--diff` (show the plan's diff) are right by
//! construction, and `plan` is unit-tested without a host.
//!
//! Modules that are not "reach a state" (command, shell, raw, script: they run what they are
//! told; debug, assert, set_fact, fail: controller-side expressions; uri, wait_for: their
//! effect is the request or the wait itself) implement [`Module`] directly and say why.

use crate::common::args::Args;
use async_trait::async_trait;
use kplay_engine::module::{Diff, Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::Map;

/// `state: present|absent` (default `present`), the choice most modules share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Presence {
    #[default]
    Present,
    Absent,
}

impl Presence {
    /// `key` of the checked arguments; a value other than the two fails with ansible-core's
    /// wording.
    pub fn from_arg(a: &Args, key: &str) -> Result<Presence, ModuleError> {
        Ok(match a.choice(key, &["present", "absent"])?.as_deref() {
            Some("absent") => Presence::Absent,
            _ => Presence::Present,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Present => "present",
            Presence::Absent => "absent",
        }
    }
}

/// What `plan` decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan<C> {
    /// The changes to carry out; `None` when the host already is as asked.
    pub changes: Option<C>,
    /// The task's result as check mode reports it: `changed`, the diff, and keys such as
    /// `name` or `gid`. `apply` may add to it (what it learnt while acting).
    pub result: ModuleResult,
}

impl<C> Plan<C> {
    /// Nothing to do; the task reports `result` (its `changed` is false).
    pub fn nothing(result: ModuleResult) -> Self {
        Plan {
            changes: None,
            result: ModuleResult {
                changed: false,
                ..result
            },
        }
    }

    /// `changes` to carry out; the task reports `result` with `changed` true.
    pub fn change(changes: C, result: ModuleResult) -> Self {
        Plan {
            changes: Some(changes),
            result: ModuleResult {
                changed: true,
                ..result
            },
        }
    }

    /// [`Plan::change`] when there are `changes`, else [`Plan::nothing`]: for a plan that
    /// computes its optional changes and its result apart.
    pub fn maybe(changes: Option<C>, result: ModuleResult) -> Self {
        match changes {
            Some(c) => Plan::change(c, result),
            None => Plan::nothing(result),
        }
    }
}

/// A module in query → plan → apply shape. Register it as `Planned(TheModule)`.
#[async_trait]
pub trait QueryPlanApply: Send + Sync + 'static {
    /// The checked arguments.
    type Args: Send + Sync;
    /// What `query` found on the host.
    type Seen: Send + Sync;
    /// What `apply` is to do.
    type Changes: Send + Sync;

    /// See [`Module::name`].
    fn name(&self) -> &'static str;
    /// See [`Module::aliases`].
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }
    /// See [`Module::collections`].
    fn collections(&self) -> &'static [&'static str] {
        &[]
    }

    /// See [`Module::supports_check_mode`]: false for the few ansible-core skips in check
    /// mode (`assemble`).
    fn supports_check_mode(&self) -> bool {
        true
    }

    /// Check the task's arguments (through the module's `SPEC`).
    fn parse(&self, args: Map) -> Result<Self::Args, ModuleError>;

    /// Read what the plan needs from the host; changes nothing.
    async fn query(
        &self,
        ctx: &ModuleContext<'_>,
        args: &Self::Args,
    ) -> Result<Self::Seen, ModuleError>;

    /// Decide, without touching the host: the same arguments and the same `seen` give the
    /// same plan. Its diff is always computed; the engine shows it only under `--diff`.
    fn plan(args: &Self::Args, seen: &Self::Seen) -> Result<Plan<Self::Changes>, ModuleError>;

    /// Carry the changes out (never called in check mode) and return the final result,
    /// starting from the plan's.
    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        args: &Self::Args,
        changes: Self::Changes,
        result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError>;

    /// Release what `query` set up on the host for the run (a file uploaded to be read),
    /// whatever happened after it. Nothing by default.
    async fn finish(&self, _ctx: &ModuleContext<'_>, _seen: &Self::Seen) {}
}

/// The engine's [`Module`] for any [`QueryPlanApply`] module.
pub struct Planned<M>(pub M);

#[async_trait]
impl<M: QueryPlanApply> Module for Planned<M> {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn aliases(&self) -> &'static [&'static str] {
        self.0.aliases()
    }
    fn collections(&self) -> &'static [&'static str] {
        self.0.collections()
    }
    fn supports_check_mode(&self) -> bool {
        self.0.supports_check_mode()
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let args = self.0.parse(args)?;
        let seen = self.0.query(ctx, &args).await?;
        let outcome = match M::plan(&args, &seen) {
            Ok(Plan {
                changes,
                mut result,
            }) => {
                if !ctx.diff {
                    result.diff = Diff::None;
                }
                match changes {
                    Some(c) if !ctx.check_mode => self.0.apply(ctx, &args, c, result).await,
                    _ => Ok(result),
                }
            }
            Err(e) => Err(e),
        };
        self.0.finish(ctx, &seen).await;
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{ctx, TestEnv};
    use kplay_engine::value::Value;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A module over a counter: `want` is the state asked for, the counter the host; the
    /// second counts `finish` calls.
    struct Counter(AtomicUsize, AtomicUsize);

    #[async_trait]
    impl QueryPlanApply for Counter {
        type Args = usize;
        type Seen = usize;
        type Changes = usize;
        fn name(&self) -> &'static str {
            "counter"
        }
        fn parse(&self, args: Map) -> Result<usize, ModuleError> {
            match args.get("want").and_then(Value::as_u64) {
                Some(n) => Ok(n as usize),
                None => Err(ModuleError::new("missing required arguments: want")),
            }
        }
        async fn query(&self, _: &ModuleContext<'_>, _: &usize) -> Result<usize, ModuleError> {
            Ok(self.0.load(Ordering::SeqCst))
        }
        fn plan(want: &usize, seen: &usize) -> Result<Plan<usize>, ModuleError> {
            if *want == 99 {
                return Err(ModuleError::new("no plan for 99"));
            }
            let r = ModuleResult::new(false).set("want", *want as u64);
            Ok(if want == seen {
                Plan::nothing(r)
            } else {
                let r = r.with_diff("before", "after", &seen.to_string(), &want.to_string());
                Plan::change(*want, r)
            })
        }
        async fn apply(
            &self,
            _: &ModuleContext<'_>,
            _: &usize,
            n: usize,
            r: ModuleResult,
        ) -> Result<ModuleResult, ModuleError> {
            self.0.store(n, Ordering::SeqCst);
            Ok(r.set("applied", true))
        }
        async fn finish(&self, _: &ModuleContext<'_>, _: &usize) {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn maybe_changes_only_with_changes_and_sets_changed_to_match() {
        let p = Plan::maybe(Some(3), ModuleResult::new(false).set("k", 1));
        assert_eq!(p.changes, Some(3));
        assert!(p.result.changed && p.result.extra["k"] == 1);
        let p = Plan::<u8>::maybe(None, ModuleResult::new(true));
        assert!(p.changes.is_none() && !p.result.changed);
    }

    fn args(n: u64) -> Map {
        let mut m = Map::new();
        m.insert("want".into(), n.into());
        m
    }

    #[tokio::test]
    async fn check_mode_stops_after_plan_and_diff_shows_only_when_asked() {
        let env = TestEnv::new(std::path::Path::new("/nonexistent"));
        let m = Planned(Counter(AtomicUsize::new(1), AtomicUsize::new(0)));
        let r = m.run(&ctx(&env, true, false), args(2)).await.unwrap();
        assert!(r.changed && r.diff.is_none() && !r.extra.contains_key("applied"));
        assert_eq!(m.0 .0.load(Ordering::SeqCst), 1);
        let r = m.run(&ctx(&env, true, true), args(2)).await.unwrap();
        assert!(matches!(&r.diff, Diff::Many(d) if d[0]["after"] == "2"));
        assert_eq!(m.0 .0.load(Ordering::SeqCst), 1);
        let r = m.run(&ctx(&env, false, true), args(2)).await.unwrap();
        assert!(r.changed && r.extra["applied"] == true && !r.diff.is_none());
        assert_eq!(m.0 .0.load(Ordering::SeqCst), 2);
        let r = m.run(&ctx(&env, false, true), args(2)).await.unwrap();
        assert!(!r.changed && r.diff.is_none() && !r.extra.contains_key("applied"));
        assert_eq!(m.0 .1.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn bad_arguments_fail_with_the_parsers_message() {
        let env = TestEnv::new(std::path::Path::new("/nonexistent"));
        let m = Planned(Counter(AtomicUsize::new(1), AtomicUsize::new(0)));
        let e = m
            .run(&ctx(&env, false, false), Map::new())
            .await
            .unwrap_err();
        assert_eq!(e.msg, "missing required arguments: want");
        assert_eq!(m.0 .1.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn finish_runs_when_the_plan_fails() {
        let env = TestEnv::new(std::path::Path::new("/nonexistent"));
        let m = Planned(Counter(AtomicUsize::new(1), AtomicUsize::new(0)));
        let e = m.run(&ctx(&env, false, false), args(99)).await.unwrap_err();
        assert_eq!(e.msg, "no plan for 99");
        assert_eq!(m.0 .1.load(Ordering::SeqCst), 1);
        assert_eq!(m.0 .0.load(Ordering::SeqCst), 1);
    }
}

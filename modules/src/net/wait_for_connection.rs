//! `wait_for_connection`: retry a trivial command on the host until it answers (after a reboot,
//! while a machine boots). Each attempt is bounded by `connect_timeout`; the whole wait by
//! `timeout`. Skipped in check mode, as Ansible's action plugin does.

use crate::common::args::{p, Args, Param, Spec};
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::ExecRequest;
use kplay_engine::value::{Map, Value};
use std::time::{Duration, Instant};

const PARAMS: &[Param] = &[
    p("connect_timeout", &[]).doc("Seconds to wait for one connection attempt."),
    p("delay", &[]).doc("Seconds to wait before the first attempt."),
    p("sleep", &[]).doc("Seconds between attempts."),
    p("timeout", &[]).doc("Seconds to keep trying."),
];

/// `wait_for_connection`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "wait_for_connection",
    "Waits until remote system is reachable/usable",
    &[PARAMS],
);

/// Checked arguments, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Waits {
    connect_timeout: f64,
    delay: f64,
    sleep: f64,
    timeout: f64,
}

/// A non-negative number of seconds (int, float or numeric string).
pub(crate) fn seconds(a: &Args, name: &str, default: f64) -> Result<f64, ModuleError> {
    let v = match a.raw(name) {
        None => return Ok(default),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(_) => None,
    };
    match v {
        Some(x) if x >= 0.0 && x.is_finite() => Ok(x),
        _ => Err(ModuleError::new(format!(
            "argument '{name}' must be a non-negative number of seconds"
        ))),
    }
}

impl Waits {
    fn parse(args: Map) -> Result<Waits, ModuleError> {
        let a = SPEC.parse(args)?;
        Ok(Waits {
            connect_timeout: seconds(&a, "connect_timeout", 5.0)?,
            delay: seconds(&a, "delay", 0.0)?,
            sleep: seconds(&a, "sleep", 1.0)?,
            timeout: seconds(&a, "timeout", 600.0)?,
        })
    }
}

/// One attempt: `true` on the host within `limit`.
async fn ping(ctx: &ModuleContext<'_>, limit: Duration) -> Result<(), String> {
    let mut req = ExecRequest::sh("true").with_become(ctx.become_.clone());
    req.env = ctx.environment.clone();
    match tokio::time::timeout(limit, ctx.transport.exec(req)).await {
        Err(_) => Err(format!("timed out after {}s", limit.as_secs_f64())),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(out)) if out.rc == 0 => Ok(()),
        Ok(Ok(out)) => Err(format!("rc {}: {}", out.rc, out.stderr_str().trim())),
    }
}

/// Not query → plan → apply ([`crate::planned`]): Its effect is the wait itself (polling until the host answers), not a state to reach.
pub struct WaitForConnectionModule;

#[async_trait]
impl Module for WaitForConnectionModule {
    fn name(&self) -> &'static str {
        "wait_for_connection"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let w = Waits::parse(args)?;
        if ctx.check_mode {
            return Ok(ModuleResult::new(false).set("skipped", true));
        }
        let start = Instant::now();
        tokio::time::sleep(Duration::from_secs_f64(w.delay)).await;
        let deadline = start + Duration::from_secs_f64(w.delay + w.timeout);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let limit =
                Duration::from_secs_f64(w.connect_timeout).min(left.max(Duration::from_millis(1)));
            match ping(ctx, limit).await {
                Ok(()) => {
                    return Ok(ModuleResult::new(false).set("elapsed", start.elapsed().as_secs()))
                }
                Err(e) if Instant::now() >= deadline => {
                    let r = ModuleResult::new(false).set("elapsed", start.elapsed().as_secs());
                    return Err(ModuleError::with_result(
                        format!("timed out waiting for ping module test: {e}"),
                        r.into_map(),
                    ));
                }
                Err(_) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    tokio::time::sleep(Duration::from_secs_f64(w.sleep).min(left)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use async_trait::async_trait;
    use kplay_engine::module::ModuleContext;
    use kplay_engine::transport::{ExecOutput, Transport, TransportError};
    use serde_json::json;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Unreachable for the first `fail` attempts, then answers.
    struct Flaky {
        fail: u32,
        calls: AtomicU32,
    }

    #[async_trait]
    impl Transport for Flaky {
        fn describe(&self) -> String {
            "flaky".into()
        }
        async fn exec(&self, _req: ExecRequest) -> Result<ExecOutput, TransportError> {
            if self.calls.fetch_add(1, Ordering::SeqCst) < self.fail {
                Err(TransportError::Unreachable("connection refused".into()))
            } else {
                Ok(ExecOutput::default())
            }
        }
    }

    fn flaky_ctx<'a>(env: &'a TestEnv, t: &'a Flaky) -> ModuleContext<'a> {
        let mut c = ctx(env, false, false);
        c.transport = t;
        c
    }

    #[tokio::test]
    async fn retries_until_the_host_answers() {
        let env = TestEnv::new(std::path::Path::new("/"));
        let t = Flaky {
            fail: 2,
            calls: AtomicU32::new(0),
        };
        let r = WaitForConnectionModule
            .run(
                &flaky_ctx(&env, &t),
                args(json!({"sleep": 0.01, "timeout": 5})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["changed"], false);
        assert_eq!(t.calls.load(Ordering::SeqCst), 3);
        assert!(r["elapsed"].is_u64());
    }

    #[tokio::test]
    async fn gives_up_after_timeout_with_the_last_error() {
        let env = TestEnv::new(std::path::Path::new("/"));
        let t = Flaky {
            fail: u32::MAX,
            calls: AtomicU32::new(0),
        };
        let e = WaitForConnectionModule
            .run(
                &flaky_ctx(&env, &t),
                args(json!({"sleep": 0.05, "timeout": 0.2})),
            )
            .await
            .unwrap_err();
        assert_eq!(
            e.msg,
            "timed out waiting for ping module test: connection refused"
        );
    }

    #[tokio::test]
    async fn check_mode_is_skipped() {
        let env = TestEnv::new(std::path::Path::new("/"));
        let r = WaitForConnectionModule
            .run(&ctx(&env, true, false), Map::new())
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["skipped"], true);
    }

    #[test]
    fn negative_timeout_is_rejected() {
        assert!(Waits::parse(args(json!({"timeout": -1}))).is_err());
        assert!(Waits::parse(args(json!({"timeout": "x"}))).is_err());
    }
}

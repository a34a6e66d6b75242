//! Stopping a run early: Ctrl-C (SIGINT) or a closed stdout. Ansible users expect
//! `[ERROR]: User interrupted execution` and exit 99 on Ctrl-C; a closed pipe ends the run as
//! it ends any Unix tool. Either way the commands the run started on its hosts are stopped
//! (through [`crate::transport::Transport::interrupt`]), so no `sleep 30` of an interrupted
//! task keeps running there.
//!
//! The binary races the run against [`stop_requested`]; when that wins it calls
//! [`super::Runner::interrupt`] and ends the process.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;
use tokio::sync::Notify;

/// Ansible's exit code for a run the user interrupted.
pub const EXIT_INTERRUPTED: i32 = 99;

/// Why the run stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// SIGINT (Ctrl-C).
    Interrupted,
    /// Nobody reads stdout any more.
    StdoutClosed,
}

static REASON: AtomicU8 = AtomicU8::new(0);

fn notify() -> &'static Notify {
    static N: OnceLock<Notify> = OnceLock::new();
    N.get_or_init(Notify::new)
}

/// Ask the run to stop (the first reason wins). Callable from any thread.
pub fn request_stop(reason: StopReason) {
    let code = match reason {
        StopReason::Interrupted => 1,
        StopReason::StdoutClosed => 2,
    };
    if REASON
        .compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
    {
        notify().notify_waiters();
        notify().notify_one();
    }
}

/// The reason a stop was requested, if one was.
pub fn stop_reason() -> Option<StopReason> {
    match REASON.load(Ordering::SeqCst) {
        1 => Some(StopReason::Interrupted),
        2 => Some(StopReason::StdoutClosed),
        _ => None,
    }
}

/// Resolves when SIGINT arrives or a stop is requested otherwise (a closed stdout).
pub async fn stop_requested() -> StopReason {
    let sigint = async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => request_stop(StopReason::Interrupted),
            // No signal handling here: only the other reasons can stop the run.
            Err(_) => std::future::pending::<()>().await,
        }
    };
    let other = async {
        loop {
            let n = notify().notified();
            if stop_reason().is_some() {
                return;
            }
            n.await;
        }
    };
    tokio::select! {
        _ = sigint => {}
        _ = other => {}
    }
    stop_reason().unwrap_or(StopReason::Interrupted)
}

/// After a stop was requested, a second Ctrl-C ends the process at once (cleaning up hosts
/// can take a few seconds on a slow network).
pub fn second_sigint_exits() {
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            crate::output::sink::err_line("[ERROR]: User interrupted execution");
            std::process::exit(EXIT_INTERRUPTED);
        }
    });
}

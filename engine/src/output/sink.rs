//! Where kplay's output goes: stdout, written so that a closed pipe (`kplay … | head -1`) ends
//! the run quietly, as it ends any other Unix tool, instead of a panic and a hung run.
//!
//! Rust ignores SIGPIPE, so a write to a closed pipe returns `EPIPE` and `println!` panics
//! (inside a tokio task that leaves the run waiting for it forever). Every line kplay prints on
//! stdout goes through [`line`] or [`text`]: the first `EPIPE` marks stdout closed, drops what
//! follows, and calls the hook the binary set with [`on_closed`] (a run stops its hosts'
//! commands there, then dies of SIGPIPE with [`die_of_sigpipe`]). Without a hook the process
//! dies of SIGPIPE at once, which is right for commands that start nothing on hosts.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

static CLOSED: AtomicBool = AtomicBool::new(false);
static HOOK: OnceLock<Box<dyn Fn() + Send + Sync>> = OnceLock::new();

/// Call `f` (once) when stdout turns out to be closed, instead of dying at once.
pub fn on_closed(f: impl Fn() + Send + Sync + 'static) {
    let _ = HOOK.set(Box::new(f));
}

/// Whether a write to stdout already failed with a closed pipe.
pub fn closed() -> bool {
    CLOSED.load(Ordering::SeqCst)
}

/// Print `s` and a newline on stdout.
pub fn line(s: &str) {
    write(s, true);
}

/// Print `s` as it is on stdout.
pub fn text(s: &str) {
    write(s, false);
}

fn write(s: &str, newline: bool) {
    if closed() {
        return;
    }
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    let mut r = lock.write_all(s.as_bytes());
    if r.is_ok() && newline {
        r = lock.write_all(b"\n");
    }
    if r.is_ok() {
        r = lock.flush();
    }
    drop(lock);
    if let Err(e) = r {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            mark_closed();
        }
    }
}

/// Treat stdout as closed from now on (also used when the reader is known to be gone).
pub fn mark_closed() {
    if CLOSED.swap(true, Ordering::SeqCst) {
        return;
    }
    match HOOK.get() {
        Some(h) => h(),
        None => die_of_sigpipe(),
    }
}

/// End the process the way a Unix tool ends when its reader went away: killed by SIGPIPE (a
/// shell shows status 141), with nothing printed.
pub fn die_of_sigpipe() -> ! {
    // SAFETY: restoring the default action of a signal and raising it has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    std::process::exit(141)
}

/// Print `s` and a newline on stderr; a closed stderr is ignored (nothing else can be done).
pub fn err_line(s: &str) {
    let _ = writeln!(std::io::stderr(), "{s}");
}

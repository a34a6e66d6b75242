//! A second local user for race tests: created when the tests run as root, and a watcher
//! thread that drops to that user (its own credentials only: raw `setres[ug]id` calls change
//! the calling thread, not the process) and reacts to inotify events in a directory.
#![allow(dead_code)]

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub const USER: &str = "kplaysec";

/// True when running as root; otherwise prints SKIP (CI runs as root, so there the tests run).
pub fn root_or_skip(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: needs root (a second local user), and CI=true forbids skipping");
    }
    eprintln!("SKIP {test}: needs root to create a second local user");
    false
}

/// The second user's uid and gid, creating the user on first use.
pub fn ids() -> (u32, u32) {
    static ONCE: Mutex<Option<(u32, u32)>> = Mutex::new(None);
    let mut done = ONCE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(ids) = *done {
        return ids;
    }
    let lookup = || {
        let out = Command::new("id").args(["-u", USER]).output().ok()?;
        let uid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
        let out = Command::new("id").args(["-g", USER]).output().ok()?;
        let gid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
        Some((uid, gid))
    };
    if lookup().is_none() {
        let st = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                USER,
            ])
            .status()
            .expect("running useradd");
        assert!(st.success(), "useradd {USER} failed");
    }
    let ids = lookup().expect("the second user exists after useradd");
    *done = Some(ids);
    ids
}

/// Make `dir` (and the temp dir above it) reachable by the second user.
pub fn open_to_others(dir: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.display()));
}

/// Switch the calling thread to `uid`/`gid` with no supplementary groups.
fn become_user(uid: u32, gid: u32) {
    // SAFETY: raw syscalls on plain integers; they affect only the calling thread.
    unsafe {
        assert_eq!(
            libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()),
            0
        );
        assert_eq!(libc::syscall(libc::SYS_setresgid, gid, gid, gid), 0);
        assert_eq!(libc::syscall(libc::SYS_setresuid, uid, uid, uid), 0);
    }
}

/// One inotify event: the name and whether it names a directory.
pub struct Created {
    pub name: String,
    pub is_dir: bool,
}

/// A thread, running as the second user, that calls `on_create` for every file or directory
/// created in `dir` until stopped; `on_create` returns what to record.
pub struct Watcher {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl Watcher {
    pub fn start<F>(dir: &Path, on_create: F) -> Watcher
    where
        F: Fn(&Path, &Created) -> Option<String> + Send + 'static,
    {
        let (uid, gid) = ids();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let dir: PathBuf = dir.to_path_buf();
        let (s, v) = (stop.clone(), seen.clone());
        let handle = std::thread::spawn(move || {
            become_user(uid, gid);
            // SAFETY: plain inotify calls on a descriptor this thread owns.
            let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
            assert!(fd >= 0, "inotify_init1");
            let c = CString::new(dir.as_os_str().as_encoded_bytes()).expect("path");
            let wd = unsafe {
                libc::inotify_add_watch(fd, c.as_ptr(), libc::IN_CREATE | libc::IN_MOVED_TO)
            };
            assert!(wd >= 0, "inotify_add_watch {}", dir.display());
            let _ = ready_tx.send(());
            let mut buf = vec![0u8; 64 * 1024];
            while !s.load(Ordering::SeqCst) {
                let mut pfd = libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                unsafe { libc::poll(&mut pfd, 1, 20) };
                let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
                if n <= 0 {
                    continue;
                }
                let mut off = 0usize;
                while off + std::mem::size_of::<libc::inotify_event>() <= n as usize {
                    // SAFETY: the kernel wrote whole events into `buf`.
                    let ev: libc::inotify_event =
                        unsafe { std::ptr::read_unaligned(buf.as_ptr().add(off).cast()) };
                    let start = off + std::mem::size_of::<libc::inotify_event>();
                    let end = start + ev.len as usize;
                    let raw = &buf[start..end.min(n as usize)];
                    let name =
                        String::from_utf8_lossy(raw.split(|b| *b == 0).next().unwrap_or(&[]))
                            .into_owned();
                    off = end;
                    let created = Created {
                        name,
                        is_dir: ev.mask & libc::IN_ISDIR != 0,
                    };
                    if let Some(rec) = on_create(&dir, &created) {
                        v.lock().unwrap_or_else(|e| e.into_inner()).push(rec);
                    }
                }
            }
            unsafe { libc::close(fd) };
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("watcher thread started");
        Watcher {
            stop,
            handle: Some(handle),
            seen,
        }
    }

    /// Stop the thread and return what it recorded.
    pub fn finish(mut self) -> Vec<String> {
        std::thread::sleep(Duration::from_millis(100));
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            h.join().expect("watcher thread panicked");
        }
        let v = self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        v
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

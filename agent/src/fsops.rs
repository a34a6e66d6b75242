//! The agent's file operations, done with system calls instead of `stat`/`sha1sum`/`cat`/`mv`/
//! `chmod` processes. They do what the modules' sh scripts do, step for step, so a host gives
//! the same results whichever path served a request.

use crate::ids;
use crate::proto::{
    Attrs, Checksum, FailedStep, HostInfo, PathKind, PathStat, ProbeSpec, Reply, Request,
    WriteSpec, PROTOCOL,
};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Carry out one request.
pub fn handle(req: Request) -> Reply {
    match req {
        Request::Hello => Reply::Hello { protocol: PROTOCOL },
        Request::Probe { paths, host } => Reply::Probe {
            host: host.then(host_info),
            paths: paths.iter().map(probe).collect(),
        },
        Request::Write(w) => match write(&w) {
            Ok(st) => Reply::Stat(st),
            Err(f) => f.into(),
        },
        Request::SetAttrs {
            path,
            attrs,
            no_deref,
        } => match set_attrs(Path::new(&path), &attrs, no_deref) {
            Ok(()) => Reply::Stat(stat_of(&path)),
            Err(f) => f.into(),
        },
        Request::Mkdir { path, attrs } => match mkdir(&path, &attrs) {
            Ok(made) => Reply::Made {
                stat: stat_of(&path),
                made,
            },
            Err(f) => f.into(),
        },
        Request::Remove { path } => match remove(Path::new(&path)) {
            Ok(()) => Reply::Stat(stat_of(&path)),
            Err(f) => f.into(),
        },
        Request::Read { path } => match fs::read(&path) {
            Ok(d) => Reply::Content(Some(d)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Reply::Content(None),
            Err(e) => Failure::new(FailedStep::Read, format!("reading {path}: {e}")).into(),
        },
    }
}

/// A failed step and its message (what the sh path prints on stderr).
struct Failure {
    step: FailedStep,
    message: String,
}

impl Failure {
    fn new(step: FailedStep, message: impl Into<String>) -> Self {
        Failure {
            step,
            message: message.into(),
        }
    }
}

impl From<Failure> for Reply {
    fn from(f: Failure) -> Reply {
        Reply::Failed {
            step: f.step,
            message: f.message,
        }
    }
}

/// The process's user, group and umask.
pub fn host_info() -> HostInfo {
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    HostInfo {
        uid,
        gid,
        user: ids::user_name(uid).unwrap_or_else(|| uid.to_string()),
        group: ids::group_name(gid).unwrap_or_else(|| gid.to_string()),
        umask: current_umask(),
    }
}

/// The process umask: from `/proc/self/status` (Linux 4.7+), which reads it without changing
/// it (other threads may be creating files meanwhile); else by setting and restoring it.
pub fn current_umask() -> u32 {
    let from_proc = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        });
    if let Some(m) = from_proc {
        return m;
    }
    // SAFETY: umask is process-global and always succeeds; the old value is restored at once.
    unsafe {
        let old = libc::umask(0o022);
        libc::umask(old);
        old as u32
    }
}

fn secs(s: i64) -> f64 {
    s as f64
}

/// A plain stat (no follow, no checksum, no content), as reported after a change.
fn stat_of(path: &str) -> PathStat {
    probe(&ProbeSpec {
        path: path.to_string(),
        follow: false,
        checksum: None,
        content_limit: None,
        real_path: false,
        mime: false,
    })
}

/// One path, as the sh probe (`kp`) reports it.
pub fn probe(spec: &ProbeSpec) -> PathStat {
    let path = Path::new(&spec.path);
    let mut st = PathStat::absent(&spec.path);
    if spec.real_path {
        st.real_path = Some(real_path(path));
    }
    // `stat` of an empty path fails; the sh probe's `stat -- ""` does too.
    let md = if spec.path.is_empty() {
        None
    } else if spec.follow {
        fs::metadata(path).ok()
    } else {
        fs::symlink_metadata(path).ok()
    };
    let Some(md) = md else {
        return st;
    };
    st.kind = PathKind::from_raw(md.mode());
    st.mode = md.mode() & 0o7777;
    st.uid = md.uid();
    st.gid = md.gid();
    st.owner = ids::user_name(md.uid()).unwrap_or_else(|| "UNKNOWN".into());
    st.group = ids::group_name(md.gid()).unwrap_or_else(|| "UNKNOWN".into());
    st.size = md.size();
    st.atime = secs(md.atime());
    st.mtime = secs(md.mtime());
    st.ctime = secs(md.ctime());
    st.inode = md.ino();
    st.dev = md.dev();
    st.nlink = md.nlink();
    let is_link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if is_link {
        st.link_target = fs::read_link(path)
            .ok()
            .map(|t| t.to_string_lossy().into_owned());
        st.link_source = Some(real_path(path));
    }
    st.readable = access(path, nix::unistd::AccessFlags::R_OK);
    st.writeable = access(path, nix::unistd::AccessFlags::W_OK);
    st.executable = access(path, nix::unistd::AccessFlags::X_OK);
    if spec.mime {
        st.mime = mime(path);
    }
    // Content and checksum of regular files only, through a final link only when following.
    let regular = (spec.follow || !is_link) && fs::metadata(path).is_ok_and(|m| m.is_file());
    if regular && st.readable {
        if let Some(alg) = spec.checksum {
            st.checksum = checksum_file(path, alg).ok();
        }
        if let Some(limit) = spec.content_limit {
            // Never more than the limit (plus one byte, to see a file that grew) in memory.
            if md.size() <= limit {
                let mut data = Vec::new();
                let read = File::open(path)
                    .and_then(|f| f.take(limit.saturating_add(1)).read_to_end(&mut data));
                if read.is_ok() && data.len() as u64 <= limit {
                    st.content = Some(data);
                }
            }
        }
    }
    st
}

/// `file -b --mime`, the one program a probe may start (there is no MIME database in kplay):
/// `None` when the host has no `file`, as the sh probe reports it.
fn mime(path: &Path) -> Option<String> {
    let found = std::env::var_os("PATH")?;
    let file = std::env::split_paths(&found)
        .map(|d| d.join("file"))
        .find(|p| p.is_file())?;
    let out = std::process::Command::new(file)
        .args(["-b", "--mime", "--"])
        .arg(path)
        .env("LC_ALL", "C")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `test -r/-w/-x` for the process's effective ids.
fn access(path: &Path, how: nix::unistd::AccessFlags) -> bool {
    nix::unistd::faccessat(
        nix::fcntl::AT_FDCWD,
        path,
        how,
        nix::fcntl::AtFlags::AT_EACCESS,
    )
    .is_ok()
}

/// `readlink -f`: every link resolved, a dangling one too (to the name it points to); a
/// missing last component is kept as named.
pub fn real_path(path: &Path) -> String {
    resolve(path, 0)
}

fn resolve(path: &Path, depth: u32) -> String {
    if let Ok(p) = fs::canonicalize(path) {
        return p.to_string_lossy().into_owned();
    }
    // Linux's own limit on links followed in one lookup (a loop ends here).
    if depth < 40 {
        if let Ok(target) = fs::read_link(path) {
            let next = match path.parent() {
                Some(dir) if target.is_relative() => dir.join(target),
                _ => target,
            };
            return resolve(&next, depth + 1);
        }
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match (fs::canonicalize(&parent), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name).to_string_lossy().into_owned(),
        _ => path.to_string_lossy().into_owned(),
    }
}

/// Hex digest of a file, streamed.
fn checksum_file(path: &Path, alg: Checksum) -> std::io::Result<String> {
    use sha1::Digest;
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    macro_rules! digest {
        ($h:expr) => {{
            let mut h = $h;
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            hex::encode(h.finalize())
        }};
    }
    Ok(match alg {
        Checksum::Md5 => {
            let mut c = md5::Context::new();
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                c.consume(&buf[..n]);
            }
            format!("{:x}", c.finalize())
        }
        Checksum::Sha1 => digest!(sha1::Sha1::new()),
        Checksum::Sha224 => digest!(sha2::Sha224::new()),
        Checksum::Sha256 => digest!(sha2::Sha256::new()),
        Checksum::Sha384 => digest!(sha2::Sha384::new()),
        Checksum::Sha512 => digest!(sha2::Sha512::new()),
    })
}

/// `chown`/`chgrp`/`chmod` in that order (chown may clear set-id bits, so the mode comes last).
fn set_attrs(path: &Path, attrs: &Attrs, no_deref: bool) -> Result<(), Failure> {
    let shown = path.display();
    let chown = |uid: Option<u32>, gid: Option<u32>| {
        if no_deref {
            std::os::unix::fs::lchown(path, uid, gid)
        } else {
            std::os::unix::fs::chown(path, uid, gid)
        }
    };
    if let Some(o) = &attrs.owner {
        let uid = ids::user_id(o).ok_or_else(|| {
            Failure::new(FailedStep::Chown, format!("failed to look up user {o}"))
        })?;
        chown(Some(uid), None)
            .map_err(|e| Failure::new(FailedStep::Chown, format!("{shown}: {e}")))?;
    }
    if let Some(g) = &attrs.group {
        let gid = ids::group_id(g).ok_or_else(|| {
            Failure::new(FailedStep::Chgrp, format!("failed to look up group {g}"))
        })?;
        chown(None, Some(gid))
            .map_err(|e| Failure::new(FailedStep::Chgrp, format!("{shown}: {e}")))?;
    }
    if let Some(m) = attrs.mode {
        // Linux has no lchmod: a link's own mode cannot change (callers skip links).
        fs::set_permissions(path, fs::Permissions::from_mode(m))
            .map_err(|e| Failure::new(FailedStep::Chmod, format!("{shown}: {e}")))?;
    }
    Ok(())
}

/// [`set_attrs`] on an open file or directory: the object kplay created itself, never
/// whatever a name points to by the time the call is made (another user may swap a name for a
/// symlink in a directory they can write to). `shown` is the name used in messages.
fn set_attrs_fd(file: &File, shown: &Path, attrs: &Attrs) -> Result<(), Failure> {
    let shown = shown.display();
    if let Some(o) = &attrs.owner {
        let uid = ids::user_id(o).ok_or_else(|| {
            Failure::new(FailedStep::Chown, format!("failed to look up user {o}"))
        })?;
        std::os::unix::fs::fchown(file, Some(uid), None)
            .map_err(|e| Failure::new(FailedStep::Chown, format!("{shown}: {e}")))?;
    }
    if let Some(g) = &attrs.group {
        let gid = ids::group_id(g).ok_or_else(|| {
            Failure::new(FailedStep::Chgrp, format!("failed to look up group {g}"))
        })?;
        std::os::unix::fs::fchown(file, None, Some(gid))
            .map_err(|e| Failure::new(FailedStep::Chgrp, format!("{shown}: {e}")))?;
    }
    if let Some(m) = attrs.mode {
        file.set_permissions(fs::Permissions::from_mode(m))
            .map_err(|e| Failure::new(FailedStep::Chmod, format!("{shown}: {e}")))?;
    }
    Ok(())
}

/// Make a rename in `dir` durable (the new name survives a crash); best effort.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Prefix of kplay's temp files, so leftovers of a killed run are recognisable.
pub const TEMP_PREFIX: &str = ".kplay-tmp.";

/// A temp file name for a file called `base` that no other writer picks (pid, time, counter).
pub fn temp_file_name(base: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{TEMP_PREFIX}{}.{nanos}.{n}.{base}", std::process::id())
}

/// A temp file path beside `dest`.
fn temp_path(dest: &Path) -> PathBuf {
    let base = dest
        .file_name()
        .map(|b| b.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = temp_file_name(&base);
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.join(name),
        _ => PathBuf::from(name),
    }
}

/// Removes the temp file unless the rename consumed it.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

/// The modules' write script without a shell: parents, temp file, content, the replaced file's
/// mode and owner, requested attributes, rename, and the stat of the result.
///
/// The temp file is created owner-only (0600, `O_EXCL`, never through a link) and every
/// attribute is set on the open file, so no other user can open it while it holds the new
/// content, whatever mode the result gets; then fsync, rename, fsync of the directory.
fn write(w: &WriteSpec) -> Result<PathStat, Failure> {
    let dest = Path::new(&w.dest);
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if w.create_parent && !dir.is_dir() {
        let last = Attrs {
            mode: w.parent_mode,
            ..Default::default()
        };
        make_dirs(dir, &Attrs::default(), &last)
            .map_err(|f| Failure::new(FailedStep::Temp, f.message))?;
    }
    let tmp = temp_path(dest);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)
        .map_err(|e| Failure::new(FailedStep::Temp, format!("{}: {e}", tmp.display())))?;
    let guard = TempGuard(Some(tmp.clone()));
    let written = match &w.from_remote {
        Some(src) => File::open(src).and_then(|mut s| std::io::copy(&mut s, &mut file).map(|_| ())),
        None => file.write_all(&w.data),
    };
    written.map_err(|e| Failure::new(FailedStep::Write, format!("{}: {e}", tmp.display())))?;
    // Like Ansible's atomic_move: a replaced file keeps its mode and (if we may) its owner; a
    // new one gets `0666 & ~umask`, as `: > file` would have made it.
    let old = fs::metadata(dest).ok();
    if let (Some(old), true) = (&old, w.keep_owner) {
        let _ = std::os::unix::fs::fchown(&file, Some(old.uid()), Some(old.gid()));
    }
    let mode = w
        .attrs
        .mode
        .or(old.as_ref().map(|m| m.mode() & 0o7777))
        .unwrap_or(0o666 & !current_umask());
    let attrs = Attrs {
        mode: Some(mode),
        ..w.attrs.clone()
    };
    set_attrs_fd(&file, &tmp, &attrs)?;
    file.sync_all()
        .map_err(|e| Failure::new(FailedStep::Write, format!("{}: {e}", tmp.display())))?;
    drop(file);
    fs::rename(&tmp, dest)
        .map_err(|e| Failure::new(FailedStep::Rename, format!("{}: {e}", dest.display())))?;
    std::mem::forget(guard);
    sync_dir(dir);
    Ok(stat_of(&w.dest))
}

/// `rm -rf` of one path: never follows a link, removes a directory's whole tree.
fn remove(path: &Path) -> Result<(), Failure> {
    let removed = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    removed.map_err(|e| Failure::new(FailedStep::Remove, format!("{}: {e}", path.display())))
}

/// `mkdir -p` that applies `attrs` to each directory it makes (Ansible's file module does so).
fn mkdir(path: &str, attrs: &Attrs) -> Result<Vec<String>, Failure> {
    make_dirs(Path::new(path), attrs, attrs)
}

/// `mkdir -p` without following a name another user may have swapped: each missing directory
/// is made inside the open parent (`mkdirat`), opened again without following links, checked
/// to be the one this process made, and its attributes set on that descriptor: `each` on every
/// directory made, `last` on the deepest. Returns the directories made, outermost first.
fn make_dirs(path: &Path, each: &Attrs, last: &Attrs) -> Result<Vec<String>, Failure> {
    use nix::fcntl::{openat, OFlag};
    use nix::sys::stat::{fstat, mkdirat, Mode};
    let mut missing = Vec::new();
    let mut p = Some(path);
    while let Some(dir) = p.filter(|d| !d.as_os_str().is_empty()) {
        if fs::symlink_metadata(dir).is_ok() {
            break;
        }
        missing.push(dir.to_path_buf());
        p = dir.parent();
    }
    let Some(outer) = missing.last() else {
        return Ok(Vec::new());
    };
    let fail = |dir: &Path, e: &dyn std::fmt::Display| {
        Failure::new(FailedStep::Mkdir, format!("{}: {e}", dir.display()))
    };
    let top = match outer.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir_flags = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    // The deepest existing ancestor is the caller's to name: links there are followed.
    let mut parent: File =
        File::from(nix::fcntl::open(&top, dir_flags, Mode::empty()).map_err(|e| fail(&top, &e))?);
    let me = nix::unistd::geteuid().as_raw();
    let mut made = Vec::new();
    for (i, dir) in missing.iter().rev().enumerate() {
        let is_last = i + 1 == missing.len();
        let Some(name) = dir.file_name() else {
            // `..` or `/` as the last component: nothing kplay can create by name.
            return Err(fail(dir, &"cannot create a directory with this name"));
        };
        let wanted = if is_last { last } else { each };
        // Private until its attributes are set, when it gets any.
        let mode = if wanted.mode.is_some() || wanted.owner.is_some() || wanted.group.is_some() {
            Mode::from_bits_truncate(0o700)
        } else {
            Mode::from_bits_truncate(0o777)
        };
        let created = match mkdirat(&parent, name, mode) {
            Ok(()) => true,
            Err(nix::errno::Errno::EEXIST) => false,
            Err(e) => return Err(fail(dir, &e)),
        };
        let fd = openat(&parent, name, dir_flags | OFlag::O_NOFOLLOW, Mode::empty())
            .map_err(|e| fail(dir, &format!("{e} (was it replaced while being created?)")))?;
        let fd = File::from(fd);
        if created {
            let st = fstat(&fd).map_err(|e| fail(dir, &e))?;
            if st.st_uid != me {
                return Err(fail(dir, &"replaced by another user while being created"));
            }
            set_attrs_fd(&fd, dir, wanted)?;
            made.push(dir.to_string_lossy().into_owned());
        }
        parent = fd;
    }
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(path: &Path) -> ProbeSpec {
        ProbeSpec {
            path: path.to_string_lossy().into_owned(),
            follow: false,
            checksum: Some(Checksum::Sha1),
            content_limit: Some(100),
            real_path: true,
            mime: false,
        }
    }

    #[test]
    fn probe_reports_file_link_and_absent() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        fs::write(&f, b"hello\n").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink("f", d.path().join("l")).unwrap();
        let st = probe(&spec(&f));
        assert_eq!((st.kind, st.mode, st.size), (PathKind::File, 0o640, 6));
        assert_eq!(
            st.checksum.as_deref(),
            Some("f572d396fae9206628714fb2ce00f72e94f2258f")
        );
        assert_eq!(st.content.as_deref(), Some(&b"hello\n"[..]));
        let l = probe(&spec(&d.path().join("l")));
        assert_eq!(l.kind, PathKind::Link);
        assert_eq!(l.link_target.as_deref(), Some("f"));
        assert!(l.checksum.is_none() && l.content.is_none());
        let mut follow = spec(&d.path().join("l"));
        follow.follow = true;
        assert_eq!(probe(&follow).kind, PathKind::File);
        let missing = probe(&spec(&d.path().join("nope")));
        assert_eq!(missing.kind, PathKind::Absent);
        let real = fs::canonicalize(d.path()).unwrap().join("nope");
        assert_eq!(missing.real_path.as_deref(), Some(&*real.to_string_lossy()));
    }

    #[test]
    fn real_path_follows_a_dangling_link_like_readlink_f() {
        let d = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("new", d.path().join("dangling")).unwrap();
        std::os::unix::fs::symlink("loop", d.path().join("loop")).unwrap();
        let real = fs::canonicalize(d.path()).unwrap();
        let st = probe(&spec(&d.path().join("dangling")));
        assert_eq!(
            st.real_path,
            Some(real.join("new").to_string_lossy().into())
        );
        // A link loop ends instead of recursing forever.
        let st = probe(&spec(&d.path().join("loop")));
        assert_eq!(
            st.real_path,
            Some(real.join("loop").to_string_lossy().into())
        );
    }

    #[test]
    fn write_is_atomic_keeps_mode_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("sub/f");
        let mut w = WriteSpec {
            dest: dest.to_string_lossy().into_owned(),
            data: b"one".to_vec(),
            create_parent: true,
            attrs: Attrs {
                mode: Some(0o600),
                ..Default::default()
            },
            ..Default::default()
        };
        let st = write(&w).map_err(|f| f.message).unwrap();
        assert_eq!((st.kind, st.mode, st.size), (PathKind::File, 0o600, 3));
        w.attrs.mode = None;
        w.data = b"two!".to_vec();
        let st = write(&w).map_err(|f| f.message).unwrap();
        assert_eq!((st.mode, st.size), (0o600, 4));
        assert_eq!(fs::read(&dest).unwrap(), b"two!");
        let names: Vec<_> = fs::read_dir(d.path().join("sub")).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn failed_attribute_leaves_destination_and_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("f");
        fs::write(&dest, b"old").unwrap();
        let w = WriteSpec {
            dest: dest.to_string_lossy().into_owned(),
            data: b"new".to_vec(),
            attrs: Attrs {
                owner: Some("no-such-user-kplay".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let f = write(&w).err().unwrap();
        assert_eq!(f.step, FailedStep::Chown);
        assert_eq!(fs::read(&dest).unwrap(), b"old");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn remove_takes_trees_and_links_but_not_link_targets() {
        let d = tempfile::tempdir().unwrap();
        let tree = d.path().join("t");
        fs::create_dir_all(tree.join("a/b")).unwrap();
        fs::write(tree.join("a/b/f"), b"x").unwrap();
        let kept = d.path().join("kept");
        fs::create_dir(&kept).unwrap();
        let link = d.path().join("l");
        std::os::unix::fs::symlink(&kept, &link).unwrap();
        for p in [&tree, &link, &d.path().join("missing")] {
            let reply = handle(Request::Remove {
                path: p.to_string_lossy().into_owned(),
            });
            assert!(
                matches!(reply, Reply::Stat(ref st) if st.kind == PathKind::Absent),
                "{reply:?}"
            );
        }
        assert!(kept.is_dir() && !tree.exists());
    }

    #[test]
    fn mkdir_makes_parents_with_mode_and_reports_them() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b");
        let attrs = Attrs {
            mode: Some(0o700),
            ..Default::default()
        };
        let made = mkdir(&p.to_string_lossy(), &attrs)
            .map_err(|f| f.message)
            .unwrap();
        assert_eq!(made.len(), 2);
        let m = fs::metadata(d.path().join("a")).unwrap().mode() & 0o7777;
        assert_eq!(m, 0o700);
        assert!(mkdir(&p.to_string_lossy(), &attrs)
            .unwrap_or_default()
            .is_empty());
    }
}

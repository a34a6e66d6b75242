//! `ansible_connection=local`: commands run as child processes of kplay, files are written
//! directly (no process at all) when no `become` is asked.

use super::{sh_quote, AsyncReadWrite, Become, ExecOutput, ExecRequest, Transport, TransportError};
use async_trait::async_trait;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

#[derive(Debug)]
pub struct LocalTransport {
    /// Whether file operations run in-process (the agent's code); `kplay_agent: false` turns
    /// that off for the host.
    agent: bool,
    /// Process groups of the commands running now (each command leads a group of its own, so
    /// [`Transport::interrupt`] stops what it started too).
    running: std::sync::Mutex<Vec<i32>>,
}

impl Default for LocalTransport {
    fn default() -> Self {
        LocalTransport::with_agent(true)
    }
}

impl LocalTransport {
    pub fn new() -> Self {
        LocalTransport::default()
    }

    pub const fn with_agent(agent: bool) -> Self {
        LocalTransport {
            agent,
            running: std::sync::Mutex::new(Vec::new()),
        }
    }
}

/// A running command's process group, listed for [`Transport::interrupt`] while this lives.
pub(super) struct Running<'a> {
    list: &'a std::sync::Mutex<Vec<i32>>,
    pid: Option<i32>,
}

impl<'a> Running<'a> {
    pub(super) fn new(list: &'a std::sync::Mutex<Vec<i32>>, pid: Option<u32>) -> Self {
        let pid = pid.and_then(|p| i32::try_from(p).ok());
        if let (Some(p), Ok(mut r)) = (pid, list.lock()) {
            r.push(p);
        }
        Running { list, pid }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let (Some(p), Ok(mut r)) = (self.pid, self.list.lock()) {
            r.retain(|x| *x != p);
        }
    }
}

pub use super::become_cmd::become_command;

#[async_trait]
impl Transport for LocalTransport {
    fn describe(&self) -> String {
        "local".to_string()
    }

    async fn exec(&self, req: ExecRequest) -> Result<ExecOutput, TransportError> {
        let input = Input::Bytes(req.stdin.clone());
        run(&req, input, &self.running).await
    }

    /// The file becomes the command's stdin as it is (no copy through kplay's memory).
    async fn exec_stdin_file(
        &self,
        req: ExecRequest,
        stdin: &Path,
    ) -> Result<ExecOutput, TransportError> {
        run(&req, Input::File(stdin.to_path_buf()), &self.running).await
    }

    /// TERM to every running command's group now, KILL two seconds later to what still runs
    /// (without waiting here: the caller may be the very task that awaits those commands).
    async fn interrupt(&self) {
        let groups = self.running.lock().map(|r| r.clone()).unwrap_or_default();
        if groups.is_empty() {
            return;
        }
        signal_groups(&groups, libc::SIGTERM);
        let running: Vec<i32> = groups;
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            signal_groups(&running, libc::SIGKILL);
        });
    }

    async fn put(
        &self,
        data: &[u8],
        dest: &str,
        mode: Option<u32>,
        become_: Option<&Become>,
    ) -> Result<(), TransportError> {
        if become_.is_some() {
            return put_via_exec(self, data, dest, mode, become_).await;
        }
        let data = data.to_vec();
        let dest = dest.to_string();
        tokio::task::spawn_blocking(move || write_atomic(Path::new(&dest), &data, mode))
            .await
            .map_err(|e| TransportError::Failed(e.to_string()))?
            .map_err(|e| TransportError::Failed(format!("writing {}: {e}", e_path(&e))))
    }

    async fn put_file(
        &self,
        src: &Path,
        dest: &str,
        mode: Option<u32>,
        become_: Option<&Become>,
    ) -> Result<(), TransportError> {
        if become_.is_some() {
            let expect = super::Expect::of_file(src).await?;
            return self
                .put_file_expecting(src, dest, mode, become_, &expect)
                .await;
        }
        let (src, dest) = (src.to_path_buf(), dest.to_string());
        tokio::task::spawn_blocking(move || {
            let mut f = std::fs::File::open(&src)?;
            write_atomic_from(Path::new(&dest), &mut f, mode)
        })
        .await
        .map_err(|e| TransportError::Failed(e.to_string()))?
        .map_err(|e| TransportError::Failed(format!("writing {}: {e}", e_path(&e))))
    }

    /// In-process, on a blocking thread: the engine does what the agent does on a remote host.
    /// With `become` the operation must run as another user, which only a process can.
    async fn agent(
        &self,
        req: &crate::agent::Request,
        become_: Option<&Become>,
    ) -> Result<Option<crate::agent::Reply>, TransportError> {
        if !self.agent || become_.is_some() || std::env::var_os("KPLAY_NO_AGENT").is_some() {
            return Ok(None);
        }
        let req = req.clone();
        tokio::task::spawn_blocking(move || crate::agent::fsops::handle(req))
            .await
            .map(Some)
            .map_err(|e| TransportError::Failed(e.to_string()))
    }

    async fn open_tcp(
        &self,
        host: &str,
        port: u16,
    ) -> Result<Box<dyn AsyncReadWrite>, TransportError> {
        let stream = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| TransportError::Failed(format!("connecting to {host}:{port}: {e}")))?;
        Ok(Box::new(stream))
    }

    async fn fetch(
        &self,
        path: &str,
        become_: Option<&Become>,
    ) -> Result<Option<Vec<u8>>, TransportError> {
        if become_.is_some() {
            return fetch_via_exec(self, path, become_).await;
        }
        match tokio::fs::read(path).await {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(TransportError::Failed(format!("reading {path}: {e}"))),
        }
    }
}

/// What a local command reads on its stdin.
pub(super) enum Input {
    Bytes(Option<Vec<u8>>),
    /// A file, handed to the child as its stdin descriptor.
    File(std::path::PathBuf),
}

/// Run `req` as a child of kplay (through sudo/su when it asks for `become`).
async fn run(
    req: &ExecRequest,
    input: Input,
    running: &std::sync::Mutex<Vec<i32>>,
) -> Result<ExecOutput, TransportError> {
    if let Some(b) = &req.become_ {
        return super::local_become::exec(req, b, input, running).await;
    }
    let mut script = req.cmd.clone();
    if let Some(dir) = &req.cwd {
        script = format!("cd {} || exit 1\n{}", sh_quote(dir), script);
    }
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.arg("-c").arg(&script);
    for (k, v) in &req.env {
        cmd.env(k, v);
    }
    let mut stdin_data = None;
    match input {
        Input::Bytes(None) => {
            cmd.stdin(Stdio::null());
        }
        Input::Bytes(Some(d)) => {
            stdin_data = Some(d);
            cmd.stdin(Stdio::piped());
        }
        Input::File(p) => {
            let f = std::fs::File::open(&p)
                .map_err(|e| TransportError::Failed(format!("reading {}: {e}", p.display())))?;
            cmd.stdin(Stdio::from(f));
        }
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.kill_on_drop(true);
    // A group of its own, so an interrupt stops what the command started too.
    cmd.process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| TransportError::Failed(format!("cannot start /bin/sh: {e}")))?;
    let _running = Running::new(running, child.id());
    if let Some(data) = stdin_data {
        if let Some(mut sin) = child.stdin.take() {
            // A command that does not read its stdin closes the pipe early: not an error.
            let _ = sin.write_all(&data).await;
            drop(sin);
        }
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| TransportError::Failed(format!("waiting for command: {e}")))?;
    let rc = match out.status.code() {
        Some(c) => c,
        None => {
            use std::os::unix::process::ExitStatusExt;
            -out.status.signal().unwrap_or(1)
        }
    };
    Ok(ExecOutput {
        rc,
        stdout: out.stdout,
        stderr: out.stderr,
    })
}

fn e_path(e: &std::io::Error) -> String {
    e.to_string()
}

/// The local transport with only `exec` of its own, so `put` and `fetch` take the trait's
/// script-based defaults: under become the file operations must run as the become user.
struct Plain<'a>(&'a LocalTransport);

#[async_trait]
impl Transport for Plain<'_> {
    fn describe(&self) -> String {
        self.0.describe()
    }
    async fn exec(&self, req: ExecRequest) -> Result<ExecOutput, TransportError> {
        self.0.exec(req).await
    }
}

async fn put_via_exec(
    t: &LocalTransport,
    data: &[u8],
    dest: &str,
    mode: Option<u32>,
    b: Option<&Become>,
) -> Result<(), TransportError> {
    Plain(t).put(data, dest, mode, b).await
}

async fn fetch_via_exec(
    t: &LocalTransport,
    path: &str,
    b: Option<&Become>,
) -> Result<Option<Vec<u8>>, TransportError> {
    Plain(t).fetch(path, b).await
}

/// Temp file in the destination's directory (owner-only from creation), content, mode set on
/// the open file, fsync, rename, fsync of the directory: readers see old or new, never half,
/// and no other user can open the file while it is being written.
pub fn write_atomic(dest: &Path, data: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    write_atomic_from(dest, &mut &data[..], mode)
}

/// [`write_atomic`] with the content read from `src` through a fixed-size buffer.
pub fn write_atomic_from(
    dest: &Path,
    src: &mut dyn std::io::Read,
    mode: Option<u32>,
) -> std::io::Result<()> {
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let existing_mode = std::fs::metadata(dest)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777);
    let mut tmp = tempfile::Builder::new()
        .prefix(crate::agent::fsops::TEMP_PREFIX)
        .tempfile_in(dir)?;
    std::io::copy(src, &mut tmp)?;
    // tempfile creates 0600; a new file should get 0666 & ~umask like any other tool.
    let final_mode = mode.or(existing_mode).unwrap_or(0o666 & !current_umask());
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(final_mode))?;
    tmp.as_file().sync_all()?;
    tmp.persist(dest).map_err(|e| e.error)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The process umask (the agent's own reading: one definition for both).
pub use kplay_agent::fsops::current_umask;

/// Signal whole process groups (a command and whatever it started).
fn signal_groups(groups: &[i32], sig: i32) {
    for g in groups {
        // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
        unsafe {
            libc::kill(-g, sig);
        }
    }
}

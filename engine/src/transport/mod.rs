//! How the engine and modules reach a host. Local and SSH implement the same trait; modules only
//! ever see `dyn Transport`, never a socket or a process.
//!
//! Every operation is expressed as "run a POSIX sh snippet with optional stdin", so a transport
//! needs only `exec`; `put`/`fetch` have default implementations on top of it that a transport
//! may override with something faster (the local transport uses the filesystem directly).

pub mod become_cmd;
pub mod kill;
pub mod local;
mod local_become;
pub mod persistent;
pub mod ssh;

use async_trait::async_trait;

/// Privilege escalation for one command, as `become`/`become_user`/`become_method` ask.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Become {
    /// `sudo` or `su`.
    pub method: String,
    pub user: String,
    /// Never logged; sent on stdin to sudo/su.
    pub password: Option<String>,
    /// `become_exe`, when not the method's own name.
    pub exe: Option<String>,
    /// `become_flags`.
    pub flags: Option<String>,
}

/// One command to run on the host: `cmd` is a shell snippet run by `/bin/sh -c`.
#[derive(Clone, Debug, Default)]
pub struct ExecRequest {
    pub cmd: String,
    pub stdin: Option<Vec<u8>>,
    /// Extra environment (task/play `environment:`).
    pub env: Vec<(String, String)>,
    pub become_: Option<Become>,
    /// Working directory (`chdir`), `None` for the login directory.
    pub cwd: Option<String>,
}

impl ExecRequest {
    pub fn sh(cmd: impl Into<String>) -> Self {
        ExecRequest {
            cmd: cmd.into(),
            ..Default::default()
        }
    }

    pub fn with_stdin(mut self, data: Vec<u8>) -> Self {
        self.stdin = Some(data);
        self
    }

    pub fn with_become(mut self, b: Option<Become>) -> Self {
        self.become_ = b;
        self
    }
}

#[derive(Clone, Debug, Default)]
pub struct ExecOutput {
    pub rc: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl ExecOutput {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

#[derive(Debug, thiserror::Error, Clone)]
pub enum TransportError {
    /// The host cannot be reached at all (recap: unreachable, exit 4).
    #[error("{0}")]
    Unreachable(String),
    /// The connection works but the operation failed (task failure).
    #[error("{0}")]
    Failed(String),
}

/// Whether `k` may be exported as an environment variable name from sh.
pub fn is_env_name(k: &str) -> bool {
    let mut chars = k.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// `req.cmd` preceded by `export` lines for `req.env` and a `cd` for `req.cwd`. The
/// environment goes inside the script (not into the process environment) so that it survives
/// `sudo`/`su`, which reset the environment of the command they start.
pub fn script_with_env(req: &ExecRequest, cmd: &str) -> Result<String, TransportError> {
    let mut script = String::new();
    for (k, v) in &req.env {
        if !is_env_name(k) {
            return Err(TransportError::Failed(format!(
                "invalid environment variable name {k:?}"
            )));
        }
        script.push_str(&format!("export {k}={}\n", sh_quote(v)));
    }
    if let Some(dir) = &req.cwd {
        script.push_str(&format!("cd {} || exit 1\n", sh_quote(dir)));
    }
    script.push_str(cmd);
    Ok(script)
}

/// Quote a string for POSIX sh.
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./-_".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\"'\"'"))
    }
}

/// What an upload must be when it arrives: checked on the host before the file takes its
/// name, so a connection lost mid-way, a source that failed to read or changed while being
/// sent never leaves a truncated file in place (and never a truncated agent that is then run).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expect {
    pub len: u64,
    /// Lower-case hex SHA-256 of the content.
    pub sha256: String,
}

impl Expect {
    /// The expectation for bytes in memory.
    pub fn of(data: &[u8]) -> Expect {
        use sha2::Digest;
        Expect {
            len: data.len() as u64,
            sha256: hex::encode(sha2::Sha256::digest(data)),
        }
    }

    /// The expectation for a controller file, read through a fixed-size buffer.
    pub async fn of_file(path: &std::path::Path) -> Result<Expect, TransportError> {
        use sha2::Digest;
        use tokio::io::AsyncReadExt;
        let fail =
            |e: std::io::Error| TransportError::Failed(format!("reading {}: {e}", path.display()));
        let mut f = tokio::fs::File::open(path).await.map_err(fail)?;
        let mut h = sha2::Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut len = 0u64;
        loop {
            let n = f.read(&mut buf).await.map_err(fail)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            len += n as u64;
        }
        Ok(Expect {
            len,
            sha256: hex::encode(h.finalize()),
        })
    }
}

/// The sh snippet behind [`Transport::put`]: stdin goes to a temp file beside `dest` (mktemp:
/// owner-only from creation), which must have the expected SHA-256, gets its mode, is synced
/// and then renamed over `dest`, so readers see the old or the new file, never half.
pub fn put_script(dest: &str, mode: Option<u32>, expect: &Expect) -> String {
    put_script_via(dest, mode, expect, "cat")
}

/// [`put_script`] with stdin passed through `filter` (`gzip -dc` for a compressed upload):
/// `expect` is what comes out of it, checked before the file takes its name.
pub fn put_script_via(dest: &str, mode: Option<u32>, expect: &Expect, filter: &str) -> String {
    let q = sh_quote(dest);
    let chmod = match mode {
        Some(m) => format!("chmod {:o} \"$t\" || exit 1;", m),
        // mktemp creates 0600; a new file gets 0666 & ~umask like any other tool would make.
        None => format!(
            "if [ -e {q} ]; then chmod \"$(stat -c %a {q})\" \"$t\"; else chmod \"$(printf %o $((0666 & ~0$(umask))))\" \"$t\"; fi;"
        ),
    };
    format!(
        "d=$(dirname {q}); t=$(mktemp \"$d/.kplay-tmp.XXXXXX\") || exit 1; {filter} > \"$t\" || {{ rm -f \"$t\"; exit 1; }}; \
         if [ \"$(sha256sum < \"$t\")\" != '{sum}  -' ]; then echo \"{shown} arrived incomplete or changed on the way ($(wc -c < \"$t\") of {len} bytes, or another SHA-256)\" >&2; rm -f \"$t\"; exit 1; fi; \
         {chmod} sync -- \"$t\" 2>/dev/null; mv -f \"$t\" {q} || {{ rm -f \"$t\"; exit 1; }}; sync -- \"$d\" 2>/dev/null; exit 0",
        sum = expect.sha256,
        len = expect.len,
        shown = dest.replace(['"', '\\', '$', '`'], "_"),
    )
}

/// The outcome of a [`put_script`] run.
pub fn put_result(dest: &str, out: &ExecOutput) -> Result<(), TransportError> {
    if out.rc != 0 {
        return Err(TransportError::Failed(format!(
            "writing {dest} failed: {}",
            out.stderr_str().trim()
        )));
    }
    Ok(())
}

/// A byte stream to a TCP endpoint as seen from the host (see [`Transport::open_tcp`]).
pub trait AsyncReadWrite: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> AsyncReadWrite for T {}

#[async_trait]
pub trait Transport: Send + Sync {
    /// A short description for messages (`local`, `ssh root@10.0.0.2:22`).
    fn describe(&self) -> String;

    /// Run one command. A non-zero exit status is not an error: it is in `ExecOutput::rc`.
    async fn exec(&self, req: ExecRequest) -> Result<ExecOutput, TransportError>;

    /// Write `data` to `dest` atomically: a temp file in the same directory, checked against
    /// what was sent, chmod, then rename. `mode` is applied to the temp file before the
    /// rename; `None` keeps `0666 & ~umask` for a new file and the existing mode for an
    /// existing one.
    async fn put(
        &self,
        data: &[u8],
        dest: &str,
        mode: Option<u32>,
        become_: Option<&Become>,
    ) -> Result<(), TransportError> {
        let script = put_script(dest, mode, &Expect::of(data));
        let out = self
            .exec(
                ExecRequest::sh(script)
                    .with_stdin(data.to_vec())
                    .with_become(become_.cloned()),
            )
            .await?;
        put_result(dest, &out)
    }

    /// Copy the controller file `src` to `dest` like [`Transport::put`], streamed: its hash
    /// is taken in one pass, its bytes go out in another ([`Transport::exec_stdin_file`]).
    async fn put_file(
        &self,
        src: &std::path::Path,
        dest: &str,
        mode: Option<u32>,
        become_: Option<&Become>,
    ) -> Result<(), TransportError> {
        let expect = Expect::of_file(src).await?;
        self.put_file_expecting(src, dest, mode, become_, &expect)
            .await
    }

    /// [`Transport::put_file`] when the caller already knows what `src` holds (kplay's agent
    /// binary, hashed once per run).
    async fn put_file_expecting(
        &self,
        src: &std::path::Path,
        dest: &str,
        mode: Option<u32>,
        become_: Option<&Become>,
        expect: &Expect,
    ) -> Result<(), TransportError> {
        let req = ExecRequest::sh(put_script(dest, mode, expect)).with_become(become_.cloned());
        let out = self.exec_stdin_file(req, src).await?;
        put_result(dest, &out)
    }

    /// [`Transport::exec`] with the controller file `stdin` as the command's input. The
    /// default reads the file whole; transports override it to stream through a fixed buffer.
    async fn exec_stdin_file(
        &self,
        mut req: ExecRequest,
        stdin: &std::path::Path,
    ) -> Result<ExecOutput, TransportError> {
        let data = tokio::fs::read(stdin)
            .await
            .map_err(|e| TransportError::Failed(format!("reading {}: {e}", stdin.display())))?;
        req.stdin = Some(data);
        self.exec(req).await
    }

    /// Read a whole file; `Ok(None)` when it does not exist.
    async fn fetch(
        &self,
        path: &str,
        become_: Option<&Become>,
    ) -> Result<Option<Vec<u8>>, TransportError> {
        let req = crate::agent::Request::Read {
            path: path.to_string(),
        };
        match self.agent(&req, become_).await? {
            None => {}
            Some(crate::agent::Reply::Content(c)) => return Ok(c),
            Some(crate::agent::Reply::Failed { message, .. }) => {
                return Err(TransportError::Failed(message))
            }
            Some(other) => {
                return Err(TransportError::Failed(format!(
                    "unexpected answer from the host's agent to a read: {other:?}"
                )))
            }
        }
        let q = sh_quote(path);
        let out = self
            .exec(
                ExecRequest::sh(format!("if [ -e {q} ]; then cat {q}; else exit 3; fi"))
                    .with_become(become_.cloned()),
            )
            .await?;
        match out.rc {
            0 => Ok(Some(out.stdout)),
            3 => Ok(None),
            _ => Err(TransportError::Failed(format!(
                "reading {path} failed: {}",
                out.stderr_str().trim()
            ))),
        }
    }

    /// Connect to `host:port` from the host's point of view (SSH: a `direct-tcpip` channel
    /// through the host's sshd), so modules such as `get_url`, `uri` and `wait_for` can reach
    /// what the host reaches even when it has no curl, wget or nc. Transports that cannot do
    /// this keep the default, which says so.
    async fn open_tcp(
        &self,
        host: &str,
        port: u16,
    ) -> Result<Box<dyn AsyncReadWrite>, TransportError> {
        Err(TransportError::Failed(format!(
            "connecting to {host}:{port} through {} is not supported",
            self.describe()
        )))
    }

    /// Carry out a file operation with kplay's own code on the host (see [`crate::agent`]):
    /// no process is started there. `Ok(None)`: this transport has no agent for `become_`
    /// (callers then use their sh script, which gives the same result).
    async fn agent(
        &self,
        _req: &crate::agent::Request,
        _become: Option<&Become>,
    ) -> Result<Option<crate::agent::Reply>, TransportError> {
        Ok(None)
    }

    /// Close the connection at the end of the run.
    async fn close(&self) {}

    /// Whether [`Transport::reconnect`] can open a new connection (modules that break the
    /// connection on purpose, such as `reboot`, ask before they do).
    fn can_reconnect(&self) -> bool {
        false
    }

    /// Drop the connection and open a new one to the same host, for every holder of this
    /// transport (the host rebooted). Transports with nothing to renew keep the default.
    async fn reconnect(&self) -> Result<(), TransportError> {
        Err(TransportError::Failed(format!(
            "re-establishing {} is not supported",
            self.describe()
        )))
    }

    /// Stop every command this connection has running on the host (the run was interrupted,
    /// or a task ran out of time): their processes get TERM, then KILL. Transports that start
    /// no processes keep the default.
    async fn interrupt(&self) {}
}

/// The host variable `kplay_agent` (default true): whether kplay's agent may serve the host.
pub fn agent_wanted(vars: &crate::value::Map) -> Result<bool, String> {
    match vars.get("kplay_agent") {
        Some(v) => ssh::as_bool(v).ok_or_else(|| format!("kplay_agent: not a boolean: {v}")),
        None => Ok(true),
    }
}

/// Open an SSH connection for a host from its (rendered) connection variables.
pub async fn connect_ssh(
    host: &str,
    vars: &crate::value::Map,
    defaults: &crate::exec::connection::ConnectionDefaults,
) -> Result<std::sync::Arc<dyn Transport>, TransportError> {
    let target = ssh_target(host, vars, defaults)?;
    Ok(std::sync::Arc::new(
        ssh::SshTransport::connect(target).await?,
    ))
}

/// Where and how [`connect_ssh`] connects for `host` (also shown by `-vvvv`).
pub fn ssh_target(
    host: &str,
    vars: &crate::value::Map,
    defaults: &crate::exec::connection::ConnectionDefaults,
) -> Result<ssh::SshTarget, TransportError> {
    let fallback = ssh::SshDefaults::default();
    let d = ssh::SshDefaults {
        remote_user: defaults.remote_user.clone(),
        private_key_file: defaults.private_key_file.clone(),
        password: defaults.password.clone(),
        strict_host_keys: defaults.strict_host_keys,
        host_key_checking: defaults.host_key_checking,
        // Unset (default-constructed) values fall back to SSH's own defaults.
        kplay_known_hosts: if defaults.known_hosts.as_os_str().is_empty() {
            fallback.kplay_known_hosts
        } else {
            defaults.known_hosts.clone()
        },
        timeout: if defaults.timeout.is_zero() {
            fallback.timeout
        } else {
            defaults.timeout
        },
    };
    ssh::SshTarget::from_vars(host, vars, &d)
        .map_err(|e| TransportError::Unreachable(format!("{host}: {e}")))
}

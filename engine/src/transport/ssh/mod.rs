//! `ansible_connection=ssh` on russh: one authenticated connection per host for the whole run,
//! every command on its own session channel multiplexed over it, files streamed over exec
//! channels (no sftp, nothing installed on the target).

mod agent;
mod auth;
mod connect;
mod handler;
mod jump;
pub mod known_hosts;
pub mod options;
mod session;
mod target;

pub use agent::AgentReport;
pub(crate) use target::as_bool;
pub use target::{HostKeyPolicy, SshDefaults, SshTarget};

use super::become_cmd::become_command;
use super::persistent::{bootstrap, strip_preludes, PersistentShell, MAX_STDIN};
use super::{
    put_result, put_script, sh_quote, AsyncReadWrite, Become, ExecOutput, ExecRequest, Expect,
    Transport, TransportError,
};
use async_trait::async_trait;
use connect::{connect_with_retries, ConnectError};
use handler::ClientHandler;
use jump::ProxyProcess;
use russh::client::Handle;
use session::Stdin;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Channels open at once on one connection. sshd's `MaxSessions` defaults to 10; staying
/// below it leaves room for whatever else shares the connection.
const MAX_CHANNELS: usize = 8;

/// One established connection and everything that lives on it (the persistent shell, the
/// agents): replaced whole when the transport reconnects (after the host rebooted).
struct Live {
    handle: Handle<ClientHandler>,
    /// Kept open: the target's connection runs inside the last one's channel.
    jumps: Vec<Handle<ClientHandler>>,
    /// Kept running: its stdio is the connection.
    proxy: std::sync::Mutex<Option<ProxyProcess>>,
    channels: Arc<Semaphore>,
    /// The host's long-lived command shell, started on first use (None: it could not start,
    /// every command gets its own channel).
    shell: tokio::sync::OnceCell<Option<PersistentShell>>,
    /// kplay's agent on the host: its path there, and the processes serving the connecting
    /// user and root (started on first use; None: the host stays on the sh path).
    agent_file: tokio::sync::OnceCell<agent::AgentFile>,
    agent_plain: tokio::sync::OnceCell<Option<crate::agent::client::AgentClient>>,
    agent_root: tokio::sync::OnceCell<Option<crate::agent::client::AgentClient>>,
}

impl Live {
    fn new(conn: connect::Connection) -> Live {
        Live {
            handle: conn.handle,
            jumps: conn.jumps,
            proxy: std::sync::Mutex::new(conn.proxy),
            channels: Arc::new(Semaphore::new(MAX_CHANNELS)),
            shell: tokio::sync::OnceCell::new(),
            agent_file: tokio::sync::OnceCell::new(),
            agent_plain: tokio::sync::OnceCell::new(),
            agent_root: tokio::sync::OnceCell::new(),
        }
    }

    /// Disconnect (best effort) and stop a proxy command.
    async fn close(&self) {
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
        for j in self.jumps.iter().rev() {
            let _ = j
                .disconnect(russh::Disconnect::ByApplication, "", "en")
                .await;
        }
        let proxy = self.proxy.lock().ok().and_then(|mut p| p.take());
        if let Some(mut p) = proxy {
            let _ = p.child.start_kill();
        }
    }
}

/// An authenticated SSH connection to one host, renewable with [`Transport::reconnect`].
pub struct SshTransport {
    label: String,
    /// How to connect again.
    target: SshTarget,
    live: std::sync::RwLock<Arc<Live>>,
    /// `kplay_agent` for this host.
    agent_enabled: bool,
    /// Told `kplay_agent: active|fallback (…)` when an agent starts or cannot.
    agent_report: std::sync::OnceLock<AgentReport>,
}

impl SshTransport {
    /// Connect and authenticate. Any failure, including a refused host key or refused
    /// credentials, is `Unreachable` with a message that says which.
    pub async fn connect(target: SshTarget) -> Result<SshTransport, TransportError> {
        let conn = connect_with_retries(&target).await.map_err(|e| match e {
            ConnectError::Transient(m) | ConnectError::Fatal(m) => TransportError::Unreachable(m),
        })?;
        Ok(SshTransport {
            label: format!("ssh {}", target.label()),
            agent_enabled: target.agent,
            target,
            live: std::sync::RwLock::new(Arc::new(Live::new(conn))),
            agent_report: std::sync::OnceLock::new(),
        })
    }

    /// The current connection.
    fn live(&self) -> Arc<Live> {
        match self.live.read() {
            Ok(l) => l.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Start the persistent shell on its own channel (held for the whole run).
    async fn start_shell(live: &Live) -> Option<PersistentShell> {
        if std::env::var_os("KPLAY_NO_PERSISTENT_SHELL").is_some() {
            return None;
        }
        let permit = live.channels.clone().acquire_owned().await.ok()?;
        let channel = live.handle.channel_open_session().await.ok()?;
        channel
            .exec(
                true,
                format!("/bin/sh -c {} kplay", sh_quote(&bootstrap())).into_bytes(),
            )
            .await
            .ok()?;
        let (r, w) = tokio::io::split(channel.into_stream());
        let shell = PersistentShell::start(Box::new(r), Box::new(w))
            .await
            .ok()?;
        // The channel stays open for the run: its slot is taken for good.
        permit.forget();
        Some(shell)
    }

    /// Run through the persistent shell when the request allows it: no password prompt to
    /// answer, and stdin small enough to send whole. `None`: use a channel of its own.
    async fn via_shell(&self, req: &ExecRequest) -> Result<Option<ExecOutput>, TransportError> {
        // Password prompts and su need the interactive channel path.
        if req
            .become_
            .as_ref()
            .is_some_and(|b| b.password.is_some() || b.method != "sudo")
        {
            return Ok(None);
        }
        let stdin = req.stdin.as_deref().unwrap_or(&[]);
        if stdin.len() > MAX_STDIN {
            return Ok(None);
        }
        let live = self.live();
        let Some(shell) = live.shell.get_or_init(|| Self::start_shell(&live)).await else {
            return Ok(None);
        };
        let cmd = match &req.become_ {
            // The loop shell evaluates the script itself: the functions it defined are there.
            None => strip_preludes(&req.cmd),
            Some(_) => std::borrow::Cow::Borrowed(req.cmd.as_str()),
        };
        let mut script = super::script_with_env(req, &cmd)?;
        if let Some(b) = &req.become_ {
            // The cached identity is the connecting user's, not the become user's.
            script = become_command(&format!("unset KPLAY_ID\n{script}"), b);
        }
        let out = shell.try_run(&script, stdin).await?;
        // sudo refusing before the command ran reads as the channel path reports it.
        if let (Some(o), Some(_)) = (&out, &req.become_) {
            if o.rc != 0
                && o.stdout.is_empty()
                && String::from_utf8_lossy(&o.stderr).contains("sudo: a password is required")
            {
                return Err(TransportError::Failed("Missing sudo password".into()));
            }
        }
        Ok(out)
    }

    async fn run(&self, req: &ExecRequest, stdin: Stdin<'_>) -> Result<ExecOutput, TransportError> {
        let live = self.live();
        let _permit = live.channels.acquire().await.map_err(|_| {
            TransportError::Unreachable(format!("{}: connection closed", self.label))
        })?;
        session::run(&live.handle, &self.label, req, stdin).await
    }

    async fn put_stream(
        &self,
        stdin: Stdin<'_>,
        dest: &str,
        mode: Option<u32>,
        become_: Option<&Become>,
        expect: &Expect,
    ) -> Result<(), TransportError> {
        let req = ExecRequest::sh(put_script(dest, mode, expect)).with_become(become_.cloned());
        let out = self.run(&req, stdin).await?;
        put_result(dest, &out)
    }
}

#[async_trait]
impl Transport for SshTransport {
    fn describe(&self) -> String {
        self.label.clone()
    }

    async fn exec(&self, req: ExecRequest) -> Result<ExecOutput, TransportError> {
        if let Some(out) = self.via_shell(&req).await? {
            return Ok(out);
        }
        let stdin = match &req.stdin {
            Some(d) => Stdin::Bytes(d.as_slice()),
            None => Stdin::None,
        };
        self.run(&req, stdin).await
    }

    async fn put(
        &self,
        data: &[u8],
        dest: &str,
        mode: Option<u32>,
        become_: Option<&Become>,
    ) -> Result<(), TransportError> {
        if data.len() <= MAX_STDIN && agent::put(self, data, dest, mode, become_).await? {
            return Ok(());
        }
        let expect = Expect::of(data);
        if data.len() <= MAX_STDIN && become_.is_none_or(|b| b.password.is_none()) {
            let req = ExecRequest::sh(put_script(dest, mode, &expect))
                .with_stdin(data.to_vec())
                .with_become(become_.cloned());
            if let Some(out) = self.via_shell(&req).await? {
                return put_result(dest, &out);
            }
        }
        self.put_stream(Stdin::Bytes(data), dest, mode, become_, &expect)
            .await
    }

    /// Streams the file on a channel of its own, through a fixed-size buffer.
    async fn exec_stdin_file(
        &self,
        req: ExecRequest,
        stdin: &Path,
    ) -> Result<ExecOutput, TransportError> {
        let file = tokio::fs::File::open(stdin)
            .await
            .map_err(|e| TransportError::Failed(format!("reading {}: {e}", stdin.display())))?;
        self.run(&req, Stdin::Reader(Box::new(file))).await
    }

    async fn agent(
        &self,
        req: &crate::agent::Request,
        become_: Option<&Become>,
    ) -> Result<Option<crate::agent::Reply>, TransportError> {
        let live = self.live();
        let cell = match become_ {
            None => &live.agent_plain,
            Some(b) if agent::agent_can_become(b) => &live.agent_root,
            Some(_) => return Ok(None),
        };
        match cell.get_or_init(|| self.start_agent(&live, become_)).await {
            Some(client) if !client.is_broken() => client.call(req).await,
            _ => Ok(None),
        }
    }

    /// A `direct-tcpip` channel: the host's sshd makes the connection, so the peer sees the
    /// host's address and names resolve as the host resolves them. The channel counts against
    /// [`MAX_CHANNELS`] until the stream is dropped.
    async fn open_tcp(
        &self,
        host: &str,
        port: u16,
    ) -> Result<Box<dyn AsyncReadWrite>, TransportError> {
        let live = self.live();
        let permit = live.channels.clone().acquire_owned().await.map_err(|_| {
            TransportError::Unreachable(format!("{}: connection closed", self.label))
        })?;
        let channel = live
            .handle
            .channel_open_direct_tcpip(host, u32::from(port), "127.0.0.1", 0)
            .await
            .map_err(|e| {
                TransportError::Failed(format!(
                    "connecting to {host}:{port} through {}: {e}",
                    self.label
                ))
            })?;
        Ok(Box::new(TcpChannel {
            stream: channel.into_stream(),
            _permit: permit,
        }))
    }

    /// On a channel of its own, outside [`MAX_CHANNELS`]: every slot may be held by the very
    /// commands to stop.
    async fn interrupt(&self) {
        let req = ExecRequest::sh(crate::transport::kill::kill_connection_commands());
        let live = self.live();
        let stop = session::run(&live.handle, &self.label, &req, Stdin::None);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(15), stop).await;
    }

    async fn close(&self) {
        self.live().close().await;
    }

    fn can_reconnect(&self) -> bool {
        true
    }

    /// A new connection with the same target (keys, jumps, proxy); the old one is closed.
    /// The shell and agents start again on first use: after a reboot the host has neither.
    async fn reconnect(&self) -> Result<(), TransportError> {
        let conn = connect_with_retries(&self.target)
            .await
            .map_err(|e| match e {
                ConnectError::Transient(m) | ConnectError::Fatal(m) => {
                    TransportError::Unreachable(m)
                }
            })?;
        let fresh = Arc::new(Live::new(conn));
        let old = match self.live.write() {
            Ok(mut l) => std::mem::replace(&mut *l, fresh),
            Err(poisoned) => std::mem::replace(&mut *poisoned.into_inner(), fresh),
        };
        old.close().await;
        Ok(())
    }
}

/// A TCP connection made by the host's sshd; holds its channel slot until dropped.
struct TcpChannel {
    stream: russh::ChannelStream<russh::client::Msg>,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for TcpChannel {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TcpChannel {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

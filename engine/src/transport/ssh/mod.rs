//! `ansible_connection=ssh` on russh: one authenticated connection per host for the whole run,
//! every command on its own session channel multiplexed over it, files streamed over exec
//! channels (no sftp, nothing installed on the target).

mod auth;
mod connect;
mod handler;
mod jump;
pub mod known_hosts;
pub mod options;
mod session;
mod target;

pub use target::{HostKeyPolicy, SshDefaults, SshTarget};

use super::{put_script, Become, ExecOutput, ExecRequest, Transport, TransportError};
use async_trait::async_trait;
use connect::{connect_with_retries, ConnectError};
use handler::ClientHandler;
use jump::ProxyProcess;
use russh::client::Handle;
use session::Stdin;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Channels open at once on one connection. sshd's `MaxSessions` defaults to 10; staying
/// below it leaves room for whatever else shares the connection.
const MAX_CHANNELS: usize = 8;

/// A live, authenticated SSH connection to one host.
pub struct SshTransport {
    label: String,
    handle: Handle<ClientHandler>,
    /// Kept open: the target's connection runs inside the last one's channel.
    jumps: Vec<Handle<ClientHandler>>,
    /// Kept running: its stdio is the connection.
    proxy: std::sync::Mutex<Option<ProxyProcess>>,
    channels: Arc<Semaphore>,
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
            handle: conn.handle,
            jumps: conn.jumps,
            proxy: std::sync::Mutex::new(conn.proxy),
            channels: Arc::new(Semaphore::new(MAX_CHANNELS)),
        })
    }

    async fn run(&self, req: &ExecRequest, stdin: Stdin<'_>) -> Result<ExecOutput, TransportError> {
        let _permit = self.channels.acquire().await.map_err(|_| {
            TransportError::Unreachable(format!("{}: connection closed", self.label))
        })?;
        session::run(&self.handle, &self.label, req, stdin).await
    }

    async fn put_stream(
        &self,
        stdin: Stdin<'_>,
        dest: &str,
        mode: Option<u32>,
        become_: Option<&Become>,
    ) -> Result<(), TransportError> {
        let req = ExecRequest::sh(put_script(dest, mode)).with_become(become_.cloned());
        let out = self.run(&req, stdin).await?;
        if out.rc != 0 {
            return Err(TransportError::Failed(format!(
                "writing {dest} failed: {}",
                out.stderr_str().trim()
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl Transport for SshTransport {
    fn describe(&self) -> String {
        self.label.clone()
    }

    async fn exec(&self, req: ExecRequest) -> Result<ExecOutput, TransportError> {
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
        self.put_stream(Stdin::Bytes(data), dest, mode, become_)
            .await
    }

    async fn put_file(
        &self,
        src: &Path,
        dest: &str,
        mode: Option<u32>,
        become_: Option<&Become>,
    ) -> Result<(), TransportError> {
        let file = tokio::fs::File::open(src)
            .await
            .map_err(|e| TransportError::Failed(format!("reading {}: {e}", src.display())))?;
        self.put_stream(Stdin::Reader(Box::new(file)), dest, mode, become_)
            .await
    }

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

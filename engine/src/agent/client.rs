//! The controller's end of an agent connection: one request at a time over a byte stream
//! (an SSH channel running the agent).

use super::proto::{decode, encode, frame_len, Reply, Request};
use crate::transport::TransportError;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

type Reader = Box<dyn AsyncRead + Unpin + Send>;
type Writer = Box<dyn AsyncWrite + Unpin + Send>;

/// A started agent. After any I/O error it is marked broken and never used again.
pub struct AgentClient {
    io: tokio::sync::Mutex<(Reader, Writer)>,
    broken: AtomicBool,
}

impl AgentClient {
    /// Wrap the agent's stdout/stdin and check it speaks our protocol.
    pub async fn start(reader: Reader, writer: Writer) -> Result<AgentClient, TransportError> {
        let c = AgentClient {
            io: tokio::sync::Mutex::new((reader, writer)),
            broken: AtomicBool::new(false),
        };
        match c.call(&Request::Hello).await? {
            Reply::Hello { protocol } if protocol == super::proto::PROTOCOL => Ok(c),
            other => Err(TransportError::Failed(format!(
                "the agent answered {other:?} to hello"
            ))),
        }
    }

    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::SeqCst)
    }

    /// Send one request and wait for its reply.
    pub async fn call(&self, req: &Request) -> Result<Reply, TransportError> {
        if self.is_broken() {
            return Err(TransportError::Failed("the host's agent was lost".into()));
        }
        let mut io = self.io.lock().await;
        let res = exchange(&mut io, req).await;
        if res.is_err() {
            self.broken.store(true, Ordering::SeqCst);
        }
        res.map_err(|e| TransportError::Failed(format!("the host's agent was lost: {e}")))
    }
}

async fn exchange(
    io: &mut (Reader, Writer),
    req: &Request,
) -> Result<Reply, super::proto::FrameError> {
    let msg = encode(req)?;
    io.1.write_all(&msg).await?;
    io.1.flush().await?;
    let mut prefix = [0u8; 4];
    io.0.read_exact(&mut prefix).await?;
    let mut body = vec![0u8; frame_len(prefix)?];
    io.0.read_exact(&mut body).await?;
    decode(&body)
}

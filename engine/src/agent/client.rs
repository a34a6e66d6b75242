//! The controller's end of an agent connection: one request at a time over a byte stream
//! (an SSH channel running the agent).

use super::proto::{decode, encode, frame_len, FailedStep, Reply, Request};
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
            Some(Reply::Hello { protocol }) if protocol == super::proto::PROTOCOL => Ok(c),
            other => Err(TransportError::Failed(format!(
                "the agent answered {other:?} to hello"
            ))),
        }
    }

    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::SeqCst)
    }

    /// Send one request and wait for its reply. `Ok(None)`: the agent cannot take this request
    /// (larger than a message may be, or one it does not understand, or an answer too large to
    /// send); the caller uses its sh path.
    pub async fn call(&self, req: &Request) -> Result<Option<Reply>, TransportError> {
        if self.is_broken() {
            return Err(TransportError::Failed("the host's agent was lost".into()));
        }
        if req.exceeds_frame() {
            return Ok(None);
        }
        let Ok(msg) = encode(req) else {
            return Ok(None);
        };
        let mut io = self.io.lock().await;
        match exchange(&mut io, &msg).await {
            Ok(Reply::Failed {
                step: FailedStep::Protocol,
                ..
            }) => Ok(None),
            Ok(reply) => Ok(Some(reply)),
            Err(e) => {
                self.broken.store(true, Ordering::SeqCst);
                Err(TransportError::Failed(format!(
                    "the host's agent was lost: {e}"
                )))
            }
        }
    }
}

async fn exchange(
    io: &mut (Reader, Writer),
    msg: &[u8],
) -> Result<Reply, super::proto::FrameError> {
    io.1.write_all(msg).await?;
    io.1.flush().await?;
    let mut prefix = [0u8; 4];
    io.0.read_exact(&mut prefix).await?;
    let mut body = vec![0u8; frame_len(prefix)?];
    io.0.read_exact(&mut body).await?;
    decode(&body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::proto::{PathKind, ProbeSpec, WriteSpec, MAX_FRAME};

    /// A client talking to [`crate::agent::serve::serve`] on a thread, over a socket pair.
    async fn agent() -> (AgentClient, std::thread::JoinHandle<i32>) {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let writer = theirs.try_clone().unwrap();
        let server = std::thread::spawn(move || crate::agent::serve::serve(theirs, writer));
        ours.set_nonblocking(true).unwrap();
        let (r, w) = tokio::net::UnixStream::from_std(ours).unwrap().into_split();
        (
            AgentClient::start(Box::new(r), Box::new(w)).await.unwrap(),
            server,
        )
    }

    #[tokio::test]
    async fn requests_are_served_and_oversized_ones_left_to_the_caller() {
        let (client, server) = agent().await;
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("f").to_string_lossy().into_owned();
        let write = |len: usize| {
            Request::Write(WriteSpec {
                dest: dest.clone(),
                data: vec![b'x'; len],
                ..Default::default()
            })
        };
        // Too large for one message: not sent, and the agent keeps serving.
        assert!(client.call(&write(MAX_FRAME)).await.unwrap().is_none());
        match client.call(&write(3)).await.unwrap() {
            Some(Reply::Stat(st)) => assert_eq!((st.kind, st.size), (PathKind::File, 3)),
            other => panic!("{other:?}"),
        }
        let probe = Request::Probe {
            paths: vec![ProbeSpec {
                path: dest.clone(),
                follow: false,
                checksum: None,
                content_limit: Some(10),
                real_path: false,
                mime: false,
            }],
            host: true,
        };
        match client.call(&probe).await.unwrap() {
            Some(Reply::Probe { host, paths }) => {
                assert!(host.is_some());
                assert_eq!(paths[0].content.as_deref(), Some(&b"xxx"[..]));
            }
            other => panic!("{other:?}"),
        }
        assert!(!client.is_broken());
        // Closing our end ends the agent cleanly.
        drop(client);
        assert_eq!(server.join().unwrap(), 0);
    }
}

//! Establishing one authenticated connection: the stream (TCP, jump channel or ProxyCommand),
//! the SSH handshake with the host key check, authentication; retried with backoff when the
//! failure is about reaching the host, never when the host answered and refused us.

use super::auth::authenticate;
use super::handler::{ClientHandler, HandlerError, HostKeyVerifier};
use super::jump::{spawn_proxy_command, via_jump, BoxedStream, ProxyProcess};
use super::target::SshTarget;
use russh::client::{self, Handle};
use russh::keys::Algorithm;
use std::sync::Arc;
use std::time::Duration;

/// Why a connection attempt failed.
#[derive(Debug)]
pub enum ConnectError {
    /// The host could not be reached (refused, timed out, reset): worth another try.
    Transient(String),
    /// The host answered and refused us (host key, authentication): retrying cannot help.
    Fatal(String),
}

/// An authenticated connection and what keeps its stream alive.
pub struct Connection {
    pub handle: Handle<ClientHandler>,
    /// Jump host connections, outermost first; the target's stream runs inside the last one.
    pub jumps: Vec<Handle<ClientHandler>>,
    pub proxy: Option<ProxyProcess>,
}

/// First pause between connection attempts; doubled after each failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Authentication may involve an agent or several keys; bound it separately from connecting.
const MIN_AUTH_TIMEOUT: Duration = Duration::from_secs(30);

/// Connect to `t`, retrying transient failures `t.retries` times with exponential backoff.
pub async fn connect_with_retries(t: &SshTarget) -> Result<Connection, ConnectError> {
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 0;
    loop {
        match connect_once(t).await {
            Ok(c) => return Ok(c),
            Err(ConnectError::Transient(_)) if attempt < t.retries => {
                attempt += 1;
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            Err(ConnectError::Transient(m)) if attempt > 0 => {
                return Err(ConnectError::Transient(format!(
                    "{m} (after {} attempts)",
                    attempt + 1
                )))
            }
            Err(e) => return Err(e),
        }
    }
}

async fn connect_once(t: &SshTarget) -> Result<Connection, ConnectError> {
    let mut jumps: Vec<Handle<ClientHandler>> = Vec::new();
    for (i, j) in t.jump.iter().enumerate() {
        let stream = match jumps.last() {
            Some(prev) => via_jump(prev, &t.jump[i - 1].label(), j)
                .await
                .map_err(ConnectError::Transient)?,
            None => tcp(j).await?,
        };
        let h = handshake(j, stream).await.map_err(|e| in_jump(e, j))?;
        jumps.push(h);
    }
    let (stream, proxy) = match (jumps.last(), &t.proxy_command) {
        (Some(prev), _) => {
            let via = t.jump.last().map(SshTarget::label).unwrap_or_default();
            (
                via_jump(prev, &via, t)
                    .await
                    .map_err(ConnectError::Transient)?,
                None,
            )
        }
        (None, Some(cmd)) => {
            let (s, p) = spawn_proxy_command(cmd, t).map_err(ConnectError::Fatal)?;
            (s, Some(p))
        }
        (None, None) => (tcp(t).await?, None),
    };
    match handshake(t, stream).await {
        Ok(handle) => Ok(Connection {
            handle,
            jumps,
            proxy,
        }),
        Err(ConnectError::Transient(m)) => match proxy
            .as_ref()
            .map(ProxyProcess::stderr_text)
            .filter(|s| !s.is_empty())
        {
            Some(err) => Err(ConnectError::Transient(format!(
                "{m}; ProxyCommand said: {err}"
            ))),
            None => Err(ConnectError::Transient(m)),
        },
        Err(e) => Err(e),
    }
}

fn in_jump(e: ConnectError, j: &SshTarget) -> ConnectError {
    match e {
        ConnectError::Transient(m) => {
            ConnectError::Transient(format!("jump host {}: {m}", j.label()))
        }
        ConnectError::Fatal(m) => ConnectError::Fatal(format!("jump host {}: {m}", j.label())),
    }
}

async fn tcp(t: &SshTarget) -> Result<BoxedStream, ConnectError> {
    let addr = (t.host.as_str(), t.port);
    match tokio::time::timeout(t.connect_timeout, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(Box::new(s))
        }
        Ok(Err(e)) => Err(ConnectError::Transient(format!(
            "cannot connect to {}:{}: {e}",
            t.host, t.port
        ))),
        Err(_) => Err(ConnectError::Transient(format!(
            "cannot connect to {}:{}: timed out after {}s",
            t.host,
            t.port,
            t.connect_timeout.as_secs()
        ))),
    }
}

/// SSH handshake over `stream` (host key checked by the handler), then authentication.
async fn handshake(
    t: &SshTarget,
    stream: BoxedStream,
) -> Result<Handle<ClientHandler>, ConnectError> {
    let verifier = HostKeyVerifier::for_target(t);
    let config = Arc::new(client_config(t, &verifier.known_families()));
    let handshake = client::connect_stream(config, stream, ClientHandler::new(verifier));
    let mut handle = match tokio::time::timeout(t.connect_timeout, handshake).await {
        Ok(Ok(h)) => h,
        Ok(Err(HandlerError::HostKey(m))) => return Err(ConnectError::Fatal(m)),
        Ok(Err(HandlerError::Ssh(e))) => {
            return Err(ConnectError::Transient(format!(
                "SSH handshake with {} failed: {e}",
                t.label()
            )))
        }
        Err(_) => {
            return Err(ConnectError::Transient(format!(
                "SSH handshake with {} timed out after {}s",
                t.label(),
                t.connect_timeout.as_secs()
            )))
        }
    };
    let auth_timeout = t.connect_timeout.max(MIN_AUTH_TIMEOUT);
    match tokio::time::timeout(auth_timeout, authenticate(&mut handle, t)).await {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(m)) => Err(ConnectError::Fatal(m)),
        Err(_) => Err(ConnectError::Fatal(format!(
            "authentication to {} timed out after {}s",
            t.label(),
            auth_timeout.as_secs()
        ))),
    }
}

/// russh settings for one connection: keepalive as asked, and the host key kinds this host is
/// known by asked for first, so a host on record with (say) an RSA key is not refused just
/// because it also has an ed25519 key that russh prefers.
fn client_config(t: &SshTarget, known_families: &[String]) -> client::Config {
    let mut preferred = russh::Preferred::default();
    if !known_families.is_empty() {
        let mut keys: Vec<Algorithm> = preferred.key.to_vec();
        keys.sort_by_key(|a| !known_families.contains(&algorithm_family(a)));
        preferred.key = keys.into();
    }
    client::Config {
        keepalive_interval: t.keepalive,
        keepalive_max: 3,
        nodelay: true,
        preferred,
        ..Default::default()
    }
}

fn algorithm_family(a: &Algorithm) -> String {
    if matches!(a, Algorithm::Rsa { .. }) {
        "ssh-rsa".to_string()
    } else {
        a.as_str().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_key_kind_is_preferred() {
        let t = crate::transport::ssh::SshTarget::from_vars(
            "h",
            &crate::Map::new(),
            &Default::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let cfg = client_config(&t, &["ssh-rsa".to_string()]);
        assert!(matches!(
            cfg.preferred.key.first(),
            Some(Algorithm::Rsa { .. })
        ));
    }

    #[test]
    fn default_order_kept_without_known_keys() {
        let t = crate::transport::ssh::SshTarget::from_vars(
            "h",
            &crate::Map::new(),
            &Default::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let cfg = client_config(&t, &[]);
        assert_eq!(cfg.preferred.key.first(), Some(&Algorithm::Ed25519));
    }
}

//! The byte stream under an SSH connection when it does not go straight over TCP: a
//! `direct-tcpip` channel through an already-authenticated jump host (ProxyJump), or the
//! stdin/stdout of a local command (ProxyCommand).

use super::handler::ClientHandler;
use super::target::SshTarget;
use russh::client::Handle;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::process::Child;

/// Any duplex byte stream russh can run over.
pub trait DuplexStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> DuplexStream for T {}

pub type BoxedStream = Box<dyn DuplexStream>;

/// Ask the jump host `via` to open a TCP connection to the target's sshd.
pub async fn via_jump(
    via: &Handle<ClientHandler>,
    via_label: &str,
    t: &SshTarget,
) -> Result<BoxedStream, String> {
    let ch = via
        .channel_open_direct_tcpip(t.host.clone(), u32::from(t.port), "127.0.0.1", 0)
        .await
        .map_err(|e| {
            format!(
                "jump host {via_label} could not connect to {}:{}: {e}",
                t.host, t.port
            )
        })?;
    Ok(Box::new(ch.into_stream()))
}

/// A running ProxyCommand: the stream is its stdio; what it prints on stderr is kept for the
/// error message should the connection fail.
pub struct ProxyProcess {
    pub child: Child,
    pub stderr: Arc<Mutex<String>>,
}

impl ProxyProcess {
    /// The command's complaints so far, for an error message.
    pub fn stderr_text(&self) -> String {
        self.stderr
            .lock()
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    }
}

/// OpenSSH's tokens: `%h` host, `%p` port, `%r` remote user, `%n` the name as given, `%%`.
/// Values are quoted for sh: an inventory name or user is data, never shell code.
pub fn expand_tokens(cmd: &str, t: &SshTarget) -> String {
    use crate::transport::sh_quote;
    let mut out = String::with_capacity(cmd.len());
    let mut chars = cmd.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('h') => out.push_str(&sh_quote(&t.host)),
            Some('p') => out.push_str(&t.port.to_string()),
            Some('r') => out.push_str(&sh_quote(&t.user)),
            Some('n') => out.push_str(&sh_quote(&t.name)),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Start the ProxyCommand (through `/bin/sh -c`, as ssh does) and use its stdio as the stream.
pub fn spawn_proxy_command(
    cmd: &str,
    t: &SshTarget,
) -> Result<(BoxedStream, ProxyProcess), String> {
    let line = expand_tokens(cmd, t);
    let mut child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("exec {line}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start ProxyCommand {line:?}: {e}"))?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(format!("ProxyCommand {line:?}: no stdio"));
    };
    let stderr = Arc::new(Mutex::new(String::new()));
    if let Some(mut err) = child.stderr.take() {
        let sink = Arc::clone(&stderr);
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = sink.lock() {
                    // Keep the start of the output: that is where the reason is.
                    if s.len() < 8192 {
                        s.push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                }
            }
        });
    }
    Ok((
        Box::new(tokio::io::join(stdout, stdin)),
        ProxyProcess { child, stderr },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn target() -> SshTarget {
        SshTarget {
            name: "web1".into(),
            host: "10.0.0.7".into(),
            port: 2222,
            user: "deploy".into(),
            private_key_files: vec![],
            password: None,
            key_passphrase: None,
            identity_agent: None,
            known_hosts: vec![],
            global_known_hosts: vec![],
            kplay_known_hosts: "/k".into(),
            host_key_policy: super::super::HostKeyPolicy::Off,
            jump: vec![],
            proxy_command: None,
            connect_timeout: Duration::from_secs(1),
            keepalive: None,
            retries: 0,
            agent: true,
        }
    }

    #[test]
    fn tokens_are_substituted() {
        assert_eq!(
            expand_tokens("ssh -W %h:%p %r@bastion # %n 100%%", &target()),
            "ssh -W 10.0.0.7:2222 deploy@bastion # web1 100%"
        );
    }

    /// `%h`/`%r`/`%n` come from the inventory: quoted, they can never run code (before, a
    /// host or user with `$(...)` ran it on the controller).
    #[tokio::test]
    async fn token_values_are_data_not_shell_code() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mark = d.path().join("ran");
        let mut t = target();
        t.host = format!("h$(touch {})", mark.display());
        t.user = format!("u`touch {}`", mark.display());
        t.name = "n;touch x".into();
        let line = expand_tokens("printf '%s|' %h %r %n", &t);
        let out = tokio::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&line)
            .output()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!mark.exists(), "a token value ran as code: {line}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{}|{}|n;touch x|", t.host, t.user)
        );
    }

    #[test]
    fn unknown_token_is_kept() {
        assert_eq!(expand_tokens("x %C y", &target()), "x %C y");
    }

    #[tokio::test]
    async fn proxy_command_stdio_is_the_stream() {
        use tokio::io::AsyncWriteExt;
        let (mut s, _p) = spawn_proxy_command("cat", &target()).unwrap_or_else(|e| panic!("{e}"));
        s.write_all(b"ping").await.unwrap_or_else(|e| panic!("{e}"));
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&buf, b"ping");
    }
}

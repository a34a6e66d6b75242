//! Starting kplay's agent on a host: copy the binary once into `~/.cache/kplay/` (named by its
//! content hash, so a host keeps it across runs and a new kplay brings its own, replacing the
//! old one), then run it
//! on a channel of its own for the rest of the run. Any step that fails leaves the host on the
//! sh path; nothing is reported as an error because nothing is lost.

use super::super::become_cmd::become_command;
use super::super::{sh_quote, Become, ExecRequest, Transport, TransportError};
use super::SshTransport;
use crate::agent::client::AgentClient;
use crate::agent::{Attrs, Reply, Request, WriteSpec};

/// Whether the agent may serve requests run with `become_`: none, or password-less sudo to
/// root (root can run the binary from the connecting user's home). Other users and methods
/// cannot reach it there, and a password prompt needs the interactive path.
pub fn agent_can_become(b: &Become) -> bool {
    b.method == "sudo" && b.password.is_none() && (b.user == "root" || b.user.is_empty())
}

/// Prints the agent's path on the host, then exits 0 when it is there and has the expected
/// SHA-256 (checked before every reuse: a copy cut short, or changed since, is never run), 4
/// when its directory is ready for a copy, 3 on another system or CPU (or without
/// `sha256sum`), 5 when the directory cannot be made or is not ours.
const LOCATE: &str = r#"[ "$(uname -sm)" = {arch} ] || exit 3
command -v sha256sum >/dev/null 2>&1 || exit 3
d="$HOME/.cache/kplay"; a="$d/agent-{id}"
printf '%s\n' "$a"
if [ -f "$a" ] && [ ! -h "$a" ] && [ -x "$a" ] && [ "$(sha256sum < "$a")" = '{sum}  -' ]; then exit 0; fi
mkdir -p "$d" && [ ! -h "$d" ] && [ -O "$d" ] && chmod 700 "$d" || exit 5
# Agents of other kplay builds, a copy that fails its check, and copies a killed run left.
rm -f "$d"/agent-* "$d"/.kplay-tmp.*
exit 4
"#;

impl SshTransport {
    /// The agent's path on the host, copying it there when missing (once per connection,
    /// shared by the plain and the become agent). `None`: no agent for this host.
    pub(super) async fn agent_path(&self) -> Option<String> {
        self.agent_file
            .get_or_init(|| async {
                let bin = crate::agent::binary()?;
                let arch = format!("Linux {}", std::env::consts::ARCH);
                let script = LOCATE
                    .replace("{arch}", &sh_quote(&arch))
                    .replace("{id}", &bin.id)
                    .replace("{sum}", &bin.expect.sha256);
                let out = self.exec(ExecRequest::sh(script)).await.ok()?;
                let path = out.stdout_str().lines().next()?.to_string();
                match out.rc {
                    0 => Some(path),
                    4 => {
                        // A few copies at a time: each holds SSH window buffers, and 100 hosts
                        // copying at once cost memory without finishing sooner (the hosts' CPUs
                        // are the limit).
                        static UPLOADS: tokio::sync::Semaphore =
                            tokio::sync::Semaphore::const_new(8);
                        let _slot = UPLOADS.acquire().await.ok()?;
                        // Checked on the host before it takes its name (see put_script).
                        self.put_file_expecting(&bin.path, &path, Some(0o700), None, &bin.expect)
                            .await
                            .ok()?;
                        Some(path)
                    }
                    _ => None,
                }
            })
            .await
            .clone()
    }

    /// Start the agent (as `become_` when given) on a channel held for the run.
    pub(super) async fn start_agent(&self, become_: Option<&Become>) -> Option<AgentClient> {
        if !self.agent_enabled || std::env::var_os("KPLAY_NO_AGENT").is_some() {
            return None;
        }
        let path = self.agent_path().await?;
        let mut cmd = format!("exec {} {}", sh_quote(&path), crate::agent::AGENT_ARG);
        if let Some(b) = become_ {
            cmd = become_command(&cmd, b);
        }
        let permit = self.channels.clone().acquire_owned().await.ok()?;
        let channel = self.handle.channel_open_session().await.ok()?;
        channel.exec(true, cmd.into_bytes()).await.ok()?;
        let (r, w) = tokio::io::split(channel.into_stream());
        let client = AgentClient::start(Box::new(r), Box::new(w)).await.ok()?;
        // The channel stays open for the run: its slot is taken for good.
        permit.forget();
        Some(client)
    }
}

/// [`Transport::put`] through the agent: `Ok(false)` when the host has none for `become_`.
pub async fn put(
    t: &SshTransport,
    data: &[u8],
    dest: &str,
    mode: Option<u32>,
    become_: Option<&Become>,
) -> Result<bool, TransportError> {
    let req = Request::Write(WriteSpec {
        dest: dest.to_string(),
        data: data.to_vec(),
        attrs: Attrs {
            mode,
            ..Default::default()
        },
        ..Default::default()
    });
    match t.agent(&req, become_).await? {
        None => Ok(false),
        Some(Reply::Stat(_)) => Ok(true),
        Some(Reply::Failed { message, .. }) => Err(TransportError::Failed(format!(
            "writing {dest} failed: {message}"
        ))),
        Some(other) => Err(TransportError::Failed(format!(
            "unexpected answer from the host's agent to a write: {other:?}"
        ))),
    }
}

//! Starting kplay's agent on a host. One round trip learns the host's facts (system, CPU
//! architecture, C library) and, when an agent this kplay carries fits them, whether its copy in
//! `~/.cache/kplay/` (named by its content hash, so a host keeps it across runs and a new kplay
//! brings its own) is there and intact. A missing copy is sent gzip-compressed, unpacked on the
//! host and checked against the agent's SHA-256 before it takes its name; then the agent runs on
//! a channel of its own for the rest of the run. A host no agent fits, or where a step fails,
//! stays on the sh path: nothing is reported as an error because nothing is lost, but the
//! reason is reported once (`kplay_agent: fallback (…)`, `-v` and JSON events).

use super::super::become_cmd::become_command;
use super::super::{
    put_result, put_script_via, sh_quote, Become, ExecRequest, Transport, TransportError,
};
use super::session::Stdin;
use super::SshTransport;
use crate::agent::client::AgentClient;
use crate::agent::{AgentBinary, Attrs, Reply, Request, WriteSpec};

/// Told each agent's outcome, `kplay_agent: active (…)` or `kplay_agent: fallback (…)`.
pub type AgentReport = Box<dyn Fn(&str) + Send + Sync>;

/// Whether the agent may serve requests run with `become_`: none, or password-less sudo to
/// root (root can run the binary from the connecting user's home). Other users and methods
/// cannot reach it there, and a password prompt needs the interactive path.
pub fn agent_can_become(b: &Become) -> bool {
    b.method == "sudo" && b.password.is_none() && (b.user == "root" || b.user.is_empty())
}

/// Prints the host's facts (`uname -s`, `uname -m`, `getconf GNU_LIBC_VERSION`), then the
/// agent's path on the host. Exits 0 when the agent is there and has the expected SHA-256
/// (checked before every reuse: a copy cut short, or changed since, is never run), 4 when its
/// directory is ready for a copy, 3 when no agent fits the system and CPU, 6 when the C library
/// is not glibc or older than the agent needs, 7 without `sha256sum` or `gzip`, 5 when the
/// directory cannot be made or is not ours.
const LOCATE: &str = r#"s=$(uname -s) m=$(uname -m)
l=$(getconf GNU_LIBC_VERSION 2>/dev/null) || l=
printf '%s %s\n%s\n' "$s" "$m" "${l:-unknown}"
case "$s $m" in
{cases}*) exit 3 ;;
esac
case "$l" in "glibc "*) v=${l#glibc } ;; *) exit 6 ;; esac
maj=${v%%.*} min=${v#*.}; min=${min%%.*}
[ "$maj" -gt "$need_maj" ] 2>/dev/null || { [ "$maj" -eq "$need_maj" ] && [ "$min" -ge "$need_min" ]; } 2>/dev/null || exit 6
command -v sha256sum >/dev/null 2>&1 && command -v gzip >/dev/null 2>&1 || exit 7
d="$HOME/.cache/kplay"; a="$d/agent-$id"
printf '%s\n' "$a"
if [ -f "$a" ] && [ ! -h "$a" ] && [ -x "$a" ] && [ "$(sha256sum < "$a")" = "$sum  -" ]; then exit 0; fi
mkdir -p "$d" && [ ! -h "$d" ] && [ -O "$d" ] && chmod 700 "$d" || exit 5
# Agents of other kplay builds, a copy that fails its check, and copies a killed run left.
rm -f "$d"/agent-* "$d"/.kplay-tmp.*
exit 4
"#;

/// The LOCATE script for the agents this kplay carries: one `case` arm per architecture.
fn locate_script(agents: &[AgentBinary]) -> String {
    let cases: String = agents
        .iter()
        .map(|a| {
            format!(
                "{pat}) id={id} sum={sum} need_maj={maj} need_min={min} ;;\n",
                pat = sh_quote(&format!("Linux {}", a.arch)),
                id = a.id,
                sum = a.expect.sha256,
                maj = a.glibc.0,
                min = a.glibc.1,
            )
        })
        .collect();
    LOCATE.replace("{cases}", &cases)
}

/// Where the host's agent is, or why it has none.
#[derive(Clone, Debug)]
pub(super) enum AgentFile {
    /// The verified agent's path on the host, and how it got there (for the report).
    Ready {
        path: String,
        how: String,
    },
    Fallback(String),
}

impl SshTransport {
    /// The agent's path on the host, copying it there when missing (once per connection,
    /// shared by the plain and the become agent).
    pub(super) async fn agent_path(&self) -> AgentFile {
        self.live()
            .agent_file
            .get_or_init(|| self.locate_agent())
            .await
            .clone()
    }

    async fn locate_agent(&self) -> AgentFile {
        let agents = crate::agent::agents();
        if agents.is_empty() {
            return AgentFile::Fallback("this kplay build carries no agent".into());
        }
        let out = match self.exec(ExecRequest::sh(locate_script(agents))).await {
            Ok(o) => o,
            Err(e) => return AgentFile::Fallback(format!("the host could not be probed: {e}")),
        };
        let text = out.stdout_str();
        let mut lines = text.lines();
        let system = lines.next().unwrap_or("").trim().to_string();
        let libc = lines.next().unwrap_or("").trim().to_string();
        let path = lines.next().unwrap_or("").to_string();
        let arch = system.split_whitespace().nth(1).unwrap_or("");
        let agent = agents.iter().find(|a| a.arch == arch);
        let facts = format!("{system}, {libc}");
        match (out.rc, agent) {
            (0, Some(_)) => AgentFile::Ready {
                path,
                how: format!("{facts}; cached on the host, SHA-256 verified"),
            },
            (4, Some(a)) => match self.upload_agent(a, &path).await {
                Ok(()) => AgentFile::Ready {
                    path,
                    how: format!(
                        "{facts}; copied, {} bytes on the wire, SHA-256 verified",
                        a.gz.len()
                    ),
                },
                Err(e) => AgentFile::Fallback(format!("{facts}: copying the agent failed: {e}")),
            },
            (3, _) => {
                let built: Vec<&str> = agents.iter().map(|a| a.arch).collect();
                AgentFile::Fallback(format!(
                    "{system}: no agent for this system and CPU (this kplay carries agents for Linux {})",
                    built.join(", ")
                ))
            }
            (6, Some(a)) => AgentFile::Fallback(format!(
                "{system}, C library {libc}: the agent needs glibc {}.{} or newer",
                a.glibc.0, a.glibc.1
            )),
            (7, _) => AgentFile::Fallback(format!("{facts}: no sha256sum or gzip on the host")),
            (5, _) => AgentFile::Fallback(format!(
                "{facts}: ~/.cache/kplay cannot be made, or is a link or not the user's own"
            )),
            (rc, _) => AgentFile::Fallback(format!(
                "the host probe exited with {rc}: {}",
                out.stderr_str().trim()
            )),
        }
    }

    /// Send the compressed agent to `path`: unpacked by `gzip -dc` into a temp file that must
    /// have the agent's length and SHA-256 before it is made executable and takes its name.
    async fn upload_agent(&self, a: &AgentBinary, path: &str) -> Result<(), TransportError> {
        // A few copies at a time: each holds SSH window buffers, and many hosts copying at
        // once cost memory without finishing sooner.
        static UPLOADS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(32);
        let _slot = UPLOADS
            .acquire()
            .await
            .map_err(|e| TransportError::Failed(e.to_string()))?;
        let req = ExecRequest::sh(put_script_via(path, Some(0o700), &a.expect, "gzip -dc"));
        let out = self.run(&req, Stdin::Bytes(a.gz)).await?;
        put_result(path, &out)
    }

    /// Start the agent (as `become_` when given) on a channel held for the run, reporting
    /// the outcome once.
    pub(super) async fn start_agent(
        &self,
        live: &super::Live,
        become_: Option<&Become>,
    ) -> Option<AgentClient> {
        let who = if become_.is_some() {
            "kplay_agent (become root)"
        } else {
            "kplay_agent"
        };
        match self.try_start_agent(live, become_).await {
            Ok((client, how)) => {
                self.report_agent(&format!("{who}: active ({how})"));
                Some(client)
            }
            Err(why) => {
                self.report_agent(&format!("{who}: fallback ({why})"));
                None
            }
        }
    }

    async fn try_start_agent(
        &self,
        live: &super::Live,
        become_: Option<&Become>,
    ) -> Result<(AgentClient, String), String> {
        if !self.agent_enabled {
            return Err("kplay_agent is false for this host".into());
        }
        if std::env::var_os("KPLAY_NO_AGENT").is_some() {
            return Err("KPLAY_NO_AGENT is set".into());
        }
        let (path, how) = match self.agent_path().await {
            AgentFile::Ready { path, how } => (path, how),
            AgentFile::Fallback(why) => return Err(why),
        };
        let mut cmd = format!("exec {}", sh_quote(&path));
        if let Some(b) = become_ {
            cmd = become_command(&cmd, b);
        }
        let started = async {
            let permit = live.channels.clone().acquire_owned().await.ok()?;
            let channel = live.handle.channel_open_session().await.ok()?;
            channel.exec(true, cmd.into_bytes()).await.ok()?;
            let (r, w) = tokio::io::split(channel.into_stream());
            let client = AgentClient::start(Box::new(r), Box::new(w)).await.ok()?;
            // The channel stays open for the run: its slot is taken for good.
            permit.forget();
            Some(client)
        };
        match started.await {
            Some(c) => Ok((c, how)),
            None => Err(format!(
                "{how}; but it did not start (no exec permission in the home directory?)"
            )),
        }
    }

    fn report_agent(&self, text: &str) {
        if let Some(report) = self.agent_report.get() {
            report(text);
        }
    }

    /// Where the outcome of starting an agent is reported (once per agent and connection).
    pub fn set_agent_report(&self, report: AgentReport) {
        let _ = self.agent_report.set(report);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn run_locate(script: &str, home: &std::path::Path, path: &str) -> (i32, String) {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("HOME", home)
            .env("PATH", path)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    fn agent(arch: &'static str, glibc: (u32, u32), content: &[u8]) -> AgentBinary {
        use sha2::Digest;
        let sum = hex::encode(sha2::Sha256::digest(content));
        AgentBinary::new(arch, b"", content.len() as u64, &sum, glibc, "test")
    }

    /// The probe on this machine: facts first, then the decision by architecture, glibc
    /// version and the copy's hash.
    #[test]
    fn locate_decides_by_architecture_glibc_and_hash() {
        let home = tempfile::tempdir().unwrap();
        let path = std::env::var("PATH").unwrap();
        let here = std::env::consts::ARCH;
        // No agent for this CPU.
        let (rc, out) = run_locate(
            &locate_script(&[agent("sparc64", (2, 17), b"x")]),
            home.path(),
            &path,
        );
        assert_eq!(rc, 3, "{out}");
        assert!(out.starts_with(&format!("Linux {here}\nglibc 2.")), "{out}");
        // An agent that needs a glibc from the future.
        let (rc, _) = run_locate(
            &locate_script(&[agent(here, (9, 0), b"x")]),
            home.path(),
            &path,
        );
        assert_eq!(rc, 6);
        // Fits: no copy yet (4), then a wrong copy (4, removed), then the right one (0).
        let a = agent(here, (2, 17), b"agent bytes");
        let script = locate_script(&[a]);
        let (rc, out) = run_locate(&script, home.path(), &path);
        assert_eq!(rc, 4, "{out}");
        let file = out.lines().nth(2).unwrap().to_string();
        assert!(file.ends_with(&format!(
            "/.cache/kplay/agent-{}",
            &agent(here, (2, 17), b"agent bytes").id
        )));
        std::fs::write(&file, b"agent bytes, cut").unwrap();
        std::process::Command::new("chmod")
            .args(["700", &file])
            .status()
            .unwrap();
        assert_eq!(run_locate(&script, home.path(), &path).0, 4);
        assert!(
            !std::path::Path::new(&file).exists(),
            "a copy failing its check is removed"
        );
        std::fs::write(&file, b"agent bytes").unwrap();
        std::process::Command::new("chmod")
            .args(["700", &file])
            .status()
            .unwrap();
        assert_eq!(run_locate(&script, home.path(), &path).0, 0);
    }
}

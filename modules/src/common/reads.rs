//! Shared by the system modules (service, systemd, sysctl, modprobe, hostname, mount, user,
//! group, authorized_key): several sh reads in ONE round trip, each one's stdout and exit status
//! framed so that any output (newlines, markers, empty) comes back intact; and the one change
//! script run afterwards, whose failure becomes a module error with Ansible's keys.

use super::{next_line, run_sh};
use kplay_engine::module::{ModuleContext, ModuleError};
use kplay_engine::transport::ExecOutput;

use std::collections::HashMap;

/// One read: a name to find it by and a sh snippet (run in a subshell, so `exit` is fine).
#[derive(Debug, Clone)]
pub struct Read {
    pub name: String,
    pub script: String,
    /// Capture stderr together with stdout (for messages such as `systemctl show`'s).
    pub merge_stderr: bool,
}

impl Read {
    pub fn new(name: &str, script: impl Into<String>) -> Self {
        Read {
            name: name.to_string(),
            script: script.into(),
            merge_stderr: false,
        }
    }
    pub fn merged(mut self) -> Self {
        self.merge_stderr = true;
        self
    }
}

/// What one read printed and its exit status.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Output {
    pub out: String,
    pub rc: i32,
}

impl Output {
    pub fn ok(&self) -> bool {
        self.rc == 0
    }
}

/// The replies of a batch of reads, by name.
#[derive(Debug, Clone, Default)]
pub struct Replies(HashMap<String, Output>);

impl Replies {
    /// The reply to `name`; an empty failed reply when the read was not part of the batch.
    pub fn get(&self, name: &str) -> Output {
        self.0.get(name).cloned().unwrap_or(Output {
            out: String::new(),
            rc: -1,
        })
    }
    pub fn insert(&mut self, name: &str, out: &str, rc: i32) {
        self.0.insert(
            name.to_string(),
            Output {
                out: out.to_string(),
                rc,
            },
        );
    }
}

/// Errors reading the framed reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("unexpected reply from the host: {0}")]
    Malformed(String),
}

/// The script running every read: `K <name> <len>` then `len` bytes (stdout, `\n`, status).
pub fn script(reads: &[Read]) -> String {
    let mut s = String::from(
        "LC_ALL=C; export LC_ALL\nkr() { printf 'K %s %s\\n' \"$1\" \"${#2}\"; printf '%s\\n' \"$2\"; }\n",
    );
    for r in reads {
        let redirect = if r.merge_stderr {
            "2>&1"
        } else {
            "2>/dev/null"
        };
        s.push_str(&format!(
            "ko=$( ( {}\n) {redirect}; printf '\\n%s' \"$?\" ); kr {} \"$ko\"\n",
            r.script, r.name
        ));
    }
    s
}

/// Parse what [`script`] printed.
pub fn parse(out: &[u8]) -> Result<Replies, FrameError> {
    let mut replies = Replies::default();
    let mut pos = 0;
    while let Some(line) = next_line(out, &mut pos) {
        if line.is_empty() {
            continue;
        }
        let mut f = line.splitn(3, ' ');
        let (tag, name, len) = (f.next(), f.next(), f.next());
        let (Some("K"), Some(name), Some(len)) = (tag, name, len) else {
            return Err(FrameError::Malformed(line));
        };
        let n: usize = len
            .trim()
            .parse()
            .map_err(|_| FrameError::Malformed(line.clone()))?;
        let body = out
            .get(pos..pos + n)
            .ok_or_else(|| FrameError::Malformed(format!("{name}: truncated")))?;
        pos += n + 1;
        let body = String::from_utf8_lossy(body).into_owned();
        let (text, rc) = body
            .rsplit_once('\n')
            .ok_or_else(|| FrameError::Malformed(format!("{name}: no status")))?;
        let rc: i32 = rc
            .trim()
            .parse()
            .map_err(|_| FrameError::Malformed(format!("{name}: status {rc}")))?;
        replies.insert(name, text, rc);
    }
    Ok(replies)
}

/// Run `reads` in one round trip with the task's become and environment.
pub async fn read_all(ctx: &ModuleContext<'_>, reads: &[Read]) -> Result<Replies, ModuleError> {
    let out = run_sh(ctx, script(reads), None).await?;
    parse(&out.stdout)
        .map_err(|e| ModuleError::new(format!("{e}; stderr: {}", out.stderr_str().trim())))
}

/// A failed change command's result keys, as Ansible's `fail_json(rc=…, stdout=…, stderr=…)`.
pub fn failure(msg: impl Into<String>, rc: i32, stdout: &str, stderr: &str) -> ModuleError {
    super::fail_output(msg, ("rc", rc.into()), stdout, stderr)
}

/// `Ok` when a change command exited 0; else its [`failure`], the message made by `msg` from
/// its stdout and stderr. One place turns a command's status into the task's error, so every
/// module reports `rc`, `stdout` and `stderr` alike.
pub fn ensure_ok(
    out: &ExecOutput,
    msg: impl FnOnce(&str, &str) -> String,
) -> Result<(), ModuleError> {
    if out.rc == 0 {
        return Ok(());
    }
    let (o, e) = (out.stdout_str(), out.stderr_str());
    Err(failure(msg(&o, &e), out.rc, &o, &e))
}

/// `Ok` when a host step exited 0; else a plain error, the message made by `msg` from its
/// trimmed stderr. For steps whose failure Ansible reports without `rc`/`stdout`/`stderr`
/// (see [`ensure_ok`] for those that carry them).
pub fn ensure_status(
    out: &ExecOutput,
    msg: impl FnOnce(&str) -> String,
) -> Result<(), ModuleError> {
    if out.rc == 0 {
        return Ok(());
    }
    Err(ModuleError::new(msg(out.stderr_str().trim())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(rc: i32, stdout: &str, stderr: &str) -> ExecOutput {
        ExecOutput {
            rc,
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
        }
    }

    #[test]
    fn ensure_ok_passes_status_zero_and_fails_others_with_the_output() {
        assert!(ensure_ok(&out(0, "o", "e"), |_, _| unreachable!()).is_ok());
        let err = ensure_ok(&out(2, "so\n", " se \n"), |o, e| {
            format!("x: {}{}", o.trim(), e.trim())
        })
        .unwrap_err();
        assert_eq!(err.msg, "x: sose");
        assert_eq!(err.result["rc"], serde_json::json!(2));
        assert_eq!(err.result["stdout"], serde_json::json!("so\n"));
        assert_eq!(err.result["stderr"], serde_json::json!(" se \n"));
    }

    #[test]
    fn ensure_status_fails_with_the_trimmed_stderr_and_no_result_keys() {
        assert!(ensure_status(&out(0, "", "e"), |_| unreachable!()).is_ok());
        let err =
            ensure_status(&out(1, "o", " boom \n"), |e| format!("step failed: {e}")).unwrap_err();
        assert_eq!(err.msg, "step failed: boom");
        assert!(err.result.is_empty());
    }
    use crate::testutil::{ctx, TestEnv};

    #[test]
    fn parse_keeps_trailing_newlines_and_status() {
        let r = parse(b"K a 6\nx\n\ny\n1\nK b 2\n\n0\n").unwrap();
        assert_eq!(
            r.get("a"),
            Output {
                out: "x\n\ny".into(),
                rc: 1
            }
        );
        assert_eq!(
            r.get("b"),
            Output {
                out: "".into(),
                rc: 0
            }
        );
        assert_eq!(r.get("c").rc, -1);
    }

    #[test]
    fn parse_rejects_garbage() {
        assert!(parse(b"hello\n").is_err());
        assert!(parse(b"K a 99\nshort\n").is_err());
    }

    #[tokio::test]
    async fn reads_run_in_one_script_with_their_own_status() {
        let d = tempfile::tempdir().unwrap();
        let env = TestEnv::new(d.path());
        let c = ctx(&env, false, false);
        let r = read_all(
            &c,
            &[
                Read::new("one", "printf 'K fake 3\\nab\\n\\n'"),
                Read::new("two", "echo err >&2; exit 3").merged(),
                Read::new("three", "echo hidden >&2; echo shown"),
            ],
        )
        .await
        .unwrap();
        assert_eq!(
            r.get("one"),
            Output {
                out: "K fake 3\nab\n\n".into(),
                rc: 0
            }
        );
        assert_eq!(
            r.get("two"),
            Output {
                out: "err\n".into(),
                rc: 3
            }
        );
        assert_eq!(
            r.get("three"),
            Output {
                out: "shown\n".into(),
                rc: 0
            }
        );
    }
}

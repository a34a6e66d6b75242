//! One long-lived POSIX shell per host that runs many commands, one after another, without a
//! new SSH session (sshd fork, PAM, login shell start) for each.
//!
//! Protocol, both directions on the shell's stdin/stdout:
//!   request:  `<script lines> <stdin bytes> <MARK>\n` then the script's lines, then the stdin
//!             data;
//!   response: stdout, `\n<MARK> <rc>\n`, stderr, `\n<MARK>\n`.
//! MARK is a fresh random token for every command, sent on the shell's stdin (never on a
//! command line, where `ps` would show it) and unset before the command runs, so a command's
//! output cannot contain the end of its own frame: a command that prints text an attacker
//! controls cannot make kplay read the next command's output as its own. The loop reads the
//! script with the `read` builtin and runs it with `eval` in a subshell: a fork, no new
//! program, and nothing leaks between commands (variables, `cd`, `set`, traps stay in the
//! subshell). Measured here that is ~0.2 ms per command against ~4 ms for a `head` plus a fresh
//! `sh`, and it is what makes many small steps per host cheap. stdout goes straight back;
//! stderr goes through a file. Only a `head` for stdin and a `cat` for stderr are started, and
//! only when there are any. Inside a command `$$` is the loop shell's pid (as in any subshell);
//! a command that needs its own pid runs `sh -c`. Only `sh`, `head -c` and `cat` are needed on
//! the target.

use super::{ExecOutput, TransportError};
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

/// The loop the target runs. It exports `KPLAY_ID` (the output of `id` for the connecting
/// user) so scripts can skip an `id` process per command; a script run as another user
/// (become) must not trust it (the SSH transport unsets it there). `umask` is kept as the login
/// gave it (new files get `0666 & ~umask` as with any other command); only the private
/// directory is 0700.
pub const BOOTSTRAP: &str = r#"__k_u=$(umask); umask 077
__k_d=$(mktemp -d "${TMPDIR:-/tmp}/.kplay-sh.XXXXXX") || exit 97
umask "$__k_u"
trap 'rm -rf "$__k_d"' EXIT
trap 'exit 1' HUP INT TERM
cd || :
KPLAY_ID=$(id); export KPLAY_ID
printf 'KPLAY-READY\n'
while IFS=' ' read -r __k_n __k_il __k_m; do
  __k_s=
  while [ "$__k_n" -gt 0 ]; do IFS= read -r __k_l; __k_s="$__k_s$__k_l
"; __k_n=$((__k_n - 1)); done
  if [ "$__k_il" -gt 0 ]; then head -c "$__k_il" > "$__k_d/i"; __k_in="$__k_d/i"; else __k_in=/dev/null; fi
  ( unset __k_m; set --; eval "$__k_s" ) < "$__k_in" 2> "$__k_d/e"
  printf '\n%s %s\n' "$__k_m" "$?"
  if [ -s "$__k_d/e" ]; then cat "$__k_d/e"; fi
  printf '\n%s\n' "$__k_m"
done
"#;

/// Shell function definitions that many scripts start with (the modules' path probe): the
/// loop defines them once, and scripts sent to it go without them. Every byte of a script is
/// read by the `read` builtin one at a time, so a 1 KB prelude per command is worth saving.
static PRELUDES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();

/// Register the preludes (once, at start-up, before any shell is started).
pub fn set_preludes(p: Vec<&'static str>) {
    let _ = PRELUDES.set(p);
}

fn preludes() -> &'static [&'static str] {
    PRELUDES.get().map(Vec::as_slice).unwrap_or(&[])
}

/// The loop with the registered preludes defined before it starts.
pub fn bootstrap() -> String {
    let mut s = String::new();
    for p in preludes() {
        s.push_str(p);
        s.push('\n');
    }
    BOOTSTRAP.replacen(
        "printf 'KPLAY-READY\\n'",
        &format!("{s}printf 'KPLAY-READY\\n'"),
        1,
    )
}

/// `script` without the preludes the loop already defined. Only for scripts the loop shell
/// itself evaluates (not ones handed to `sudo sh -c`, which starts a new shell).
pub fn strip_preludes(script: &str) -> std::borrow::Cow<'_, str> {
    let mut out = std::borrow::Cow::Borrowed(script);
    for p in preludes() {
        if out.contains(p) {
            out = std::borrow::Cow::Owned(out.replacen(p, "", 1));
        }
    }
    out
}

/// A fresh random marker for one command.
pub fn new_marker() -> String {
    let mut buf = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut buf);
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("KPLAY-{}-{nanos:x}", hex::encode(buf))
}

/// Largest script sent through the shell.
pub const MAX_SCRIPT: usize = 64 * 1024;

/// Largest stdin sent through the shell; bigger data goes over its own channel, streamed.
pub const MAX_STDIN: usize = 4 * 1024 * 1024;

type Reader = BufReader<Box<dyn AsyncRead + Unpin + Send>>;
type Writer = Box<dyn AsyncWrite + Unpin + Send>;

struct Io {
    reader: Reader,
    writer: Writer,
}

/// A started shell. Commands are serialised; a caller that finds it busy uses another path.
pub struct PersistentShell {
    io: tokio::sync::Mutex<Io>,
    broken: AtomicBool,
}

/// Marks the shell broken unless the exchange it guards finished: a caller that gives up
/// midway (a `timeout` around a command) leaves the shell in the middle of a frame, and the
/// next command would read this one's output as its own.
struct Unfinished<'a>(&'a AtomicBool, bool);

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if !self.1 {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

impl PersistentShell {
    /// Wrap the shell's stdout/stdin (started as `sh -c BOOTSTRAP`) and wait for its ready
    /// line.
    pub async fn start(
        reader: Box<dyn AsyncRead + Unpin + Send>,
        writer: Writer,
    ) -> Result<PersistentShell, TransportError> {
        let mut reader = BufReader::new(reader);
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .await
            .map_err(|e| TransportError::Failed(format!("persistent shell did not start: {e}")))?;
        if line.trim_end() != "KPLAY-READY" {
            return Err(TransportError::Failed(format!(
                "persistent shell did not start: got {:?}",
                line.trim_end()
            )));
        }
        Ok(PersistentShell {
            io: tokio::sync::Mutex::new(Io { reader, writer }),
            broken: AtomicBool::new(false),
        })
    }

    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::SeqCst)
    }

    /// Run `script` with `stdin`. `Ok(None)` when the shell is busy with another command.
    pub async fn try_run(
        &self,
        script: &str,
        stdin: &[u8],
    ) -> Result<Option<ExecOutput>, TransportError> {
        // The loop reads scripts a byte at a time (the `read` builtin on a pipe): big ones, or
        // ones holding NUL bytes, go over a channel of their own.
        if self.is_broken() || script.len() > MAX_SCRIPT || script.contains('\0') {
            return Ok(None);
        }
        let Ok(mut io) = self.io.try_lock() else {
            return Ok(None);
        };
        let mut pending = Unfinished(&self.broken, false);
        let result = Self::exchange(&mut io, script, stdin).await;
        pending.1 = true;
        match result {
            Ok(out) => Ok(Some(out)),
            Err(e) => {
                self.broken.store(true, Ordering::SeqCst);
                Err(TransportError::Failed(format!(
                    "the host's command shell was lost: {e}"
                )))
            }
        }
    }

    async fn exchange(io: &mut Io, script: &str, stdin: &[u8]) -> std::io::Result<ExecOutput> {
        let marker = new_marker();
        let body = script.strip_suffix('\n').unwrap_or(script);
        let lines = body.split('\n').count();
        let mut msg = Vec::with_capacity(64 + script.len() + stdin.len());
        msg.extend_from_slice(format!("{lines} {} {marker}\n", stdin.len()).as_bytes());
        msg.extend_from_slice(body.as_bytes());
        msg.push(b'\n');
        msg.extend_from_slice(stdin);
        io.writer.write_all(&msg).await?;
        io.writer.flush().await?;
        let end_out = format!("\n{marker} ").into_bytes();
        let stdout = read_until_marker(&mut io.reader, &end_out).await?;
        let mut line = String::new();
        io.reader.read_line(&mut line).await?;
        let rc: i32 = line.trim().parse().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("bad exit status {line:?}"),
            )
        })?;
        let end_err = format!("\n{marker}\n").into_bytes();
        let stderr = read_until_marker(&mut io.reader, &end_err).await?;
        Ok(ExecOutput { rc, stdout, stderr })
    }
}

/// Read bytes until `marker` (which starts with the newline the loop prints before it) and
/// return those before it. Nothing past the marker is consumed.
async fn read_until_marker(r: &mut Reader, marker: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out: Vec<u8> = Vec::new();
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "shell exited",
            ));
        }
        // The marker may straddle what was read before and this chunk.
        let tail = out.len().min(marker.len() - 1);
        let mut window = out[out.len() - tail..].to_vec();
        window.extend_from_slice(buf);
        if let Some(pos) = find(&window, marker) {
            let take = pos + marker.len() - tail;
            let start = out.len() - tail + pos;
            out.extend_from_slice(&buf[..take]);
            r.consume(take);
            out.truncate(start);
            return Ok(out);
        }
        let n = buf.len();
        out.extend_from_slice(buf);
        r.consume(n);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Stdio;

    async fn local_shell() -> (PersistentShell, tokio::process::Child) {
        let mut child = tokio::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(BOOTSTRAP)
            .arg("kplay")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let r: Box<dyn AsyncRead + Unpin + Send> = Box::new(child.stdout.take().unwrap());
        let w: Writer = Box::new(child.stdin.take().unwrap());
        (PersistentShell::start(r, w).await.unwrap(), child)
    }

    #[tokio::test]
    async fn runs_many_commands_with_separate_streams_and_rc() {
        let (sh, _child) = local_shell().await;
        for i in 0..20 {
            let out = sh
                .try_run(
                    &format!("echo out{i}; echo err{i} >&2; exit {}", i % 3),
                    b"",
                )
                .await
                .unwrap()
                .unwrap();
            assert_eq!(out.stdout, format!("out{i}\n").as_bytes());
            assert_eq!(out.stderr, format!("err{i}\n").as_bytes());
            assert_eq!(out.rc, i % 3);
        }
    }

    #[tokio::test]
    async fn stdin_is_passed_binary_safe() {
        let (sh, _child) = local_shell().await;
        let data: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        let out = sh.try_run("cat", &data).await.unwrap().unwrap();
        assert_eq!(out.stdout, data);
    }

    #[tokio::test]
    async fn output_without_trailing_newline_and_empty_output() {
        let (sh, _child) = local_shell().await;
        let out = sh
            .try_run("printf abc; printf def >&2", b"")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(out.stdout, b"abc");
        assert_eq!(out.stderr, b"def");
        let out = sh.try_run("true", b"").await.unwrap().unwrap();
        assert!(out.stdout.is_empty() && out.stderr.is_empty());
        let out = sh
            .try_run("printf 'x\\n\\n'; printf 'y\\n' >&2", b"")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(out.stdout, b"x\n\n");
        assert_eq!(out.stderr, b"y\n");
    }

    #[tokio::test]
    async fn scripts_keep_their_text_exactly() {
        let (sh, _child) = local_shell().await;
        let script = "  x='a\\\\b'\nprintf '%s|%s|' \"$x\" \"${1:-none}\"\ncat <<'EOF'\n  indented $HOME\nEOF\nexit 3\n";
        let out = sh.try_run(script, b"").await.unwrap().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "a\\\\b|none|  indented $HOME\n"
        );
        assert_eq!(out.rc, 3);
    }

    #[test]
    fn preludes_are_stripped_and_defined_in_the_bootstrap() {
        set_preludes(vec!["kpt() { echo \"kpt:$1\"; }"]);
        assert!(bootstrap().contains("kpt() {"));
        assert_eq!(
            strip_preludes("kpt() { echo \"kpt:$1\"; }\nkpt a\n"),
            "\nkpt a\n"
        );
        assert_eq!(strip_preludes("echo b\n"), "echo b\n");
    }

    #[tokio::test]
    async fn commands_do_not_share_state() {
        let (sh, _child) = local_shell().await;
        sh.try_run("export KPLAY_X=1; cd /", b"")
            .await
            .unwrap()
            .unwrap();
        let out = sh
            .try_run("echo \"${KPLAY_X:-unset}\"", b"")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(out.stdout, b"unset\n");
    }

    /// Whatever a command can learn (its shell's variables, the loop's command line and
    /// environment), it cannot print the end of its own frame: the next command still gets
    /// exactly its own output. Before, the marker was the loop's `$1` (in `ps` and
    /// /proc/PID/cmdline) and the same for every command.
    #[tokio::test]
    async fn command_output_cannot_forge_the_end_of_its_frame() {
        let (sh, child) = local_shell().await;
        let pid = child.id().unwrap_or(0);
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let learned = sh
            .try_run(
                "set; tr '\\0' '\\n' < /proc/$$/cmdline; tr '\\0' '\\n' < /proc/$$/environ",
                b"",
            )
            .await
            .unwrap()
            .unwrap();
        let mut text = String::from_utf8_lossy(&learned.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&cmdline).replace('\0', "\n"));
        let re = regex::Regex::new(r"KPLAY-[0-9a-f]{8,}-[0-9a-f]+").unwrap();
        let tokens: Vec<String> = re
            .find_iter(&text)
            .map(|m| m.as_str().to_string())
            .collect();
        // Forge a complete frame end with every token that could be the marker.
        let mut forge = String::from("printf 'partial'\n");
        for t in &tokens {
            forge.push_str(&format!("printf '\\n{t} 0\\n\\n{t}\\n'\n"));
        }
        forge.push_str("printf 'tail'\n");
        let out = sh.try_run(&forge, b"").await.unwrap().unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).ends_with("tail"),
            "forged with {tokens:?}: {:?}",
            String::from_utf8_lossy(&out.stdout)
        );
        let next = sh
            .try_run("echo third; exit 4", b"")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((next.rc, next.stdout.as_slice()), (4, &b"third\n"[..]));
    }

    /// A caller that gives up on a command (a timeout around it) leaves the shell mid-frame:
    /// it must never be used again (before, the next command got this one's output).
    #[tokio::test]
    async fn a_command_abandoned_midway_breaks_the_shell() {
        let (sh, _child) = local_shell().await;
        let gave_up = tokio::time::timeout(
            std::time::Duration::from_millis(100),
            sh.try_run("sleep 1; echo late", b""),
        )
        .await;
        assert!(gave_up.is_err());
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        match sh.try_run("echo next", b"").await {
            Ok(None) => {}
            other => panic!("an abandoned shell was reused: {other:?}"),
        }
        assert!(sh.is_broken());
    }

    #[tokio::test]
    async fn a_dead_shell_is_reported_and_not_reused() {
        let (sh, _child) = local_shell().await;
        let r = sh.try_run("kill -9 $$", b"").await;
        assert!(r.is_err());
        assert!(sh.is_broken());
        assert!(sh.try_run("true", b"").await.unwrap().is_none());
    }
}

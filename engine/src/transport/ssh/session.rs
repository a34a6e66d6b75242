//! One command on one session channel: the shell snippet sent as the exec request, stdin
//! streamed in (after sudo/su accepted us, when becoming another user), stdout and stderr
//! collected apart, the exit status or signal turned into an rc.

use super::handler::ClientHandler;
use crate::transport::become_cmd::{
    answer_prompts, become_script, nonce, BecomeCtl, BecomeWatch, Handshake, PasswordSink,
};
use crate::transport::{script_with_env, sh_quote, ExecOutput, ExecRequest, TransportError};
use russh::client::Handle;
use russh::{ChannelMsg, Sig};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

/// What goes to the command's stdin.
pub enum Stdin<'a> {
    None,
    Bytes(&'a [u8]),
    /// Streamed through a fixed buffer, never held whole in memory.
    Reader(Box<dyn AsyncRead + Unpin + Send + 'a>),
}

/// Read-buffer size for streamed stdin: a few SSH packets per read.
const STREAM_BUFFER: usize = 256 * 1024;

/// The command line sent in the exec request. sshd runs it with the user's login shell, so the
/// snippet itself is handed to `/bin/sh` to get POSIX sh whatever that shell is. Environment
/// goes in as `export` lines: sshd refuses most `env` requests.
pub fn command_line(
    req: &ExecRequest,
    become_nonce: &str,
) -> Result<(String, Option<BecomeWatch>), TransportError> {
    let script = script_with_env(req, &req.cmd)?;
    match &req.become_ {
        Some(b) => {
            let s = become_script(&script, b, become_nonce);
            let line = s.command.clone();
            Ok((line, Some(BecomeWatch::new(s, b))))
        }
        None => Ok((format!("/bin/sh -c {}", sh_quote(&script)), None)),
    }
}

/// Conventional signal numbers (Linux), for `rc = 128 + n` as a shell reports it.
fn signal_number(sig: &Sig) -> i32 {
    match sig {
        Sig::HUP => 1,
        Sig::INT => 2,
        Sig::QUIT => 3,
        Sig::ILL => 4,
        Sig::ABRT => 6,
        Sig::FPE => 8,
        Sig::KILL => 9,
        Sig::USR1 => 10,
        Sig::SEGV => 11,
        Sig::PIPE => 13,
        Sig::ALRM => 14,
        Sig::TERM => 15,
        Sig::Custom(name) => match name.as_str() {
            "TRAP" => 5,
            "BUS" => 7,
            "USR2" => 12,
            "STKFLT" => 16,
            "CHLD" => 17,
            "CONT" => 18,
            "STOP" => 19,
            "TSTP" => 20,
            "XCPU" => 24,
            "XFSZ" => 25,
            "SYS" => 31,
            _ => 127,
        },
    }
}

/// Run `req` on a new session channel of `handle`.
impl PasswordSink for russh::ChannelWriteHalf<russh::client::Msg> {
    async fn send_line(&mut self, line: &[u8]) -> bool {
        self.data(line).await.is_ok()
    }
}

pub async fn run(
    handle: &Handle<ClientHandler>,
    label: &str,
    req: &ExecRequest,
    stdin: Stdin<'_>,
) -> Result<ExecOutput, TransportError> {
    let (line, mut watch) = command_line(req, &nonce())?;
    let password = req.become_.as_ref().and_then(|b| b.password.clone());
    let channel = handle.channel_open_session().await.map_err(|e| {
        lost_or_failed(handle, label, format!("cannot open a session channel: {e}"))
    })?;
    channel
        .exec(true, line.into_bytes())
        .await
        .map_err(|e| lost_or_failed(handle, label, format!("cannot start the command: {e}")))?;
    let (mut rd, mut wr) = channel.split();

    let (ctl_tx, mut ctl_rx) = mpsc::unbounded_channel::<BecomeCtl>();
    let (done_tx, done_rx) = oneshot::channel::<()>();
    if watch.is_none() {
        let _ = ctl_tx.send(BecomeCtl::Start);
    }

    let reader = async move {
        let mut out = ExecOutput {
            rc: -1,
            ..Default::default()
        };
        let mut status: Option<i32> = None;
        let mut refused: Option<String> = None;
        let mut exec_refused = false;
        while let Some(msg) = rd.wait().await {
            let (is_err, data) = match msg {
                ChannelMsg::Data { data } => (false, data),
                ChannelMsg::ExtendedData { data, ext: 1 } => (true, data),
                ChannelMsg::ExitStatus { exit_status } => {
                    status = Some(i32::try_from(exit_status).unwrap_or(255));
                    continue;
                }
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    status = Some(128 + signal_number(&signal_name));
                    continue;
                }
                ChannelMsg::Failure => {
                    exec_refused = true;
                    continue;
                }
                ChannelMsg::Close => break,
                _ => continue,
            };
            let Some(w) = watch.as_mut() else {
                if is_err {
                    out.stderr.extend_from_slice(&data)
                } else {
                    out.stdout.extend_from_slice(&data)
                }
                continue;
            };
            if let Some(c) = w.route(is_err, &data, &mut out, &mut refused) {
                let _ = ctl_tx.send(c);
            }
        }
        let _ = done_tx.send(());
        if let Some(w) = &watch {
            if !w.is_ready() && refused.is_none() {
                refused = Some(w.failure_message());
            }
        }
        (out, status, refused, exec_refused)
    };

    let writer = async move {
        let work = async {
            match answer_prompts(&mut ctl_rx, password.as_deref(), &mut wr).await {
                Handshake::Start => {}
                Handshake::Abort => {
                    let _ = wr.eof().await;
                    return None;
                }
                Handshake::Closed => return None,
            }
            // A command that does not read its stdin may exit before we finish writing: that
            // is not an error, its exit status tells.
            match stdin {
                Stdin::None => {}
                Stdin::Bytes(b) => {
                    let _ = wr.data(b).await;
                }
                Stdin::Reader(r) => {
                    if let Err(e) = stream(r, &wr).await {
                        // Never an end-of-input after a failed read: the command would take
                        // the part that arrived for the whole. Close the channel instead; the
                        // caller reports the error.
                        let _ = wr.close().await;
                        return Some(e);
                    }
                }
            }
            let _ = wr.eof().await;
            None
        };
        tokio::select! {
            e = work => e,
            _ = done_rx => None,
        }
    };

    let ((out, status, refused, exec_refused), read_error) = tokio::join!(reader, writer);
    if let Some(e) = read_error {
        return Err(TransportError::Failed(format!(
            "{label}: reading the data to send failed: {e}"
        )));
    }
    if exec_refused && status.is_none() {
        return Err(TransportError::Failed(format!(
            "{label}: sshd refused to run the command"
        )));
    }
    if let Some(m) = refused {
        return Err(TransportError::Failed(m));
    }
    match status {
        Some(rc) => Ok(ExecOutput { rc, ..out }),
        None => Err(lost_or_failed(
            handle,
            label,
            "the command ended without an exit status".to_string(),
        )),
    }
}

/// Copy `r` to the channel through a fixed buffer. `Err`: reading `r` failed (the text of the
/// error); a command that stops reading its stdin early is not an error.
async fn stream<S>(
    r: Box<dyn AsyncRead + Unpin + Send + '_>,
    wr: &russh::ChannelWriteHalf<S>,
) -> Result<(), String>
where
    S: From<(russh::ChannelId, ChannelMsg)> + Send + Sync + 'static,
{
    let mut w = wr.make_writer();
    let mut r = BufReader::with_capacity(STREAM_BUFFER, r);
    loop {
        let buf = r.fill_buf().await.map_err(|e| e.to_string())?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len();
        if w.write_all(buf).await.is_err() {
            break;
        }
        r.consume(n);
    }
    let _ = w.flush().await;
    Ok(())
}

/// A dead connection makes the host unreachable; anything else is this command's failure.
fn lost_or_failed(handle: &Handle<ClientHandler>, label: &str, msg: String) -> TransportError {
    if handle.is_closed() {
        TransportError::Unreachable(format!("connection to {label} lost: {msg}"))
    } else {
        TransportError::Failed(format!("{label}: {msg}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Become;

    #[test]
    fn plain_command_runs_under_posix_sh() {
        let (line, watch) =
            command_line(&ExecRequest::sh("echo hi"), "n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(line, "/bin/sh -c 'echo hi'");
        assert!(watch.is_none());
    }

    #[test]
    fn env_is_exported_quoted_and_cwd_changed() {
        let req = ExecRequest {
            cmd: "env".into(),
            env: vec![("A_B".into(), "x y'z".into())],
            cwd: Some("/tmp/d ir".into()),
            ..Default::default()
        };
        let (line, _) = command_line(&req, "n").unwrap_or_else(|e| panic!("{e}"));
        let inner = shell_words::split(&line).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            inner[2],
            "export A_B='x y'\"'\"'z'\ncd '/tmp/d ir' || exit 1\nenv"
        );
    }

    #[test]
    fn invalid_env_name_is_refused() {
        let req = ExecRequest {
            cmd: "true".into(),
            env: vec![("A;rm".into(), "x".into())],
            ..Default::default()
        };
        assert!(command_line(&req, "n").is_err());
    }

    #[test]
    fn become_wraps_with_sudo_and_watches() {
        let b = Become {
            method: "sudo".into(),
            user: "app".into(),
            password: None,
            exe: None,
            flags: None,
        };
        let (line, watch) = command_line(&ExecRequest::sh("id").with_become(Some(b)), "n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(line.starts_with("sudo "));
        assert!(watch.is_some());
    }

    #[test]
    fn signals_map_to_128_plus_number() {
        assert_eq!(128 + signal_number(&Sig::KILL), 137);
        assert_eq!(128 + signal_number(&Sig::Custom("USR2".into())), 140);
    }
}

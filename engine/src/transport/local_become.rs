//! `become` on the local transport, the way the SSH transport does it: the command announces
//! itself with a marker once it runs as the new user, the password is written only when sudo/su
//! prints its prompt, and the command's own stdin starts only after the marker. Writing the
//! password up front (as a plain `sudo -S` wrapper would) puts it into the command's stdin, or
//! into the file a module writes, whenever sudo does not ask (root, NOPASSWD, a cached
//! timestamp). The task's environment is exported inside the escalated script, because sudo
//! resets the environment it was started with.

use super::become_cmd::{
    answer_prompts, become_script, nonce, BecomeCtl, BecomeWatch, Handshake, PasswordSink,
};
use super::local::Input;
use super::{script_with_env, Become, ExecOutput, ExecRequest, TransportError};
use std::process::Stdio;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

impl PasswordSink for tokio::process::ChildStdin {
    async fn send_line(&mut self, line: &[u8]) -> bool {
        if self.write_all(line).await.is_err() {
            return false;
        }
        let _ = self.flush().await;
        true
    }
}

/// Run `req` through `b` as a child process of kplay.
pub(super) async fn exec(
    req: &ExecRequest,
    b: &Become,
    input: Input,
    running: &std::sync::Mutex<Vec<i32>>,
) -> Result<ExecOutput, TransportError> {
    let script = script_with_env(req, &req.cmd)?;
    let wrapped = become_script(&script, b, &nonce());
    let mut watch = BecomeWatch::new(wrapped.clone(), b);
    let mut child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&wrapped.command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0)
        .spawn()
        .map_err(|e| TransportError::Failed(format!("cannot start /bin/sh: {e}")))?;
    let _running = super::local::Running::new(running, child.id());
    let (Some(mut sin), Some(mut out), Some(mut err)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(TransportError::Failed(
            "cannot start /bin/sh: no pipes".into(),
        ));
    };
    let password = b.password.clone();
    let (ctl_tx, mut ctl_rx) = mpsc::unbounded_channel::<BecomeCtl>();
    let (done_tx, done_rx) = oneshot::channel::<()>();

    let reader = async move {
        let mut result = ExecOutput::default();
        let mut refused: Option<String> = None;
        let (mut obuf, mut ebuf) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
        let (mut out_open, mut err_open) = (true, true);
        while out_open || err_open {
            let (is_err, n) = tokio::select! {
                r = out.read(&mut obuf), if out_open => (false, r.unwrap_or(0)),
                r = err.read(&mut ebuf), if err_open => (true, r.unwrap_or(0)),
            };
            if n == 0 {
                if is_err {
                    err_open = false;
                } else {
                    out_open = false;
                }
                continue;
            }
            let data = if is_err { &ebuf[..n] } else { &obuf[..n] };
            if let Some(c) = watch.route(is_err, data, &mut result, &mut refused) {
                let _ = ctl_tx.send(c);
            }
        }
        let _ = done_tx.send(());
        if !watch.is_ready() && refused.is_none() {
            refused = Some(watch.failure_message());
        }
        (result, refused)
    };

    let writer = async move {
        let work = async {
            if answer_prompts(&mut ctl_rx, password.as_deref(), &mut sin).await != Handshake::Start
            {
                return;
            }
            // A command that does not read its stdin closes the pipe early: not an error, its
            // exit status tells.
            match &input {
                Input::Bytes(Some(data)) => {
                    let _ = sin.write_all(data).await;
                }
                Input::Bytes(None) => {}
                Input::File(p) => {
                    if let Ok(mut f) = tokio::fs::File::open(p).await {
                        let _ = tokio::io::copy(&mut f, &mut sin).await;
                    }
                }
            }
        };
        tokio::select! {
            _ = work => {}
            _ = done_rx => {}
        }
        // Dropping the pipe is the command's end of input (and ends a second prompt).
        drop(sin);
    };

    let ((result, refused), ()) = tokio::join!(reader, writer);
    if let Some(m) = refused {
        let _ = child.start_kill();
        let _ = child.wait().await;
        return Err(TransportError::Failed(m));
    }
    let status = child
        .wait()
        .await
        .map_err(|e| TransportError::Failed(format!("waiting for command: {e}")))?;
    let rc = match status.code() {
        Some(c) => c,
        None => {
            use std::os::unix::process::ExitStatusExt;
            -status.signal().unwrap_or(1)
        }
    };
    Ok(ExecOutput { rc, ..result })
}

//! `-vvv` and `-vvvv`: what kplay does on a host, as Ansible users debug SSH problems with it.
//!
//! - `-vvv`: each command (`<host> EXEC /bin/sh -c '…'`, with the become method and user),
//!   each file written (`PUT`), each file read (`FETCH`); connections opened (traced by
//!   [`super::connection::Connections`]).
//! - `-vvvv`: also each command's outcome (rc, sizes) and every agent request.
//!
//! Secrets never show: become passwords are only ever named as `********`, values of
//! environment variables whose names look secret are masked, stdin is shown by its size, and a
//! `no_log` task's commands are not shown at all.

use crate::output::{Event, Output};
use crate::transport::{
    AsyncReadWrite, Become, ExecOutput, ExecRequest, Transport, TransportError,
};
use async_trait::async_trait;
use std::sync::Arc;

/// A transport that reports what goes through it, then passes it on unchanged.
pub struct Traced {
    inner: Arc<dyn Transport>,
    host: String,
    out: Arc<dyn Output>,
    verbosity: u8,
    no_log: bool,
}

/// Wrap `inner` when `verbosity` asks for traces (else return it as it is: no cost).
pub fn wrap(
    inner: Arc<dyn Transport>,
    host: &str,
    out: &Arc<dyn Output>,
    verbosity: u8,
    no_log: bool,
) -> Arc<dyn Transport> {
    if verbosity < 3 {
        return inner;
    }
    Arc::new(Traced {
        inner,
        host: host.to_string(),
        out: out.clone(),
        verbosity,
        no_log,
    })
}

/// Names of environment variables whose values are not shown.
fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    ["PASS", "SECRET", "TOKEN", "KEY", "CREDENTIAL", "AUTH"]
        .iter()
        .any(|w| n.contains(w))
}

fn become_text(b: &Become) -> String {
    let mut s = format!("BECOME {} -> {}", b.method, b.user);
    if b.password.is_some() {
        s.push_str(" (password: ********)");
    }
    s
}

/// `-vvv`'s line for one command.
pub fn describe_exec(req: &ExecRequest, no_log: bool) -> String {
    let mut s = String::from("EXEC ");
    for (k, v) in &req.env {
        let shown = if secret_name(k) {
            "********"
        } else {
            v.as_str()
        };
        s.push_str(&format!("{k}={} ", crate::transport::sh_quote(shown)));
    }
    if let Some(d) = &req.cwd {
        s.push_str(&format!("(cd {d}) "));
    }
    if no_log {
        s.push_str("/bin/sh -c '<hidden: no_log>'");
    } else {
        s.push_str(&format!(
            "/bin/sh -c {}",
            crate::transport::sh_quote(req.cmd.trim_end())
        ));
    }
    if let Some(b) = &req.become_ {
        s.push_str(&format!(" [{}]", become_text(b)));
    }
    if let Some(i) = &req.stdin {
        s.push_str(&format!(" [stdin: {} bytes]", i.len()));
    }
    s
}

impl Traced {
    fn emit(&self, level: u8, text: String) {
        if self.verbosity >= level {
            self.out.emit(&Event::Trace {
                host: self.host.clone(),
                level,
                text,
            });
        }
    }
}

#[async_trait]
impl Transport for Traced {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn exec(&self, req: ExecRequest) -> Result<ExecOutput, TransportError> {
        self.emit(3, describe_exec(&req, self.no_log));
        let r = self.inner.exec(req).await;
        match &r {
            Ok(o) => self.emit(
                4,
                format!(
                    "rc={} stdout={} bytes stderr={} bytes",
                    o.rc,
                    o.stdout.len(),
                    o.stderr.len()
                ),
            ),
            Err(e) => self.emit(3, format!("FAILED: {e}")),
        }
        r
    }

    async fn put(
        &self,
        data: &[u8],
        dest: &str,
        mode: Option<u32>,
        become_: Option<&Become>,
    ) -> Result<(), TransportError> {
        self.emit(
            3,
            format!(
                "PUT {} bytes TO {dest}{}{}",
                data.len(),
                mode.map(|m| format!(" mode {m:o}")).unwrap_or_default(),
                become_
                    .map(|b| format!(" [{}]", become_text(b)))
                    .unwrap_or_default()
            ),
        );
        self.inner.put(data, dest, mode, become_).await
    }

    async fn put_file(
        &self,
        src: &std::path::Path,
        dest: &str,
        mode: Option<u32>,
        become_: Option<&Become>,
    ) -> Result<(), TransportError> {
        self.emit(3, format!("PUT {} TO {dest}", src.display()));
        self.inner.put_file(src, dest, mode, become_).await
    }

    async fn fetch(
        &self,
        path: &str,
        become_: Option<&Become>,
    ) -> Result<Option<Vec<u8>>, TransportError> {
        self.emit(3, format!("FETCH {path}"));
        self.inner.fetch(path, become_).await
    }

    async fn open_tcp(
        &self,
        host: &str,
        port: u16,
    ) -> Result<Box<dyn AsyncReadWrite>, TransportError> {
        self.emit(3, format!("TCP to {host}:{port} through the host"));
        self.inner.open_tcp(host, port).await
    }

    async fn agent(
        &self,
        req: &crate::agent::Request,
        become_: Option<&Become>,
    ) -> Result<Option<crate::agent::Reply>, TransportError> {
        if self.verbosity >= 4 {
            let what = agent_request_text(req);
            self.emit(
                4,
                format!(
                    "AGENT {what}{}",
                    become_
                        .map(|b| format!(" [{}]", become_text(b)))
                        .unwrap_or_default()
                ),
            );
        }
        self.inner.agent(req, become_).await
    }

    async fn close(&self) {
        self.inner.close().await
    }

    async fn interrupt(&self) {
        self.inner.interrupt().await
    }
}

/// An agent request named by what it does and on which path (never a file's content).
fn agent_request_text(req: &crate::agent::Request) -> String {
    use crate::agent::Request as R;
    match req {
        R::Hello => "hello".into(),
        R::Probe { paths, .. } => format!("stat {} path(s)", paths.len()),
        R::Write(w) => format!("write {}", w.dest),
        R::SetAttrs { path, .. } => format!("set attributes of {path}"),
        R::Mkdir { path, .. } => format!("mkdir {path}"),
        R::Read { path } => format!("read {path}"),
        R::Remove { path } => format!("remove {path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked() {
        let mut req = ExecRequest::sh("echo hi").with_become(Some(Become {
            method: "sudo".into(),
            user: "root".into(),
            password: Some("hunter2".into()),
            exe: None,
            flags: None,
        }));
        req.env = vec![
            ("DB_PASSWORD".into(), "hunter2".into()),
            ("LANG".into(), "C".into()),
        ];
        let s = describe_exec(&req, false);
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("LANG=C") && s.contains("BECOME sudo -> root (password: ********)"));
        assert!(describe_exec(&ExecRequest::sh("secret-cmd"), true).contains("<hidden: no_log>"));
    }
}

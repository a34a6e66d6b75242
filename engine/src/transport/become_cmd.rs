//! Privilege escalation (sudo, su) as shell text, shared by the transports.
//!
//! Two forms exist. [`become_command`] is the plain wrapper the local transport uses: the
//! password goes first on stdin. [`become_script`] adds a prompt and a marker so a transport
//! that reads the command's output while it runs (SSH) can answer the password prompt only
//! when it is asked, start sending real stdin only once the command runs as the new user, and
//! tell a wrong password apart from a failing command instead of hanging on a second prompt.

use super::{sh_quote, Become, ExecOutput};
use std::sync::atomic::{AtomicU64, Ordering};

/// Wrap `cmd` for sudo/su. The password, if any, goes first on stdin, never on the command line.
pub fn become_command(cmd: &str, b: &Become) -> String {
    let exe = b.exe.clone().unwrap_or_else(|| b.method.clone());
    match b.method.as_str() {
        "su" => format!(
            "{exe} {} {} -c {}",
            b.flags.as_deref().unwrap_or(""),
            sh_quote(&b.user),
            sh_quote(cmd)
        ),
        _ => {
            let flags = sudo_flags(b);
            format!(
                "{exe} {flags} -p '' -u {} /bin/sh -c {}",
                sh_quote(&b.user),
                sh_quote(cmd)
            )
        }
    }
}

/// Ansible's default sudo flags are `-H -S -n`; `-n` (never prompt) is dropped when a password
/// is given, because then the prompt is expected and answered.
fn sudo_flags(b: &Become) -> String {
    let flags = b.flags.clone().unwrap_or_else(|| "-H -S -n".to_string());
    if b.password.is_some() {
        flags
            .split_whitespace()
            .filter(|f| *f != "-n")
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        flags
    }
}

/// A become-wrapped command plus what to look for in its output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BecomeScript {
    /// The full command line to run with `/bin/sh -c` (or as an SSH exec request).
    pub command: String,
    /// The exact prompt sudo prints when it wants the password; `None` for su, whose prompt
    /// cannot be chosen and is recognised by [`looks_like_su_prompt`].
    pub prompt: Option<String>,
    /// Printed on stderr (followed by a newline) by the escalated shell before the command
    /// runs: seeing it proves escalation worked.
    pub marker: String,
}

/// A fresh token for prompts and markers: unique per call within the process and unlikely to
/// appear in any command's own output.
pub fn nonce() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    use sha1::Digest;
    let digest = sha1::Sha1::digest(format!("{t}:{}:{n}", std::process::id()).as_bytes());
    hex::encode(&digest[..8])
}

/// Wrap `cmd` so the escalated shell first announces itself with a marker on stderr.
pub fn become_script(cmd: &str, b: &Become, nonce: &str) -> BecomeScript {
    let marker = format!("KPLAY-BECOME-SUCCESS-{nonce}");
    let inner = format!("echo {marker} >&2; exec /bin/sh -c {}", sh_quote(cmd));
    let exe = b.exe.clone().unwrap_or_else(|| b.method.clone());
    match b.method.as_str() {
        "su" => {
            let flags = b.flags.as_deref().unwrap_or("").trim().to_string();
            let flags = if flags.is_empty() {
                String::new()
            } else {
                format!("{flags} ")
            };
            BecomeScript {
                command: format!("{exe} {flags}{} -c {}", sh_quote(&b.user), sh_quote(&inner)),
                prompt: None,
                marker,
            }
        }
        _ => {
            let prompt = format!("[sudo via kplay, key={nonce}] password:");
            let command = format!(
                "{exe} {} -p {} -u {} /bin/sh -c {}",
                sudo_flags(b),
                sh_quote(&prompt),
                sh_quote(&b.user),
                sh_quote(&inner)
            );
            BecomeScript {
                command,
                prompt: Some(prompt),
                marker,
            }
        }
    }
}

/// su's password prompt, in the languages a target is likely to be set to ("Password:",
/// "Passwort:", "Mot de passe :", ...): text ending in a colon right after a word for password.
pub fn looks_like_su_prompt(text: &str) -> bool {
    let t = text.trim_end().to_lowercase();
    if !t.ends_with(':') {
        return false;
    }
    [
        "password",
        "passwort",
        "mot de passe",
        "contraseña",
        "senha",
        "пароль",
        "密码",
    ]
    .iter()
    .any(|w| t.contains(w))
}

/// What the transport must do after feeding output to a [`BecomeWatch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BecomeEvent {
    /// The password prompt appeared: write the password and a newline to stdin.
    SendPassword,
    /// Escalation worked: the command runs now; start writing its stdin.
    Ready,
    /// Escalation failed; stop, close the channel and report this message.
    Refused(String),
}

/// What a transport's reading side asks of its writing side (stdin) of a become-wrapped command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BecomeCtl {
    /// Write the password and a newline.
    Password,
    /// Escalation worked: start writing the command's own stdin.
    Start,
    /// Escalation failed: close stdin.
    Abort,
}

/// How the writing side's part of a become exchange ended ([`answer_prompts`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Handshake {
    /// Escalation worked: the command's own stdin may be written now.
    Start,
    /// Escalation failed.
    Abort,
    /// The reading side is gone, or the command's input closed, before either.
    Closed,
}

/// The command's input, where a become password is typed.
pub(crate) trait PasswordSink {
    /// Writes `line`; false when the input is closed.
    fn send_line(&mut self, line: &[u8]) -> impl std::future::Future<Output = bool> + Send;
}

/// The writing side of a become exchange, the same for every transport: answers each password
/// prompt the reading side reports (with an empty line when there is no password) until it says
/// the command runs as the new user or escalation failed.
pub(crate) async fn answer_prompts(
    ctl_rx: &mut tokio::sync::mpsc::UnboundedReceiver<BecomeCtl>,
    password: Option<&str>,
    sink: &mut impl PasswordSink,
) -> Handshake {
    while let Some(ctl) = ctl_rx.recv().await {
        match ctl {
            BecomeCtl::Password => {
                let line = format!("{}\n", password.unwrap_or(""));
                if !sink.send_line(line.as_bytes()).await {
                    return Handshake::Closed;
                }
            }
            BecomeCtl::Start => return Handshake::Start,
            BecomeCtl::Abort => return Handshake::Abort,
        }
    }
    Handshake::Closed
}

/// Watches a become-wrapped command's output until the marker shows that escalation worked.
/// Output before the marker is sudo/su talk (prompts, lectures) and is not part of the
/// command's result; output after it is passed through untouched.
#[derive(Debug)]
pub struct BecomeWatch {
    script: BecomeScript,
    method: String,
    has_password: bool,
    prompts_seen: usize,
    ready: bool,
    pre_stdout: Vec<u8>,
    pre_stderr: Vec<u8>,
}

impl BecomeWatch {
    pub fn new(script: BecomeScript, b: &Become) -> Self {
        BecomeWatch {
            script,
            method: b.method.clone(),
            has_password: b.password.is_some(),
            prompts_seen: 0,
            ready: false,
            pre_stdout: Vec::new(),
            pre_stderr: Vec::new(),
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Feed a chunk of stdout (`is_stderr == false`) or stderr. Returns the bytes that belong
    /// to the command's own output on that stream (empty before the marker) and the event the
    /// chunk triggered, if any.
    pub fn feed(&mut self, is_stderr: bool, data: &[u8]) -> (Vec<u8>, Option<BecomeEvent>) {
        if self.ready {
            return (data.to_vec(), None);
        }
        if is_stderr {
            self.pre_stderr.extend_from_slice(data);
        } else {
            self.pre_stdout.extend_from_slice(data);
        }
        let marker_line = format!("{}\n", self.script.marker);
        if let Some(pos) = find(&self.pre_stderr, marker_line.as_bytes()) {
            // The marker is written to stderr, so it is found while feeding stderr; stdout that
            // arrived before it is fetched with `take_pending_stdout`.
            self.ready = true;
            let rest = self.pre_stderr.split_off(pos + marker_line.len());
            return (rest, Some(BecomeEvent::Ready));
        }
        let prompts = self.count_prompts();
        if prompts > self.prompts_seen {
            self.prompts_seen = prompts;
            if !self.has_password {
                return (
                    Vec::new(),
                    Some(BecomeEvent::Refused(format!(
                        "Missing {} password",
                        self.method
                    ))),
                );
            }
            if prompts > 1 {
                return (
                    Vec::new(),
                    Some(BecomeEvent::Refused(format!(
                        "Incorrect {} password",
                        self.method
                    ))),
                );
            }
            return (Vec::new(), Some(BecomeEvent::SendPassword));
        }
        let err = String::from_utf8_lossy(&self.pre_stderr);
        if err.contains("a password is required") {
            return (
                Vec::new(),
                Some(BecomeEvent::Refused(format!(
                    "Missing {} password",
                    self.method
                ))),
            );
        }
        if err.contains("Sorry, try again") || err.contains("incorrect password attempt") {
            return (
                Vec::new(),
                Some(BecomeEvent::Refused(format!(
                    "Incorrect {} password",
                    self.method
                ))),
            );
        }
        (Vec::new(), None)
    }

    /// Feed a chunk and file its bytes into `out` (the command's own output) and a refusal into
    /// `refused` (the first one wins); returns what the writing side must do next. Both
    /// transports (local processes and SSH channels) route become output through this one place.
    pub fn route(
        &mut self,
        is_stderr: bool,
        data: &[u8],
        out: &mut ExecOutput,
        refused: &mut Option<String>,
    ) -> Option<BecomeCtl> {
        let (own, event) = self.feed(is_stderr, data);
        if is_stderr {
            out.stderr.extend_from_slice(&own);
        } else {
            out.stdout.extend_from_slice(&own);
        }
        match event? {
            BecomeEvent::SendPassword => Some(BecomeCtl::Password),
            BecomeEvent::Ready => {
                let mut pending = self.take_pending_stdout();
                pending.extend_from_slice(&out.stdout);
                out.stdout = pending;
                Some(BecomeCtl::Start)
            }
            BecomeEvent::Refused(m) => {
                refused.get_or_insert(m);
                Some(BecomeCtl::Abort)
            }
        }
    }

    /// Stdout collected before the marker (the command's own, minus a su prompt): the
    /// transport appends it to the command's stdout once [`BecomeEvent::Ready`] was returned.
    pub fn take_pending_stdout(&mut self) -> Vec<u8> {
        let out = std::mem::take(&mut self.pre_stdout);
        if self.method == "su" {
            strip_su_prompt(&out)
        } else {
            out
        }
    }

    /// The command ended without the marker: escalation failed. Returns the reason, built from
    /// what sudo/su printed (prompts removed).
    pub fn failure_message(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.pre_stderr).into_owned();
        if let Some(p) = &self.script.prompt {
            text = text.replace(p.as_str(), "");
        }
        let text = text.trim();
        if self.prompts_seen > 0
            && (text.contains("Authentication failure") || text.contains("incorrect password"))
        {
            return format!("Incorrect {} password", self.method);
        }
        if text.is_empty() {
            format!("{} to the become user failed", self.method)
        } else {
            format!("{} failed: {text}", self.method)
        }
    }

    fn count_prompts(&self) -> usize {
        match &self.script.prompt {
            Some(p) => count(&self.pre_stderr, p.as_bytes()),
            None => {
                let err = String::from_utf8_lossy(&self.pre_stderr);
                let out = String::from_utf8_lossy(&self.pre_stdout);
                let attempts = err.matches("Authentication failure").count();
                if attempts > 0 {
                    return attempts + 1;
                }
                usize::from(looks_like_su_prompt(&err) || looks_like_su_prompt(&out))
            }
        }
    }
}

fn strip_su_prompt(out: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(out);
    match text.find(':') {
        Some(i) if looks_like_su_prompt(&text[..=i]) => {
            text[i + 1..].trim_start_matches(' ').as_bytes().to_vec()
        }
        _ => out.to_vec(),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    let mut n = 0;
    let mut rest = hay;
    while let Some(p) = find(rest, needle) {
        n += 1;
        rest = &rest[p + needle.len()..];
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects what is typed; refuses every write once `open` is false.
    struct Typed {
        text: Vec<u8>,
        open: bool,
    }

    impl PasswordSink for Typed {
        async fn send_line(&mut self, line: &[u8]) -> bool {
            self.text.extend_from_slice(line);
            self.open
        }
    }

    #[tokio::test]
    async fn answer_prompts_types_the_password_at_each_prompt_until_the_verdict() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for c in [BecomeCtl::Password, BecomeCtl::Password, BecomeCtl::Start] {
            tx.send(c).unwrap();
        }
        let mut sink = Typed {
            text: vec![],
            open: true,
        };
        let end = answer_prompts(&mut rx, Some("pw"), &mut sink).await;
        assert_eq!(
            (end, sink.text.as_slice()),
            (Handshake::Start, &b"pw\npw\n"[..])
        );

        tx.send(BecomeCtl::Password).unwrap();
        tx.send(BecomeCtl::Abort).unwrap();
        let end = answer_prompts(&mut rx, None, &mut sink).await;
        assert_eq!(
            (end, sink.text.as_slice()),
            (Handshake::Abort, &b"pw\npw\n\n"[..])
        );

        tx.send(BecomeCtl::Password).unwrap();
        tx.send(BecomeCtl::Start).unwrap();
        sink.open = false;
        let end = answer_prompts(&mut rx, Some("pw"), &mut sink).await;
        assert_eq!(end, Handshake::Closed, "a closed input ends the exchange");

        drop(tx);
        rx.recv().await;
        let end = answer_prompts(&mut rx, Some("pw"), &mut sink).await;
        assert_eq!(
            end,
            Handshake::Closed,
            "so does a reading side that is gone"
        );
    }

    fn sudo(pw: Option<&str>) -> Become {
        Become {
            method: "sudo".into(),
            user: "app".into(),
            password: pw.map(String::from),
            exe: None,
            flags: None,
        }
    }

    #[test]
    fn sudo_without_password_never_prompts() {
        let s = become_script("id -u", &sudo(None), "n1");
        assert!(s.command.starts_with("sudo -H -S -n -p "), "{}", s.command);
        assert!(s.command.contains("-u app /bin/sh -c "));
    }

    #[test]
    fn sudo_with_password_drops_non_interactive_flag() {
        let s = become_script("id -u", &sudo(Some("pw")), "n1");
        assert!(s.command.starts_with("sudo -H -S -p "), "{}", s.command);
        assert!(
            !s.command.contains("pw"),
            "password must never be on the command line"
        );
    }

    #[test]
    fn su_script_names_user_and_command() {
        let b = Become {
            method: "su".into(),
            user: "app".into(),
            password: None,
            exe: None,
            flags: None,
        };
        let s = become_script("id -u", &b, "n1");
        assert!(s.command.starts_with("su app -c "), "{}", s.command);
        assert_eq!(s.prompt, None);
    }

    #[test]
    fn marker_releases_output_after_it() {
        let b = sudo(None);
        let mut w = BecomeWatch::new(become_script("x", &b, "n2"), &b);
        let (out, ev) = w.feed(true, b"KPLAY-BECOME-SUCCESS-n2\nreal error\n");
        assert_eq!(ev, Some(BecomeEvent::Ready));
        assert_eq!(out, b"real error\n");
        assert_eq!(w.feed(false, b"data").0, b"data");
    }

    #[test]
    fn first_prompt_asks_for_password() {
        let b = sudo(Some("pw"));
        let s = become_script("x", &b, "n3");
        let prompt = s.prompt.clone().unwrap_or_default();
        let mut w = BecomeWatch::new(s, &b);
        assert_eq!(
            w.feed(true, prompt.as_bytes()).1,
            Some(BecomeEvent::SendPassword)
        );
    }

    #[test]
    fn second_prompt_means_wrong_password() {
        let b = sudo(Some("pw"));
        let s = become_script("x", &b, "n4");
        let prompt = s.prompt.clone().unwrap_or_default();
        let mut w = BecomeWatch::new(s, &b);
        w.feed(true, prompt.as_bytes());
        let again = format!("\n{prompt}");
        assert_eq!(
            w.feed(true, again.as_bytes()).1,
            Some(BecomeEvent::Refused("Incorrect sudo password".into()))
        );
    }

    #[test]
    fn prompt_without_password_is_missing_password() {
        let b = sudo(None);
        let s = become_script("x", &b, "n5");
        let mut w = BecomeWatch::new(s, &b);
        let ev = w.feed(true, b"sudo: a password is required\n").1;
        assert_eq!(
            ev,
            Some(BecomeEvent::Refused("Missing sudo password".into()))
        );
    }

    #[test]
    fn su_prompt_is_recognised_in_other_languages() {
        assert!(looks_like_su_prompt("Password: "));
        assert!(looks_like_su_prompt("Passwort: "));
        assert!(!looks_like_su_prompt("hello"));
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(nonce(), nonce());
    }
}

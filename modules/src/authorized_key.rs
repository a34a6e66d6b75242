//! `authorized_key` (ansible.posix.authorized_key): add or remove SSH public keys in a user's
//! `authorized_keys`, with Ansible's matching rules (a key is known by its base64 material; a
//! known key whose type, options or comment differ is rewritten at the end of the file), its
//! `exclusive` mode, and `manage_dir` (the directory 0700 and the file 0600, owned by the user).
//! One round trip reads the user, the directory and the file; one more writes it atomically.

use crate::common::args::{p, Param, Spec};
use crate::common::remote_dirname;
use crate::common::write::{write_file, WriteRequest};
use crate::sysprobe::{read_all, text_diff, Read};
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};

const PARAMS: &[Param] = &[
    p("user", &[])
        .required()
        .doc("The user whose authorized_keys file is edited."),
    p("key", &[])
        .required()
        .doc("The SSH public key(s), a string, or a URL to fetch them from."),
    p("path", &[]).doc("Alternate authorized_keys file."),
    p("manage_dir", &[])
        .flag(true)
        .doc("Create the user's ~/.ssh with the right owner and mode."),
    p("state", &[])
        .choices(&["present", "absent"])
        .default_str("present")
        .doc("Whether the key should be in the file."),
    p("key_options", &[]).doc("Options prepended to the key line (`from=\"10.0.0.0/8\"`)."),
    p("exclusive", &[])
        .flag(false)
        .doc("Remove every other key from the file."),
    p("validate_certs", &[])
        .flag(true)
        .doc("Verify TLS certificates when `key` is a URL."),
    p("comment", &[]).doc("Replace the key's comment."),
    p("follow", &[])
        .flag(false)
        .doc("Follow a symbolic link at `path`."),
];

/// `authorized_key`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "authorized_key",
    "Adds or removes an SSH authorized key",
    &[PARAMS],
);

/// Key types sshd accepts in authorized_keys (Ansible's `VALID_SSH2_KEY_TYPES`).
const KEY_TYPES: &[&str] = &[
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "sk-ssh-ed25519@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "ssh-dss",
    "ssh-dss-cert-v01@openssh.com",
    "ssh-ed25519",
    "ssh-ed25519-cert-v01@openssh.com",
    "ssh-rsa",
    "ssh-rsa-cert-v01@openssh.com",
    "ssh-xmss@openssh.com",
    "ssh-xmss-cert-v01@openssh.com",
];

/// `ansible.posix.authorized_key`.
pub struct AuthorizedKeyModule;

/// One parsed key line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// Options, split at commas outside double quotes, each kept as written.
    pub options: Vec<String>,
    pub kind: String,
    pub material: String,
    pub comment: Option<String>,
}

impl Key {
    /// The authorized_keys line (without newline).
    pub fn line(&self) -> String {
        let mut parts = Vec::new();
        if !self.options.is_empty() {
            parts.push(self.options.join(","));
        }
        parts.push(self.kind.clone());
        parts.push(self.material.clone());
        if let Some(c) = self.comment.as_ref().filter(|c| !c.is_empty()) {
            parts.push(c.clone());
        }
        parts.join(" ")
    }
}

/// Split an options string at commas that are not inside double quotes.
pub fn parse_options(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in s.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                if !cur.trim().is_empty() {
                    out.push(cur.trim().to_string());
                }
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// Split a line into blank-separated tokens, keeping double-quoted parts (options) together.
fn tokens(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        if c == '"' {
            quoted = !quoted;
        }
        if c.is_whitespace() && !quoted {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Parse one key line, `None` for comments, blank lines and anything that is not a key.
pub fn parse_key(line: &str) -> Option<Key> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let t = tokens(line);
    let at = t.iter().position(|w| KEY_TYPES.contains(&w.as_str()))?;
    if at > 1 {
        return None;
    }
    let material = t.get(at + 1)?.clone();
    let comment = (t.len() > at + 2).then(|| t[at + 2..].join(" "));
    Some(Key {
        options: if at == 1 {
            parse_options(&t[0])
        } else {
            Vec::new()
        },
        kind: t[at].clone(),
        material,
        comment,
    })
}

/// One line of the file: a key, or anything else kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Key(Key),
    Other(String),
}

/// The keys the task names, after `key_options` and `comment` are applied.
pub fn requested_keys(
    key: &str,
    key_options: Option<&str>,
    comment: Option<&str>,
) -> Result<Vec<Key>, ModuleError> {
    let mut keys = Vec::new();
    for line in key.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let mut k =
            parse_key(t).ok_or_else(|| ModuleError::new(format!("invalid key specified: {t}")))?;
        if let Some(o) = key_options {
            k.options = parse_options(o);
        }
        if let Some(c) = comment {
            k.comment = Some(c.to_string());
        }
        keys.push(k);
    }
    Ok(keys)
}

/// Ansible's update: returns the new file content, or `None` when nothing changes.
pub fn update(content: &str, wanted: &[Key], present: bool, exclusive: bool) -> Option<String> {
    let mut entries: Vec<Entry> = content
        .lines()
        .map(|l| match parse_key(l) {
            Some(k) => Entry::Key(k),
            None => Entry::Other(l.to_string()),
        })
        .collect();
    let mut changed = false;
    for w in wanted {
        let pos = entries
            .iter()
            .position(|e| matches!(e, Entry::Key(k) if k.material == w.material));
        match (pos, present) {
            (Some(i), true) => {
                if entries[i] != Entry::Key(w.clone()) {
                    entries.remove(i);
                    entries.push(Entry::Key(w.clone()));
                    changed = true;
                }
            }
            (None, true) => {
                entries.push(Entry::Key(w.clone()));
                changed = true;
            }
            (Some(i), false) => {
                entries.remove(i);
                changed = true;
            }
            (None, false) => {}
        }
    }
    if present && exclusive {
        let before = entries.len();
        entries.retain(
            |e| matches!(e, Entry::Key(k) if wanted.iter().any(|w| w.material == k.material)),
        );
        changed |= entries.len() != before;
    }
    changed.then(|| {
        entries
            .iter()
            .map(|e| match e {
                Entry::Key(k) => format!("{}\n", k.line()),
                Entry::Other(l) => format!("{l}\n"),
            })
            .collect()
    })
}

/// What one read told about the user and the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub uid: u32,
    pub gid: u32,
    pub keyfile: String,
    /// `uid gid mode` of the directory, empty when it is missing.
    pub dir_stat: String,
    /// `uid gid mode` of the file, `None` when it is missing.
    pub file_stat: Option<String>,
    pub content: String,
}

/// The read's sh: `passwd` line; then keyfile path, directory stat, file stat and content.
pub fn read_scripts(user: &str, path: Option<&str>, follow: bool) -> Vec<Read> {
    let u = sh_quote(user);
    let file = match path {
        Some(p) => sh_quote(p),
        None => format!("\"$(getent passwd {u} | cut -d: -f6)/.ssh/authorized_keys\""),
    };
    let follow = if follow {
        "[ -L \"$f\" ] && f=$(readlink -f -- \"$f\")\n"
    } else {
        ""
    };
    vec![
        Read::new("passwd", format!("getent passwd {u}")),
        Read::new(
            "file",
            format!(
                "f={file}\n{follow}printf '%s\\n' \"$f\"; printf '%s\\n' \"$(stat -c '%u %g %a' -- \"$(dirname -- \"$f\")\" 2>/dev/null)\"\n[ -e \"$f\" ] || exit 3\nprintf '%s\\n' \"$(stat -L -c '%u %g %a' -- \"$f\")\"; cat -- \"$f\""
            ),
        ),
    ]
}

/// Parse the replies of [`read_scripts`].
pub fn parse_seen(
    user: &str,
    passwd: &crate::sysprobe::Output,
    file: &crate::sysprobe::Output,
) -> Result<Seen, ModuleError> {
    if !passwd.ok() {
        return Err(ModuleError::new(format!(
            "Failed to lookup user {user}: user not found"
        )));
    }
    let f: Vec<&str> = passwd.out.trim_end().split(':').collect();
    let num = |i: usize| f.get(i).and_then(|s| s.parse::<u32>().ok());
    let (Some(uid), Some(gid)) = (num(2), num(3)) else {
        return Err(ModuleError::new(format!(
            "Failed to lookup user {user}: {}",
            passwd.out.trim()
        )));
    };
    let mut parts = file.out.splitn(4, '\n');
    let keyfile = parts.next().unwrap_or_default().to_string();
    let dir_stat = parts.next().unwrap_or_default().to_string();
    let (file_stat, content) = match file.rc {
        0 => (
            parts.next().map(str::to_string),
            parts.next().unwrap_or_default().to_string(),
        ),
        3 => (None, String::new()),
        _ => {
            return Err(ModuleError::new(format!(
                "Failed to read {keyfile}: {}",
                file.out.trim()
            )))
        }
    };
    Ok(Seen {
        uid,
        gid,
        keyfile,
        dir_stat,
        file_stat,
        content,
    })
}

/// GET `url` as the host sees it; anything but a 200 is Ansible's "Error getting key from".
async fn fetch_keys(
    ctx: &ModuleContext<'_>,
    url: &str,
    validate_certs: bool,
) -> Result<String, ModuleError> {
    use crate::target_http::{request, HttpRequest, Redirects, Sink, Via};
    let req = HttpRequest {
        url: url.to_string(),
        method: "GET".into(),
        headers: Vec::new(),
        body: None,
        timeout: std::time::Duration::from_secs(10),
        validate_certs,
        auth: None,
        redirects: Redirects::Safe,
    };
    let fail = || ModuleError::new(format!("Error getting key from: {url}"));
    let resp = request(ctx, &req, &Sink::Return, Via::Auto)
        .await
        .map_err(|_| fail())?;
    if resp.status != 200 {
        return Err(fail());
    }
    String::from_utf8(resp.body).map_err(|_| fail())
}

#[async_trait]
impl Module for AuthorizedKeyModule {
    fn name(&self) -> &'static str {
        "authorized_key"
    }

    fn collections(&self) -> &'static [&'static str] {
        &["ansible.posix", "community.general"]
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        let user = a.str("user")?.unwrap_or_default();
        let key = a.str("key")?.unwrap_or_default();
        let path = a.str("path")?;
        let manage_dir = a.flag("manage_dir");
        let state = a
            .choice("state", &["present", "absent"])?
            .unwrap_or_else(|| "present".into());
        let key_options = a.str("key_options")?;
        let exclusive = a.flag("exclusive");
        let validate_certs = a.flag("validate_certs");
        let comment = a.str("comment")?;
        let follow = a.flag("follow");
        // A URL (https://github.com/NAME.keys) is fetched from the host's point of view.
        let key_text = if key.starts_with("http") {
            fetch_keys(ctx, &key, validate_certs).await?
        } else {
            key.clone()
        };
        let wanted = requested_keys(&key_text, key_options.as_deref(), comment.as_deref())?;
        let replies = read_all(ctx, &read_scripts(&user, path.as_deref(), follow)).await?;
        let seen = parse_seen(&user, &replies.get("passwd"), &replies.get("file"))?;
        let new_content = update(&seen.content, &wanted, state == "present", exclusive);
        let mut result = ModuleResult::new(new_content.is_some());
        for (k, v) in [
            ("key", Value::String(key.clone())),
            (
                "key_options",
                key_options.map(Value::String).unwrap_or(Value::Null),
            ),
            ("keyfile", Value::String(seen.keyfile.clone())),
            ("user", Value::String(user.clone())),
            ("state", Value::String(state.clone())),
            ("exclusive", Value::Bool(exclusive)),
            ("manage_dir", Value::Bool(manage_dir)),
            (
                "path",
                path.clone().map(Value::String).unwrap_or(Value::Null),
            ),
            (
                "comment",
                comment.clone().map(Value::String).unwrap_or(Value::Null),
            ),
            ("follow", Value::Bool(follow)),
            ("validate_certs", Value::Bool(validate_certs)),
        ] {
            result.insert(k, v);
        }
        if ctx.diff {
            let after = new_content.clone().unwrap_or_else(|| seen.content.clone());
            result.insert(
                "diff",
                text_diff(&seen.keyfile, &seen.keyfile, &seen.content, &after),
            );
        }
        if ctx.check_mode {
            return Ok(result);
        }
        let owner = format!("{}:{}", seen.uid, seen.gid);
        let dir = remote_dirname(&seen.keyfile);
        let want_dir = format!("{} {} 700", seen.uid, seen.gid);
        if manage_dir
            && seen.dir_stat != want_dir
            && (new_content.is_some() || !seen.dir_stat.is_empty())
        {
            // Ansible sets the directory's owner and mode whenever it manages it, silently.
            let d = sh_quote(&dir);
            let out = crate::common::run_sh(
                ctx,
                format!("mkdir -p {d} && chown {owner} {d} && chmod 700 {d}"),
                None,
            )
            .await?;
            if out.rc != 0 {
                return Err(ModuleError::new(format!(
                    "Failed to prepare {dir}: {}",
                    out.stderr_str().trim()
                )));
            }
        }
        let uid = seen.uid.to_string();
        let gid = seen.gid.to_string();
        // Like Ansible: a new file is created 0600 and owned by the user; an existing one keeps
        // its mode and owner across the atomic replace.
        let new_file = seen.file_stat.is_none();
        let (own, grp, mode) = if new_file {
            (Some(uid.as_str()), Some(gid.as_str()), Some(0o600))
        } else {
            (None, None, None)
        };
        if let Some(c) = new_content {
            let req = WriteRequest {
                dest: &seen.keyfile,
                data: c.as_bytes(),
                mode,
                owner: own,
                group: grp,
                create_parent: Some(None),
                ..Default::default()
            };
            write_file(ctx, &req).await?;
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    const K1: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOne one@example";
    const K2: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQTwo two@example";

    #[test]
    fn key_with_quoted_options_parses() {
        let k = parse_key(r#"no-pty,from="10.0.0.1,10.0.0.2" ssh-ed25519 AAAA x y"#).unwrap();
        assert_eq!(
            k.options,
            vec![
                "no-pty".to_string(),
                r#"from="10.0.0.1,10.0.0.2""#.to_string()
            ]
        );
        assert_eq!(
            (k.kind.as_str(), k.material.as_str(), k.comment.as_deref()),
            ("ssh-ed25519", "AAAA", Some("x y"))
        );
        assert_eq!(
            k.line(),
            r#"no-pty,from="10.0.0.1,10.0.0.2" ssh-ed25519 AAAA x y"#
        );
    }

    #[test]
    fn comments_and_garbage_are_not_keys() {
        assert_eq!(parse_key("# ssh-rsa AAAA"), None);
        assert_eq!(parse_key("hello world"), None);
    }

    #[test]
    fn invalid_requested_key_fails_with_ansible_message() {
        assert_eq!(
            requested_keys("nope", None, None).unwrap_err().msg,
            "invalid key specified: nope"
        );
    }

    #[test]
    fn present_appends_and_is_idempotent() {
        let w = requested_keys(K1, None, None).unwrap();
        let c = update("# hi\n", &w, true, false).unwrap();
        assert_eq!(c, format!("# hi\n{K1}\n"));
        assert_eq!(update(&c, &w, true, false), None);
    }

    #[test]
    fn changed_options_rewrite_the_key_at_the_end() {
        let w = requested_keys(K1, Some("no-pty"), None).unwrap();
        let c = update(&format!("{K1}\n{K2}\n"), &w, true, false).unwrap();
        assert_eq!(c, format!("{K2}\nno-pty {K1}\n"));
    }

    #[test]
    fn exclusive_drops_other_keys_and_comments() {
        let w = requested_keys(K2, None, None).unwrap();
        assert_eq!(
            update(&format!("# x\n{K1}\n{K2}\n"), &w, true, true).unwrap(),
            format!("{K2}\n")
        );
    }

    #[test]
    fn absent_removes_by_material_only() {
        let w = requested_keys(K1, None, Some("other comment")).unwrap();
        assert_eq!(
            update(&format!("{K1}\n{K2}\n"), &w, false, false).unwrap(),
            format!("{K2}\n")
        );
        assert_eq!(update(&format!("{K2}\n"), &w, false, false), None);
    }

    #[test]
    fn read_script_defaults_to_the_home_directory() {
        let r = read_scripts("bob", None, false);
        assert!(r[1]
            .script
            .contains("getent passwd bob | cut -d: -f6)/.ssh/authorized_keys"));
    }

    crate::testutil::both_paths! {
    async fn temp_path_is_written_0600_idempotently_and_check_mode_touches_nothing() {
        let d = tempfile::tempdir().unwrap();
        let sub = d.path().join("ssh");
        let f = sub.join("authorized_keys");
        let env = TestEnv::new(d.path());
        let id = std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap();
        let me = String::from_utf8_lossy(&id.stdout).trim().to_string();
        let spec = json!({"user": me, "key": format!("{K1}\n{K2}"), "path": f.to_string_lossy()});
        let r = AuthorizedKeyModule
            .run(&ctx(&env, true, true), args(spec.clone()))
            .await
            .unwrap().into_map();
        assert_eq!(r["changed"], json!(true));
        assert!(!sub.exists());
        let r = AuthorizedKeyModule
            .run(&ctx(&env, false, false), args(spec.clone()))
            .await
            .unwrap().into_map();
        assert_eq!(r["changed"], json!(true));
        assert_eq!(r["keyfile"], json!(f.to_string_lossy()));
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            format!("{K1}\n{K2}\n")
        );
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(&sub).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let r = AuthorizedKeyModule
            .run(&ctx(&env, false, false), args(spec))
            .await
            .unwrap().into_map();
        assert_eq!(r["changed"], json!(false));
        let absent = json!({"user": me, "key": K1, "path": f.to_string_lossy(), "state": "absent"});
        assert_eq!(
            AuthorizedKeyModule
                .run(&ctx(&env, false, false), args(absent))
                .await
                .unwrap().into_map()["changed"],
            json!(true)
        );
        assert_eq!(std::fs::read_to_string(&f).unwrap(), format!("{K2}\n"));
    }
    }

    crate::testutil::both_paths! {
    async fn keys_from_a_url_are_installed() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            if let Ok((mut sock, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let body = format!("{K1}\n{K2}\n");
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(reply.as_bytes()).await;
            }
        });
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("ak");
        let env = TestEnv::new(d.path());
        let spec = json!({"user": "root", "key": format!("http://127.0.0.1:{port}/u.keys"), "path": f.to_string_lossy(), "manage_dir": false});
        let r = AuthorizedKeyModule
            .run(&ctx(&env, false, false), args(spec))
            .await
            .unwrap().into_map();
        assert_eq!(r["changed"], json!(true));
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            format!("{K1}\n{K2}\n")
        );
    }
    }

    crate::testutil::both_paths! {
    async fn unreachable_key_url_fails_with_ansible_message() {
        let d = tempfile::tempdir().unwrap();
        let env = TestEnv::new(d.path());
        let url = "http://127.0.0.1:9/kplay.keys";
        let e = AuthorizedKeyModule
            .run(&ctx(&env, false, false), args(json!({"user": "root", "key": url, "path": d.path().join("ak").to_string_lossy()})))
            .await
            .unwrap_err();
        assert_eq!(e.msg, format!("Error getting key from: {url}"));
    }
    }

    crate::testutil::both_paths! {
    async fn unknown_user_fails() {
        let d = tempfile::tempdir().unwrap();
        let env = TestEnv::new(d.path());
        let e = AuthorizedKeyModule
            .run(
                &ctx(&env, false, false),
                args(json!({"user": "kplay-no-such-user-xyz", "key": K1})),
            )
            .await
            .unwrap_err();
        assert_eq!(
            e.msg,
            "Failed to lookup user kplay-no-such-user-xyz: user not found"
        );
    }
    }
}

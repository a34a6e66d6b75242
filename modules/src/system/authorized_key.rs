//! `authorized_key` (ansible.posix.authorized_key): add or remove SSH public keys in a user's
//! `authorized_keys`, with Ansible's matching rules (a key is known by its base64 material; a
//! known key whose type, options or comment differ is rewritten at the end of the file), its
//! `exclusive` mode, and `manage_dir` (the directory 0700 and the file 0600, owned by the user).
//! `query` fetches a `key` URL and reads the user, the directory and the file in one round
//! trip; `plan` computes the new file and its diff; `apply` fixes the directory and writes the
//! file atomically.

use crate::common::args::{p, Param, Spec};
use crate::common::diff::text_diff;
use crate::common::reads::{Read, ensure_status, read_all};
use crate::common::remote_dirname;
use crate::common::write::{write_file, WriteRequest};
use crate::planned::{Plan, Presence, QueryPlanApply};
use async_trait::async_trait;
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
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
    passwd: &crate::common::reads::Output,
    file: &crate::common::reads::Output,
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

/// Checked arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizedKeyArgs {
    pub user: String,
    /// The key text, or the URL it is fetched from.
    pub key: String,
    pub path: Option<String>,
    pub manage_dir: bool,
    pub state: Presence,
    pub key_options: Option<String>,
    pub exclusive: bool,
    pub validate_certs: bool,
    pub comment: Option<String>,
    pub follow: bool,
}

impl AuthorizedKeyArgs {
    pub fn parse(args: Map) -> Result<AuthorizedKeyArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        Ok(AuthorizedKeyArgs {
            user: a.str("user")?.unwrap_or_default(),
            key: a.str("key")?.unwrap_or_default(),
            path: a.str("path")?,
            manage_dir: a.flag("manage_dir"),
            state: Presence::from_arg(&a, "state")?,
            key_options: a.str("key_options")?,
            exclusive: a.flag("exclusive"),
            validate_certs: a.flag("validate_certs"),
            comment: a.str("comment")?,
            follow: a.flag("follow"),
        })
    }
}

/// What `query` found: the keys asked for (fetched when `key` is a URL) and the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub wanted: Vec<Key>,
    pub file: Seen,
}

/// What `apply` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    pub keyfile: String,
    pub uid: u32,
    pub gid: u32,
    /// Create the directory, or set its owner and mode 0700 (`manage_dir`).
    pub fix_dir: bool,
    /// The file's new content.
    pub write: Option<String>,
    /// The file does not exist yet: it is created 0600, owned by the user.
    pub new_file: bool,
}

#[async_trait]
impl QueryPlanApply for AuthorizedKeyModule {
    type Args = AuthorizedKeyArgs;
    type Seen = Observed;
    type Changes = Changes;

    fn name(&self) -> &'static str {
        "authorized_key"
    }

    fn collections(&self) -> &'static [&'static str] {
        &["ansible.posix", "community.general"]
    }

    fn parse(&self, args: Map) -> Result<AuthorizedKeyArgs, ModuleError> {
        AuthorizedKeyArgs::parse(args)
    }

    async fn query(
        &self,
        ctx: &ModuleContext<'_>,
        a: &AuthorizedKeyArgs,
    ) -> Result<Observed, ModuleError> {
        // A URL (https://github.com/NAME.keys) is fetched from the host's point of view.
        let key_text = if a.key.starts_with("http") {
            fetch_keys(ctx, &a.key, a.validate_certs).await?
        } else {
            a.key.clone()
        };
        let wanted = requested_keys(&key_text, a.key_options.as_deref(), a.comment.as_deref())?;
        let replies = read_all(ctx, &read_scripts(&a.user, a.path.as_deref(), a.follow)).await?;
        let file = parse_seen(&a.user, &replies.get("passwd"), &replies.get("file"))?;
        Ok(Observed { wanted, file })
    }

    fn plan(a: &AuthorizedKeyArgs, o: &Observed) -> Result<Plan<Changes>, ModuleError> {
        let seen = &o.file;
        let present = a.state == Presence::Present;
        let new_content = update(&seen.content, &o.wanted, present, a.exclusive);
        let mut result = ModuleResult::new(new_content.is_some());
        let opt = |v: &Option<String>| v.clone().map(Value::String).unwrap_or(Value::Null);
        for (k, v) in [
            ("key", Value::String(a.key.clone())),
            ("key_options", opt(&a.key_options)),
            ("keyfile", Value::String(seen.keyfile.clone())),
            ("user", Value::String(a.user.clone())),
            ("state", Value::String(a.state.as_str().into())),
            ("exclusive", Value::Bool(a.exclusive)),
            ("manage_dir", Value::Bool(a.manage_dir)),
            ("path", opt(&a.path)),
            ("comment", opt(&a.comment)),
            ("follow", Value::Bool(a.follow)),
            ("validate_certs", Value::Bool(a.validate_certs)),
        ] {
            result.insert(k, v);
        }
        let after = new_content.as_deref().unwrap_or(&seen.content);
        result.insert(
            "diff",
            text_diff(&seen.keyfile, &seen.keyfile, &seen.content, after),
        );
        // Ansible sets the directory's owner and mode whenever it manages it, silently: that
        // alone is a change to apply that does not make the task changed.
        let want_dir = format!("{} {} 700", seen.uid, seen.gid);
        let fix_dir = a.manage_dir
            && seen.dir_stat != want_dir
            && (new_content.is_some() || !seen.dir_stat.is_empty());
        let changes = (fix_dir || new_content.is_some()).then(|| Changes {
            keyfile: seen.keyfile.clone(),
            uid: seen.uid,
            gid: seen.gid,
            fix_dir,
            write: new_content,
            new_file: seen.file_stat.is_none(),
        });
        Ok(Plan { changes, result })
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        _a: &AuthorizedKeyArgs,
        c: Changes,
        result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        let owner = format!("{}:{}", c.uid, c.gid);
        if c.fix_dir {
            let dir = remote_dirname(&c.keyfile);
            let d = sh_quote(&dir);
            let out = crate::common::run_sh(
                ctx,
                format!("mkdir -p {d} && chown {owner} {d} && chmod 700 {d}"),
                None,
            )
            .await?;
            ensure_status(&out, |e| format!("Failed to prepare {dir}: {e}"))?;
        }
        let uid = c.uid.to_string();
        let gid = c.gid.to_string();
        // Like Ansible: a new file is created 0600 and owned by the user; an existing one keeps
        // its mode and owner across the atomic replace.
        let (own, grp, mode) = if c.new_file {
            (Some(uid.as_str()), Some(gid.as_str()), Some(0o600))
        } else {
            (None, None, None)
        };
        if let Some(content) = c.write {
            let req = WriteRequest {
                dest: &c.keyfile,
                data: content.as_bytes(),
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
    use crate::planned::Planned;
    use crate::testutil::{args, ctx, TestEnv};
    use kplay_engine::module::Module;
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

    fn observed(content: &str, dir_stat: &str) -> Observed {
        Observed {
            wanted: requested_keys(K1, None, None).unwrap(),
            file: Seen {
                uid: 1000,
                gid: 1001,
                keyfile: "/home/u/.ssh/authorized_keys".into(),
                dir_stat: dir_stat.into(),
                file_stat: (!content.is_empty()).then(|| "1000 1001 600".into()),
                content: content.into(),
            },
        }
    }

    fn aka(v: serde_json::Value) -> AuthorizedKeyArgs {
        AuthorizedKeyArgs::parse(args(v)).unwrap()
    }

    #[test]
    fn plan_creates_a_new_file_and_its_directory_with_a_diff() {
        let p = AuthorizedKeyModule::plan(&aka(json!({"user": "u", "key": K1})), &observed("", ""))
            .unwrap();
        let c = p.changes.unwrap();
        assert!(c.fix_dir && c.new_file && (c.uid, c.gid) == (1000, 1001));
        assert_eq!(c.write, Some(format!("{K1}\n")));
        let r = p.result.into_map();
        assert_eq!(r["changed"], json!(true));
        assert_eq!(r["diff"]["after"], json!(format!("{K1}\n")));
        assert_eq!(r["keyfile"], json!("/home/u/.ssh/authorized_keys"));
    }

    #[test]
    fn plan_fixes_a_wrong_directory_mode_without_reporting_a_change() {
        let k = format!("{K1}\n");
        let a = aka(json!({"user": "u", "key": K1}));
        let p = AuthorizedKeyModule::plan(&a, &observed(&k, "1000 1001 755")).unwrap();
        assert!(!p.result.changed);
        let c = p.changes.unwrap();
        assert!(c.fix_dir && c.write.is_none());
        let fine = AuthorizedKeyModule::plan(&a, &observed(&k, "1000 1001 700")).unwrap();
        assert!(fine.changes.is_none() && !fine.result.changed);
        let unmanaged = aka(json!({"user": "u", "key": K1, "manage_dir": false}));
        let p = AuthorizedKeyModule::plan(&unmanaged, &observed(&k, "1000 1001 755")).unwrap();
        assert!(p.changes.is_none());
    }

    #[test]
    fn plan_removes_an_absent_key() {
        let a = aka(json!({"user": "u", "key": K1, "state": "absent"}));
        let p = AuthorizedKeyModule::plan(&a, &observed(&format!("{K2}\n{K1}\n"), "1000 1001 700"))
            .unwrap();
        assert_eq!(p.changes.unwrap().write, Some(format!("{K2}\n")));
        assert_eq!(p.result.into_map()["state"], json!("absent"));
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
        let r = Planned(AuthorizedKeyModule)
            .run(&ctx(&env, true, true), args(spec.clone()))
            .await
            .unwrap().into_map();
        assert_eq!(r["changed"], json!(true));
        assert!(!sub.exists());
        let r = Planned(AuthorizedKeyModule)
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
        let r = Planned(AuthorizedKeyModule)
            .run(&ctx(&env, false, false), args(spec))
            .await
            .unwrap().into_map();
        assert_eq!(r["changed"], json!(false));
        let absent = json!({"user": me, "key": K1, "path": f.to_string_lossy(), "state": "absent"});
        assert_eq!(
            Planned(AuthorizedKeyModule)
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
        let r = Planned(AuthorizedKeyModule)
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
        let e = Planned(AuthorizedKeyModule)
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
        let e = Planned(AuthorizedKeyModule)
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

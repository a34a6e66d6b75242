//! `user` (ansible.builtin.user) for Linux: create, modify or remove a local account with
//! `useradd`/`usermod`/`userdel`, comparing as Ansible does (groups by name without the primary
//! group, `append`, password hashes compared literally and never logged, `expires` by date).
//! `query`: one round trip reads the account, its shadow entry, its groups and every group the
//! task names; `plan` builds the single command that is needed; `apply` runs it (and reads the
//! account back).

use crate::common::args::{p, Param, Spec};
use crate::common::reads::{failure, read_all, Read, Replies};
use crate::common::run_sh;
use crate::planned::{Plan, Presence, QueryPlanApply};
use async_trait::async_trait;
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};

const PARAMS: &[Param] = &[
    p("name", &["user"]).required().doc("Name of the user."),
    p("state", &[])
        .choices(&["present", "absent"])
        .default_str("present")
        .doc("Whether the account should exist."),
    p("uid", &[]).int().doc("The user's UID."),
    p("non_unique", &[])
        .flag(false)
        .doc("Allow a UID another user has."),
    p("seuser", &[]).doc("SELinux user (accepted, not enforced)."),
    p("group", &[]).doc("Primary group."),
    p("groups", &[]).list().doc(
        "Supplementary groups (a list or comma-separated; empty removes all but the primary).",
    ),
    p("append", &[])
        .flag(false)
        .doc("Add `groups` to the current ones instead of replacing them."),
    p("shell", &[]).doc("Login shell."),
    p("home", &[]).doc("Home directory."),
    p("skeleton", &[]).doc("Skeleton directory for a new home."),
    p("password", &[]).doc("Encrypted password (crypt(3) hash)."),
    p("update_password", &[])
        .choices(&["always", "on_create"])
        .doc("`always` sets `password`; `on_create` only for new users."),
    p("comment", &[]).doc("GECOS field."),
    p("create_home", &["createhome"])
        .flag(true)
        .doc("Create the home directory for a new user."),
    p("move_home", &[])
        .flag(false)
        .doc("Move the home directory when `home` changes."),
    p("system", &[])
        .flag(false)
        .doc("Create a system account (UID from the system range)."),
    p("force", &[])
        .flag(false)
        .doc("With state=absent, remove even when logged in."),
    p("remove", &[])
        .flag(false)
        .doc("With state=absent, also remove the home directory and mail spool."),
    p("login_class", &[]).doc("Login class (BSD; accepted)."),
    p("hidden", &[]).doc("macOS only (accepted)."),
    p("generate_ssh_key", &[])
        .flag(false)
        .doc("Generate an SSH key pair for the user when missing."),
    p("ssh_key_bits", &[])
        .int()
        .doc("Bits of the generated key."),
    p("ssh_key_type", &[]).doc("Type of the generated key (default rsa)."),
    p("ssh_key_file", &[]).doc("Path of the generated key (default .ssh/id_TYPE)."),
    p("ssh_key_comment", &[]).doc("Comment of the generated key."),
    p("ssh_key_passphrase", &[]).doc("Passphrase of the generated key."),
    p("expires", &[]).doc("Account expiry, seconds since the epoch (-1 removes it)."),
    p("password_lock", &[])
        .flag(false)
        .doc("Lock (true) or unlock (false) the password."),
    p("local", &[]).doc("Use the local tools (`luseradd`); /etc/passwd only."),
    p("profile", &[]).doc("Solaris only (accepted)."),
    p("authorization", &[]).doc("Solaris only (accepted)."),
    p("role", &[]).doc("Solaris only (accepted)."),
    p("umask", &[]).doc("Umask for the new home directory."),
    p("password_expire_max", &[]).doc("Maximum days between password changes."),
    p("password_expire_min", &[]).doc("Minimum days between password changes."),
    p("password_expire_warn", &[]).doc("Days of warning before the password expires."),
    p("uid_min", &[]).int().doc("Lowest UID for a new user."),
    p("uid_max", &[]).int().doc("Highest UID for a new user."),
];

/// `user`'s declared arguments.
pub static SPEC: Spec = Spec::new("user", "Manage user accounts", &[PARAMS]);

/// What Ansible puts in place of the password in results.
pub const HIDDEN_PASSWORD: &str = "NOT_LOGGING_PASSWORD";

/// `ansible.builtin.user`.
pub struct UserModule;

/// Checked arguments (the Linux subset kplay acts on).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserArgs {
    pub name: String,
    pub state: Presence,
    pub uid: Option<u32>,
    pub non_unique: bool,
    pub group: Option<String>,
    /// `Some(vec![])` for `groups: ""` (drop every supplementary group).
    pub groups: Option<Vec<String>>,
    pub append: bool,
    pub shell: Option<String>,
    pub home: Option<String>,
    pub skeleton: Option<String>,
    pub password: Option<String>,
    pub update_always: bool,
    pub comment: Option<String>,
    pub create_home: bool,
    pub move_home: bool,
    pub system: bool,
    pub force: bool,
    pub remove: bool,
    /// Seconds since the epoch; negative removes the expiry.
    pub expires: Option<f64>,
    pub password_lock: Option<bool>,
    pub umask: Option<String>,
    pub uid_min: Option<u32>,
    pub uid_max: Option<u32>,
    /// `generate_ssh_key` and its settings.
    pub ssh_key: Option<SshKeySpec>,
}

/// The key `generate_ssh_key` makes (never overwriting an existing one).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SshKeySpec {
    pub bits: Option<u32>,
    pub kind: String,
    /// Relative paths are under the user's home directory.
    pub file: String,
    /// Default: `ansible-generated on HOSTNAME`.
    pub comment: Option<String>,
    pub passphrase: Option<String>,
}

impl SshKeySpec {
    /// sh setting `$f` to the private key's path (after the account exists).
    fn path_prelude(&self, user: &str) -> String {
        let f = if self.file.starts_with('/') {
            sh_quote(&self.file)
        } else {
            format!("\"$h\"/{}", sh_quote(&self.file))
        };
        format!(
            "h=$(getent passwd {} | cut -d: -f6); f={f}\n",
            sh_quote(user)
        )
    }

    /// The reads reporting the key: whether it exists, its path, fingerprint and public key.
    pub fn reads(&self, user: &str) -> Vec<Read> {
        let pre = self.path_prelude(user);
        vec![
            Read::new("ssh_exists", format!("{pre}[ -e \"$f\" ]")),
            Read::new("ssh_path", format!("{pre}printf '%s' \"$f\"")),
            Read::new("ssh_fp", format!("{pre}ssh-keygen -l -f \"$f.pub\"")),
            Read::new("ssh_pub", format!("{pre}cat -- \"$f.pub\"")),
        ]
    }

    /// sh making the key (directory 0700 and both files owned by the user).
    pub fn keygen_script(&self, user: &str) -> String {
        let u = sh_quote(user);
        let bits = self.bits.map(|b| format!(" -b {b}")).unwrap_or_default();
        let comment = match &self.comment {
            Some(c) => sh_quote(c),
            None => "\"ansible-generated on $(hostname)\"".to_string(),
        };
        format!(
            "{pre}o=\"$(id -u {u}):$(id -g {u})\"\nif [ ! -e \"$f\" ]; then d=$(dirname -- \"$f\"); if [ ! -d \"$d\" ]; then mkdir -p -- \"$d\" && chmod 700 \"$d\" && chown \"$o\" \"$d\" || exit 1; fi; ssh-keygen -q -t {} {bits} -C {comment} -N {} -f \"$f\" </dev/null && chown \"$o\" \"$f\" \"$f.pub\"; fi",
            sh_quote(&self.kind),
            sh_quote(self.passphrase.as_deref().unwrap_or("")),
            pre = self.path_prelude(user),
        )
    }
}

impl UserArgs {
    pub fn parse(args: Map) -> Result<UserArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let ssh_key = if a.flag("generate_ssh_key") {
            let kind = a.str("ssh_key_type")?.unwrap_or_else(|| "rsa".into());
            Some(SshKeySpec {
                bits: a.u32("ssh_key_bits")?.filter(|b| *b > 0),
                file: a
                    .str("ssh_key_file")?
                    .unwrap_or_else(|| format!(".ssh/id_{kind}")),
                kind,
                comment: a.str("ssh_key_comment")?,
                passphrase: a.str("ssh_key_passphrase")?,
            })
        } else {
            None
        };
        let groups = a.has("groups").then(|| a.list("groups"));
        let expires = match a.raw("expires") {
            None => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(v) => {
                let s = kplay_engine::value::to_display_string(v);
                Some(s.trim().parse::<f64>().map_err(|_| {
                    ModuleError::new(format!("argument 'expires' is of type <class 'str'> and we were unable to convert to float: could not convert string to float: '{s}'"))
                })?)
            }
        };
        Ok(UserArgs {
            name: a.str("name")?.unwrap_or_default(),
            state: Presence::from_arg(&a, "state")?,
            uid: a.u32("uid")?,
            non_unique: a.flag("non_unique"),
            group: a.str("group")?,
            groups,
            append: a.flag("append"),
            shell: a.str("shell")?,
            home: a.str("home")?,
            skeleton: a.str("skeleton")?,
            password: a.str("password")?,
            update_always: a
                .choice("update_password", &["always", "on_create"])?
                .as_deref()
                != Some("on_create"),
            comment: a.str("comment")?,
            create_home: a.flag("create_home"),
            move_home: a.flag("move_home"),
            system: a.flag("system"),
            force: a.flag("force"),
            remove: a.flag("remove"),
            expires,
            password_lock: if a.has("password_lock") {
                Some(a.flag("password_lock"))
            } else {
                None
            },
            umask: a.str("umask")?,
            uid_min: a.u32("uid_min")?,
            uid_max: a.u32("uid_max")?,
            ssh_key,
        })
    }

    /// Every group the task names (primary first), for the read.
    fn named_groups(&self) -> Vec<String> {
        let mut v: Vec<String> = self.group.iter().cloned().collect();
        v.extend(self.groups.iter().flatten().cloned());
        v.push(self.name.clone());
        v
    }
}

/// The account as `/etc/passwd` and `/etc/shadow` describe it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Account {
    pub uid: u32,
    pub gid: u32,
    pub comment: String,
    pub home: String,
    pub shell: String,
    /// The shadow hash, `None` when shadow could not be read.
    pub hash: Option<String>,
    /// Days since the epoch, -1 for none.
    pub expires_days: i64,
    /// Supplementary group names (the primary group left out).
    pub groups: Vec<String>,
}

/// `getent passwd` + `getent shadow` + `id -Gn` into an account.
pub fn parse_account(
    passwd: &str,
    shadow: Option<&str>,
    id_groups: &str,
    primary_name: Option<&str>,
) -> Option<Account> {
    let f: Vec<&str> = passwd.lines().next()?.split(':').collect();
    if f.len() < 7 {
        return None;
    }
    let s: Vec<&str> = shadow
        .and_then(|s| s.lines().next())
        .map(|l| l.split(':').collect())
        .unwrap_or_default();
    Some(Account {
        uid: f[2].parse().ok()?,
        gid: f[3].parse().ok()?,
        comment: f[4].to_string(),
        home: f[5].to_string(),
        shell: f[6].to_string(),
        hash: s.get(1).map(|h| h.to_string()),
        expires_days: s.get(7).and_then(|e| e.parse().ok()).unwrap_or(-1),
        groups: id_groups
            .split_whitespace()
            .filter(|g| Some(*g) != primary_name)
            .map(str::to_string)
            .collect(),
    })
}

/// Groups the read found, by the name or number the task used: `(name, gid)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KnownGroups(Vec<(String, String, u32)>);

impl KnownGroups {
    fn from_replies(a: &UserArgs, r: &Replies) -> KnownGroups {
        let mut v = Vec::new();
        for (i, asked) in a.named_groups().iter().enumerate() {
            let o = r.get(&format!("g{i}"));
            if let Some((name, gid, _)) = o
                .ok()
                .then(|| crate::group::parse_group_line(&o.out))
                .flatten()
            {
                v.push((asked.clone(), name, gid));
            }
        }
        KnownGroups(v)
    }
    /// `(name, gid)` of a group named by name or number.
    pub fn find(&self, asked: &str) -> Option<(&str, u32)> {
        self.0
            .iter()
            .find(|(a, _, _)| a == asked)
            .map(|(_, n, g)| (n.as_str(), *g))
    }
    fn name_of_gid(&self, gid: u32) -> Option<&str> {
        self.0
            .iter()
            .find(|(_, _, g)| *g == gid)
            .map(|(_, n, _)| n.as_str())
    }
}

fn missing_group(g: &str) -> ModuleError {
    ModuleError::new(format!("Group {g} does not exist"))
}

/// `YYYY-MM-DD` of an epoch time, as `usermod -e` takes it.
pub fn expiry_date(secs: f64) -> String {
    chrono::DateTime::from_timestamp(secs as i64, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The password as it goes to `-p` (`!` in front to lock in the same step).
fn hash_arg(a: &UserArgs, hash: &str) -> String {
    if a.password_lock == Some(true) {
        format!("!{hash}")
    } else {
        hash.to_string()
    }
}

/// Ansible's `create_user` for Linux: the `useradd` command line.
pub fn useradd_command(a: &UserArgs, known: &KnownGroups) -> Result<String, ModuleError> {
    let mut c: Vec<String> = vec!["useradd".into()];
    if let Some(uid) = a.uid {
        c.push(format!("-u {uid}"));
        if a.non_unique {
            c.push("-o".into());
        }
    }
    if let Some(g) = &a.group {
        known.find(g).ok_or_else(|| missing_group(g))?;
        c.push(format!("-g {}", sh_quote(g)));
    } else if known.find(&a.name).is_some() {
        // A group named like the user exists: -N keeps useradd from trying to create it.
        c.push("-N".into());
    }
    if let Some(gs) = a.groups.as_ref().filter(|g| !g.is_empty()) {
        let names: Vec<&str> = gs
            .iter()
            .map(|g| known.find(g).map(|f| f.0).ok_or_else(|| missing_group(g)))
            .collect::<Result<_, _>>()?;
        c.push(format!("-G {}", sh_quote(&names.join(","))));
    }
    if let Some(v) = &a.comment {
        c.push(format!("-c {}", sh_quote(v)));
    }
    if let Some(v) = &a.home {
        c.push(format!("-d {}", sh_quote(v)));
    }
    if let Some(v) = &a.shell {
        c.push(format!("-s {}", sh_quote(v)));
    }
    if let Some(e) = a.expires {
        c.push(format!(
            "-e {}",
            sh_quote(&if e < 0.0 {
                String::new()
            } else {
                expiry_date(e)
            })
        ));
    }
    if let Some(h) = &a.password {
        c.push(format!("-p {}", sh_quote(&hash_arg(a, h))));
    }
    if a.create_home {
        c.push("-m".into());
        if let Some(k) = &a.skeleton {
            c.push(format!("-k {}", sh_quote(k)));
        }
        if let Some(u) = &a.umask {
            c.push(format!("-K {}", sh_quote(&format!("UMASK={u}"))));
        }
    } else {
        c.push("-M".into());
    }
    if a.system {
        c.push("-r".into());
    }
    if let Some(m) = a.uid_min {
        c.push(format!("-K UID_MIN={m}"));
    }
    if let Some(m) = a.uid_max {
        c.push(format!("-K UID_MAX={m}"));
    }
    c.push(sh_quote(&a.name));
    let mut cmd = c.join(" ");
    // useradd -m cannot create missing parents of the home directory.
    if let (true, Some(h)) = (a.create_home, &a.home) {
        let parent = crate::common::remote_dirname(h);
        cmd = format!("mkdir -p -- {} && {cmd}", sh_quote(&parent));
    }
    Ok(cmd)
}

/// Ansible's `modify_user` for Linux: the `usermod` command line, `None` when all matches.
pub fn usermod_command(
    a: &UserArgs,
    cur: &Account,
    known: &KnownGroups,
) -> Result<Option<String>, ModuleError> {
    let mut c: Vec<String> = Vec::new();
    if let Some(uid) = a.uid.filter(|u| *u != cur.uid) {
        c.push(format!("-u {uid}"));
        if a.non_unique {
            c.push("-o".into());
        }
    }
    if let Some(g) = &a.group {
        let (_, gid) = known.find(g).ok_or_else(|| missing_group(g))?;
        if gid != cur.gid {
            c.push(format!("-g {gid}"));
        }
    }
    if let Some(gs) = &a.groups {
        let primary = known.name_of_gid(cur.gid).map(str::to_string);
        let mut want: Vec<&str> = Vec::new();
        for g in gs {
            let (n, _) = known.find(g).ok_or_else(|| missing_group(g))?;
            if !want.contains(&n) && Some(n) != primary.as_deref() {
                want.push(n);
            }
        }
        let missing = want.iter().any(|w| !cur.groups.iter().any(|g| g == w));
        let extra = cur.groups.iter().any(|g| !want.contains(&g.as_str()));
        if a.append && missing {
            c.push(format!("-a -G {}", sh_quote(&want.join(","))));
        } else if !a.append && (missing || extra) {
            c.push(format!("-G {}", sh_quote(&want.join(","))));
        }
    }
    if let Some(v) = a.comment.as_ref().filter(|v| **v != cur.comment) {
        c.push(format!("-c {}", sh_quote(v)));
    }
    if let Some(v) = a.home.as_ref().filter(|v| **v != cur.home) {
        c.push(format!("-d {}", sh_quote(v)));
        if a.move_home {
            c.push("-m".into());
        }
    }
    if let Some(v) = a.shell.as_ref().filter(|v| **v != cur.shell) {
        c.push(format!("-s {}", sh_quote(v)));
    }
    if let Some(e) = a.expires {
        if e < 0.0 {
            if cur.expires_days >= 0 {
                c.push("-e ''".into());
            }
        } else if cur.expires_days < 0
            || expiry_date(cur.expires_days as f64 * 86400.0) != expiry_date(e)
        {
            c.push(format!("-e {}", expiry_date(e)));
        }
    }
    let locked = cur.hash.as_deref().is_some_and(|h| h.starts_with('!'));
    match a.password_lock {
        Some(true) if !locked => c.push("-L".into()),
        Some(false) if locked => c.push("-U".into()),
        _ => {}
    }
    if let (true, Some(h)) = (a.update_always, &a.password) {
        let current = cur.hash.as_deref().unwrap_or("").trim_start_matches('!');
        if current != h.trim_start_matches('!') {
            c.retain(|x| x != "-L" && x != "-U");
            c.push(format!("-p {}", sh_quote(&hash_arg(a, h))));
        }
    }
    Ok((!c.is_empty()).then(|| format!("usermod {} {}", c.join(" "), sh_quote(&a.name))))
}

/// `userdel` with `-f`/`-r` as asked.
pub fn userdel_command(a: &UserArgs) -> String {
    let mut c = String::from("userdel");
    if a.force {
        c.push_str(" -f");
    }
    if a.remove {
        c.push_str(" -r");
    }
    format!("{c} {}", sh_quote(&a.name))
}

/// The reads: account, shadow, groups, home directory, and every named group.
fn reads(a: &UserArgs) -> Vec<Read> {
    let n = sh_quote(&a.name);
    let home = match &a.home {
        Some(h) => sh_quote(h),
        None => format!("\"$(getent passwd {n} | cut -d: -f6)\""),
    };
    let mut v = vec![
        Read::new("passwd", format!("getent passwd {n}")),
        Read::new("shadow", format!("getent shadow {n}")),
        Read::new("ids", format!("id -Gn {n}")),
        Read::new("home", format!("h={home}; [ -n \"$h\" ] && [ -d \"$h\" ]")),
    ];
    for (i, g) in a.named_groups().iter().enumerate() {
        v.push(Read::new(
            &format!("g{i}"),
            format!("getent group {}", sh_quote(g)),
        ));
    }
    if let Some(k) = a.ssh_key.as_ref().filter(|_| a.state == Presence::Present) {
        v.extend(k.reads(&a.name));
    }
    v
}

/// What the key reads found (Ansible's `ssh_fingerprint`, `ssh_key_file`, `ssh_public_key`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SshSeen {
    pub fingerprint: String,
    pub key_file: String,
    pub public_key: String,
}

impl SshSeen {
    fn from_replies(r: &Replies) -> SshSeen {
        let fp = r.get("ssh_fp");
        SshSeen {
            fingerprint: if fp.ok() {
                fp.out.trim().to_string()
            } else {
                String::new()
            },
            key_file: r.get("ssh_path").out,
            public_key: r.get("ssh_pub").out.trim().to_string(),
        }
    }
}

/// What `query` found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Seen {
    pub current: Option<Account>,
    pub known: KnownGroups,
    pub home_exists: bool,
    /// The key `generate_ssh_key` names exists already.
    pub ssh_exists: bool,
    pub ssh: SshSeen,
}

/// What `apply` does.
#[derive(Debug, Clone, PartialEq)]
pub struct Changes {
    /// The sh: useradd/usermod/userdel, home directory, key generation.
    pub script: String,
    /// The result once applied (Ansible's check mode reports `changed` alone).
    pub report: ModuleResult,
    /// Why the change cannot be made (a missing group for a new account): Ansible's check
    /// mode reports the new account as a change without looking; the real run fails.
    pub refused: Option<String>,
}

/// Ansible's `ssh_fingerprint`, `ssh_key_file` and `ssh_public_key` keys.
fn insert_ssh(result: &mut ModuleResult, k: &SshSeen) {
    result.insert("ssh_fingerprint", k.fingerprint.as_str());
    result.insert("ssh_key_file", k.key_file.as_str());
    result.insert("ssh_public_key", k.public_key.as_str());
}

fn account_from(r: &Replies, known: &KnownGroups) -> Option<Account> {
    let pw = r.get("passwd");
    if !pw.ok() {
        return None;
    }
    let gid: Option<u32> = pw.out.split(':').nth(3).and_then(|g| g.trim().parse().ok());
    let sh = r.get("shadow");
    let ids = r.get("ids");
    // The primary group's name: from the named groups when known, else id's first word.
    let primary = gid
        .and_then(|g| known.name_of_gid(g).map(str::to_string))
        .or_else(|| ids.out.split_whitespace().next().map(str::to_string));
    parse_account(
        &pw.out,
        sh.ok().then_some(sh.out.as_str()),
        &ids.out,
        primary.as_deref(),
    )
}

#[async_trait]
impl QueryPlanApply for UserModule {
    type Args = UserArgs;
    type Seen = Seen;
    type Changes = Changes;

    fn name(&self) -> &'static str {
        "user"
    }

    fn parse(&self, args: Map) -> Result<UserArgs, ModuleError> {
        UserArgs::parse(args)
    }

    async fn query(&self, ctx: &ModuleContext<'_>, a: &UserArgs) -> Result<Seen, ModuleError> {
        let replies = read_all(ctx, &reads(a)).await?;
        let known = KnownGroups::from_replies(a, &replies);
        Ok(Seen {
            current: account_from(&replies, &known),
            known,
            home_exists: replies.get("home").ok(),
            ssh_exists: replies.get("ssh_exists").ok(),
            ssh: SshSeen::from_replies(&replies),
        })
    }

    fn plan(a: &UserArgs, seen: &Seen) -> Result<Plan<Changes>, ModuleError> {
        let present = a.state == Presence::Present;
        let known = &seen.known;
        let mut refused = None;
        let mut result = ModuleResult::new(false);
        result.insert("name", a.name.as_str());
        result.insert("state", a.state.as_str());
        let cmd = match (&seen.current, present) {
            (Some(_), false) => {
                result.insert("force", a.force);
                result.insert("remove", a.remove);
                Some(userdel_command(a))
            }
            (None, false) => None,
            (None, true) => {
                result.insert("system", a.system);
                result.insert("create_home", a.create_home);
                match useradd_command(a, known) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        refused = Some(e.msg);
                        Some(String::from("false"))
                    }
                }
            }
            (Some(cur), true) => {
                result.insert("append", a.append);
                result.insert("move_home", a.move_home);
                let mut cmd = usermod_command(a, cur, known)?;
                // A missing home directory is created when create_home is on.
                let home = a.home.clone().unwrap_or_else(|| cur.home.clone());
                if a.create_home && !seen.home_exists && !home.is_empty() {
                    let h = sh_quote(&home);
                    let mk = format!("mkdir -p -- {h} && cp -rT /etc/skel {h} 2>/dev/null; chown -R {}:{} {h} && chmod 700 {h}", cur.uid, cur.gid);
                    cmd = Some(match cmd {
                        Some(c) => format!("{c} && {{ {mk}; }}"),
                        None => mk,
                    });
                }
                cmd
            }
        };
        if present && a.password.is_some() {
            result.insert("password", HIDDEN_PASSWORD);
        }
        if let Some(gs) = a.groups.as_ref().filter(|_| present) {
            result.insert("groups", gs.join(","));
        }
        // A missing key is generated after the account exists.
        let keygen = a
            .ssh_key
            .as_ref()
            .filter(|_| present && !seen.ssh_exists)
            .map(|k| k.keygen_script(&a.name));
        let cmd = match (cmd, keygen) {
            (Some(c), Some(k)) => Some(format!("{c} || exit $?\n{k}")),
            (c, k) => c.or(k),
        };
        let Some(script) = cmd else {
            if let Some(cur) = &seen.current {
                insert_account(&mut result, cur, present);
            }
            if a.ssh_key.is_some() && present {
                insert_ssh(&mut result, &seen.ssh);
            }
            return Ok(Plan::nothing(result));
        };
        let changes = Changes {
            refused,
            script,
            report: ModuleResult {
                changed: true,
                ..result
            },
        };
        Ok(Plan::change(changes, ModuleResult::new(true)))
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        a: &UserArgs,
        c: Changes,
        _check_mode_result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        if let Some(msg) = c.refused {
            return Err(ModuleError::new(msg));
        }
        let present = a.state == Presence::Present;
        let mut result = c.report;
        // The change, then the account (and key) read back in the same round trip.
        let mut after = vec![Read::new(
            "passwd",
            format!("getent passwd {}", sh_quote(&a.name)),
        )];
        if let Some(k) = a.ssh_key.as_ref().filter(|_| present) {
            after.extend(k.reads(&a.name));
        }
        let script = format!(
            "{{ {}\n}} >&2 || exit $?\n{}",
            c.script,
            crate::common::reads::script(&after)
        );
        let out = run_sh(ctx, script, None).await?;
        let (o, e) = (out.stdout_str(), out.stderr_str());
        if out.rc != 0 {
            let mut err = failure(e.trim().to_string(), out.rc, "", &e);
            err.result
                .insert("name".into(), Value::String(a.name.clone()));
            return Err(err);
        }
        if !e.trim().is_empty() {
            result.insert("stderr", e.trim().to_string());
        }
        if present {
            let back = crate::common::reads::parse(o.as_bytes())
                .map_err(|e| ModuleError::new(e.to_string()))?;
            if let Some(acc) = parse_account(&back.get("passwd").out, None, "", None) {
                insert_account(&mut result, &acc, true);
            }
            if a.ssh_key.is_some() {
                insert_ssh(&mut result, &SshSeen::from_replies(&back));
            }
        }
        Ok(result)
    }
}

/// The account keys Ansible reports for a present user.
fn insert_account(r: &mut ModuleResult, acc: &Account, present: bool) {
    if !present {
        return;
    }
    r.insert("uid", acc.uid);
    r.insert("group", acc.gid);
    r.insert("comment", acc.comment.as_str());
    r.insert("home", acc.home.as_str());
    r.insert("shell", acc.shell.as_str());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planned::Planned;
    use crate::testutil::{args, ctx, TestEnv};
    use kplay_engine::module::Module;
    use serde_json::json;

    fn ua(v: serde_json::Value) -> UserArgs {
        UserArgs::parse(args(v)).unwrap()
    }

    fn known(list: &[(&str, &str, u32)]) -> KnownGroups {
        KnownGroups(
            list.iter()
                .map(|(a, n, g)| (a.to_string(), n.to_string(), *g))
                .collect(),
        )
    }

    fn acc() -> Account {
        Account {
            uid: 1001,
            gid: 1001,
            comment: "".into(),
            home: "/home/bob".into(),
            shell: "/bin/sh".into(),
            hash: Some("!".into()),
            expires_days: -1,
            groups: vec!["adm".into()],
        }
    }

    #[test]
    fn name_is_required_and_unknown_parameters_rejected() {
        assert_eq!(
            UserArgs::parse(args(json!({}))).unwrap_err().msg,
            "missing required arguments: name"
        );
        assert!(UserArgs::parse(args(json!({"name": "b", "bogus": 1})))
            .unwrap_err()
            .msg
            .starts_with("Unsupported parameters for (user) module: bogus."));
    }

    #[test]
    fn groups_accept_list_or_comma_string_and_empty() {
        assert_eq!(
            ua(json!({"name": "b", "groups": "a, b"})).groups,
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            ua(json!({"name": "b", "groups": ["a", "c"]})).groups,
            Some(vec!["a".into(), "c".into()])
        );
        assert_eq!(ua(json!({"name": "b", "groups": ""})).groups, Some(vec![]));
    }

    #[test]
    fn useradd_builds_every_flag() {
        let a = ua(
            json!({"name": "bob", "uid": 1500, "group": "staff", "groups": ["adm"], "shell": "/bin/bash", "comment": "Bob B", "system": true, "password": "$6$x$y"}),
        );
        let k = known(&[("staff", "staff", 50), ("adm", "adm", 4)]);
        assert_eq!(
            useradd_command(&a, &k).unwrap(),
            "useradd -u 1500 -g staff -G adm -c 'Bob B' -s /bin/bash -p '$6$x$y' -m -r bob"
        );
    }

    #[test]
    fn useradd_uses_no_user_group_when_a_same_named_group_exists() {
        let a = ua(json!({"name": "bob", "create_home": false}));
        assert_eq!(
            useradd_command(&a, &known(&[("bob", "bob", 1001)])).unwrap(),
            "useradd -N -M bob"
        );
    }

    #[test]
    fn missing_group_fails_like_ansible() {
        let a = ua(json!({"name": "bob", "groups": ["nope"]}));
        assert_eq!(
            useradd_command(&a, &known(&[])).unwrap_err().msg,
            "Group nope does not exist"
        );
        // Planned as a change (check mode reports it, as Ansible's does); applying refuses.
        let p = UserModule::plan(&a, &seen(None)).unwrap();
        let c = p.changes.expect("a new account is a change");
        assert_eq!(c.refused.as_deref(), Some("Group nope does not exist"));
    }

    #[test]
    fn usermod_is_none_when_everything_matches() {
        let a = ua(
            json!({"name": "bob", "uid": 1001, "shell": "/bin/sh", "groups": ["adm"], "home": "/home/bob"}),
        );
        assert_eq!(
            usermod_command(&a, &acc(), &known(&[("adm", "adm", 4)])).unwrap(),
            None
        );
    }

    fn seen(current: Option<Account>) -> Seen {
        Seen {
            current,
            known: known(&[("adm", "adm", 4)]),
            home_exists: true,
            ..Default::default()
        }
    }

    #[test]
    fn plan_reports_the_account_when_nothing_differs() {
        let a = ua(json!({"name": "bob", "uid": 1001, "groups": ["adm"], "password": "!"}));
        let p = UserModule::plan(&a, &seen(Some(acc()))).unwrap();
        assert!(p.changes.is_none());
        let r = p.result.into_map();
        assert_eq!(r["changed"], json!(false));
        assert_eq!((&r["uid"], &r["home"]), (&json!(1001), &json!("/home/bob")));
        assert_eq!(r["password"], json!(HIDDEN_PASSWORD));
        assert_eq!(r["groups"], json!("adm"));
    }

    #[test]
    fn plan_in_check_mode_reports_changed_alone_and_keeps_the_full_report_for_apply() {
        let a = ua(json!({"name": "bob", "groups": ["adm"], "password": "secret-hash"}));
        let p = UserModule::plan(&a, &seen(None)).unwrap();
        assert_eq!(
            p.result.clone().into_map(),
            ModuleResult::new(true).into_map()
        );
        let c = p.changes.unwrap();
        assert!(c.script.starts_with("useradd"), "{}", c.script);
        let r = c.report.into_map();
        assert_eq!(r["changed"], json!(true));
        assert_eq!(r["password"], json!(HIDDEN_PASSWORD));
        assert!(!format!("{r:?}").contains("secret-hash"));
    }

    #[test]
    fn plan_removes_an_existing_user_and_creates_a_missing_home() {
        let gone = ua(json!({"name": "bob", "state": "absent", "remove": true}));
        let p = UserModule::plan(&gone, &seen(Some(acc()))).unwrap();
        assert!(p.changes.unwrap().script.starts_with("userdel"));
        assert!(UserModule::plan(&gone, &seen(None))
            .unwrap()
            .changes
            .is_none());
        let a = ua(json!({"name": "bob"}));
        let no_home = Seen {
            home_exists: false,
            ..seen(Some(acc()))
        };
        let c = UserModule::plan(&a, &no_home).unwrap().changes.unwrap();
        assert!(
            c.script.starts_with("mkdir -p -- /home/bob"),
            "{}",
            c.script
        );
    }

    #[test]
    fn usermod_append_adds_only_missing_groups() {
        let k = known(&[("adm", "adm", 4), ("wheel", "wheel", 10)]);
        let a = ua(json!({"name": "bob", "groups": ["wheel"], "append": true}));
        assert_eq!(
            usermod_command(&a, &acc(), &k).unwrap().as_deref(),
            Some("usermod -a -G wheel bob")
        );
        let a = ua(json!({"name": "bob", "groups": ["adm"], "append": true}));
        assert_eq!(usermod_command(&a, &acc(), &k).unwrap(), None);
        let a = ua(json!({"name": "bob", "groups": ""}));
        assert_eq!(
            usermod_command(&a, &acc(), &k).unwrap().as_deref(),
            Some("usermod -G '' bob")
        );
    }

    #[test]
    fn usermod_password_compares_hash_and_honours_on_create() {
        let a = ua(json!({"name": "bob", "password": "$6$a$b"}));
        assert_eq!(
            usermod_command(&a, &acc(), &known(&[])).unwrap().as_deref(),
            Some("usermod -p '$6$a$b' bob")
        );
        let a = ua(json!({"name": "bob", "password": "$6$a$b", "update_password": "on_create"}));
        assert_eq!(usermod_command(&a, &acc(), &known(&[])).unwrap(), None);
    }

    #[test]
    fn usermod_expires_compares_dates() {
        let mut cur = acc();
        cur.expires_days = 19000;
        let a = ua(json!({"name": "bob", "expires": 19000.0 * 86400.0 + 3600.0}));
        assert_eq!(usermod_command(&a, &cur, &known(&[])).unwrap(), None);
        let a = ua(json!({"name": "bob", "expires": -1}));
        assert_eq!(
            usermod_command(&a, &cur, &known(&[])).unwrap().as_deref(),
            Some("usermod -e '' bob")
        );
    }

    #[test]
    fn userdel_flags() {
        assert_eq!(
            userdel_command(&ua(
                json!({"name": "bob", "state": "absent", "remove": true, "force": true})
            )),
            "userdel -f -r bob"
        );
    }

    #[test]
    fn account_parses_passwd_shadow_and_groups() {
        let a = parse_account(
            "bob:x:1001:1001:Bob:/home/bob:/bin/sh\n",
            Some("bob:$6$h:19000:0:99999:7::19500:\n"),
            "bob adm\n",
            Some("bob"),
        )
        .unwrap();
        assert_eq!(
            (a.uid, a.hash.as_deref(), a.expires_days, a.groups.clone()),
            (1001, Some("$6$h"), 19500, vec!["adm".to_string()])
        );
    }

    #[test]
    fn keygen_script_never_overwrites_and_owns_the_files() {
        let a = ua(
            json!({"name": "bob", "generate_ssh_key": true, "ssh_key_bits": 2048, "ssh_key_comment": "c d"}),
        );
        let k = a.ssh_key.unwrap();
        assert_eq!(k.file, ".ssh/id_rsa");
        let s = k.keygen_script("bob");
        assert!(s.contains("f=\"$h\"/.ssh/id_rsa"), "{s}");
        assert!(s.contains("if [ ! -e \"$f\" ]"));
        assert!(
            s.contains("ssh-keygen -q -t rsa  -b 2048 -C 'c d' -N '' -f \"$f\""),
            "{s}"
        );
        assert!(s.contains("chown \"$o\" \"$f\" \"$f.pub\""));
    }

    #[tokio::test]
    async fn throwaway_user_lifecycle_is_idempotent_and_hides_password() {
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout == b"0\n")
            .unwrap_or(false);
        if !root || !std::path::Path::new("/usr/sbin/useradd").exists() {
            return;
        }
        let name = format!("kpu{}", std::process::id());
        let d = tempfile::tempdir().unwrap();
        let home = d
            .path()
            .join("h")
            .join(&name)
            .to_string_lossy()
            .into_owned();
        let env = TestEnv::new(d.path());
        let run = |check: bool, v: serde_json::Value| {
            let env = &env;
            async move {
                Planned(UserModule)
                    .run(&ctx(env, check, false), args(v))
                    .await
                    .unwrap()
                    .into_map()
            }
        };
        let present = json!({"name": name, "home": home, "shell": "/bin/sh", "password": "$6$salt$notarealhash", "comment": "kplay test"});
        assert_eq!(run(true, present.clone()).await["changed"], json!(true));
        assert!(!std::path::Path::new(&home).exists());
        let r = run(false, present.clone()).await;
        assert_eq!(
            (
                r["changed"].clone(),
                r["password"].clone(),
                r["home"].clone()
            ),
            (json!(true), json!(HIDDEN_PASSWORD), json!(home))
        );
        assert!(std::path::Path::new(&home).is_dir());
        let r = run(false, present).await;
        assert_eq!(r["changed"], json!(false), "{r:?}");
        if std::path::Path::new("/usr/bin/ssh-keygen").exists() {
            let key = json!({"name": name, "generate_ssh_key": true, "ssh_key_type": "ed25519"});
            let r = run(false, key.clone()).await;
            assert_eq!(r["changed"], json!(true), "{r:?}");
            assert!(
                r["ssh_public_key"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("ssh-ed25519 "),
                "{r:?}"
            );
            assert_eq!(r["ssh_key_file"], json!(format!("{home}/.ssh/id_ed25519")));
            let again = run(false, key).await;
            assert_eq!(again["changed"], json!(false));
            assert_eq!(again["ssh_public_key"], r["ssh_public_key"]);
        }
        let r = run(false, json!({"name": name, "shell": "/bin/false"})).await;
        assert_eq!(
            (r["changed"].clone(), r["shell"].clone()),
            (json!(true), json!("/bin/false"))
        );
        let absent = json!({"name": name, "state": "absent", "remove": true});
        assert_eq!(run(true, absent.clone()).await["changed"], json!(true));
        assert_eq!(run(false, absent.clone()).await["changed"], json!(true));
        assert_eq!(run(false, absent).await["changed"], json!(false));
        let _ = std::process::Command::new("groupdel").arg(&name).output();
    }
}

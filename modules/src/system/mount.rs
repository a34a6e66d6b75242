//! `mount` (ansible.posix.mount): keep a line in fstab and the mount state of a path. fstab is
//! edited as Ansible does (entries matched by mount point, fields escaped with `\040`, missing
//! dump/passno counted as `0`) and written atomically; `/proc/mounts` says what is mounted.
//! One round trip reads fstab, the mount table and the mount point; changes follow only when
//! needed (the fstab write, then the mount command).

use crate::common::args::{p, Param, RequiredIf, Spec};
use crate::common::diff::text_diff;
use crate::common::reads::{failure, read_all, Read};
use crate::common::write::{write_file, WriteRequest};
use crate::planned::{Plan, QueryPlanApply};
use async_trait::async_trait;
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};

const PARAMS: &[Param] = &[
    p("path", &["name"]).required().doc("Mount point."),
    p("src", &[]).doc("Device, label, UUID or network source to mount."),
    p("fstype", &[]).doc("Filesystem type."),
    p("opts", &[]).doc("Mount options (default `defaults`)."),
    p("dump", &[]).doc("fstab dump field."),
    p("passno", &[]).doc("fstab passno field."),
    p("state", &[])
        .choices(STATES)
        .required()
        .doc("`mounted`, `unmounted`, `present`, `absent`, `remounted` or `ephemeral`."),
    p("fstab", &[]).doc("File to edit instead of /etc/fstab."),
    p("boot", &[])
        .flag(true)
        .doc("Mount at boot (false adds `noauto`)."),
    p("backup", &[])
        .flag(false)
        .doc("Keep a timestamped copy of fstab before changing it."),
];

/// `mount`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "mount",
    "Control active and configured mount points",
    &[PARAMS],
)
.required_if(&[
    RequiredIf {
        param: "state",
        value: "mounted",
        requires: &["src", "fstype"],
        any: false,
    },
    RequiredIf {
        param: "state",
        value: "present",
        requires: &["src", "fstype"],
        any: false,
    },
    RequiredIf {
        param: "state",
        value: "ephemeral",
        requires: &["src", "fstype"],
        any: false,
    },
]);

const STATES: &[&str] = &[
    "absent",
    "absent_from_fstab",
    "mounted",
    "present",
    "unmounted",
    "remounted",
    "ephemeral",
];

/// `ansible.posix.mount`.
pub struct MountModule;

/// `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountState {
    /// Unmounted, out of fstab, mount point removed.
    Absent,
    /// Out of fstab; the mount is left alone.
    AbsentFromFstab,
    /// In fstab and mounted (remounted when the entry changed).
    Mounted,
    /// In fstab only.
    Present,
    Unmounted,
    /// Remounted every time.
    Remounted,
    /// Mounted without fstab.
    Ephemeral,
}

impl MountState {
    fn from_choice(s: &str) -> MountState {
        match s {
            "absent" => MountState::Absent,
            "absent_from_fstab" => MountState::AbsentFromFstab,
            "mounted" => MountState::Mounted,
            "present" => MountState::Present,
            "unmounted" => MountState::Unmounted,
            "remounted" => MountState::Remounted,
            _ => MountState::Ephemeral,
        }
    }
}

/// Checked arguments; `opts` already carries `noauto` when `boot` is false.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountArgs {
    pub name: String,
    pub src: Option<String>,
    pub fstype: Option<String>,
    pub opts: String,
    pub dump: String,
    pub passno: String,
    pub state: MountState,
    pub fstab: String,
    pub boot: bool,
    pub backup: bool,
}

impl MountArgs {
    pub fn parse(args: Map) -> Result<MountArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let state = MountState::from_choice(&a.choice("state", STATES)?.unwrap_or_default());
        let boot = a.flag("boot");
        let mut opts = a.str("opts")?.unwrap_or_else(|| "defaults".into());
        if !boot {
            let mut o: Vec<&str> = opts
                .split(',')
                .filter(|o| *o != "defaults" && !o.is_empty())
                .collect();
            if !o.contains(&"noauto") {
                o.push("noauto");
            }
            opts = o.join(",");
        }
        let name = a.str("path")?.unwrap_or_default();
        let name = if name.len() > 1 {
            name.trim_end_matches('/').to_string()
        } else {
            name
        };
        Ok(MountArgs {
            name,
            src: a.str("src")?,
            fstype: a.str("fstype")?,
            opts,
            dump: a.str("dump")?.unwrap_or_else(|| "0".into()),
            passno: a.str("passno")?.unwrap_or_else(|| "0".into()),
            state,
            fstab: a.str("fstab")?.unwrap_or_else(|| "/etc/fstab".into()),
            boot,
            backup: a.flag("backup"),
        })
    }

    /// The fstab line this task wants (fields escaped).
    pub fn fstab_line(&self) -> String {
        format!(
            "{} {} {} {} {} {}\n",
            escape(self.src.as_deref().unwrap_or("")),
            escape(&self.name),
            escape(self.fstype.as_deref().unwrap_or("")),
            escape(&self.opts),
            escape(&self.dump),
            escape(&self.passno)
        )
    }
}

/// fstab's escaping of blanks and backslashes (`\040`, `\134`), and `&` as Ansible does.
pub fn escape(v: &str) -> String {
    v.replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('\t', "\\011")
        .replace('&', "\\046")
}

/// The mount table's (and fstab's) octal escapes undone.
pub fn unescape(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let n = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(n as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A line that names `a.name` as its mount point (swap lines also need the same `src`).
fn matches(fields: &[&str], a: &MountArgs) -> bool {
    if fields[1] != escape(&a.name) {
        return false;
    }
    !(fields[1] == "none"
        && fields[2] == "swap"
        && a.src.as_deref().is_some_and(|s| fields[0] != escape(s)))
}

/// The fields of an fstab entry line (4 to 6 fields), `None` for anything else.
fn entry_fields(line: &str) -> Option<Vec<&str>> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    let mut f: Vec<&str> = t.split_whitespace().collect();
    if !(4..=6).contains(&f.len()) {
        return None;
    }
    while f.len() < 6 {
        f.push("0");
    }
    Some(f)
}

/// Ansible's `set_mount`: the matching line is rewritten when a field differs, a missing entry
/// is appended. `None` when fstab already says what is wanted.
pub fn set_entry(content: &str, a: &MountArgs) -> Option<String> {
    let want = a.fstab_line();
    let want_f: Vec<&str> = want.split_whitespace().collect();
    let mut out = String::new();
    let (mut exists, mut changed) = (false, false);
    for line in content.split_inclusive('\n') {
        match entry_fields(line) {
            Some(f) if matches(&f, a) => {
                exists = true;
                if f != want_f {
                    changed = true;
                    out.push_str(&want);
                } else {
                    out.push_str(line);
                }
            }
            _ => out.push_str(line),
        }
    }
    if !exists {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&want);
        changed = true;
    }
    changed.then_some(out)
}

/// Ansible's `unset_mount`: every line for the mount point goes. `None` when there is none.
pub fn unset_entry(content: &str, a: &MountArgs) -> Option<String> {
    let mut out = String::new();
    let mut changed = false;
    for line in content.split_inclusive('\n') {
        match entry_fields(line) {
            Some(f) if matches(&f, a) => changed = true,
            _ => out.push_str(line),
        }
    }
    changed.then_some(out)
}

/// Whether `/proc/mounts` lists `name` as a mount point.
pub fn is_mounted(proc_mounts: &str, name: &str) -> bool {
    proc_mounts.lines().any(|l| {
        l.split_whitespace()
            .nth(1)
            .is_some_and(|m| unescape(m) == name)
    })
}

/// `-T FSTAB` when the task's fstab is not the system's (util-linux mount).
fn fstab_flag(a: &MountArgs) -> String {
    if a.fstab == "/etc/fstab" {
        String::new()
    } else {
        format!("-T {} ", sh_quote(&a.fstab))
    }
}

/// `mount` for state=mounted (from fstab) or ephemeral (everything on the command line).
pub fn mount_command(a: &MountArgs) -> String {
    if a.state == MountState::Ephemeral {
        format!(
            "mount -t {} -o {} {} {}",
            sh_quote(a.fstype.as_deref().unwrap_or("")),
            sh_quote(&a.opts),
            sh_quote(a.src.as_deref().unwrap_or("")),
            sh_quote(&a.name)
        )
    } else {
        format!("mount {}{}", fstab_flag(a), sh_quote(&a.name))
    }
}

/// A remount, falling back to unmount and mount as Ansible does.
pub fn remount_command(a: &MountArgs) -> String {
    let opts = if a.state == MountState::Ephemeral {
        format!("remount,{}", a.opts)
    } else {
        "remount".into()
    };
    format!(
        "mount -o {} {}{} || {{ umount {} && {}; }}",
        sh_quote(&opts),
        fstab_flag(a),
        sh_quote(&a.name),
        sh_quote(&a.name),
        mount_command(a)
    )
}

pub fn umount_command(name: &str) -> String {
    format!("umount {}", sh_quote(name))
}

/// What the host looks like now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    pub fstab: String,
    pub mounted: bool,
    pub dir_exists: bool,
}

/// The changes the state table asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    pub new_fstab: Option<String>,
    /// sh to run after fstab is written, with the message prefix for its failure.
    pub command: Option<(String, &'static str)>,
    pub changed: bool,
}

fn decide(a: &MountArgs, fstab: &str, mounted: bool, dir_exists: bool) -> Decision {
    let mut p = Decision::default();
    match a.state {
        MountState::Absent | MountState::AbsentFromFstab => {
            p.new_fstab = unset_entry(fstab, a);
            if a.state == MountState::Absent {
                let mut sh = Vec::new();
                if mounted {
                    sh.push(umount_command(&a.name));
                }
                if dir_exists && (mounted || p.new_fstab.is_some()) {
                    sh.push(format!(
                        "{{ rmdir -- {} 2>/dev/null || true; }}",
                        sh_quote(&a.name)
                    ));
                }
                if !sh.is_empty() {
                    p.command = Some((sh.join(" && "), "Error unmounting"));
                }
                p.changed = mounted;
            }
        }
        MountState::Unmounted if mounted => {
            p.command = Some((umount_command(&a.name), "Error unmounting"))
        }
        MountState::Unmounted => {}
        MountState::Present => p.new_fstab = set_entry(fstab, a),
        MountState::Mounted => {
            p.new_fstab = set_entry(fstab, a);
            let mkdir = if dir_exists {
                String::new()
            } else {
                format!("mkdir -p -- {} && ", sh_quote(&a.name))
            };
            if !mounted {
                p.command = Some((format!("{mkdir}{}", mount_command(a)), "Error mounting"));
            } else if p.new_fstab.is_some() {
                p.command = Some((format!("{mkdir}{}", remount_command(a)), "Error mounting"));
            }
        }
        MountState::Remounted => p.command = Some((remount_command(a), "Error remounting")),
        MountState::Ephemeral => {
            // Mounted without fstab, remounted when already mounted.
            let mkdir = if dir_exists {
                String::new()
            } else {
                format!("mkdir -p -- {} && ", sh_quote(&a.name))
            };
            p.command = Some(if mounted {
                (remount_command(a), "Error remounting")
            } else {
                (format!("{mkdir}{}", mount_command(a)), "Error mounting")
            });
        }
    }
    p.changed |= p.new_fstab.is_some() || p.command.is_some();
    p
}

fn result(a: &MountArgs, changed: bool) -> ModuleResult {
    let mut r = ModuleResult::new(changed);
    r.insert("name", a.name.as_str());
    if let Some(s) = &a.src {
        r.insert("src", s.as_str());
    }
    if let Some(f) = &a.fstype {
        r.insert("fstype", f.as_str());
    }
    r.insert("opts", a.opts.as_str());
    r.insert("dump", a.dump.as_str());
    r.insert("passno", a.passno.as_str());
    r.insert("fstab", a.fstab.as_str());
    r.insert("boot", if a.boot { "yes" } else { "no" });
    r
}

/// What `apply` does: write fstab, then run the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    pub decision: Decision,
    /// fstab as it was, put back when mounting the new entry fails.
    pub old_fstab: String,
}

#[async_trait]
impl QueryPlanApply for MountModule {
    type Args = MountArgs;
    type Seen = Seen;
    type Changes = Changes;

    fn name(&self) -> &'static str {
        "mount"
    }

    fn collections(&self) -> &'static [&'static str] {
        &["ansible.posix", "community.general"]
    }

    fn parse(&self, args: Map) -> Result<MountArgs, ModuleError> {
        MountArgs::parse(args)
    }

    async fn query(&self, ctx: &ModuleContext<'_>, a: &MountArgs) -> Result<Seen, ModuleError> {
        let f = sh_quote(&a.fstab);
        let replies = read_all(
            ctx,
            &[
                Read::new("fstab", format!("[ -e {f} ] || exit 3; cat -- {f}")).merged(),
                Read::new("mounts", "cat /proc/mounts"),
                Read::new("dir", format!("[ -d {} ]", sh_quote(&a.name))),
            ],
        )
        .await?;
        let fr = replies.get("fstab");
        Ok(Seen {
            fstab: match fr.rc {
                0 => fr.out,
                3 => String::new(),
                _ => {
                    return Err(ModuleError::new(format!(
                        "Failed to read {}: {}",
                        a.fstab,
                        fr.out.trim()
                    )))
                }
            },
            mounted: is_mounted(&replies.get("mounts").out, &a.name),
            dir_exists: replies.get("dir").ok(),
        })
    }

    fn plan(a: &MountArgs, seen: &Seen) -> Result<Plan<Changes>, ModuleError> {
        let d = decide(a, &seen.fstab, seen.mounted, seen.dir_exists);
        let mut r = result(a, d.changed);
        if let Some(new) = &d.new_fstab {
            r.insert("diff", text_diff(&a.fstab, &a.fstab, &seen.fstab, new));
        }
        let changes = d.changed.then(|| Changes {
            decision: d,
            old_fstab: seen.fstab.clone(),
        });
        Ok(Plan { changes, result: r })
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        a: &MountArgs,
        c: Changes,
        mut r: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        let plan = c.decision;
        if let Some(new) = &plan.new_fstab {
            let req = WriteRequest {
                dest: &a.fstab,
                data: new.as_bytes(),
                backup: a.backup,
                create_parent: Some(None),
                ..Default::default()
            };
            let out = write_file(ctx, &req).await?;
            if let Some(b) = out.backup_file {
                r.insert("backup_file", Value::String(b));
            }
        }
        if let Some((cmd, what)) = &plan.command {
            let out = crate::common::run_sh(ctx, cmd.clone(), None).await?;
            if out.rc != 0 {
                let (o, e) = (out.stdout_str(), out.stderr_str());
                // A broken fstab entry could stop the next boot: put the old file back.
                if plan.new_fstab.is_some() && *what == "Error mounting" {
                    let req = WriteRequest {
                        dest: &a.fstab,
                        data: c.old_fstab.as_bytes(),
                        ..Default::default()
                    };
                    let _ = write_file(ctx, &req).await;
                }
                return Err(failure(
                    format!("{what} {}: {}", a.name, format!("{o}{e}").trim()),
                    out.rc,
                    &o,
                    &e,
                ));
            }
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planned::Planned;
    use crate::testutil::{args, ctx, TestEnv};
    use kplay_engine::module::Module;
    use serde_json::json;

    fn ma(v: serde_json::Value) -> MountArgs {
        MountArgs::parse(args(v)).unwrap()
    }

    #[test]
    fn mounted_requires_src_and_fstype() {
        let e = MountArgs::parse(args(json!({"path": "/mnt/x", "state": "mounted"}))).unwrap_err();
        assert_eq!(
            e.msg,
            "state is mounted but all of the following are missing: src, fstype"
        );
        assert!(MountArgs::parse(args(json!({"path": "/mnt/x", "state": "unmounted"}))).is_ok());
    }

    #[test]
    fn state_is_required_and_checked() {
        assert_eq!(
            MountArgs::parse(args(json!({"path": "/x"})))
                .unwrap_err()
                .msg,
            "missing required arguments: state"
        );
        assert!(
            MountArgs::parse(args(json!({"path": "/x", "state": "bogus"})))
                .unwrap_err()
                .msg
                .starts_with("value of state must be one of")
        );
    }

    #[test]
    fn boot_false_adds_noauto_and_drops_defaults() {
        let a = ma(
            json!({"name": "/mnt/x", "state": "present", "src": "/dev/sdb", "fstype": "ext4", "boot": false}),
        );
        assert_eq!(a.opts, "noauto");
    }

    #[test]
    fn spaces_are_escaped_in_fstab_lines() {
        let a = ma(
            json!({"path": "/mnt/my disk", "state": "present", "src": "LABEL=x", "fstype": "ext4"}),
        );
        assert_eq!(
            a.fstab_line(),
            "LABEL=x /mnt/my\\040disk ext4 defaults 0 0\n"
        );
        assert_eq!(unescape("/mnt/my\\040disk"), "/mnt/my disk");
    }

    #[test]
    fn set_entry_rewrites_changed_line_and_keeps_others() {
        let a = ma(
            json!({"path": "/data", "state": "present", "src": "/dev/sdb1", "fstype": "xfs", "opts": "noatime"}),
        );
        let c = "# c\n/dev/sda1 / ext4 defaults 0 1\n/dev/sdb1 /data ext4 defaults\n";
        assert_eq!(
            set_entry(c, &a).unwrap(),
            "# c\n/dev/sda1 / ext4 defaults 0 1\n/dev/sdb1 /data xfs noatime 0 0\n"
        );
        let same = "/dev/sdb1\t/data xfs noatime\n";
        assert_eq!(set_entry(same, &a), None);
    }

    #[test]
    fn unset_entry_removes_every_line_for_the_path() {
        let a = ma(json!({"path": "/data", "state": "absent"}));
        assert_eq!(
            unset_entry("a /data x y\nb / x y 0 1\nc /data z w\n", &a).unwrap(),
            "b / x y 0 1\n"
        );
        assert_eq!(unset_entry("b / x y 0 1\n", &a), None);
    }

    #[test]
    fn mounted_mounts_when_not_mounted_and_remounts_when_fstab_changed() {
        let a = ma(
            json!({"path": "/data", "state": "mounted", "src": "/dev/sdb1", "fstype": "xfs", "fstab": "/tmp/f"}),
        );
        let p = decide(&a, "", false, false);
        assert_eq!(
            p.command.unwrap().0,
            "mkdir -p -- /data && mount -T /tmp/f /data"
        );
        let p = decide(&a, "", true, true);
        assert!(p
            .command
            .unwrap()
            .0
            .starts_with("mount -o remount -T /tmp/f /data ||"));
        let p = decide(&a, &a.fstab_line(), true, true);
        assert_eq!(p, Decision::default());
    }

    fn seen(fstab: &str, mounted: bool) -> Seen {
        Seen {
            fstab: fstab.into(),
            mounted,
            dir_exists: true,
        }
    }

    #[test]
    fn plan_adds_the_entry_and_mounts_with_the_fstab_diff() {
        let a = ma(
            json!({"path": "/data", "state": "mounted", "src": "/dev/sdb1", "fstype": "xfs", "fstab": "/tmp/f"}),
        );
        assert_eq!(a.state, MountState::Mounted);
        let p = MountModule::plan(&a, &seen("# keep\n", false)).unwrap();
        let c = p.changes.unwrap();
        assert_eq!(c.old_fstab, "# keep\n");
        assert_eq!(
            c.decision.command,
            Some(("mount -T /tmp/f /data".to_string(), "Error mounting"))
        );
        let r = p.result.into_map();
        assert_eq!(r["changed"], json!(true));
        assert_eq!(
            r["diff"]["after"],
            json!("# keep\n/dev/sdb1 /data xfs defaults 0 0\n")
        );
        let done = MountModule::plan(&a, &seen(&a.fstab_line(), true)).unwrap();
        assert!(done.changes.is_none() && !done.result.changed && done.result.diff.is_none());
    }

    #[test]
    fn plan_absent_unmounts_and_removes_the_entry() {
        let a = ma(json!({"path": "/data", "state": "absent", "fstab": "/tmp/f"}));
        let p = MountModule::plan(&a, &seen("/dev/sdb1 /data xfs defaults 0 0\n", true)).unwrap();
        let c = p.changes.unwrap();
        assert_eq!(c.decision.new_fstab.as_deref(), Some(""));
        let (cmd, what) = c.decision.command.unwrap();
        assert!(
            cmd.starts_with("umount") && cmd.contains("rmdir -- /data"),
            "{cmd}"
        );
        assert_eq!(what, "Error unmounting");
        let from_fstab = ma(json!({"path": "/data", "state": "absent_from_fstab"}));
        let p = MountModule::plan(&from_fstab, &seen("", true)).unwrap();
        assert!(p.changes.is_none());
    }

    #[test]
    fn ephemeral_mount_names_everything() {
        let a = ma(
            json!({"path": "/m", "state": "ephemeral", "src": "tmpfs", "fstype": "tmpfs", "opts": "size=1m"}),
        );
        assert_eq!(mount_command(&a), "mount -t tmpfs -o size=1m tmpfs /m");
    }

    #[test]
    fn proc_mounts_is_read_with_escapes() {
        assert!(is_mounted("/dev/x /mnt/a\\040b ext4 rw 0 0\n", "/mnt/a b"));
        assert!(!is_mounted("/dev/x /mnt ext4 rw 0 0\n", "/mnt/a"));
    }

    #[tokio::test]
    async fn present_and_absent_edit_a_temp_fstab_idempotently() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("fstab");
        std::fs::write(&f, "# static\n").unwrap();
        let env = TestEnv::new(d.path());
        let mp = "/mnt/kplay-test-never-mounted";
        let present = json!({"path": mp, "src": "/dev/kplay-none", "fstype": "ext4", "state": "present", "fstab": f.to_string_lossy()});
        let r = Planned(MountModule)
            .run(&ctx(&env, true, true), args(present.clone()))
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["changed"], json!(true));
        assert_eq!(
            r["diff"]["after"],
            json!(format!(
                "# static\n/dev/kplay-none {mp} ext4 defaults 0 0\n"
            ))
        );
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "# static\n");
        let r = Planned(MountModule)
            .run(&ctx(&env, false, false), args(present.clone()))
            .await
            .unwrap()
            .into_map();
        assert_eq!(
            (r["changed"].clone(), r["opts"].clone(), r["boot"].clone()),
            (json!(true), json!("defaults"), json!("yes"))
        );
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            format!("# static\n/dev/kplay-none {mp} ext4 defaults 0 0\n")
        );
        assert_eq!(
            Planned(MountModule)
                .run(&ctx(&env, false, false), args(present))
                .await
                .unwrap()
                .into_map()["changed"],
            json!(false)
        );
        let absent = json!({"path": mp, "state": "absent", "fstab": f.to_string_lossy()});
        assert_eq!(
            Planned(MountModule)
                .run(&ctx(&env, false, false), args(absent.clone()))
                .await
                .unwrap()
                .into_map()["changed"],
            json!(true)
        );
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "# static\n");
        assert_eq!(
            Planned(MountModule)
                .run(&ctx(&env, false, false), args(absent))
                .await
                .unwrap()
                .into_map()["changed"],
            json!(false)
        );
    }

    /// Unmounts the test's tmpfs even when an assertion fails.
    struct Unmount(String);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).output();
        }
    }

    #[tokio::test]
    async fn tmpfs_is_mounted_remounted_and_removed_through_a_temp_fstab() {
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout == b"0\n")
            .unwrap_or(false);
        if !root {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("fstab").to_string_lossy().into_owned();
        let mp = d.path().join("m").to_string_lossy().into_owned();
        let _guard = Unmount(mp.clone());
        let env = TestEnv::new(d.path());
        let spec = |state: &str, opts: &str| json!({"path": mp, "src": "tmpfs", "fstype": "tmpfs", "opts": opts, "state": state, "fstab": f});
        let mounted = || {
            std::fs::read_to_string("/proc/mounts")
                .unwrap()
                .lines()
                .any(|l| l.split(' ').nth(1) == Some(mp.as_str()))
        };
        let r = Planned(MountModule)
            .run(&ctx(&env, true, false), args(spec("mounted", "size=1m")))
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["changed"], json!(true));
        assert!(!mounted() && !std::path::Path::new(&mp).exists());
        let r = Planned(MountModule)
            .run(&ctx(&env, false, false), args(spec("mounted", "size=1m")))
            .await
            .map(ModuleResult::into_map);
        let Ok(r) = r else {
            // No permission to mount in this sandbox: nothing more to check.
            eprintln!("skipping: cannot mount here");
            return;
        };
        assert_eq!(r["changed"], json!(true));
        assert!(mounted());
        assert_eq!(
            Planned(MountModule)
                .run(&ctx(&env, false, false), args(spec("mounted", "size=1m")))
                .await
                .unwrap()
                .into_map()["changed"],
            json!(false)
        );
        let r = Planned(MountModule)
            .run(&ctx(&env, false, false), args(spec("mounted", "size=2m")))
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["changed"], json!(true));
        assert!(mounted());
        let r = Planned(MountModule)
            .run(&ctx(&env, false, false), args(spec("unmounted", "size=2m")))
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["changed"], json!(true));
        assert!(!mounted());
        assert_eq!(
            Planned(MountModule)
                .run(&ctx(&env, false, false), args(spec("unmounted", "size=2m")))
                .await
                .unwrap()
                .into_map()["changed"],
            json!(false)
        );
        let r = Planned(MountModule)
            .run(
                &ctx(&env, false, false),
                args(json!({"path": mp, "state": "absent", "fstab": f})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["changed"], json!(true));
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "");
        assert!(!std::path::Path::new(&mp).exists());
    }
}

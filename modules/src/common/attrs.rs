//! `owner`, `group` and `mode` enforcement: compare what was asked with what the probe saw,
//! produce the sh commands that fix the difference, and describe it in results and diffs the
//! way Ansible's `set_fs_attributes_if_different` does.

use super::args::Args;
use super::mode::{format_mode, ModeSpec};
use super::probe::{PathKind, PathStat};
use kplay_engine::module::ModuleError;
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Exit codes of the attribute commands, so a failure can be named in the message.
pub const RC_CHOWN: i32 = 71;
pub const RC_CHGRP: i32 = 72;
pub const RC_CHMOD: i32 = 73;

/// The requested attributes of a path.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttrSpec {
    pub mode: Option<ModeSpec>,
    pub owner: Option<String>,
    pub group: Option<String>,
}

impl AttrSpec {
    /// Read `mode`/`owner`/`group` from checked args; `allow_preserve` for copy/template.
    pub fn from_args(args: &Args, allow_preserve: bool) -> Result<AttrSpec, ModuleError> {
        let mode = match args.raw("mode") {
            None => None,
            Some(v) => Some(
                ModeSpec::parse(v, allow_preserve).map_err(|e| ModuleError::new(e.to_string()))?,
            ),
        };
        Ok(AttrSpec {
            mode,
            owner: args.str("owner")?,
            group: args.str("group")?,
        })
    }

    /// Replace `mode: preserve` with the permission bits of the controller file `src`
    /// (copy/template: the destination gets the source's mode).
    pub fn resolve_preserve(&mut self, src: &Path) -> Result<(), ModuleError> {
        if self.mode == Some(ModeSpec::Preserve) {
            let m = std::fs::metadata(src)
                .map_err(|e| ModuleError::new(format!("could not stat {}: {e}", src.display())))?;
            self.mode = Some(ModeSpec::Octal(m.permissions().mode() & 0o7777));
        }
        Ok(())
    }

    /// What would change on `st`; `umask` resolves symbolic modes without a class.
    pub fn changes(&self, st: &PathStat, umask: u32) -> AttrChanges {
        let mut ch = AttrChanges::default();
        if let Some(o) = &self.owner {
            if !names_match(o, &st.owner, st.uid) {
                ch.owner = Some((st.owner.clone(), o.clone()));
            }
        }
        if let Some(g) = &self.group {
            if !names_match(g, &st.group, st.gid) {
                ch.group = Some((st.group.clone(), g.clone()));
            }
        }
        // chmod on a symlink changes its target; Linux has no lchmod, so links keep their mode.
        if let Some(m) = &self.mode {
            if st.kind != PathKind::Link {
                let want = m.resolve(st.mode, st.kind == PathKind::Directory, umask);
                if want != st.mode {
                    ch.mode = Some((st.mode, want));
                }
            }
        }
        ch
    }
}

/// `owner`/`group` may be a name or a numeric id.
fn names_match(want: &str, name: &str, id: u32) -> bool {
    if !want.is_empty() && want.bytes().all(|b| b.is_ascii_digit()) {
        want.parse::<u32>().map(|w| w == id).unwrap_or(false)
    } else {
        want == name
    }
}

/// Differences between the requested and the current attributes: (before, after) pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttrChanges {
    pub owner: Option<(String, String)>,
    pub group: Option<(String, String)>,
    pub mode: Option<(u32, u32)>,
}

impl AttrChanges {
    pub fn is_empty(&self) -> bool {
        self.owner.is_none() && self.group.is_none() && self.mode.is_none()
    }

    /// sh commands applying the changes to `path` (`-h`: act on a symlink itself). Each failure
    /// exits with [`RC_CHOWN`]/[`RC_CHGRP`]/[`RC_CHMOD`].
    pub fn shell(&self, path: &str, no_deref: bool) -> String {
        let q = sh_quote(path);
        let h = if no_deref { "-h " } else { "" };
        let mut s = String::new();
        if let Some((_, o)) = &self.owner {
            s.push_str(&format!(
                "chown {h}{} {q} || exit {RC_CHOWN}\n",
                sh_quote(o)
            ));
        }
        if let Some((_, g)) = &self.group {
            s.push_str(&format!(
                "chgrp {h}{} {q} || exit {RC_CHGRP}\n",
                sh_quote(g)
            ));
        }
        if let Some((_, m)) = &self.mode {
            s.push_str(&format!("chmod {:o} {q} || exit {RC_CHMOD}\n", m));
        }
        s
    }

    /// The changes as the agent applies them (the "after" values).
    pub fn to_agent(&self) -> kplay_engine::agent::Attrs {
        kplay_engine::agent::Attrs {
            owner: self.owner.as_ref().map(|(_, o)| o.clone()),
            group: self.group.as_ref().map(|(_, g)| g.clone()),
            mode: self.mode.map(|(_, m)| m),
        }
    }

    /// Add `owner`/`group`/`mode` entries to a diff's `before`/`after` dicts.
    pub fn add_to_diff(&self, before: &mut Map, after: &mut Map) {
        if let Some((b, a)) = &self.owner {
            before.insert("owner".into(), Value::String(b.clone()));
            after.insert("owner".into(), Value::String(a.clone()));
        }
        if let Some((b, a)) = &self.group {
            before.insert("group".into(), Value::String(b.clone()));
            after.insert("group".into(), Value::String(a.clone()));
        }
        if let Some((b, a)) = &self.mode {
            before.insert("mode".into(), Value::String(format_mode(*b)));
            after.insert("mode".into(), Value::String(format_mode(*a)));
        }
    }
}

/// Turn a failed attribute command's exit code into Ansible's message, if it is one of ours.
pub fn attr_failure(rc: i32, stderr: &str) -> Option<String> {
    let what = match rc {
        RC_CHOWN => "chown failed",
        RC_CHGRP => "chgrp failed",
        RC_CHMOD => "chmod failed",
        _ => return None,
    };
    Some(format!("{what}: {}", stderr.trim()))
}

/// Ansible's message for a failed agent step that is an attribute change, if it is one.
pub fn agent_attr_failure(step: kplay_engine::agent::FailedStep, message: &str) -> Option<String> {
    use kplay_engine::agent::FailedStep;
    let what = match step {
        FailedStep::Chown => "chown failed",
        FailedStep::Chgrp => "chgrp failed",
        FailedStep::Chmod => "chmod failed",
        _ => return None,
    };
    Some(format!("{what}: {message}"))
}

/// The `state` word Ansible uses for a path kind.
pub fn state_name(kind: PathKind) -> &'static str {
    match kind {
        PathKind::Absent => "absent",
        PathKind::Directory => "directory",
        PathKind::Link => "link",
        _ => "file",
    }
}

/// Ansible's `add_path_info`: the keys every file module reports about the path it touched.
pub fn path_info(st: &PathStat, result: &mut Map) {
    if !st.exists() {
        result.insert("state".into(), Value::String("absent".into()));
        return;
    }
    result.insert("uid".into(), st.uid.into());
    result.insert("gid".into(), st.gid.into());
    result.insert("owner".into(), Value::String(st.owner.clone()));
    result.insert("group".into(), Value::String(st.group.clone()));
    result.insert("mode".into(), Value::String(format_mode(st.mode)));
    let state = if st.kind == PathKind::File && st.nlink > 1 {
        "hard"
    } else {
        state_name(st.kind)
    };
    result.insert("state".into(), Value::String(state.into()));
    result.insert("size".into(), st.size.into());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::probe::HostInfo;

    fn host() -> HostInfo {
        HostInfo {
            uid: 1000,
            gid: 1000,
            user: "me".into(),
            group: "us".into(),
            umask: 0o022,
        }
    }

    #[test]
    fn matching_attributes_produce_no_changes() {
        let st = PathStat::new_by("/x", PathKind::File, &host());
        let spec = AttrSpec {
            mode: Some(ModeSpec::Octal(0o644)),
            owner: Some("me".into()),
            group: Some("1000".into()),
        };
        assert!(spec.changes(&st, 0o022).is_empty());
    }

    #[test]
    fn differing_mode_and_owner_are_reported_before_and_after() {
        let st = PathStat::new_by("/x", PathKind::File, &host());
        let spec = AttrSpec {
            mode: Some(ModeSpec::Octal(0o600)),
            owner: Some("root".into()),
            group: None,
        };
        let ch = spec.changes(&st, 0o022);
        assert_eq!(ch.mode, Some((0o644, 0o600)));
        assert_eq!(ch.owner, Some(("me".into(), "root".into())));
        let (mut b, mut a) = (Map::new(), Map::new());
        ch.add_to_diff(&mut b, &mut a);
        assert_eq!(b["mode"], "0644");
        assert_eq!(a["mode"], "0600");
        assert!(ch.shell("/x", false).contains("chmod 600 /x"));
    }

    #[test]
    fn mode_of_a_symlink_is_left_alone() {
        let st = PathStat::new_by("/x", PathKind::Link, &host());
        let spec = AttrSpec {
            mode: Some(ModeSpec::Octal(0o600)),
            ..Default::default()
        };
        assert!(spec.changes(&st, 0o022).is_empty());
    }

    #[test]
    fn preserve_takes_the_mode_of_the_source_file() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("s");
        std::fs::write(&src, "x").unwrap();
        std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o4751)).unwrap();
        let mut spec = AttrSpec {
            mode: Some(ModeSpec::Preserve),
            ..Default::default()
        };
        spec.resolve_preserve(&src).unwrap();
        assert_eq!(spec.mode, Some(ModeSpec::Octal(0o4751)));
    }

    #[test]
    fn preserve_of_a_missing_source_is_an_error_and_other_modes_are_kept() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("nope");
        let mut preserve = AttrSpec {
            mode: Some(ModeSpec::Preserve),
            ..Default::default()
        };
        assert!(preserve
            .resolve_preserve(&missing)
            .unwrap_err()
            .msg
            .starts_with("could not stat "));
        let mut octal = AttrSpec {
            mode: Some(ModeSpec::Octal(0o600)),
            ..Default::default()
        };
        octal.resolve_preserve(&missing).unwrap();
        assert_eq!(octal.mode, Some(ModeSpec::Octal(0o600)));
    }

    #[test]
    fn attr_failure_names_the_command() {
        assert_eq!(
            attr_failure(RC_CHOWN, "no such user\n").as_deref(),
            Some("chown failed: no such user")
        );
        assert_eq!(attr_failure(1, ""), None);
    }
}

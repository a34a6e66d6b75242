//! `recurse=yes`: owner, group and mode for everything below a directory. `query` lists the
//! distinct (owner, group, mode, kind) combinations found in the tree (one `find`, deduplicated
//! on the host, so a large tree of alike files answers in a few lines); `plan` decides from
//! them, without the host, which attributes differ; `apply` runs one fix per differing one.

use crate::common::attrs::AttrSpec;
use crate::common::mode::ModeSpec;
use crate::common::probe::PathKind;
use kplay_engine::module::ModuleError;
use kplay_engine::transport::sh_quote;

/// One distinct combination of attributes found below the directory (itself included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    pub uid: u32,
    pub gid: u32,
    pub owner: String,
    pub group: String,
    pub mode: u32,
    pub kind: PathKind,
}

/// sh printing `uid gid mode(octal) rawmode(hex) owner group` once per distinct combination.
pub fn listing_script(root: &str) -> String {
    format!(
        "LC_ALL=C find {} -exec stat -c '%u %g %a %f %U %G' {{}} + | sort -u\n",
        sh_quote(root)
    )
}

/// Read [`listing_script`]'s output.
pub fn parse_listing(out: &str) -> Result<Vec<TreeEntry>, ModuleError> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            parse_line(l).ok_or_else(|| {
                ModuleError::new(format!(
                    "unexpected reply from the host while listing the tree: {l}"
                ))
            })
        })
        .collect()
}

fn parse_line(line: &str) -> Option<TreeEntry> {
    let mut w = line.split(' ');
    let uid = w.next()?.parse().ok()?;
    let gid = w.next()?.parse().ok()?;
    let mode = u32::from_str_radix(w.next()?, 8).ok()?;
    let raw = u32::from_str_radix(w.next()?, 16).ok()?;
    Some(TreeEntry {
        uid,
        gid,
        mode: mode & 0o7777,
        kind: PathKind::from_raw(raw),
        owner: w.next()?.to_string(),
        group: w.next()?.to_string(),
    })
}

/// Which of the requested attributes differ somewhere in the tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeChanges {
    pub owner: bool,
    pub group: bool,
    pub mode: bool,
}

/// Compare every entry with what is asked (links keep their mode: Linux cannot change it).
pub fn plan_tree(spec: &AttrSpec, entries: &[TreeEntry], umask: u32) -> TreeChanges {
    let mut ch = TreeChanges::default();
    for e in entries {
        let st = crate::common::probe::PathStat {
            kind: e.kind,
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
            owner: e.owner.clone(),
            group: e.group.clone(),
            ..crate::common::probe::PathStat::absent("")
        };
        let c = spec.changes(&st, umask);
        ch.owner |= c.owner.is_some();
        ch.group |= c.group.is_some();
        ch.mode |= c.mode.is_some();
    }
    ch
}

/// sh applying the differing attributes to the whole tree below `root`.
pub fn fix_script(spec: &AttrSpec, ch: &TreeChanges, root: &str) -> String {
    let q = sh_quote(root);
    let mut s = String::new();
    match &spec.owner {
        Some(o) if ch.owner => s.push_str(&format!("chown -R {} {q}\n", sh_quote(o))),
        _ => {}
    }
    match &spec.group {
        Some(g) if ch.group => s.push_str(&format!("chgrp -R {} {q}\n", sh_quote(g))),
        _ => {}
    }
    match &spec.mode {
        Some(m) if ch.mode => s.push_str(&format!(
            "find {q} ! -type l -exec chmod {} {{}} +\n",
            sh_quote(&chmod_text(m))
        )),
        _ => {}
    }
    s
}

/// `chmod`'s spelling of a mode: its symbolic syntax is the same as Ansible's.
fn chmod_text(spec: &ModeSpec) -> String {
    match spec {
        ModeSpec::Symbolic(c) => c
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(","),
        ModeSpec::Octal(m) => format!("{m:o}"),
        ModeSpec::Preserve => String::new(),
    }
}

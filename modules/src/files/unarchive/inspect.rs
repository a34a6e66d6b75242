//! `unarchive`'s look at the archive and the destination (one round trip) and the pure
//! judgements on it: members leaving `dest`, `tar --diff` noise, attributes to fix.

use super::{Format, UnarchiveArgs, RC_CREATES, RC_LIST, RC_NOT_DIR, RC_NO_SRC, RC_NO_UNZIP};
use crate::common::probe::PathStat;
use kplay_engine::transport::sh_quote;

/// The inspect snippet: checks, format, member list (`L`), differences (`X`), member attributes
/// (`A`), all in one round trip.
pub fn inspect_script(a: &UnarchiveArgs, archive: &str) -> String {
    let mut s = format!(
        "LC_ALL=C; export LC_ALL\na={}; d={}\n",
        sh_quote(archive),
        sh_quote(&a.dest)
    );
    if let Some(c) = &a.creates {
        s.push_str(&format!("[ -e {} ] && exit {RC_CREATES}\n", sh_quote(c)));
    }
    s.push_str(&format!(
        "[ -d \"$d\" ] || exit {RC_NOT_DIR}\n[ -r \"$a\" ] || exit {RC_NO_SRC}\n"
    ));
    s.push_str("l=$(mktemp \"${TMPDIR:-/tmp}/.kplay-ua-list.XXXXXX\") || exit 1\ntrap 'rm -f \"$l\"' EXIT\n");
    s.push_str("printf 'U %s\\n' \"$(id -u)\"\nm=$(od -An -tx1 -N6 \"$a\" | tr -d ' \\n'); printf 'F %s\\n' \"$m\"\n");
    s.push_str(&format!(
        "case $m in 504b0304*|504b0506*) command -v unzip >/dev/null 2>&1 || exit {RC_NO_UNZIP}\n\
         unzip -Z1 \"$a\"{inc} > \"$l\" || exit {RC_LIST}\n\
         unzip -l \"$a\"{inc} | awk 'NR > 3 && NF >= 4 && $1 ~ /^[0-9]+$/ {{ s = $1; $1 = \"\"; $2 = \"\"; $3 = \"\"; sub(/^ +/, \"\"); print s \"\\t\" $0 }}' |\n\
         while IFS='\t' read -r sz n; do case $n in */) [ -d \"$d/$n\" ] || printf 'X %s: missing directory\\n' \"$n\";; *) if [ ! -f \"$d/$n\" ]; then printf 'X %s: missing\\n' \"$n\"; elif [ \"$(stat -c %s \"$d/$n\")\" != \"$sz\" ]; then printf 'X %s: Size differs\\n' \"$n\"; fi;; esac; done ;;\n",
        inc = UnarchiveArgs::quoted(&a.include)
    ));
    let tar = |fmt: Format| {
        format!(
            "tar -t{o} -f \"$a\"{inc} > \"$l\" || exit {RC_LIST}\n\
             tar -d{o} -C \"$d\" -f \"$a\"{inc} 2>&1 | sed 's/^/X /' ;;\n",
            o = a.tar_opts(fmt),
            inc = UnarchiveArgs::quoted(&a.include)
        )
    };
    s.push_str(&format!("  1f8b*) {}", tar(Format::TarGz)));
    s.push_str(&format!("  425a68*) {}", tar(Format::TarBz2)));
    s.push_str(&format!("  fd377a585a00*) {}", tar(Format::TarXz)));
    s.push_str(&format!("  28b52ffd*) {}", tar(Format::TarZst)));
    s.push_str(&format!("  *) {}esac\n", tar(Format::Tar)));
    s.push_str("sed 's/^/L /' \"$l\"\n");
    // Links and their targets, to refuse any that point outside `dest`.
    s.push_str(&format!(
        "case $m in 504b0304*|504b0506*) unzip -Z \"$a\"{inc} 2>/dev/null | awk '/^l/ {{ for (i = 1; i <= 8; i++) $i = \"\"; sub(/^ +/, \"\"); print }}' |\n\
         while IFS= read -r n; do printf 'Z %s\\t%s\\n' \"$n\" \"$(unzip -p \"$a\" \"$n\" 2>/dev/null | head -c 4096)\"; done ;;\n\
         *) tar -tv{o} -f \"$a\"{inc} 2>/dev/null | grep '^[lh]' | sed 's/^/K /' ;;\nesac\n",
        inc = UnarchiveArgs::quoted(&a.include),
        o = a.tar_opts(Format::from_magic(""))
    ));
    if a.attrs.mode.is_some() || a.attrs.owner.is_some() || a.attrs.group.is_some() {
        s.push_str("while IFS= read -r n; do [ -e \"$d/$n\" ] && printf 'A %s\\t%s\\n' \"$(stat -c '%f %u %g %U %G' -- \"$d/$n\")\" \"$n\"; done < \"$l\"\n");
    }
    s.push_str("exit 0\n");
    s
}

/// The parsed inspect reply.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inspect {
    pub uid: u32,
    pub magic: String,
    pub files: Vec<String>,
    pub diffs: Vec<String>,
    /// (raw mode, uid, gid, user, group, member)
    pub attrs: Vec<(u32, u32, u32, String, String, String)>,
    /// (member, target, hard link) of the archive's links.
    pub links: Vec<(String, String, bool)>,
}

/// Whether `path`, taken from `start` levels below `dest`, climbs out of `dest` (lexically).
fn climbs_out(path: &str, start: usize) -> bool {
    if path.starts_with('/') {
        return true;
    }
    let mut depth = start as i64;
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => depth += 1,
        }
    }
    false
}

/// The first member that would be written, or point, outside `dest`: an absolute name, one
/// with `..`, a symlink whose target leaves `dest`, a hard link to a file outside it.
pub fn escaping_member(ins: &Inspect) -> Option<String> {
    if let Some(n) = ins.files.iter().find(|n| climbs_out(n, 0)) {
        return Some(format!("'{n}' is outside the destination"));
    }
    for (name, target, hard) in &ins.links {
        // A symlink's target is relative to the link's directory; a hard link's to the root.
        let dir_depth = if *hard {
            0
        } else {
            name.trim_end_matches('/').matches('/').count()
        };
        if climbs_out(name, 0) || climbs_out(target, dir_depth) {
            return Some(format!(
                "'{name}' links to '{target}', outside the destination"
            ));
        }
    }
    None
}

pub fn parse_inspect(out: &str) -> Inspect {
    let mut r = Inspect::default();
    for line in out.lines() {
        let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
        match tag {
            "U" => r.uid = rest.trim().parse().unwrap_or(0),
            "F" => r.magic = rest.trim().to_string(),
            "L" => r.files.push(rest.to_string()),
            "K" => {
                // `tar -tv`: perms owner size date time name (-> target | link to target)
                let f: Vec<&str> = rest.splitn(6, char::is_whitespace).collect();
                let mut rest = rest;
                for _ in 0..5 {
                    rest = rest.trim_start();
                    rest = rest.split_once(char::is_whitespace).map_or("", |x| x.1);
                }
                let rest = rest.trim_start();
                let hard = f.first().is_some_and(|p| p.starts_with('h'));
                let sep = if hard { " link to " } else { " -> " };
                if let Some((name, target)) = rest.split_once(sep) {
                    r.links.push((name.to_string(), target.to_string(), hard));
                }
            }
            "Z" => {
                if let Some((name, target)) = rest.split_once('\t') {
                    r.links.push((name.to_string(), target.to_string(), false));
                }
            }
            "X" => r.diffs.push(rest.to_string()),
            "A" => {
                if let Some((st, name)) = rest.split_once('\t') {
                    let f: Vec<&str> = st.split(' ').collect();
                    if f.len() == 5 {
                        let raw = u32::from_str_radix(f[0], 16).unwrap_or(0);
                        r.attrs.push((
                            raw,
                            f[1].parse().unwrap_or(0),
                            f[2].parse().unwrap_or(0),
                            f[3].into(),
                            f[4].into(),
                            name.into(),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    r
}

/// Whether `tar --diff`/zip comparison lines mean the archive is not fully unpacked, with
/// Ansible's filtering: owner noise only counts for root without `owner`/`group`, mode noise
/// only without `mode`.
pub fn relevant_diffs<'a>(diffs: &'a [String], a: &UnarchiveArgs, uid: u32) -> Vec<&'a String> {
    diffs
        .iter()
        .filter(|l| {
            if l.contains("Uid differs") {
                return uid == 0 && a.attrs.owner.is_none();
            }
            if l.contains("Gid differs") {
                return uid == 0 && a.attrs.group.is_none();
            }
            if l.contains("Mode differs") {
                return a.attrs.mode.is_none();
            }
            !l.trim().is_empty() && !l.contains("Removing leading")
        })
        .collect()
}

/// Members whose mode/owner/group differ from the request, and the fixing sh.
pub fn attr_fixes(a: &UnarchiveArgs, ins: &Inspect, dest: &str) -> (bool, String) {
    let mut differ = false;
    let mut sh = String::new();
    for (raw, uid, gid, user, group, name) in &ins.attrs {
        let st = PathStat {
            kind: crate::common::probe::PathKind::File,
            mode: raw & 0o7777,
            uid: *uid,
            gid: *gid,
            owner: user.clone(),
            group: group.clone(),
            ..PathStat::absent(name)
        };
        let is_dir = raw & 0o170000 == 0o040000;
        let mut st = st;
        if is_dir {
            st.kind = crate::common::probe::PathKind::Directory;
        }
        if raw & 0o170000 == 0o120000 {
            continue;
        }
        let ch = a.attrs.changes(&st, 0o022);
        if !ch.is_empty() {
            differ = true;
            sh.push_str(&ch.shell(&format!("{}/{}", dest.trim_end_matches('/'), name), false));
        }
    }
    (differ, sh)
}

//! The host side of `archive`: glob expansion (query), building and removing (apply).

use super::layout::{Format, Layout};
use super::{step_failed, ArchiveArgs, Kind, Seen};
use crate::common::run_sh;
use kplay_engine::module::{ModuleContext, ModuleError};
use kplay_engine::transport::sh_quote;

/// sh printing `TAG\tKIND\tPATH\0` for each of `paths` (wildcards expanded as Python's
/// `glob.glob` does: no match, no path), KIND `d` directory, `e` exists, `m` missing.
fn expand_part(tag: char, paths: &[String]) -> String {
    let mut s = String::new();
    for p in paths {
        let q = sh_quote(p);
        if p.contains(['*', '?']) {
            s.push_str(&format!(
                "for m in {}; do [ -e \"$m\" ] || [ -L \"$m\" ] || continue; k \"$m\" {tag}; done\n",
                glob_word(p)
            ));
        } else {
            s.push_str(&format!("k {q} {tag}\n"));
        }
    }
    s
}

/// `p` as an unquoted sh word whose only special characters are `*` and `?`: every other
/// character is backslash-escaped.
fn glob_word(p: &str) -> String {
    p.chars()
        .map(|c| match c {
            '*' | '?' => c.to_string(),
            c if c.is_ascii_alphanumeric() || "/._-".contains(c) => c.to_string(),
            '\n' => "'\n'".to_string(),
            c => format!("\\{c}"),
        })
        .collect()
}

/// The expansion script of `query`.
pub fn expand(paths: &[String], excludes: &[String]) -> String {
    let mut s = String::from(
        "set +f\nk() { if [ -d \"$1\" ]; then t=d; elif [ -e \"$1\" ] || [ -L \"$1\" ]; then t=e; else t=m; fi; printf '%s\\t%s\\t%s\\0' \"$2\" \"$t\" \"$1\"; }\n",
    );
    s.push_str(&expand_part('P', paths));
    s.push_str(&expand_part('X', excludes));
    s
}

/// The expansion's reply.
pub fn parse_expansion(out: &[u8]) -> Seen {
    let mut seen = Seen::default();
    for rec in out.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let rec = String::from_utf8_lossy(rec);
        let mut f = rec.splitn(3, '\t');
        let (Some(tag), Some(kind), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let kind = match kind {
            "d" => Kind::Dir,
            "e" => Kind::Other,
            _ => Kind::Missing,
        };
        seen.kinds.insert(path.to_string(), kind);
        match tag {
            "P" => seen.expanded.push(path.to_string()),
            _ => seen.excluded.push(path.to_string()),
        }
    }
    seen
}

/// The sh lines that write the archive (or compressed file) to `"$tmp"`.
pub fn make_lines(a: &ArchiveArgs, l: &Layout, targets: &[String]) -> String {
    let rel = |p: &String| p.strip_prefix(&l.root).unwrap_or(p).to_string();
    let rels: String = targets
        .iter()
        .map(|p| format!(" {}", sh_quote(&rel(p))))
        .collect();
    let root = if l.root.is_empty() {
        "."
    } else {
        l.root.as_str()
    };
    let pats = &a.exclusion_patterns;
    match a.format {
        f if !l.must_archive && f.compresses_alone() => {
            format!("{} < {} > \"$tmp\"", f.compressor(), sh_quote(&targets[0]))
        }
        Format::Zip => {
            let ex: String = pats.iter().map(|e| format!(" {}", sh_quote(e))).collect();
            let ex = if ex.is_empty() {
                ex
            } else {
                format!(" -x{ex}")
            };
            format!(
                "command -v zip >/dev/null || {{ echo 'format zip needs zip on the host' >&2; exit 127; }}\n\
                 cd {} && rm -f \"$tmp\" && zip -q -X -r \"$tmp\"{rels}{ex}",
                sh_quote(root)
            )
        }
        f => {
            let ex: String = pats
                .iter()
                .map(|e| format!(" --exclude={}", sh_quote(e)))
                .collect();
            format!(
                "cd {} && tar --sort=name --format=gnu{ex} -cf - --{rels} | {} > \"$tmp\"",
                sh_quote(root),
                f.compressor()
            )
        }
    }
}

/// What building left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// `dest` got new bytes.
    pub changed: bool,
    /// The paths stored (Ansible's `archived`).
    pub archived: Vec<String>,
}

/// Build into a temp file beside `dest`, replace `dest` only when the bytes differ, and list
/// what it holds.
pub async fn build(
    ctx: &ModuleContext<'_>,
    a: &ArchiveArgs,
    l: &Layout,
    targets: &[String],
) -> Result<Built, ModuleError> {
    let dq = sh_quote(&l.dest);
    let ddir = sh_quote(&crate::common::remote_dirname(&l.dest));
    let single = !l.must_archive && a.format.compresses_alone();
    let list = match a.format {
        _ if single => ":".to_string(),
        Format::Zip => format!("unzip -Z1 {dq} 2>/dev/null | sed 's/^/M /'"),
        f => format!("tar -t {} -f {dq} | sed 's/^/M /'", f.tar_read_flag()),
    };
    let script = format!(
        "set -e\ntmp=$(mktemp {ddir}/.kplay-archive.XXXXXX)\ntrap 'rm -f \"$tmp\"' EXIT\n( {} )\n\
         if [ -e {dq} ] && cmp -s \"$tmp\" {dq}; then echo same; else chmod 0644 \"$tmp\"; [ ! -e {dq} ] || chmod --reference={dq} \"$tmp\"; mv -f \"$tmp\" {dq}; echo changed; fi\n{list}\n",
        make_lines(a, l, targets)
    );
    let out = run_sh(ctx, script, None).await?;
    if out.rc != 0 {
        let what = match a.format {
            _ if single => "compressed file".to_string(),
            Format::Zip | Format::Tar => format!("{} archive", a.format.as_str()),
            Format::Zstd => "tar.zst archive".to_string(),
            f => format!("tar.{} archive", f.as_str()),
        };
        let msg = format!(
            "Error when writing {what} at {}: {}",
            l.dest,
            out.stderr_str().trim()
        );
        return Err(step_failed(msg, &out));
    }
    let stdout = out.stdout_str();
    let archived = if single {
        targets.to_vec()
    } else {
        members(&stdout, &l.root, targets)
    };
    Ok(Built {
        changed: stdout.lines().next() == Some("changed"),
        archived,
    })
}

/// The listed members as host paths, without the directories given as `path` themselves
/// (Ansible walks into them without adding them).
pub fn members(listing: &str, root: &str, targets: &[String]) -> Vec<String> {
    listing
        .lines()
        .filter_map(|l| l.strip_prefix("M "))
        .filter_map(|m| {
            let p = format!("{root}{}", m.trim_end_matches('/'));
            (!(m.ends_with('/') && targets.contains(&p))).then_some(p)
        })
        .collect()
}

/// `remove`: the sources go.
pub async fn remove(ctx: &ModuleContext<'_>, targets: &[String]) -> Result<(), ModuleError> {
    let srcs: String = targets
        .iter()
        .map(|p| format!(" {}", sh_quote(p)))
        .collect();
    let out = run_sh(ctx, format!("rm -rf --{srcs}"), None).await?;
    if out.rc != 0 {
        let msg = format!(
            "Error deleting some source files: {}",
            out.stderr_str().trim()
        );
        return Err(step_failed(msg, &out));
    }
    Ok(())
}

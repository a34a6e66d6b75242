//! `archive` (community.general.archive): pack `path`s on the host into `dest` with the host's
//! tar and gzip/bzip2/xz (or zip), or compress a single file. The archive is built
//! reproducibly (names sorted, no gzip time stamp) into a temp file beside `dest` and only
//! replaces it when its bytes differ, so a rerun over unchanged sources reports no change.
//! Paths are relative to their common directory (`arcroot`), as Ansible stores them;
//! `exclude_path` leaves paths out, `remove` deletes the sources afterwards. Check mode
//! predicts from times: a missing `dest`, or a source newer than it, is a change.

use crate::common::args::{p, Param, Spec, FILE_COMMON};
use crate::common::reads::failure;
use crate::common::run_sh;
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};

const PARAMS: &[Param] = &[
    p("path", &[])
        .list()
        .required()
        .doc("Files or directories to pack (no globs)."),
    p("dest", &[])
        .path()
        .doc("The archive; default for a single path: that path plus the format's extension."),
    p("format", &[])
        .choices(&["bz2", "gz", "tar", "xz", "zip"])
        .default_str("gz")
        .doc("Compression / archive format."),
    p("exclude_path", &[]).list().doc("Paths to leave out."),
    p("exclusion_patterns", &[])
        .list()
        .doc("Glob patterns (tar's `--exclude`) of names to leave out."),
    p("force_archive", &[])
        .flag(false)
        .doc("Make an archive even for a single file."),
    p("remove", &[])
        .flag(false)
        .doc("Remove the sources after archiving."),
];

/// `archive`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "archive",
    "Creates a compressed archive of one or more files or trees",
    &[PARAMS, FILE_COMMON],
);

/// The directory every path lies in (with a trailing `/`).
pub fn arcroot(paths: &[String]) -> String {
    let dirs: Vec<Vec<&str>> = paths
        .iter()
        .map(|p| {
            let t = p.trim_end_matches('/');
            let parent = &t[..t.rfind('/').unwrap_or(0)];
            parent.split('/').collect()
        })
        .collect();
    let Some(first) = dirs.first() else {
        return "/".into();
    };
    let mut n = first.len();
    for d in &dirs[1..] {
        n = n.min(first.iter().zip(d).take_while(|(a, b)| a == b).count());
    }
    let root = first[..n].join("/");
    if root.is_empty() {
        "/".into()
    } else {
        format!("{root}/")
    }
}

pub struct ArchiveModule;

#[async_trait]
impl Module for ArchiveModule {
    fn name(&self) -> &'static str {
        "archive"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        let paths: Vec<String> = a
            .list("path")
            .into_iter()
            .map(|p| p.trim_end_matches('/').to_string())
            .filter(|p| !p.is_empty())
            .collect();
        let fmt = a.required_str("format")?;
        let excludes = a.list("exclude_path");
        // Which paths exist (and are files) on the host.
        let mut probe = String::new();
        for p in &paths {
            probe.push_str(&format!("if [ -d {q} ]; then printf 'd\\0'; elif [ -e {q} ]; then printf 'f\\0'; else printf 'm\\0'; fi\n", q = sh_quote(p)));
        }
        let out = run_sh(ctx, probe, None).await?;
        let kinds: Vec<String> = out
            .stdout_str()
            .split('\0')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let mut present = Vec::new();
        let mut missing = Vec::new();
        for (p, k) in paths.iter().zip(kinds.iter()) {
            if excludes.contains(p) {
                continue;
            }
            if k == "m" {
                missing.push(Value::String(p.clone()));
            } else {
                present.push((p.clone(), k.clone()));
            }
        }
        let single_file = present.len() == 1
            && paths.len() == 1
            && present[0].1 == "f"
            && !a.flag("force_archive")
            && !matches!(fmt.as_str(), "zip" | "tar");
        let ext = match (fmt.as_str(), single_file) {
            ("zip", _) => "zip",
            ("tar", _) => "tar",
            (f, true) => f,
            (f, false) => match f {
                "gz" => "tar.gz",
                "bz2" => "tar.bz2",
                _ => "tar.xz",
            },
        };
        let dest = match a.str("dest")? {
            Some(d) => d,
            None if paths.len() == 1 => format!("{}.{ext}", paths[0]),
            None => {
                return Err(ModuleError::new(
                    "Error, must specify \"dest\" when archiving multiple files or trees",
                ))
            }
        };
        if present.is_empty() {
            return Err(ModuleError::with_result(
                format!("Error, no source paths were found: {}", paths.join(", ")),
                ModuleResult::new(false)
                    .set("missing", Value::Array(missing))
                    .into_map(),
            ));
        }
        let root = arcroot(&present.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>());
        let rels: Vec<String> = present
            .iter()
            .map(|(p, _)| p.strip_prefix(&root).unwrap_or(p).to_string())
            .collect();
        let dq = sh_quote(&dest);
        let mut r = ModuleResult::new(false)
            .set("dest", dest.clone())
            .set("arcroot", root.clone())
            .set("missing", Value::Array(missing.clone()))
            .set(
                "expanded_paths",
                Value::Array(
                    present
                        .iter()
                        .map(|(p, _)| Value::String(p.clone()))
                        .collect(),
                ),
            )
            .set(
                "state",
                if single_file {
                    "compress"
                } else if missing.is_empty() {
                    "archive"
                } else {
                    "incomplete"
                },
            )
            .set(
                "archived",
                Value::Array(
                    present
                        .iter()
                        .map(|(p, _)| Value::String(p.clone()))
                        .collect(),
                ),
            );
        let srcs: String = present
            .iter()
            .map(|(p, _)| format!(" {}", sh_quote(p)))
            .collect();
        if ctx.check_mode {
            let out = run_sh(ctx, format!("[ -e {dq} ] || {{ echo new; exit 0; }}; find{srcs} -newer {dq} 2>/dev/null | head -n 1"), None).await?;
            let changed = !out.stdout_str().trim().is_empty();
            return Ok(r.set("changed", changed));
        }
        let compress = match fmt.as_str() {
            "gz" => "gzip -n",
            "bz2" => "bzip2",
            "xz" => "xz",
            _ => "cat",
        };
        let mut ex = String::new();
        for e in &excludes {
            let rel = e.trim_end_matches('/').strip_prefix(&root).unwrap_or(e);
            ex.push_str(&format!(" --exclude={}", sh_quote(&format!("./{rel}"))));
            ex.push_str(&format!(" --exclude={}", sh_quote(rel)));
        }
        for pat in a.list("exclusion_patterns") {
            ex.push_str(&format!(" --exclude={}", sh_quote(&pat)));
        }
        let rel_args: String = rels.iter().map(|r| format!(" {}", sh_quote(r))).collect();
        let make = if single_file {
            format!("{compress} -c -- {} > \"$tmp\"", sh_quote(&present[0].0))
        } else if fmt == "zip" {
            format!("command -v zip >/dev/null || {{ echo 'archive: format zip needs zip on the host' >&2; exit 127; }}\ncd {} && rm -f \"$tmp\" && zip -q -X -r \"$tmp\"{rel_args}{}", sh_quote(&root), excludes.iter().map(|e| format!(" -x {}", sh_quote(&format!("{}*", e.strip_prefix(&root).unwrap_or(e))))).collect::<String>())
        } else {
            format!("cd {} && tar --sort=name --format=gnu{ex} -cf - --{rel_args} | {compress} > \"$tmp\"", sh_quote(&root))
        };
        let ddir = sh_quote(&crate::common::remote_dirname(&dest));
        let script = format!(
            "set -e\ntmp=$(mktemp {ddir}/.kplay-archive.XXXXXX)\ntrap 'rm -f \"$tmp\"' EXIT\n{make}\n\
             if [ -e {dq} ] && cmp -s \"$tmp\" {dq}; then echo same; else chmod 0644 \"$tmp\"; [ ! -e {dq} ] || chmod --reference={dq} \"$tmp\"; mv -f \"$tmp\" {dq}; echo changed; fi\n"
        );
        let out = run_sh(ctx, script, None).await?;
        let (o, e) = (out.stdout_str(), out.stderr_str());
        if out.rc != 0 {
            return Err(failure(
                format!("Error creating archive {dest}: {}", e.trim()),
                out.rc,
                &o,
                &e,
            ));
        }
        let mut changed = o.trim() == "changed";
        if a.flag("remove") {
            let out = run_sh(ctx, format!("rm -rf --{srcs}"), None).await?;
            if out.rc != 0 {
                return Err(failure(
                    format!("Unable to remove source files: {}", out.stderr_str().trim()),
                    out.rc,
                    &out.stdout_str(),
                    &out.stderr_str(),
                ));
            }
            changed = true;
        }
        // mode/owner/group, through the file module's rules.
        if a.has("mode") || a.has("owner") || a.has("group") {
            let mut fa = Map::new();
            fa.insert("path".into(), Value::String(dest.clone()));
            for k in ["mode", "owner", "group"] {
                if let Some(v) = a.raw(k) {
                    fa.insert(k.into(), v.clone());
                }
            }
            let fr = crate::file::FileModule.run(ctx, fa).await?;
            changed |= fr.changed;
        }
        r.insert("changed", changed);
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;
    use std::process::Command;

    #[test]
    fn arcroot_is_the_common_directory() {
        assert_eq!(arcroot(&["/a/b/c".into()]), "/a/b/");
        assert_eq!(arcroot(&["/a/b/c".into(), "/a/d".into()]), "/a/");
        assert_eq!(arcroot(&["/x".into(), "/y/z".into()]), "/");
    }

    crate::testutil::both_paths! {
    async fn packs_a_tree_reproducibly_and_compresses_a_single_file() {
        let d = tempfile::tempdir().expect("tempdir");
        let t = d.path().join("data");
        std::fs::create_dir_all(t.join("sub")).expect("mkdir");
        std::fs::write(t.join("a.txt"), "alpha\n").expect("w");
        std::fs::write(t.join("sub/b.txt"), "beta\n").expect("w");
        std::fs::write(t.join("skip.log"), "x\n").expect("w");
        let env = TestEnv::new(d.path());
        let dest = d.path().join("data.tgz").to_string_lossy().into_owned();
        let a = json!({"path": t.to_string_lossy(), "dest": dest, "exclusion_patterns": ["*.log"]});
        let r = ArchiveModule.run(&ctx(&env, true, false), args(a.clone())).await.map(|r| r.into_map()).expect("check");
        assert_eq!(r["changed"], json!(true));
        assert!(!std::path::Path::new(&dest).exists());
        let r = ArchiveModule.run(&ctx(&env, false, false), args(a.clone())).await.map(|r| r.into_map()).expect("archive");
        assert_eq!((r["changed"].clone(), r["state"].clone()), (json!(true), json!("archive")));
        let list = Command::new("tar").args(["-tzf", &dest]).output().expect("tar");
        let names = String::from_utf8_lossy(&list.stdout).into_owned();
        assert!(names.contains("data/sub/b.txt") && names.contains("data/a.txt") && !names.contains("skip.log"), "{names}");
        let r = ArchiveModule.run(&ctx(&env, false, false), args(a.clone())).await.map(|r| r.into_map()).expect("again");
        assert_eq!(r["changed"], json!(false), "{r:?}");
        let r = ArchiveModule.run(&ctx(&env, true, false), args(a)).await.map(|r| r.into_map()).expect("check again");
        assert_eq!(r["changed"], json!(false));
        let f = t.join("a.txt").to_string_lossy().into_owned();
        let r = ArchiveModule.run(&ctx(&env, false, false), args(json!({"path": f, "remove": true}))).await.map(|r| r.into_map()).expect("gz");
        assert_eq!(r["state"], json!("compress"));
        let out = Command::new("gzip").args(["-dc", &format!("{f}.gz")]).output().expect("gzip");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "alpha\n");
        assert!(!t.join("a.txt").exists(), "remove: source gone");
        let e = ArchiveModule.run(&ctx(&env, false, false), args(json!({"path": [d.path().join("none").to_string_lossy()], "dest": dest}))).await.map(|r| r.into_map()).unwrap_err();
        assert!(e.msg.starts_with("Error, no source paths were found"), "{}", e.msg);
    }
    }
}

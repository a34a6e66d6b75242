//! `assemble` (ansible.builtin.assemble): one file made of the fragments in a directory, in
//! name order, as Ansible assembles them (a newline added after a fragment that lacks one, the
//! `delimiter` between fragments, escapes such as `\n` decoded, always followed by a newline;
//! `regexp` and `ignore_hidden` pick fragments). Fragments are on the host (`remote_src`, the
//! default) or on the controller; the result is written like the editing modules write
//! (backup, `validate`, mode/owner/group, check mode, diff) and only when it differs.

use crate::common::args::{p, Param, Spec, FILE_COMMON};
use crate::common::install::sha1_hex;
use crate::common::text::with_diff;
use crate::common::text::{commit, WriteOpts};
use crate::common::text::{read as probe, Found};
use async_trait::async_trait;
use kplay_engine::module::{FileKind, Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::Map;

const PARAMS: &[Param] = &[
    p("src", &[])
        .path()
        .required()
        .doc("Directory of fragments."),
    p("dest", &[]).path().required().doc("The file to build."),
    p("remote_src", &[])
        .flag(true)
        .doc("Fragments are on the host (true) or on the controller (false)."),
    p("delimiter", &[])
        .str()
        .doc("Text between fragments (escapes like `\\n` decoded; a newline always follows)."),
    p("regexp", &[])
        .str()
        .doc("Only fragments whose name matches (searched, Python `re`)."),
    p("ignore_hidden", &[])
        .flag(false)
        .doc("Skip fragments whose name starts with a dot."),
    p("backup", &[])
        .flag(false)
        .doc("Keep a timestamped copy of the old file."),
    p("validate", &[])
        .str()
        .doc("Command run on the new file (`%s`) before it replaces the old one."),
    p("decrypt", &[])
        .flag(true)
        .doc("Accepted (controller fragments are read as they are)."),
];

/// `assemble`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "assemble",
    "Assemble configuration files from fragments",
    &[PARAMS, FILE_COMMON],
);

/// Python's `codecs.escape_decode` for the escapes people write in a delimiter.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some('\'') => out.push('\''),
            Some('"') => out.push('"'),
            Some('0') => out.push('\0'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Join fragments (already filtered and sorted) the way Ansible's `assemble_from_fragments` does.
pub fn assemble(fragments: &[Vec<u8>], delimiter: Option<&str>) -> Vec<u8> {
    let delim = delimiter.filter(|d| !d.is_empty()).map(unescape);
    let mut out = Vec::new();
    let mut add_newline = false;
    for (i, f) in fragments.iter().enumerate() {
        if add_newline {
            out.push(b'\n');
        }
        if i > 0 {
            if let Some(d) = &delim {
                out.extend_from_slice(d.as_bytes());
                // Ansible compares a byte with a one-byte string here, which never matches under
                // Python 3, so a newline always follows the delimiter.
                out.push(b'\n');
            }
        }
        out.extend_from_slice(f);
        add_newline = !f.ends_with(b"\n");
    }
    out
}

pub struct AssembleModule;

#[async_trait]
impl Module for AssembleModule {
    fn name(&self) -> &'static str {
        "assemble"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        let src = a.required_str("src")?;
        let dest = a.required_str("dest")?;
        let opts = WriteOpts::from_args(&a)?;
        let re = match a.str("regexp")? {
            Some(r) => Some(
                fancy_regex::Regex::new(&r)
                    .map_err(|e| ModuleError::new(format!("Invalid Regexp ({e}) in \"{r}\"")))?,
            ),
            None => None,
        };
        let hidden_ok = !a.flag("ignore_hidden");
        let pick = |name: &str| {
            (hidden_ok || !name.starts_with('.'))
                && re
                    .as_ref()
                    .is_none_or(|r| r.is_match(name).unwrap_or(false))
        };
        let mut fragments: Vec<Vec<u8>> = Vec::new();
        if a.flag("remote_src") {
            let q = sh_quote(&src);
            let out = crate::common::run_sh(
                ctx,
                format!("if [ ! -d {q} ]; then printf 'Source (%s) is not a directory\\n' {q} >&2; exit 3; fi\ncd {q} && for f in * .[!.]* ..?*; do [ -f \"$f\" ] && printf '%s\\0' \"$f\"; done; exit 0"),
                None,
            )
            .await?;
            if out.rc != 0 {
                return Err(ModuleError::new(out.stderr_str().trim().to_string()));
            }
            let text = out.stdout_str();
            let mut names: Vec<&str> = text
                .split('\0')
                .filter(|n| !n.is_empty() && pick(n))
                .collect();
            names.sort_unstable();
            for n in names {
                let path = format!("{}/{n}", src.trim_end_matches('/'));
                let data = ctx
                    .transport
                    .fetch(&path, ctx.become_.as_ref())
                    .await?
                    .ok_or_else(|| ModuleError::new(format!("fragment {path} vanished")))?;
                fragments.push(data);
            }
        } else {
            let dir = ctx
                .env
                .find_file(FileKind::Files, &src)
                .filter(|p| p.is_dir())
                .ok_or_else(|| ModuleError::new(format!("Source ({src}) is not a directory")))?;
            let mut entries: Vec<(String, std::path::PathBuf)> = std::fs::read_dir(&dir)
                .map_err(|e| ModuleError::new(format!("reading {}: {e}", dir.display())))?
                .filter_map(|e| e.ok())
                .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
                .filter(|(n, p)| p.is_file() && pick(n))
                .collect();
            entries.sort();
            for (_, p) in entries {
                fragments.push(
                    std::fs::read(&p)
                        .map_err(|e| ModuleError::new(format!("reading {}: {e}", p.display())))?,
                );
            }
        }
        let new = assemble(&fragments, a.str("delimiter")?.as_deref());
        let new_text = String::from_utf8_lossy(&new).into_owned();
        let probed = probe(ctx, &dest).await?;
        let original = match &probed.found {
            Found::Directory => return Err(ModuleError::new(format!("{dest} is a directory"))),
            Found::Missing => None,
            Found::File { content, .. } => Some(content.clone()),
        };
        let differs = original.as_deref() != Some(new_text.as_str());
        let w = commit(
            ctx,
            &dest,
            &probed,
            differs.then_some(new_text.as_str()),
            &opts,
        )
        .await?;
        let mut r = ModuleResult::new(differs || w.attrs_changed)
            .set("dest", dest.clone())
            .set("checksum", sha1_hex(&new))
            .set("size", new.len() as u64);
        if let Some(b) = w.backup_file {
            r.insert("backup_file", b);
        }
        Ok(with_diff(
            ctx,
            r,
            &dest,
            original.as_deref().unwrap_or(""),
            &new_text,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;

    #[test]
    fn fragments_join_with_newlines_and_delimiters_like_ansible() {
        let f = |s: &str| s.as_bytes().to_vec();
        assert_eq!(assemble(&[f("a"), f("b\n")], None), b"a\nb\n");
        assert_eq!(
            assemble(&[f("a\n"), f("b\n")], Some("# --\\n")),
            b"a\n# --\n\nb\n"
        );
        assert_eq!(assemble(&[f("a\n"), f("b\n")], Some("##")), b"a\n##\nb\n");
    }

    crate::testutil::both_paths! {
    async fn host_fragments_in_name_order_written_once() {
        let d = tempfile::tempdir().expect("tempdir");
        let frag = d.path().join("conf.d");
        std::fs::create_dir(&frag).expect("mkdir");
        std::fs::write(frag.join("20-b"), "b\n").expect("w");
        std::fs::write(frag.join("10-a"), "a").expect("w");
        std::fs::write(frag.join(".hidden"), "h\n").expect("w");
        std::fs::write(frag.join("30-c.bak"), "c\n").expect("w");
        let env = TestEnv::new(d.path());
        let dest = d.path().join("out.conf").to_string_lossy().into_owned();
        let a = json!({"src": frag.to_string_lossy(), "dest": dest, "ignore_hidden": true, "regexp": "^[0-9]+-[a-z]$", "mode": "0640"});
        let r = AssembleModule.run(&ctx(&env, true, true), args(a.clone())).await.map(|r| r.into_map()).expect("check");
        assert_eq!(r["changed"], json!(true));
        assert_eq!(r["diff"][0]["after"], json!("a\nb\n"));
        assert!(!std::path::Path::new(&dest).exists());
        let r = AssembleModule.run(&ctx(&env, false, false), args(a.clone())).await.map(|r| r.into_map()).expect("run");
        assert_eq!(r["changed"], json!(true));
        assert_eq!(std::fs::read_to_string(&dest).expect("read"), "a\nb\n");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&dest).expect("stat").permissions().mode() & 0o777, 0o640);
        let r = AssembleModule.run(&ctx(&env, false, false), args(a)).await.map(|r| r.into_map()).expect("again");
        assert_eq!(r["changed"], json!(false));
        let e = AssembleModule.run(&ctx(&env, false, false), args(json!({"src": d.path().join("none").to_string_lossy(), "dest": dest}))).await.map(|r| r.into_map()).unwrap_err();
        assert!(e.msg.contains("is not a directory"), "{}", e.msg);
    }

    async fn controller_fragments_with_remote_src_false() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(d.path().join("frags")).expect("mkdir");
        std::fs::write(d.path().join("frags/1"), "one\n").expect("w");
        std::fs::write(d.path().join("frags/2"), "two\n").expect("w");
        let env = TestEnv::new(d.path());
        let dest = d.path().join("all").to_string_lossy().into_owned();
        let r = AssembleModule.run(&ctx(&env, false, false), args(json!({"src": "frags", "dest": dest, "remote_src": false, "delimiter": "---"}))).await.map(|r| r.into_map()).expect("run");
        assert_eq!(r["changed"], json!(true));
        assert_eq!(std::fs::read_to_string(&dest).expect("read"), "one\n---\ntwo\n");
    }
    }
}

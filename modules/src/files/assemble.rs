//! `assemble` (ansible.builtin.assemble): one file made of the fragments in a directory, in
//! name order, as Ansible assembles them (a newline added after a fragment that lacks one, the
//! `delimiter` between fragments, escapes such as `\n` decoded, always followed by a newline;
//! `regexp` and `ignore_hidden` pick fragments). Fragments are on the host (`remote_src`, the
//! default) or on the controller. `query` reads and joins them and probes `dest`; `plan` and
//! `apply` are the shared install pipeline's (backup, `validate`, mode/owner/group, diff),
//! writing only when the result differs.

use crate::common::reads::ensure_status;
use crate::common::args::{p, Param, Spec, FILE_COMMON};
use crate::common::attrs::AttrSpec;
use crate::common::install::{self, Install, Queried, Source, SourceSeen, Step};
use crate::common::text::edit_wording;
use crate::common::validate;
use crate::planned::{Plan, QueryPlanApply};
use async_trait::async_trait;
use kplay_engine::module::{FileKind, ModuleContext, ModuleError, ModuleResult};
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

/// Checked `assemble` arguments.
#[derive(Debug, Clone)]
pub struct AssembleArgs {
    pub src: String,
    pub dest: String,
    /// Fragments are on the host (true) or on the controller.
    pub remote_src: bool,
    pub delimiter: Option<String>,
    pub regexp: Option<fancy_regex::Regex>,
    pub ignore_hidden: bool,
    pub backup: bool,
    pub validate: Option<String>,
    pub attrs: AttrSpec,
}

impl AssembleArgs {
    /// Whether the fragment called `name` is used.
    fn picks(&self, name: &str) -> bool {
        (!self.ignore_hidden || !name.starts_with('.'))
            && self
                .regexp
                .as_ref()
                .is_none_or(|r| r.is_match(name).unwrap_or(false))
    }
}

/// What `query` found: the assembled file, probed at `dest`.
#[derive(Debug, Clone, PartialEq)]
pub struct AssembleSeen {
    pub file: Queried,
}

pub struct AssembleModule;

#[async_trait]
impl QueryPlanApply for AssembleModule {
    type Args = AssembleArgs;
    type Seen = AssembleSeen;
    type Changes = Step;

    fn name(&self) -> &'static str {
        "assemble"
    }

    /// ansible-core's action skips it in check mode ("does not support check mode").
    fn supports_check_mode(&self) -> bool {
        false
    }

    fn parse(&self, args: Map) -> Result<AssembleArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let regexp = match a.str("regexp")? {
            Some(r) => Some(
                fancy_regex::Regex::new(&r)
                    .map_err(|e| ModuleError::new(format!("Invalid Regexp ({e}) in \"{r}\"")))?,
            ),
            None => None,
        };
        Ok(AssembleArgs {
            src: a.required_str("src")?,
            dest: a.required_str("dest")?,
            remote_src: a.flag("remote_src"),
            delimiter: a.str("delimiter")?,
            regexp,
            ignore_hidden: a.flag("ignore_hidden"),
            backup: a.flag("backup"),
            validate: validate::from_args(&a)?,
            attrs: AttrSpec::from_args(&a, false)?,
        })
    }

    /// Read the fragments (host or controller), assemble them, probe `dest`.
    async fn query(
        &self,
        ctx: &ModuleContext<'_>,
        a: &AssembleArgs,
    ) -> Result<AssembleSeen, ModuleError> {
        let fragments = match a.remote_src {
            true => host_fragments(ctx, a).await?,
            false => controller_fragments(ctx, a)?,
        };
        let new = assemble(&fragments, a.delimiter.as_deref());
        let inst = Install {
            attrs: a.attrs.clone(),
            backup: a.backup,
            validate: a.validate.clone(),
            // The file a link points to is rewritten; the link stays.
            follow: true,
            ..Install::new(a.dest.as_str(), Source::Data(new))
        };
        let file = install::query(ctx, vec![inst])
            .await?
            .pop()
            .ok_or_else(|| ModuleError::new("the host reported nothing about dest"))?;
        Ok(AssembleSeen { file })
    }

    fn plan(a: &AssembleArgs, seen: &AssembleSeen) -> Result<Plan<Step>, ModuleError> {
        let mut p = install::plan(&seen.file)?;
        p.result.insert("src", a.src.as_str());
        p.result.insert("msg", "OK");
        if let SourceSeen::Controller { md5, .. } = &seen.file.seen.source {
            p.result.insert("md5sum", md5.as_str());
        }
        Ok(p)
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        _: &AssembleArgs,
        step: Step,
        result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        install::apply(ctx, step, result)
            .await
            .map_err(edit_wording)
    }
}

/// The fragments in `a.src` on the host, picked and in name order.
async fn host_fragments(
    ctx: &ModuleContext<'_>,
    a: &AssembleArgs,
) -> Result<Vec<Vec<u8>>, ModuleError> {
    let q = sh_quote(&a.src);
    let out = crate::common::run_sh(
        ctx,
        format!("if [ ! -d {q} ]; then printf 'Source (%s) is not a directory\\n' {q} >&2; exit 3; fi\ncd {q} && for f in * .[!.]* ..?*; do [ -f \"$f\" ] && printf '%s\\0' \"$f\"; done; exit 0"),
        None,
    )
    .await?;
    ensure_status(&out, str::to_string)?;
    let text = out.stdout_str();
    let mut names: Vec<&str> = text
        .split('\0')
        .filter(|n| !n.is_empty() && a.picks(n))
        .collect();
    names.sort_unstable();
    let mut fragments = Vec::with_capacity(names.len());
    for n in names {
        let path = format!("{}/{n}", a.src.trim_end_matches('/'));
        let data = ctx
            .transport
            .fetch(&path, ctx.become_.as_ref())
            .await?
            .ok_or_else(|| ModuleError::new(format!("fragment {path} vanished")))?;
        fragments.push(data);
    }
    Ok(fragments)
}

/// The fragments in `a.src` on the controller (`files/`), picked and in name order.
fn controller_fragments(
    ctx: &ModuleContext<'_>,
    a: &AssembleArgs,
) -> Result<Vec<Vec<u8>>, ModuleError> {
    let dir = ctx
        .env
        .find_file(FileKind::Files, &a.src)
        .filter(|p| p.is_dir())
        .ok_or_else(|| ModuleError::new(format!("Source ({}) is not a directory", a.src)))?;
    let mut entries: Vec<(String, std::path::PathBuf)> = std::fs::read_dir(&dir)
        .map_err(|e| ModuleError::new(format!("reading {}: {e}", dir.display())))?
        .filter_map(|e| e.ok())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(n, p)| p.is_file() && a.picks(n))
        .collect();
    entries.sort();
    entries
        .into_iter()
        .map(|(_, p)| {
            std::fs::read(&p).map_err(|e| ModuleError::new(format!("reading {}: {e}", p.display())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planned::Planned;
    use crate::testutil::{args, ctx, TestEnv};
    use kplay_engine::module::Module;
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
        assert!(!Planned(AssembleModule).supports_check_mode(), "ansible-core skips it in check mode");
        let r = Planned(AssembleModule).run(&ctx(&env, true, true), args(a.clone())).await.map(|r| r.into_map()).expect("check");
        assert_eq!(r["changed"], json!(true));
        assert_eq!(r["diff"][0]["after"], json!("a\nb\n"));
        assert!(!std::path::Path::new(&dest).exists());
        let r = Planned(AssembleModule).run(&ctx(&env, false, false), args(a.clone())).await.map(|r| r.into_map()).expect("run");
        assert_eq!(r["changed"], json!(true));
        assert_eq!(std::fs::read_to_string(&dest).expect("read"), "a\nb\n");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&dest).expect("stat").permissions().mode() & 0o777, 0o640);
        let r = Planned(AssembleModule).run(&ctx(&env, false, false), args(a)).await.map(|r| r.into_map()).expect("again");
        assert_eq!(r["changed"], json!(false));
        let e = Planned(AssembleModule).run(&ctx(&env, false, false), args(json!({"src": d.path().join("none").to_string_lossy(), "dest": dest}))).await.map(|r| r.into_map()).unwrap_err();
        assert!(e.msg.contains("is not a directory"), "{}", e.msg);
    }

    async fn controller_fragments_with_remote_src_false() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(d.path().join("frags")).expect("mkdir");
        std::fs::write(d.path().join("frags/1"), "one\n").expect("w");
        std::fs::write(d.path().join("frags/2"), "two\n").expect("w");
        let env = TestEnv::new(d.path());
        let dest = d.path().join("all").to_string_lossy().into_owned();
        let r = Planned(AssembleModule).run(&ctx(&env, false, false), args(json!({"src": "frags", "dest": dest, "remote_src": false, "delimiter": "---"}))).await.map(|r| r.into_map()).expect("run");
        assert_eq!(r["changed"], json!(true));
        assert_eq!(std::fs::read_to_string(&dest).expect("read"), "one\n---\ntwo\n");
    }
    }
}

//! `copy`: put `content` or a controller file (or a whole directory) at `dest`, or copy a file
//! already on the host (`remote_src`). One probe and at most one write per file.

use crate::common::args::{p, Param, Spec, FILE_COMMON};
use crate::common::attrs::AttrSpec;
use crate::common::install::{install_file, sha1_file, sha1_hex, Install, Source};
use crate::common::mode::ModeSpec;
use crate::common::{basename, join_remote, run_sh, validate};
use async_trait::async_trait;
use kplay_engine::module::{Diff, FileKind, Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};
use std::path::{Path, PathBuf};

const PARAMS: &[Param] = &[
    p("src", &[]).path().doc("Controller file or directory to copy (a trailing `/` copies the directory's contents); with `remote_src`, a path on the host."),
    p("content", &[]).doc("Text to write to `dest` instead of a file (a structure is written as JSON)."),
    p("dest", &[]).path().required().doc("Remote path to copy to; a directory when it ends with `/`."),
    p("backup", &[]).flag(false).doc("Keep a timestamped copy of the file being replaced."),
    p("force", &["thirsty"]).flag(true).doc("Replace a file whose content differs; false only creates missing files."),
    p("directory_mode", &[]).doc("Mode of directories created when copying a directory."),
    p("remote_src", &[]).flag(false).doc("`src` is on the host, not on the controller."),
    p("validate", &[]).str().doc("Command run on the temp file (`%s`) before it replaces `dest`."),
    p("follow", &[]).flag(false).doc("Follow a `dest` that is a symbolic link."),
    p("local_follow", &[]).flag(true).doc("Follow symbolic links in `src` on the controller."),
    p("decrypt", &[]).flag(true).doc("Decrypt vaulted source files (kplay always does)."),
    p("checksum", &[]).str().doc("SHA1 the copied file must have."),
    p("_original_basename", &[]).str().doc("Internal: the source's name, set by the action."),
];

/// `copy`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "copy",
    "Copy files to remote locations",
    &[PARAMS, FILE_COMMON],
)
.mutually_exclusive(&[&["content", "src"]]);

/// Where `copy` takes its content from.
#[derive(Debug, Clone, PartialEq)]
enum CopySource {
    Content(Vec<u8>),
    /// A controller file or directory (resolved path, name as given).
    Local(PathBuf, String),
    Remote(String),
}

/// Checked `copy` arguments.
#[derive(Debug, Clone, PartialEq)]
struct CopyArgs {
    dest: String,
    source: CopySource,
    attrs: AttrSpec,
    backup: bool,
    force: bool,
    follow: bool,
    validate: Option<String>,
    directory_mode: Option<ModeSpec>,
    checksum: Option<String>,
}

impl CopyArgs {
    fn parse(args: Map, ctx: &ModuleContext<'_>) -> Result<CopyArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let dest = a.str("dest")?.unwrap_or_default();
        let remote_src = a.flag("remote_src");
        let source = if let Some(c) = a.raw("content") {
            if dest.ends_with('/') {
                return Err(ModuleError::new("can not use content with a dir as dest"));
            }
            CopySource::Content(content_bytes(c))
        } else if let Some(src) = a.str("src")? {
            if remote_src {
                CopySource::Remote(src)
            } else {
                let path = ctx.env.find_file(FileKind::Files, &src).ok_or_else(|| {
                    ModuleError::new(format!(
                        "Could not find or access '{src}' on the Ansible Controller.\nIf you are using a module and expect the file to exist on the remote, see the remote_src option"
                    ))
                })?;
                CopySource::Local(path, src)
            }
        } else {
            return Err(ModuleError::new("src (or content) is required"));
        };
        let validate = validate::from_args(&a)?;
        let directory_mode = match a.raw("directory_mode") {
            Some(v) => {
                Some(ModeSpec::parse(v, false).map_err(|e| ModuleError::new(e.to_string()))?)
            }
            None => None,
        };
        let mut attrs = AttrSpec::from_args(&a, true)?;
        if attrs.mode == Some(ModeSpec::Preserve) && !matches!(source, CopySource::Local(..)) {
            attrs.mode = None;
        }
        Ok(CopyArgs {
            dest,
            source,
            attrs,
            backup: a.flag("backup"),
            force: a.flag("force"),
            follow: a.flag("follow"),
            validate,
            directory_mode,
            checksum: a.str("checksum")?,
        })
    }
}

/// `content` is text; a structure is written as JSON, as Ansible does.
fn content_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.clone().into_bytes(),
        Value::Array(_) | Value::Object(_) => v.to_string().into_bytes(),
        other => kplay_engine::value::to_display_string(other).into_bytes(),
    }
}

pub struct CopyModule;

#[async_trait]
impl Module for CopyModule {
    fn name(&self) -> &'static str {
        "copy"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = CopyArgs::parse(args, ctx)?;
        match &a.source {
            CopySource::Local(path, name) if path.is_dir() => copy_tree(ctx, &a, path, name).await,
            CopySource::Local(path, name) => {
                let mut attrs = a.attrs.clone();
                attrs.resolve_preserve(path)?;
                let r = copy_one(
                    ctx,
                    &a,
                    &a.dest,
                    Source::File(path),
                    Some(basename(name)),
                    attrs,
                    path.display().to_string(),
                )
                .await?;
                Ok(r.set("src", path.display().to_string()))
            }
            CopySource::Content(data) => {
                let r = copy_one(
                    ctx,
                    &a,
                    &a.dest,
                    Source::Data(data),
                    None,
                    a.attrs.clone(),
                    a.dest.clone(),
                )
                .await?;
                Ok(r)
            }
            CopySource::Remote(src) => {
                let r = copy_one(
                    ctx,
                    &a,
                    &a.dest,
                    Source::Remote(src),
                    Some(basename(src)),
                    a.attrs.clone(),
                    src.clone(),
                )
                .await?;
                Ok(r.set("src", src.as_str()))
            }
        }
    }
}

async fn copy_one(
    ctx: &ModuleContext<'_>,
    a: &CopyArgs,
    dest: &str,
    source: Source<'_>,
    basename: Option<String>,
    attrs: AttrSpec,
    after_header: String,
) -> Result<ModuleResult, ModuleError> {
    let have = match source {
        Source::Data(d) if a.checksum.is_some() => Some(sha1_hex(d)),
        Source::File(p) if a.checksum.is_some() => Some(sha1_file(p).await?),
        _ => None,
    };
    if let (Some(want), Some(have)) = (&a.checksum, have) {
        if &have != want {
            return Err(ModuleError::new(
                "Copied file does not match the expected checksum. Transfer failed.",
            ));
        }
    }
    let inst = Install {
        dest,
        source,
        basename,
        attrs,
        force: a.force,
        backup: a.backup,
        validate: a.validate.as_deref(),
        follow: a.follow,
        after_header,
        directory_mode: a.directory_mode.clone(),
    };
    install_file(ctx, &inst).await
}

/// A controller directory: `src/` copies its contents into `dest`, `src` copies the directory
/// itself into `dest`. Directories are created first (one round trip), then each file.
async fn copy_tree(
    ctx: &ModuleContext<'_>,
    a: &CopyArgs,
    root: &Path,
    name: &str,
) -> Result<ModuleResult, ModuleError> {
    let base = if name.ends_with('/') {
        a.dest.clone()
    } else {
        join_remote(&a.dest, &basename(name))
    };
    let mut dirs = vec![base.clone()];
    let mut files = Vec::new();
    walk_local(root, &base, &mut dirs, &mut files)?;
    let missing = ensure_dirs(ctx, &dirs, a.directory_mode.as_ref()).await?;
    let mut changed = !missing.is_empty();
    let mut diffs = Vec::new();
    for (local, remote) in &files {
        if ctx.check_mode && missing.iter().any(|m| remote.starts_with(&format!("{m}/"))) {
            changed = true;
            continue;
        }
        let mut attrs = a.attrs.clone();
        attrs.resolve_preserve(local)?;
        let r = copy_one(
            ctx,
            a,
            remote,
            Source::File(local),
            None,
            attrs,
            local.display().to_string(),
        )
        .await?;
        changed |= r.changed;
        if let Diff::Many(d) = r.diff {
            diffs.extend(d.into_iter().map(Value::Object));
        }
    }
    let mut r = ModuleResult::new(changed)
        .set("dest", a.dest.as_str())
        .set("src", root.display().to_string());
    if !diffs.is_empty() {
        r.insert("diff", Value::Array(diffs));
    }
    Ok(r)
}

/// Collect remote directory and (local file, remote file) pairs under `dir`, sorted.
fn walk_local(
    dir: &Path,
    remote: &str,
    dirs: &mut Vec<String>,
    files: &mut Vec<(PathBuf, String)>,
) -> Result<(), ModuleError> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| ModuleError::new(format!("could not read {}: {e}", dir.display())))?;
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let r = join_remote(remote, &name);
        if p.is_dir() {
            dirs.push(r.clone());
            walk_local(&p, &r, dirs, files)?;
        } else if p.is_file() {
            files.push((p, r));
        }
    }
    Ok(())
}

/// Create the missing directories (not in check mode) and return which were missing.
async fn ensure_dirs(
    ctx: &ModuleContext<'_>,
    dirs: &[String],
    mode: Option<&ModeSpec>,
) -> Result<Vec<String>, ModuleError> {
    let mut script = String::new();
    for d in dirs {
        let q = sh_quote(d);
        let make = if ctx.check_mode {
            String::new()
        } else {
            let chmod = match mode {
                Some(ModeSpec::Octal(m)) => format!(" && chmod {m:o} {q}"),
                _ => String::new(),
            };
            format!(" && mkdir -p {q}{chmod} || exit 1")
        };
        script.push_str(&format!(
            "if [ ! -d {q} ]; then printf '%s\\n' {q}{make}; fi\n"
        ));
    }
    let out = run_sh(ctx, script, None).await?;
    if out.rc != 0 {
        return Err(ModuleError::new(format!(
            "could not create directories: {}",
            out.stderr_str().trim()
        )));
    }
    Ok(out.stdout_str().lines().map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::snapshot::{snapshot, temp_leftovers};
    use crate::testutil::HostFx;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    fn fx() -> HostFx {
        HostFx::new(&CopyModule, "files")
    }

    crate::testutil::both_paths! {
    async fn content_is_written_then_idempotent() {
        let fx = fx();
        let dest = fx.host("f");
        let r = fx
            .run(false, false, json!({"content": "hi\n", "dest": dest}))
            .await
            .unwrap();
        assert_eq!(r["changed"], true);
        assert_eq!(r["checksum"], sha1_hex(b"hi\n"));
        assert_eq!(r["size"], 3);
        assert_eq!(r["state"], "file");
        assert_eq!(std::fs::read(&dest).unwrap(), b"hi\n");
        let r2 = fx
            .run(false, false, json!({"content": "hi\n", "dest": dest}))
            .await
            .unwrap();
        assert_eq!(r2["changed"], false);
        assert!(temp_leftovers(&fx.host_root()).is_empty());
    }
    }

    crate::testutil::both_paths! {
    async fn check_mode_reports_change_and_touches_nothing() {
        let fx = fx();
        std::fs::write(fx.host("f"), "old\n").unwrap();
        let before = snapshot(&fx.host_root());
        let r = fx
            .run(
                true,
                true,
                json!({"content": "new\n", "dest": fx.host("f"), "mode": "0600"}),
            )
            .await
            .unwrap();
        assert_eq!(r["changed"], true);
        assert_eq!(snapshot(&fx.host_root()), before);
        let r = fx
            .run(true, false, json!({"content": "x", "dest": fx.host("new")}))
            .await
            .unwrap();
        assert_eq!(r["changed"], true);
        assert_eq!(snapshot(&fx.host_root()), before);
    }
    }

    crate::testutil::both_paths! {
    async fn diff_has_before_and_after_with_headers() {
        let fx = fx();
        std::fs::write(fx.host("f"), "old\n").unwrap();
        let r = fx
            .run(
                false,
                true,
                json!({"content": "new\n", "dest": fx.host("f")}),
            )
            .await
            .unwrap();
        let d = &r["diff"][0];
        assert_eq!(d["before"], "old\n");
        assert_eq!(d["after"], "new\n");
        assert_eq!(d["before_header"], fx.host("f"));
        assert_eq!(d["after_header"], fx.host("f"));
    }
    }

    crate::testutil::both_paths! {
    async fn mode_is_applied_and_changing_only_mode_is_a_change() {
        let fx = fx();
        let dest = fx.host("f");
        let r = fx
            .run(
                false,
                false,
                json!({"content": "x", "dest": dest, "mode": "0640"}),
            )
            .await
            .unwrap();
        assert_eq!(r["mode"], "0640");
        assert_eq!(
            std::fs::metadata(&dest).unwrap().permissions().mode() & 0o7777,
            0o640
        );
        let r = fx
            .run(
                false,
                true,
                json!({"content": "x", "dest": dest, "mode": "u+x"}),
            )
            .await
            .unwrap();
        assert_eq!(r["changed"], true);
        assert_eq!(r["mode"], "0740");
        assert_eq!(r["diff"][0]["after"]["mode"], "0740");
        assert_eq!(
            std::fs::metadata(&dest).unwrap().permissions().mode() & 0o7777,
            0o740
        );
    }
    }

    crate::testutil::both_paths! {
    async fn owner_and_group_by_current_name_are_unchanged() {
        let fx = fx();
        let dest = fx.host("f");
        let r = fx
            .run(false, false, json!({"content": "x", "dest": dest}))
            .await
            .unwrap();
        let (o, g) = (r["owner"].clone(), r["group"].clone());
        let r = fx
            .run(
                false,
                false,
                json!({"content": "x", "dest": dest, "owner": o, "group": g}),
            )
            .await
            .unwrap();
        assert_eq!(r["changed"], false);
    }
    }

    crate::testutil::both_paths! {
    async fn unknown_owner_fails_with_chown_message() {
        let fx = fx();
        let e = fx
            .run(
                false,
                false,
                json!({"content": "x", "dest": fx.host("f"), "owner": "no-such-user-kplay"}),
            )
            .await
            .unwrap_err();
        assert!(e.msg.starts_with("chown failed"), "{}", e.msg);
        assert!(temp_leftovers(&fx.host_root()).is_empty());
    }
    }

    crate::testutil::both_paths! {
    async fn src_file_into_directory_dest_uses_basename() {
        let fx = fx();
        std::fs::write(fx.dir.path().join("files/app.conf"), "a=1\n").unwrap();
        let r = fx
            .run(
                false,
                false,
                json!({"src": "app.conf", "dest": fx.host("")}),
            )
            .await
            .unwrap();
        assert_eq!(r["dest"], fx.host("app.conf"));
        assert_eq!(std::fs::read(fx.host("app.conf")).unwrap(), b"a=1\n");
    }
    }

    crate::testutil::both_paths! {
    async fn binary_src_round_trips_exactly() {
        let fx = fx();
        let data: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        std::fs::write(fx.dir.path().join("files/blob"), &data).unwrap();
        fx.run(false, true, json!({"src": "blob", "dest": fx.host("blob")}))
            .await
            .unwrap();
        assert_eq!(std::fs::read(fx.host("blob")).unwrap(), data);
    }
    }

    crate::testutil::both_paths! {
    async fn force_false_keeps_existing_file() {
        let fx = fx();
        std::fs::write(fx.host("f"), "mine").unwrap();
        let r = fx
            .run(
                false,
                false,
                json!({"content": "theirs", "dest": fx.host("f"), "force": "no"}),
            )
            .await
            .unwrap();
        assert_eq!(r["changed"], false);
        assert_eq!(std::fs::read(fx.host("f")).unwrap(), b"mine");
    }
    }

    crate::testutil::both_paths! {
    async fn backup_keeps_old_content() {
        let fx = fx();
        std::fs::write(fx.host("f"), "old").unwrap();
        let r = fx
            .run(
                false,
                false,
                json!({"content": "new", "dest": fx.host("f"), "backup": true}),
            )
            .await
            .unwrap();
        let b = r["backup_file"].as_str().unwrap();
        assert!(b.starts_with(&format!("{}.", fx.host("f"))));
        assert_eq!(std::fs::read(b).unwrap(), b"old");
    }
    }

    crate::testutil::both_paths! {
    async fn failing_validate_keeps_destination() {
        let fx = fx();
        std::fs::write(fx.host("f"), "old").unwrap();
        let e = fx
            .run(
                false,
                false,
                json!({"content": "new", "dest": fx.host("f"), "validate": "false %s"}),
            )
            .await
            .unwrap_err();
        assert_eq!(e.msg, "failed to validate");
        assert_eq!(std::fs::read(fx.host("f")).unwrap(), b"old");
        assert!(temp_leftovers(&fx.host_root()).is_empty());
    }
    }

    crate::testutil::both_paths! {
    async fn missing_parent_directory_is_an_error() {
        let fx = fx();
        let e = fx
            .run(
                false,
                false,
                json!({"content": "x", "dest": fx.host("no/f")}),
            )
            .await
            .unwrap_err();
        assert_eq!(
            e.msg,
            format!("Destination directory {} does not exist", fx.host("no"))
        );
    }
    }

    crate::testutil::both_paths! {
    async fn directory_src_copies_recursively_and_trailing_slash_copies_contents() {
        let fx = fx();
        std::fs::create_dir_all(fx.dir.path().join("files/tree/sub")).unwrap();
        std::fs::write(fx.dir.path().join("files/tree/a"), "A").unwrap();
        std::fs::write(fx.dir.path().join("files/tree/sub/b"), "B").unwrap();
        let before = snapshot(&fx.host_root());
        let r = fx
            .run(true, false, json!({"src": "tree", "dest": fx.host("")}))
            .await
            .unwrap();
        assert_eq!(r["changed"], true);
        assert_eq!(snapshot(&fx.host_root()), before);
        let r = fx
            .run(false, false, json!({"src": "tree", "dest": fx.host("")}))
            .await
            .unwrap();
        assert_eq!(r["changed"], true);
        assert_eq!(std::fs::read(fx.host("tree/sub/b")).unwrap(), b"B");
        let r = fx
            .run(false, false, json!({"src": "tree", "dest": fx.host("")}))
            .await
            .unwrap();
        assert_eq!(r["changed"], false);
        fx.run(
            false,
            false,
            json!({"src": "tree/", "dest": fx.host("flat")}),
        )
        .await
        .unwrap();
        assert_eq!(std::fs::read(fx.host("flat/a")).unwrap(), b"A");
    }
    }

    crate::testutil::both_paths! {
    async fn remote_src_copies_on_the_host() {
        let fx = fx();
        std::fs::write(fx.host("orig"), "R").unwrap();
        let r = fx
            .run(
                false,
                false,
                json!({"src": fx.host("orig"), "remote_src": true, "dest": fx.host("copy")}),
            )
            .await
            .unwrap();
        assert_eq!(r["changed"], true);
        assert_eq!(std::fs::read(fx.host("copy")).unwrap(), b"R");
        let r = fx
            .run(
                false,
                false,
                json!({"src": fx.host("orig"), "remote_src": true, "dest": fx.host("copy")}),
            )
            .await
            .unwrap();
        assert_eq!(r["changed"], false);
    }
    }

    crate::testutil::both_paths! {
    async fn bad_arguments_are_rejected_before_touching_the_host() {
        let fx = fx();
        let before = snapshot(&fx.host_root());
        let dest = fx.host("f");
        let cases = [
            (
                json!({"content": "x", "dest": dest, "foo": 1}),
                "Unsupported parameters for (copy) module: foo.",
            ),
            (json!({"content": "x"}), "missing required arguments: dest"),
            (
                json!({"content": "x", "src": "y", "dest": dest}),
                "parameters are mutually exclusive: content|src",
            ),
            (json!({"dest": dest}), "src (or content) is required"),
            (
                json!({"content": "x", "dest": dest, "mode": "bogus"}),
                "bad symbolic permission for mode: bogus",
            ),
            (
                json!({"content": "x", "dest": dest, "validate": "true"}),
                "validate must contain %s: true",
            ),
            (
                json!({"src": "nope", "dest": dest}),
                "Could not find or access 'nope'",
            ),
            (
                json!({"content": "x", "dest": format!("{dest}/")}),
                "can not use content with a dir as dest",
            ),
        ];
        for (a, want) in cases {
            let e = fx.run(false, false, a).await.unwrap_err();
            assert!(e.msg.starts_with(want), "{} vs {want}", e.msg);
        }
        assert_eq!(snapshot(&fx.host_root()), before);
    }
    }
}

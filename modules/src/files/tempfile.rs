//! `tempfile` (ansible.builtin.tempfile): a new temporary file or directory on the host, only
//! its creator may use (0600 / 0700, as `mktemp` makes them), named `PREFIX` + random +
//! `SUFFIX` in `path` (default: the host's `$TMPDIR`, else /tmp). Always `changed`; like
//! Ansible's it does not run under `--check` (the engine skips it).
//!
//! Not query→plan→apply: its effect IS the action, a new randomly named file each run; there
//! is no state on the host to compare with.

use crate::common::args::{p, Param, Spec};
use crate::common::reads::ensure_ok;
use crate::common::run_sh;
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::Map;

const PARAMS: &[Param] = &[
    p("state", &[])
        .choices(&["directory", "file"])
        .default_str("file")
        .doc("Create a file or a directory."),
    p("path", &[])
        .path()
        .doc("Where to create it; default the host's temporary directory."),
    p("prefix", &[])
        .str()
        .default_str("ansible.")
        .doc("Start of the name."),
    p("suffix", &[])
        .str()
        .default_str("")
        .doc("End of the name."),
];

/// `tempfile`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "tempfile",
    "Creates temporary files and directories",
    &[PARAMS],
);

pub struct TempfileModule;

#[async_trait]
impl Module for TempfileModule {
    fn name(&self) -> &'static str {
        "tempfile"
    }

    fn supports_check_mode(&self) -> bool {
        false
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        let dir = a.required_str("state")? == "directory";
        let prefix = a.str("prefix")?.unwrap_or_default();
        let suffix = a.str("suffix")?.unwrap_or_default();
        if prefix.contains('/') || suffix.contains('/') {
            return Err(ModuleError::new("prefix and suffix may not contain '/'"));
        }
        let base = match a.str("path")? {
            Some(p) => sh_quote(&p),
            None => "\"${TMPDIR:-/tmp}\"".to_string(),
        };
        let script = format!(
            "umask 077; mktemp {}-p {base} --suffix={} {}",
            if dir { "-d " } else { "" },
            sh_quote(&suffix),
            sh_quote(&format!("{prefix}XXXXXXXX"))
        );
        let out = run_sh(ctx, script, None).await?;
        ensure_ok(&out, |_, e| {
            format!(
                "creating the temporary {} failed: {}",
                if dir { "directory" } else { "file" },
                e.trim()
            )
        })?;
        // Ansible's result is `changed` and `path`, nothing more.
        Ok(ModuleResult::new(true).set("path", out.stdout_str().trim_end_matches('\n')))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    crate::testutil::both_paths! {
    async fn creates_owner_only_files_and_directories_with_prefix_and_suffix() {
        let d = tempfile::tempdir().expect("tempdir");
        let env = TestEnv::new(d.path());
        let base = d.path().to_string_lossy().into_owned();
        let r = TempfileModule
            .run(&ctx(&env, false, false), args(json!({"path": base, "prefix": "kp.", "suffix": ".conf"})))
            .await.map(|r| r.into_map())
            .expect("tempfile");
        assert_eq!(r["changed"], json!(true));
        assert!(!r.contains_key("state"), "Ansible returns only changed and path");
        let p = std::path::PathBuf::from(r["path"].as_str().expect("path"));
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        assert!(name.starts_with("kp.") && name.ends_with(".conf") && name.len() == 3 + 8 + 5, "{name}");
        assert!(p.is_file());
        assert_eq!(std::fs::metadata(&p).expect("stat").permissions().mode() & 0o777, 0o600);
        let r = TempfileModule
            .run(&ctx(&env, false, false), args(json!({"path": base, "state": "directory"})))
            .await.map(|r| r.into_map())
            .expect("tempfile");
        let p = std::path::PathBuf::from(r["path"].as_str().expect("path"));
        assert!(p.is_dir() && p.starts_with(d.path()));
        assert_eq!(std::fs::metadata(&p).expect("stat").permissions().mode() & 0o777, 0o700);
        let e = TempfileModule
            .run(&ctx(&env, false, false), args(json!({"path": format!("{base}/missing")})))
            .await.map(|r| r.into_map())
            .unwrap_err();
        assert!(e.msg.contains("creating the temporary file failed"), "{}", e.msg);
    }
    }
}

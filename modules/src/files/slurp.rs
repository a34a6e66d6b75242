//! `slurp`: read a file on the host and return it base64-encoded. One round trip; never changes
//! anything, so check mode behaves the same.

use crate::common::args::{p, Param, Spec};
use crate::common::run_sh;
use async_trait::async_trait;
use base64::Engine;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::Map;

const PARAMS: &[Param] = &[p("src", &["path"])
    .path()
    .required()
    .doc("The file on the remote system to fetch.")];

/// `slurp`'s declared arguments.
pub static SPEC: Spec = Spec::new("slurp", "Slurps a file from remote nodes", &[PARAMS]);

/// Exit codes of the read snippet, one per Ansible failure message.
const RC_MISSING: i32 = 3;
const RC_DIR: i32 = 4;
const RC_UNREADABLE: i32 = 5;

/// The snippet that prints the file, or exits with a code naming why it cannot.
fn read_script(src: &str) -> String {
    let q = sh_quote(src);
    format!(
        "[ -e {q} ] || exit {RC_MISSING}; [ -d {q} ] && exit {RC_DIR}; [ -r {q} ] || exit {RC_UNREADABLE}; cat -- {q}"
    )
}

/// Ansible's message for a snippet exit code.
fn failure(rc: i32, src: &str, stderr: &str) -> String {
    match rc {
        RC_MISSING => format!("file not found: {src}"),
        RC_DIR => format!("source is a directory and must be a file: {src}"),
        RC_UNREADABLE => format!("file is not readable: {src}"),
        _ => format!("unable to slurp file: {}", stderr.trim()),
    }
}

/// Not query → plan → apply ([`crate::planned`]): Only reads a file from the host: nothing to plan or change.
pub struct SlurpModule;

#[async_trait]
impl Module for SlurpModule {
    fn name(&self) -> &'static str {
        "slurp"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        let src = a.str("src")?.unwrap_or_default();
        let out = run_sh(ctx, read_script(&src), None).await?;
        if out.rc != 0 {
            return Err(ModuleError::new(failure(out.rc, &src, &out.stderr_str())));
        }
        let content = base64::engine::general_purpose::STANDARD.encode(&out.stdout);
        Ok(ModuleResult::new(false)
            .set("content", content)
            .set("encoding", "base64")
            .set("source", src))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;

    crate::testutil::both_paths! {
    async fn binary_file_comes_back_base64_encoded() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, b"a\0b\n").unwrap();
        let env = TestEnv::new(d.path());
        let r = SlurpModule
            .run(
                &ctx(&env, false, false),
                args(json!({"path": f.to_str().unwrap()})),
            )
            .await
            .unwrap().into_map();
        assert_eq!(r["content"], "YQBiCg==");
        assert_eq!(r["encoding"], "base64");
        assert_eq!(r["source"], f.to_str().unwrap());
        assert_eq!(r["changed"], false);
    }
    }

    crate::testutil::both_paths! {
    async fn missing_file_fails_with_ansible_message() {
        let d = tempfile::tempdir().unwrap();
        let env = TestEnv::new(d.path());
        let f = d.path().join("nope");
        let e = SlurpModule
            .run(
                &ctx(&env, false, false),
                args(json!({"src": f.to_str().unwrap()})),
            )
            .await
            .unwrap_err();
        assert_eq!(e.msg, format!("file not found: {}", f.display()));
    }
    }

    crate::testutil::both_paths! {
    async fn directory_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let env = TestEnv::new(d.path());
        let e = SlurpModule
            .run(
                &ctx(&env, true, false),
                args(json!({"src": d.path().to_str().unwrap()})),
            )
            .await
            .unwrap_err();
        assert!(e
            .msg
            .starts_with("source is a directory and must be a file"));
    }
    }

    #[test]
    fn src_is_required() {
        assert_eq!(
            SPEC.parse(Map::new()).unwrap_err().msg,
            "missing required arguments: src"
        );
    }
}

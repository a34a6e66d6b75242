//! Test scaffolding for the editing modules: a file in a temp dir, one module run, the result
//! and the file's content afterwards.

use crate::testutil::{args, ctx, TestEnv};
use kplay_engine::module::{Module, ModuleError};
use kplay_engine::value::Map;
use std::path::PathBuf;

/// A temp dir holding (maybe) one file `f` with the given content.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Fixture {
    pub fn new(content: Option<&str>) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        if let Some(c) = content {
            std::fs::write(&path, c).expect("write fixture");
        }
        Fixture { dir, path }
    }

    pub fn path_str(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }

    /// The file's content now (None when it does not exist).
    pub fn content(&self) -> Option<String> {
        std::fs::read_to_string(&self.path).ok()
    }

    /// Run `module` with `extra` args plus `path` pointing at the fixture file.
    pub async fn run(
        &self,
        module: &dyn Module,
        extra: serde_json::Value,
        check: bool,
        diff: bool,
    ) -> Result<Map, ModuleError> {
        let env = TestEnv::new(self.dir.path());
        let mut a = args(extra);
        a.entry("path")
            .or_insert_with(|| serde_json::Value::String(self.path_str()));
        module
            .run(&ctx(&env, check, diff), a)
            .await
            .map(kplay_engine::module::ModuleResult::into_map)
    }

    /// Run and expect success.
    pub async fn ok(&self, module: &dyn Module, extra: serde_json::Value) -> Map {
        self.run(module, extra, false, false)
            .await
            .expect("module run")
    }
}

/// `result["changed"]`.
pub fn changed(r: &Map) -> bool {
    r.get("changed").and_then(|v| v.as_bool()).unwrap_or(false)
}

/// `result["msg"]`.
pub fn msg(r: &Map) -> String {
    r.get("msg")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

//! Test helpers: a `TaskEnv` that needs no engine, and a context on the local transport.

use kplay_engine::module::{FileKind, Module, ModuleContext, ModuleError, TaskEnv};
use kplay_engine::transport::local::LocalTransport;
use kplay_engine::value::{Map, Value};
use std::path::{Path, PathBuf};

/// Renders `{{ name }}` placeholders from a fixed map (enough to test modules without the
/// engine's templar) and finds files under `files_dir`.
pub struct TestEnv {
    pub vars: Map,
    pub files_dir: PathBuf,
}

impl TestEnv {
    pub fn new(files_dir: &Path) -> Self {
        TestEnv {
            vars: Map::new(),
            files_dir: files_dir.to_path_buf(),
        }
    }
}

impl TaskEnv for TestEnv {
    fn render_template_text(&self, text: &str, _src: &Path) -> Result<String, String> {
        let mut out = text.to_string();
        for (k, v) in &self.vars {
            let s = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out = out.replace(&format!("{{{{ {k} }}}}"), &s);
        }
        Ok(out)
    }
    fn eval_expr(&self, expr: &str) -> Result<Value, String> {
        self.vars
            .get(expr.trim())
            .cloned()
            .ok_or_else(|| format!("'{}' is undefined", expr.trim()))
    }
    fn eval_condition(&self, expr: &str) -> Result<bool, String> {
        match expr.trim() {
            "true" | "True" => Ok(true),
            "false" | "False" => Ok(false),
            e => Ok(kplay_engine::value::truthy(&self.eval_expr(e)?)),
        }
    }
    fn find_file(&self, _kind: FileKind, name: &str) -> Option<PathBuf> {
        let p = Path::new(name);
        if p.is_absolute() {
            return p.exists().then(|| p.to_path_buf());
        }
        let c = self.files_dir.join(name);
        c.exists().then_some(c)
    }
}

pub static LOCAL: LocalTransport = LocalTransport::with_agent(true);
/// The local transport without the agent: every module takes its sh path, as on a host where
/// kplay's agent cannot run (or `KPLAY_NO_AGENT=1`).
pub static LOCAL_SH: LocalTransport = LocalTransport::with_agent(false);

thread_local! {
    /// Which path [`ctx`] gives this test: the agent's (default) or the sh scripts'.
    static AGENT_PATH: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

/// Make [`ctx`] on this thread use the agent path (`true`) or the sh path (`false`);
/// [`both_paths!`] calls it before each copy of a test.
pub fn set_agent_path(on: bool) {
    AGENT_PATH.with(|a| a.set(on));
}

/// Define module tests twice, `NAME::agent` on the agent path and `NAME::sh` on the sh path,
/// so `cargo test` alone covers both ways a module reaches a host (as ripgrep runs its tests
/// on both regex engines). The tests run on tokio's current-thread runtime, so the path set
/// here is the one every `ctx` in the body sees.
macro_rules! both_paths {
    ($($(#[$meta:meta])* async fn $name:ident() $body:block)*) => {
        $(
            $(#[$meta])*
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[tokio::test]
                async fn agent() {
                    $crate::testutil::set_agent_path(true);
                    $body
                }

                #[tokio::test]
                async fn sh() {
                    $crate::testutil::set_agent_path(false);
                    $body
                }
            }
        )*
    };
}
pub(crate) use both_paths;

/// A context on the local machine; `check`/`diff` as given.
pub fn ctx<'a>(env: &'a TestEnv, check: bool, diff: bool) -> ModuleContext<'a> {
    let transport: &'static LocalTransport = if AGENT_PATH.with(|a| a.get()) {
        &LOCAL
    } else {
        &LOCAL_SH
    };
    ModuleContext {
        host: "localhost",
        transport,
        check_mode: check,
        diff,
        become_: None,
        environment: vec![],
        env,
        delegation: None,
    }
}

/// Build an args map from JSON.
pub fn args(v: serde_json::Value) -> Map {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A temp dir with a controller side (`<files>/`, where `src` is looked up) and a host side
/// (`host/`, where modules write), and one module to run against them: the fixture of the
/// file-installing modules' tests.
pub struct HostFx {
    pub dir: tempfile::TempDir,
    pub env: TestEnv,
    module: &'static dyn Module,
}

impl HostFx {
    /// Empty `<files>/` and `host/` directories for `module`.
    pub fn new(module: &'static dyn Module, files: &str) -> HostFx {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(files)).unwrap();
        std::fs::create_dir(dir.path().join("host")).unwrap();
        let env = TestEnv::new(&dir.path().join(files));
        HostFx { dir, env, module }
    }

    /// A path on the host side.
    pub fn host(&self, rel: &str) -> String {
        self.host_root().join(rel).to_string_lossy().into_owned()
    }

    pub fn host_root(&self) -> PathBuf {
        self.dir.path().join("host")
    }

    /// Run the module with `check`/`diff` as given.
    pub async fn run(&self, check: bool, diff: bool, a: Value) -> Result<Map, ModuleError> {
        self.module
            .run(&ctx(&self.env, check, diff), args(a))
            .await
            .map(kplay_engine::module::ModuleResult::into_map)
    }
}

// --- The editing modules' scaffolding: a file in a temp dir, one module run, the result
// and the file's content afterwards.

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The two copies `both_paths!` makes really take different paths: only the agent one has
    /// an agent to answer.
    #[tokio::test]
    async fn agent_path_has_an_agent_and_sh_path_has_none() {
        let env = TestEnv::new(Path::new("/"));
        let hello = kplay_engine::agent::Request::Hello;
        set_agent_path(false);
        let sh = crate::common::agent_call(&ctx(&env, false, false), &hello).await;
        assert!(sh.expect("call").is_none());
        set_agent_path(true);
        let agent = crate::common::agent_call(&ctx(&env, false, false), &hello).await;
        if std::env::var_os("KPLAY_NO_AGENT").is_none() {
            assert!(agent.expect("call").is_some());
        }
    }
}

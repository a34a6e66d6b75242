//! What a module may ask of the engine while it runs (templating, file search), bound to one
//! host's variables for one task.

use crate::module::{FileKind, TaskEnv};
use crate::template::Templar;
use crate::value::{Map, Value};
use crate::vars::scope::{Scope, TaskLayers};
use crate::vars::RunVars;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct ExecTaskEnv {
    pub run: Arc<RunVars>,
    pub host: String,
    pub layers: TaskLayers,
    pub scope: Arc<Scope>,
    pub templar: Arc<Templar>,
    /// Directories searched for relative files, most specific first (role, task file dir, playbook dir).
    pub search: Vec<PathBuf>,
}

impl ExecTaskEnv {
    fn err(&self, e: crate::template::TemplateError) -> String {
        match self.scope.take_error() {
            Some(inner) => format!("{e}: {inner}"),
            None => e.to_string(),
        }
    }
}

impl TaskEnv for ExecTaskEnv {
    fn render_template_text(&self, text: &str, src: &Path) -> Result<String, String> {
        // Templates see `template_*` variables and `ansible_managed` on top of the task's.
        let mut extra = Map::new();
        let full = std::fs::canonicalize(src).unwrap_or_else(|_| src.to_path_buf());
        extra.insert(
            "template_path".into(),
            Value::String(src.display().to_string()),
        );
        extra.insert(
            "template_fullpath".into(),
            Value::String(full.display().to_string()),
        );
        extra.insert("template_host".into(), Value::String(hostname()));
        extra.insert("template_uid".into(), Value::String(whoami()));
        extra.insert("template_destpath".into(), Value::Null);
        extra.insert(
            "template_run_date".into(),
            Value::String(chrono::Local::now().format("%Y-%m-%d %H:%M:%S").to_string()),
        );
        if self.scope.raw("ansible_managed").is_none() {
            extra.insert(
                "ansible_managed".into(),
                Value::String("Ansible managed".into()),
            );
        }
        let mut layers = self.layers.clone();
        let mut lv = layers.loop_vars.as_deref().cloned().unwrap_or_default();
        lv.extend(extra);
        layers.loop_vars = Some(Arc::new(lv));
        let scope = Scope::for_task(&self.run, &self.host, &layers);
        self.templar
            .render_text(text, &scope.ctx())
            .map_err(|e| match scope.take_error() {
                Some(inner) => format!("{e}: {inner}"),
                None => e.to_string(),
            })
    }

    fn eval_expr(&self, expr: &str) -> Result<Value, String> {
        self.templar
            .eval_expr(expr, &self.scope.ctx())
            .map_err(|e| self.err(e))
    }

    fn eval_condition(&self, expr: &str) -> Result<bool, String> {
        self.templar
            .eval_condition(expr, &self.scope.ctx())
            .map_err(|e| self.err(e))
    }

    fn find_file(&self, kind: FileKind, name: &str) -> Option<PathBuf> {
        let p = Path::new(name);
        if p.is_absolute() {
            return p.exists().then(|| p.to_path_buf());
        }
        let sub = match kind {
            FileKind::Files => "files",
            FileKind::Templates => "templates",
            FileKind::Vars => "vars",
        };
        for dir in &self.search {
            for c in [dir.join(sub).join(name), dir.join(name)] {
                if c.exists() {
                    return Some(c);
                }
            }
        }
        None
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

fn whoami() -> String {
    std::env::var("USER").unwrap_or_else(|_| "root".into())
}

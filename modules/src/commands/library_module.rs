//! Custom modules from a playbook's `library/` (and its roles' `library/`), run with Ansible's
//! module protocol: kplay copies the module and a file with its arguments into an owner-only
//! temp directory on the host, runs it with the file's path as its only argument, and reads
//! the JSON it prints as the task result. Modules marked `WANT_JSON` and binary modules get
//! the arguments as JSON, old-style modules as `key=value` text. Python modules run with the
//! host's Python (`ansible_python_interpreter`, else `python3`, else `python`; a clear error
//! when there is none); other scripts with their own `#!` line. Modules written with
//! `AnsibleModule` need `ansible.module_utils`, which kplay does not ship to hosts: they are
//! refused with a message that says so. A kplay module of the same name wins (the caller only
//! registers names the registry does not have).

use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::{sh_quote, ExecRequest};
use kplay_engine::value::{Map, Value};
use std::path::{Path, PathBuf};

/// How a module expects its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Marked `WANT_JSON`: a JSON file.
    WantJson,
    /// A compiled program: a JSON file.
    Binary,
    /// Anything else: a `key=value` file.
    OldStyle,
    /// Imports `ansible.module_utils` (AnsiballZ): not supported.
    AnsibleModule,
}

/// Which protocol a module's bytes ask for.
pub fn style_of(bytes: &[u8]) -> Style {
    if bytes.starts_with(b"\x7fELF") {
        return Style::Binary;
    }
    let text = String::from_utf8_lossy(bytes);
    if text.contains("ansible.module_utils") || text.contains("ansible_collections.") {
        Style::AnsibleModule
    } else if text.contains("WANT_JSON") {
        Style::WantJson
    } else {
        Style::OldStyle
    }
}

/// One module file found in a library directory.
pub struct LibraryModule {
    name: &'static str,
    path: PathBuf,
    /// Python interpreters tried on the host, in order, when the task sets none.
    pub interpreters: Vec<String>,
}

impl LibraryModule {
    pub fn new(name: &str, path: &Path) -> LibraryModule {
        LibraryModule {
            name: Box::leak(name.to_string().into_boxed_str()),
            path: path.to_path_buf(),
            interpreters: vec!["python3".into(), "python".into()],
        }
    }
}

/// The modules in `dirs` (files only; the name is the file name without `.py`/`.sh`/`.ps1`),
/// first directory winning for a name.
pub fn scan(dirs: &[PathBuf]) -> Vec<LibraryModule> {
    let mut out: Vec<LibraryModule> = Vec::new();
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(d) else {
            continue;
        };
        let mut files: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for f in files {
            let Some(file) = f.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if file.starts_with('.')
                || file.starts_with("__")
                || file.ends_with(".pyc")
                || file.ends_with(".md")
                || file.ends_with(".txt")
            {
                continue;
            }
            let name = file
                .strip_suffix(".py")
                .or_else(|| file.strip_suffix(".sh"))
                .unwrap_or(file);
            if !out.iter().any(|m| m.name == name) {
                out.push(LibraryModule::new(name, &f));
            }
        }
    }
    out
}

/// The `key=value` argument text of old-style modules.
fn old_style_args(args: &Map) -> String {
    args.iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{k}={}", sh_quote(&s))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The JSON object a module printed (text before or after it ignored, as Ansible does).
fn parse_output(stdout: &str) -> Option<Map> {
    let start = stdout.find('{')?;
    let end = stdout.rfind('}')?;
    match serde_json::from_str::<Value>(stdout.get(start..=end)?) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

#[async_trait]
impl Module for LibraryModule {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let bytes = std::fs::read(&self.path).map_err(|e| {
            ModuleError::new(format!("reading module {}: {e}", self.path.display()))
        })?;
        let style = style_of(&bytes);
        if style == Style::AnsibleModule {
            return Err(ModuleError::new(format!(
                "module {} ({}) is written with AnsibleModule (ansible.module_utils), which kplay does not ship to hosts; \
                 write it as a WANT_JSON or binary module, or use a kplay module",
                self.name,
                self.path.display()
            )));
        }
        let mut full = args.clone();
        full.insert("_ansible_check_mode".into(), Value::Bool(ctx.check_mode));
        full.insert("_ansible_diff".into(), Value::Bool(ctx.diff));
        full.insert(
            "_ansible_module_name".into(),
            Value::String(self.name.to_string()),
        );
        let arg_text = match style {
            Style::OldStyle => old_style_args(&args),
            _ => Value::Object(full).to_string(),
        };
        // The interpreter: Python modules get the host's Python; other scripts their #! line.
        let first = String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        let python =
            style != Style::Binary && (first.contains("python") || !first.starts_with("#!"));
        let run_with = if style == Style::Binary || !python {
            String::new()
        } else {
            let set = ctx
                .env
                .eval_expr("ansible_python_interpreter")
                .ok()
                .and_then(|v| v.as_str().map(str::to_string));
            let candidates = set
                .map(|p| vec![p])
                .unwrap_or_else(|| self.interpreters.clone());
            let tries: String = candidates
                .iter()
                .map(|c| {
                    format!(
                        "elif command -v {q} >/dev/null 2>&1; then PY={q}\n",
                        q = sh_quote(c)
                    )
                })
                .collect();
            format!("if false; then :\n{tries}else echo 'kplay-no-python' >&2; exit 97; fi\n")
        };
        let invoke = if run_with.is_empty() {
            "\"$d/m\" \"$d/args\"".to_string()
        } else {
            "\"$PY\" \"$d/m\" \"$d/args\"".to_string()
        };
        let script = format!(
            "{run_with}d=$(mktemp -d \"${{TMPDIR:-/tmp}}/.kplay-module.XXXXXX\") || exit 98\n\
             trap 'rm -rf \"$d\"' EXIT\n\
             head -c {n} > \"$d/m\" && cat > \"$d/args\" && chmod 0700 \"$d/m\" && chmod 0600 \"$d/args\" || exit 98\n\
             cd \"$d\" && {invoke}\n",
            n = bytes.len()
        );
        let mut stdin = bytes.clone();
        stdin.extend_from_slice(arg_text.as_bytes());
        let mut req = ExecRequest::sh(script)
            .with_stdin(stdin)
            .with_become(ctx.become_.clone());
        req.env = ctx.environment.clone();
        let out = ctx.transport.exec(req).await?;
        let (o, e) = (out.stdout_str(), out.stderr_str());
        if out.rc == 97 && e.contains("kplay-no-python") {
            return Err(ModuleError::new(format!(
                "module {} needs a Python interpreter on the host, and none was found (tried: {}); set ansible_python_interpreter or use a kplay module",
                self.name,
                self.interpreters.join(", ")
            )));
        }
        let Some(mut result) = parse_output(&o) else {
            let mut m = Map::new();
            m.insert("rc".into(), Value::from(out.rc));
            m.insert("module_stdout".into(), Value::String(o.clone()));
            m.insert("module_stderr".into(), Value::String(e.clone()));
            return Err(ModuleError::with_result(
                format!("MODULE FAILURE: {} printed no JSON result (rc {}); see module_stdout/module_stderr", self.name, out.rc),
                m,
            ));
        };
        result.entry("changed").or_insert(Value::Bool(false));
        if result
            .get("failed")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            let msg = result
                .get("msg")
                .and_then(Value::as_str)
                .unwrap_or("module failed")
                .to_string();
            return Err(ModuleError::with_result(msg, result));
        }
        Ok(result.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;

    const WANT_JSON: &str = "#!/usr/bin/python\n# WANT_JSON\nimport json, sys\na = json.load(open(sys.argv[1]))\n\
        if a.get('fail'):\n    print(json.dumps({'failed': True, 'msg': 'asked to fail'}))\n    sys.exit(1)\n\
        print(json.dumps({'changed': not a['_ansible_check_mode'], 'greeting': 'hello ' + a['name']}))\n";
    const OLD_SH: &str =
        "#!/bin/sh\n. \"$1\"\nprintf '{\"changed\": false, \"got\": \"%s\"}' \"$word\"\n";
    const UTILS: &str = "#!/usr/bin/python\nfrom ansible.module_utils.basic import AnsibleModule\n";

    fn lib(files: &[(&str, &str)]) -> (tempfile::TempDir, Vec<LibraryModule>) {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(d.path().join("library")).expect("mkdir");
        for (n, t) in files {
            std::fs::write(d.path().join("library").join(n), t).expect("write");
        }
        let m = scan(&[d.path().join("library")]);
        (d, m)
    }

    #[test]
    fn styles_and_names_are_recognised() {
        assert_eq!(style_of(WANT_JSON.as_bytes()), Style::WantJson);
        assert_eq!(style_of(OLD_SH.as_bytes()), Style::OldStyle);
        assert_eq!(style_of(UTILS.as_bytes()), Style::AnsibleModule);
        assert_eq!(style_of(b"\x7fELF\x02"), Style::Binary);
        let (_d, m) = lib(&[
            ("greet.py", WANT_JSON),
            ("word.sh", OLD_SH),
            ("README.md", "x"),
        ]);
        let names: Vec<&str> = m.iter().map(|m| m.name()).collect();
        assert_eq!(names, ["greet", "word"]);
    }

    crate::testutil::both_paths! {
    async fn want_json_and_old_style_modules_run_with_the_protocol() {
        if std::process::Command::new("python3").arg("-V").output().is_err() {
            eprintln!("SKIP: no python3");
            return;
        }
        let (d, m) = lib(&[("greet.py", WANT_JSON), ("word.sh", OLD_SH), ("utils.py", UTILS)]);
        let env = TestEnv::new(d.path());
        let r = m[0].run(&ctx(&env, false, false), args(json!({"name": "kplay"}))).await.map(|r| r.into_map()).expect("greet");
        assert_eq!((r["changed"].clone(), r["greeting"].clone()), (json!(true), json!("hello kplay")));
        let r = m[0].run(&ctx(&env, true, false), args(json!({"name": "x"}))).await.map(|r| r.into_map()).expect("check");
        assert_eq!(r["changed"], json!(false), "the module saw _ansible_check_mode");
        let e = m[0].run(&ctx(&env, false, false), args(json!({"name": "x", "fail": true}))).await.map(|r| r.into_map()).unwrap_err();
        assert_eq!(e.msg, "asked to fail");
        let word = m.iter().find(|x| x.name() == "word").expect("word");
        let r = word.run(&ctx(&env, false, false), args(json!({"word": "it's here"}))).await.map(|r| r.into_map()).expect("word");
        assert_eq!(r["got"], json!("it's here"));
        let utils = m.iter().find(|x| x.name() == "utils").expect("utils");
        let e = utils.run(&ctx(&env, false, false), args(json!({}))).await.map(|r| r.into_map()).unwrap_err();
        assert!(e.msg.contains("written with AnsibleModule"), "{}", e.msg);
    }

    async fn no_python_on_the_host_is_a_clear_error() {
        let (d, mut m) = lib(&[("greet.py", WANT_JSON)]);
        m[0].interpreters = vec!["/nonexistent/python3".into()];
        let env = TestEnv::new(d.path());
        let e = m[0].run(&ctx(&env, false, false), args(json!({"name": "x"}))).await.map(|r| r.into_map()).unwrap_err();
        assert!(e.msg.contains("needs a Python interpreter on the host"), "{}", e.msg);
    }
    }
}

//! `include_vars`: load variables from YAML/JSON files on the controller, from one file or a
//! directory tree. Runs on the controller only; the engine merges `ansible_facts` into the
//! host's variables.

use crate::common::args::{p, Args, Param, Spec};
use async_trait::async_trait;
use kplay_engine::module::{FileKind, Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::{Map, Value};
use std::path::{Path, PathBuf};

const PARAMS: &[Param] = &[
    p("_raw_params", &[]).doc("The file to load (free form)."),
    p("file", &[]).doc("The vars file to load."),
    p("dir", &[]).doc("A directory whose vars files are loaded in order."),
    p("name", &[]).doc("Put the loaded variables under this one variable."),
    p("depth", &[]).doc("How deep to descend into `dir` (0: all)."),
    p("files_matching", &[]).doc("Only files whose name matches this regexp."),
    p("ignore_files", &[])
        .list()
        .doc("File names (regexps) to skip."),
    p("extensions", &[])
        .list()
        .doc("File extensions to load (default yaml, yml, json)."),
    p("ignore_unknown_extensions", &[])
        .flag(false)
        .doc("Skip files with other extensions instead of failing."),
    p("hash_behaviour", &[]).doc("`replace` or `merge` the loaded dicts into existing ones."),
];

/// `include_vars`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "include_vars",
    "Load variables from files, dynamically within a task",
    &[PARAMS],
);

const DEFAULT_EXTENSIONS: &[&str] = &["yaml", "yml", "json"];

/// `ansible.builtin.include_vars`.
///
/// Not query → plan → apply ([`crate::planned`]): Reads controller files into variables: nothing on a host to change.
pub struct IncludeVarsModule;

/// How `dir` mode picks its files.
struct DirFilter {
    depth: usize,
    matching: Option<regex::Regex>,
    ignore: Vec<regex::Regex>,
    extensions: Vec<String>,
    ignore_unknown: bool,
}

impl DirFilter {
    fn from_args(a: &Args) -> Result<DirFilter, ModuleError> {
        let depth = match a.raw("depth") {
            None => 0,
            Some(Value::Number(n)) => n.as_u64().unwrap_or(0) as usize,
            Some(Value::String(s)) => s.trim().parse().map_err(|_| {
                ModuleError::new(format!("argument 'depth' is not an integer: {s}"))
            })?,
            Some(_) => return Err(ModuleError::new("argument 'depth' must be an integer")),
        };
        let matching = a
            .str("files_matching")?
            .map(|m| {
                regex::Regex::new(&m)
                    .map_err(|e| ModuleError::new(format!("Invalid regular expression: {m}: {e}")))
            })
            .transpose()?;
        // Ansible matches each ignore entry as a regex anchored at the end of the file name.
        let ignore = a
            .list("ignore_files")
            .into_iter()
            .map(|i| {
                regex::Regex::new(&format!("{i}$"))
                    .map_err(|_| ModuleError::new(format!("Invalid regular expression: {i}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut extensions = a.list("extensions");
        if extensions.is_empty() {
            extensions = DEFAULT_EXTENSIONS.iter().map(|s| s.to_string()).collect();
        }
        Ok(DirFilter {
            depth,
            matching,
            ignore,
            extensions,
            ignore_unknown: a.flag("ignore_unknown_extensions"),
        })
    }

    fn valid_extension(&self, name: &str) -> bool {
        Path::new(name)
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| self.extensions.iter().any(|x| x == e))
    }
}

/// The files of `dir` in Ansible's order: directories sorted by path, files sorted by name,
/// down to `depth` levels (0 = unlimited).
fn walk(dir: &Path, filter: &DirFilter) -> Result<Vec<PathBuf>, ModuleError> {
    let mut dirs: Vec<(PathBuf, usize)> = vec![(dir.to_path_buf(), 0)];
    let mut listed: Vec<(PathBuf, Vec<String>)> = Vec::new();
    while let Some((d, level)) = dirs.pop() {
        let mut files = Vec::new();
        let entries =
            std::fs::read_dir(&d).map_err(|e| ModuleError::new(format!("{}: {e}", d.display())))?;
        for entry in entries {
            let entry = entry.map_err(|e| ModuleError::new(format!("{}: {e}", d.display())))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                dirs.push((path, level + 1));
            } else {
                files.push(name);
            }
        }
        if filter.depth == 0 || level < filter.depth {
            files.sort();
            listed.push((d, files));
        }
    }
    listed.sort_by(|a, b| a.0.as_os_str().cmp(b.0.as_os_str()));
    let mut out = Vec::new();
    for (d, files) in listed {
        for f in files {
            if filter.ignore.iter().any(|r| r.is_match(&f)) {
                continue;
            }
            if filter.matching.as_ref().is_some_and(|m| !m.is_match(&f)) {
                continue;
            }
            if !filter.valid_extension(&f) {
                if filter.ignore_unknown {
                    continue;
                }
                return Err(ModuleError::new(format!(
                    "{} does not have a valid extension: {}",
                    d.join(&f).display(),
                    filter.extensions.join(", ")
                )));
            }
            out.push(d.join(f));
        }
    }
    Ok(out)
}

/// One vars file: a mapping (or empty). Anything else is an error naming the file.
fn load_vars_file(path: &Path) -> Result<Map, ModuleError> {
    let docs = kplay_engine::yaml::load_file(path).map_err(|e| ModuleError::new(e.to_string()))?;
    match docs.first().map(|n| n.to_value()) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(ModuleError::new(format!(
            "{} must be stored as a dictionary/hash",
            path.display()
        ))),
    }
}

#[async_trait]
impl Module for IncludeVarsModule {
    fn name(&self) -> &'static str {
        "include_vars"
    }

    /// `include_vars: file.yml` and `include_vars: file=x.yml name=y` are both accepted.
    fn free_form(&self) -> bool {
        true
    }

    fn controller_only(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        let file = a
            .str("file")?
            .or(a.str("_raw_params")?.filter(|s| !s.trim().is_empty()));
        let dir = a.str("dir")?;
        let files = match (file, dir) {
            (Some(_), Some(_)) => {
                return Err(ModuleError::new(
                    "You are mixing file only and dir only arguments, these are incompatible",
                ))
            }
            (Some(f), None) => {
                let path = ctx
                    .env
                    .find_file(FileKind::Vars, &f)
                    .ok_or_else(|| ModuleError::new(format!("Could not find or access '{f}'")))?;
                vec![path]
            }
            (None, Some(d)) => {
                let filter = DirFilter::from_args(&a)?;
                let path = ctx
                    .env
                    .find_file(FileKind::Vars, &d)
                    .filter(|p| p.is_dir())
                    .ok_or_else(|| ModuleError::new(format!("{d} directory does not exist")))?;
                walk(&path, &filter)?
            }
            (None, None) => {
                return Err(ModuleError::new(
                    "one of the following is required: file, dir",
                ))
            }
        };
        let mut vars = Map::new();
        let mut included = Vec::new();
        for f in files {
            for (k, v) in load_vars_file(&f)? {
                vars.insert(k, v);
            }
            included.push(Value::String(f.display().to_string()));
        }
        let facts = match a.str("name")? {
            Some(n) => {
                let mut m = Map::new();
                m.insert(n, Value::Object(vars));
                m
            }
            None => vars,
        };
        let mut m = Map::new();
        m.insert("ansible_included_var_files".into(), Value::Array(included));
        m.insert("ansible_facts".into(), Value::Object(facts));
        m.insert("changed".into(), Value::Bool(false));
        Ok(m.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;

    fn tree() -> (tempfile::TempDir, TestEnv) {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("one.yml"), "a: 1\nb: [x]\n").unwrap();
        std::fs::create_dir_all(d.path().join("d/sub")).unwrap();
        std::fs::write(d.path().join("d/b.yml"), "b: 2\nshared: first\n").unwrap();
        std::fs::write(
            d.path().join("d/c.json"),
            "{\"c\": 3, \"shared\": \"second\"}",
        )
        .unwrap();
        std::fs::write(d.path().join("d/sub/z.yaml"), "z: 9\n").unwrap();
        let e = TestEnv::new(d.path());
        (d, e)
    }

    #[tokio::test]
    async fn file_vars_become_facts() {
        let (d, e) = tree();
        let r = IncludeVarsModule
            .run(
                &ctx(&e, false, false),
                args(json!({"_raw_params": "one.yml"})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["ansible_facts"], json!({"a": 1, "b": ["x"]}));
        assert_eq!(
            r["ansible_included_var_files"],
            json!([d.path().join("one.yml").display().to_string()])
        );
        assert_eq!(r["changed"], json!(false));
    }

    #[tokio::test]
    async fn dir_loads_all_levels_in_sorted_order() {
        let (_d, e) = tree();
        let r = IncludeVarsModule
            .run(&ctx(&e, false, false), args(json!({"dir": "d"})))
            .await
            .unwrap()
            .into_map();
        assert_eq!(
            r["ansible_facts"],
            json!({"b": 2, "shared": "second", "c": 3, "z": 9})
        );
        assert_eq!(r["ansible_included_var_files"].as_array().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn depth_one_stays_in_the_top_directory() {
        let (_d, e) = tree();
        let r = IncludeVarsModule
            .run(
                &ctx(&e, false, false),
                args(json!({"dir": "d", "depth": 1})),
            )
            .await
            .unwrap()
            .into_map();
        assert!(r["ansible_facts"].get("z").is_none());
    }

    #[tokio::test]
    async fn name_nests_everything_under_one_key() {
        let (_d, e) = tree();
        let r = IncludeVarsModule
            .run(
                &ctx(&e, false, false),
                args(json!({"file": "one.yml", "name": "cfg"})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["ansible_facts"], json!({"cfg": {"a": 1, "b": ["x"]}}));
    }

    #[tokio::test]
    async fn files_matching_and_ignore_files_filter_the_dir() {
        let (_d, e) = tree();
        let r = IncludeVarsModule
            .run(
                &ctx(&e, false, false),
                args(json!({"dir": "d", "files_matching": "^[bc]", "ignore_files": ["c.json"]})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["ansible_facts"], json!({"b": 2, "shared": "first"}));
    }

    #[tokio::test]
    async fn unknown_extension_in_dir_is_an_error_unless_ignored() {
        let (d, e) = tree();
        std::fs::write(d.path().join("d/notes.txt"), "x").unwrap();
        let err = IncludeVarsModule
            .run(&ctx(&e, false, false), args(json!({"dir": "d"})))
            .await
            .unwrap_err();
        assert!(
            err.msg
                .ends_with("notes.txt does not have a valid extension: yaml, yml, json"),
            "{}",
            err.msg
        );
        let r = IncludeVarsModule
            .run(
                &ctx(&e, false, false),
                args(json!({"dir": "d", "ignore_unknown_extensions": true})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["ansible_facts"]["c"], json!(3));
    }

    #[tokio::test]
    async fn non_mapping_file_is_an_error_naming_it() {
        let (d, e) = tree();
        std::fs::write(d.path().join("list.yml"), "- 1\n- 2\n").unwrap();
        let err = IncludeVarsModule
            .run(&ctx(&e, false, false), args(json!({"file": "list.yml"})))
            .await
            .unwrap_err();
        assert!(
            err.msg
                .contains("list.yml must be stored as a dictionary/hash"),
            "{}",
            err.msg
        );
    }

    #[tokio::test]
    async fn missing_file_is_an_error() {
        let (_d, e) = tree();
        let err = IncludeVarsModule
            .run(&ctx(&e, false, false), args(json!({"file": "nope.yml"})))
            .await
            .unwrap_err();
        assert_eq!(err.msg, "Could not find or access 'nope.yml'");
    }
}

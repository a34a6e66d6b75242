//! A case's `expect.yml`: extra arguments, repeated runs, and the differences that are deliberate.

use serde_json::Value;
use std::fs;
use std::path::Path;

/// What a case asks of the harness beyond "run `play.yml` once and compare everything".
#[derive(Debug, Default, Clone)]
pub struct Expect {
    /// Extra command-line arguments, given to both tools.
    pub args: Vec<String>,
    /// Runs into the same out dir (2 checks idempotency).
    pub runs: usize,
    /// Out-dir paths whose content differs on purpose.
    pub ignore_files: Vec<String>,
    /// The recap counts differ on purpose.
    pub ignore_recap: bool,
    /// Why kplay differs here; printed on every run.
    pub deliberate: Vec<String>,
    /// The run stops before any recap (a load error, `--syntax-check`): both tools must print none.
    pub no_recap: bool,
    /// Text kplay's output must hold (each entry), e.g. every error `--syntax-check` finds.
    pub kplay_output: Vec<String>,
    /// Environment given to both tools (ansible.cfg settings as `ANSIBLE_*`); `{out}` in a value
    /// becomes the tool's own out dir.
    pub env: Vec<(String, String)>,
}

impl Expect {
    /// The environment for a run writing into `out`.
    pub fn env_for(&self, out: &std::path::Path) -> Vec<(String, String)> {
        let shown = out.display().to_string();
        self.env
            .iter()
            .map(|(k, v)| (k.clone(), v.replace("{out}", &shown)))
            .collect()
    }
}

const KNOWN: [&str; 8] = [
    "env",
    "args",
    "runs",
    "ignore_files",
    "ignore_recap",
    "deliberate",
    "no_recap",
    "kplay_output",
];

fn strings(v: &Value, key: &str) -> Result<Vec<String>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(format!("{key}: expected strings, got {other}")),
            })
            .collect(),
        Some(other) => Err(format!("{key}: expected a list, got {other}")),
    }
}

/// Reads `<case>/expect.yml`; a missing file means the defaults. Unknown keys are errors, so a
/// typo cannot silently turn a check off.
pub fn read(case: &Path) -> Result<Expect, String> {
    let path = case.join("expect.yml");
    if !path.exists() {
        return Ok(Expect {
            runs: 1,
            ..Expect::default()
        });
    }
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: Value = serde_norway::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(k) = v
        .as_object()
        .and_then(|m| m.keys().find(|k| !KNOWN.contains(&k.as_str())))
    {
        return Err(format!("{}: unknown key {k:?}", path.display()));
    }
    Ok(Expect {
        args: strings(&v, "args")?,
        runs: v
            .get("runs")
            .and_then(Value::as_u64)
            .unwrap_or(1)
            .clamp(1, 5) as usize,
        ignore_files: strings(&v, "ignore_files")?,
        ignore_recap: v
            .get("ignore_recap")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        deliberate: strings(&v, "deliberate")?,
        no_recap: v.get("no_recap").and_then(Value::as_bool).unwrap_or(false),
        kplay_output: strings(&v, "kplay_output")?,
        env: match v.get("env") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    Value::Number(n) => Ok((k.clone(), n.to_string())),
                    other => Err(format!("env {k}: expected a string, got {other}")),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => Err(format!("env: expected a mapping, got {other}"))?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_rejected() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("expect.yml"), "ignore_file: [x]\n").expect("write");
        assert!(read(dir.path()).is_err_and(|e| e.contains("ignore_file")));
    }

    #[test]
    fn a_missing_file_means_one_run_and_no_exceptions() {
        let dir = tempfile::tempdir().expect("temp dir");
        let e = read(dir.path()).expect("defaults");
        assert_eq!(e.runs, 1);
        assert!(e.args.is_empty() && e.ignore_files.is_empty() && !e.ignore_recap);
    }
}

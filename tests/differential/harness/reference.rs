//! The reference side: ansible-core 2.18 in a virtualenv of its own, and what it does with a case.
//! ansible-core's answer for a case only changes when the case, its arguments, ansible-core or the
//! machine change, so it is cached under the virtualenv keyed by all of those; kplay always runs.
//! `DIFFERENTIAL_FRESH=1` ignores the cache.

use super::expect::Expect;
use super::recap::{self, Recap};
use super::run::{run_logged, tail};
use super::tree::{self, Tree};
use serde_json::Value;
use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The ansible-core series kplay follows.
pub const ANSIBLE_SPEC: &str = "ansible-core>=2.18,<2.19";
/// Bumped whenever what the cache stores, or how ansible is run, changes.
const CACHE_FORMAT: &str = "differential-cache-v1";

/// What one tool did in one run.
#[derive(Debug, PartialEq)]
pub struct RunResult {
    pub code: Option<i32>,
    pub recap: Recap,
    pub log: String,
}

/// Everything ansible-core did with one case: each run's result, then the out dir it left.
#[derive(Debug, PartialEq)]
pub struct Reference {
    pub runs: Vec<RunResult>,
    pub tree: Tree,
}

/// The virtualenv with ansible-core 2.18 and the empty config it runs with.
pub struct Ansible {
    pub venv: PathBuf,
    version: String,
    config: PathBuf,
}

impl Ansible {
    /// Creates the virtualenv under `target_dir` unless a working one is already there; `Err`
    /// says why it could not (no python3, no access to PyPI …).
    pub fn setup(target_dir: &Path) -> Result<Ansible, String> {
        let venv = target_dir.join("ansible-venv");
        let version = match version_2_18(&venv) {
            Some(v) => v,
            None => {
                install(&venv)?;
                version_2_18(&venv).ok_or_else(|| {
                    format!(
                        "{} holds no ansible-core 2.18 after pip install",
                        venv.display()
                    )
                })?
            }
        };
        ensure_extras(&venv)?;
        let config = venv.join("differential-ansible.cfg");
        fs::write(&config, "").map_err(|e| format!("{}: {e}", config.display()))?;
        Ok(Ansible {
            venv,
            version,
            config,
        })
    }

    /// ansible-core's result for `case`, from the cache when nothing it depends on changed.
    pub fn reference(
        &self,
        case: &Path,
        expect: &Expect,
        work: &Path,
    ) -> Result<Reference, String> {
        let name = case
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let cache = self
            .venv
            .join("differential-cache")
            .join(format!("{name}-{:016x}.json", self.cache_key(case, expect)));
        let fresh = std::env::var_os("DIFFERENTIAL_FRESH").is_some();
        if !fresh {
            if let Some(r) = fs::read_to_string(&cache)
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .and_then(|v| from_json(&v))
            {
                return Ok(r);
            }
        }
        let r = self.run(case, expect, work)?;
        if let Some(dir) = cache.parent() {
            forget_older(dir, &name);
            let tmp = cache.with_extension("tmp");
            let stored = fs::create_dir_all(dir)
                .and_then(|()| fs::write(&tmp, to_json(&r).to_string()))
                .and_then(|()| fs::rename(&tmp, &cache));
            if let Err(e) = stored {
                eprintln!(
                    "note: could not cache ansible's result in {}: {e}",
                    cache.display()
                );
            }
        }
        Ok(r)
    }

    /// Runs ansible-playbook `expect.runs` times into one fresh out dir under `work`.
    fn run(&self, case: &Path, expect: &Expect, work: &Path) -> Result<Reference, String> {
        let out = work.join("ansible");
        fs::create_dir_all(&out).map_err(|e| e.to_string())?;
        let python = self.venv.join("bin").join("python");
        let mut runs = Vec::new();
        for run in 1..=expect.runs {
            let mut cmd = Command::new(self.venv.join("bin").join("ansible-playbook"));
            cmd.current_dir(case)
                .arg("play.yml")
                .args(["-i", "localhost,", "-c", "local", "-e"])
                .arg(format!("ansible_python_interpreter={}", python.display()))
                .arg("-e")
                .arg(format!("out={}", out.display()))
                .args(&expect.args)
                .env("ANSIBLE_NOCOLOR", "1")
                .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
                .env("ANSIBLE_LOCALHOST_WARNING", "0")
                // Saves a few shell round trips per task; results are the same.
                .env("ANSIBLE_PIPELINING", "1")
                .env("ANSIBLE_CONFIG", &self.config)
                .env("ANSIBLE_LOCAL_TEMP", work.join("ansible-tmp"))
                .envs(expect.env_for(&out))
                .env_remove("ANSIBLE_ROLES_PATH");
            let (code, log) = run_logged(cmd, &work.join(format!("ansible-{run}.log")))
                .map_err(|e| format!("ansible-playbook: {e}"))?;
            let recap = recap::parse(&log);
            if recap.is_empty() && !expect.no_recap {
                return Err(format!(
                    "run {run}: ansible-playbook printed no recap (exit {code:?}); if ansible-core \
                     cannot run this case here, drop the case:\n{}",
                    tail(&log)
                ));
            }
            if !recap.is_empty() && expect.no_recap {
                return Err(format!(
                    "run {run}: expect.yml says no_recap but ansible-playbook printed one (exit {code:?})"
                ));
            }
            runs.push(RunResult { code, recap, log });
        }
        Ok(Reference {
            runs,
            tree: tree::tree(&out),
        })
    }

    /// Hashes what ansible's answer depends on: the case's files, its arguments, ansible-core's
    /// version and the machine (facts).
    fn cache_key(&self, case: &Path, expect: &Expect) -> u64 {
        let mut h = DefaultHasher::new();
        CACHE_FORMAT.hash(&mut h);
        self.version.hash(&mut h);
        for f in [
            "/proc/sys/kernel/hostname",
            "/proc/sys/kernel/osrelease",
            "/etc/os-release",
        ] {
            fs::read(f).unwrap_or_default().hash(&mut h);
        }
        expect.args.hash(&mut h);
        expect.runs.hash(&mut h);
        // Hashed only when set, so the keys of every other case stay what they were.
        if expect.no_recap {
            "no_recap".hash(&mut h);
        }
        if !expect.env.is_empty() {
            expect.env.hash(&mut h);
        }
        hash_dir(case, case, &mut h);
        h.finish()
    }
}

/// Removes the case's results cached under earlier keys (the case or ansible changed since).
fn forget_older(dir: &Path, case: &str) {
    let prefix = format!("{case}-");
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let is_key = file
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".json"))
            .is_some_and(|k| k.len() == 16 && k.chars().all(|c| c.is_ascii_hexdigit()));
        if is_key {
            let _ = fs::remove_file(entry.path());
        }
    }
}

fn hash_dir(base: &Path, dir: &Path, h: &mut DefaultHasher) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    for p in entries {
        p.strip_prefix(base).unwrap_or(&p).hash(h);
        if let Ok(meta) = fs::symlink_metadata(&p) {
            (meta.permissions().mode() & 0o7777).hash(h);
            if meta.is_dir() {
                hash_dir(base, &p, h);
            } else {
                fs::read(&p).unwrap_or_default().hash(h);
            }
        }
    }
}

/// `ansible-playbook --version`'s first line when the venv holds a working ansible-core 2.18.
fn version_2_18(venv: &Path) -> Option<String> {
    let out = Command::new(venv.join("bin").join("ansible-playbook"))
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next()?.to_string();
    (out.status.success() && first.contains("[core 2.18.")).then_some(first)
}

/// Python packages ansible-core's own plugins need for some cases: passlib for
/// `password_hash` (ansible-core 2.18 has no other backend) and bcrypt for its `bcrypt` hashes
/// (4.0.1: passlib 1.7 cannot use later ones). Added to an existing venv too.
const EXTRAS: [(&str, &str); 2] = [("passlib", "passlib"), ("bcrypt", "bcrypt==4.0.1")];

fn ensure_extras(venv: &Path) -> Result<(), String> {
    for (module, package) in EXTRAS {
        let present = Command::new(venv.join("bin").join("python"))
            .args(["-c", &format!("import {module}")])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if present {
            continue;
        }
        let out = Command::new(venv.join("bin").join("pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", package])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run pip: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "pip install {package} failed (no access to PyPI?): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    Ok(())
}

fn install(venv: &Path) -> Result<(), String> {
    let status = Command::new("python3")
        .args(["-m", "venv"])
        .arg(venv)
        .status()
        .map_err(|e| format!("cannot run python3 -m venv: {e}"))?;
    if !status.success() {
        return Err(format!("python3 -m venv {} failed", venv.display()));
    }
    let out = Command::new(venv.join("bin").join("pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            ANSIBLE_SPEC,
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run pip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "pip install '{ANSIBLE_SPEC}' failed (no access to PyPI?): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn to_json(r: &Reference) -> Value {
    let runs: Vec<Value> = r
        .runs
        .iter()
        .map(|x| serde_json::json!({"code": x.code, "recap": recap::to_json(&x.recap), "log": x.log}))
        .collect();
    serde_json::json!({"format": CACHE_FORMAT, "runs": runs, "tree": tree::to_json(&r.tree)})
}

fn from_json(v: &Value) -> Option<Reference> {
    if v.get("format")?.as_str()? != CACHE_FORMAT {
        return None;
    }
    let runs = v
        .get("runs")?
        .as_array()?
        .iter()
        .map(|x| {
            Some(RunResult {
                code: match x.get("code")? {
                    Value::Null => None,
                    c => Some(i32::try_from(c.as_i64()?).ok()?),
                },
                recap: recap::from_json(x.get("recap")?)?,
                log: x.get("log")?.as_str()?.to_string(),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Reference {
        runs,
        tree: tree::from_json(v.get("tree")?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_survives_the_cache_round_trip() {
        let r = Reference {
            runs: vec![RunResult {
                code: Some(2),
                recap: recap::parse("PLAY RECAP *\nlocalhost : ok=1 failed=1\n"),
                log: "log".into(),
            }],
            tree: Tree::new(),
        };
        assert_eq!(from_json(&to_json(&r)), Some(r));
    }
}

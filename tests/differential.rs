//! Differential check against ansible-core 2.18: every case under `tests/differential/` is run by
//! `ansible-playbook` (from PyPI, in a virtualenv of its own under `target/ansible-venv`) and by
//! `kplay run`, each writing into its own temporary `out` directory (`-e out=<dir>`). The two must
//! agree on the PLAY RECAP counts per host, the exit code and the file tree written (paths,
//! contents, modes). ansible-core is the reference: a mismatch is a kplay bug unless the case's
//! `expect.yml` declares it deliberate, which the test then prints.
//!
//! A case directory holds `play.yml` (plus whatever it needs beside it: `roles/`, `group_vars/`,
//! `templates/` …) and optionally `expect.yml`:
//!
//! ```yaml
//! args: [--tags, web]        # extra command-line arguments, given to both tools
//! runs: 2                    # run the playbook this many times into the same out dir
//! ignore_files: [facts.txt]  # out-dir paths whose content differs on purpose
//! ignore_recap: false        # true: recap counts differ on purpose
//! deliberate:                # why kplay differs here; printed on every run
//!   - "…"
//! no_recap: true             # the run stops before a recap (load error, --syntax-check)
//! kplay_output: ["…"]        # text kplay's output must hold
//! env: {ANSIBLE_GATHERING: smart}  # environment for both; `{out}` = the tool's out dir
//! ```
//!
//! Every mismatching case is reported at the end, each with what differs. ansible-core's results
//! are cached (see `harness/reference.rs`); `DIFFERENTIAL_FRESH=1` reruns it, `DIFFERENTIAL_CASE=x`
//! runs only cases whose name contains x, `DIFFERENTIAL_VERBOSE=1` adds both outputs to a mismatch.
//!
//! Without python3 or access to PyPI the test prints why and skips; under `CI=true` it fails
//! instead, so CI can never pass without having compared the two.

#[path = "differential/harness/mod.rs"]
mod harness;

use harness::expect::{self, Expect};
use harness::recap;
use harness::reference::{Ansible, RunResult};
use harness::run::run_logged;
use harness::tree::{self, Outcome};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Cases run this many at a time: ansible-playbook is CPU-bound and the machine is small.
const WORKERS: usize = 3;

/// Prints to stderr past libtest's output capture, so the per-case lines and the deliberate
/// differences show even when the test passes (`eprintln!` is captured).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Skips (or under CI fails) with a reason.
fn skip_or_fail(why: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("differential test: {why}; CI=true forbids skipping it");
    }
    say!("SKIPPED differential test: {why}");
}

/// Runs kplay on the case `expect.runs` times into one fresh out dir under `work`.
fn run_kplay(
    kplay: &Path,
    case: &Path,
    expect: &Expect,
    work: &Path,
) -> Result<(Vec<RunResult>, tree::Tree), String> {
    let out = work.join("kplay");
    fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let mut runs = Vec::new();
    for run in 1..=expect.runs {
        let mut cmd = Command::new(kplay);
        cmd.current_dir(case)
            .args(["run", "play.yml", "-i", "localhost,", "-c", "local", "-e"])
            .arg(format!("out={}", out.display()))
            .args(&expect.args)
            .env("NO_COLOR", "1")
            .envs(expect.env_for(&out))
            .env_remove("ANSIBLE_ROLES_PATH");
        let (code, log) = run_logged(cmd, &work.join(format!("kplay-{run}.log")))
            .map_err(|e| format!("kplay: {e}"))?;
        let recap = recap::parse(&log);
        runs.push(RunResult { code, recap, log });
    }
    Ok((runs, tree::tree(&out)))
}

/// Runs one case with both tools and returns what differs (no `diffs`: they agree).
fn run_case(ansible: &Ansible, kplay: &Path, case: &Path) -> Result<Outcome, String> {
    let expect = expect::read(case)?;
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let reference = ansible.reference(case, &expect, work.path())?;
    let (kplay_runs, kplay_tree) = run_kplay(kplay, case, &expect, work.path())?;
    let mut outcome = Outcome::default();
    let verbose = std::env::var_os("DIFFERENTIAL_VERBOSE").is_some();
    for (i, (a, k)) in reference.runs.iter().zip(&kplay_runs).enumerate() {
        let tag = if expect.runs > 1 {
            format!("run {}: ", i + 1)
        } else {
            String::new()
        };
        let before = outcome.diffs.len();
        if a.code != k.code {
            outcome.diffs.push(format!(
                "{tag}exit code: ansible {:?}, kplay {:?}",
                a.code, k.code
            ));
        }
        if a.recap != k.recap {
            let line = format!(
                "{tag}recap differs\n        ansible: {}\n        kplay:   {}",
                recap::format(&a.recap),
                recap::format(&k.recap)
            );
            if expect.ignore_recap {
                outcome.deliberate.push(line);
            } else {
                outcome.diffs.push(line);
            }
        }
        for want in &expect.kplay_output {
            if !k.log.contains(want.as_str()) {
                outcome
                    .diffs
                    .push(format!("{tag}kplay output lacks {want:?}"));
            }
        }
        if verbose && outcome.diffs.len() > before {
            outcome.diffs.push(format!(
                "{tag}ansible output:\n{}\n{tag}kplay output:\n{}",
                a.log, k.log
            ));
        }
    }
    tree::diff_trees(
        &reference.tree,
        &kplay_tree,
        &expect.ignore_files,
        &mut outcome,
    );
    Ok(outcome)
}

/// The case directories (those holding a `play.yml`), optionally filtered by name.
fn cases(filter: Option<&str>) -> Vec<PathBuf> {
    let dir = root().join("tests").join("differential");
    let mut cases: Vec<PathBuf> = fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.join("play.yml").is_file())
                .collect()
        })
        .unwrap_or_default();
    if let Some(f) = filter {
        cases.retain(|c| {
            c.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(f))
        });
    }
    cases.sort();
    cases
}

fn case_name(case: &Path) -> String {
    case.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Copies the kplay binary under test to `dir`: others building in the same target directory
/// relink `target/debug/kplay` meanwhile, and every case must run the same binary that exists.
fn private_kplay(dir: &Path) -> PathBuf {
    let built = Path::new(env!("CARGO_BIN_EXE_kplay"));
    let copy = dir.join("kplay");
    let mut last = None;
    for _ in 0..50 {
        match fs::copy(built, &copy) {
            Ok(_) => return copy,
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("cannot copy {}: {last:?}", built.display());
}

/// Takes the next case off the shared queue (the lock is released before the case runs).
fn next_case(queue: &Mutex<Vec<PathBuf>>) -> Option<PathBuf> {
    queue.lock().ok().and_then(|mut q| q.pop())
}

/// Per case: the differences found (or why it could not run) and how long it took.
type CaseResults = BTreeMap<String, (Result<Outcome, String>, Duration)>;

#[test]
fn kplay_matches_ansible_core_2_18() {
    let ansible = match Ansible::setup(&root().join("target")) {
        Ok(a) => a,
        Err(why) => return skip_or_fail(&why),
    };
    let bin_dir = tempfile::tempdir().expect("temp dir");
    let kplay = private_kplay(bin_dir.path());
    let filter = std::env::var("DIFFERENTIAL_CASE").ok();
    let cases = cases(filter.as_deref());
    assert!(!cases.is_empty(), "no cases under tests/differential/");

    let queue = Mutex::new(cases.iter().rev().cloned().collect());
    let results: Mutex<CaseResults> = Mutex::new(BTreeMap::new());
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| {
                while let Some(case) = next_case(&queue) {
                    let t0 = Instant::now();
                    let res = run_case(&ansible, &kplay, &case);
                    if let Ok(mut r) = results.lock() {
                        r.insert(case_name(&case), (res, t0.elapsed()));
                    }
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_default();

    let mut failed = Vec::new();
    for case in &cases {
        let name = case_name(case);
        for why in expect::read(case).map(|e| e.deliberate).unwrap_or_default() {
            say!("DELIBERATE {name}: {why}");
        }
        match results.get(&name) {
            Some((Ok(o), took)) => {
                for d in &o.deliberate {
                    say!("DELIBERATE {name}: declared in expect.yml: {d}");
                }
                if o.diffs.is_empty() {
                    say!("ok       {name} ({took:.1?})");
                } else {
                    say!("MISMATCH {name} ({took:.1?})");
                    failed.push(format!("{name}:\n    {}", o.diffs.join("\n    ")));
                }
            }
            Some((Err(e), _)) => {
                say!("ERROR    {name}");
                failed.push(format!("{name}: could not run: {e}"));
            }
            None => failed.push(format!("{name}: not run")),
        }
    }
    say!("{} cases in {:.1?}", cases.len(), started.elapsed());
    assert!(
        failed.is_empty(),
        "{} of {} cases differ from ansible-core 2.18:\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n")
    );
}

#[test]
fn every_case_has_a_valid_expect_file() {
    let cases = cases(None);
    assert!(cases.len() >= 25, "only {} cases", cases.len());
    for case in cases {
        if let Err(e) = expect::read(&case) {
            panic!("{e}");
        }
    }
}

//! Builds kplay's agent (`agent/`) for the `kplay` binary to carry: size-optimised (the `agent`
//! profile), against the glibc 2.17 baseline with cargo-zigbuild and Zig from PyPI (so it runs on
//! CentOS 7 and everything newer), gzip-compressed for the wire. The result is cached under
//! /var/cache/kplay/agent/<key> (or `$KPLAY_CACHE_DIR/agent`), the key being a hash of the agent's
//! sources, the locked versions of its dependencies, the toolchain versions and this recipe, so a
//! rebuild of kplay costs nothing unless the agent changed.
//!
//! Never breaks a plain `cargo build`: without the Zig toolchain (no network, no venv) the agent
//! is built with the host's toolchain (it then needs the build machine's glibc) and a cargo
//! warning says so; if even that fails, kplay is built without an agent (every host takes the sh
//! path) and a warning says that. `KPLAY_AGENT_BUILD=host` skips Zig, `=none` builds no agent.

use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Bump when the way the agent is built changes (cached agents of the old recipe are not used).
const RECIPE: &str = "agent-recipe-1";
/// The architecture the agent is built for (the build machine's; an aarch64 agent needs a
/// machine with the aarch64 standard library, which rustup cannot fetch here).
const ARCH: &str = "x86_64";
/// cargo-zigbuild's target: x86_64 Linux, glibc symbols no newer than 2.17.
const ZIG_TARGET: &str = "x86_64-unknown-linux-gnu.2.17";

/// What the `kplay` binary embeds.
pub struct Agent {
    pub gz: PathBuf,
    pub len: u64,
    pub sha256: String,
    /// The newest glibc symbol version the binary needs: the oldest glibc it runs on.
    pub glibc: (u32, u32),
    pub how: String,
    /// Seconds the build took when it was not cached.
    pub built_in: Option<f64>,
}

/// Build (or find cached) the agent and write `$OUT_DIR/agent.rs`, which `src/agent_embed.rs`
/// includes: `Some(EmbeddedAgent { .. })`, or `None` when there is no agent.
pub fn emit(root: &Path, out_dir: &Path) {
    for p in [
        "agent",
        "Cargo.lock",
        "build/agent.rs",
        "scripts/agent-toolchain.sh",
    ] {
        println!("cargo:rerun-if-changed={p}");
    }
    for v in [
        "KPLAY_AGENT_BUILD",
        "KPLAY_CACHE_DIR",
        "KPLAY_TOOLCHAIN_DIR",
    ] {
        println!("cargo:rerun-if-env-changed={v}");
    }
    let mode = std::env::var("KPLAY_AGENT_BUILD").unwrap_or_default();
    let agent = if mode == "none" {
        println!("cargo:warning=kplay's agent: not built (KPLAY_AGENT_BUILD=none): every host takes the sh path");
        None
    } else {
        match build(root, out_dir, mode == "host") {
            Ok(a) => Some(a),
            Err(e) => {
                println!("cargo:warning=kplay's agent could not be built ({e}): this kplay has no agent and every host takes the sh path");
                None
            }
        }
    };
    let code = match agent {
        Some(a) => format!(
            "Some(EmbeddedAgent {{ arch: {ARCH:?}, gz: include_bytes!({gz:?}), len: {len}, sha256: {sha:?}, glibc: ({maj}, {min}), built: {how:?} }})\n",
            gz = a.gz.display().to_string(),
            len = a.len,
            sha = a.sha256,
            maj = a.glibc.0,
            min = a.glibc.1,
            how = a.how,
        ),
        None => "None\n".to_string(),
    };
    std::fs::write(out_dir.join("agent.rs"), code).expect("writing OUT_DIR/agent.rs");
}

fn build(root: &Path, out_dir: &Path, host_only: bool) -> Result<Agent, String> {
    let cache = cache_dir(out_dir);
    let rustc = tool_version(&cargo_env("RUSTC", "rustc"), &["-V"]).unwrap_or_default();
    let sources = sources_hash(root)?;
    if !host_only {
        match toolchain(root) {
            Ok(tc) => {
                let key = key(&[&sources, &rustc, &tc.version, ZIG_TARGET]);
                let how = format!("{}, glibc 2.17 baseline", tc.version);
                let r = cached_or_build(&cache, &key, &how, |target_dir| {
                    let mut cmd = Command::new(&tc.zigbuild);
                    cmd.arg("zigbuild")
                        .env("CARGO_ZIGBUILD_PYTHON_PATH", &tc.python)
                        .args(["--target", ZIG_TARGET]);
                    run_cargo(cmd, root, target_dir)?;
                    Ok(target_dir.join("x86_64-unknown-linux-gnu/agent/kplay-agent"))
                });
                match r {
                    Ok(a) => {
                        note_built(&a);
                        return Ok(a);
                    }
                    Err(e) => println!(
                        "cargo:warning=kplay's agent: the glibc 2.17 build failed ({e}); using a host-built agent, which needs this machine's glibc or newer: older hosts take the sh path"
                    ),
                }
            }
            Err(e) => println!(
                "cargo:warning=kplay's agent: no Zig toolchain ({e}); using a host-built agent, which needs this machine's glibc or newer: older hosts take the sh path"
            ),
        }
    }
    let key = key(&[&sources, &rustc, "host"]);
    let a = cached_or_build(&cache, &key, "host toolchain", |target_dir| {
        let mut cmd = Command::new(cargo_env("CARGO", "cargo"));
        cmd.arg("build");
        run_cargo(cmd, root, target_dir)?;
        Ok(target_dir.join("agent/kplay-agent"))
    })?;
    note_built(&a);
    Ok(a)
}

/// Where cached agents live: /var/cache/kplay/agent, or under OUT_DIR when that cannot be written.
fn cache_dir(out_dir: &Path) -> PathBuf {
    let base = std::env::var_os("KPLAY_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/kplay"));
    let dir = base.join("agent");
    if std::fs::create_dir_all(&dir).is_ok() && writable(&dir) {
        dir
    } else {
        out_dir.join("agent-cache")
    }
}

fn writable(dir: &Path) -> bool {
    let probe = dir.join(format!(".probe-{}", std::process::id()));
    let ok = std::fs::write(&probe, b"").is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

/// The cached agent under `key`, else `make` builds it (given a target dir) and it is stored.
fn cached_or_build(
    cache: &Path,
    key: &str,
    how: &str,
    make: impl FnOnce(&Path) -> Result<PathBuf, String>,
) -> Result<Agent, String> {
    let dir = cache.join(key);
    let gz = dir.join("kplay-agent.gz");
    let raw = dir.join("kplay-agent");
    let mut built_in = None;
    if !(gz.is_file() && raw.is_file()) {
        let t0 = Instant::now();
        let built = make(&cache.join("target"))?;
        let bin = std::fs::read(&built).map_err(|e| format!("reading {}: {e}", built.display()))?;
        let tmp = cache.join(format!(".{key}.{}", std::process::id()));
        std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::write(tmp.join("kplay-agent"), &bin).map_err(|e| e.to_string())?;
        std::fs::write(tmp.join("kplay-agent.gz"), gzip(&bin)?).map_err(|e| e.to_string())?;
        // Another build that got there first wins; its copy is the same.
        if std::fs::rename(&tmp, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        built_in = Some(t0.elapsed().as_secs_f64());
    }
    let bin = std::fs::read(&raw).map_err(|e| format!("reading {}: {e}", raw.display()))?;
    let glibc = glibc_needed(&bin)?;
    Ok(Agent {
        gz,
        len: bin.len() as u64,
        sha256: hex::encode(Sha256::digest(&bin)),
        glibc,
        how: how.to_string(),
        built_in,
    })
}

/// Run `cmd` (cargo build or cargo-zigbuild zigbuild) on the agent crate with the `agent`
/// profile, in an environment without what cargo set for this build script (flags, wrappers
/// such as clippy-driver, the target dir) but with its jobserver, so the build shares the -j
/// limit of the outer one.
fn run_cargo(mut cmd: Command, root: &Path, target_dir: &Path) -> Result<(), String> {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        let keep = matches!(
            k.as_str(),
            "CARGO" | "CARGO_HOME" | "CARGO_MAKEFLAGS" | "CARGO_NET_OFFLINE"
        ) || k.starts_with("CARGO_REGISTRIES_")
            || k.starts_with("CARGO_HTTP_")
            || k.starts_with("CARGO_ZIGBUILD_");
        let drop = (k.starts_with("CARGO") && !keep)
            || k.starts_with("__CARGO")
            || k.starts_with("RUSTC")
            || matches!(
                k.as_str(),
                "RUSTFLAGS"
                    | "RUSTDOC"
                    | "TARGET"
                    | "HOST"
                    | "OUT_DIR"
                    | "OPT_LEVEL"
                    | "PROFILE"
                    | "DEBUG"
                    | "NUM_JOBS"
            );
        if drop {
            cmd.env_remove(&k);
        }
    }
    cmd.current_dir(root)
        .args([
            "-p",
            "kplay-agent",
            "--bin",
            "kplay-agent",
            "--profile",
            "agent",
            "--locked",
        ])
        .arg("--target-dir")
        .arg(target_dir);
    let out = cmd
        .output()
        .map_err(|e| format!("starting {}: {e}", cmd.get_program().to_string_lossy()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(6).collect();
        return Err(format!(
            "{} exited with {}: {}",
            cmd.get_program().to_string_lossy(),
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ));
    }
    Ok(())
}

struct Toolchain {
    python: String,
    zigbuild: String,
    /// e.g. `zig 0.15.2, cargo-zigbuild 0.24.1`.
    version: String,
}

/// Install (or find) Zig and cargo-zigbuild through scripts/agent-toolchain.sh.
fn toolchain(root: &Path) -> Result<Toolchain, String> {
    let out = Command::new("sh")
        .arg(root.join("scripts/agent-toolchain.sh"))
        .output()
        .map_err(|e| format!("running scripts/agent-toolchain.sh: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "scripts/agent-toolchain.sh failed: {}",
            err.lines().last().unwrap_or("no message")
        ));
    }
    // What the script installed, and how long that took (nothing when it was there).
    for l in String::from_utf8_lossy(&out.stderr).lines() {
        if l.starts_with("agent-toolchain: ") {
            println!("cargo:warning={l}");
        }
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::to_string)
            .ok_or_else(|| format!("scripts/agent-toolchain.sh printed no {name}"))
    };
    let (python, zigbuild) = (field("python=")?, field("zigbuild=")?);
    let zig = tool_version(&python, &["-m", "ziglang", "version"])?;
    let zb = tool_version(&zigbuild, &["--version"])?;
    Ok(Toolchain {
        python,
        zigbuild,
        version: format!("zig {zig}, {zb}"),
    })
}

fn tool_version(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{program} {} failed", args.join(" ")));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn cargo_env(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_string())
}

/// A fresh build says what it cost in a cargo warning (a cached one says nothing), so CI logs
/// show the time the agent adds.
fn note_built(a: &Agent) {
    if let Some(secs) = a.built_in {
        let gz = std::fs::metadata(&a.gz).map(|m| m.len()).unwrap_or(0);
        println!(
            "cargo:warning=kplay's agent built in {secs:.1}s ({}): {} bytes, {gz} gzip-compressed, needs glibc {}.{}",
            a.how, a.len, a.glibc.0, a.glibc.1
        );
    }
}

fn key(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(RECIPE);
    for p in parts {
        h.update([0]);
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())[..24].to_string()
}

/// A hash of everything the agent binary is made from: its crate's files, the `agent` profile
/// and workspace dependency declarations of the root manifest, and the locked packages the agent
/// depends on (only those: another crate adding a dependency does not rebuild the agent).
fn sources_hash(root: &Path) -> Result<String, String> {
    let mut h = Sha256::new();
    let mut files = Vec::new();
    walk(&root.join("agent"), &mut files)?;
    files.sort();
    for f in &files {
        let rel = f.strip_prefix(root).unwrap_or(f);
        h.update(rel.to_string_lossy().as_bytes());
        h.update([0]);
        h.update(std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?);
    }
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).map_err(|e| e.to_string())?;
    for section in [
        "[workspace.package]",
        "[workspace.dependencies]",
        "[profile.agent]",
        "[profile.release]",
    ] {
        h.update(toml_section(&manifest, section).as_bytes());
    }
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).map_err(|e| e.to_string())?;
    h.update(locked_closure(&lock, "kplay-agent").as_bytes());
    Ok(hex::encode(h.finalize()))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    for e in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let p = e.map_err(|e| e.to_string())?.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

/// The lines of one `[section]` of a TOML file, up to the next section header.
fn toml_section(text: &str, header: &str) -> String {
    let mut inside = false;
    let mut out = String::new();
    for l in text.lines() {
        if l.starts_with('[') {
            inside = l.trim() == header;
        }
        if inside {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// The `[[package]]` blocks of Cargo.lock reachable from `start`, in file order.
fn locked_closure(lock: &str, start: &str) -> String {
    let blocks: Vec<&str> = lock.split("[[package]]").skip(1).collect();
    let name_of = |b: &str| -> String {
        b.lines()
            .find_map(|l| l.strip_prefix("name = "))
            .unwrap_or("")
            .trim_matches('"')
            .to_string()
    };
    let mut by_name: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for b in &blocks {
        by_name.entry(name_of(b)).or_default().push(b);
    }
    let mut seen = BTreeSet::new();
    let mut todo = vec![start.to_string()];
    while let Some(n) = todo.pop() {
        if !seen.insert(n.clone()) {
            continue;
        }
        for b in by_name.get(&n).into_iter().flatten() {
            let mut in_deps = false;
            for l in b.lines() {
                let l = l.trim();
                if l.starts_with("dependencies = [") {
                    in_deps = true;
                } else if in_deps && l.starts_with(']') {
                    in_deps = false;
                } else if in_deps {
                    // `"name"` or `"name version"` or `"name version (source)"`.
                    let dep = l.trim_matches(|c| c == '"' || c == ',');
                    if let Some(d) = dep.split_whitespace().next() {
                        todo.push(d.to_string());
                    }
                }
            }
        }
    }
    blocks
        .iter()
        .filter(|b| seen.contains(&name_of(b)))
        .copied()
        .collect()
}

fn gzip(data: &[u8]) -> Result<Vec<u8>, String> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).map_err(|e| e.to_string())?;
    enc.finish().map_err(|e| e.to_string())
}

/// The newest `GLIBC_x.y` version the binary's dynamic symbols need (its `.gnu.version_r`),
/// read with the `object` crate. A static binary needs none: `(0, 0)`.
fn glibc_needed(bin: &[u8]) -> Result<(u32, u32), String> {
    let elf = object::read::elf::ElfFile64::<object::Endianness>::parse(bin)
        .map_err(|e| e.to_string())?;
    let endian = elf.endian();
    let sections = elf.elf_section_table();
    let mut newest = (0, 0);
    if let Some((mut needs, link)) = sections
        .gnu_verneed(endian, bin)
        .map_err(|e| e.to_string())?
    {
        let strings = sections
            .strings(endian, bin, link)
            .map_err(|e| e.to_string())?;
        while let Some((_, mut aux)) = needs.next().map_err(|e| e.to_string())? {
            while let Some(a) = aux.next().map_err(|e| e.to_string())? {
                let name = a.name(endian, strings).map_err(|e| e.to_string())?;
                if let Some(v) = std::str::from_utf8(name)
                    .ok()
                    .and_then(|n| n.strip_prefix("GLIBC_"))
                {
                    let mut it = v.split('.').map(|p| p.parse::<u32>().ok());
                    if let (Some(Some(maj)), Some(Some(min))) = (it.next(), it.next()) {
                        newest = newest.max((maj, min));
                    }
                }
            }
        }
    }
    Ok(newest)
}

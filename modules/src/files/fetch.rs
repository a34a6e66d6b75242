//! `fetch`: copy a file from the host to the controller, into `dest/<inventory_hostname>/<src>`
//! or (`flat`) exactly `dest`. One round trip: the snippet is told the SHA-1 of the controller's
//! copy and sends the content only when the host's file differs.

use crate::common::args::{p, Param, Spec};
use crate::common::install::sha1_hex;
use crate::common::{basename, run_sh};
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};
use std::path::{Component, Path, PathBuf};

const PARAMS: &[Param] = &[
    p("src", &[]).doc("The file on the host to fetch."),
    p("dest", &[]).doc("Controller directory (or, with `flat`, file) to store it in."),
    p("flat", &[])
        .flag(false)
        .doc("Store at `dest` itself instead of `dest/HOST/PATH`."),
    p("fail_on_missing", &["fail_when_missing"])
        .flag(true)
        .doc("Fail when `src` does not exist."),
    p("validate_checksum", &["validate_md5"])
        .flag(true)
        .doc("Check the fetched file's checksum."),
];

/// `fetch`'s declared arguments.
pub static SPEC: Spec = Spec::new("fetch", "Fetch files from remote nodes", &[PARAMS]);

const RC_MISSING: i32 = 3;
const RC_DIR: i32 = 4;
const RC_UNREADABLE: i32 = 5;

/// Checked `fetch` arguments.
#[derive(Debug, Clone, PartialEq)]
struct FetchArgs {
    src: String,
    dest: String,
    flat: bool,
    fail_on_missing: bool,
    validate_checksum: bool,
}

impl FetchArgs {
    fn parse(args: Map) -> Result<FetchArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let src = a.str("src")?.unwrap_or_default();
        let dest = a.str("dest")?.unwrap_or_default();
        if src.is_empty() || dest.is_empty() {
            return Err(ModuleError::new("src and dest are required"));
        }
        Ok(FetchArgs {
            src,
            dest,
            flat: a.flag("flat"),
            fail_on_missing: a.flag("fail_on_missing"),
            validate_checksum: a.flag("validate_checksum"),
        })
    }
}

/// Lexical `os.path.normpath`: drop `.` and empty parts, fold `..` into its parent.
fn normpath(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Where the file lands on the controller, as Ansible's fetch action computes it.
fn local_dest(a: &FetchArgs, host: &str) -> Result<PathBuf, ModuleError> {
    if a.flat {
        let d = Path::new(&a.dest);
        if d.is_dir() && !a.dest.ends_with('/') {
            return Err(ModuleError::new(
                "dest is an existing directory, use a trailing slash if you want to fetch src into that directory",
            ));
        }
        let full = if a.dest.ends_with('/') {
            d.join(basename(&a.src))
        } else {
            d.to_path_buf()
        };
        Ok(normpath(&full))
    } else {
        // CVE-2019-3828: a `src` (or host name) with `..` must not lead outside `dest`.
        let base = normpath(Path::new(&a.dest));
        let full = normpath(&PathBuf::from(format!("{}/{}/{}", a.dest, host, a.src)));
        if full == base || !full.starts_with(&base) {
            return Err(ModuleError::new(format!(
                "Detected directory traversal, expected to be contained in '{}' but got '{}'",
                base.display(),
                full.display()
            )));
        }
        Ok(full)
    }
}

/// Print the host file's SHA-1 on the first line, then its bytes unless they match `have`.
fn read_script(src: &str, have: Option<&str>) -> String {
    let q = sh_quote(src);
    format!(
        "[ -e {q} ] || exit {RC_MISSING}; [ -d {q} ] && exit {RC_DIR}; [ -r {q} ] || exit {RC_UNREADABLE}\n\
         c=$(sha1sum < {q}) || exit 1; c=${{c%% *}}; printf '%s\\n' \"$c\"\n\
         [ \"$c\" = {} ] && exit 0; cat -- {q}",
        sh_quote(have.unwrap_or("-"))
    )
}

fn md5_hex(data: &[u8]) -> String {
    format!("{:x}", md5::compute(data))
}

/// The ignorable failures: the file is not there (or not a file) on the host.
fn missing_result(a: &FetchArgs, msg: &str) -> Result<ModuleResult, ModuleError> {
    let r = ModuleResult::new(false).set("file", a.src.as_str());
    if a.fail_on_missing {
        let mut m = r.into_map();
        m.remove("changed");
        return Err(ModuleError::with_result(msg, m));
    }
    Ok(r.set("msg", format!("{msg}, not transferring, ignored")))
}

/// Not query → plan → apply ([`crate::planned`]): Changes the controller, not the host: the plan would be about local files.
pub struct FetchModule;

#[async_trait]
impl Module for FetchModule {
    fn name(&self) -> &'static str {
        "fetch"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = FetchArgs::parse(args)?;
        let dest = local_dest(&a, ctx.host)?;
        let local = match std::fs::read(&dest) {
            Ok(d) => Some(d),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(ModuleError::new(format!(
                    "could not read {}: {e}",
                    dest.display()
                )))
            }
        };
        let local_sum = local.as_deref().map(sha1_hex);
        let out = run_sh(ctx, read_script(&a.src, local_sum.as_deref()), None).await?;
        match out.rc {
            0 => {}
            RC_MISSING => return missing_result(&a, "the remote file does not exist"),
            RC_DIR => {
                return missing_result(
                    &a,
                    "remote file is a directory, fetch cannot work on directories",
                )
            }
            RC_UNREADABLE => return missing_result(&a, "no read permission on remote file"),
            _ => {
                return Err(ModuleError::new(format!(
                    "unable to calculate the checksum of the remote file: {}",
                    out.stderr_str().trim()
                )))
            }
        }
        let nl = out
            .stdout
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(out.stdout.len());
        let remote_sum = String::from_utf8_lossy(&out.stdout[..nl]).into_owned();
        let dest_s = dest.display().to_string();
        if local_sum.as_deref() == Some(remote_sum.as_str()) {
            let md5 = local.as_deref().map(md5_hex);
            return Ok(ModuleResult::new(false)
                .set("md5sum", md5.map(Value::String).unwrap_or(Value::Null))
                .set("file", a.src.as_str())
                .set("dest", dest_s)
                .set("checksum", remote_sum));
        }
        let data = out.stdout.get(nl + 1..).unwrap_or(&[]);
        let new_sum = sha1_hex(data);
        if a.validate_checksum && new_sum != remote_sum {
            return Err(ModuleError::with_result(
                "checksum mismatch",
                ModuleResult::new(false)
                    .set("file", a.src.as_str())
                    .set("dest", dest_s)
                    .set("checksum", new_sum)
                    .set("remote_checksum", remote_sum)
                    .into_map(),
            ));
        }
        if !ctx.check_mode {
            if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| {
                    ModuleError::new(format!("could not create {}: {e}", parent.display()))
                })?;
            }
            kplay_engine::transport::local::write_atomic(&dest, data, None)
                .map_err(|e| ModuleError::new(format!("Failed to fetch the file: {e}")))?;
        }
        Ok(ModuleResult::new(true)
            .set("md5sum", md5_hex(data))
            .set("dest", dest_s)
            .set("remote_md5sum", Value::Null)
            .set("checksum", new_sum)
            .set("remote_checksum", remote_sum))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;

    fn fa(src: &str, dest: &str, flat: bool) -> FetchArgs {
        FetchArgs {
            src: src.into(),
            dest: dest.into(),
            flat,
            fail_on_missing: true,
            validate_checksum: true,
        }
    }

    #[test]
    fn default_dest_nests_host_and_full_source_path() {
        let d = local_dest(&fa("/etc/hosts", "/backup", false), "web1").unwrap();
        assert_eq!(d, PathBuf::from("/backup/web1/etc/hosts"));
    }

    /// CVE-2019-3828: a `src` (or host name) that climbs out of `dest` is refused.
    #[test]
    fn source_paths_never_lead_outside_dest() {
        for (src, host) in [
            ("/../../../x", "web1"),
            ("../../etc/cron.d/x", "web1"),
            ("/etc/hosts", ".."),
            ("../web1", "."),
        ] {
            let e = local_dest(&fa(src, "/backup", false), host)
                .err()
                .unwrap_or_else(|| panic!("{src} on {host} was accepted"));
            assert!(e.msg.contains("Detected directory traversal"), "{}", e.msg);
        }
        let d = local_dest(&fa("/a/../etc/hosts", "backup/", false), "web1").unwrap();
        assert_eq!(d, PathBuf::from("backup/web1/etc/hosts"));
    }

    crate::testutil::both_paths! {
    async fn traversal_writes_nothing_outside_dest() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("host-file");
        std::fs::write(&src, "data\n").unwrap();
        let dest = d.path().join("fetched");
        let env = TestEnv::new(d.path());
        let rel = format!("/../../..{}", src.display());
        let r = FetchModule
            .run(
                &ctx(&env, false, false),
                args(json!({"src": rel, "dest": dest.to_string_lossy()})),
            )
            .await;
        assert!(r.is_err(), "{r:?}");
        assert_eq!(std::fs::read_to_string(&src).unwrap(), "data\n");
        assert!(!dest.exists());
    }
    }

    #[test]
    fn flat_dest_with_slash_takes_the_source_basename() {
        let d = local_dest(&fa("/etc/hosts", "/nonexistent-kplay/", true), "web1").unwrap();
        assert_eq!(d, PathBuf::from("/nonexistent-kplay/hosts"));
    }

    #[test]
    fn flat_dest_that_is_a_directory_without_slash_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let e = local_dest(&fa("/etc/hosts", t.path().to_str().unwrap(), true), "h").unwrap_err();
        assert!(e.msg.starts_with("dest is an existing directory"));
    }

    crate::testutil::both_paths! {
    async fn file_is_fetched_then_unchanged() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("remote.txt");
        std::fs::write(&src, b"data\n").unwrap();
        let dest = t.path().join("out");
        let env = TestEnv::new(t.path());
        let a = json!({"src": src.to_str().unwrap(), "dest": dest.to_str().unwrap()});
        let r = FetchModule
            .run(&ctx(&env, false, false), args(a.clone()))
            .await
            .unwrap().into_map();
        assert_eq!(r["changed"], true);
        let landed = normpath(&PathBuf::from(format!(
            "{}/localhost/{}",
            dest.display(),
            src.display()
        )));
        assert_eq!(r["dest"], landed.display().to_string());
        assert_eq!(std::fs::read(&landed).unwrap(), b"data\n");
        assert_eq!(r["checksum"], sha1_hex(b"data\n"));
        assert_eq!(r["md5sum"], md5_hex(b"data\n"));
        let r2 = FetchModule
            .run(&ctx(&env, false, false), args(a))
            .await
            .unwrap().into_map();
        assert_eq!(r2["changed"], false);
    }
    }

    crate::testutil::both_paths! {
    async fn check_mode_reports_change_and_writes_nothing() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("remote.txt");
        std::fs::write(&src, b"x").unwrap();
        let dest = t.path().join("out.txt");
        let env = TestEnv::new(t.path());
        let a = json!({"src": src.to_str().unwrap(), "dest": dest.to_str().unwrap(), "flat": true});
        let r = FetchModule
            .run(&ctx(&env, true, false), args(a))
            .await
            .unwrap().into_map();
        assert_eq!(r["changed"], true);
        assert!(!dest.exists());
    }
    }

    crate::testutil::both_paths! {
    async fn missing_file_fails_unless_fail_on_missing_is_off() {
        let t = tempfile::tempdir().unwrap();
        let env = TestEnv::new(t.path());
        let src = t.path().join("nope");
        let dest = t.path().join("o");
        let a = json!({"src": src.to_str().unwrap(), "dest": dest.to_str().unwrap()});
        let e = FetchModule
            .run(&ctx(&env, false, false), args(a))
            .await
            .unwrap_err();
        assert_eq!(e.msg, "the remote file does not exist");
        let a = json!({"src": src.to_str().unwrap(), "dest": dest.to_str().unwrap(), "fail_on_missing": "no"});
        let r = FetchModule
            .run(&ctx(&env, false, false), args(a))
            .await
            .unwrap().into_map();
        assert_eq!(
            r["msg"],
            "the remote file does not exist, not transferring, ignored"
        );
        assert_eq!(r["changed"], false);
    }
    }
}

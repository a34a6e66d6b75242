//! `unarchive`'s host side: getting the archive onto the host and inspecting it (query), and
//! unpacking it with the attribute fixes (apply).

use super::inspect::{attr_fixes, inspect_script, parse_inspect};
use super::{
    Changes, Seen, Source, UnarchiveArgs, RC_CREATES, RC_LIST, RC_NOT_DIR, RC_NO_SRC, RC_NO_UNZIP,
};
use crate::common::attrs::{attr_failure, path_info};
use crate::common::probe::{parse_reply, PROBE_FN};
use crate::common::run_sh;
use crate::common::upload::{self, Upload};
use crate::target_http::{request, HttpRequest, Redirects, Sink, Via};
use kplay_engine::module::{FileKind, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};
use std::time::Duration;

/// Whether `creates` exists (checked before anything is uploaded).
async fn created(ctx: &ModuleContext<'_>, a: &UnarchiveArgs) -> Result<bool, ModuleError> {
    match &a.creates {
        Some(c) => Ok(run_sh(ctx, format!("[ -e {} ]", sh_quote(c)), None)
            .await?
            .rc
            == 0),
        None => Ok(false),
    }
}

/// Put the archive on the host: the upload or download goes into a private directory.
async fn obtain(
    ctx: &ModuleContext<'_>,
    a: &UnarchiveArgs,
) -> Result<(String, Option<Upload>), ModuleError> {
    match &a.source {
        Source::Host(p) => Ok((p.clone(), None)),
        Source::Controller(src) => {
            let local = ctx.env.find_file(FileKind::Files, src).ok_or_else(|| {
                ModuleError::new(format!(
                    "Could not find or access '{src}' on the Ansible Controller."
                ))
            })?;
            let up = upload::upload(ctx, &local, &a.src_name).await?;
            Ok((up.path.clone(), Some(up)))
        }
        Source::Url(url) => {
            let up = upload::private_dir(ctx, &a.src_name).await?;
            let req = HttpRequest {
                url: url.clone(),
                method: "GET".into(),
                headers: vec![],
                body: None,
                timeout: Duration::from_secs(10),
                validate_certs: a.validate_certs,
                auth: None,
                redirects: Redirects::Safe,
            };
            let status = match request(ctx, &req, &Sink::HostFile(up.path.clone()), Via::Auto).await
            {
                Ok(r) => r.status,
                Err(e) => {
                    upload::remove(ctx, &up).await;
                    return Err(e.into());
                }
            };
            if status != 200 {
                upload::remove(ctx, &up).await;
                return Err(ModuleError::new(format!(
                    "Failure downloading {url}, HTTP Error {status}"
                )));
            }
            Ok((up.path.clone(), Some(up)))
        }
    }
}

/// `creates`, then the archive on the host, then one inspection; an upload is removed again
/// when the inspection fails.
pub async fn query(ctx: &ModuleContext<'_>, a: &UnarchiveArgs) -> Result<Seen, ModuleError> {
    if !matches!(a.source, Source::Host(_)) && created(ctx, a).await? {
        return Ok(Seen {
            archive: a.src_name.clone(),
            temp: None,
            inspect: None,
        });
    }
    let (archive, temp) = obtain(ctx, a).await?;
    let out = run_sh(ctx, inspect_script(a, &archive), None).await;
    let inspected = out.and_then(|out| match inspect_failure(a, out.rc, &out.stderr_str()) {
        Some(e) => Err(e),
        None => Ok(out),
    });
    let out = match inspected {
        Ok(out) => out,
        Err(e) => {
            if let Some(up) = &temp {
                upload::remove(ctx, up).await;
            }
            return Err(e);
        }
    };
    let inspect = (out.rc != RC_CREATES).then(|| parse_inspect(&out.stdout_str()));
    Ok(Seen {
        archive,
        temp,
        inspect,
    })
}

/// The failure an inspection's exit code stands for (none for 0 and `creates`).
fn inspect_failure(a: &UnarchiveArgs, rc: i32, stderr: &str) -> Option<ModuleError> {
    let handler = |why: &str| {
        format!(
            "Failed to find handler for \"{}\". Make sure the required command to extract the file is installed.\n{why}",
            a.src_name
        )
    };
    let msg = match rc {
        0 | RC_CREATES => return None,
        RC_NOT_DIR => format!("Destination '{}' is not a directory", a.dest),
        RC_NO_SRC => format!("Source '{}' does not exist", a.src_name),
        RC_NO_UNZIP => handler("Unable to find required 'unzip' binary in the path."),
        RC_LIST => handler(stderr.trim()),
        rc => format!(
            "could not inspect {} (rc {rc}): {}",
            a.src_name,
            stderr.trim()
        ),
    };
    Some(ModuleError::new(msg))
}

/// The unpacking script: extract (unless everything is in place) or fix attributes, then
/// report `dest`.
fn script(a: &UnarchiveArgs, c: &Changes, extract: &str) -> String {
    let mut s = format!(
        "{PROBE_FN}a={}; d={}\n",
        sh_quote(&c.archive),
        sh_quote(&a.dest)
    );
    if c.unpacked {
        s.push_str(&c.attrs_sh);
    } else {
        s.push_str(&format!(
            "{extract} >/dev/null; rc=$?\nprintf 'R %s\\n' $rc\n[ $rc = 0 ] || exit $rc\n"
        ));
    }
    s.push_str("kp \"$d\" 1 - -1 0\n");
    s
}

/// Unpack; after an extraction the new members are inspected again and their attributes
/// fixed in a follow-up call.
pub async fn apply(
    ctx: &ModuleContext<'_>,
    a: &UnarchiveArgs,
    c: &Changes,
    mut r: ModuleResult,
) -> Result<ModuleResult, ModuleError> {
    let extract = a.extract_cmd(c.format);
    let out = run_sh(ctx, script(a, c, &extract), None).await?;
    let stderr = out.stderr_str();
    let mut er = Map::new();
    let cmd = extract
        .replace("\"$a\"", &sh_quote(&c.archive))
        .replace("\"$d\"", &sh_quote(&a.dest));
    er.insert("cmd".into(), Value::String(cmd));
    er.insert("rc".into(), Value::from(out.rc));
    er.insert("out".into(), Value::String(String::new()));
    er.insert("err".into(), Value::String(stderr.clone()));
    r.insert("extract_results", Value::Object(er));
    if out.rc != 0 {
        let msg = attr_failure(out.rc, &stderr)
            .unwrap_or_else(|| format!("failed to unpack {} to {}", a.src_name, a.dest));
        return Err(ModuleError::with_result(msg, r.into_map()));
    }
    let has_attrs = a.attrs.mode.is_some() || a.attrs.owner.is_some() || a.attrs.group.is_some();
    if !c.unpacked && has_attrs {
        let again = run_sh(ctx, inspect_script(a, &c.archive), None).await?;
        let (_, fix) = attr_fixes(a, &parse_inspect(&again.stdout_str()), &a.dest);
        if !fix.is_empty() {
            let fixed = run_sh(ctx, fix, None).await?;
            if let Some(m) = attr_failure(fixed.rc, &fixed.stderr_str()) {
                return Err(ModuleError::with_result(m, r.into_map()));
            }
        }
    }
    let stdout = out.stdout;
    let from = stdout
        .windows(2)
        .position(|w| w == b"P\n")
        .unwrap_or(stdout.len());
    if let Ok((_, stats)) = parse_reply(&stdout[from..], &[a.dest.as_str()]) {
        if let Some(st) = stats.first() {
            path_info(st, &mut r.extra);
        }
    }
    Ok(r)
}

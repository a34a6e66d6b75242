//! `get_url`'s host side: the query (stat, checksum file, check mode's HEAD) and the
//! download with its finishing snippet.

use crate::common::reads::ensure_status;
use super::decide::{final_dest, ok_msg, Decision, Head};
use super::{checksum_from_file, decide, download_name, Checksum, Download, GetUrlArgs, Seen};
use crate::common::attrs::{attr_failure, path_info};
use crate::common::probe::{
    parse_reply, probe, HostInfo, PathKind, PathStat, ProbeRequest, PROBE_FN,
};
use crate::common::write::{install_shell, WriteRequest, TEMP_PREFIX};
use crate::common::{join_remote, remote_dirname, run_sh};
use crate::target_http::{request, HttpRequest, HttpResponse, Sink};
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::Value;
use std::time::Instant;

/// Exit codes of the finishing snippet.
pub const RC_MISMATCH: i32 = 81;

/// The finishing snippet: verify, compare, then the one write's install of the temp file (keep
/// owner and mode, attributes, backup, rename) or, for the same content, fix attributes; report.
pub fn finish_script(
    tmp: &str,
    want: Option<(&str, &str)>,
    install: &WriteRequest<'_>,
    attrs_sh: &str,
) -> String {
    let dest = install.dest;
    let mut s = String::from(PROBE_FN);
    s.push_str(&format!(
        "t={}; f={}\ntrap 'rm -f \"$t\"' EXIT\n",
        sh_quote(tmp),
        sh_quote(dest)
    ));
    s.push_str("new=$(sha1sum < \"$t\") || exit 1; new=${new%% *}\n");
    if let Some((algo, hex)) = want {
        s.push_str(&format!(
            "sum=$({algo}sum < \"$t\") || exit 1; sum=${{sum%% *}}\n[ \"$sum\" = {} ] || {{ printf 'M %s\\n' \"$sum\"; exit {RC_MISMATCH}; }}\n",
            sh_quote(hex)
        ));
    }
    s.push_str("old=-; [ -f \"$f\" ] && { old=$(sha1sum < \"$f\"); old=${old%% *}; }\n");
    s.push_str("printf 'S %s %s %s\\n' \"$new\" \"$old\" \"$(wc -c < \"$t\")\"\n");
    s.push_str("if [ \"$new\" != \"$old\" ]; then\n");
    s.push_str(&install_shell(install, tmp));
    s.push_str("else\n:\n");
    s.push_str(attrs_sh);
    s.push_str("fi\n");
    s.push_str("kp \"$f\" 0 - -1 0\n");
    s
}

/// A temp name beside `dest` (or in `tmp_dest`) for the download.
pub fn temp_for(dir: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    join_remote(
        dir,
        &format!("{TEMP_PREFIX}{}.{nanos}.get_url", std::process::id()),
    )
}

/// The digest command for the `checksum` algorithm (`sha1sum` without one).
fn sum_cmd(a: &GetUrlArgs) -> &'static str {
    match a.checksum.as_ref().map(Checksum::algorithm) {
        Some("md5") => "md5sum",
        Some("sha224") => "sha224sum",
        Some("sha256") => "sha256sum",
        Some("sha384") => "sha384sum",
        Some("sha512") => "sha512sum",
        _ => "sha1sum",
    }
}

/// The request for the URL: `If-Modified-Since` for a file already there, `no-cache` when
/// forced (what ansible's `fetch_url` sends).
fn the_request(a: &GetUrlArgs, method: &str, force: bool, since: Option<f64>) -> HttpRequest {
    let mut req = a.req.clone();
    req.method = method.into();
    if force {
        req.headers
            .push(("Cache-Control".into(), "no-cache".into()));
    } else if let Some(t) = since {
        req.headers
            .push(("If-Modified-Since".into(), super::decide::http_date(t)));
    }
    req
}

/// One probe of `path` (following links) with SHA-1, and the writing user.
async fn stat_sha1(
    ctx: &ModuleContext<'_>,
    path: &str,
) -> Result<(PathStat, HostInfo), ModuleError> {
    let pr = probe(ctx, &[ProbeRequest::new(path).follow(true)]).await?;
    let st = pr.paths.into_iter().next();
    Ok((st.unwrap_or_else(|| PathStat::absent(path)), pr.host))
}

/// Stat `dest` and its directory, fetch a checksum file, and in check mode ask the server.
pub async fn query(ctx: &ModuleContext<'_>, a: &GetUrlArgs) -> Result<Seen, ModuleError> {
    let pr = probe(
        ctx,
        &[
            ProbeRequest::new(&a.dest)
                .follow(true)
                .checksum(Some(sum_cmd(a))),
            ProbeRequest::new(&a.dest).follow(true),
            ProbeRequest::new(&remote_dirname(&a.dest)).checksum(None),
        ],
    )
    .await?;
    let mut paths = pr.paths.into_iter();
    let dest = paths.next().unwrap_or_else(|| PathStat::absent(&a.dest));
    let dest_sha1 = paths.next().and_then(|s| s.checksum);
    let parent_is_dir = paths.next().is_some_and(|p| p.kind == PathKind::Directory);
    let expected = expected_checksum(ctx, a).await?;
    let mut seen = Seen {
        dest,
        dest_sha1,
        parent_is_dir,
        umask: pr.host.umask,
        host: pr.host.clone(),
        expected,
        head: None,
    };
    if seen.dest.kind != PathKind::Directory && !parent_is_dir {
        // ansible-core asks the server before it looks at dest's directory, so on an
        // air-gapped host an unreachable URL is reported (naming it), not the directory; a
        // server that answers leaves the missing directory to `plan` (one request only).
        let start = Instant::now();
        let req = the_request(a, "HEAD", false, None);
        let resp = request(ctx, &req, &Sink::Return, a.via)
            .await
            .map_err(|e| no_answer(a, e, start))?;
        if resp.status != 200 {
            return Err(http_error(a, resp.status, start));
        }
        return Ok(seen);
    }
    if ctx.check_mode {
        if let Decision::Download {
            force,
            if_modified_since,
        } = decide(a, &seen.dest, seen.expected.as_ref(), seen.umask)
        {
            seen.head = Some(head(ctx, a, &seen, force, if_modified_since).await?);
        }
    }
    Ok(seen)
}

/// Check mode's HEAD request, and the SHA-1 of the file it names.
async fn head(
    ctx: &ModuleContext<'_>,
    a: &GetUrlArgs,
    seen: &Seen,
    force: bool,
    since: Option<f64>,
) -> Result<Head, ModuleError> {
    let start = Instant::now();
    let req = the_request(a, "HEAD", force, since);
    let resp = request(ctx, &req, &Sink::Return, a.via)
        .await
        .map_err(|e| no_answer(a, e, start))?;
    let disposition = resp.header("content-disposition").map(str::to_string);
    let dest_sha1 = if seen.dest.kind == PathKind::Directory {
        let f = final_dest(&seen.dest, &resp.url, disposition.as_deref());
        stat_sha1(ctx, &f).await?.0.checksum
    } else {
        seen.dest_sha1.clone()
    };
    Ok(Head {
        status: resp.status,
        url: resp.url.clone(),
        content_length: resp.header("content-length").map(str::to_string),
        disposition,
        dest_sha1,
    })
}

/// The expected hex checksum, fetching a checksum file when `checksum` names a URL.
async fn expected_checksum(
    ctx: &ModuleContext<'_>,
    a: &GetUrlArgs,
) -> Result<Option<(String, String)>, ModuleError> {
    match &a.checksum {
        None => Ok(None),
        Some(Checksum::Value { algorithm, hex }) => Ok(Some((algorithm.clone(), hex.clone()))),
        Some(Checksum::Url { algorithm, url }) => {
            let mut req = a.req.clone();
            req.url = url.clone();
            let r = request(ctx, &req, &Sink::Return, a.via).await?;
            if r.status != 200 {
                return Err(ModuleError::new(format!(
                    "Request failed: HTTP Error {} for checksum URL {url}",
                    r.status
                )));
            }
            let name = download_name(&a.url, None);
            let hex =
                checksum_from_file(&String::from_utf8_lossy(&r.body), &name).ok_or_else(|| {
                    ModuleError::new(format!(
                        "Unable to find a checksum for file '{name}' in '{url}'"
                    ))
                })?;
            Ok(Some((algorithm.clone(), hex)))
        }
    }
}

/// The fields ansible-core's `url_get` gives a failed request: `url`, `dest`, `elapsed`.
fn request_fields(a: &GetUrlArgs, start: Instant) -> ModuleResult {
    ModuleResult::new(false)
        .set("dest", a.dest.as_str())
        .set("url", a.url.as_str())
        .set("elapsed", start.elapsed().as_secs())
}

/// No answer from the server: ansible-core's status -1, `Request failed: <why>`.
fn no_answer(a: &GetUrlArgs, e: impl std::fmt::Display, start: Instant) -> ModuleError {
    let r = request_fields(a, start).set("status_code", -1);
    ModuleError::with_result(e.to_string(), r.into_map())
}

/// An HTTP error status, as ansible-core's `Request failed` with `status_code` and `response`.
fn http_error(a: &GetUrlArgs, status: u16, start: Instant) -> ModuleError {
    let r = request_fields(a, start)
        .set("status_code", status)
        .set("response", format!("HTTP Error {status}"));
    ModuleError::with_result("Request failed", r.into_map())
}

/// GET the URL into a temp file; `Ok(Err(result))` is the task's result without a file
/// (304 Not Modified).
async fn get(
    ctx: &ModuleContext<'_>,
    a: &GetUrlArgs,
    tmp: &str,
    force: bool,
    since: Option<f64>,
) -> Result<Result<HttpResponse, ModuleResult>, ModuleError> {
    let start = Instant::now();
    let req = the_request(a, "GET", force, since);
    let resp = request(ctx, &req, &Sink::HostFile(tmp.to_string()), a.via).await;
    if !matches!(&resp, Ok(r) if r.status == 200) {
        let _ = run_sh(ctx, format!("rm -f {}", sh_quote(tmp)), None).await;
    }
    match resp {
        Err(e) => Err(no_answer(a, e, start)),
        Ok(r) if r.status == 304 => Ok(Err(request_fields(a, start)
            .set("msg", "HTTP Error 304: Not Modified")
            .set("status_code", 304))),
        Ok(r) if r.status != 200 => Err(http_error(a, r.status, start)),
        Ok(r) => Ok(Ok(r)),
    }
}

/// Download and put the file in place (or keep the old one when the bytes are the same).
pub async fn download(
    ctx: &ModuleContext<'_>,
    a: &GetUrlArgs,
    d: Download,
) -> Result<ModuleResult, ModuleError> {
    let start = Instant::now();
    let (force, since) = (d.force, d.if_modified_since);
    let (dest, host) = (d.dest, d.host);
    let dest_is_dir = dest.kind == PathKind::Directory;
    let tmp_dir = a.tmp_dest.clone().unwrap_or_else(|| match dest_is_dir {
        true => a.dest.clone(),
        false => remote_dirname(&a.dest),
    });
    let tmp = temp_for(&tmp_dir);
    let resp = match get(ctx, a, &tmp, force, since).await? {
        Ok(r) => r,
        Err(not_modified) => return Ok(not_modified.set("elapsed", start.elapsed().as_secs())),
    };
    // A directory destination gets its name from the response; learn that file's state now.
    let final_path = final_dest(&dest, &resp.url, resp.header("content-disposition"));
    let final_st = match dest_is_dir {
        true => stat_sha1(ctx, &final_path).await?.0,
        false => dest,
    };
    let target = Target {
        tmp: &tmp,
        path: &final_path,
        st: final_st,
        host: &host,
    };
    let mut r = install(ctx, a, target, d.expected).await?;
    r.insert("url", resp.url.as_str());
    r.insert("status_code", resp.status);
    r.insert("elapsed", start.elapsed().as_secs());
    if let Some(len) = resp.header("content-length") {
        r.insert("msg", ok_msg(Some(len)));
    }
    Ok(r)
}

/// Where the downloaded temp file goes.
struct Target<'a> {
    tmp: &'a str,
    path: &'a str,
    /// The file there now (absent for a new one).
    st: PathStat,
    host: &'a HostInfo,
}

/// Run the finishing snippet on the downloaded temp file and read its report.
async fn install(
    ctx: &ModuleContext<'_>,
    a: &GetUrlArgs,
    t: Target<'_>,
    want: Option<(String, String)>,
) -> Result<ModuleResult, ModuleError> {
    let (tmp, final_dest) = (t.tmp, t.path);
    let before = if t.st.exists() {
        t.st
    } else {
        PathStat::new_by(final_dest, PathKind::File, t.host)
    };
    let attr_changes = a.attrs.changes(&before, t.host.umask);
    let install = WriteRequest {
        dest: final_dest,
        mode: attr_changes.mode.map(|(_, m)| m),
        owner: attr_changes.owner.as_ref().map(|(_, o)| o.as_str()),
        group: attr_changes.group.as_ref().map(|(_, g)| g.as_str()),
        backup: a.backup,
        ..Default::default()
    };
    let script = finish_script(
        tmp,
        want.as_ref().map(|(al, h)| (al.as_str(), h.as_str())),
        &install,
        &attr_changes.shell(final_dest, false),
    );
    let out = run_sh(ctx, script, None).await?;
    let stdout = out.stdout_str();
    if out.rc == RC_MISMATCH {
        let got = stdout
            .lines()
            .find_map(|l| l.strip_prefix("M "))
            .unwrap_or("");
        let (_, hex) = want.unwrap_or_default();
        return Err(ModuleError::new(format!(
            "The checksum for {final_dest} did not match {hex}; it was {got}."
        )));
    }
    if let Some(m) = attr_failure(out.rc, &out.stderr_str()) {
        return Err(ModuleError::new(m));
    }
    ensure_status(&out, |e| format!("failed to put {final_dest} in place: {e}"))?;
    Ok(report(
        &stdout,
        &out.stdout,
        final_dest,
        before,
        !attr_changes.is_empty(),
    ))
}

/// The result from the snippet's `S`, `B` and probe records.
fn report(
    stdout: &str,
    raw: &[u8],
    final_dest: &str,
    before: PathStat,
    attrs_changed: bool,
) -> ModuleResult {
    let mut sums = stdout
        .lines()
        .find_map(|l| l.strip_prefix("S "))
        .unwrap_or("")
        .split(' ');
    let checksum_src = sums.next().unwrap_or("").to_string();
    let checksum_dest = sums.next().unwrap_or("-").to_string();
    let size: u64 = sums.next().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    let backup_file = stdout
        .lines()
        .find_map(|l| l.strip_prefix("B "))
        .map(str::to_string);
    let content_changed = checksum_src != checksum_dest;
    let probe_part = stdout.find("P\n").map(|i| &raw[i..]).unwrap_or(&[]);
    let st = parse_reply(probe_part, &[final_dest])
        .ok()
        .and_then(|(_, s)| s.into_iter().next())
        .unwrap_or(before);
    let mut r = ModuleResult::new(content_changed || attrs_changed)
        .set("dest", final_dest)
        .set("checksum_src", checksum_src.as_str())
        .set(
            "checksum_dest",
            match checksum_dest.as_str() {
                "-" => Value::Null,
                _ => Value::String(checksum_dest.clone()),
            },
        )
        .set("msg", format!("OK ({size} bytes)"));
    if let Some(b) = backup_file {
        r.insert("backup_file", b);
    }
    path_info(&st, &mut r.extra);
    r.insert("size", size);
    r
}

//! `get_url`: download a URL to a file on the host, from the host's point of view (curl on the
//! host, else the controller's client through a tunnel the host's sshd opens; see
//! [`crate::target_http`]).
//!
//! Round trips: one probe of `dest`; when the file must be (re)downloaded, the download into a
//! temp file beside `dest`, then one finishing snippet that verifies `checksum`, compares with the
//! old file, backs up, renames and applies `mode`/`owner`/`group`. An existing `dest` with
//! `force: no` (and a matching `checksum`, if given) is never downloaded again.

use crate::common::args::{p, Param, Spec, FILE_COMMON};
use crate::common::attrs::{attr_failure, path_info, AttrSpec};
use crate::common::probe::{parse_reply, probe, PathKind, PathStat, ProbeRequest, PROBE_FN};
use crate::common::write::{install_shell, set_attrs, WriteRequest, TEMP_PREFIX};
use crate::common::{basename, join_remote, remote_dirname, run_sh};
use crate::target_http::{request, HttpRequest, Redirects, Sink, Via};
use crate::wait_for_connection::seconds;
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};
use std::time::{Duration, Instant};

const PARAMS: &[Param] = &[
    p("url", &[])
        .required()
        .doc("HTTP, HTTPS or FTP URL to download."),
    p("dest", &[])
        .required()
        .doc("Remote file (or directory) to download to."),
    p("tmp_dest", &[]).doc("Remote directory for the temporary download."),
    p("force", &["thirsty"])
        .flag(false)
        .doc("Download again even when `dest` exists (unless the checksum matches)."),
    p("backup", &[])
        .flag(false)
        .doc("Keep a timestamped copy of the file being replaced."),
    p("checksum", &[])
        .doc("`ALGORITHM:HEX` (or `ALGORITHM:URL` of a checksum file) the download must match."),
    p("use_proxy", &[]).doc("Use the proxy environment variables."),
    p("validate_certs", &[])
        .flag(true)
        .doc("Verify TLS certificates."),
    p("timeout", &[]).doc("Seconds for the request."),
    p("headers", &[]).doc("Extra request headers (a dict)."),
    p("url_username", &["username"]).doc("User for HTTP basic authentication."),
    p("url_password", &["password"]).doc("Password for HTTP basic authentication."),
    p("force_basic_auth", &[])
        .flag(false)
        .doc("Send basic authentication without waiting for a 401."),
    p("client_cert", &[]).doc("Client certificate (PEM) for TLS."),
    p("client_key", &[]).doc("Client private key (PEM) for TLS."),
    p("http_agent", &[]).doc("User-Agent header."),
    p("use_gssapi", &[]).doc("Accepted (no GSSAPI support)."),
    p("use_netrc", &[]).doc("Use credentials from ~/.netrc."),
    p("unredirected_headers", &[]).doc("Headers not sent again after a redirect."),
    p("decompress", &[]).doc("Decompress gzip-encoded responses."),
    p("ciphers", &[]).doc("TLS cipher list."),
    p("follow_redirects", &[]).doc("Whether to follow redirects (`safe`, `all`, `none` …)."),
];

/// `get_url`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "get_url",
    "Downloads files from HTTP, HTTPS, or FTP to node",
    &[PARAMS, FILE_COMMON],
);

/// Checksum algorithms Ansible accepts, each with the coreutils tool the host runs.
const ALGORITHMS: &[&str] = &["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];

/// A `checksum` argument: `algorithm:hex` or `algorithm:URL of a checksum file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checksum {
    Value { algorithm: String, hex: String },
    Url { algorithm: String, url: String },
}

impl Checksum {
    pub fn parse(s: &str) -> Result<Checksum, ModuleError> {
        let (algo, rest) = s.split_once(':').ok_or_else(|| {
            ModuleError::new("The checksum parameter has to be in format <algorithm>:<checksum>")
        })?;
        let algorithm = algo.trim().to_ascii_lowercase();
        if !ALGORITHMS.contains(&algorithm.as_str()) {
            return Err(ModuleError::new(format!(
                "Unsupported hash algorithm '{algorithm}': must be one of {}",
                ALGORITHMS.join(", ")
            )));
        }
        let rest = rest.trim();
        if rest.contains("://") {
            return Ok(Checksum::Url {
                algorithm,
                url: rest.to_string(),
            });
        }
        let hex = rest.to_ascii_lowercase();
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ModuleError::new(
                "The checksum format is invalid: it must be a hexadecimal string",
            ));
        }
        Ok(Checksum::Value { algorithm, hex })
    }

    pub fn algorithm(&self) -> &str {
        match self {
            Checksum::Value { algorithm, .. } | Checksum::Url { algorithm, .. } => algorithm,
        }
    }
}

/// Find the checksum for `filename` in a `sha256sum`-style file (or a file holding one hash).
pub fn checksum_from_file(text: &str, filename: &str) -> Option<String> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    for l in &lines {
        let mut parts = l.split_whitespace();
        let (Some(h), Some(name)) = (parts.next(), parts.next()) else {
            continue;
        };
        let name = name.trim_start_matches('*').trim_start_matches("./");
        if name == filename {
            return Some(h.to_ascii_lowercase());
        }
    }
    match lines.as_slice() {
        [only] if only.split_whitespace().count() == 1 => Some(only.to_ascii_lowercase()),
        _ => None,
    }
}

/// The file name a download gets inside a `dest` directory: `Content-Disposition`'s
/// `filename`, else the URL's last path component, else `index.html` (Ansible's rule).
pub fn download_name(url: &str, disposition: Option<&str>) -> String {
    if let Some(d) = disposition {
        for part in d.split(';') {
            if let Some(v) = part.trim().strip_prefix("filename=") {
                let v = basename(v.trim().trim_matches('"'));
                if !v.is_empty() {
                    return v;
                }
            }
        }
    }
    let path = url.split(['?', '#']).next().unwrap_or("");
    let path = path.split_once("://").map(|(_, r)| r).unwrap_or(path);
    let name = match path.split_once('/') {
        Some((_, p)) => basename(p),
        None => String::new(),
    };
    if name.is_empty() {
        "index.html".into()
    } else {
        name
    }
}

/// Checked `get_url` arguments.
#[derive(Debug, Clone)]
struct GetUrlArgs {
    url: String,
    dest: String,
    tmp_dest: Option<String>,
    force: bool,
    backup: bool,
    checksum: Option<Checksum>,
    attrs: AttrSpec,
    req: HttpRequest,
}

/// Header dict (or `k:v,k:v` string) into pairs.
pub(crate) fn header_pairs(v: Option<&Value>) -> Result<Vec<(String, String)>, ModuleError> {
    match v {
        None => Ok(vec![]),
        Some(Value::Object(m)) => Ok(m.iter().map(|(k, v)| (k.clone(), kplay_engine::value::to_display_string(v))).collect()),
        Some(Value::String(s)) => s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| {
                p.split_once(':')
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .ok_or_else(|| ModuleError::new("The string representation for the `headers` parameter requires a key:value,key:value syntax to be properly parsed."))
            })
            .collect(),
        Some(_) => Err(ModuleError::new("argument 'headers' is of type <class 'list'> and we were unable to convert to dict")),
    }
}

impl GetUrlArgs {
    fn parse(args: Map) -> Result<GetUrlArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let url = a.str("url")?.unwrap_or_default();
        let checksum = match a.str("checksum")?.filter(|c| !c.is_empty()) {
            Some(c) => Some(Checksum::parse(&c)?),
            None => None,
        };
        let mut headers = header_pairs(a.raw("headers"))?;
        if let Some(agent) = a.str("http_agent")? {
            headers.push(("User-Agent".into(), agent));
        }
        let password = a.str("url_password")?.unwrap_or_default();
        let auth = a.str("url_username")?.map(|u| (u, password));
        a.flag("force_basic_auth");
        let redirects =
            Redirects::parse(&a.str("follow_redirects")?.unwrap_or_else(|| "safe".into()))?;
        Ok(GetUrlArgs {
            dest: a.str("dest")?.unwrap_or_default(),
            tmp_dest: a.str("tmp_dest")?,
            force: a.flag("force"),
            backup: a.flag("backup"),
            checksum,
            attrs: AttrSpec::from_args(&a, false)?,
            req: HttpRequest {
                url: url.clone(),
                method: "GET".into(),
                headers,
                body: None,
                timeout: Duration::from_secs_f64(seconds(&a, "timeout", 10.0)?.max(0.001)),
                validate_certs: a.flag("validate_certs"),
                auth,
                redirects,
            },
            url,
        })
    }
}

/// Exit codes of the finishing snippet.
pub(crate) const RC_MISMATCH: i32 = 81;

/// The finishing snippet: verify, compare, then the one write's install of the temp file (keep
/// owner and mode, attributes, backup, rename) or, for the same content, fix attributes; report.
pub(crate) fn finish_script(
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
pub(crate) fn temp_for(dir: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    join_remote(
        dir,
        &format!("{TEMP_PREFIX}{}.{nanos}.get_url", std::process::id()),
    )
}

/// The expected hex checksum, fetching a checksum file when `checksum` names a URL.
async fn expected_checksum(
    ctx: &ModuleContext<'_>,
    a: &GetUrlArgs,
    via: Via,
) -> Result<Option<(String, String)>, ModuleError> {
    match &a.checksum {
        None => Ok(None),
        Some(Checksum::Value { algorithm, hex }) => Ok(Some((algorithm.clone(), hex.clone()))),
        Some(Checksum::Url { algorithm, url }) => {
            let mut req = a.req.clone();
            req.url = url.clone();
            let r = request(ctx, &req, &Sink::Return, via).await?;
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

/// Run `get_url` with an explicit way of reaching the server (tests force the tunnel).
async fn run_get_url(
    ctx: &ModuleContext<'_>,
    args: Map,
    via: Via,
) -> Result<ModuleResult, ModuleError> {
    let start = Instant::now();
    let a = GetUrlArgs::parse(args)?;
    let algo = a.checksum.as_ref().map(|c| c.algorithm().to_string());
    let sum_cmd: &'static str = match algo.as_deref() {
        Some("md5") => "md5sum",
        Some("sha224") => "sha224sum",
        Some("sha256") => "sha256sum",
        Some("sha384") => "sha384sum",
        Some("sha512") => "sha512sum",
        _ => "sha1sum",
    };
    let pr = probe(
        ctx,
        &[
            ProbeRequest::new(&a.dest)
                .follow(true)
                .checksum(Some(sum_cmd)),
            ProbeRequest::new(&remote_dirname(&a.dest)).checksum(None),
        ],
    )
    .await?;
    let host = pr.host;
    let dest_st = pr
        .paths
        .first()
        .cloned()
        .unwrap_or_else(|| PathStat::absent(&a.dest));
    let parent_kind = pr.paths.get(1).map(|p| p.kind).unwrap_or(PathKind::Absent);
    let dest_is_dir = dest_st.kind == PathKind::Directory;
    if !dest_is_dir && parent_kind != PathKind::Directory {
        return Err(ModuleError::new(format!(
            "Destination {} does not exist",
            remote_dirname(&a.dest)
        )));
    }
    let want = expected_checksum(ctx, &a, via).await?;
    let base = |st: &PathStat| {
        ModuleResult::new(false)
            .set("dest", st.path.as_str())
            .set("url", a.url.as_str())
    };

    if dest_st.kind == PathKind::File && !a.force {
        let matches = match (&want, &dest_st.checksum) {
            (Some((_, hex)), Some(have)) => hex == have,
            (Some(_), None) => false,
            (None, _) => true,
        };
        if matches {
            let ch = a.attrs.changes(&dest_st, host.umask);
            let mut r = base(&dest_st);
            if ch.is_empty() {
                r.insert("msg", "file already exists");
            } else {
                r.insert("changed", true);
                r.insert("msg", "file already exists but file attributes changed");
                if !ctx.check_mode {
                    set_attrs(ctx, &a.dest, &ch, false).await?;
                }
            }
            return Ok(r);
        }
    }

    if ctx.check_mode {
        // Like Ansible: ask the server (HEAD) and report a change without downloading.
        let mut req = a.req.clone();
        req.method = "HEAD".into();
        let resp = request(ctx, &req, &Sink::Return, via).await?;
        if resp.status != 200 {
            return Err(ModuleError::with_result(
                format!("Request failed: HTTP Error {}", resp.status),
                base(&dest_st).set("status_code", resp.status).into_map(),
            ));
        }
        return Ok(base(&dest_st)
            .set("changed", true)
            .set("status_code", resp.status)
            .set("msg", "OK (check mode)"));
    }

    let tmp_dir = a.tmp_dest.clone().unwrap_or_else(|| {
        if dest_is_dir {
            a.dest.clone()
        } else {
            remote_dirname(&a.dest)
        }
    });
    let tmp = temp_for(&tmp_dir);
    let resp = match request(ctx, &a.req, &Sink::HostFile(tmp.clone()), via).await {
        Ok(r) => r,
        Err(e) => {
            let _ = run_sh(ctx, format!("rm -f {}", sh_quote(&tmp)), None).await;
            return Err(ModuleError::with_result(
                e.to_string(),
                base(&dest_st).set("status_code", -1).into_map(),
            ));
        }
    };
    if resp.status != 200 {
        let _ = run_sh(ctx, format!("rm -f {}", sh_quote(&tmp)), None).await;
        let r = base(&dest_st)
            .set("status_code", resp.status)
            .set("response", format!("HTTP Error {}", resp.status));
        return Err(ModuleError::with_result("Request failed", r.into_map()));
    }
    // A directory destination gets its name from the response; learn that file's state now.
    let (final_dest, final_st) = if dest_is_dir {
        let f = join_remote(
            &a.dest,
            &download_name(&resp.url, resp.header("content-disposition")),
        );
        let pr = probe(ctx, &[ProbeRequest::new(&f).follow(true)]).await?;
        let st = pr
            .paths
            .into_iter()
            .next()
            .unwrap_or_else(|| PathStat::absent(&f));
        (f, st)
    } else {
        (a.dest.clone(), dest_st.clone())
    };
    let before = if final_st.exists() {
        final_st.clone()
    } else {
        PathStat::new_by(&final_dest, PathKind::File, &host)
    };
    let attr_changes = a.attrs.changes(&before, host.umask);
    let install = WriteRequest {
        dest: &final_dest,
        mode: attr_changes.mode.map(|(_, m)| m),
        owner: attr_changes.owner.as_ref().map(|(_, o)| o.as_str()),
        group: attr_changes.group.as_ref().map(|(_, g)| g.as_str()),
        backup: a.backup,
        ..Default::default()
    };
    let script = finish_script(
        &tmp,
        want.as_ref().map(|(al, h)| (al.as_str(), h.as_str())),
        &install,
        &attr_changes.shell(&final_dest, false),
    );
    let out = run_sh(ctx, script, None).await?;
    let stdout = out.stdout_str();
    if out.rc == RC_MISMATCH {
        let got = stdout
            .lines()
            .find_map(|l| l.strip_prefix("M "))
            .unwrap_or("")
            .to_string();
        let (_, hex) = want.unwrap_or_default();
        return Err(ModuleError::new(format!(
            "The checksum for {final_dest} did not match {hex}; it was {got}."
        )));
    }
    if let Some(m) = attr_failure(out.rc, &out.stderr_str()) {
        return Err(ModuleError::new(m));
    }
    if out.rc != 0 {
        return Err(ModuleError::new(format!(
            "failed to put {final_dest} in place: {}",
            out.stderr_str().trim()
        )));
    }
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
    let probe_part = stdout.find("P\n").map(|i| &out.stdout[i..]).unwrap_or(&[]);
    let st = parse_reply(probe_part, &[final_dest.as_str()])
        .ok()
        .and_then(|(_, s)| s.into_iter().next())
        .unwrap_or(before);
    let mut r = ModuleResult::new(content_changed || !attr_changes.is_empty())
        .set("dest", final_dest.as_str())
        .set("url", resp.url.as_str())
        .set("checksum_src", checksum_src.as_str())
        .set(
            "checksum_dest",
            if checksum_dest == "-" {
                Value::Null
            } else {
                Value::String(checksum_dest)
            },
        )
        .set("status_code", resp.status)
        .set("msg", format!("OK ({size} bytes)"))
        .set("elapsed", start.elapsed().as_secs());
    if let Some(b) = backup_file {
        r.insert("backup_file", b);
    }
    path_info(&st, &mut r.extra);
    r.insert("size", size);
    Ok(r)
}

/// Not query → plan → apply yet ([`crate::planned`]): the transfer streams to a temp file during the read, which plan would have to own.
pub struct GetUrlModule;

#[async_trait]
impl Module for GetUrlModule {
    fn name(&self) -> &'static str {
        "get_url"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        run_get_url(ctx, args, Via::Auto).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::install::sha1_hex;
    use crate::target_http::testserver::serve;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    fn route(path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
        match path {
            "/file.txt" => (200, vec![], b"hello world\n".to_vec()),
            "/sums" => (200, vec![], b"aaaa  other\na948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447  file.txt\n".to_vec()),
            "/dl" => (200, vec![("Content-Disposition".into(), "attachment; filename=\"named.bin\"".into())], b"x".to_vec()),
            "/moved" => (302, vec![("Location".into(), "/file.txt".into())], vec![]),
            _ => (404, vec![], b"no".to_vec()),
        }
    }

    const HELLO_SHA256: &str = "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447";

    fn has_curl() -> bool {
        std::path::Path::new("/usr/bin/curl").exists()
    }

    async fn download_then_idempotent(via: Via) {
        let (port, _) = serve(route);
        let t = tempfile::tempdir().unwrap();
        let dest = t.path().join("f.txt");
        let env = TestEnv::new(t.path());
        let a = json!({"url": format!("http://127.0.0.1:{port}/moved"), "dest": dest.to_str().unwrap(), "mode": "0640", "checksum": format!("sha256:{HELLO_SHA256}")});
        let r = run_get_url(&ctx(&env, false, false), args(a.clone()), via)
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["changed"], true);
        assert_eq!(r["status_code"], 200);
        assert_eq!(r["msg"], "OK (12 bytes)");
        assert_eq!(r["checksum_src"], sha1_hex(b"hello world\n"));
        assert_eq!(r["checksum_dest"], Value::Null);
        assert_eq!(r["url"], format!("http://127.0.0.1:{port}/file.txt"));
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello world\n");
        assert_eq!(
            std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
            0o640
        );
        let r = run_get_url(&ctx(&env, false, false), args(a), via)
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["changed"], false);
        assert_eq!(r["msg"], "file already exists");
        let leftovers: Vec<_> = std::fs::read_dir(t.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(TEMP_PREFIX))
            .collect();
        assert!(leftovers.is_empty());
    }

    crate::testutil::both_paths! {
    async fn curl_on_the_host_downloads_then_is_idempotent() {
        if has_curl() {
            download_then_idempotent(Via::Auto).await;
        }
    }
    }

    crate::testutil::both_paths! {
    async fn tunnel_downloads_then_is_idempotent() {
        download_then_idempotent(Via::Tunnel).await;
    }
    }

    crate::testutil::both_paths! {
    async fn forced_download_of_same_content_is_unchanged() {
        let (port, seen) = serve(route);
        let t = tempfile::tempdir().unwrap();
        let dest = t.path().join("f.txt");
        std::fs::write(&dest, b"hello world\n").unwrap();
        let env = TestEnv::new(t.path());
        let a = json!({"url": format!("http://127.0.0.1:{port}/file.txt"), "dest": dest.to_str().unwrap(), "force": true});
        let r = run_get_url(&ctx(&env, false, false), args(a), Via::Tunnel)
            .await
            .unwrap().into_map();
        assert_eq!(r["changed"], false);
        assert_eq!(r["checksum_dest"], sha1_hex(b"hello world\n"));
        assert_eq!(seen.lock().unwrap().len(), 1);
    }
    }

    crate::testutil::both_paths! {
    async fn checksum_mismatch_fails_and_leaves_dest_alone() {
        let (port, _) = serve(route);
        let t = tempfile::tempdir().unwrap();
        let dest = t.path().join("f.txt");
        let env = TestEnv::new(t.path());
        let a = json!({"url": format!("http://127.0.0.1:{port}/file.txt"), "dest": dest.to_str().unwrap(), "checksum": "sha1:0000"});
        let e = run_get_url(&ctx(&env, false, false), args(a), Via::Tunnel)
            .await
            .unwrap_err();
        assert!(
            e.msg.starts_with(&format!(
                "The checksum for {} did not match 0000; it was",
                dest.display()
            )),
            "{}",
            e.msg
        );
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0);
    }
    }

    crate::testutil::both_paths! {
    async fn checksum_url_and_directory_dest_use_the_server_names() {
        let (port, _) = serve(route);
        let t = tempfile::tempdir().unwrap();
        let env = TestEnv::new(t.path());
        let a = json!({"url": format!("http://127.0.0.1:{port}/file.txt"), "dest": t.path().to_str().unwrap(), "checksum": format!("sha256:http://127.0.0.1:{port}/sums")});
        let r = run_get_url(&ctx(&env, false, false), args(a), Via::Tunnel)
            .await
            .unwrap().into_map();
        assert_eq!(r["dest"], t.path().join("file.txt").to_str().unwrap());
        let a = json!({"url": format!("http://127.0.0.1:{port}/dl"), "dest": t.path().to_str().unwrap()});
        run_get_url(&ctx(&env, false, false), args(a), Via::Tunnel)
            .await
            .unwrap();
        assert_eq!(std::fs::read(t.path().join("named.bin")).unwrap(), b"x");
    }
    }

    crate::testutil::both_paths! {
    async fn check_mode_reports_change_without_writing() {
        let (port, seen) = serve(route);
        let t = tempfile::tempdir().unwrap();
        let env = TestEnv::new(t.path());
        let dest = t.path().join("f");
        let a = json!({"url": format!("http://127.0.0.1:{port}/file.txt"), "dest": dest.to_str().unwrap()});
        let r = run_get_url(&ctx(&env, true, false), args(a), Via::Tunnel)
            .await
            .unwrap().into_map();
        assert_eq!(r["changed"], true);
        assert!(!dest.exists());
        assert!(seen.lock().unwrap()[0].starts_with("HEAD /file.txt"));
    }
    }

    crate::testutil::both_paths! {
    async fn http_error_fails_with_status_code() {
        let (port, _) = serve(route);
        let t = tempfile::tempdir().unwrap();
        let env = TestEnv::new(t.path());
        let a = json!({"url": format!("http://127.0.0.1:{port}/missing"), "dest": t.path().join("f").to_str().unwrap()});
        let e = run_get_url(&ctx(&env, false, false), args(a), Via::Tunnel)
            .await
            .unwrap_err();
        assert_eq!(e.msg, "Request failed");
        assert_eq!(e.result["status_code"], 404);
    }
    }

    #[test]
    fn checksum_argument_forms() {
        assert_eq!(
            Checksum::parse("SHA256:ABCD").unwrap(),
            Checksum::Value {
                algorithm: "sha256".into(),
                hex: "abcd".into()
            }
        );
        assert!(matches!(
            Checksum::parse("sha1:http://h/sums").unwrap(),
            Checksum::Url { .. }
        ));
        assert!(Checksum::parse("crc32:00")
            .unwrap_err()
            .msg
            .starts_with("Unsupported hash algorithm"));
        assert!(Checksum::parse("abcd").is_err());
        assert!(Checksum::parse("md5:xyz").is_err());
    }

    #[test]
    fn checksum_files_are_searched_by_name() {
        assert_eq!(
            checksum_from_file("ab *pkg.tgz\ncd  other\n", "pkg.tgz").as_deref(),
            Some("ab")
        );
        assert_eq!(checksum_from_file("EF\n", "x").as_deref(), Some("ef"));
        assert_eq!(checksum_from_file("ab  a\ncd  b\n", "c"), None);
    }

    #[test]
    fn download_names_prefer_content_disposition() {
        assert_eq!(download_name("http://h/a/b.tgz?x=1", None), "b.tgz");
        assert_eq!(download_name("http://h/", None), "index.html");
        assert_eq!(
            download_name("http://h/x", Some("attachment; filename=\"../y.bin\"")),
            "y.bin"
        );
    }

    #[test]
    fn url_and_dest_are_required() {
        assert_eq!(
            GetUrlArgs::parse(args(json!({"url": "http://h/"})))
                .unwrap_err()
                .msg,
            "missing required arguments: dest"
        );
    }
}

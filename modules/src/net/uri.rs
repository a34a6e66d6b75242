//! `uri`: one HTTP request from the host's point of view (curl on the host, else the
//! controller's client through the transport's tunnel; see [`crate::target_http`]). Read-only
//! unless `dest` is given, so it reports `changed: false` and, like Ansible, does not run in
//! check mode.

use crate::common::reads::ensure_status;
use crate::cmdline::{exists_test, EXISTS_FN};
use crate::common::args::{p, Param, Spec, FILE_COMMON};
use crate::common::run_sh;
use crate::common::write::WriteRequest;
use crate::get_url::{finish_script, header_pairs, temp_for};
use crate::target_http::{request, HttpRequest, HttpResponse, Redirects, Sink, Via};
use crate::wait_for_connection::seconds;
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::{to_display_string, Map, Value};
use std::time::{Duration, Instant};

const PARAMS: &[Param] = &[
    p("url", &[]).required().doc("HTTP or HTTPS URL."),
    p("dest", &[]).doc("Remote file to save the body to."),
    p("url_username", &["user"]).doc("User for HTTP basic authentication."),
    p("url_password", &["password"]).doc("Password for HTTP basic authentication."),
    p("body", &[]).doc("Request body."),
    p("body_format", &[])
        .doc("`raw`, `json` or `form-urlencoded` (sets Content-Type and encodes `body`)."),
    p("method", &[]).doc("HTTP method (default GET)."),
    p("return_content", &[])
        .flag(false)
        .doc("Return the body as `content` (and `json` when it is JSON)."),
    p("force_basic_auth", &[])
        .flag(false)
        .doc("Send basic authentication without waiting for a 401."),
    p("follow_redirects", &[]).doc("Whether to follow redirects (`safe`, `all`, `none` …)."),
    p("creates", &[]).doc("Skip the request when this remote path exists."),
    p("removes", &[]).doc("Make the request only when this remote path exists."),
    p("status_code", &[]).doc("Status codes that count as success (default 200)."),
    p("timeout", &[]).doc("Seconds for the request."),
    p("headers", &[]).doc("Extra request headers (a dict)."),
    p("validate_certs", &[])
        .flag(true)
        .doc("Verify TLS certificates."),
    p("client_cert", &[]).doc("Client certificate (PEM) for TLS."),
    p("client_key", &[]).doc("Client private key (PEM) for TLS."),
    p("ca_path", &[]).doc("CA certificate(s) to verify the server with."),
    p("src", &[]).doc("File whose content is the request body."),
    p("remote_src", &[]).doc("`src` is on the host."),
    p("force", &["thirsty"]).doc("Do not use a cached response."),
    p("use_proxy", &[]).doc("Use the proxy environment variables."),
    p("unix_socket", &[]).doc("Connect through this Unix socket."),
    p("http_agent", &[]).doc("User-Agent header."),
    p("unredirected_headers", &[]).doc("Headers not sent again after a redirect."),
    p("use_gssapi", &[]).doc("Accepted (no GSSAPI support)."),
    p("use_netrc", &[]).doc("Use credentials from ~/.netrc."),
    p("ciphers", &[]).doc("TLS cipher list."),
    p("decompress", &[]).doc("Decompress gzip-encoded responses."),
];

/// `uri`'s declared arguments.
pub static SPEC: Spec = Spec::new("uri", "Interacts with webservices", &[PARAMS, FILE_COMMON]);

/// Encode `body` per `body_format`; returns the bytes and the Content-Type it implies.
pub fn encode_body(
    body: &Value,
    format: &str,
) -> Result<(Vec<u8>, Option<&'static str>), ModuleError> {
    match format {
        "json" => {
            let text = match body {
                // A string is sent as is (it is assumed to be JSON already), as Ansible does.
                Value::String(s) => s.clone(),
                other => {
                    serde_json::to_string(other).map_err(|e| ModuleError::new(e.to_string()))?
                }
            };
            Ok((text.into_bytes(), Some("application/json")))
        }
        "form-urlencoded" => {
            let pairs: Vec<(String, String)> = match body {
                Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), to_display_string(v))).collect(),
                Value::Array(items) => items
                    .iter()
                    .map(|i| match i {
                        Value::Array(kv) if kv.len() == 2 => Ok((to_display_string(&kv[0]), to_display_string(&kv[1]))),
                        _ => Err(ModuleError::new("failed to parse body as form_urlencoded: list items must be [key, value] pairs")),
                    })
                    .collect::<Result<_, _>>()?,
                Value::String(s) => return Ok((s.clone().into_bytes(), Some("application/x-www-form-urlencoded"))),
                _ => return Err(ModuleError::new("failed to parse body as form_urlencoded")),
            };
            Ok((
                form_urlencode(&pairs).into_bytes(),
                Some("application/x-www-form-urlencoded"),
            ))
        }
        "raw" => Ok((
            match body {
                Value::String(s) => s.clone().into_bytes(),
                other => to_display_string(other).into_bytes(),
            },
            None,
        )),
        other => Err(ModuleError::new(format!(
            "value of body_format must be one of: form-urlencoded, json, raw, got: {other}"
        ))),
    }
}

/// `application/x-www-form-urlencoded` as Python's `urlencode` writes it (space as `+`).
pub fn form_urlencode(pairs: &[(String, String)]) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const SET: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b' ');
    let enc = |s: &str| utf8_percent_encode(s, SET).to_string().replace(' ', "+");
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `status_code`: an int, a list of ints, or a comma string of them.
pub fn status_codes(v: Option<&Value>) -> Result<Vec<i64>, ModuleError> {
    let bad = || ModuleError::new("argument 'status_code' must be a list of integers");
    let one = |v: &Value| match v {
        Value::Number(n) => n.as_i64().ok_or_else(bad),
        Value::String(s) => s.trim().parse::<i64>().map_err(|_| bad()),
        _ => Err(bad()),
    };
    match v {
        None => Ok(vec![200]),
        Some(Value::Array(items)) => items.iter().map(one).collect(),
        Some(Value::String(s)) => s
            .split(',')
            .map(|p| p.trim().parse::<i64>().map_err(|_| bad()))
            .collect(),
        Some(other) => Ok(vec![one(other)?]),
    }
}

/// Checked `uri` arguments.
#[derive(Debug, Clone)]
struct UriArgs {
    req: HttpRequest,
    dest: Option<String>,
    return_content: bool,
    status_code: Vec<i64>,
    creates: Option<String>,
    removes: Option<String>,
}

impl UriArgs {
    fn parse(args: Map) -> Result<UriArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        if a.has("src") || a.has("unix_socket") {
            return Err(ModuleError::new(
                "uri: src and unix_socket are not supported by kplay",
            ));
        }
        let format = a.str("body_format")?.unwrap_or_else(|| "raw".into());
        let mut headers = header_pairs(a.raw("headers"))?;
        let body = match a.raw("body") {
            None => None,
            Some(b) => {
                let (bytes, ctype) = encode_body(b, &format)?;
                if let Some(ct) = ctype {
                    if !headers
                        .iter()
                        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                    {
                        headers.push(("Content-Type".into(), ct.into()));
                    }
                }
                Some(bytes)
            }
        };
        if let Some(agent) = a.str("http_agent")? {
            headers.push(("User-Agent".into(), agent));
        }
        let password = a.str("url_password")?.unwrap_or_default();
        a.flag("force_basic_auth");
        Ok(UriArgs {
            req: HttpRequest {
                url: a.str("url")?.unwrap_or_default(),
                method: a
                    .str("method")?
                    .unwrap_or_else(|| "GET".into())
                    .to_ascii_uppercase(),
                headers,
                body,
                timeout: Duration::from_secs_f64(seconds(&a, "timeout", 30.0)?.max(0.001)),
                validate_certs: a.flag("validate_certs"),
                auth: a.str("url_username")?.map(|u| (u, password)),
                redirects: Redirects::parse(
                    &a.str("follow_redirects")?.unwrap_or_else(|| "safe".into()),
                )?,
            },
            dest: a.str("dest")?,
            return_content: a.flag("return_content"),
            status_code: status_codes(a.raw("status_code"))?,
            creates: a.str("creates")?,
            removes: a.str("removes")?,
        })
    }
}

/// The result keys describing a response: every header (lowercase, `-` as `_`), status, url …
fn response_result(resp: &HttpResponse, with_content: bool, elapsed: u64) -> ModuleResult {
    let mut r = ModuleResult::new(false);
    for (k, v) in &resp.headers {
        r.insert(&k.replace('-', "_"), v.as_str());
    }
    let len = resp
        .header("content-length")
        .map(str::to_string)
        .unwrap_or_else(|| "unknown".into());
    r.insert("redirected", resp.redirected);
    r.insert("url", resp.url.as_str());
    r.insert("status", resp.status);
    r.insert("elapsed", elapsed);
    r.insert("msg", format!("OK ({len} bytes)"));
    if with_content {
        let text = String::from_utf8_lossy(&resp.body).into_owned();
        if resp
            .header("content-type")
            .is_some_and(|c| c.contains("json"))
        {
            if let Ok(js) = serde_json::from_str::<Value>(&text) {
                r.insert("json", js);
            }
        }
        r.insert("content", text);
    }
    r
}

/// Python's list repr of the accepted codes, for the failure message.
fn codes_repr(codes: &[i64]) -> String {
    format!(
        "[{}]",
        codes
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

async fn run_uri(
    ctx: &ModuleContext<'_>,
    args: Map,
    via: Via,
) -> Result<ModuleResult, ModuleError> {
    let start = Instant::now();
    let a = UriArgs::parse(args)?;
    if a.creates.is_some() || a.removes.is_some() {
        let mut s = format!("{EXISTS_FN}\n");
        if let Some(c) = &a.creates {
            s.push_str(&format!("if {}; then echo C; exit 0; fi\n", exists_test(c)));
        }
        if let Some(r) = &a.removes {
            s.push_str(&format!(
                "if ! {}; then echo R; exit 0; fi\n",
                exists_test(r)
            ));
        }
        let out = run_sh(ctx, s, None).await?;
        match out.stdout_str().trim() {
            "C" => {
                return Ok(ModuleResult::new(false).set(
                    "stdout",
                    format!("skipped, since '{}' exists", a.creates.unwrap_or_default()),
                ))
            }
            "R" => {
                return Ok(ModuleResult::new(false).set(
                    "stdout",
                    format!(
                        "skipped, since '{}' does not exist",
                        a.removes.unwrap_or_default()
                    ),
                ))
            }
            _ => {}
        }
    }
    let tmp = a
        .dest
        .as_deref()
        .map(|d| temp_for(&crate::common::remote_dirname(d)));
    let sink = match &tmp {
        Some(t) => Sink::HostFile(t.clone()),
        None => Sink::Return,
    };
    let resp = match request(ctx, &a.req, &sink, via).await {
        Ok(r) => r,
        Err(e) => {
            let r = ModuleResult::new(false)
                .set("status", -1)
                .set("url", a.req.url.as_str())
                .set("elapsed", start.elapsed().as_secs());
            return Err(ModuleError::with_result(
                format!(
                    "Status code was -1 and not {}: {e}",
                    codes_repr(&a.status_code)
                ),
                r.into_map(),
            ));
        }
    };
    let ok = a.status_code.contains(&i64::from(resp.status));
    let mut r = response_result(&resp, a.return_content || !ok, start.elapsed().as_secs());
    if let (Some(dest), Some(t)) = (&a.dest, &tmp) {
        let out = run_sh(
            ctx,
            finish_script(
                t,
                None,
                &WriteRequest {
                    dest,
                    ..Default::default()
                },
                "",
            ),
            None,
        )
        .await?;
        ensure_status(&out, |e| format!("failed to write {dest}: {e}"))?;
        let changed = out
            .stdout_str()
            .lines()
            .find_map(|l| l.strip_prefix("S "))
            .is_some_and(|s| {
                let mut w = s.split(' ');
                w.next() != w.next()
            });
        r.insert("changed", changed);
        r.insert("path", dest.as_str());
    }
    if !ok {
        let msg = format!(
            "Status code was {} and not {}: HTTP Error {}",
            resp.status,
            codes_repr(&a.status_code),
            resp.status
        );
        r.insert("msg", msg.as_str());
        return Err(ModuleError::with_result(msg, r.into_map()));
    }
    Ok(r)
}

/// Not query → plan → apply ([`crate::planned`]): Sends a request whose effect lies on another server: nothing on the host to query.
pub struct UriModule;

#[async_trait]
impl Module for UriModule {
    fn name(&self) -> &'static str {
        "uri"
    }

    fn supports_check_mode(&self) -> bool {
        false
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        run_uri(ctx, args, Via::Auto).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target_http::testserver::serve;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;

    fn route(path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
        match path {
            "/api" => (
                200,
                vec![
                    ("Content-Type".into(), "application/json".into()),
                    ("X-Request-Id".into(), "7".into()),
                ],
                br#"{"ok": true}"#.to_vec(),
            ),
            "/created" => (201, vec![], b"made".to_vec()),
            _ => (404, vec![], b"nothing here".to_vec()),
        }
    }

    async fn json_post_returns_parsed_content(via: Via) {
        let (port, seen) = serve(route);
        let env = TestEnv::new(std::path::Path::new("/"));
        let a = json!({"url": format!("http://127.0.0.1:{port}/api"), "method": "post", "body_format": "json", "body": {"a": 1}, "return_content": true, "headers": {"X-Token": "t"}});
        let r = run_uri(&ctx(&env, false, false), args(a), via)
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["status"], 200);
        assert_eq!(r["json"]["ok"], true);
        assert_eq!(r["content"], r#"{"ok": true}"#);
        assert_eq!(r["x_request_id"], "7");
        assert_eq!(r["content_type"], "application/json");
        assert_eq!(r["changed"], false);
        assert_eq!(r["msg"], "OK (12 bytes)");
        let req = seen.lock().unwrap()[0].to_ascii_lowercase();
        assert!(req.starts_with("post /api"));
        assert!(req.contains("content-type: application/json"));
        assert!(req.contains("x-token: t"));
        assert!(req.ends_with(r#"{"a":1}"#));
    }

    crate::testutil::both_paths! {
    async fn curl_on_the_host_posts_json() {
        if std::path::Path::new("/usr/bin/curl").exists() {
            json_post_returns_parsed_content(Via::Auto).await;
        }
    }
    }

    crate::testutil::both_paths! {
    async fn tunnel_posts_json() {
        json_post_returns_parsed_content(Via::Tunnel).await;
    }
    }

    crate::testutil::both_paths! {
    async fn unexpected_status_fails_with_ansible_message() {
        let (port, _) = serve(route);
        let env = TestEnv::new(std::path::Path::new("/"));
        let a = json!({"url": format!("http://127.0.0.1:{port}/nope")});
        let e = run_uri(&ctx(&env, false, false), args(a), Via::Tunnel)
            .await
            .unwrap_err();
        assert_eq!(e.msg, "Status code was 404 and not [200]: HTTP Error 404");
        assert_eq!(e.result["content"], "nothing here");
        let a =
            json!({"url": format!("http://127.0.0.1:{port}/created"), "status_code": [200, 201]});
        assert_eq!(
            run_uri(&ctx(&env, false, false), args(a), Via::Tunnel)
                .await
                .unwrap().into_map()["status"],
            201
        );
    }
    }

    crate::testutil::both_paths! {
    async fn refused_connection_is_status_minus_one() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let env = TestEnv::new(std::path::Path::new("/"));
        let a = json!({"url": format!("http://127.0.0.1:{port}/")});
        let e = run_uri(&ctx(&env, false, false), args(a), Via::Tunnel)
            .await
            .unwrap_err();
        assert!(
            e.msg
                .starts_with("Status code was -1 and not [200]: Request failed:"),
            "{}",
            e.msg
        );
        assert_eq!(e.result["status"], -1);
    }
    }

    crate::testutil::both_paths! {
    async fn dest_is_written_once() {
        let (port, _) = serve(route);
        let t = tempfile::tempdir().unwrap();
        let env = TestEnv::new(t.path());
        let dest = t.path().join("out.json");
        let a =
            json!({"url": format!("http://127.0.0.1:{port}/api"), "dest": dest.to_str().unwrap()});
        let r = run_uri(&ctx(&env, false, false), args(a.clone()), Via::Tunnel)
            .await
            .unwrap().into_map();
        assert_eq!(r["changed"], true);
        assert_eq!(std::fs::read(&dest).unwrap(), br#"{"ok": true}"#);
        let r = run_uri(&ctx(&env, false, false), args(a), Via::Tunnel)
            .await
            .unwrap().into_map();
        assert_eq!(r["changed"], false);
    }
    }

    crate::testutil::both_paths! {
    async fn creates_skips_the_request() {
        let t = tempfile::tempdir().unwrap();
        let env = TestEnv::new(t.path());
        let a = json!({"url": "http://127.0.0.1:1/", "creates": t.path().to_str().unwrap()});
        let r = run_uri(&ctx(&env, false, false), args(a), Via::Tunnel)
            .await
            .unwrap().into_map();
        assert_eq!(
            r["stdout"],
            format!("skipped, since '{}' exists", t.path().display())
        );
    }
    }

    #[test]
    fn form_bodies_are_urlencoded_like_python() {
        let (b, ct) = encode_body(&json!({"name": "a b", "x": "1&2"}), "form-urlencoded").unwrap();
        assert_eq!(String::from_utf8(b).unwrap(), "name=a+b&x=1%262");
        assert_eq!(ct, Some("application/x-www-form-urlencoded"));
        assert!(encode_body(&json!("x"), "xml").is_err());
    }

    #[test]
    fn status_code_accepts_int_list_and_string() {
        assert_eq!(status_codes(Some(&json!(204))).unwrap(), vec![204]);
        assert_eq!(
            status_codes(Some(&json!(["200", 201]))).unwrap(),
            vec![200, 201]
        );
        assert_eq!(
            status_codes(Some(&json!("200, 302"))).unwrap(),
            vec![200, 302]
        );
        assert!(status_codes(Some(&json!("ok"))).is_err());
    }
}

//! HTTP requests made from the host's point of view, for `get_url` and `uri`.
//!
//! When the host has curl, the request runs there in one round trip. The options (URL, headers,
//! credentials) go to curl as a config file written from stdin, never on a command line, so no
//! secret shows up in the host's process list. Without curl, the controller speaks HTTP/1.1
//! (hyper) over a TCP stream the transport opens from the host ([`Transport::open_tcp`], an SSH
//! `direct-tcpip` channel), so the host's view of the network still applies; that path speaks
//! plain `http://` only (https would need TLS over the tunnel).
//!
//! [`Transport::open_tcp`]: kplay_engine::transport::Transport::open_tcp

use crate::common::run_sh;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use kplay_engine::module::{ModuleContext, ModuleError};
use kplay_engine::transport::sh_quote;
use std::io::Write;
use std::time::Duration;

/// Why a request produced no HTTP response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// Connection refused, timeout, TLS failure … (Ansible: status -1).
    #[error("Request failed: {0}")]
    Request(String),
    /// The URL cannot be used at all.
    #[error("{0}")]
    BadUrl(String),
    /// The host could not run the request (no curl and no tunnel, a failed temp file …).
    #[error("{0}")]
    Host(String),
}

impl From<HttpError> for ModuleError {
    fn from(e: HttpError) -> Self {
        ModuleError::new(e.to_string())
    }
}

/// Which redirects to follow (`follow_redirects`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redirects {
    /// Every redirect, any method.
    All,
    /// Only for GET and HEAD.
    Safe,
    None,
}

impl Redirects {
    /// Ansible's `follow_redirects` words (`urllib2` and `yes` mean all, `no` none).
    pub fn parse(s: &str) -> Result<Redirects, ModuleError> {
        match s {
            "all" | "yes" | "urllib2" | "True" | "true" => Ok(Redirects::All),
            "safe" => Ok(Redirects::Safe),
            "none" | "no" | "False" | "false" => Ok(Redirects::None),
            other => Err(ModuleError::new(format!(
                "value of follow_redirects must be one of: all, no, none, safe, urllib2, yes, got: {other}"
            ))),
        }
    }
}

/// One request.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub url: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub timeout: Duration,
    pub validate_certs: bool,
    /// `url_username`/`url_password`; never logged.
    pub auth: Option<(String, String)>,
    pub redirects: Redirects,
}

/// Where the response body goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// Back to the module.
    Return,
    /// Into this file on the host (written whole, created or replaced).
    HostFile(String),
}

/// How to reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// curl on the host when present, else the tunnel.
    Auto,
    /// Always the controller's client over `open_tcp` (tests force it to cover that path).
    #[cfg_attr(not(test), allow(dead_code))]
    Tunnel,
}

/// The response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names lowercased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The URL finally answered (after redirects).
    pub url: String,
    pub redirected: bool,
    /// The body when the sink was [`Sink::Return`].
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Run `req` from the host's point of view.
pub async fn request(
    ctx: &ModuleContext<'_>,
    req: &HttpRequest,
    sink: &Sink,
    via: Via,
) -> Result<HttpResponse, HttpError> {
    if via == Via::Auto {
        if let Some(r) = curl_request(ctx, req, sink).await? {
            return Ok(r);
        }
    }
    tunnel_request(ctx, req, sink).await
}

// ---------------------------------------------------------------- curl on the host

/// Exit code of the curl snippet when the host has no curl.
const RC_NO_CURL: i32 = 97;
const RC_TEMP: i32 = 96;

/// A value in curl's config-file syntax: double-quoted with backslash escapes.
pub fn curl_quote(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// curl's config for `req` (everything but output paths).
pub fn curl_config(req: &HttpRequest) -> String {
    let mut c = String::from("silent\nshow-error\n");
    c.push_str(&format!("url = {}\n", curl_quote(&req.url)));
    if req.method == "HEAD" {
        c.push_str("head\n");
    } else {
        c.push_str(&format!("request = {}\n", curl_quote(&req.method)));
    }
    if !req
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
    {
        c.push_str("user-agent = \"ansible-httpget\"\n");
    }
    for (k, v) in &req.headers {
        c.push_str(&format!("header = {}\n", curl_quote(&format!("{k}: {v}"))));
    }
    if let Some((u, p)) = &req.auth {
        c.push_str(&format!("user = {}\n", curl_quote(&format!("{u}:{p}"))));
    }
    c.push_str(&format!("max-time = {}\n", req.timeout.as_secs_f64()));
    if !req.validate_certs {
        c.push_str("insecure\n");
    }
    let follow = match req.redirects {
        Redirects::All => true,
        Redirects::Safe => req.method == "GET" || req.method == "HEAD",
        Redirects::None => false,
    };
    if follow {
        c.push_str("location\nmax-redirs = 50\n");
    }
    c
}

/// The snippet: config (and body) from stdin into a private temp dir, curl, then the parts of
/// the reply as length-prefixed records (`W`, `R`, `H`, `B`, `X`).
fn curl_script(cfg_len: usize, has_body: bool, sink: &Sink) -> String {
    let out = match sink {
        Sink::Return => "\"$d/o\"".to_string(),
        Sink::HostFile(p) => sh_quote(p),
    };
    let mut s = format!(
        "command -v curl >/dev/null 2>&1 || exit {RC_NO_CURL}\n\
         d=$(mktemp -d \"${{TMPDIR:-/tmp}}/.kplay-http.XXXXXX\") || exit {RC_TEMP}\ntrap 'rm -rf \"$d\"' EXIT\n\
         dd bs=1 count={cfg_len} of=\"$d/c\" 2>/dev/null || exit {RC_TEMP}\n"
    );
    let data = if has_body {
        s.push_str(&format!("cat > \"$d/b\" || exit {RC_TEMP}\n"));
        " --data-binary @\"$d/b\""
    } else {
        ""
    };
    s.push_str(&format!(
        "curl -K \"$d/c\"{data} -o {out} -D \"$d/h\" -w 'W %{{http_code}} %{{num_redirects}} %{{url_effective}}\\n' 2>\"$d/e\"\n\
         printf 'R %s\\n' $?\n: >> \"$d/h\"; printf 'H %s\\n' $(wc -c < \"$d/h\"); cat \"$d/h\"\n"
    ));
    if *sink == Sink::Return {
        s.push_str(": >> \"$d/o\"; printf 'B %s\\n' $(wc -c < \"$d/o\"); cat \"$d/o\"\n");
    }
    s.push_str("printf 'X %s\\n' $(wc -c < \"$d/e\"); cat \"$d/e\"\nexit 0\n");
    s
}

/// The records printed by [`curl_script`].
#[derive(Debug, Default, PartialEq)]
struct CurlReply {
    write_out: String,
    rc: i32,
    headers: Vec<u8>,
    body: Vec<u8>,
    stderr: String,
}

fn parse_curl_reply(out: &[u8]) -> Option<CurlReply> {
    let mut r = CurlReply::default();
    let mut pos = 0;
    while pos < out.len() {
        let end = out[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| pos + i)?;
        let line = String::from_utf8_lossy(&out[pos..end]).into_owned();
        pos = end + 1;
        let (tag, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        match tag {
            "W" => r.write_out = rest.to_string(),
            "R" => r.rc = rest.trim().parse().ok()?,
            "H" | "B" | "X" => {
                let n: usize = rest.trim().parse().ok()?;
                let data = out.get(pos..pos + n)?.to_vec();
                pos += n;
                match tag {
                    "H" => r.headers = data,
                    "B" => r.body = data,
                    _ => r.stderr = String::from_utf8_lossy(&data).trim().to_string(),
                }
            }
            _ => return None,
        }
    }
    Some(r)
}

/// Headers of the last response in a `-D` dump (redirects and `100 Continue` come first).
pub fn parse_header_dump(raw: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
    let block = text
        .split("\n\n")
        .filter(|b| b.trim_start().starts_with("HTTP/"))
        .last()
        .unwrap_or("");
    block
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect()
}

async fn curl_request(
    ctx: &ModuleContext<'_>,
    req: &HttpRequest,
    sink: &Sink,
) -> Result<Option<HttpResponse>, HttpError> {
    let cfg = curl_config(req);
    let mut stdin = cfg.clone().into_bytes();
    if let Some(b) = &req.body {
        stdin.extend_from_slice(b);
    }
    let script = curl_script(cfg.len(), req.body.is_some(), sink);
    let out = run_sh(ctx, script, Some(stdin))
        .await
        .map_err(|e| HttpError::Host(e.msg))?;
    if out.rc == RC_NO_CURL {
        return Ok(None);
    }
    if out.rc != 0 {
        return Err(HttpError::Host(format!(
            "could not run curl on the host: {}",
            out.stderr_str().trim()
        )));
    }
    let r = parse_curl_reply(&out.stdout)
        .ok_or_else(|| HttpError::Host("unexpected reply from curl on the host".into()))?;
    if r.rc != 0 {
        return Err(HttpError::Request(r.stderr));
    }
    let mut w = r.write_out.splitn(3, ' ');
    let status = w.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let redirects: u32 = w.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let url = w.next().unwrap_or(&req.url).to_string();
    Ok(Some(HttpResponse {
        status,
        headers: parse_header_dump(&r.headers),
        url,
        redirected: redirects > 0,
        body: r.body,
    }))
}

// ---------------------------------------------------------------- the tunnel

/// The parts of an `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlParts {
    pub scheme: String,
    pub host: String,
    pub port: u16,
    /// Path and query, at least `/`.
    pub target: String,
    pub userinfo: Option<(String, String)>,
}

/// Split a URL; any scheme is accepted here, the caller decides what it can speak.
pub fn parse_url(url: &str) -> Result<UrlParts, HttpError> {
    let bad = || HttpError::BadUrl(format!("not a valid URL: {url}"));
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let scheme = scheme.to_ascii_lowercase();
    let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(split);
    let target = target.split('#').next().unwrap_or("");
    let target = if target.starts_with('/') {
        target.to_string()
    } else {
        format!("/{target}")
    };
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((ui, hp)) => {
            let (u, p) = ui.split_once(':').unwrap_or((ui, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (Some((dec(u), dec(p))), hp)
        }
        None => (None, authority),
    };
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        "ftp" => 21,
        _ => 0,
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None => default_port,
        };
        (h.to_string(), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().map_err(|_| bad())?),
            None => (hostport.to_string(), default_port),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok(UrlParts {
        scheme,
        host,
        port,
        target,
        userinfo,
    })
}

/// Resolve a `Location` against the URL that sent it.
pub fn resolve_location(base: &UrlParts, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let origin = if base.host.contains(':') {
        format!("{}://[{}]:{}", base.scheme, base.host, base.port)
    } else {
        format!("{}://{}:{}", base.scheme, base.host, base.port)
    };
    if let Some(rest) = location.strip_prefix("//") {
        return format!("{}://{rest}", base.scheme);
    }
    if location.starts_with('/') {
        return format!("{origin}{location}");
    }
    let path = base.target.split('?').next().unwrap_or("/");
    let dir = &path[..path.rfind('/').map(|i| i + 1).unwrap_or(1)];
    format!("{origin}{dir}{location}")
}

/// Where the tunnel writes a body: memory, or a controller temp file bound for the host.
enum LocalSink {
    Memory(Vec<u8>),
    File(tempfile::NamedTempFile),
}

impl LocalSink {
    fn write(&mut self, data: &[u8]) -> Result<(), HttpError> {
        match self {
            LocalSink::Memory(v) => {
                v.extend_from_slice(data);
                Ok(())
            }
            LocalSink::File(f) => f
                .write_all(data)
                .map_err(|e| HttpError::Host(format!("writing a temp file: {e}"))),
        }
    }
}

/// One exchange over one connection; returns status, headers.
async fn exchange(
    ctx: &ModuleContext<'_>,
    u: &UrlParts,
    method: &str,
    req: &HttpRequest,
    body: Option<&[u8]>,
    sink: &mut LocalSink,
) -> Result<(u16, Vec<(String, String)>), HttpError> {
    let stream = ctx
        .transport
        .open_tcp(&u.host, u.port)
        .await
        .map_err(|e| HttpError::Request(e.to_string()))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(|e| HttpError::Request(e.to_string()))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let default_port = if u.scheme == "https" { 443 } else { 80 };
    let host = if u.host.contains(':') {
        format!("[{}]", u.host)
    } else {
        u.host.clone()
    };
    let host_header = if u.port == default_port {
        host
    } else {
        format!("{host}:{}", u.port)
    };
    let mut b = hyper::Request::builder()
        .method(method)
        .uri(&u.target)
        .header("host", host_header);
    if !req
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
    {
        b = b.header("user-agent", "ansible-httpget");
    }
    for (k, v) in &req.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    if let Some((user, pass)) = req.auth.as_ref().or(u.userinfo.as_ref()) {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        b = b.header("authorization", format!("Basic {token}"));
    }
    let hreq = b
        .body(Full::new(Bytes::from(
            body.map(<[u8]>::to_vec).unwrap_or_default(),
        )))
        .map_err(|e| HttpError::BadUrl(format!("invalid request: {e}")))?;
    let mut resp = sender
        .send_request(hreq)
        .await
        .map_err(|e| HttpError::Request(e.to_string()))?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    if method != "HEAD" {
        while let Some(frame) = resp.body_mut().frame().await {
            let frame = frame.map_err(|e| HttpError::Request(e.to_string()))?;
            if let Some(data) = frame.data_ref() {
                sink.write(data)?;
            }
        }
    }
    driver.abort();
    Ok((status, headers))
}

/// kplay's own client speaks plain HTTP only. For https (or ftp) it still connects from the host
/// first, so a server the host cannot reach (an air-gapped host) fails as the request itself
/// does on such a host (ansible-core's `Request failed: <urlopen error …>`); only a reachable
/// server meets the limitation.
async fn unsupported_scheme(ctx: &ModuleContext<'_>, u: &UrlParts, url: &str) -> HttpError {
    let limitation = || {
        HttpError::Host(format!(
            "{url}: the host has no curl, and kplay's own client reaches it only for http:// URLs"
        ))
    };
    if u.port == 0 {
        return limitation();
    }
    match ctx.transport.open_tcp(&u.host, u.port).await {
        Err(e) => HttpError::Request(e.to_string()),
        Ok(_connected) => limitation(),
    }
}

async fn tunnel_request(
    ctx: &ModuleContext<'_>,
    req: &HttpRequest,
    sink: &Sink,
) -> Result<HttpResponse, HttpError> {
    let work = async {
        let mut url = req.url.clone();
        let mut method = req.method.clone();
        let mut body = req.body.clone();
        let mut redirected = false;
        for _ in 0..=50 {
            let u = parse_url(&url)?;
            if u.scheme != "http" {
                return Err(unsupported_scheme(ctx, &u, &url).await);
            }
            let mut local = match sink {
                Sink::Return => LocalSink::Memory(Vec::new()),
                Sink::HostFile(_) => LocalSink::File(
                    tempfile::NamedTempFile::new()
                        .map_err(|e| HttpError::Host(format!("creating a temp file: {e}")))?,
                ),
            };
            let (status, headers) =
                exchange(ctx, &u, &method, req, body.as_deref(), &mut local).await?;
            let location = headers
                .iter()
                .find(|(k, _)| k == "location")
                .map(|(_, v)| v.clone());
            let follow = match req.redirects {
                Redirects::All => true,
                Redirects::Safe => method == "GET" || method == "HEAD",
                Redirects::None => false,
            };
            if let (true, Some(loc), 301 | 302 | 303 | 307 | 308) = (follow, location, status) {
                url = resolve_location(&u, &loc);
                redirected = true;
                if status == 303 || ((status == 301 || status == 302) && method == "POST") {
                    method = "GET".into();
                    body = None;
                }
                continue;
            }
            let body = match local {
                LocalSink::Memory(v) => v,
                LocalSink::File(f) => {
                    if let Sink::HostFile(dest) = sink {
                        ctx.transport
                            .put_file(f.path(), dest, None, ctx.become_.as_ref())
                            .await
                            .map_err(|e| HttpError::Host(e.to_string()))?;
                    }
                    Vec::new()
                }
            };
            return Ok(HttpResponse {
                status,
                headers,
                url,
                redirected,
                body,
            });
        }
        Err(HttpError::Request("too many redirects".into()))
    };
    match tokio::time::timeout(req.timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(HttpError::Request("timed out".into())),
    }
}

#[cfg(test)]
pub(crate) mod testserver {
    //! A tiny HTTP server on 127.0.0.1 serving fixed responses, for module tests.
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    /// Requests received (request line + headers + body as text).
    pub type Seen = Arc<Mutex<Vec<String>>>;

    /// A fixed answer per path: status, extra headers, body.
    pub type Route = fn(&str) -> (u16, Vec<(String, String)>, Vec<u8>);

    /// Serve `route` forever on a free port.
    pub fn serve(route: Route) -> (u16, Seen) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let seen: Seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut c) = conn else { continue };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read the head, then Content-Length bytes of body.
                loop {
                    let n = c.read(&mut chunk).unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(i) = text.find("\r\n\r\n") {
                        let len = text[..i]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if buf.len() >= i + 4 + len {
                            break;
                        }
                    }
                }
                let text = String::from_utf8_lossy(&buf).to_string();
                s2.lock().unwrap().push(text.clone());
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (status, headers, body) = route(&path);
                let mut head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                for (k, v) in headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = c.write_all(head.as_bytes());
                if !text.starts_with("HEAD ") {
                    let _ = c.write_all(&body);
                }
            }
        });
        (port, seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts_cover_port_userinfo_and_ipv6() {
        let u = parse_url("http://bob:p%40ss@example.com:8080/a/b?x=1#frag").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("example.com", 8080, "/a/b?x=1")
        );
        assert_eq!(u.userinfo, Some(("bob".into(), "p@ss".into())));
        let v6 = parse_url("http://[::1]/").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 80));
        assert_eq!(parse_url("https://h").unwrap().target, "/");
        assert!(parse_url("nourl").is_err());
    }

    #[test]
    fn relative_locations_resolve_against_the_request() {
        let u = parse_url("http://h:81/dir/page").unwrap();
        assert_eq!(resolve_location(&u, "/x"), "http://h:81/x");
        assert_eq!(resolve_location(&u, "y"), "http://h:81/dir/y");
        assert_eq!(resolve_location(&u, "http://o/z"), "http://o/z");
    }

    #[test]
    fn curl_config_quotes_values_and_keeps_secrets_off_the_command_line() {
        let req = HttpRequest {
            url: "http://h/".into(),
            method: "POST".into(),
            headers: vec![("X-A".into(), "say \"hi\"".into())],
            body: None,
            timeout: Duration::from_secs(10),
            validate_certs: false,
            auth: Some(("u".into(), "p\\w".into())),
            redirects: Redirects::Safe,
        };
        let c = curl_config(&req);
        assert!(c.contains("header = \"X-A: say \\\"hi\\\"\"\n"));
        assert!(c.contains("user = \"u:p\\\\w\"\n"));
        assert!(c.contains("insecure\n"));
        assert!(!c.contains("location"), "POST is not redirected under safe");
        let script = curl_script(c.len(), false, &Sink::Return);
        assert!(!script.contains("p\\w") && !script.contains("u:p"));
    }

    #[test]
    fn header_dump_keeps_only_the_last_response() {
        let raw = b"HTTP/1.1 302 Found\r\nLocation: /b\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Y: z\r\n\r\n";
        let h = parse_header_dump(raw);
        assert_eq!(
            h,
            vec![
                ("content-type".into(), "text/plain".into()),
                ("x-y".into(), "z".into())
            ]
        );
    }

    #[test]
    fn curl_reply_records_are_length_prefixed() {
        let r = parse_curl_reply(b"W 200 1 http://h/b\nR 0\nH 3\nab\nB 2\n\n\nX 0\n").unwrap();
        assert_eq!(r.write_out, "200 1 http://h/b");
        assert_eq!(r.headers, b"ab\n");
        assert_eq!(r.body, b"\n\n");
    }

    #[test]
    fn redirect_words_follow_ansible() {
        assert_eq!(Redirects::parse("urllib2").unwrap(), Redirects::All);
        assert_eq!(Redirects::parse("no").unwrap(), Redirects::None);
        assert!(Redirects::parse("sometimes").is_err());
    }
}

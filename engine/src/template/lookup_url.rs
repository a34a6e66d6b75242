//! `lookup('url', URL, …)`: an HTTP GET from the controller, as ansible-core's `url` lookup:
//! each term's body (`http`, `https`, and `file` as urllib reads it), split into lines
//! unless `split_lines=False`. Options `validate_certs`,
//! `split_lines`, `headers`, `username`/`password` (sent when the server asks, or at once
//! with `force_basic_auth`), `timeout`, `http_agent`, `follow_redirects`, `use_proxy`,
//! `force`; the error texts are ansible-core's.

use super::native::python_str;
use super::op_err;
use super::to_json_value;
use crate::value::{ansible_bool, split_lines, Value};
use base64::Engine as _;
use minijinja::value::{Kwargs, Value as MjValue};
use minijinja::Error;
use std::time::Duration;

/// The options of one lookup call.
struct Options {
    validate_certs: bool,
    split_lines: bool,
    headers: Vec<(String, String)>,
    credentials: Option<(String, String)>,
    force_basic_auth: bool,
    timeout: Duration,
    agent: String,
    follow_redirects: bool,
    use_proxy: bool,
    force: bool,
}

fn flag(kwargs: &Kwargs, key: &str, default: bool) -> Result<bool, Error> {
    match kwargs.get::<Option<MjValue>>(key)? {
        None => Ok(default),
        Some(v) => ansible_bool(&to_json_value(&v))
            .ok_or_else(|| op_err(format!("Invalid type for '{key}': not a boolean: {v}"))),
    }
}

fn options(kwargs: &Kwargs) -> Result<Options, Error> {
    let text = |key: &str| -> Result<Option<String>, Error> {
        Ok(kwargs.get::<Option<MjValue>>(key)?.map(|v| python_str(&v)))
    };
    let headers = match kwargs.get::<Option<MjValue>>("headers")? {
        None => vec![],
        Some(h) => match to_json_value(&h) {
            Value::Object(m) => m
                .iter()
                .map(|(k, v)| (k.clone(), crate::value::to_display_string(v)))
                .collect(),
            _ => return Err(op_err("url lookup: 'headers' must be a dictionary")),
        },
    };
    let timeout = match kwargs.get::<Option<MjValue>>("timeout")? {
        None => 10.0,
        Some(v) => to_json_value(&v)
            .as_f64()
            .or_else(|| python_str(&v).parse().ok())
            .filter(|t: &f64| *t > 0.0)
            .ok_or_else(|| op_err(format!("url lookup: 'timeout' must be a number, not {v}")))?,
    };
    let follow = text("follow_redirects")?.unwrap_or_else(|| "urllib2".into());
    let username = text("username")?;
    let password = text("password")?.unwrap_or_default();
    let opts = Options {
        validate_certs: flag(kwargs, "validate_certs", true)?,
        split_lines: flag(kwargs, "split_lines", true)?,
        headers,
        credentials: username.map(|u| (u, password)),
        force_basic_auth: flag(kwargs, "force_basic_auth", false)?,
        timeout: Duration::from_secs_f64(timeout),
        agent: text("http_agent")?.unwrap_or_else(|| "ansible-httpget".into()),
        follow_redirects: !matches!(follow.as_str(), "no" | "none" | "false"),
        use_proxy: flag(kwargs, "use_proxy", true)?,
        force: flag(kwargs, "force", false)?,
    };
    // Accepted as ansible-core does; they change nothing kplay's client does.
    for k in ["use_gssapi", "ca_path", "unredirected_headers", "ciphers"] {
        let _ = kwargs.get::<Option<MjValue>>(k)?;
    }
    Ok(opts)
}

fn agent(o: &Options) -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .disable_verification(!o.validate_certs)
        .build();
    let mut cfg = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(o.timeout))
        .user_agent(o.agent.as_str())
        .max_redirects(if o.follow_redirects { 10 } else { 0 })
        .tls_config(tls);
    if !o.use_proxy {
        cfg = cfg.proxy(None);
    }
    cfg.build().into()
}

fn basic(user: &str, pass: &str) -> String {
    let raw = format!("{user}:{pass}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// One GET; the credentials go along when `auth` is set.
fn get(
    agent: &ureq::Agent,
    url: &str,
    o: &Options,
    auth: bool,
) -> Result<ureq::http::Response<ureq::Body>, Error> {
    let mut req = agent.get(url);
    for (k, v) in &o.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    if o.force {
        req = req.header("cache-control", "no-cache");
    }
    if let (true, Some((u, p))) = (auth, &o.credentials) {
        req = req.header("authorization", basic(u, p));
    }
    req.call().map_err(|e| op_err(explain(url, &e)))
}

/// ansible-core's messages for a request that got no HTTP answer.
fn explain(url: &str, e: &ureq::Error) -> String {
    match e {
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => {
            format!("Error validating the server's certificate for {url}: {e}")
        }
        ureq::Error::Io(_) | ureq::Error::HostNotFound | ureq::Error::Timeout(_) => {
            format!("Error connecting to {url}: {e}")
        }
        _ => format!("Failed lookup url for {url} : {e}"),
    }
}

/// `file://` URLs, which ansible-core's urllib opener also reads.
fn read_file_url(url: &str, path: &str) -> Result<String, Error> {
    let path = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    std::fs::read(&*path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|e| {
            let errno = e.raw_os_error().unwrap_or(0);
            let why = e.to_string();
            let why = why.split(" (os error").next().unwrap_or_default();
            op_err(format!(
                "Failed lookup url for {url} : <urlopen error [Errno {errno}] {why}: '{path}'>"
            ))
        })
}

fn fetch(agent: &ureq::Agent, url: &str, o: &Options) -> Result<String, Error> {
    if let Some(path) = url.strip_prefix("file://") {
        return read_file_url(url, path);
    }
    let mut resp = get(agent, url, o, o.force_basic_auth)?;
    let challenged = resp.status().as_u16() == 401
        && !o.force_basic_auth
        && o.credentials.is_some()
        && resp
            .headers()
            .get("www-authenticate")
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| h.to_ascii_lowercase().starts_with("basic"));
    if challenged {
        resp = get(agent, url, o, true)?;
    }
    let status = resp.status();
    if !status.is_success() {
        let reason = status.canonical_reason().unwrap_or("");
        return Err(op_err(format!(
            "Received HTTP error for {url} : HTTP Error {}: {reason}",
            status.as_u16()
        )));
    }
    let bytes = resp
        .body_mut()
        .with_config()
        .limit(256 * 1024 * 1024)
        .read_to_vec()
        .map_err(|e| op_err(format!("Failed lookup url for {url} : {e}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Runs the lookup over its terms (URLs).
pub fn run(terms: &[String], kwargs: &Kwargs) -> Result<Vec<MjValue>, Error> {
    let o = options(kwargs)?;
    let agent = agent(&o);
    let mut out = Vec::new();
    for url in terms {
        let body = fetch(&agent, url, &o)?;
        if o.split_lines {
            out.extend(split_lines(&body).into_iter().map(MjValue::from));
        } else {
            out.push(MjValue::from(body));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;

//! Ansible's `urlsplit` filter: Python's `urllib.parse.urlsplit` as a dict (`fragment`,
//! `hostname`, `netloc`, `password`, `path`, `port`, `query`, `scheme`, `username`), or one of
//! those components when named; `urldecode` (`urllib.parse.unquote_plus`).

use super::filters_strings::text;
use super::op_err;
use crate::value::{Map, Value};
use minijinja::value::Value as MjValue;
use minijinja::{Environment, Error};

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("urlsplit", urlsplit);
    env.add_filter("urldecode", |v: &MjValue| text(v).map(|s| urldecode(&s)));
}

/// `unquote_plus`: `+` is a space, `%XX` a byte; invalid UTF-8 replaced as Python does.
fn urldecode(s: &str) -> String {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8_lossy()
        .into_owned()
}

fn urlsplit(v: &MjValue, query: Option<String>) -> Result<MjValue, Error> {
    let parts = split_url(&text(v)?)?;
    let out = match query {
        Some(q) if !q.is_empty() => parts
            .get(&q)
            .cloned()
            .ok_or_else(|| op_err(format!("urlsplit: unknown URL component: {q}")))?,
        _ => Value::Object(parts),
    };
    Ok(super::from_json_value(&out))
}

/// The components of `url` as Python's `urlsplit` computes them.
pub fn split_url(url: &str) -> Result<Map, Error> {
    let url = url.trim_start();
    let (scheme, rest) = match url.split_once(':') {
        Some((s, r)) if valid_scheme(s) => (s.to_ascii_lowercase(), r),
        _ => (String::new(), url),
    };
    let (netloc, rest) = match rest.strip_prefix("//") {
        Some(r) => {
            let end = r.find(['/', '?', '#']).unwrap_or(r.len());
            (&r[..end], &r[end..])
        }
        None => ("", rest),
    };
    let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (userinfo, hostinfo) = match netloc.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, netloc),
    };
    let (username, password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((n, p)) => (Value::from(n), Value::from(p)),
            None => (Value::from(u), Value::Null),
        },
        None => (Value::Null, Value::Null),
    };
    let (host, port_text) = match hostinfo.strip_prefix('[') {
        Some(r) => match r.split_once(']') {
            Some((h, after)) => (h, after.strip_prefix(':').unwrap_or("")),
            None => return Err(op_err("urlsplit: Invalid IPv6 URL")),
        },
        None => hostinfo.split_once(':').unwrap_or((hostinfo, "")),
    };
    let hostname = if host.is_empty() {
        Value::Null
    } else {
        Value::from(host.to_lowercase())
    };
    let port = if port_text.is_empty() {
        Value::Null
    } else {
        match port_text.parse::<u32>() {
            Ok(p) if p <= 65535 && port_text.bytes().all(|b| b.is_ascii_digit()) => Value::from(p),
            _ => {
                return Err(op_err(format!(
                    "urlsplit: Port could not be cast to integer value as '{port_text}'"
                )))
            }
        }
    };
    let mut m = Map::new();
    m.insert("fragment".into(), Value::from(fragment));
    m.insert("hostname".into(), hostname);
    m.insert("netloc".into(), Value::from(netloc));
    m.insert("password".into(), password);
    m.insert("path".into(), Value::from(path));
    m.insert("port".into(), port);
    m.insert("query".into(), Value::from(query));
    m.insert("scheme".into(), Value::from(scheme));
    m.insert("username".into(), username);
    Ok(m)
}

/// Python's scheme rule: a letter, then letters, digits, `+`, `-`, `.`.
fn valid_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::split_url;
    use serde_json::{json, Value};

    fn split(url: &str) -> Value {
        split_url(url).map(Value::Object).unwrap_or(Value::Null)
    }

    /// Dicts printed by ansible-core 2.18's `urlsplit`.
    #[test]
    fn full_url_splits_like_python() {
        assert_eq!(
            split("https://user:pw@Example.com:8080/a/b?x=1&y=2#frag"),
            json!({"fragment": "frag", "hostname": "example.com", "netloc": "user:pw@Example.com:8080",
                "password": "pw", "path": "/a/b", "port": 8080, "query": "x=1&y=2", "scheme": "https", "username": "user"})
        );
    }

    #[test]
    fn missing_parts_are_empty_or_null() {
        assert_eq!(
            split("/just/path"),
            json!({"fragment": "", "hostname": null, "netloc": "", "password": null, "path": "/just/path",
                "port": null, "query": "", "scheme": "", "username": null})
        );
        assert_eq!(split("https://[::1]:99/p")["hostname"], json!("::1"));
        assert_eq!(split("https://[::1]:99/p")["port"], json!(99));
    }

    #[test]
    fn one_component_by_name() {
        let t = crate::template::Templar::new();
        let ctx = minijinja::value::Value::from(());
        let port = t.eval_expr("'https://example.com:8443/p?q=1' | urlsplit('port')", &ctx);
        assert_eq!(port.map_err(|e| e.msg), Ok(json!(8443)));
        let scheme = t.eval_expr("'http://h/' | urlsplit('scheme')", &ctx);
        assert_eq!(scheme.map_err(|e| e.msg), Ok(json!("http")));
    }
}

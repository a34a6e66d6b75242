//! `get_url`: download a URL to a file on the host, from the host's point of view (curl on the
//! host, else the controller's client through a tunnel the host's sshd opens; see
//! [`crate::target_http`]).
//!
//! `query` stats `dest` (with the `checksum`'s digest; a checksum URL is fetched), and in check
//! mode asks the server with HEAD as ansible-core does; `plan` ([`decide`]) keeps an existing
//! file only when its `checksum` matches and `force` is off, else plans the download (with
//! `If-Modified-Since` for an existing file); `apply` ([`fetch`]) downloads into a temp file
//! beside `dest`, then one finishing snippet verifies `checksum`, compares with the old file,
//! backs up, renames and applies `mode`/`owner`/`group`.

pub mod decide;
pub mod fetch;
#[cfg(test)]
mod tests;

pub use fetch::{finish_script, temp_for, RC_MISMATCH};

use crate::common::args::{p, Param, Spec, FILE_COMMON};
use crate::common::attrs::{AttrChanges, AttrSpec};
use crate::common::basename;
use crate::common::probe::{HostInfo, PathStat};
use crate::common::write::set_attrs;
use crate::planned::{Plan, QueryPlanApply};
use crate::target_http::{HttpRequest, Redirects, Via};
use crate::wait_for_connection::seconds;
use async_trait::async_trait;
use decide::{check_result, decide, exists_result, Decision, Head};
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::{Map, Value};
use std::time::Duration;

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
pub struct GetUrlArgs {
    pub url: String,
    pub dest: String,
    pub tmp_dest: Option<String>,
    pub force: bool,
    pub backup: bool,
    pub checksum: Option<Checksum>,
    pub attrs: AttrSpec,
    pub req: HttpRequest,
    /// How the server is reached (always `Auto`; tests force the tunnel).
    pub via: Via,
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
    pub fn parse(args: Map) -> Result<GetUrlArgs, ModuleError> {
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
            via: Via::Auto,
        })
    }
}

/// What `query` found.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `dest` (following links), with the `checksum` algorithm's digest.
    pub dest: PathStat,
    /// `dest`'s SHA-1 (`checksum_dest`), when it is a file.
    pub dest_sha1: Option<String>,
    /// `dest`'s directory exists.
    pub parent_is_dir: bool,
    pub umask: u32,
    /// The writing user (what a new file gets).
    pub host: HostInfo,
    /// (algorithm, hex) the download must match.
    pub expected: Option<(String, String)>,
    /// Check mode only: the server's answer to HEAD.
    pub head: Option<Head>,
}

/// A planned download (see [`Decision::Download`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Download {
    pub force: bool,
    pub if_modified_since: Option<f64>,
    /// (algorithm, hex) the file must match.
    pub expected: Option<(String, String)>,
    /// `dest` as `query` saw it, and the writing user: no second stat before the download.
    pub dest: PathStat,
    pub host: HostInfo,
}

/// What `apply` does.
#[derive(Debug, Clone, PartialEq)]
pub enum Changes {
    /// Fix the kept file's attributes.
    Attrs(AttrChanges),
    Download(Box<Download>),
}

/// `ansible.builtin.get_url`.
pub struct GetUrlModule;

#[async_trait]
impl QueryPlanApply for GetUrlModule {
    type Args = GetUrlArgs;
    type Seen = Seen;
    type Changes = Changes;

    fn name(&self) -> &'static str {
        "get_url"
    }

    fn parse(&self, args: Map) -> Result<GetUrlArgs, ModuleError> {
        GetUrlArgs::parse(args)
    }

    async fn query(&self, ctx: &ModuleContext<'_>, a: &GetUrlArgs) -> Result<Seen, ModuleError> {
        fetch::query(ctx, a).await
    }

    fn plan(a: &GetUrlArgs, seen: &Seen) -> Result<Plan<Changes>, ModuleError> {
        if seen.dest.kind != crate::common::probe::PathKind::Directory && !seen.parent_is_dir {
            return Err(ModuleError::new(format!(
                "Destination {} does not exist",
                crate::common::remote_dirname(&a.dest)
            )));
        }
        let base = ModuleResult::new(false)
            .set("dest", seen.dest.path.as_str())
            .set("url", a.url.as_str());
        match decide(a, &seen.dest, seen.expected.as_ref(), seen.umask) {
            Decision::Exists(attrs) => {
                let r = exists_result(base, &attrs);
                Ok(match attrs.is_empty() {
                    true => Plan::nothing(r),
                    false => Plan::change(Changes::Attrs(attrs), r),
                })
            }
            Decision::Download {
                force,
                if_modified_since,
            } => {
                let result = match &seen.head {
                    Some(h) => check_result(base, &seen.dest, h)?,
                    None => base.set("changed", true),
                };
                let changes = Changes::Download(Box::new(Download {
                    force,
                    if_modified_since,
                    expected: seen.expected.clone(),
                    dest: seen.dest.clone(),
                    host: seen.host.clone(),
                }));
                Ok(Plan {
                    changes: Some(changes),
                    result,
                })
            }
        }
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        a: &GetUrlArgs,
        c: Changes,
        result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        match c {
            Changes::Attrs(ch) => {
                set_attrs(ctx, &a.dest, &ch, false).await?;
                Ok(result)
            }
            Changes::Download(d) => fetch::download(ctx, a, *d).await,
        }
    }
}

//! `deb822_repository` (ansible.builtin.deb822_repository): an APT source in deb822 format,
//! `/etc/apt/sources.list.d/SLUG.sources` ([`stanza`]). `signed_by` is a key file path, an
//! inline ASCII-armoured key (written into the stanza), or a URL fetched from the host's point
//! of view (a local mirror offline) into `/etc/apt/keyrings/SLUG.asc|gpg`. `absent` removes
//! the file and those key files, as ansible-core does. `query` reads the file and the key,
//! `plan` renders and compares, `apply` writes through the repository modules' shared
//! pipeline ([`super::repo_files`]). Like ansible-core's it does not run `apt-get update`
//! (follow with `apt: update_cache=true`).

pub mod stanza;
#[cfg(test)]
mod tests;

use super::repo_files::{plan_file, query_file, remove_file, FileEdit};
use crate::common::args::{p, Args, Param, Spec};
use crate::common::attrs::AttrSpec;
use crate::common::mode::ModeSpec;
use crate::common::probe::{probe, ProbeRequest};
use crate::common::text::{TextFile, WriteOpts};
use crate::planned::{Plan, Presence, QueryPlanApply};
use async_trait::async_trait;
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};
pub use stanza::{slug, stanza};

const PARAMS: &[Param] = &[
    p("name", &[])
        .str()
        .required()
        .doc("The repository's name (`X-Repolib-Name`), also the file's name."),
    p("state", &[])
        .choices(&["absent", "present"])
        .default_str("present")
        .doc("Whether the file should be there."),
    p("types", &[])
        .list()
        .doc("`deb` and/or `deb-src` (default `deb`)."),
    p("uris", &[]).list().doc("Repository URIs."),
    p("suites", &[])
        .list()
        .doc("Suites (or an exact path ending in `/`)."),
    p("components", &[]).list().doc("Components."),
    p("signed_by", &[])
        .str()
        .doc("Key: a path on the host, an ASCII-armoured key, or a URL to fetch."),
    p("architectures", &["arch"]).list().doc("Architectures."),
    p("enabled", &[]).bool().doc("`Enabled: yes|no`."),
    p("trusted", &[]).bool().doc("`Trusted: yes|no`."),
    p("allow_downgrade_to_insecure", &[])
        .bool()
        .doc("`Allow-Downgrade-To-Insecure`."),
    p("allow_insecure", &[]).bool().doc("`Allow-Insecure`."),
    p("allow_weak", &[]).bool().doc("`Allow-Weak`."),
    p("by_hash", &[]).bool().doc("`By-Hash`."),
    p("check_date", &[]).bool().doc("`Check-Date`."),
    p("check_valid_until", &[])
        .bool()
        .doc("`Check-Valid-Until`."),
    p("date_max_future", &[])
        .int()
        .doc("`Date-Max-Future` (seconds)."),
    p("inrelease_path", &[]).str().doc("`InRelease-Path`."),
    p("languages", &[]).list().doc("`Languages`."),
    p("pdiffs", &[]).bool().doc("`PDiffs`."),
    p("targets", &[]).list().doc("`Targets`."),
    p("mode", &[])
        .default_str("0644")
        .doc("Mode of the .sources file."),
    p("install_python_debian", &[])
        .flag(false)
        .doc("Accepted: kplay needs no python3-debian."),
];

/// `deb822_repository`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "deb822_repository",
    "Add and remove deb822 formatted repositories",
    &[PARAMS],
)
.required_if(&[crate::common::args::RequiredIf {
    param: "state",
    value: "present",
    requires: &["types", "uris", "suites"],
    any: false,
}]);

/// `root` prefixes the fixed /etc/apt paths (empty on a real host; a temp dir in tests).
#[derive(Default)]
pub struct Deb822RepositoryModule {
    pub root: String,
}

/// Where `signed_by` points.
#[derive(Debug, Clone, PartialEq)]
pub enum SignedBy {
    /// A key file on the host, or the armoured key itself: written into the stanza.
    Literal(String),
    /// A URL to fetch the key from.
    Url(String),
}

/// Checked arguments.
#[derive(Debug, Clone)]
pub struct Deb822Args {
    pub args: Args,
    pub state: Presence,
    pub slug: String,
    /// The `.sources` file.
    pub dest: String,
    /// `ROOT/etc/apt/keyrings/SLUG` (without the extension).
    pub keyring: String,
    pub signed_by: Option<SignedBy>,
    pub write: WriteOpts,
}

impl Deb822Args {
    pub fn parse(args: Map, root: &str) -> Result<Deb822Args, ModuleError> {
        let a = SPEC.parse(args)?;
        let s = slug(&a.required_str("name")?);
        let mode = a
            .raw("mode")
            .cloned()
            .unwrap_or_else(|| Value::from("0644"));
        let signed_by = a.str("signed_by")?.map(|k| {
            if k.starts_with("http://") || k.starts_with("https://") {
                SignedBy::Url(k)
            } else if k.trim_start().starts_with("-----BEGIN PGP") {
                SignedBy::Literal(k.trim().to_string())
            } else {
                SignedBy::Literal(k)
            }
        });
        Ok(Deb822Args {
            state: Presence::from_arg(&a, "state")?,
            dest: format!("{root}/etc/apt/sources.list.d/{s}.sources"),
            keyring: format!("{root}/etc/apt/keyrings/{s}"),
            slug: s,
            signed_by,
            write: WriteOpts {
                attrs: AttrSpec {
                    // `mode` defaults to 0644 and ansible-core always enforces it.
                    mode: Some(ModeSpec::parse(&mode, false)?),
                    ..Default::default()
                },
                ..Default::default()
            },
            args: a,
        })
    }
}

/// A key fetched from `signed_by`'s URL, and what its file on the host holds now.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedKey {
    pub path: String,
    pub data: Vec<u8>,
    pub current: Option<Vec<u8>>,
}

/// What `query` found.
#[derive(Debug, Clone)]
pub struct Seen {
    pub file: TextFile,
    /// present with a URL: the key.
    pub key: Option<FetchedKey>,
    /// absent: the key files `SLUG.asc` / `SLUG.gpg` that exist; present with a literal
    /// `signed_by`: that path, when it is a file on the host.
    pub key_files: Vec<String>,
}

/// What `apply` does, in this order.
#[derive(Debug, Clone)]
pub struct Changes {
    /// The key file to (re)write.
    pub key: Option<(String, Vec<u8>)>,
    pub sources: Option<FileEdit>,
    /// Key files to delete.
    pub remove: Vec<String>,
}

#[async_trait]
impl QueryPlanApply for Deb822RepositoryModule {
    type Args = Deb822Args;
    type Seen = Seen;
    type Changes = Changes;

    fn name(&self) -> &'static str {
        "deb822_repository"
    }

    fn parse(&self, args: Map) -> Result<Deb822Args, ModuleError> {
        Deb822Args::parse(args, &self.root)
    }

    async fn query(&self, ctx: &ModuleContext<'_>, a: &Deb822Args) -> Result<Seen, ModuleError> {
        let file = query_file(ctx, &a.dest).await?;
        let mut seen = Seen {
            file,
            key: None,
            key_files: Vec::new(),
        };
        match (&a.state, &a.signed_by) {
            (Presence::Present, Some(SignedBy::Url(url))) => {
                let data = crate::common::pgp::key_bytes(ctx, url, true).await?;
                let ext = if data.starts_with(b"-----BEGIN PGP") {
                    "asc"
                } else {
                    "gpg"
                };
                let path = format!("{}.{ext}", a.keyring);
                let current = ctx.transport.fetch(&path, ctx.become_.as_ref()).await?;
                seen.key = Some(FetchedKey {
                    path,
                    data,
                    current,
                });
            }
            (Presence::Present, Some(SignedBy::Literal(s))) if s.starts_with('/') => {
                seen.key_files = existing(ctx, std::slice::from_ref(s)).await?;
            }
            (Presence::Present, _) => {}
            (Presence::Absent, _) => {
                let names = [format!("{}.asc", a.keyring), format!("{}.gpg", a.keyring)];
                seen.key_files = existing(ctx, &names).await?;
            }
        }
        Ok(seen)
    }

    fn plan(a: &Deb822Args, seen: &Seen) -> Result<Plan<Changes>, ModuleError> {
        match a.state {
            Presence::Present => Ok(plan_present(a, seen)),
            Presence::Absent => Ok(plan_absent(a, seen)),
        }
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        a: &Deb822Args,
        c: Changes,
        result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        if let Some((path, data)) = &c.key {
            let dir = crate::common::remote_dirname(path);
            crate::common::run_sh(ctx, format!("mkdir -p -m 0755 {}", sh_quote(&dir)), None)
                .await?;
            ctx.transport
                .put(data, path, Some(0o644), ctx.become_.as_ref())
                .await?;
        }
        if let Some(edit) = &c.sources {
            edit.apply(ctx, &a.write).await?;
        }
        for f in &c.remove {
            remove_file(ctx, f).await?;
        }
        Ok(result)
    }
}

/// Those of `paths` that exist on the host (one round trip).
async fn existing(ctx: &ModuleContext<'_>, paths: &[String]) -> Result<Vec<String>, ModuleError> {
    let reqs: Vec<ProbeRequest> = paths
        .iter()
        .map(|n| ProbeRequest::new(n.as_str()))
        .collect();
    let pr = probe(ctx, &reqs).await?;
    Ok(pr
        .paths
        .iter()
        .filter(|s| s.exists())
        .map(|s| s.path.clone())
        .collect())
}

/// present: the stanza (with the key file when fetched) and the key to store.
fn plan_present(a: &Deb822Args, seen: &Seen) -> Plan<Changes> {
    let signed_by = match (&a.signed_by, &seen.key) {
        (Some(SignedBy::Url(_)), Some(k)) => Some(k.path.clone()),
        (Some(SignedBy::Literal(s)), _) => Some(s.clone()),
        _ => None,
    };
    let text = stanza(&a.args, signed_by.as_deref());
    let key = seen
        .key
        .as_ref()
        .filter(|k| k.current.as_deref() != Some(k.data.as_slice()))
        .map(|k| (k.path.clone(), k.data.clone()));
    let fp = plan_file(&seen.file, Some(&text), &a.write.attrs);
    // ansible-core names the key file: the fetched one, or `signed_by` when it is a file.
    let key_filename = match &seen.key {
        Some(k) => Some(Value::String(k.path.clone())),
        None => seen.key_files.first().cloned().map(Value::String),
    };
    let result = ModuleResult::new(false)
        .set("repo", text.as_str())
        .set("dest", a.dest.as_str())
        .set("key_filename", key_filename.unwrap_or(Value::Null))
        .with_diff(&a.dest, &a.dest, &fp.before, &fp.after);
    let sources = fp.change.map(|c| c.on(&a.dest, &seen.file));
    if key.is_none() && sources.is_none() {
        return Plan::nothing(result);
    }
    let changes = Changes {
        key,
        sources,
        remove: Vec::new(),
    };
    Plan::change(changes, result)
}

/// absent: the file and its key files go; ansible-core reports `repo: null` and the `.gpg`
/// key file name.
fn plan_absent(a: &Deb822Args, seen: &Seen) -> Plan<Changes> {
    let fp = plan_file(&seen.file, None, &AttrSpec::default());
    let mut result = ModuleResult::new(false)
        .set("repo", Value::Null)
        .set("dest", a.dest.as_str())
        .set("key_filename", format!("{}.gpg", a.keyring));
    if fp.change.is_some() {
        result = result.with_diff(&a.dest, &a.dest, &fp.before, "");
    }
    let sources = fp.change.map(|c| c.on(&a.dest, &seen.file));
    if sources.is_none() && seen.key_files.is_empty() {
        return Plan::nothing(result);
    }
    let changes = Changes {
        key: None,
        sources,
        remove: seen.key_files.clone(),
    };
    Plan::change(changes, result)
}

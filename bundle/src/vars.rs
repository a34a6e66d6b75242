//! What goes into the bundle, read from `group_vars` through the engine's own inventory,
//! precedence and templating, so the bundle sees exactly the values the roles see.
//!
//! One twist: `offline_files.*.url` is written `{{ files_repo }}/HOST/PATH` for the nodes; the
//! build renders it with `files_repo` set to a marker and takes `HOST/PATH` from what follows,
//! so the upstream URL is `https://HOST/PATH` whatever `files_repo` the site configured.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kplay_engine::inventory::Inventory;
use kplay_engine::template::Templar;
use kplay_engine::vars::{extra::parse_extra_vars, RunInfo, RunVars, Scope};
use kplay_engine::{Map, Value};

/// Marker `files_repo` is rendered as while reading `offline_files` (never a real URL).
const FILES_REPO_MARKER: &str = "kplay-files-repo:";

/// Errors reading the bundle's variables; each names the variable and what to fix.
#[derive(Debug, thiserror::Error)]
pub enum VarsError {
    #[error("{0}")]
    Load(String),
    #[error("`{name}` is not defined: add it to group_vars/all/ (looked in {dir}); see group_vars/all/offline.yml")]
    Missing { name: String, dir: PathBuf },
    #[error("`{name}`: {message}")]
    Invalid { name: String, message: String },
}

fn invalid(name: impl Into<String>, message: impl Into<String>) -> VarsError {
    VarsError::Invalid {
        name: name.into(),
        message: message.into(),
    }
}

/// One `offline_files` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    pub name: String,
    /// Where the nodes download it from (rendered with the real `files_repo`, when renderable).
    pub url_path: String,
    /// Where the build fetches it from.
    pub upstream: String,
    pub sha256: String,
    pub version: Option<String>,
}

/// One `offline_images` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSpec {
    pub name: String,
    pub repo: String,
    pub tag: String,
    /// The `build` mapping as written (its `type` says who makes it).
    pub build: Map,
}

impl ImageSpec {
    /// `repo:tag`, the name the image has in `images/` and in the registry.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.repo, self.tag)
    }

    /// The `build.type` (`debs`, `kubernetes`, …).
    pub fn build_type(&self) -> &str {
        self.build.get("type").and_then(Value::as_str).unwrap_or("")
    }
}

/// Everything `kplay bundle build` reads from group_vars.
#[derive(Debug, Clone)]
pub struct BundleVars {
    /// feature → package names (`offline_packages`), in the order written.
    pub packages: BTreeMap<String, Vec<String>>,
    pub files: Vec<FileSpec>,
    pub images: Vec<ImageSpec>,
    pub release: String,
    pub architecture: String,
    /// apt source lines; empty means the build machine's own sources.
    pub sources: Vec<String>,
    pub suite: String,
    pub component: String,
    pub registry_host: String,
}

impl BundleVars {
    /// The union of all features' packages, sorted and without duplicates.
    pub fn all_packages(&self) -> Vec<String> {
        let mut all: Vec<String> = self.packages.values().flatten().cloned().collect();
        all.sort();
        all.dedup();
        all
    }

    /// The features that list `package` (for error messages).
    pub fn features_of(&self, package: &str) -> Vec<String> {
        self.packages
            .iter()
            .filter(|(_, p)| p.iter().any(|p| p == package))
            .map(|(f, _)| format!("offline_packages.{f}"))
            .collect()
    }
}

/// Where the variables come from.
#[derive(Debug, Clone, Default)]
pub struct VarsSource {
    /// The directory whose `group_vars/` applies (the content's `playbooks/`).
    pub playbook_dir: PathBuf,
    /// Inventory sources (`-i`); none means a lone `localhost`.
    pub inventory: Vec<String>,
    /// `-e` arguments, as on `kplay run`.
    pub extra_vars: Vec<String>,
}

/// Reads and checks the bundle's variables.
pub fn load(src: &VarsSource) -> Result<BundleVars, VarsError> {
    let mut inventory = if src.inventory.is_empty() {
        Inventory::empty()
    } else {
        Inventory::load(&src.inventory).map_err(|e| VarsError::Load(e.to_string()))?
    };
    let host = pick_host(&mut inventory);
    let mut extra = Map::new();
    for arg in &src.extra_vars {
        let vars = parse_extra_vars(arg).map_err(|e| VarsError::Load(e.to_string()))?;
        extra.extend(vars);
    }
    let real = scope(&inventory, extra.clone(), &src.playbook_dir, &host)?;
    extra.insert("files_repo".into(), Value::String(FILES_REPO_MARKER.into()));
    let marked = scope(&inventory, extra, &src.playbook_dir, &host)?;
    let dir = src.playbook_dir.join("group_vars");
    let get = |scope: &Arc<Scope>, name: &str| -> Result<Value, VarsError> {
        match scope.get_json(name) {
            Some(v) => Ok(v),
            None => match scope.take_error() {
                Some(e) => Err(invalid(name, e)),
                None => Err(VarsError::Missing {
                    name: name.to_string(),
                    dir: dir.clone(),
                }),
            },
        }
    };
    let string = |scope: &Arc<Scope>, name: &str| -> Result<String, VarsError> {
        match get(scope, name)? {
            Value::String(s) if !s.is_empty() => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(invalid(
                name,
                format!("must be a non-empty string, got {other}"),
            )),
        }
    };

    let packages = match get(&real, "offline_packages")? {
        Value::Object(m) => {
            let mut out = BTreeMap::new();
            for (feature, list) in m {
                let name = format!("offline_packages.{feature}");
                let Value::Array(items) = list else {
                    return Err(invalid(
                        name,
                        format!("must be a list of Debian package names, got {list}"),
                    ));
                };
                let mut pkgs = Vec::new();
                for item in items {
                    match item {
                        Value::String(p) if is_package_name(&p) => pkgs.push(p),
                        other => {
                            return Err(invalid(
                                name,
                                format!("{other} is not a Debian package name (lower-case letters, digits, + - .)"),
                            ))
                        }
                    }
                }
                out.insert(feature, pkgs);
            }
            out
        }
        other => {
            return Err(invalid(
                "offline_packages",
                format!("must be a mapping of feature to package list, got {other}"),
            ))
        }
    };

    let files = match get(&marked, "offline_files")? {
        Value::Null => Vec::new(),
        v => named_specs("offline_files", v, file_spec)?,
    };

    let images = named_specs("offline_images", get(&real, "offline_images")?, image_spec)?;

    let sources = match get(&real, "offline_debian_sources")? {
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) if s.trim_start().starts_with("deb ") => Ok(s),
                other => Err(invalid(
                    "offline_debian_sources",
                    format!(
                        "{other} is not an apt source line (`deb [options] URI SUITE COMPONENT…`)"
                    ),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Value::Null => Vec::new(),
        other => {
            return Err(invalid(
                "offline_debian_sources",
                format!("must be a list, got {other}"),
            ))
        }
    };

    Ok(BundleVars {
        packages,
        files,
        images,
        release: string(&real, "offline_debian_release")?,
        architecture: string(&real, "offline_debian_architecture")?,
        sources,
        suite: string(&real, "debian_repo_suite")?,
        component: string(&real, "debian_repo_component")?,
        registry_host: string(&real, "registry_host")?,
    })
}

/// The host whose variables are read: the bootstrap node when there is one (it is the host the
/// bundle is served from), else the first host, else a `localhost` added to `all`.
fn pick_host(inv: &mut Inventory) -> String {
    if let Ok(hosts) = inv.select("bootstrap") {
        if let Some(h) = hosts.first() {
            return h.clone();
        }
    }
    if let Some(h) = inv.hosts().next() {
        return h.name.clone();
    }
    let mut vars = Map::new();
    vars.insert("ansible_connection".into(), "local".into());
    inv.add_host("localhost", &[], vars);
    "localhost".to_string()
}

fn scope(
    inv: &Inventory,
    extra: Map,
    playbook_dir: &Path,
    host: &str,
) -> Result<Arc<Scope>, VarsError> {
    let run = RunVars::new(
        inv.clone(),
        extra,
        Arc::new(Templar::new()),
        playbook_dir.to_path_buf(),
        RunInfo::default(),
    );
    // Load once here so a broken group_vars file is reported with its file and line.
    run.inventory_vars(host)
        .map_err(|e| VarsError::Load(e.to_string()))?;
    Ok(Scope::for_host(&run, host))
}

fn is_package_name(p: &str) -> bool {
    p.len() >= 2
        && p.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
}

/// Each entry of the mapping `key` (NAME: spec) read by `spec`, in the mapping's order.
fn named_specs<T>(
    key: &str,
    v: Value,
    spec: fn(&str, Value) -> Result<T, VarsError>,
) -> Result<Vec<T>, VarsError> {
    match v {
        Value::Object(m) => m.into_iter().map(|(name, v)| spec(&name, v)).collect(),
        other => Err(invalid(key, format!("must be a mapping, got {other}"))),
    }
}

/// The mapping of one entry `var`; `wants` says which keys it needs, for the error.
fn spec_mapping(var: &str, v: Value, wants: &str) -> Result<Map, VarsError> {
    match v {
        Value::Object(m) => Ok(m),
        v => Err(invalid(
            var,
            format!("must be a mapping with {wants}, got {v}"),
        )),
    }
}

fn file_spec(name: &str, v: Value) -> Result<FileSpec, VarsError> {
    let var = format!("offline_files.{name}");
    let m = spec_mapping(&var, v, "url and sha256")?;
    let text = |key: &str| m.get(key).and_then(Value::as_str).map(str::to_string);
    let url = text("url").ok_or_else(|| invalid(&var, "has no `url`"))?;
    let Some(rest) = url.strip_prefix(FILES_REPO_MARKER) else {
        return Err(invalid(
            format!("{var}.url"),
            format!("{url:?} must start with {{{{ files_repo }}}}/ (the nodes download from the bootstrap node)"),
        ));
    };
    let url_path = rest.trim_start_matches('/').to_string();
    let host = url_path.split('/').next().unwrap_or("");
    if host.is_empty()
        || !url_path.contains('/')
        || url_path
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
    {
        return Err(invalid(
            format!("{var}.url"),
            format!("{url:?} must be {{{{ files_repo }}}}/HOST/PATH (kubespray's offline layout)"),
        ));
    }
    let upstream = text("upstream").unwrap_or_else(|| format!("https://{url_path}"));
    if !upstream.starts_with("https://") && !upstream.starts_with("http://") {
        return Err(invalid(
            format!("{var}.upstream"),
            format!("{upstream:?} is not an http(s) URL"),
        ));
    }
    let sha256 = text("sha256")
        .ok_or_else(|| invalid(&var, "has no `sha256` (every file is checked)"))?
        .to_ascii_lowercase();
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid(
            format!("{var}.sha256"),
            format!("{sha256:?} is not 64 hex digits"),
        ));
    }
    Ok(FileSpec {
        name: name.to_string(),
        url_path,
        upstream,
        sha256,
        version: m.get("version").map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
    })
}

fn image_spec(name: &str, v: Value) -> Result<ImageSpec, VarsError> {
    let var = format!("offline_images.{name}");
    let m = spec_mapping(&var, v, "repo, tag and build")?;
    let repo = m
        .get("repo")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid(&var, "has no `repo`"))?
        .to_string();
    let tag = match m.get("tag") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(invalid(&var, "has no `tag`")),
    };
    if !tag
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        || tag.len() > 128
    {
        return Err(invalid(
            format!("{var}.tag"),
            format!("{tag:?} is not a valid image tag"),
        ));
    }
    let build = match m.get("build") {
        Some(Value::Object(b)) => b.clone(),
        _ => {
            return Err(invalid(
                &var,
                "has no `build` mapping (how kplay makes the image)",
            ))
        }
    };
    Ok(ImageSpec {
        name: name.to_string(),
        repo,
        tag,
        build,
    })
}

#[cfg(test)]
mod tests;

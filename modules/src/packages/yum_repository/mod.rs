//! `yum_repository` (ansible.builtin.yum_repository): a `[NAME]` section in
//! `REPOSDIR/FILE.repo` holding exactly the given options (present), or no such section
//! (absent; a file left without sections is deleted). As ansible-core 2.18 does, the file is
//! read and written as configparser does ([`ini`]), the options of the section sorted,
//! booleans as 1/0, `baseurl`/`gpgkey` one URL a line, `exclude`/`includepkgs` joined with
//! spaces; `changed` and the diff compare ansible's sorted dump, so a second run changes
//! nothing. `query` reads the file (and checks the directory), `plan` renders and decides,
//! `apply` writes through the repository modules' shared pipeline ([`super::repo_files`]).

pub mod ini;
#[cfg(test)]
mod tests;

use super::repo_files::{attrs_differ, plan_file, query_file, FileChange, FileEdit};
use crate::common::args::{p, Args, Param, RequiredIf, Spec, FILE_COMMON};
use crate::common::attrs::AttrSpec;
use crate::common::diff::text_diff;
use crate::common::probe::{probe, PathKind, ProbeRequest};
use crate::common::text::{TextFile, WriteOpts};
use crate::planned::{Plan, Presence, QueryPlanApply};
use async_trait::async_trait;
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::{to_display_string, Map};

/// Options written as given.
const STR_OPTS: &[&str] = &[
    "bandwidth",
    "cost",
    "deltarpm_metadata_percentage",
    "deltarpm_percentage",
    "failovermethod",
    "gpgcakey",
    "http_caching",
    "include",
    "ip_resolve",
    "keepcache",
    "metadata_expire",
    "metadata_expire_filter",
    "metalink",
    "mirrorlist",
    "mirrorlist_expire",
    "password",
    "priority",
    "proxy",
    "proxy_password",
    "proxy_username",
    "retries",
    "sslcacert",
    "sslclientcert",
    "sslclientkey",
    "throttle",
    "timeout",
    "ui_repoid_vars",
    "username",
];
/// Options written as 1/0.
const BOOL_OPTS: &[&str] = &[
    "async",
    "countme",
    "enabled",
    "enablegroups",
    "gpgcheck",
    "keepalive",
    "module_hotfixes",
    "protect",
    "repo_gpgcheck",
    "s3_enabled",
    "skip_if_unavailable",
    "ssl_check_cert_permissions",
    "sslverify",
];
/// List options and the separator ansible-core joins their items with.
const LIST_OPTS: &[(&str, &str)] = &[
    ("baseurl", "\n"),
    ("exclude", " "),
    ("gpgkey", "\n"),
    ("includepkgs", " "),
];

const PARAMS: &[Param] = &[
    p("name", &[])
        .str()
        .required()
        .doc("Repository id (the `[section]`)."),
    p("description", &[])
        .str()
        .doc("Human-readable name (`name =` in the file); required when present."),
    p("file", &[])
        .str()
        .doc("File name without `.repo` (default: the name)."),
    p("reposdir", &[])
        .path()
        .default_str("/etc/yum.repos.d")
        .doc("Directory of the repo files (must exist)."),
    p("state", &[])
        .choices(&["absent", "present"])
        .default_str("present")
        .doc("Whether the section should be there."),
    p("baseurl", &[]).list().doc("URL(s) of the repository."),
    p("mirrorlist", &[]).str().doc("URL of a mirror list."),
    p("metalink", &[]).str().doc("URL of a metalink file."),
    p("gpgkey", &[]).list().doc("URL(s) of the signing key."),
    p("exclude", &["excludepkgs"])
        .list()
        .doc("Packages to exclude."),
    p("includepkgs", &[]).list().doc("Only these packages."),
    p("priority", &[]).str().doc("Priority (1-99)."),
    p("cost", &[]).str().doc("Relative cost of the repository."),
    p("timeout", &[])
        .str()
        .doc("Seconds to wait for a connection."),
    p("proxy", &[]).str().doc("Proxy URL."),
    p("proxy_username", &[]).str().doc("Proxy user."),
    p("proxy_password", &[]).str().doc("Proxy password."),
    p("sslcacert", &["ca_cert"])
        .str()
        .doc("CA certificate path."),
    p("sslclientcert", &["client_cert"])
        .str()
        .doc("Client certificate path."),
    p("sslclientkey", &["client_key"])
        .str()
        .doc("Client key path."),
    p("metadata_expire", &[]).str().doc("Metadata lifetime."),
    p("metadata_expire_filter", &[])
        .choices(&[
            "never",
            "read-only:past",
            "read-only:present",
            "read-only:future",
        ])
        .doc("Which metadata commands check expiry."),
    p("bandwidth", &[]).str().doc("Bandwidth limit."),
    p("throttle", &[]).str().doc("Download rate limit."),
    p("retries", &[]).str().doc("Download retries."),
    p("ip_resolve", &[])
        .choices(&["4", "6", "IPv4", "IPv6", "whatever"])
        .doc("IP version to resolve to."),
    p("http_caching", &[])
        .choices(&["all", "packages", "none"])
        .doc("What HTTP caches may serve."),
    p("keepcache", &[])
        .choices(&["0", "1"])
        .doc("Keep downloaded packages (deprecated)."),
    p("include", &[]).str().doc("A file or URL to include."),
    p("gpgcakey", &[]).str().doc("CA key URL."),
    p("mirrorlist_expire", &[])
        .str()
        .doc("Mirror list lifetime."),
    p("deltarpm_percentage", &[])
        .str()
        .doc("Delta RPM threshold."),
    p("deltarpm_metadata_percentage", &[])
        .str()
        .doc("Delta RPM metadata threshold."),
    p("username", &[]).str().doc("Basic auth user."),
    p("password", &[]).str().doc("Basic auth password."),
    p("failovermethod", &[])
        .choices(&["roundrobin", "priority"])
        .doc("Order of trying the URLs."),
    p("ui_repoid_vars", &[])
        .str()
        .doc("Variables shown in the repo id."),
    p("async", &[]).bool().doc("Parallel downloads (1/0)."),
    p("countme", &[])
        .bool()
        .doc("Be counted by the mirror (1/0)."),
    p("enabled", &[]).bool().doc("Repository enabled (1/0)."),
    p("enablegroups", &[])
        .bool()
        .doc("Package groups enabled (1/0)."),
    p("gpgcheck", &[])
        .bool()
        .doc("Check package signatures (1/0)."),
    p("keepalive", &[]).bool().doc("HTTP keepalive (1/0)."),
    p("module_hotfixes", &[])
        .bool()
        .doc("Module hotfixes (1/0)."),
    p("protect", &[])
        .bool()
        .doc("Protect packages from updates by other repositories (1/0)."),
    p("repo_gpgcheck", &[])
        .bool()
        .doc("Check repository metadata signatures (1/0)."),
    p("s3_enabled", &[])
        .bool()
        .doc("The repository is on S3 (1/0)."),
    p("skip_if_unavailable", &[])
        .bool()
        .doc("Skip the repository when it cannot be reached (1/0)."),
    p("ssl_check_cert_permissions", &[])
        .bool()
        .doc("Check the permissions of the certificate files (1/0)."),
    p("sslverify", &["validate_certs"])
        .bool()
        .doc("Verify the server's certificate (1/0)."),
];

/// `yum_repository`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "yum_repository",
    "Add or remove YUM repositories",
    &[PARAMS, FILE_COMMON],
)
.required_if(&[
    RequiredIf {
        param: "state",
        value: "present",
        requires: &["baseurl", "mirrorlist", "metalink"],
        any: true,
    },
    RequiredIf {
        param: "state",
        value: "present",
        requires: &["description"],
        any: false,
    },
]);

/// `ansible.builtin.yum_repository`.
pub struct YumRepositoryModule;

/// Checked arguments.
#[derive(Debug, Clone)]
pub struct YumRepoArgs {
    /// The repository id (section name).
    pub name: String,
    pub state: Presence,
    /// `REPOSDIR/FILE.repo`.
    pub dest: String,
    pub reposdir: String,
    /// The section's options, sorted (present only).
    pub options: Vec<(String, String)>,
    pub write: WriteOpts,
}

impl YumRepoArgs {
    pub fn parse(args: Map) -> Result<YumRepoArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let name = a.required_str("name")?;
        let file = a.str("file")?.unwrap_or_else(|| name.clone());
        // A `]` or newline would end the section header; a `/` would leave the directory.
        if file.contains('/') || name.contains(']') || name.contains('\n') {
            return Err(ModuleError::new(format!(
                "invalid repository name or file: {name:?} / {file:?}"
            )));
        }
        let reposdir = a.required_str("reposdir")?;
        let dest = format!("{}/{file}.repo", reposdir.trim_end_matches('/'));
        let state = Presence::from_arg(&a, "state")?;
        let options = match state {
            Presence::Present => options(&a)?,
            Presence::Absent => Vec::new(),
        };
        let write = WriteOpts {
            attrs: AttrSpec::from_args(&a, false)?,
            ..Default::default()
        };
        Ok(YumRepoArgs {
            name,
            state,
            dest,
            reposdir,
            options,
            write,
        })
    }
}

/// The section's options from the task, sorted as ansible-core adds them (`name` is the
/// description).
pub fn options(a: &Args) -> Result<Vec<(String, String)>, ModuleError> {
    let mut opts: Vec<(String, String)> = Vec::new();
    for k in STR_OPTS {
        if let Some(v) = a.raw(k) {
            opts.push((k.to_string(), to_display_string(v)));
        }
    }
    for k in BOOL_OPTS {
        if a.has(k) {
            let v = if a.bool(k, false)? { "1" } else { "0" };
            opts.push((k.to_string(), v.into()));
        }
    }
    for (k, sep) in LIST_OPTS {
        if a.has(k) {
            opts.push((k.to_string(), a.list(k).join(sep)));
        }
    }
    if let Some(d) = a.str("description")? {
        opts.push(("name".into(), d));
    }
    opts.sort();
    Ok(opts)
}

/// What `query` found: the repo file and whether the directory exists.
#[derive(Debug, Clone)]
pub struct Seen {
    pub file: TextFile,
    pub dir_exists: bool,
}

#[async_trait]
impl QueryPlanApply for YumRepositoryModule {
    type Args = YumRepoArgs;
    type Seen = Seen;
    type Changes = FileEdit;

    fn name(&self) -> &'static str {
        "yum_repository"
    }

    fn parse(&self, args: Map) -> Result<YumRepoArgs, ModuleError> {
        YumRepoArgs::parse(args)
    }

    async fn query(&self, ctx: &ModuleContext<'_>, a: &YumRepoArgs) -> Result<Seen, ModuleError> {
        let file = query_file(ctx, &a.dest).await?;
        let dir_exists = file.exists() || {
            let req = ProbeRequest::new(&a.reposdir).follow(true);
            let pr = probe(ctx, &[req]).await?;
            pr.paths.first().map(|s| s.kind) == Some(PathKind::Directory)
        };
        Ok(Seen { file, dir_exists })
    }

    fn plan(a: &YumRepoArgs, seen: &Seen) -> Result<Plan<FileEdit>, ModuleError> {
        if !seen.dir_exists {
            return Err(ModuleError::new(format!(
                "Repo directory '{}' does not exist.",
                a.reposdir
            )));
        }
        let mut sections = ini::parse(seen.file.content().unwrap_or_default());
        let before = ini::dump(&sections);
        sections.retain(|(s, _)| *s != a.name);
        if a.state == Presence::Present {
            sections.push((a.name.clone(), a.options.clone()));
        }
        let after = ini::dump(&sections);
        let change = if before != after {
            let want = (!sections.is_empty()).then(|| ini::render(&sections));
            plan_file(&seen.file, want.as_deref(), &a.write.attrs).change
        } else if attrs_differ(&seen.file, &a.write.attrs) {
            Some(FileChange::Attrs)
        } else {
            None
        };
        let result = ModuleResult::new(false)
            .set("repo", a.name.as_str())
            .set("state", a.state.as_str())
            .set("diff", text_diff(&a.dest, &a.dest, &before, &after));
        Ok(Plan::maybe(
            change.map(|c| c.on(&a.dest, &seen.file)),
            result,
        ))
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        a: &YumRepoArgs,
        edit: FileEdit,
        result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        edit.apply(ctx, &a.write).await?;
        Ok(result)
    }
}

//! `yum_repository` (ansible.builtin.yum_repository): a `[NAME]` section in
//! `REPOSDIR/FILE.repo` holding exactly the given options (present), or no such section
//! (absent; a file left without sections is deleted). As Ansible (configparser) does, the
//! whole file is rewritten as `key = value` lines, options sorted, booleans as 1/0, lists
//! joined with spaces; so the result compares byte for byte and a second run changes
//! nothing. Written through the editing modules' atomic commit; check mode shows the diff.

use crate::common::args::{p, Args, Param, Spec};
use crate::common::mode::ModeSpec;
use crate::common::reads::failure;
use crate::common::run_sh;
use crate::common::text::{commit, read, with_diff, Found, WriteOpts};
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};

/// Repository options written as given (lists joined with spaces).
const STR_OPTS: &[&str] = &[
    "baseurl",
    "mirrorlist",
    "metalink",
    "gpgkey",
    "exclude",
    "includepkgs",
    "priority",
    "cost",
    "timeout",
    "proxy",
    "proxy_username",
    "proxy_password",
    "sslcacert",
    "sslclientcert",
    "sslclientkey",
    "metadata_expire",
    "bandwidth",
    "throttle",
    "retries",
    "ip_resolve",
    "http_caching",
    "async",
    "mirrorlist_expire",
    "deltarpm_percentage",
    "username",
    "password",
    "failovermethod",
    "ui_repoid_vars",
    "countme",
];
/// Repository options written as 1/0.
const BOOL_OPTS: &[&str] = &[
    "enabled",
    "gpgcheck",
    "repo_gpgcheck",
    "skip_if_unavailable",
    "sslverify",
    "module_hotfixes",
    "gpgcakey_check",
    "keepalive",
    "enablegroups",
    "deltarpm_metadata_percentage_ok",
];

const PARAMS: &[Param] = &[
    p("name", &[])
        .str()
        .required()
        .doc("Repository id (the `[section]`)."),
    p("file", &[])
        .str()
        .doc("File name without `.repo` (default: the name)."),
    p("reposdir", &[])
        .path()
        .default_str("/etc/yum.repos.d")
        .doc("Directory of the repo files."),
    p("state", &[])
        .choices(&["absent", "present"])
        .default_str("present")
        .doc("Whether the section should be there."),
    p("description", &[])
        .str()
        .doc("Human-readable name (`name =` in the file)."),
    p("mode", &[]).doc("Mode of the repo file."),
    p("owner", &[]).str().doc("Owner of the repo file."),
    p("group", &[]).str().doc("Group of the repo file."),
    p("baseurl", &[]).doc("URL(s) of the repository (a list is joined with spaces)."),
    p("mirrorlist", &[]).str().doc("URL of a mirror list."),
    p("metalink", &[]).str().doc("URL of a metalink file."),
    p("gpgkey", &[]).doc("URL(s) of the signing key."),
    p("exclude", &["excludepkgs"]).doc("Packages to exclude."),
    p("includepkgs", &[]).doc("Only these packages."),
    p("priority", &[]).str().doc("Priority (1-99)."),
    p("cost", &[]).str().doc("Relative cost of the repository."),
    p("timeout", &[])
        .str()
        .doc("Seconds to wait for a connection."),
    p("proxy", &[]).str().doc("Proxy URL."),
    p("proxy_username", &[]).str().doc("Proxy user."),
    p("proxy_password", &[]).str().doc("Proxy password."),
    p("sslcacert", &[]).str().doc("CA certificate path."),
    p("sslclientcert", &[])
        .str()
        .doc("Client certificate path."),
    p("sslclientkey", &[]).str().doc("Client key path."),
    p("metadata_expire", &[]).str().doc("Metadata lifetime."),
    p("bandwidth", &[]).str().doc("Bandwidth limit."),
    p("throttle", &[]).str().doc("Download rate limit."),
    p("retries", &[]).str().doc("Download retries."),
    p("ip_resolve", &[]).str().doc("4, 6, IPv4 or IPv6."),
    p("http_caching", &[]).str().doc("all, packages or none."),
    p("async", &[]).str().doc("Parallel downloads."),
    p("mirrorlist_expire", &[])
        .str()
        .doc("Mirror list lifetime."),
    p("deltarpm_percentage", &[])
        .str()
        .doc("Delta RPM threshold."),
    p("username", &[]).str().doc("Basic auth user."),
    p("password", &[]).str().doc("Basic auth password."),
    p("failovermethod", &[])
        .str()
        .doc("roundrobin or priority."),
    p("ui_repoid_vars", &[])
        .str()
        .doc("Variables shown in the repo id."),
    p("countme", &[])
        .str()
        .doc("Whether to be counted by the mirror."),
    p("enabled", &[]).doc("Repository enabled (1/0)."),
    p("gpgcheck", &[]).doc("Check package signatures (1/0)."),
    p("repo_gpgcheck", &[]).doc("Check repository metadata signatures (1/0)."),
    p("skip_if_unavailable", &[]).doc("Skip the repository when it cannot be reached (1/0)."),
    p("sslverify", &["validate_certs"]).doc("Verify the server's certificate (1/0)."),
    p("module_hotfixes", &[]).doc("Module hotfixes (1/0)."),
    p("gpgcakey_check", &[]).doc("Check the CA key (1/0)."),
    p("keepalive", &[]).doc("HTTP keepalive (1/0)."),
    p("enablegroups", &[]).doc("Package groups enabled (1/0)."),
    p("deltarpm_metadata_percentage_ok", &[]).doc("Delta RPM metadata (1/0)."),
];

/// `yum_repository`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "yum_repository",
    "Add or remove YUM repositories",
    &[PARAMS],
);

/// `ansible.builtin.yum_repository`.
pub struct YumRepositoryModule;

type Sections = Vec<(String, Vec<(String, String)>)>;

/// A repo file's sections and options (comments dropped, as configparser drops them).
pub fn parse_repo(text: &str) -> Sections {
    let mut out: Sections = Vec::new();
    for l in text.lines() {
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if let Some(s) = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            out.push((s.to_string(), vec![]));
        } else if let (Some(last), Some((k, v))) = (out.last_mut(), t.split_once('=')) {
            last.1.push((k.trim().to_string(), v.trim().to_string()));
        } else if let Some(last) = out.last_mut().and_then(|s| s.1.last_mut()) {
            // A continuation line (configparser joins it to the value with a newline).
            last.1.push('\n');
            last.1.push_str(t);
        }
    }
    out
}

/// configparser's layout: `[section]`, `key = value` lines, a blank line after each section.
pub fn render_repo(s: &Sections) -> String {
    let mut out = String::new();
    for (name, opts) in s {
        out.push_str(&format!("[{name}]\n"));
        for (k, v) in opts {
            out.push_str(&format!("{k} = {}\n", v.replace('\n', "\n\t")));
        }
        out.push('\n');
    }
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Array(items) => items.iter().map(scalar).collect::<Vec<_>>().join(" "),
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The section's options from the task, sorted as Ansible writes them.
pub fn options(a: &Args, name: &str) -> Result<Vec<(String, String)>, ModuleError> {
    let mut opts: Vec<(String, String)> = Vec::new();
    for k in STR_OPTS {
        if let Some(v) = a.raw(k).filter(|v| !v.is_null()) {
            opts.push((k.to_string(), scalar(v)));
        }
    }
    for k in BOOL_OPTS {
        if a.raw(k).is_some_and(|v| !v.is_null()) {
            opts.push((
                k.to_string(),
                if a.bool(k, false)? { "1" } else { "0" }.into(),
            ));
        }
    }
    let desc = a.str("description")?.unwrap_or_else(|| name.to_string());
    opts.push(("name".into(), desc));
    opts.sort();
    Ok(opts)
}

#[async_trait]
impl Module for YumRepositoryModule {
    fn name(&self) -> &'static str {
        "yum_repository"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        let name = a.required_str("name")?;
        let present = a.required_str("state")? == "present";
        let file = a.str("file")?.unwrap_or_else(|| name.clone());
        if file.contains('/') || name.contains(']') || name.contains('\n') {
            return Err(ModuleError::new(format!(
                "invalid repository name or file: {name:?} / {file:?}"
            )));
        }
        let path = format!(
            "{}/{file}.repo",
            a.required_str("reposdir")?.trim_end_matches('/')
        );
        if present
            && ["baseurl", "mirrorlist", "metalink"]
                .iter()
                .all(|k| a.raw(k).is_none_or(Value::is_null))
        {
            return Err(ModuleError::new(
                "Parameter 'baseurl', 'metalink' or 'mirrorlist' is required for adding a new repo.",
            ));
        }
        let probed = read(ctx, &path).await?;
        let original = match &probed.found {
            Found::File { content, .. } => content.clone(),
            Found::Missing => String::new(),
            _ => return Err(ModuleError::new(format!("{path} is not a regular file"))),
        };
        let mut sections = parse_repo(&original);
        let pos = sections.iter().position(|(s, _)| *s == name);
        if present {
            let opts = options(&a, &name)?;
            match pos {
                Some(i) => sections[i].1 = opts,
                None => sections.push((name.clone(), opts)),
            }
        } else if let Some(i) = pos {
            sections.remove(i);
        }
        let text = render_repo(&sections);
        let changed = if present {
            text != original
        } else {
            pos.is_some()
        };
        let mut opts = WriteOpts::default();
        opts.attrs.owner = a.str("owner")?;
        opts.attrs.group = a.str("group")?;
        if let Some(m) = a.raw("mode") {
            opts.attrs.mode = Some(ModeSpec::parse(m, false)?);
        }
        let mut attrs_changed = false;
        if !present && changed && sections.is_empty() {
            if !ctx.check_mode {
                let out = run_sh(ctx, format!("rm -f -- {}", sh_quote(&path)), None).await?;
                if out.rc != 0 {
                    let (o, e) = (out.stdout_str(), out.stderr_str());
                    return Err(failure(e.trim().to_string(), out.rc, &o, &e));
                }
            }
        } else if present || changed {
            let done = commit(ctx, &path, &probed, changed.then_some(text.as_str()), &opts).await?;
            attrs_changed = done.attrs_changed;
        }
        let after = if !present && sections.is_empty() {
            ""
        } else {
            text.as_str()
        };
        let r = ModuleResult::new(changed || attrs_changed)
            .set("repo", name.as_str())
            .set("state", if present { "present" } else { "absent" });
        Ok(with_diff(
            ctx,
            r,
            &path,
            &original,
            if changed { after } else { &original },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn section_is_written_sorted_like_configparser() {
        let a = SPEC
            .parse(
                json!({"name": "epel", "description": "EPEL", "baseurl": ["http://a/", "http://b/"], "gpgcheck": true, "enabled": "no"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            )
            .unwrap();
        let s = vec![("epel".to_string(), options(&a, "epel").unwrap())];
        let text = render_repo(&s);
        assert_eq!(
            text,
            "[epel]\nbaseurl = http://a/ http://b/\nenabled = 0\ngpgcheck = 1\nname = EPEL\n\n"
        );
        assert_eq!(parse_repo(&text), s);
        assert_eq!(render_repo(&parse_repo(&text)), text);
    }

    #[test]
    fn comments_drop_and_other_sections_stay() {
        let s = parse_repo("# c\n[a]\nname=A\nbaseurl=x\n  y\n[b]\nname = B\n");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].1[1], ("baseurl".to_string(), "x\ny".to_string()));
    }
}

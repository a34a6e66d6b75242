//! `deb822_repository` (ansible.builtin.deb822_repository): an APT source in deb822 format,
//! `/etc/apt/sources.list.d/SLUG.sources` (SLUG: the name lowercased, spaces and `_` made `-`,
//! other characters dropped, as Ansible names it), fields in Ansible's order and spelling
//! (`Types`, `URIs`, `Suites`, `Components`, `Signed-By` …, booleans `yes`/`no`). `signed_by`
//! is a key file path, an inline ASCII-armoured key (written into the stanza), or a URL
//! fetched from the host's point of view (a local mirror offline) into
//! `/etc/apt/keyrings/SLUG.asc|gpg`. Written only when it differs (check mode, diff); like
//! Ansible's it does not run `apt-get update` (follow with `apt: update_cache=true`).

use crate::common::args::{p, Args, Param, Spec};
use crate::common::text::with_diff;
use crate::common::text::{commit, WriteOpts};
use crate::common::text::{read as probe, Found};
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::{Map, Value};

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

/// Ansible's file name slug for a repository name.
pub fn slug(name: &str) -> String {
    let mut dashed = String::new();
    let mut in_sep = false;
    for c in name.to_lowercase().chars() {
        if c == '_' || c.is_whitespace() {
            if !in_sep {
                dashed.push('-');
            }
            in_sep = true;
        } else {
            dashed.push(c);
            in_sep = false;
        }
    }
    dashed
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .collect()
}

/// A deb822 field value over several lines: continuation lines start with a space, empty
/// lines become ` .`.
fn multiline(v: &str) -> String {
    v.trim_end_matches('\n')
        .lines()
        .enumerate()
        .map(|(i, l)| match (i, l.trim().is_empty()) {
            (0, _) => l.to_string(),
            (_, true) => " .".to_string(),
            _ => format!(" {l}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The stanza's fields in Ansible's order, `signed_by` already resolved.
pub fn stanza(a: &Args, signed_by: Option<&str>) -> Result<String, ModuleError> {
    let yn = |b: bool| if b { "yes" } else { "no" };
    let mut out = String::new();
    let mut field = |k: &str, v: String| out.push_str(&format!("{k}: {v}\n"));
    for (key, label) in [
        ("allow_downgrade_to_insecure", "Allow-Downgrade-To-Insecure"),
        ("allow_insecure", "Allow-Insecure"),
        ("allow_weak", "Allow-Weak"),
        ("architectures", "Architectures"),
        ("by_hash", "By-Hash"),
        ("check_date", "Check-Date"),
        ("check_valid_until", "Check-Valid-Until"),
        ("components", "Components"),
        ("date_max_future", "Date-Max-Future"),
        ("enabled", "Enabled"),
        ("inrelease_path", "InRelease-Path"),
        ("languages", "Languages"),
        ("name", "X-Repolib-Name"),
        ("pdiffs", "PDiffs"),
        ("signed_by", "Signed-By"),
        ("suites", "Suites"),
        ("targets", "Targets"),
        ("trusted", "Trusted"),
        ("types", "Types"),
        ("uris", "URIs"),
    ] {
        if key == "signed_by" {
            if let Some(s) = signed_by {
                field(label, multiline(s));
            }
            continue;
        }
        let Some(v) = a.raw(key) else { continue };
        let text = match v {
            Value::Bool(b) => yn(*b).to_string(),
            Value::Array(items) => items
                .iter()
                .map(kplay_engine::value::to_display_string)
                .collect::<Vec<_>>()
                .join(" "),
            other => kplay_engine::value::to_display_string(other),
        };
        field(label, text);
    }
    Ok(out)
}

/// `root` prefixes the fixed /etc/apt paths (empty on a real host; a temp dir in tests).
#[derive(Default)]
pub struct Deb822RepositoryModule {
    pub root: String,
}

#[async_trait]
impl Module for Deb822RepositoryModule {
    fn name(&self) -> &'static str {
        "deb822_repository"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        let name = a.required_str("name")?;
        let s = slug(&name);
        let dest = format!("{}/etc/apt/sources.list.d/{s}.sources", self.root);
        let present = a.required_str("state")? == "present";
        let mut key_file: Option<String> = None;
        let mut key_data: Option<Vec<u8>> = None;
        let signed_by = match a.str("signed_by")? {
            Some(k) if k.starts_with("http://") || k.starts_with("https://") => {
                let body = crate::common::pgp::key_bytes(ctx, &k, true).await?;
                let armored = body.starts_with(b"-----BEGIN PGP");
                let f = format!(
                    "{}/etc/apt/keyrings/{s}.{}",
                    self.root,
                    if armored { "asc" } else { "gpg" }
                );
                key_data = Some(body);
                key_file = Some(f.clone());
                Some(f)
            }
            Some(k) if k.trim_start().starts_with("-----BEGIN PGP") => Some(k.trim().to_string()),
            other => other,
        };
        let text = if present {
            stanza(&a, signed_by.as_deref())?
        } else {
            String::new()
        };
        let probed = probe(ctx, &dest).await?;
        let before = match &probed.found {
            Found::File { content, .. } => Some(content.clone()),
            Found::Directory => return Err(ModuleError::new(format!("{dest} is a directory"))),
            Found::Missing => None,
        };
        let mut changed = false;
        if present {
            if let (Some(f), Some(data)) = (&key_file, &key_data) {
                let have = ctx.transport.fetch(f, ctx.become_.as_ref()).await?;
                if have.as_deref() != Some(data.as_slice()) {
                    changed = true;
                    if !ctx.check_mode {
                        let dir = crate::common::remote_dirname(f);
                        crate::common::run_sh(
                            ctx,
                            format!(
                                "mkdir -p -m 0755 {}",
                                kplay_engine::transport::sh_quote(&dir)
                            ),
                            None,
                        )
                        .await?;
                        ctx.transport
                            .put(data, f, Some(0o644), ctx.become_.as_ref())
                            .await?;
                    }
                }
            }
            let mut opts = WriteOpts::from_args(&a)?;
            opts.backup = false;
            let differs = before.as_deref() != Some(text.as_str());
            let w = commit(ctx, &dest, &probed, differs.then_some(text.as_str()), &opts).await?;
            changed |= differs || w.attrs_changed;
        } else if before.is_some() {
            changed = true;
            if !ctx.check_mode {
                let out = crate::common::run_sh(
                    ctx,
                    format!("rm -f -- {}", kplay_engine::transport::sh_quote(&dest)),
                    None,
                )
                .await?;
                if out.rc != 0 {
                    return Err(ModuleError::new(format!(
                        "removing {dest} failed: {}",
                        out.stderr_str().trim()
                    )));
                }
            }
        }
        let r = ModuleResult::new(changed)
            .set("dest", dest.clone())
            .set("repo", text.clone())
            .set(
                "key_filename",
                key_file.map(Value::String).unwrap_or(Value::Null),
            );
        Ok(with_diff(
            ctx,
            r,
            &dest,
            before.as_deref().unwrap_or(""),
            &text,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;

    #[test]
    fn file_names_and_fields_follow_ansible() {
        assert_eq!(slug("Docker CE_stable (x86)"), "docker-ce-stable-x86");
        let a = SPEC
            .parse(args(json!({"name": "kube", "types": ["deb"], "uris": "http://mirror/k8s", "suites": ["/"], "enabled": true, "architectures": ["amd64", "arm64"]})))
            .expect("args");
        let key =
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBF\n-----END PGP PUBLIC KEY BLOCK-----";
        assert_eq!(
            stanza(&a, Some(key)).expect("stanza"),
            "Architectures: amd64 arm64\nEnabled: yes\nX-Repolib-Name: kube\nSigned-By: -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mQINBF\n -----END PGP PUBLIC KEY BLOCK-----\nSuites: /\nTypes: deb\nURIs: http://mirror/k8s\n"
        );
        let e = SPEC
            .parse(args(json!({"name": "x", "types": ["deb"]})))
            .unwrap_err();
        assert_eq!(
            e.msg,
            "state is present but all of the following are missing: uris, suites"
        );
    }

    crate::testutil::both_paths! {
    async fn writes_the_sources_file_once_and_removes_it() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(d.path().join("etc/apt/sources.list.d")).expect("mkdir");
        let m = Deb822RepositoryModule { root: d.path().to_string_lossy().into_owned() };
        let env = TestEnv::new(d.path());
        let a = json!({"name": "Local Mirror", "types": "deb", "uris": ["http://10.0.0.1/debian"], "suites": ["bookworm"], "components": ["main"], "signed_by": "/etc/apt/keyrings/m.gpg"});
        let r = m.run(&ctx(&env, true, true), args(a.clone())).await.map(|r| r.into_map()).expect("check");
        assert_eq!(r["changed"], json!(true));
        let f = d.path().join("etc/apt/sources.list.d/local-mirror.sources");
        assert!(!f.exists());
        let r = m.run(&ctx(&env, false, false), args(a.clone())).await.map(|r| r.into_map()).expect("run");
        assert_eq!(r["changed"], json!(true));
        assert_eq!(
            std::fs::read_to_string(&f).expect("read"),
            "Components: main\nX-Repolib-Name: Local Mirror\nSigned-By: /etc/apt/keyrings/m.gpg\nSuites: bookworm\nTypes: deb\nURIs: http://10.0.0.1/debian\n"
        );
        let r = m.run(&ctx(&env, false, false), args(a)).await.map(|r| r.into_map()).expect("again");
        assert_eq!(r["changed"], json!(false));
        let r = m.run(&ctx(&env, false, false), args(json!({"name": "Local Mirror", "state": "absent"}))).await.map(|r| r.into_map()).expect("absent");
        assert_eq!(r["changed"], json!(true));
        assert!(!f.exists());
    }
    }
}

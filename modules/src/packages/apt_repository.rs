//! `apt_repository` (ansible.builtin.apt_repository): an APT source line is present (enabled)
//! or absent in /etc/apt/sources.list and /etc/apt/sources.list.d/*.list, with Ansible's
//! rules: lines compare with whitespace collapsed; a commented-out copy is enabled in place;
//! a new line goes to `sources.list.d/FILENAME.list` (by default named after the URI, as
//! Ansible suggests it); a file left without sources is deleted; the package cache is
//! refreshed after a change (`update_cache`). PPAs need Launchpad on the network and are
//! refused (kplay installs offline). Files are written through the editing modules' atomic
//! commit; check mode reports the diff only.

use crate::common::args::{p, Param, Spec};
use crate::common::mode::ModeSpec;
use crate::common::reads::{failure, read_all, Read};
use crate::common::run_sh;
use crate::common::text::{commit, read, WriteOpts};
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::{Map, Value};

const PARAMS: &[Param] = &[
    p("repo", &[])
        .str()
        .required()
        .doc("The source line (`deb [arch=amd64] http://host/path suite comp`)."),
    p("state", &[])
        .choices(&["absent", "present"])
        .default_str("present")
        .doc("Whether the source should be there."),
    p("filename", &[])
        .str()
        .doc("Name (without `.list`) of the file in sources.list.d for a new line."),
    p("mode", &[]).doc("Mode of a newly written file (default 0644)."),
    p("update_cache", &["update-cache"])
        .flag(true)
        .doc("Run `apt-get update` after a change."),
    p("update_cache_retries", &[])
        .int()
        .doc("Accepted; kplay runs the update once."),
    p("update_cache_retry_max_delay", &[])
        .int()
        .doc("Accepted; kplay runs the update once."),
    p("validate_certs", &[])
        .flag(true)
        .doc("Accepted (used only to fetch PPA keys, which kplay refuses)."),
    p("codename", &[])
        .str()
        .doc("Accepted (used only for PPAs, which kplay refuses)."),
    p("install_python_apt", &[])
        .flag(true)
        .doc("Accepted; kplay needs no Python on the target."),
];

/// `apt_repository`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "apt_repository",
    "Add and remove APT repositories",
    &[PARAMS],
);

/// `ansible.builtin.apt_repository`.
pub struct AptRepositoryModule;

const SOURCES_D: &str = "/etc/apt/sources.list.d";

/// A source line with whitespace collapsed, `None` for blanks and non-source lines.
fn normalize(line: &str) -> Option<String> {
    let s = line.split('#').next().unwrap_or("").trim();
    let first = s.split_whitespace().next()?;
    (first == "deb" || first == "deb-src")
        .then(|| s.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// `(enabled, source)` for a line: a `#`-commented source counts as disabled.
fn parse_line(line: &str) -> Option<(bool, String)> {
    let t = line.trim_start();
    match t.strip_prefix('#') {
        Some(rest) => normalize(rest).map(|s| (false, s)),
        None => normalize(t).map(|s| (true, s)),
    }
}

/// Ansible's file name for a source: the URI's host and path, non-alphanumerics as `_`.
pub fn suggest_filename(repo: &str) -> String {
    let no_opts = regex::Regex::new(r"\[[^\]]+\]")
        .map(|r| r.replace_all(repo, "").into_owned())
        .unwrap_or_else(|_| repo.to_string());
    let no_proto = regex::Regex::new(r"\w+://")
        .map(|r| r.replace_all(&no_opts, "").into_owned())
        .unwrap_or(no_opts);
    let uri = no_proto
        .split_whitespace()
        .find(|w| *w != "deb" && *w != "deb-src")
        .unwrap_or("");
    let uri = uri.rsplit_once('@').map(|(_, h)| h).unwrap_or(uri);
    let cleaned: String = uri
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' })
        .collect();
    format!(
        "{}.list",
        cleaned.split_whitespace().collect::<Vec<_>>().join("_")
    )
}

/// The sources files as `(path, content)`, from the framed listing.
pub fn parse_listing(out: &str) -> Vec<(String, String)> {
    out.split('\u{1d}')
        .filter_map(|rec| {
            let (path, content) = rec.trim_start_matches('\n').split_once('\u{1e}')?;
            Some((path.to_string(), content.to_string()))
        })
        .collect()
}

/// The edited files (`path`, before, after; after `None` = delete) for the wanted state.
pub fn plan(
    files: &[(String, String)],
    repo: &str,
    present: bool,
    new_file: &str,
) -> Vec<(String, String, Option<String>)> {
    let mut out = Vec::new();
    if present {
        let enabled = files.iter().any(|(_, c)| {
            c.lines()
                .any(|l| parse_line(l) == Some((true, repo.to_string())))
        });
        if enabled {
            return out;
        }
        // A commented-out copy is enabled in place.
        for (path, c) in files {
            if c.lines()
                .any(|l| parse_line(l) == Some((false, repo.to_string())))
            {
                let mut done = false;
                let text = edit_lines(c, |l| {
                    if !done && parse_line(l) == Some((false, repo.to_string())) {
                        done = true;
                        Some(repo.to_string())
                    } else {
                        Some(l.to_string())
                    }
                });
                out.push((path.clone(), c.clone(), Some(text)));
                return out;
            }
        }
        let before = files
            .iter()
            .find(|(p, _)| p == new_file)
            .map(|(_, c)| c.clone())
            .unwrap_or_default();
        let mut after = before.clone();
        if !after.is_empty() && !after.ends_with('\n') {
            after.push('\n');
        }
        after.push_str(repo);
        after.push('\n');
        out.push((new_file.to_string(), before, Some(after)));
    } else {
        for (path, c) in files {
            if !c
                .lines()
                .any(|l| parse_line(l) == Some((true, repo.to_string())))
            {
                continue;
            }
            let text = edit_lines(c, |l| {
                (parse_line(l) != Some((true, repo.to_string()))).then(|| l.to_string())
            });
            let has_sources = text.lines().any(|l| parse_line(l).is_some());
            let after = (has_sources || path == "/etc/apt/sources.list").then_some(text);
            out.push((path.clone(), c.clone(), after));
        }
    }
    out
}

fn edit_lines(text: &str, mut f: impl FnMut(&str) -> Option<String>) -> String {
    let mut s: String = text
        .lines()
        .filter_map(&mut f)
        .collect::<Vec<_>>()
        .join("\n");
    if !s.is_empty() {
        s.push('\n');
    }
    s
}

#[async_trait]
impl Module for AptRepositoryModule {
    fn name(&self) -> &'static str {
        "apt_repository"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        let raw = a.required_str("repo")?;
        if raw.trim().starts_with("ppa:") {
            return Err(ModuleError::new(
                "PPA repositories need Launchpad on the network, which kplay does not use (offline installs): give the `deb` line of a local mirror instead",
            ));
        }
        let repo = normalize(&raw)
            .ok_or_else(|| ModuleError::new(format!("Invalid repository string: {raw}")))?;
        let present = a.required_str("state")? == "present";
        let new_file = match a.str("filename")? {
            Some(f) if f.contains('/') => {
                return Err(ModuleError::new(format!(
                    "filename '{f}' must be a plain name (it goes to {SOURCES_D})"
                )))
            }
            Some(f) => format!("{SOURCES_D}/{f}.list"),
            None => format!("{SOURCES_D}/{}", suggest_filename(&repo)),
        };
        let r = read_all(
            ctx,
            &[Read::new(
                "files",
                "for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do [ -f \"$f\" ] || continue; printf '%s\\036' \"$f\"; cat \"$f\"; printf '\\035'; done",
            )],
        )
        .await?;
        let files = parse_listing(&r.get("files").out);
        let edits = plan(&files, &repo, present, &new_file);
        let changed = !edits.is_empty();
        let mut opts = WriteOpts::default();
        if let Some(m) = a.raw("mode") {
            opts.attrs.mode = Some(ModeSpec::parse(m, false)?);
        }
        let mut diffs = Vec::new();
        let (mut added, mut removed) = (Vec::<Value>::new(), Vec::<Value>::new());
        for (path, before, after) in &edits {
            diffs.push(crate::common::diff::text_diff(
                path,
                path,
                before,
                after.as_deref().unwrap_or(""),
            ));
            match after {
                Some(text) => {
                    if present {
                        added.push(path.clone().into());
                    }
                    let probed = read(ctx, path).await?;
                    let mut o = opts.clone();
                    if o.attrs.mode.is_none() && !probed.exists() {
                        o.attrs.mode = Some(ModeSpec::Octal(0o644));
                    }
                    commit(ctx, path, &probed, Some(text), &o).await?;
                }
                None => {
                    removed.push(path.clone().into());
                    if !ctx.check_mode {
                        let out = run_sh(
                            ctx,
                            format!("rm -f -- {}", kplay_engine::transport::sh_quote(path)),
                            None,
                        )
                        .await?;
                        if out.rc != 0 {
                            let (o, e) = (out.stdout_str(), out.stderr_str());
                            return Err(failure(e.trim().to_string(), out.rc, &o, &e));
                        }
                    }
                }
            }
            if !present && after.is_some() {
                removed.push(path.clone().into());
            }
        }
        if changed && !ctx.check_mode && a.flag("update_cache") {
            let out = run_sh(ctx, "apt-get update -q".to_string(), None).await?;
            if out.rc != 0 {
                let (o, e) = (out.stdout_str(), out.stderr_str());
                return Err(failure(
                    format!("Failed to update apt cache: {}", e.trim()),
                    out.rc,
                    &o,
                    &e,
                ));
            }
        }
        let mut res = ModuleResult::new(changed)
            .set("repo", repo.as_str())
            .set("state", if present { "present" } else { "absent" })
            .set("sources_added", Value::Array(added))
            .set("sources_removed", Value::Array(removed));
        if ctx.diff && !diffs.is_empty() {
            res.insert("diff", Value::Array(diffs));
        }
        Ok(res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER: &str = "deb [arch=amd64] https://download.docker.com/linux/ubuntu jammy stable";

    #[test]
    fn file_name_follows_the_uri() {
        assert_eq!(
            suggest_filename(DOCKER),
            "download_docker_com_linux_ubuntu.list"
        );
        assert_eq!(
            suggest_filename("deb http://user:pw@mirror.local/debian/ bookworm main"),
            "mirror_local_debian.list"
        );
    }

    #[test]
    fn present_adds_once_and_enables_a_commented_copy() {
        let nf = "/etc/apt/sources.list.d/x.list";
        let files = vec![(
            "/etc/apt/sources.list".to_string(),
            format!("deb http://a/ b c\n#  {DOCKER}\n"),
        )];
        let e = plan(&files, &normalize(DOCKER).unwrap(), true, nf);
        assert_eq!(
            e[0].2.as_deref(),
            Some(format!("deb http://a/ b c\n{DOCKER}\n").as_str())
        );
        let files = vec![(nf.to_string(), format!("{DOCKER}\n"))];
        assert!(plan(&files, &normalize(DOCKER).unwrap(), true, nf).is_empty());
        let e = plan(&[], "deb http://m/ s main", true, nf);
        assert_eq!(e[0].0, nf);
        assert_eq!(e[0].2.as_deref(), Some("deb http://m/ s main\n"));
    }

    #[test]
    fn absent_removes_the_line_and_an_emptied_file() {
        let files = vec![
            (
                "/etc/apt/sources.list.d/d.list".to_string(),
                format!("# docker\n{DOCKER}\n"),
            ),
            (
                "/etc/apt/sources.list".to_string(),
                format!("deb http://a/ b c\n{DOCKER}\n"),
            ),
        ];
        let e = plan(&files, &normalize(DOCKER).unwrap(), false, "unused");
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].2, None);
        assert_eq!(e[1].2.as_deref(), Some("deb http://a/ b c\n"));
        let listing = "/etc/apt/sources.list\u{1e}deb x y z\n\u{1d}";
        assert_eq!(parse_listing(listing)[0].1, "deb x y z\n");
    }
}

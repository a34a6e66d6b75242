//! A private apt configuration for fetching Debian source packages: its own sources list (the
//! machine's `deb` sources, each also as `deb-src`), lists and archive cache under the cache
//! directory. The machine's apt sources, lists and locks are never touched; its keyrings are read.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{run, KubernetesError};

/// One apt source (`deb` line) as the machine's configuration has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Bracketed options kept verbatim (`signed-by=…`), without the brackets.
    pub options: String,
    pub uri: String,
    pub suite: String,
    pub components: Vec<String>,
}

impl Source {
    fn line(&self, kind: &str) -> String {
        let opts = if self.options.is_empty() {
            String::new()
        } else {
            format!("[{}] ", self.options)
        };
        format!(
            "{kind} {opts}{} {} {}",
            self.uri,
            self.suite,
            self.components.join(" ")
        )
    }
}

/// Parses one-line sources (`deb [opts] URI SUITE COMPONENT…`), keeping `deb` lines.
pub fn parse_one_line(text: &str) -> Vec<Source> {
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next().unwrap_or("").trim();
            let rest = line.strip_prefix("deb ")?.trim_start();
            let (options, rest) = match rest.strip_prefix('[') {
                Some(r) => {
                    let (o, r) = r.split_once(']')?;
                    (o.trim().to_string(), r)
                }
                None => (String::new(), rest),
            };
            let mut words = rest.split_whitespace();
            let uri = words.next()?.to_string();
            let suite = words.next()?.to_string();
            let components: Vec<String> = words.map(str::to_string).collect();
            (!components.is_empty()).then_some(Source {
                options,
                uri,
                suite,
                components,
            })
        })
        .collect()
}

/// Parses deb822 `.sources` stanzas whose Types include `deb` (and are not `Enabled: no`).
pub fn parse_deb822(text: &str) -> Vec<Source> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in stanza.lines() {
            if line.starts_with('#') {
                continue;
            }
            if line.starts_with(' ') || line.starts_with('\t') {
                if let Some(last) = fields.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(line.trim());
                }
            } else if let Some((k, v)) = line.split_once(':') {
                fields.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let get = |k: &str| {
            fields
                .iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.as_str())
        };
        if !get("types").is_some_and(|t| t.split_whitespace().any(|w| w == "deb")) {
            continue;
        }
        if get("enabled").is_some_and(|e| e.eq_ignore_ascii_case("no")) {
            continue;
        }
        let options = get("signed-by")
            .filter(|s| s.starts_with('/'))
            .map(|s| format!("signed-by={s}"))
            .unwrap_or_default();
        let components: Vec<String> = get("components")
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_string)
            .collect();
        for uri in get("uris").unwrap_or("").split_whitespace() {
            for suite in get("suites").unwrap_or("").split_whitespace() {
                out.push(Source {
                    options: options.clone(),
                    uri: uri.to_string(),
                    suite: suite.to_string(),
                    components: components.clone(),
                });
            }
        }
    }
    out
}

/// The machine's apt `deb` sources, from /etc/apt/sources.list and sources.list.d.
pub fn machine_sources() -> Vec<Source> {
    let mut out = Vec::new();
    if let Ok(t) = std::fs::read_to_string("/etc/apt/sources.list") {
        out.extend(parse_one_line(&t));
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir("/etc/apt/sources.list.d")
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.sort();
    for p in paths {
        let Ok(t) = std::fs::read_to_string(&p) else {
            continue;
        };
        match p.extension().and_then(|e| e.to_str()) {
            Some("list") => out.extend(parse_one_line(&t)),
            Some("sources") => out.extend(parse_deb822(&t)),
            _ => {}
        }
    }
    out
}

/// The private configuration rooted at `dir`.
pub struct Apt {
    dir: PathBuf,
}

impl Apt {
    /// Writes the sources list (each source as `deb` and `deb-src`) and the state directories.
    pub fn new(dir: &Path, sources: &[Source]) -> Result<Apt, KubernetesError> {
        if sources.is_empty() {
            return Err(KubernetesError::NoSources);
        }
        for sub in [
            "etc/sources.list.d",
            "etc/preferences.d",
            "lists/partial",
            "cache/archives/partial",
        ] {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d).map_err(|e| KubernetesError::io("creating", &d, e))?;
        }
        let mut text =
            String::from("# Written by kplay: private apt sources for source packages.\n");
        for s in sources {
            text.push_str(&s.line("deb"));
            text.push('\n');
            text.push_str(&s.line("deb-src"));
            text.push('\n');
        }
        let list = dir.join("etc/sources.list");
        std::fs::write(&list, text).map_err(|e| KubernetesError::io("writing", &list, e))?;
        Ok(Apt {
            dir: dir.to_path_buf(),
        })
    }

    /// `-o` options that point apt at this configuration only.
    fn options(&self) -> Vec<String> {
        let d = self.dir.display();
        [
            format!("Dir::Etc::SourceList={d}/etc/sources.list"),
            format!("Dir::Etc::SourceParts={d}/etc/sources.list.d"),
            format!("Dir::Etc::Preferences={d}/etc/preferences"),
            format!("Dir::Etc::PreferencesParts={d}/etc/preferences.d"),
            format!("Dir::State::Lists={d}/lists"),
            format!("Dir::Cache={d}/cache"),
            // The private directories belong to root; apt's _apt sandbox user could not write them.
            "APT::Sandbox::User=root".to_string(),
        ]
        .into_iter()
        .flat_map(|o| ["-o".to_string(), o])
        .collect()
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.args(self.options()).env("LC_ALL", "C");
        c
    }

    /// `apt-get update` of the private lists.
    pub fn update(&self) -> Result<(), KubernetesError> {
        let mut c = self.command("apt-get");
        c.args(["-q", "update"]);
        run(c, "apt-get update (private source lists)").map(drop)
    }

    /// The `.dsc` file name (`NAME_VERSION.dsc`) apt would fetch for source package `name`.
    pub fn source_dsc(&self, name: &str) -> Result<String, KubernetesError> {
        self.printed_file("source", name, ".dsc", "source package")
    }

    /// The `.deb` file name apt would fetch for binary package `name`.
    pub fn deb_name(&self, name: &str) -> Result<String, KubernetesError> {
        self.printed_file("download", name, ".deb", "package")
    }

    /// The `*EXT` file name `apt-get VERB --print-uris NAME` lists (nothing is fetched);
    /// `kind` names the package in the error when apt does not know it.
    fn printed_file(
        &self,
        verb: &str,
        name: &str,
        ext: &str,
        kind: &str,
    ) -> Result<String, KubernetesError> {
        let mut c = self.command("apt-get");
        c.args(["-q", verb, "--print-uris", name]);
        let out = run(c, &format!("apt-get {verb} --print-uris {name}"))?;
        uris_field(&out, ext).ok_or_else(|| KubernetesError::NotInApt {
            what: format!("{kind} {name}"),
        })
    }

    /// Downloads source package `name` (its .dsc and tarballs, checked by apt against the signed
    /// Sources index) into `dest`.
    pub fn download_source(&self, name: &str, dest: &Path) -> Result<(), KubernetesError> {
        std::fs::create_dir_all(dest).map_err(|e| KubernetesError::io("creating", dest, e))?;
        let mut c = self.command("apt-get");
        c.args(["-q", "source", "--download-only", name])
            .current_dir(dest);
        run(c, &format!("apt-get source --download-only {name}")).map(drop)
    }

    /// Downloads binary package `name` into `dest`.
    pub fn download_deb(&self, name: &str, dest: &Path) -> Result<(), KubernetesError> {
        std::fs::create_dir_all(dest).map_err(|e| KubernetesError::io("creating", dest, e))?;
        let mut c = self.command("apt-get");
        c.args(["-q", "download", name]).current_dir(dest);
        run(c, &format!("apt-get download {name}")).map(drop)
    }
}

impl Apt {
    /// Downloads `packages` with their whole Depends/Pre-Depends closure as apt resolves it on an
    /// empty system (down to libc6) into `dest`, for image root filesystems; returns the .deb paths.
    pub fn download_closure(
        &self,
        packages: &[&str],
        dest: &Path,
    ) -> Result<Vec<PathBuf>, KubernetesError> {
        let state = dest.join(".empty-system");
        let partial = dest.join("partial");
        for d in [&state, &partial] {
            std::fs::create_dir_all(d).map_err(|e| KubernetesError::io("creating", d, e))?;
        }
        let status = state.join("status");
        std::fs::write(&status, "").map_err(|e| KubernetesError::io("writing", &status, e))?;
        let mut c = self.command("apt-get");
        c.arg("-o")
            .arg(format!("Dir::State::status={}", status.display()))
            .arg("-o")
            .arg(format!("Dir::Cache::Archives={}", dest.display()))
            // Nothing is installed: the machine's dpkg lock is not ours to take.
            .args(["-o", "Debug::NoLocking=1"])
            .args([
                "-q",
                "-y",
                "--no-install-recommends",
                "install",
                "--download-only",
            ])
            .args(packages);
        run(
            c,
            &format!("apt-get install --download-only {}", packages.join(" ")),
        )?;
        let mut debs: Vec<PathBuf> = std::fs::read_dir(dest)
            .map_err(|e| KubernetesError::io("reading", dest, e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "deb"))
            .collect();
        debs.sort();
        Ok(debs)
    }
}

/// The file name ending in `suffix` from `--print-uris` output (`'URI' NAME SIZE HASH` lines).
fn uris_field(out: &str, suffix: &str) -> Option<String> {
    out.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        let uri = w.next()?;
        let name = w.next()?;
        (uri.starts_with('\'') && name.ends_with(suffix)).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822_stanzas_become_sources() {
        let text = "Types: deb\n# comment\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb-src\nURIs: http://x\nSuites: y\nComponents: main\n\nTypes: deb\nEnabled: no\nURIs: http://z\nSuites: z\nComponents: main\n";
        let s = parse_deb822(text);
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].suite, "bookworm-updates");
        assert_eq!(
            s[0].line("deb-src"),
            "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main"
        );
    }

    #[test]
    fn one_line_sources_keep_options() {
        let s = parse_one_line(
            "deb [arch=amd64 signed-by=/k.gpg] http://m/debian bookworm main contrib # x\ndeb-src http://m/debian bookworm main\n#deb http://old bookworm main\n",
        );
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].options, "arch=amd64 signed-by=/k.gpg");
        assert_eq!(s[0].components, ["main", "contrib"]);
    }

    #[test]
    fn print_uris_output_gives_file_names() {
        let out = "Need to get 34.5 MB of source archives.\n'http://d/pool/main/k/kubernetes/kubernetes_1.20.5%2breally1.20.2-1.1%2bdeb12u1.dsc' kubernetes_1.20.5+really1.20.2-1.1+deb12u1.dsc 1973 SHA256:19fa\n'http://d/k.orig.tar.gz' kubernetes_1.20.5+really1.20.2.orig.tar.gz 34428927 SHA256:b83c\n";
        assert_eq!(
            uris_field(out, ".dsc").as_deref(),
            Some("kubernetes_1.20.5+really1.20.2-1.1+deb12u1.dsc")
        );
        assert_eq!(uris_field("nothing\n", ".dsc"), None);
    }
}

//! `synchronize` (ansible.posix): make a tree on one side the copy of a tree on the other, with
//! rsync's rules (a source ending in `/` copies its contents, otherwise the directory itself;
//! quick check by size and modification time, or by content with `checksum`; `delete` removes
//! what the source lacks; `archive` keeps permissions, times, links, owner and group) — over
//! kplay's own connection, so neither side needs rsync or a second SSH login. `push` sends
//! controller → host, `pull` host → controller. Each side is listed in one round trip (GNU
//! `find -printf`), files travel through the transport's atomic put/fetch, and every other
//! change on the receiving side (directories, links, deletions, modes, times) is one script.
//! The result carries rsync's itemized change lines (`stdout_lines`) and, with `--diff`, the
//! same text as `prepared`. With `delegate_to`, as ansible-core's: `push` sends delegate →
//! inventory host, `pull` inventory host → delegate (both on the host when delegated to it).

use crate::common::reads::ensure_status;
use crate::common::args::{p, Args, Param, Spec};
use async_trait::async_trait;
use kplay_engine::module::{FileKind, Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::local::LocalTransport;
use kplay_engine::transport::{sh_quote, Become, ExecOutput, ExecRequest, Transport};
use kplay_engine::value::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

const PARAMS: &[Param] = &[
    p("src", &[]).path().required().doc("Path on the sending side; a trailing `/` sends the directory's contents, not the directory."),
    p("dest", &[]).path().required().doc("Path on the receiving side."),
    p("mode", &[]).choices(&["pull", "push"]).default_str("push").doc("`push`: controller to host; `pull`: host to controller."),
    p("archive", &[]).flag(true).doc("Default for recursive, links, perms, times, owner and group (rsync's `-a`)."),
    p("recursive", &[]).bool().doc("Descend into directories (default: archive)."),
    p("links", &[]).bool().doc("Copy symbolic links as links (default: archive)."),
    p("copy_links", &[]).flag(false).doc("Copy what symbolic links point to instead of the links."),
    p("perms", &[]).bool().doc("Keep the sender's permission bits (default: archive)."),
    p("times", &[]).bool().doc("Keep modification times (default: archive); without them files are compared by content."),
    p("owner", &[]).bool().doc("Keep the owner (numeric) when the receiving side runs as root (default: archive)."),
    p("group", &[]).bool().doc("Keep the group (numeric) when the receiving side runs as root (default: archive)."),
    p("checksum", &[]).flag(false).doc("Compare files by content (SHA-256) instead of size and time."),
    p("delete", &[]).flag(false).doc("Remove files on the receiving side that the sender does not have (needs recursive)."),
    p("dirs", &[]).flag(false).doc("Transfer directories without descending into them."),
    p("existing_only", &[]).flag(false).doc("Only update files that already exist on the receiving side."),
    p("rsync_opts", &[]).list().doc("Extra rsync options: `--exclude=PATTERN`/`--exclude PATTERN` and `--omit-dir-times` are honoured, output-only options accepted, others refused."),
    p("compress", &[]).flag(true).doc("Accepted: kplay's connection does its own framing."),
    p("dest_port", &[]).int().doc("Accepted: kplay uses the host's existing connection."),
    p("rsync_path", &[]).str().doc("Accepted: no rsync is run."),
    p("rsync_timeout", &[]).int().doc("Accepted; use the task's `timeout` keyword."),
    p("set_remote_user", &[]).flag(true).doc("Accepted: the existing connection's user is used."),
    p("use_ssh_args", &[]).flag(false).doc("Accepted: the existing connection is used."),
    p("ssh_args", &[]).str().doc("Accepted: the existing connection is used."),
    p("rsh_opts", &[]).list().doc("Accepted: the existing connection is used."),
    p("private_key", &[]).path().doc("Accepted: the existing connection is used."),
    p("verify_host", &[]).flag(false).doc("Accepted: kplay's connection always verifies host keys."),
    p("partial", &[]).flag(false).doc("Accepted: files are written to a temp file and renamed."),
    p("delay_updates", &[]).flag(true).doc("Accepted: every file is renamed into place."),
    p("ssh_connection_multiplexing", &[]).flag(false).doc("Accepted: the connection is reused anyway."),
    p("link_dest", &[]).list().doc("Not supported: refused when given."),
];

/// `synchronize`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "synchronize",
    "A wrapper around rsync: mirror a tree between the controller and a host",
    &[PARAMS],
);

/// One thing in a listed tree.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// `f` file, `d` directory, `l` symbolic link, anything else is skipped like rsync does
    /// without `--devices`/`--specials`.
    kind: char,
    size: u64,
    mtime: i64,
    mode: u32,
    uid: u32,
    gid: u32,
    link: String,
}

/// A listed tree: the effective uid of the side, then entries by path relative to the top
/// (`""` is the top itself; no entries when the top does not exist).
#[derive(Debug, Default)]
struct Tree {
    euid: u32,
    entries: BTreeMap<String, Entry>,
}

impl Tree {
    fn top(&self) -> Option<&Entry> {
        self.entries.get("")
    }
}

/// One end of the transfer: a connection and the privileges it runs with.
struct Side<'a> {
    t: &'a dyn Transport,
    become_: Option<Become>,
    env: Vec<(String, String)>,
    name: &'static str,
}

impl Side<'_> {
    async fn sh(&self, script: String) -> Result<ExecOutput, ModuleError> {
        let mut req = ExecRequest::sh(script).with_become(self.become_.clone());
        req.env = self.env.clone();
        Ok(self.t.exec(req).await?)
    }

    /// List `top` (following a top that is a link to a directory, like rsync); no entries
    /// when it does not exist.
    async fn list(&self, top: &str, follow: bool) -> Result<Tree, ModuleError> {
        let q = sh_quote(top);
        let find = if follow { "find -L" } else { "find -H" };
        let script = format!(
            "if ! find / -maxdepth 0 -printf '' >/dev/null 2>&1; then echo 'synchronize needs GNU find on the {}' >&2; exit 4; fi\n\
             printf '%s\\0' \"$(id -u)\"\n\
             if [ ! -e {q} ] && [ ! -L {q} ]; then exit 0; fi\n\
             {find} {q} -printf '%y\\t%s\\t%T@\\t%m\\t%U\\t%G\\t%P\\t%l\\0'",
            self.name
        );
        let out = self.sh(script).await?;
        match out.rc {
            0 => {}
            _ => {
                return Err(ModuleError::new(format!(
                    "listing {top} on the {} failed: {}",
                    self.name,
                    out.stderr_str().trim()
                )))
            }
        }
        parse_listing(&out.stdout)
            .map_err(|e| ModuleError::new(format!("listing {top} on the {}: {e}", self.name)))
    }

    async fn is_dir(&self, path: &str) -> Result<bool, ModuleError> {
        Ok(self.sh(format!("[ -d {} ]", sh_quote(path))).await?.rc == 0)
    }

    /// SHA-256 of each of `paths` (relative to `top`), by path.
    async fn hashes(
        &self,
        top: &str,
        paths: &[&String],
    ) -> Result<BTreeMap<String, String>, ModuleError> {
        if paths.is_empty() {
            return Ok(BTreeMap::new());
        }
        let mut script = String::new();
        for p in paths {
            script.push_str(&format!(
                "h=$(sha256sum < {}) || exit 1; printf '%s\\0' \"${{h%% *}}\"\n",
                sh_quote(&join(top, p))
            ));
        }
        let out = self.sh(script).await?;
        ensure_status(&out, |e| format!("hashing files under {top} on the {} failed: {e}", self.name))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let hs: Vec<&str> = text.split('\0').filter(|s| !s.is_empty()).collect();
        if hs.len() != paths.len() {
            return Err(ModuleError::new(format!(
                "hashing files under {top} on the {}: {} answers for {} files",
                self.name,
                hs.len(),
                paths.len()
            )));
        }
        Ok(paths
            .iter()
            .map(|p| (*p).clone())
            .zip(hs.into_iter().map(str::to_string))
            .collect())
    }
}

/// Parse `find -printf` records (see [`Side::list`]).
fn parse_listing(raw: &[u8]) -> Result<Tree, String> {
    let text = String::from_utf8_lossy(raw);
    let mut recs = text.split('\0');
    let euid = recs
        .next()
        .and_then(|s| s.trim().parse().ok())
        .ok_or("no uid in the listing")?;
    let mut entries = BTreeMap::new();
    for rec in recs.filter(|r| !r.is_empty()) {
        let f: Vec<&str> = rec.splitn(8, '\t').collect();
        if f.len() != 8 {
            return Err(format!("unreadable listing record {rec:?}"));
        }
        let num = |s: &str| {
            s.parse::<u64>()
                .map_err(|_| format!("bad number {s:?} in {rec:?}"))
        };
        let mtime = f[2].split('.').next().unwrap_or("0");
        entries.insert(
            f[6].to_string(),
            Entry {
                kind: f[0].chars().next().unwrap_or('?'),
                size: num(f[1])?,
                mtime: mtime.parse().map_err(|_| format!("bad time in {rec:?}"))?,
                mode: u32::from_str_radix(f[3], 8).map_err(|_| format!("bad mode in {rec:?}"))?,
                uid: num(f[4])? as u32,
                gid: num(f[5])? as u32,
                link: f[7].to_string(),
            },
        );
    }
    Ok(Tree { euid, entries })
}

/// The options that decide what is compared and kept.
#[derive(Debug, Clone)]
struct Opts {
    recursive: bool,
    dirs: bool,
    links: bool,
    copy_links: bool,
    perms: bool,
    times: bool,
    dir_times: bool,
    owner: bool,
    group: bool,
    checksum: bool,
    delete: bool,
    existing_only: bool,
    excludes: Vec<fancy_regex::Regex>,
}

/// rsync options that only change rsync's own output or transfer tactics: kplay accepts them.
const HARMLESS_OPTS: &[&str] = &[
    "-v",
    "--verbose",
    "-q",
    "--quiet",
    "--no-motd",
    "--progress",
    "--stats",
    "-h",
    "--human-readable",
    "--partial",
    "--inplace",
    "--delay-updates",
    "-z",
    "--compress",
    "-W",
    "--whole-file",
    "-S",
    "--sparse",
    "-P",
    "--itemize-changes",
    "-i",
    "--numeric-ids",
];

impl Opts {
    fn from_args(a: &Args) -> Result<Opts, ModuleError> {
        let archive = a.flag("archive");
        let b = |n: &str| a.bool(n, archive);
        if !a.list("link_dest").is_empty() {
            return Err(ModuleError::new(
                "synchronize: link_dest is not supported by kplay (files are always copied)",
            ));
        }
        let mut excludes = Vec::new();
        let mut dir_times = true;
        let opts = a.list("rsync_opts");
        let mut it = opts.iter();
        while let Some(o) = it.next() {
            let pat = if let Some(p) = o.strip_prefix("--exclude=") {
                Some(p.to_string())
            } else if o == "--exclude" {
                Some(it.next().cloned().ok_or_else(|| {
                    ModuleError::new("synchronize: rsync_opts --exclude needs a pattern")
                })?)
            } else if o == "--omit-dir-times" || o == "-O" {
                dir_times = false;
                None
            } else if HARMLESS_OPTS.contains(&o.as_str()) || o.starts_with("--out-format") {
                None
            } else {
                return Err(ModuleError::new(format!(
                    "synchronize: rsync_opts {o:?} is not supported by kplay's synchronize \
                     (supported: --exclude, --omit-dir-times and output-only options)"
                )));
            };
            if let Some(pat) = pat {
                let re = kplay_engine::inventory::glob_to_regex(pat.trim_end_matches('/'));
                excludes.push(fancy_regex::Regex::new(&re).map_err(|e| {
                    ModuleError::new(format!("synchronize: bad --exclude pattern {pat:?}: {e}"))
                })?);
            }
        }
        Ok(Opts {
            recursive: b("recursive")?,
            dirs: a.flag("dirs"),
            links: b("links")?,
            copy_links: a.flag("copy_links"),
            perms: b("perms")?,
            times: b("times")?,
            dir_times,
            owner: b("owner")?,
            group: b("group")?,
            checksum: a.flag("checksum"),
            delete: a.flag("delete"),
            existing_only: a.flag("existing_only"),
            excludes,
        })
    }

    /// Whether `rel` is excluded: a pattern with `/` matches the whole relative path, one
    /// without matches any component's name (rsync's rule).
    fn excluded(&self, rel: &str) -> bool {
        self.excludes.iter().any(|re| {
            let m = |s: &str| re.is_match(s).unwrap_or(false);
            m(rel) || rel.split('/').any(m)
        })
    }
}

/// What to do on the receiving side, in order.
#[derive(Debug, Default, PartialEq, Eq)]
struct Plan {
    /// rsync's itemized lines (`<f+++++++++ a/b`, `*deleting x`).
    items: Vec<String>,
    /// Directories to create (parents first).
    mkdirs: Vec<String>,
    /// Files to send: relative path.
    files: Vec<String>,
    /// Links to (re)create: relative path, target.
    links: Vec<(String, String)>,
    /// Paths to remove before anything else (deepest first): extraneous or of the wrong kind.
    removes: Vec<String>,
    /// Metadata to set after the content: relative path, entry of the source.
    meta: Vec<(String, Entry)>,
}

/// Compare the trees and decide. `hash_differs` tells, for files of equal size, whether their
/// content differs (only asked when comparing by content).
fn plan(
    src: &Tree,
    dst: &Tree,
    o: &Opts,
    arrow: char,
    top_name: &str,
    hash_differs: &dyn Fn(&str) -> bool,
) -> Plan {
    let dst_entries = &dst.entries;
    let root = dst.euid == 0;
    let mut pl = Plan::default();
    let mut kept: BTreeSet<&str> = BTreeSet::new();
    let mut skipped_dirs: Vec<String> = Vec::new();
    for (rel, e) in &src.entries {
        if !rel.is_empty() && o.excluded(rel) {
            skipped_dirs.push(format!("{rel}/"));
            continue;
        }
        if skipped_dirs.iter().any(|d| rel.starts_with(d.as_str())) {
            continue;
        }
        // Without recursion only the top (or, with `dirs`, its direct entries) travel.
        if !(rel.is_empty() || o.recursive || (o.dirs && !rel.contains('/'))) {
            continue;
        }
        kept.insert(rel.as_str());
        let name = match (rel.is_empty(), e.kind) {
            (true, 'd') => "./".to_string(),
            (true, _) => top_name.to_string(),
            _ => rel.clone(),
        };
        let d = dst_entries.get(rel.as_str());
        let wrong_kind = d.is_some_and(|d| d.kind != e.kind);
        if wrong_kind && !o.existing_only {
            pl.removes.push(rel.clone());
        }
        let exists = d.is_some() && !wrong_kind;
        if !exists && o.existing_only {
            continue;
        }
        match e.kind {
            'd' => {
                if !exists {
                    pl.mkdirs.push(rel.clone());
                    pl.items
                        .push(format!("c{}+++++++++ {}", 'd', dir_name(&name)));
                    pl.meta.push((rel.clone(), e.clone()));
                    continue;
                }
                let d = d.expect("exists");
                let flags = meta_flags(e, d, o, root, o.dir_times);
                if flags != "........." {
                    pl.items.push(format!(".d{flags} {}", dir_name(&name)));
                    pl.meta.push((rel.clone(), e.clone()));
                }
            }
            'f' => {
                if !exists {
                    pl.files.push(rel.clone());
                    pl.items.push(format!("{arrow}f+++++++++ {name}"));
                    pl.meta.push((rel.clone(), e.clone()));
                    continue;
                }
                let d = d.expect("exists");
                let content = if o.checksum || !o.times {
                    d.size != e.size || hash_differs(rel)
                } else {
                    d.size != e.size || d.mtime != e.mtime
                };
                let mut flags: Vec<char> = meta_flags(e, d, o, root, true).chars().collect();
                if content {
                    pl.files.push(rel.clone());
                    if o.checksum {
                        flags[0] = 'c';
                    }
                    if d.size != e.size {
                        flags[1] = 's';
                    }
                }
                let flags: String = flags.into_iter().collect();
                if content {
                    pl.items.push(format!("{arrow}f{flags} {name}"));
                    pl.meta.push((rel.clone(), e.clone()));
                } else if flags != "........." {
                    pl.items.push(format!(".f{flags} {name}"));
                    pl.meta.push((rel.clone(), e.clone()));
                }
            }
            'l' if o.links => {
                let same = d.is_some_and(|d| d.kind == 'l' && d.link == e.link);
                if !same {
                    if d.is_some() && !wrong_kind {
                        pl.removes.push(rel.clone());
                    }
                    pl.links.push((rel.clone(), e.link.clone()));
                    pl.items.push(format!("cL+++++++++ {name} -> {}", e.link));
                }
            }
            _ => {}
        }
    }
    if o.delete && o.recursive && src.entries.get("").is_some_and(|e| e.kind == 'd') {
        let mut gone: Vec<&String> = Vec::new();
        for rel in dst_entries.keys() {
            if rel.is_empty() || kept.contains(rel.as_str()) || o.excluded(rel) {
                continue;
            }
            if gone.iter().any(|g| rel.starts_with(&format!("{g}/"))) {
                continue;
            }
            gone.push(rel);
        }
        for g in gone.into_iter().rev() {
            let d = &dst_entries[g];
            pl.items.push(format!(
                "*deleting   {}",
                if d.kind == 'd' {
                    format!("{g}/")
                } else {
                    g.clone()
                }
            ));
            pl.removes.push(g.clone());
        }
    }
    // Deepest first, so a directory's contents go before it.
    pl.removes.sort_by_key(|r| std::cmp::Reverse(depth(r)));
    // Writing into a directory moves its time: set it again afterwards (not a change of its
    // own, as with rsync).
    let touched: Vec<String> = pl
        .files
        .iter()
        .chain(pl.mkdirs.iter())
        .chain(pl.removes.iter())
        .chain(pl.links.iter().map(|(l, _)| l))
        .filter(|r| !r.is_empty())
        .map(|r| match r.rfind('/') {
            Some(i) => r[..i].to_string(),
            None => String::new(),
        })
        .collect();
    for parent in touched {
        if pl.meta.iter().any(|(r, _)| *r == parent) {
            continue;
        }
        if let Some(e) = src.entries.get(&parent).filter(|e| e.kind == 'd') {
            pl.meta.push((parent, e.clone()));
        }
    }
    pl
}

/// How deep a relative path is: the top `""` is 0, `a` 1, `a/b` 2.
fn depth(rel: &str) -> usize {
    if rel.is_empty() {
        0
    } else {
        rel.matches('/').count() + 1
    }
}

fn dir_name(name: &str) -> String {
    if name.ends_with('/') {
        name.to_string()
    } else {
        format!("{name}/")
    }
}

/// rsync's nine attribute columns (`cstpoguax`) for what differs besides content.
fn meta_flags(e: &Entry, d: &Entry, o: &Opts, root: bool, times: bool) -> String {
    let mut f = ['.'; 9];
    if o.times && times && e.mtime != d.mtime {
        f[2] = 't';
    }
    if o.perms && (e.mode & 0o7777) != (d.mode & 0o7777) {
        f[3] = 'p';
    }
    if o.owner && root && e.uid != d.uid {
        f[4] = 'o';
    }
    if o.group && root && e.gid != d.gid {
        f[5] = 'g';
    }
    f.iter().collect()
}

/// `a` joined with `b` (`b` relative, possibly empty).
fn join(a: &str, b: &str) -> String {
    if b.is_empty() {
        a.to_string()
    } else if a.ends_with('/') {
        format!("{a}{b}")
    } else {
        format!("{a}/{b}")
    }
}

/// The receiving side's script: removals, directories, links, then metadata (directories'
/// times last, deepest first, so writing into them does not undo it).
fn apply_script(top: &str, pl: &Plan, o: &Opts, root: bool) -> String {
    let mut s = String::from("set -e\n");
    for r in &pl.removes {
        s.push_str(&format!("rm -rf -- {}\n", sh_quote(&join(top, r))));
    }
    for d in &pl.mkdirs {
        s.push_str(&format!("mkdir -p -- {}\n", sh_quote(&join(top, d))));
    }
    for (l, target) in &pl.links {
        s.push_str(&format!(
            "ln -sfn -- {} {}\n",
            sh_quote(target),
            sh_quote(&join(top, l))
        ));
    }
    let mut meta: Vec<&(String, Entry)> = pl.meta.iter().collect();
    meta.sort_by_key(|(r, e)| (e.kind == 'd', std::cmp::Reverse(depth(r))));
    for (r, e) in meta {
        let q = sh_quote(&join(top, r));
        if root && (o.owner || o.group) {
            let who = match (o.owner, o.group) {
                (true, true) => format!("{}:{}", e.uid, e.gid),
                (true, false) => e.uid.to_string(),
                _ => format!(":{}", e.gid),
            };
            s.push_str(&format!("chown -h {who} {q}\n"));
        }
        if o.perms {
            s.push_str(&format!("chmod {:o} {q}\n", e.mode & 0o7777));
        }
        if o.times && (e.kind != 'd' || o.dir_times) {
            s.push_str(&format!("touch -m -h -d @{} {q}\n", e.mtime));
        }
    }
    s
}

/// Not query → plan → apply ([`crate::planned`]): it spans two hosts (the sending and the
/// receiving side), so it lists both trees and plans the receiving script itself (`plan`).
pub struct SynchronizeModule;

#[async_trait]
impl Module for SynchronizeModule {
    fn name(&self) -> &'static str {
        "synchronize"
    }

    fn collections(&self) -> &'static [&'static str] {
        &["ansible.posix"]
    }

    /// Delegated, the transfer runs between the delegate and the inventory host.
    fn wants_delegation_target(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        let o = Opts::from_args(&a)?;
        let pull = a.required_str("mode")? == "pull";
        let mut src = a.required_str("src")?;
        let dest = a.required_str("dest")?;
        let local = LocalTransport::new();
        let (controller, host) = sides(ctx, &local);
        if !pull && !src.starts_with('/') && controller.name == "controller" {
            // A relative source is looked up like `copy`'s (role files/, then the playbook).
            let slash = src.ends_with('/');
            if let Some(found) = ctx
                .env
                .find_file(FileKind::Files, src.trim_end_matches('/'))
            {
                src = found.to_string_lossy().into_owned();
                if slash {
                    src.push('/');
                }
            }
        }
        let (from, to) = if pull {
            (&host, &controller)
        } else {
            (&controller, &host)
        };
        let s_tree = from.list(&src, o.copy_links).await?;
        let top = s_tree.top().cloned().ok_or_else(|| {
            ModuleError::new(format!(
                "synchronize: source {src} does not exist on the {}",
                from.name
            ))
        })?;
        let cmd = pseudo_cmd(&o, pull, &src, &dest);
        if top.kind == 'd' && !o.recursive && !o.dirs {
            return Ok(ModuleResult::new(false)
                .set("msg", format!("skipping directory {src}"))
                .set("cmd", cmd)
                .set("rc", 0)
                .set("stdout_lines", Value::Array(vec![])));
        }
        // Where the source's top lands (rsync's trailing-slash rule).
        let base = crate::common::basename(&src);
        let dest_is_dir = dest.ends_with('/') || to.is_dir(&dest).await?;
        let target = if top.kind == 'd' {
            if src.ends_with('/') {
                dest.clone()
            } else {
                join(&dest, &base)
            }
        } else if dest_is_dir {
            join(&dest, &base)
        } else {
            dest.clone()
        };
        let d_tree = to.list(&target, false).await?;
        let root = d_tree.euid == 0;
        // Content comparison for files of equal size, when asked for (or times are not kept).
        let mut differs: BTreeSet<String> = BTreeSet::new();
        if o.checksum || !o.times {
            let d = &d_tree.entries;
            let same_size: Vec<&String> = s_tree
                .entries
                .iter()
                .filter(|(r, e)| {
                    e.kind == 'f'
                        && d.get(r.as_str())
                            .is_some_and(|x| x.kind == 'f' && x.size == e.size)
                })
                .map(|(r, _)| r)
                .collect();
            let hs = from.hashes(&src, &same_size).await?;
            let hd = to.hashes(&target, &same_size).await?;
            differs = same_size
                .into_iter()
                .filter(|r| hs.get(*r) != hd.get(*r))
                .cloned()
                .collect();
        }
        let arrow = if pull { '>' } else { '<' };
        let pl = plan(&s_tree, &d_tree, &o, arrow, &base, &|r| differs.contains(r));
        let changed = !pl.items.is_empty();
        if changed && !ctx.check_mode {
            apply(&pl, &o, &src, &top, &target, from, to, root).await?;
        }
        let text: String = pl.items.iter().map(|i| format!("{i}\n")).collect();
        let mut r = ModuleResult::new(changed)
            .set("cmd", cmd)
            .set("rc", 0)
            .set("msg", text.clone())
            .set(
                "stdout_lines",
                Value::Array(pl.items.iter().cloned().map(Value::String).collect()),
            );
        if ctx.diff && changed {
            r.insert("diff", serde_json::json!({ "prepared": text }));
        }
        Ok(r)
    }
}

/// The two ends: the controller and the host; for a delegated task, as ansible-core's
/// synchronize, the delegate (where rsync would run) and the inventory host, which is the
/// same machine when the task is delegated to its own host.
fn sides<'a>(ctx: &'a ModuleContext<'a>, local: &'a LocalTransport) -> (Side<'a>, Side<'a>) {
    let host = |t: &'a dyn Transport, become_: Option<Become>| Side {
        t,
        become_,
        env: ctx.environment.clone(),
        name: "host",
    };
    match &ctx.delegation {
        Some(d) if !is_local_name(&d.delegate) => {
            let own = d.delegate == ctx.host;
            let near = Side {
                t: ctx.transport,
                become_: if own { d.become_.clone() } else { None },
                env: ctx.environment.clone(),
                name: "delegate",
            };
            (near, host(d.target, d.become_.clone()))
        }
        Some(d) => (controller(local), host(d.target, d.become_.clone())),
        None => (controller(local), host(ctx.transport, ctx.become_.clone())),
    }
}

/// The name of the controller's side: its files are read in place.
const CONTROLLER: &str = "controller";

fn controller(local: &LocalTransport) -> Side<'_> {
    Side {
        t: local,
        become_: None,
        env: vec![],
        name: CONTROLLER,
    }
}

/// Names ansible-core's synchronize treats as the controller itself.
fn is_local_name(name: &str) -> bool {
    matches!(name, "localhost" | "127.0.0.1" | "::1")
}

/// The rsync command line Ansible would have run, for the `cmd` key (information only).
fn pseudo_cmd(o: &Opts, pull: bool, src: &str, dest: &str) -> String {
    let mut c = vec!["rsync".to_string(), "--delay-updates".into(), "-F".into()];
    for (on, f) in [
        (o.recursive, "--recursive"),
        (o.links, "--links"),
        (o.copy_links, "--copy-links"),
        (o.perms, "--perms"),
        (o.times, "--times"),
        (o.owner, "--owner"),
        (o.group, "--group"),
        (o.checksum, "--checksum"),
        (o.delete, "--delete-after"),
        (o.existing_only, "--existing"),
    ] {
        if on {
            c.push(f.into());
        }
    }
    c.push("--out-format='<<CHANGED>>%i %n%L'".into());
    if pull {
        c.push(format!("<host>:{src}"));
        c.push(dest.into());
    } else {
        c.push(src.into());
        c.push(format!("<host>:{dest}"));
    }
    c.join(" ")
}

/// Carry out the plan: removals, directories and links first, then each file through the
/// transport (an atomic temp file + rename), then modes, owners and times.
#[allow(clippy::too_many_arguments)]
async fn apply(
    pl: &Plan,
    o: &Opts,
    src: &str,
    top: &Entry,
    target: &str,
    from: &Side<'_>,
    to: &Side<'_>,
    root: bool,
) -> Result<(), ModuleError> {
    let first = Plan {
        removes: pl.removes.clone(),
        mkdirs: pl.mkdirs.clone(),
        ..Plan::default()
    };
    // The target's parent must exist (rsync creates only the last component).
    let parent = crate::common::remote_dirname(target);
    let s = format!(
        "mkdir -p -- {}\n{}",
        sh_quote(&parent),
        apply_script(target, &first, o, root)
    );
    run_checked(to, s, "preparing").await?;
    for rel in &pl.files {
        let from_path = if top.kind == 'd' {
            join(src, rel)
        } else {
            src.to_string()
        };
        let to_path = join(target, rel);
        let e = &pl
            .meta
            .iter()
            .find(|(r, _)| r == rel)
            .map(|(_, e)| e.clone());
        let mode = e.as_ref().filter(|_| o.perms).map(|e| e.mode & 0o7777);
        if from.name == CONTROLLER {
            // Streamed from the controller's file.
            to.t.put_file(
                std::path::Path::new(&from_path),
                &to_path,
                mode,
                to.become_.as_ref(),
            )
            .await?;
        } else {
            // From a host (a pull, or a push from the delegate): through the controller.
            let data = from
                .t
                .fetch(&from_path, from.become_.as_ref())
                .await?
                .ok_or_else(|| {
                    ModuleError::new(format!("{from_path} vanished on the {}", from.name))
                })?;
            to.t.put(&data, &to_path, mode, to.become_.as_ref()).await?;
        }
    }
    let last = Plan {
        links: pl.links.clone(),
        meta: pl.meta.clone(),
        ..Plan::default()
    };
    run_checked(to, apply_script(target, &last, o, root), "finishing").await
}

async fn run_checked(side: &Side<'_>, script: String, what: &str) -> Result<(), ModuleError> {
    let out = side.sh(script).await?;
    ensure_status(&out, |e| format!("synchronize: {what} the {} failed: {e}", side.name))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{ctx, TestEnv};
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    fn write(p: &Path, text: &str, mode: u32) {
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(p, text).expect("write");
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    fn mode_of(p: &Path) -> u32 {
        std::fs::metadata(p).expect("stat").permissions().mode() & 0o7777
    }

    async fn sync(env: &TestEnv, check: bool, a: serde_json::Value) -> Result<Map, ModuleError> {
        SynchronizeModule
            .run(&ctx(env, check, true), crate::testutil::args(a))
            .await
            .map(|r| r.into_map())
    }

    fn lines(r: &Map) -> Vec<String> {
        r["stdout_lines"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn tree() -> (tempfile::TempDir, TestEnv) {
        let d = tempfile::tempdir().expect("tempdir");
        let s = d.path().join("src");
        write(&s.join("a.txt"), "alpha\n", 0o640);
        write(&s.join("sub/b.txt"), "beta\n", 0o600);
        std::os::unix::fs::symlink("a.txt", s.join("link")).expect("symlink");
        let env = TestEnv::new(d.path());
        (d, env)
    }

    #[test]
    fn itemized_lines_follow_rsyncs_columns() {
        let src = parse_listing(b"0\0d\t4096\t100.5\t755\t0\t0\t\t\0f\t3\t100.0\t644\t0\t0\tx\t\0")
            .expect("parse");
        let mut dst = parse_listing(b"0\0d\t4096\t100.0\t755\t0\t0\t\t\0f\t4\t90.0\t600\t0\t0\tx\t\0y\t0\t1.0\t644\t0\t0\tz\t\0")
            .expect("parse");
        let o = Opts::from_args(
            &SPEC
                .parse(crate::testutil::args(
                    json!({"src": "a", "dest": "b", "delete": true}),
                ))
                .expect("args"),
        )
        .expect("opts");
        let pl = plan(&src, &dst, &o, '<', "t", &|_| false);
        assert_eq!(pl.items, vec!["<f.stp..... x", "*deleting   z"]);
        dst.entries.clear();
        let pl = plan(&src, &dst, &o, '<', "t", &|_| false);
        assert_eq!(pl.items, vec!["cd+++++++++ ./", "<f+++++++++ x"]);
    }

    #[test]
    fn unsupported_rsync_opts_are_refused_by_name() {
        let o = |v: serde_json::Value| {
            SPEC.parse(crate::testutil::args(
                json!({"src": "a", "dest": "b", "rsync_opts": v}),
            ))
            .and_then(|a| Opts::from_args(&a))
        };
        let e = o(json!(["--bwlimit=10"])).unwrap_err();
        assert!(
            e.msg.contains("\"--bwlimit=10\" is not supported"),
            "{}",
            e.msg
        );
        assert!(o(json!(["--exclude=*.log", "--no-motd", "--exclude", "tmp"])).is_ok());
    }

    /// A delegated run: `transport` reaches the delegate, `target` the inventory host.
    async fn delegated(
        env: &TestEnv,
        delegate: &str,
        a: serde_json::Value,
    ) -> Result<Map, ModuleError> {
        let mut c = ctx(env, false, false);
        c.host = "web1";
        c.delegation = Some(kplay_engine::module::Delegation {
            delegate: delegate.into(),
            target: &crate::testutil::LOCAL_SH,
            become_: None,
        });
        SynchronizeModule
            .run(&c, crate::testutil::args(a))
            .await
            .map(|r| r.into_map())
    }

    crate::testutil::both_paths! {
    async fn push_copies_a_tree_keeps_modes_and_times_and_is_idempotent() {
        let (d, env) = tree();
        let src = format!("{}/src", d.path().display());
        let dest = format!("{}/out", d.path().display());
        let r = sync(&env, false, json!({"src": src, "dest": dest})).await.expect("sync");
        assert_eq!(r["changed"], json!(true), "{r:?}");
        let got = d.path().join("out/src");
        assert_eq!(std::fs::read_to_string(got.join("sub/b.txt")).expect("b"), "beta\n");
        assert_eq!(mode_of(&got.join("a.txt")), 0o640);
        assert_eq!(mode_of(&got.join("sub/b.txt")), 0o600);
        assert_eq!(std::fs::read_link(got.join("link")).expect("link").to_string_lossy(), "a.txt");
        use std::os::unix::fs::MetadataExt;
        let mt = |p: &Path| std::fs::metadata(p).expect("stat").mtime();
        std::fs::File::options().write(true).open(d.path().join("src/a.txt")).expect("open")
            .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000)).expect("touch");
        sync(&env, false, json!({"src": src, "dest": dest})).await.expect("sync");
        assert_eq!(mt(&got.join("a.txt")), 1_000_000);
        assert!(lines(&r).contains(&"<f+++++++++ sub/b.txt".to_string()), "{r:?}");
        let again = sync(&env, false, json!({"src": src, "dest": dest})).await.expect("sync");
        assert_eq!(again["changed"], json!(false), "{again:?}");
        assert!(lines(&again).is_empty());
    }

    async fn trailing_slash_copies_contents_and_delete_removes_extras() {
        let (d, env) = tree();
        let src = format!("{}/src/", d.path().display());
        let dest = format!("{}/out", d.path().display());
        write(&d.path().join("out/stale/old.txt"), "old\n", 0o644);
        let r = sync(&env, false, json!({"src": src, "dest": dest})).await.expect("sync");
        assert_eq!(r["changed"], json!(true));
        assert!(d.path().join("out/a.txt").is_file());
        assert!(d.path().join("out/stale/old.txt").is_file(), "no delete: extras stay");
        let r = sync(&env, false, json!({"src": src, "dest": dest, "delete": true})).await.expect("sync");
        assert!(lines(&r).contains(&"*deleting   stale/".to_string()), "{r:?}");
        assert!(!d.path().join("out/stale").exists());
        assert!(d.path().join("out/sub/b.txt").is_file());
    }

    async fn check_mode_reports_changes_and_writes_nothing() {
        let (d, env) = tree();
        let src = format!("{}/src/", d.path().display());
        let dest = format!("{}/out", d.path().display());
        let r = sync(&env, true, json!({"src": src, "dest": dest})).await.expect("sync");
        assert_eq!(r["changed"], json!(true));
        assert!(r["diff"]["prepared"].as_str().unwrap_or_default().contains("<f+++++++++ a.txt"), "{r:?}");
        assert!(!d.path().join("out").exists());
    }

    async fn changed_content_of_same_size_is_found_by_checksum() {
        let (d, env) = tree();
        let src = format!("{}/src/", d.path().display());
        let dest = format!("{}/out", d.path().display());
        sync(&env, false, json!({"src": src, "dest": dest})).await.expect("sync");
        // Same size, same time, other content: only checksum (or times off) sees it.
        let out = d.path().join("out/a.txt");
        let t = std::fs::metadata(&out).expect("stat").modified().expect("mtime");
        std::fs::write(&out, "ALPHA\n").expect("write");
        std::fs::File::options().write(true).open(&out).expect("open").set_modified(t).expect("touch");
        let r = sync(&env, false, json!({"src": src, "dest": dest})).await.expect("sync");
        assert_eq!(r["changed"], json!(false), "quick check trusts size and time");
        let r = sync(&env, false, json!({"src": src, "dest": dest, "checksum": true})).await.expect("sync");
        assert_eq!(r["changed"], json!(true));
        assert_eq!(lines(&r), vec!["<fc........ a.txt"]);
        assert_eq!(std::fs::read_to_string(&out).expect("read"), "alpha\n");
    }

    async fn pull_brings_a_file_to_the_controller_and_excludes_apply() {
        let (d, env) = tree();
        let src = format!("{}/src/sub/b.txt", d.path().display());
        std::fs::create_dir(d.path().join("back")).expect("mkdir");
        let dest = format!("{}/back", d.path().display());
        let r = sync(&env, false, json!({"src": src, "dest": dest, "mode": "pull"})).await.expect("sync");
        assert_eq!(lines(&r), vec![">f+++++++++ b.txt"]);
        assert_eq!(std::fs::read_to_string(d.path().join("back/b.txt")).expect("b"), "beta\n");
        let src = format!("{}/src/", d.path().display());
        let dest = format!("{}/ex", d.path().display());
        sync(&env, false, json!({"src": src, "dest": dest, "rsync_opts": ["--exclude=sub"]})).await.expect("sync");
        assert!(d.path().join("ex/a.txt").is_file());
        assert!(!d.path().join("ex/sub").exists());
    }

    async fn missing_source_is_a_clear_failure() {
        let (d, env) = tree();
        let e = sync(&env, false, json!({"src": format!("{}/nope", d.path().display()), "dest": "/tmp/x"}))
            .await
            .unwrap_err();
        assert!(e.msg.contains("does not exist on the controller"), "{}", e.msg);
    }

    async fn delegated_push_and_pull_run_between_the_delegate_and_the_host() {
        let (d, env) = tree();
        let (src, dest) = (d.path().join("src"), d.path().join("on-host"));
        let r = delegated(&env, "web2", json!({"src": format!("{}/", src.display()), "dest": dest}))
            .await
            .expect("push");
        assert_eq!(r["changed"], json!(true));
        assert_eq!(std::fs::read_to_string(dest.join("sub/b.txt")).expect("read"), "beta\n");
        let back = d.path().join("on-delegate");
        delegated(&env, "web2", json!({"src": dest.join("a.txt"), "dest": back, "mode": "pull"}))
            .await
            .expect("pull");
        assert_eq!(std::fs::read_to_string(&back).expect("read"), "alpha\n");
        // A relative source is the delegate's, not looked up among the controller's files.
        let e = delegated(&env, "web2", json!({"src": "kplay-no-such-dir", "dest": "/tmp/x"}))
            .await
            .unwrap_err();
        assert!(e.msg.contains("does not exist on the delegate"), "{}", e.msg);
        // Delegated to its own host: both paths are the host's.
        let own = d.path().join("own");
        delegated(&env, "web1", json!({"src": src.join("a.txt"), "dest": own}))
            .await
            .expect("own");
        assert_eq!(std::fs::read_to_string(&own).expect("read"), "alpha\n");
    }
    }
}

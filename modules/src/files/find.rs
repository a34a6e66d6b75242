//! `find` (ansible.builtin.find): files under `paths` selected by name (`patterns`/`excludes`,
//! shell globs or Python regexes matched at the start of the base name, as Ansible's
//! `re.match`), type, hidden-ness, age, size and content, returned as stat-like dictionaries.
//! One round trip lists every path with `find -printf` (GNU findutils); the selection runs on
//! the controller; `contains` and `get_checksum` take one more round trip over the
//! candidates only. Nothing changes on the host, so check mode runs it too.

use crate::common::args::{p, Param, Spec};
use crate::common::reads::{read_all, Read};
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};
use serde_json::json;

const PARAMS: &[Param] = &[
    p("paths", &["name", "path"]).list().required().doc("Directories to search."),
    p("patterns", &["pattern"]).list().doc("Base-name patterns (globs, or regexes with use_regex); any may match. Empty matches everything."),
    p("excludes", &["exclude"]).list().doc("Base-name patterns that take a file out again."),
    p("contains", &[]).str().doc("A regex the content must match (at a line's start; anywhere with read_whole_file)."),
    p("read_whole_file", &[]).flag(false).doc("Match `contains` against the whole file instead of each line's start."),
    p("file_type", &[]).choices(&["any", "directory", "file", "link"]).default_str("file").doc("Type of entries to return."),
    p("recurse", &[]).flag(false).doc("Descend into subdirectories."),
    p("depth", &[]).int().doc("With recurse: how many levels deep to look."),
    p("hidden", &[]).flag(false).doc("Include entries whose name starts with a dot."),
    p("follow", &[]).flag(false).doc("Follow symbolic links."),
    p("get_checksum", &[]).flag(false).doc("Add each file's SHA-1 as `checksum`."),
    p("use_regex", &[]).flag(false).doc("Patterns are Python regexes instead of shell globs."),
    p("age", &[]).str().doc("`2d`, `-1w`, …: at least that old (negative: at most); units s m h d w."),
    p("age_stamp", &[]).choices(&["atime", "ctime", "mtime"]).default_str("mtime").doc("Timestamp `age` compares."),
    p("size", &[]).str().doc("`10m`, `-1k`, …: at least that big (negative: at most); units b k m g t."),
];

/// `find`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "find",
    "Return a list of files based on specific criteria",
    &[PARAMS],
);

/// `ansible.builtin.find`.
///
/// Not query → plan → apply ([`crate::planned`]): Only reads the host: nothing to plan or change.
pub struct FindModule;

/// The compiled name patterns: globs anchored at both ends, regexes at the start.
fn compile(pats: &[String], use_regex: bool) -> Result<Vec<fancy_regex::Regex>, ModuleError> {
    pats.iter()
        .map(|p| {
            let re = if use_regex {
                format!("^(?:{p})")
            } else {
                kplay_engine::inventory::glob_to_regex(p)
            };
            fancy_regex::Regex::new(&re)
                .map_err(|e| ModuleError::new(format!("invalid pattern '{p}': {e}")))
        })
        .collect()
}

fn any_match(res: &[fancy_regex::Regex], name: &str) -> bool {
    res.iter().any(|r| r.is_match(name).unwrap_or(false))
}

/// `10m`, `-2d`: sign, number and unit factor; `None` when malformed.
fn amount(s: &str, units: &[(char, f64)]) -> Option<f64> {
    let s = s.trim();
    let (num, f) = match s.chars().last()? {
        c if c.is_ascii_alphabetic() => {
            let f = units.iter().find(|(u, _)| *u == c.to_ascii_lowercase())?.1;
            (&s[..s.len() - 1], f)
        }
        _ => (s, 1.0),
    };
    num.parse::<f64>().ok().map(|n| n * f)
}

const AGE_UNITS: &[(char, f64)] = &[
    ('s', 1.0),
    ('m', 60.0),
    ('h', 3600.0),
    ('d', 86400.0),
    ('w', 604800.0),
];
const SIZE_UNITS: &[(char, f64)] = &[
    ('b', 1.0),
    ('k', 1024.0),
    ('m', 1048576.0),
    ('g', 1073741824.0),
    ('t', 1099511627776.0),
];

/// One entry as `find -printf` listed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub kind: char,
    pub size: u64,
    pub mtime: f64,
    pub atime: f64,
    pub ctime: f64,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub owner: String,
    pub group: String,
    pub nlink: u64,
    pub inode: u64,
    pub dev: u64,
    pub path: String,
}

/// The `-printf` format [`parse_entries`] reads: records end with the ASCII record separator
/// (NUL would not survive the shell's command substitution; names rarely hold 0x1e).
const FORMAT: &str = "%y\\t%s\\t%T@\\t%A@\\t%C@\\t%m\\t%U\\t%G\\t%u\\t%g\\t%n\\t%i\\t%D\\t%p\\036";

pub fn parse_entries(out: &str) -> Vec<Entry> {
    out.split('\u{1e}')
        .filter_map(|rec| {
            let f: Vec<&str> = rec.trim_start_matches('\n').splitn(14, '\t').collect();
            if f.len() < 14 {
                return None;
            }
            let n = |i: usize| f[i].parse::<u64>().unwrap_or(0);
            let t = |i: usize| f[i].parse::<f64>().unwrap_or(0.0);
            Some(Entry {
                kind: f[0].chars().next().unwrap_or('?'),
                size: n(1),
                mtime: t(2),
                atime: t(3),
                ctime: t(4),
                mode: u32::from_str_radix(f[5], 8).unwrap_or(0),
                uid: n(6),
                gid: n(7),
                owner: f[8].to_string(),
                group: f[9].to_string(),
                nlink: n(10),
                inode: n(11),
                dev: n(12),
                path: f[13].to_string(),
            })
        })
        .collect()
}

/// The selection, everything but `contains` (which needs the content).
pub struct Filter {
    pub patterns: Vec<fancy_regex::Regex>,
    pub excludes: Vec<fancy_regex::Regex>,
    pub file_type: String,
    pub hidden: bool,
    pub age: Option<f64>,
    pub age_stamp: String,
    pub size: Option<f64>,
    pub now: f64,
}

impl Filter {
    pub fn keeps(&self, e: &Entry) -> bool {
        let name = e.path.rsplit('/').next().unwrap_or(&e.path);
        let type_ok = match self.file_type.as_str() {
            "file" => e.kind == 'f',
            "directory" => e.kind == 'd',
            "link" => e.kind == 'l',
            _ => true,
        };
        let stamp = match self.age_stamp.as_str() {
            "atime" => e.atime,
            "ctime" => e.ctime,
            _ => e.mtime,
        };
        let age_ok = match self.age {
            None => true,
            Some(a) if a >= 0.0 => self.now - stamp >= a,
            Some(a) => self.now - stamp <= a.abs(),
        };
        // Ansible compares sizes for regular files only.
        let size_ok = match self.size {
            None => true,
            Some(_) if e.kind != 'f' => true,
            Some(s) if s >= 0.0 => e.size as f64 >= s,
            Some(s) => e.size as f64 <= s.abs(),
        };
        type_ok
            && (self.hidden || !name.starts_with('.'))
            && (self.patterns.is_empty() || any_match(&self.patterns, name))
            && !any_match(&self.excludes, name)
            && age_ok
            && size_ok
    }
}

/// Ansible's stat-like dictionary for one found entry.
pub fn entry_json(e: &Entry) -> Value {
    let m = e.mode;
    let bit = |b: u32| m & b != 0;
    json!({
        "path": e.path,
        "mode": format!("{:04o}", m & 0o7777),
        "isdir": e.kind == 'd',
        "ischr": e.kind == 'c',
        "isblk": e.kind == 'b',
        "isreg": e.kind == 'f',
        "isfifo": e.kind == 'p',
        "islnk": e.kind == 'l',
        "issock": e.kind == 's',
        "uid": e.uid,
        "gid": e.gid,
        "size": e.size,
        "inode": e.inode,
        "dev": e.dev,
        "nlink": e.nlink,
        "atime": e.atime,
        "mtime": e.mtime,
        "ctime": e.ctime,
        "pw_name": e.owner,
        "gr_name": e.group,
        "wusr": bit(0o200), "rusr": bit(0o400), "xusr": bit(0o100),
        "wgrp": bit(0o020), "rgrp": bit(0o040), "xgrp": bit(0o010),
        "woth": bit(0o002), "roth": bit(0o004), "xoth": bit(0o001),
        "isuid": bit(0o4000), "isgid": bit(0o2000),
    })
}

#[async_trait]
impl Module for FindModule {
    fn name(&self) -> &'static str {
        "find"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        let paths = a.list("paths");
        let use_regex = a.flag("use_regex");
        let age = match a.str("age")? {
            Some(s) => Some(
                amount(&s, AGE_UNITS)
                    .ok_or_else(|| ModuleError::new(format!("failed to process age: '{s}'")))?,
            ),
            None => None,
        };
        let size = match a.str("size")? {
            Some(s) => Some(
                amount(&s, SIZE_UNITS)
                    .ok_or_else(|| ModuleError::new(format!("failed to process size: '{s}'")))?,
            ),
            None => None,
        };
        let filter = Filter {
            patterns: compile(&a.list("patterns"), use_regex)?,
            excludes: compile(&a.list("excludes"), use_regex)?,
            file_type: a.required_str("file_type")?,
            hidden: a.flag("hidden"),
            age,
            age_stamp: a.required_str("age_stamp")?,
            size,
            now: 0.0,
        };
        let maxdepth = if a.flag("recurse") {
            a.int("depth").filter(|d| *d > 0)
        } else {
            Some(1)
        };
        let follow = if a.flag("follow") { "-L " } else { "" };
        let depth = maxdepth
            .map(|d| format!(" -maxdepth {d}"))
            .unwrap_or_default();
        let mut reads = vec![Read::new("now", "date +%s.%N")];
        for (i, p) in paths.iter().enumerate() {
            let q = sh_quote(p);
            reads.push(Read::new(
                &format!("p{i}"),
                format!("[ -d {q} ] && [ -r {q} ] && find {follow}{q} -mindepth 1{depth} -printf '{FORMAT}'"),
            ));
        }
        let r = read_all(ctx, &reads).await?;
        let filter = Filter {
            now: r.get("now").out.trim().parse().unwrap_or(0.0),
            ..filter
        };
        let mut examined = 0usize;
        let mut found: Vec<Entry> = Vec::new();
        let mut skipped = Map::new();
        for (i, p) in paths.iter().enumerate() {
            let out = r.get(&format!("p{i}"));
            if !out.ok() && out.out.is_empty() {
                skipped.insert(
                    p.clone(),
                    format!("{p} was skipped as it does not seem to be a valid directory or it cannot be accessed").into(),
                );
                continue;
            }
            let entries = parse_entries(&out.out);
            examined += entries.len();
            found.extend(entries.into_iter().filter(|e| filter.keeps(e)));
        }
        let contains = a.str("contains")?;
        let checksum = a.flag("get_checksum");
        let mut sums: std::collections::HashMap<String, String> = Default::default();
        if contains.is_some() || checksum {
            let files: Vec<&Entry> = found.iter().filter(|e| e.kind == 'f').collect();
            let mut reads = Vec::new();
            for (i, e) in files.iter().enumerate() {
                let q = sh_quote(&e.path);
                if let Some(c) = &contains {
                    let grep = if a.flag("read_whole_file") {
                        format!("grep -qzP -- {} {q}", sh_quote(c))
                    } else {
                        format!("grep -qP -- {} {q}", sh_quote(&format!("^(?:{c})")))
                    };
                    reads.push(Read::new(&format!("c{i}"), grep));
                }
                if checksum {
                    reads.push(Read::new(&format!("s{i}"), format!("sha1sum < {q}")));
                }
            }
            let r = read_all(ctx, &reads).await?;
            let mut keep = std::collections::HashSet::new();
            for (i, e) in files.iter().enumerate() {
                if contains.is_none() || r.get(&format!("c{i}")).ok() {
                    keep.insert(e.path.clone());
                }
                let s = r.get(&format!("s{i}"));
                if s.ok() {
                    let sum = s.out.split_whitespace().next().unwrap_or("").to_string();
                    sums.insert(e.path.clone(), sum);
                }
            }
            // Ansible's content filter only ever matches regular files.
            if contains.is_some() {
                found.retain(|e| keep.contains(&e.path));
            }
        }
        let files: Vec<Value> = found
            .iter()
            .map(|e| {
                let mut v = entry_json(e);
                if let (Some(sum), Value::Object(m)) = (sums.get(&e.path), &mut v) {
                    m.insert("checksum".into(), sum.clone().into());
                }
                v
            })
            .collect();
        let matched = files.len();
        let mut res = ModuleResult::new(false)
            .set("files", Value::Array(files))
            .set("matched", matched as u64)
            .set("examined", examined as u64)
            .set("skipped_paths", Value::Object(skipped.clone()))
            .set(
                "msg",
                if skipped.is_empty() {
                    "All paths examined"
                } else {
                    "Not all paths examined, check warnings for details"
                },
            );
        if !skipped.is_empty() {
            let warnings: Vec<Value> = skipped.values().cloned().collect();
            res.insert("warnings", Value::Array(warnings));
        }
        Ok(res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: char, path: &str) -> Entry {
        Entry {
            kind,
            size: 2048,
            mtime: 1000.0,
            atime: 1000.0,
            ctime: 1000.0,
            mode: 0o100644,
            uid: 0,
            gid: 0,
            owner: "root".into(),
            group: "root".into(),
            nlink: 1,
            inode: 7,
            dev: 1,
            path: path.into(),
        }
    }

    fn filter(pats: &[&str], use_regex: bool) -> Filter {
        let pats: Vec<String> = pats.iter().map(|s| s.to_string()).collect();
        Filter {
            patterns: compile(&pats, use_regex).unwrap(),
            excludes: vec![],
            file_type: "file".into(),
            hidden: false,
            age: None,
            age_stamp: "mtime".into(),
            size: None,
            now: 1000.0 + 3.0 * 86400.0,
        }
    }

    #[test]
    fn globs_match_whole_names_and_regexes_their_start() {
        let f = filter(&["node*.pem", "ca.pem"], false);
        assert!(f.keeps(&entry('f', "/etc/ssl/etcd/node-1.pem")));
        assert!(f.keeps(&entry('f', "/etc/ssl/etcd/ca.pem")));
        assert!(!f.keeps(&entry('f', "/etc/ssl/etcd/xca.pem")));
        assert!(!f.keeps(&entry('d', "/etc/ssl/etcd/node-dir.pem")));
        let r = filter(&["containerd.service$"], true);
        assert!(r.keeps(&entry('f', "/lib/systemd/system/containerd.service")));
        assert!(!r.keeps(&entry('f', "/lib/systemd/system/my-containerd.service")));
        assert!(!filter(&[], false).keeps(&entry('f', "/x/.hidden")));
        assert_eq!(
            kplay_engine::inventory::glob_to_regex("a[!b]?.c"),
            "^(?s:a[^b].\\.c)$"
        );
    }

    #[test]
    fn age_and_size_follow_their_sign() {
        let mut f = filter(&[], false);
        f.age = amount("2d", AGE_UNITS);
        assert!(f.keeps(&entry('f', "/x/old")));
        f.age = amount("-2d", AGE_UNITS);
        assert!(!f.keeps(&entry('f', "/x/old")));
        f.age = None;
        f.size = amount("1k", SIZE_UNITS);
        assert!(f.keeps(&entry('f', "/x/a")));
        f.size = amount("-1k", SIZE_UNITS);
        assert!(!f.keeps(&entry('f', "/x/a")));
        assert_eq!(amount("x", SIZE_UNITS), None);
    }

    #[test]
    fn printf_records_parse_into_stat_like_entries() {
        let out = "f\t12\t1700000000.5\t1700000000.0\t1700000000.0\t644\t0\t0\troot\troot\t1\t99\t2049\t/etc/a b\u{1e}";
        let e = parse_entries(out);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].path, "/etc/a b");
        let j = entry_json(&e[0]);
        assert_eq!(j["mode"], json!("0644"));
        assert_eq!(j["isreg"], json!(true));
        assert_eq!(j["roth"], json!(true));
        assert_eq!(j["woth"], json!(false));
    }
}

//! `stat`: facts about one path, in Ansible's `stat` dict, from a single probe round trip.
//! Never changes anything.

use crate::common::args::{p, Param, Spec};
use crate::common::probe::{probe, PathKind, PathStat, ProbeRequest};
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::{Map, Value};

const PARAMS: &[Param] = &[
    p("path", &["dest", "name"])
        .path()
        .required()
        .doc("The full path of the file or object."),
    p("follow", &[]).flag(false).doc("Follow symbolic links."),
    p("get_checksum", &[])
        .flag(true)
        .doc("Return the file's checksum."),
    p("checksum_algorithm", &["checksum", "checksum_algo"])
        .choices(ALGORITHMS)
        .default_str("sha1")
        .doc("Algorithm of the checksum."),
    p("get_mime", &["mime", "mime_type", "mime-type"])
        .flag(true)
        .doc("Return the file's MIME type and charset."),
    p("get_attributes", &["attr", "attributes"])
        .flag(true)
        .doc("Accepted; file attributes (lsattr) are not reported."),
];

/// `stat`'s declared arguments.
pub static SPEC: Spec = Spec::new("stat", "Retrieve file or file system status", &[PARAMS]);

const ALGORITHMS: &[&str] = &["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];

/// Checked `stat` arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StatArgs {
    path: String,
    follow: bool,
    checksum: Option<&'static str>,
    mime: bool,
}

impl StatArgs {
    fn parse(args: Map) -> Result<StatArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let path = a.str("path")?.unwrap_or_default();
        let algo = a
            .choice("checksum_algorithm", ALGORITHMS)?
            .unwrap_or_else(|| "sha1".into());
        let cmd = match algo.as_str() {
            "md5" => "md5sum",
            "sha224" => "sha224sum",
            "sha256" => "sha256sum",
            "sha384" => "sha384sum",
            "sha512" => "sha512sum",
            _ => "sha1sum",
        };
        Ok(StatArgs {
            path,
            follow: a.flag("follow"),
            checksum: a.flag("get_checksum").then_some(cmd),
            mime: a.flag("get_mime"),
        })
    }
}

/// Not query → plan → apply ([`crate::planned`]): Only reads the host: nothing to plan or change.
pub struct StatModule;

#[async_trait]
impl Module for StatModule {
    fn name(&self) -> &'static str {
        "stat"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = StatArgs::parse(args)?;
        let req = ProbeRequest::new(&a.path)
            .follow(a.follow)
            .checksum(a.checksum)
            .mime(a.mime);
        let pr = probe(ctx, &[req]).await?;
        let st = pr
            .paths
            .into_iter()
            .next()
            .unwrap_or_else(|| PathStat::absent(&a.path));
        Ok(ModuleResult::new(false).set("stat", Value::Object(stat_dict(&a.path, &st, a.mime))))
    }
}

/// Ansible's `stat` dict for a probed path.
fn stat_dict(path: &str, st: &PathStat, mime: bool) -> Map {
    let mut m = Map::new();
    if !st.exists() {
        m.insert("exists".into(), Value::Bool(false));
        return m;
    }
    let mode = st.mode;
    let bit = |b: u32| Value::Bool(mode & b != 0);
    let entries: Vec<(&str, Value)> = vec![
        ("exists", true.into()),
        ("path", path.into()),
        ("mode", format!("{:04o}", mode).into()),
        ("isdir", (st.kind == PathKind::Directory).into()),
        ("ischr", (st.kind == PathKind::Char).into()),
        ("isblk", (st.kind == PathKind::Block).into()),
        ("isreg", (st.kind == PathKind::File).into()),
        ("isfifo", (st.kind == PathKind::Fifo).into()),
        ("islnk", (st.kind == PathKind::Link).into()),
        ("issock", (st.kind == PathKind::Socket).into()),
        ("uid", st.uid.into()),
        ("gid", st.gid.into()),
        ("size", st.size.into()),
        ("inode", st.inode.into()),
        ("dev", st.dev.into()),
        ("nlink", st.nlink.into()),
        ("atime", st.atime.into()),
        ("mtime", st.mtime.into()),
        ("ctime", st.ctime.into()),
        ("wusr", bit(0o200)),
        ("rusr", bit(0o400)),
        ("xusr", bit(0o100)),
        ("wgrp", bit(0o020)),
        ("rgrp", bit(0o040)),
        ("xgrp", bit(0o010)),
        ("woth", bit(0o002)),
        ("roth", bit(0o004)),
        ("xoth", bit(0o001)),
        ("isuid", bit(0o4000)),
        ("isgid", bit(0o2000)),
        ("pw_name", st.owner.clone().into()),
        ("gr_name", st.group.clone().into()),
        ("readable", st.readable.into()),
        ("writeable", st.writeable.into()),
        ("executable", st.executable.into()),
    ];
    for (k, v) in entries {
        m.insert(k.into(), v);
    }
    if st.kind == PathKind::Link {
        m.insert(
            "lnk_source".into(),
            st.link_source.clone().unwrap_or_default().into(),
        );
        m.insert(
            "lnk_target".into(),
            st.link_target.clone().unwrap_or_default().into(),
        );
    }
    if let Some(c) = &st.checksum {
        m.insert("checksum".into(), c.clone().into());
    }
    if mime {
        let (mt, cs) = split_mime(st.mime.as_deref());
        m.insert("mimetype".into(), mt.into());
        m.insert("charset".into(), cs.into());
    }
    m
}

/// `text/plain; charset=us-ascii` → (`text/plain`, `us-ascii`); `unknown` when `file` is absent.
fn split_mime(s: Option<&str>) -> (String, String) {
    match s {
        Some(s) if !s.is_empty() => {
            let (t, rest) = s.split_once(';').unwrap_or((s, ""));
            let cs = rest.trim().strip_prefix("charset=").unwrap_or("unknown");
            (t.trim().to_string(), cs.to_string())
        }
        _ => ("unknown".into(), "unknown".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    async fn run(a: Value) -> Result<Map, ModuleError> {
        let env = TestEnv::new(std::path::Path::new("/"));
        StatModule
            .run(&ctx(&env, false, false), args(a))
            .await
            .map(ModuleResult::into_map)
    }

    crate::testutil::both_paths! {
    async fn missing_path_reports_exists_false_only() {
        let d = tempfile::tempdir().unwrap();
        let r = run(json!({"path": d.path().join("nope")})).await.unwrap();
        assert_eq!(
            Value::Object(r),
            json!({"changed": false, "stat": {"exists": false}})
        );
    }
    }

    crate::testutil::both_paths! {
    async fn regular_file_reports_mode_checksum_and_type() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, "hello\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
        let r = run(json!({"path": f})).await.unwrap();
        let s = &r["stat"];
        assert_eq!(s["exists"], true);
        assert_eq!(s["mode"], "0640");
        assert_eq!(s["isreg"], true);
        assert_eq!(s["isdir"], false);
        assert_eq!(s["size"], 6);
        assert_eq!(s["rgrp"], true);
        assert_eq!(s["woth"], false);
        assert_eq!(s["checksum"], "f572d396fae9206628714fb2ce00f72e94f2258f");
        assert_eq!(s["readable"], true);
        assert_eq!(r["changed"], false);
    }
    }

    crate::testutil::both_paths! {
    async fn symlink_is_reported_unless_followed() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("t"), "x").unwrap();
        let l = d.path().join("l");
        std::os::unix::fs::symlink("t", &l).unwrap();
        let r = run(json!({"path": l})).await.unwrap();
        assert_eq!(r["stat"]["islnk"], true);
        assert_eq!(r["stat"]["lnk_target"], "t");
        assert!(r["stat"].get("checksum").is_none());
        let f = run(json!({"path": l, "follow": "yes"})).await.unwrap();
        assert_eq!(f["stat"]["isreg"], true);
        assert_eq!(f["stat"]["islnk"], false);
    }
    }

    crate::testutil::both_paths! {
    async fn checksum_can_be_skipped_or_use_another_algorithm() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, "hello\n").unwrap();
        let r = run(json!({"path": f, "get_checksum": false}))
            .await
            .unwrap();
        assert!(r["stat"].get("checksum").is_none());
        let r = run(json!({"path": f, "checksum_algorithm": "sha256"}))
            .await
            .unwrap();
        assert_eq!(
            r["stat"]["checksum"],
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
        );
    }
    }

    crate::testutil::both_paths! {
    async fn directory_is_reported_with_mime() {
        let d = tempfile::tempdir().unwrap();
        let r = run(json!({"path": d.path()})).await.unwrap();
        assert_eq!(r["stat"]["isdir"], true);
        assert!(r["stat"].get("mimetype").is_some());
    }
    }

    crate::testutil::both_paths! {
    async fn bad_arguments_are_rejected() {
        assert!(run(json!({"path": "/", "foo": 1}))
            .await
            .unwrap_err()
            .msg
            .starts_with("Unsupported parameters for (stat) module: foo."));
        assert_eq!(
            run(json!({})).await.unwrap_err().msg,
            "missing required arguments: path"
        );
        assert!(run(json!({"path": "/", "checksum_algorithm": "crc"}))
            .await
            .is_err());
    }
    }

    #[test]
    fn mime_output_splits_into_type_and_charset() {
        assert_eq!(
            split_mime(Some("text/plain; charset=us-ascii")),
            ("text/plain".into(), "us-ascii".into())
        );
        assert_eq!(split_mime(None), ("unknown".into(), "unknown".into()));
    }
}

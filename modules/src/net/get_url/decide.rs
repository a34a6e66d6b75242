//! `get_url`'s decisions, pure: whether `dest` is already as asked (ansible-core 2.18: only
//! with a matching `checksum` and no `force`), and what check mode reports from the HEAD
//! request it makes instead of downloading.

use super::{download_name, GetUrlArgs};
use crate::common::attrs::AttrChanges;
use crate::common::join_remote;
use crate::common::probe::{PathKind, PathStat};
use kplay_engine::module::{ModuleError, ModuleResult};
use kplay_engine::value::Value;

/// SHA-1 of nothing: what the body of a HEAD request hashes to.
pub const SHA1_EMPTY: &str = "da39a3ee5e6b4b0d3255bfef95601890afd80709";

/// What the module is to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// `dest` is a file with the asked checksum and `force` is off: at most its attributes.
    Exists(AttrChanges),
    /// Request the URL; `if_modified_since` (the file's mtime) unless forced.
    Download {
        force: bool,
        if_modified_since: Option<f64>,
    },
}

/// ansible-core 2.18's rule: an existing file is kept without a request only when a
/// `checksum` is given, matches it, and `force` is off; a mismatch forces the download; else
/// the request carries `If-Modified-Since`.
pub fn decide(
    a: &GetUrlArgs,
    dest: &PathStat,
    expected: Option<&(String, String)>,
    umask: u32,
) -> Decision {
    if dest.kind == PathKind::Directory || !dest.exists() {
        return Decision::Download {
            force: a.force,
            if_modified_since: None,
        };
    }
    let mismatch =
        !a.force && expected.is_some_and(|(_, hex)| dest.checksum.as_deref() != Some(hex.as_str()));
    if !a.force && expected.is_some() && !mismatch {
        return Decision::Exists(a.attrs.changes(dest, umask));
    }
    Decision::Download {
        force: a.force || mismatch,
        if_modified_since: Some(dest.mtime),
    }
}

/// The result when `dest` is kept.
pub fn exists_result(base: ModuleResult, attrs: &AttrChanges) -> ModuleResult {
    if attrs.is_empty() {
        base.set("msg", "file already exists")
    } else {
        base.set("changed", true)
            .set("msg", "file already exists but file attributes changed")
    }
}

/// What the HEAD request of check mode answered, and the file it names.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    pub status: u16,
    /// The URL finally answered.
    pub url: String,
    pub content_length: Option<String>,
    pub disposition: Option<String>,
    /// SHA-1 of the file the download would replace, when it exists.
    pub dest_sha1: Option<String>,
}

/// The file a download to `dest` lands in: inside a directory `dest`, the server's name.
pub fn final_dest(dest: &PathStat, url: &str, disposition: Option<&str>) -> String {
    if dest.kind == PathKind::Directory {
        join_remote(&dest.path, &download_name(url, disposition))
    } else {
        dest.path.clone()
    }
}

/// `fetch_url`'s `msg` for a 200: the announced length.
pub fn ok_msg(content_length: Option<&str>) -> String {
    format!("OK ({} bytes)", content_length.unwrap_or("unknown"))
}

/// Check mode's result, as ansible-core 2.18 computes it from the HEAD request: its empty
/// body is the "download", so the task is changed unless the old file is empty too.
pub fn check_result(
    base: ModuleResult,
    dest: &PathStat,
    head: &Head,
) -> Result<ModuleResult, ModuleError> {
    let mut r = base;
    if head.status == 304 {
        return Ok(r
            .set("msg", "HTTP Error 304: Not Modified")
            .set("status_code", 304));
    }
    if head.status != 200 {
        let r = r
            .set("status_code", head.status)
            .set("response", format!("HTTP Error {}", head.status));
        return Err(ModuleError::with_result("Request failed", r.into_map()));
    }
    r.insert(
        "dest",
        final_dest(dest, &head.url, head.disposition.as_deref()),
    );
    r.insert("checksum_src", SHA1_EMPTY);
    if let Some(s) = &head.dest_sha1 {
        r.insert("checksum_dest", Value::String(s.clone()));
    }
    let changed = head.dest_sha1.as_deref() != Some(SHA1_EMPTY);
    Ok(r.set("changed", changed)
        .set("msg", ok_msg(head.content_length.as_deref())))
}

/// `If-Modified-Since`'s date (RFC 2822, GMT) for a file's mtime.
pub fn http_date(mtime: f64) -> String {
    let secs = mtime.floor() as i64;
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

//! Ansible's diff entries. Content diffs follow the action plugins' `_get_diff_data`: an absent
//! destination has `before: ""` and no header, a binary side is `dst_binary`/`src_binary`, one
//! over `MAX_FILE_SIZE_FOR_DIFF` is `dst_larger`/`src_larger`. Attribute diffs are the file
//! module's `{before: {path, …}, after: {path, …}}`.

use super::attrs::AttrChanges;
use kplay_engine::value::{Map, Value};

/// Ansible's default `MAX_FILE_SIZE_FOR_DIFF`.
pub const MAX_DIFF_SIZE: u64 = 104448;

/// What is known about the destination's old content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Before<'a> {
    Absent,
    Content(&'a [u8]),
    /// Exists but too large to fetch for a diff.
    TooLarge,
}

/// One content diff entry for `dest`, becoming `after` with header `after_header`.
pub fn content_diff(dest: &str, before: Before<'_>, after: &[u8], after_header: &str) -> Map {
    let mut d = Map::new();
    match before {
        Before::Absent => {
            d.insert("before".into(), Value::String(String::new()));
        }
        Before::TooLarge => {
            d.insert("dst_larger".into(), Value::from(MAX_DIFF_SIZE));
        }
        Before::Content(b) if b.contains(&0) => {
            d.insert("dst_binary".into(), Value::from(1));
        }
        Before::Content(b) => {
            d.insert("before_header".into(), Value::String(dest.to_string()));
            d.insert(
                "before".into(),
                Value::String(String::from_utf8_lossy(b).into_owned()),
            );
        }
    }
    if after.len() as u64 > MAX_DIFF_SIZE {
        d.insert("src_larger".into(), Value::from(MAX_DIFF_SIZE));
    } else if after.contains(&0) {
        d.insert("src_binary".into(), Value::from(1));
    } else {
        d.insert(
            "after_header".into(),
            Value::String(after_header.to_string()),
        );
        d.insert(
            "after".into(),
            Value::String(String::from_utf8_lossy(after).into_owned()),
        );
    }
    d
}

/// The file module's diff: path (and state when it changes) plus changed attributes.
pub fn state_diff(
    path: &str,
    before_state: Option<&str>,
    after_state: Option<&str>,
    attrs: &AttrChanges,
) -> Map {
    let mut before = Map::new();
    let mut after = Map::new();
    before.insert("path".into(), Value::String(path.to_string()));
    after.insert("path".into(), Value::String(path.to_string()));
    if let (Some(b), Some(a)) = (before_state, after_state) {
        if b != a {
            before.insert("state".into(), Value::String(b.to_string()));
            after.insert("state".into(), Value::String(a.to_string()));
        }
    }
    attrs.add_to_diff(&mut before, &mut after);
    let mut d = Map::new();
    d.insert("before".into(), Value::Object(before));
    d.insert("after".into(), Value::Object(after));
    d
}

/// Ansible's `diff` with plain before/after strings (sysctl, hostname, mount, authorized_key).
pub fn text_diff(before_header: &str, after_header: &str, before: &str, after: &str) -> Value {
    let mut d = Map::new();
    d.insert("before_header".into(), Value::String(before_header.into()));
    d.insert("after_header".into(), Value::String(after_header.into()));
    d.insert("before".into(), Value::String(before.into()));
    d.insert("after".into(), Value::String(after.into()));
    Value::Object(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_destination_has_empty_before_without_header() {
        let d = content_diff("/etc/x", Before::Absent, b"new\n", "/etc/x");
        assert_eq!(d["before"], "");
        assert!(!d.contains_key("before_header"));
        assert_eq!(d["after"], "new\n");
        assert_eq!(d["after_header"], "/etc/x");
    }

    #[test]
    fn binary_sides_are_flagged_not_shown() {
        let d = content_diff("/x", Before::Content(b"a\0"), b"b\0", "/x");
        assert_eq!(d["dst_binary"], 1);
        assert_eq!(d["src_binary"], 1);
        assert!(!d.contains_key("before") && !d.contains_key("after"));
    }

    #[test]
    fn large_sides_are_flagged() {
        let big = vec![b'a'; MAX_DIFF_SIZE as usize + 1];
        let d = content_diff("/x", Before::TooLarge, &big, "/x");
        assert_eq!(d["dst_larger"], MAX_DIFF_SIZE);
        assert_eq!(d["src_larger"], MAX_DIFF_SIZE);
    }

    #[test]
    fn state_diff_shows_state_only_when_it_changes() {
        let d = state_diff(
            "/x",
            Some("absent"),
            Some("directory"),
            &AttrChanges::default(),
        );
        assert_eq!(d["before"]["state"], "absent");
        assert_eq!(d["after"]["state"], "directory");
        let same = state_diff("/x", Some("file"), Some("file"), &AttrChanges::default());
        assert!(same["before"].get("state").is_none());
    }
}

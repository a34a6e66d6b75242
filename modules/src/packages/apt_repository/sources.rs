//! APT's one-line sources files as ansible-core's `apt_repository` models them: every line is
//! kept as (valid, enabled, source, comment), a source's blanks collapsed; a file is compared
//! and written as its `dump` (each line rebuilt: `# ` for a disabled one, ` # comment` after).
//! Adding enables every commented-out copy of the source, else appends it to the new file;
//! removing drops every enabled copy; a file left without lines is deleted.

/// One line of a sources file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Starts with `deb` or `deb-src`.
    pub valid: bool,
    /// Not commented out.
    pub enabled: bool,
    pub source: String,
    pub comment: String,
}

/// The text before a line's comment, as ansible-core names an invalid repository with it.
fn body_of(raw: &str) -> (bool, &str, &str) {
    let mut line = raw.trim();
    let mut enabled = true;
    if let Some(rest) = line.strip_prefix('#') {
        enabled = false;
        line = rest;
    }
    match line.find('#') {
        Some(i) if i > 0 => (enabled, &line[..i], line[i + 1..].trim()),
        _ => (enabled, line, ""),
    }
}

/// ansible-core's `_parse` of one line.
pub fn parse_line(raw: &str) -> Line {
    let (enabled, body, comment) = body_of(raw);
    let source = body.trim();
    let words: Vec<&str> = source.split_whitespace().collect();
    let valid = matches!(words.first(), Some(&"deb") | Some(&"deb-src"));
    Line {
        valid,
        enabled,
        source: if valid {
            words.join(" ")
        } else {
            source.to_string()
        },
        comment: comment.to_string(),
    }
}

/// The source named by the task's `repo`, or the text ansible-core reports it invalid with.
pub fn repo_source(repo: &str) -> Result<String, String> {
    let l = parse_line(repo);
    if l.valid && l.enabled {
        Ok(l.source)
    } else {
        Err(body_of(repo).1.to_string())
    }
}

/// A file's lines.
pub fn parse(text: &str) -> Vec<Line> {
    text.lines().map(parse_line).collect()
}

/// ansible-core's `dump` of one file: `None` for a file without lines (it is deleted).
pub fn dump(lines: &[Line]) -> Option<String> {
    if lines.is_empty() {
        return None;
    }
    let mut out = String::new();
    for l in lines {
        if !l.enabled {
            out.push_str("# ");
        }
        out.push_str(&l.source);
        if !l.comment.is_empty() {
            out.push_str(" # ");
            out.push_str(&l.comment);
        }
        out.push('\n');
    }
    Some(out)
}

/// Add `source`: enable every copy of it (commented out or not); when there is none, append
/// it to `new_file` (created when missing). Returns whether it was appended.
pub fn add(files: &mut Vec<(String, Vec<Line>)>, source: &str, new_file: &str) -> bool {
    let mut found = false;
    for (_, lines) in files.iter_mut() {
        for l in lines.iter_mut().filter(|l| l.valid && l.source == source) {
            l.enabled = true;
            found = true;
        }
    }
    if found {
        return false;
    }
    let line = Line {
        valid: true,
        enabled: true,
        source: source.to_string(),
        comment: String::new(),
    };
    match files.iter_mut().find(|(p, _)| p == new_file) {
        Some((_, lines)) => lines.push(line),
        None => files.push((new_file.to_string(), vec![line])),
    }
    true
}

/// Remove every enabled copy of `source`.
pub fn remove(files: &mut [(String, Vec<Line>)], source: &str) {
    for (_, lines) in files.iter_mut() {
        lines.retain(|l| !(l.valid && l.enabled && l.source == source));
    }
}

/// ansible-core's file name for a source: the URI's host and path (options, protocol and
/// credentials dropped), other characters as `_`, `.list` added.
pub fn suggest_filename(source: &str) -> String {
    let no_opts = regex::Regex::new(r"\[[^\]]+\]")
        .map(|r| r.replace_all(source, "").into_owned())
        .unwrap_or_else(|_| source.to_string());
    let no_proto = regex::Regex::new(r"\w+://")
        .map(|r| r.replace_all(&no_opts, "").into_owned())
        .unwrap_or(no_opts);
    let uri = no_proto
        .split_whitespace()
        .find(|w| *w != "deb" && *w != "deb-src")
        .unwrap_or("");
    let uri = uri.split_once('@').map(|(_, h)| h).unwrap_or(uri);
    let cleaned: String = uri
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' })
        .collect();
    format!(
        "{}.list",
        cleaned.split_whitespace().collect::<Vec<_>>().join("_")
    )
}

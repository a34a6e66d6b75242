//! The repo file as Python's `configparser.RawConfigParser` reads and writes it, the way
//! ansible-core's `yum_repository` does: comments dropped, keys lower-cased, continuation
//! lines joined with `\n`; written as `key = value` (continuations as `\n\t`) with a blank line
//! after each section; compared through `dump` (sections and keys sorted), so a reordered or
//! commented file with the same settings is not a change.

/// A repo file's sections in file order, each with its options in order.
pub type Sections = Vec<(String, Vec<(String, String)>)>;

/// The sections of a repo file.
pub fn parse(text: &str) -> Sections {
    let mut out: Sections = Vec::new();
    for l in text.lines() {
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        let continues = l.starts_with([' ', '\t']);
        if let Some(s) = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            out.push((s.to_string(), vec![]));
        } else if let (true, Some(last)) = (continues, out.last_mut().and_then(|s| s.1.last_mut()))
        {
            last.1.push('\n');
            last.1.push_str(t);
        } else if let Some(section) = out.last_mut() {
            let (k, v) = match t.find(['=', ':']) {
                Some(i) => (&t[..i], &t[i + 1..]),
                None => (t, ""),
            };
            let k = k.trim().to_lowercase();
            let v = v.trim().to_string();
            match section.1.iter_mut().find(|(key, _)| *key == k) {
                Some(slot) => slot.1 = v,
                None => section.1.push((k, v)),
            }
        }
    }
    out
}

/// configparser's `write`: sections and options in order.
pub fn render(s: &Sections) -> String {
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

/// ansible-core's `YumRepo.dump`: sections and their options sorted, values as they are; what
/// the task compares (`changed`) and shows (`diff`).
pub fn dump(s: &Sections) -> String {
    let mut sections: Vec<&(String, Vec<(String, String)>)> = s.iter().collect();
    sections.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::new();
    for (name, opts) in sections {
        out.push_str(&format!("[{name}]\n"));
        let mut opts: Vec<&(String, String)> = opts.iter().collect();
        opts.sort();
        for (k, v) in opts {
            out.push_str(&format!("{k} = {v}\n"));
        }
        out.push('\n');
    }
    out
}

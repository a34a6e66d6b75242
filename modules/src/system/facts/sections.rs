//! Splitting the gather script's output into its named sections, and reading `key=value` lines.

use std::collections::HashMap;

/// The line that starts each section (see `gather.sh`).
const MARKER: &str = "@@KPLAY_FACTS@@ ";

/// The script's output by section name. A section's text has the blank separator line the
/// script prints before each marker removed.
#[derive(Debug, Default)]
pub struct Sections {
    by_name: HashMap<String, String>,
}

impl Sections {
    pub fn parse(out: &str) -> Sections {
        let mut by_name = HashMap::new();
        let mut current: Option<(String, String)> = None;
        for line in out.split_inclusive('\n') {
            if let Some(name) = line.strip_prefix(MARKER) {
                if let Some((n, text)) = current.take() {
                    by_name.insert(n, strip_separator(text));
                }
                current = Some((name.trim().to_string(), String::new()));
            } else if let Some((_, text)) = current.as_mut() {
                text.push_str(line);
            }
        }
        if let Some((n, text)) = current {
            by_name.insert(n, strip_separator(text));
        }
        Sections { by_name }
    }

    /// Whether the script printed the section at all (it skips subsets not asked for).
    pub fn has(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// A section's raw text ("" when absent).
    pub fn text(&self, name: &str) -> &str {
        self.by_name.get(name).map(String::as_str).unwrap_or("")
    }

    /// A section of `key=value` lines as a map; a value runs to the end of its line.
    pub fn kv(&self, name: &str) -> HashMap<String, String> {
        self.text(name)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

/// Each marker is preceded by a newline the script adds so a section without a trailing newline
/// still ends cleanly; drop exactly that one.
fn strip_separator(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_split_by_marker() {
        let s = Sections::parse("\n@@KPLAY_FACTS@@ a\nx=1\ny=a=b\n\n@@KPLAY_FACTS@@ b\nraw text\n\n@@KPLAY_FACTS@@ end\n");
        assert_eq!(s.kv("a").get("y").map(String::as_str), Some("a=b"));
        assert_eq!(s.text("b"), "raw text\n");
        assert!(s.has("end"));
        assert!(!s.has("c"));
    }
}

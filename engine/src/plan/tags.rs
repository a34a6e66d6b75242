//! `--tags` / `--skip-tags` selection with Ansible's special tags (`always`, `never`, `all`,
//! `tagged`, `untagged`).

use std::collections::BTreeSet;

#[derive(Clone, Debug, Default)]
pub struct TagFilter {
    pub only: BTreeSet<String>,
    pub skip: BTreeSet<String>,
}

impl TagFilter {
    pub fn new(only: &[String], skip: &[String]) -> Self {
        let clean = |v: &[String]| {
            v.iter()
                .flat_map(|s| s.split(','))
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        TagFilter {
            only: clean(only),
            skip: clean(skip),
        }
    }

    /// Whether a task with these effective tags runs, as Ansible's `evaluate_tags` decides.
    pub fn selects(&self, tags: &BTreeSet<String>) -> bool {
        let only_all = self.only.is_empty() || self.only.contains("all");
        let mut run = if only_all {
            // `never` tasks only run when one of their other tags is asked for explicitly.
            !tags.contains("never")
        } else {
            let explicit = tags.iter().any(|t| self.only.contains(t) && t != "never")
                || (tags.contains("never") && self.only.contains("never"));
            let tagged =
                self.only.contains("tagged") && !tags.is_empty() && !tags.contains("never");
            let untagged = self.only.contains("untagged")
                && (tags.is_empty() || tags.iter().all(|t| t == "always"));
            let always = tags.contains("always") && !tags.contains("never");
            explicit || tagged || untagged || always
        };
        if run && !self.skip.is_empty() {
            let skipped = tags.iter().any(|t| self.skip.contains(t))
                || (self.skip.contains("tagged") && !tags.is_empty())
                || (self.skip.contains("untagged") && tags.is_empty())
                || self.skip.contains("all");
            let always_protects = tags.contains("always") && !self.skip.contains("always");
            if skipped && !always_protects {
                run = false;
            }
        }
        run
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn f(only: &[&str], skip: &[&str]) -> TagFilter {
        TagFilter::new(
            &only.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            &skip.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    }

    #[test]
    fn no_filter_runs_everything_but_never() {
        assert!(f(&[], &[]).selects(&set(&[])));
        assert!(f(&[], &[]).selects(&set(&["a"])));
        assert!(!f(&[], &[]).selects(&set(&["never", "a"])));
    }

    #[test]
    fn only_selected_tags_and_always_run() {
        let t = f(&["a"], &[]);
        assert!(t.selects(&set(&["a"])));
        assert!(!t.selects(&set(&["b"])));
        assert!(!t.selects(&set(&[])));
        assert!(t.selects(&set(&["always"])));
    }

    #[test]
    fn never_runs_only_when_asked() {
        assert!(f(&["debug"], &[]).selects(&set(&["never", "debug"])));
        assert!(f(&["never"], &[]).selects(&set(&["never"])));
    }

    #[test]
    fn skip_tags_win_but_not_over_always() {
        assert!(!f(&[], &["a"]).selects(&set(&["a"])));
        assert!(f(&[], &["a"]).selects(&set(&["a", "always"])));
        assert!(!f(&[], &["always"]).selects(&set(&["always"])));
    }

    #[test]
    fn tagged_and_untagged() {
        assert!(f(&["tagged"], &[]).selects(&set(&["x"])));
        assert!(!f(&["tagged"], &[]).selects(&set(&[])));
        assert!(f(&["untagged"], &[]).selects(&set(&[])));
        assert!(!f(&["untagged"], &[]).selects(&set(&["x"])));
    }
}

//! Spotting an undefined access chain used where Ansible's `AnsibleUndefined` fails.
//!
//! The chainable retry of [`super::undefined`] lets `a.b is defined` and `a.b | default(x)` work
//! with `a` undefined, but minijinja's chainable mode also treats `{% if a.b %}`, `{% for x in
//! a.b %}` and `not a.b` as false/empty, where Ansible fails with `'a' is undefined` (its
//! undefined refuses `__bool__` and `__iter__`). Before retrying, the template source is
//! checked for those bare uses of the chain that failed; guarded uses (`a.b is defined and a.b`)
//! are not bare, so the usual idioms keep working.

use regex::Regex;

/// Whether `src` tests or iterates `path` followed by at least one attribute/item access
/// (`path.x`, `path['x']`) with nothing else in the expression: `{% if path.x %}`,
/// `{% elif not path.x %}`, `{% for i in path.x %}`, `{{ not path.x }}`.
pub fn used_bare(src: &str, path: &str) -> bool {
    let chain = format!(r#"{}(?:\.\w+|\[[^\]]*\])+\s*"#, regex::escape(path));
    let patterns = [
        format!(r"\{{%[-+]?\s*(?:if|elif)\s+(?:not\s+)?{chain}[-+]?%\}}"),
        format!(r"\{{%[-+]?\s*for\s+[\w\s,]+?\s+in\s+{chain}(?:recursive\s*)?[-+]?%\}}"),
        format!(r"\{{\{{[-+]?\s*not\s+{chain}[-+]?\}}\}}"),
    ];
    patterns
        .iter()
        .filter_map(|p| Regex::new(p).ok())
        .any(|re| re.is_match(src))
}

/// Whether `src` holds anything that can make an undefined access chain harmless under
/// Ansible: a test (`is defined`, `is none` …, which never touch the value), `default`/`d`, or
/// `mandatory` (which names the variable itself). Without any of them, every use of an
/// undefined chain fails in Ansible (`a.b == 1`, `a.b | length`, `a.b + 1` …), so the chainable
/// retry must not turn it into a quiet `false`.
pub fn may_guard(src: &str) -> bool {
    static GUARD: std::sync::OnceLock<Option<Regex>> = std::sync::OnceLock::new();
    GUARD
        .get_or_init(|| Regex::new(r"\bis\b|\bdefault\b|\|\s*d\b|\bmandatory\b").ok())
        .as_ref()
        .is_none_or(|re| re.is_match(src))
}

#[cfg(test)]
mod tests {
    use super::{may_guard, used_bare};

    #[test]
    fn guards_are_recognised() {
        assert!(may_guard("a.b is defined and a.b.c == 1"));
        assert!(may_guard("a.b | default(1) == 1"));
        assert!(may_guard("a.b|d(1)"));
        assert!(may_guard("a.b.c if a.b is not none else 0"));
        assert!(!may_guard("a.b == 1"));
        assert!(!may_guard("{% if a.b | length > 0 %}{% endif %}"));
        assert!(!may_guard("this.b == 1"));
    }

    #[test]
    fn if_and_for_over_a_chain_are_bare() {
        assert!(used_bare("{% if a.b %}y{% endif %}", "a"));
        assert!(used_bare("{%- elif not a['b'].c -%}", "a"));
        assert!(used_bare("{% for x in a.b %}{% endfor %}", "a"));
        assert!(used_bare("{{ not a.b }}", "a"));
        assert!(used_bare("{% if d.nope.x %}{% endif %}", "d.nope"));
    }

    #[test]
    fn guarded_or_other_names_are_not_bare() {
        assert!(!used_bare(
            "{% if a.b is defined and a.b %}{% endif %}",
            "a"
        ));
        assert!(!used_bare("{% if a.b | default(false) %}{% endif %}", "a"));
        assert!(!used_bare("{% if xa.b %}{% endif %}", "a"));
        assert!(!used_bare("{% if a %}{% endif %}", "a"));
    }
}

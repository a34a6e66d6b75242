//! `ansible.builtin.NAME` for every filter and test ansible-core ships
//! (`selectattr('value', 'ansible.builtin.all')` in kubespray): each forwards to the short
//! name, so one implementation answers to both. The name lists are ansible-core 2.18's
//! (`ansible-doc -t filter|test -l`); README's compatibility table is checked against them.

use minijinja::value::{Rest, Value as MjValue};
use minijinja::{Environment, Error, State};

/// ansible-core 2.18's builtin filters.
pub const FILTERS: &[&str] = &[
    "b64decode",
    "b64encode",
    "basename",
    "bool",
    "checksum",
    "combinations",
    "combine",
    "comment",
    "commonpath",
    "dict2items",
    "difference",
    "dirname",
    "expanduser",
    "expandvars",
    "extract",
    "fileglob",
    "flatten",
    "from_json",
    "from_yaml",
    "from_yaml_all",
    "hash",
    "human_readable",
    "human_to_bytes",
    "intersect",
    "items2dict",
    "log",
    "mandatory",
    "md5",
    "normpath",
    "password_hash",
    "path_join",
    "permutations",
    "pow",
    "product",
    "quote",
    "random",
    "realpath",
    "regex_escape",
    "regex_findall",
    "regex_replace",
    "regex_search",
    "rekey_on_member",
    "relpath",
    "root",
    "sha1",
    "shuffle",
    "split",
    "splitext",
    "strftime",
    "subelements",
    "symmetric_difference",
    "ternary",
    "to_datetime",
    "to_json",
    "to_nice_json",
    "to_nice_yaml",
    "to_uuid",
    "to_yaml",
    "type_debug",
    "union",
    "unique",
    "unvault",
    "urldecode",
    "urlsplit",
    "vault",
    "win_basename",
    "win_dirname",
    "win_splitdrive",
    "zip",
    "zip_longest",
];

/// ansible-core 2.18's builtin tests.
pub const TESTS: &[&str] = &[
    "abs",
    "all",
    "any",
    "change",
    "changed",
    "contains",
    "directory",
    "exists",
    "failed",
    "failure",
    "falsy",
    "file",
    "finished",
    "is_abs",
    "is_dir",
    "is_file",
    "is_link",
    "is_mount",
    "is_same_file",
    "isnan",
    "issubset",
    "issuperset",
    "link",
    "link_exists",
    "match",
    "mount",
    "nan",
    "reachable",
    "regex",
    "same_file",
    "search",
    "skip",
    "skipped",
    "started",
    "subset",
    "succeeded",
    "success",
    "successful",
    "superset",
    "timedout",
    "truthy",
    "unreachable",
    "uri",
    "url",
    "urn",
    "vault_encrypted",
    "vaulted_file",
    "version",
    "version_compare",
];

pub fn register(env: &mut Environment<'static>) {
    for &name in FILTERS {
        env.add_filter(
            format!("ansible.builtin.{name}"),
            move |state: &State, args: Rest<MjValue>| -> Result<MjValue, Error> {
                state.apply_filter(name, &args)
            },
        );
    }
    for &name in TESTS {
        env.add_test(
            format!("ansible.builtin.{name}"),
            move |state: &State, args: Rest<MjValue>| -> Result<bool, Error> {
                state.perform_test(name, &args)
            },
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fully_qualified_names_answer_like_the_short_ones() {
        let t = crate::template::Templar::new();
        let ctx = minijinja::context! { d => minijinja::context! { a => vec![true, true], b => vec![true, false] } };
        let out = t
            .render_str(
                "{{ d | ansible.builtin.dict2items | selectattr('value', 'ansible.builtin.all') | map(attribute='key') | list }} {{ [1] is ansible.builtin.all }} {{ 'a,b' | ansible.builtin.split(',') }}",
                &ctx,
            )
            .map(|v| crate::value::to_display_string(&v))
            .unwrap_or_else(|e| format!("{e:?}"));
        assert_eq!(out, "['a'] True ['a', 'b']");
    }
}

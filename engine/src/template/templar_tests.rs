//! Behaviour of the public [`Templar`] API and of the filter/test/lookup library through it,
//! one Ansible behaviour per test.

use super::*;
use serde_json::json;

fn ctx(v: Value) -> MjValue {
    MjValue::from_serialize(&v)
}

fn vars() -> MjValue {
    ctx(json!({
        "name": "web",
        "n": 5,
        "flag": "yes",
        "items": [3, 1, 2],
        "d": {"a": 1, "b": {"c": "x"}},
        "users": [{"name": "bob", "admin": true}, {"name": "al", "admin": false}],
        "res_ok": {"changed": true, "failed": false},
        "res_bad": {"failed": true, "changed": false},
        "res_skip": {"skipped": true, "changed": false},
        "loop_res": {"results": [{"changed": false}, {"changed": true}]},
        "empty": "",
        "nothing": null,
    }))
}

fn r(s: &str) -> Value {
    match Templar::new().render_str(s, &vars()) {
        Ok(v) => v,
        Err(e) => panic!("render of {s:?} failed: {e}"),
    }
}

/// A bare expression's value: for tests of what a filter returns, apart from templating.
fn e(s: &str) -> Value {
    match Templar::new().eval_expr(s, &vars()) {
        Ok(v) => v,
        Err(e) => panic!("eval of {s:?} failed: {e}"),
    }
}

fn err(s: &str) -> TemplateError {
    match Templar::new().render_str(s, &vars()) {
        Ok(v) => panic!("render of {s:?} should fail, got {v}"),
        Err(e) => e,
    }
}

fn cond(s: &str) -> bool {
    match Templar::new().eval_condition(s, &vars()) {
        Ok(b) => b,
        Err(e) => panic!("condition {s:?} failed: {e}"),
    }
}

#[test]
fn templar_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Templar>();
}

#[test]
fn plain_string_is_returned_as_is() {
    assert_eq!(r("no template here"), json!("no template here"));
}

#[test]
fn single_expression_keeps_native_type() {
    assert_eq!(r("{{ [1, 2] }}"), json!([1, 2]));
    assert_eq!(r("{{ n }}"), json!(5));
    assert_eq!(r("{{ n }}\n"), json!(5));
    assert_eq!(r("{{ 'a' }}"), json!("a"));
    assert_eq!(r("{{ true }}"), json!(true));
    assert_eq!(r("{{ d }}"), json!({"a": 1, "b": {"c": "x"}}));
    assert_eq!(r("{{ items }}\n"), json!([3, 1, 2]));
}

#[test]
fn computed_numbers_and_text_around_an_expression_give_strings_like_ansible_2_18() {
    assert_eq!(r("{{ 5 }}"), json!("5"));
    assert_eq!(r("{{ n + 1 }}\n"), json!("6\n"));
    assert_eq!(r("{{ 1.5 * 2 }}"), json!("3.0"));
    assert_eq!(r("  {{ items }}"), json!("  [3, 1, 2]"));
    assert_eq!(r("{{ items }} "), json!([3, 1, 2]));
    assert_eq!(r("{{ name }}\n\n"), json!("web\n\n"));
    assert_eq!(r("{{ nothing }}"), json!(null));
    assert_eq!(r("{{ d.a if nothing is none else 0 }}"), json!("1"));
    assert_eq!(r("{{ [nothing][0] }}"), json!(""));
}

#[test]
fn mixed_template_is_a_string_with_python_spelling() {
    assert_eq!(r("{{ n }}-y"), json!("5-y"));
    assert_eq!(
        r("{{ true }} {{ nothing }} {{ ['a'] }}"),
        json!("True  ['a']")
    );
}

#[test]
fn string_result_that_reads_as_python_literal_is_converted_like_ansible_2_18() {
    assert_eq!(r("[{{ n }}, '{{ name }}']"), json!([5, "web"]));
    assert_eq!(r("{{ '[1, 2]' }}"), json!([1, 2]));
    assert_eq!(
        r("{{ d | to_json | trim }}"),
        json!({"a": 1, "b": {"c": "x"}})
    );
    assert_eq!(r("{{ 'True' }}"), json!(true));
    assert_eq!(r("{{ '5' }}"), json!("5"));
}

#[test]
fn string_type_filter_output_stays_text_like_ansible_2_18() {
    assert_eq!(
        r("{{ d | to_json }}"),
        json!("{\"a\": 1, \"b\": {\"c\": \"x\"}}")
    );
    assert_eq!(
        r("{{ (d | to_json) }}\n"),
        json!("{\"a\": 1, \"b\": {\"c\": \"x\"}}\n")
    );
    assert_eq!(r("x{{ d.b | to_json }}"), json!("x{\"c\": \"x\"}"));
    assert_eq!(r("{{ '[1]' | string }}"), json!("[1]"));
}

#[test]
fn top_level_null_prints_as_nothing_inside_text() {
    assert_eq!(r("x{{ nothing }}y"), json!("xy"));
    assert_eq!(r("x{{ [nothing] }}"), json!("x[None]"));
}

#[test]
fn undefined_variable_output_names_it() {
    let e = err("{{ missing }}");
    assert_eq!(e.msg, "'missing' is undefined");
    assert_eq!(e.undefined.as_deref(), Some("missing"));
    assert_eq!(
        err("x {{ missing }} y").undefined.as_deref(),
        Some("missing")
    );
}

#[test]
fn attribute_of_undefined_output_names_the_root() {
    assert_eq!(err("{{ missing.bar }}").msg, "'missing' is undefined");
    assert_eq!(err("a {{ missing.bar }}").msg, "'missing' is undefined");
}

#[test]
fn missing_attribute_output_says_dict_object() {
    assert_eq!(
        err("{{ d.nope }}").msg,
        "'dict object' has no attribute 'nope'"
    );
    assert_eq!(
        err("x{{ d.b.nope }}").undefined.as_deref(),
        Some("d.b.nope")
    );
}

#[test]
fn defined_tests_never_fail_on_undefined() {
    assert!(!cond("missing is defined"));
    assert!(!cond("missing.bar is defined"));
    assert!(!cond("missing.bar.baz is defined"));
    assert!(!cond("d.nope.deeper is defined"));
    assert!(cond("missing is undefined"));
    assert!(cond("d.b.c is defined"));
    assert!(cond("missing.x is not defined"));
}

#[test]
fn default_filter_covers_undefined_chains() {
    assert_eq!(r("{{ missing | default('x') }}"), json!("x"));
    assert_eq!(r("{{ missing.bar | default('x') }}"), json!("x"));
    assert_eq!(r("{{ missing.bar | d('x') }}-z"), json!("x-z"));
    assert_eq!(r("{{ empty | default('x') }}"), json!(""));
    assert_eq!(r("{{ empty | default('x', true) }}"), json!("x"));
}

#[test]
fn undefined_in_if_is_an_error() {
    let e = Templar::new()
        .eval_condition("missing", &vars())
        .unwrap_err();
    assert_eq!(e.undefined.as_deref(), Some("missing"));
    assert!(Templar::new()
        .render_text("{% for x in missing %}{% endfor %}", &vars())
        .is_err());
}

#[test]
fn undefined_filter_input_is_an_error() {
    assert_eq!(err("{{ missing | upper }}").msg, "'missing' is undefined");
}

#[test]
fn mandatory_names_the_variable() {
    assert_eq!(
        err("{{ missing | mandatory }}").msg,
        "Mandatory variable 'missing' not defined."
    );
    assert_eq!(err("{{ missing | mandatory('set it') }}").msg, "set it");
    assert_eq!(e("n | mandatory"), json!(5));
}

#[test]
fn conditions_follow_python_truthiness() {
    assert!(cond("n > 3 and name == 'web'"));
    assert!(!cond("empty"));
    assert!(cond("flag | bool"));
    assert!(cond(""));
    assert!(cond("{{ n > 3 }}"));
    assert!(!cond("{{ empty }}"));
    assert!(cond("True"));
}

#[test]
fn eval_expr_returns_native_values() {
    let t = Templar::new();
    assert_eq!(
        t.eval_expr("items | sort", &vars()).ok(),
        Some(json!([1, 2, 3]))
    );
    assert_eq!(
        t.eval_expr("missing", &vars()).map_err(|e| e.undefined),
        Err(Some("missing".into()))
    );
}

#[test]
fn render_text_trims_blocks_and_keeps_trailing_newline() {
    let t = Templar::new();
    let out = t
        .render_text(
            "{% for i in items %}\n  {{ i }}\n{% endfor %}\nend\n",
            &vars(),
        )
        .ok();
    assert_eq!(out.as_deref(), Some("  3\n  1\n  2\nend\n"));
}

#[test]
fn render_value_recurses_into_keys_and_values() {
    let t = Templar::new();
    let v = json!({"{{ name }}_k": ["{{ n }}", {"x": "{{ d.a }}"}], "plain": 1});
    assert_eq!(
        t.render_value(&v, &vars()).ok(),
        Some(json!({"web_k": [5, {"x": "1"}], "plain": 1}))
    );
}

#[test]
fn referenced_vars_lists_top_level_names_without_functions() {
    let t = Templar::new();
    let names = t.referenced_vars(
        "{{ hostvars[h].x | default(lookup('env', 'HOME')) }} {% for g in groups.all %}{{ g }}{% endfor %}",
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        vec!["groups", "h", "hostvars"]
    );
    assert!(t.referenced_vars("foo is defined").contains("foo"));
}

#[test]
fn python_methods_work_on_values() {
    assert_eq!(
        r("{{ name.startswith('w') and name.endswith('b') }}"),
        json!(true)
    );
    assert_eq!(r("{{ ' a b '.strip().split(' ') }}"), json!(["a", "b"]));
    assert_eq!(e("d.get('zz', 7)"), json!(7));
    assert_eq!(r("{{ d.keys() | list }}"), json!(["a", "b"]));
    assert_eq!(e("items.index(1)"), json!(1));
    assert_eq!(r("{{ '{}-{}'.format(name, n) }}"), json!("web-5"));
    assert_eq!(r("{{ name.upper().replace('W', 'X') }}"), json!("XEB"));
}

#[test]
fn bool_filter_uses_ansible_words() {
    assert_eq!(
        r("{{ ['yes', 'On', '1', 'TRUE', 1, true, 'no', 'y', 0, none] | map('bool') | list }}"),
        json!([true, true, true, true, true, true, false, false, false, false])
    );
}

#[test]
fn int_and_float_filters_follow_jinja2() {
    assert_eq!(e("'42' | int"), json!(42));
    assert_eq!(e("'4.7' | int"), json!(4));
    assert_eq!(e("'abc' | int"), json!(0));
    assert_eq!(e("'abc' | int(7)"), json!(7));
    assert_eq!(e("'0x1f' | int(base=16)"), json!(31));
    assert_eq!(e("'1.5' | float"), json!(1.5));
    assert_eq!(e("['1', '2'] | map('int') | sum"), json!(3));
}

#[test]
fn string_filter_uses_python_str() {
    assert_eq!(r("x{{ true | string }}"), json!("xTrue"));
    // `string` is one of Ansible's STRING_TYPE_FILTERS: its output is not literal-evaluated.
    assert_eq!(r("{{ true | string }}"), json!("True"));
    assert_eq!(r("{{ 'True' | lower | capitalize }}"), json!(true));
    assert_eq!(r("{{ [1, 'a'] | join(',') }}"), json!("1,a"));
    assert_eq!(r("{{ [true, none] | join }}"), json!("TrueNone"));
    assert_eq!(
        r("{{ users | join(', ', attribute='name') }}"),
        json!("bob, al")
    );
}

#[test]
fn string_filters() {
    assert_eq!(r("{{ 'hELLO wORLD' | capitalize }}"), json!("Hello world"));
    assert_eq!(r("{{ 'a,b,,c' | split(',') }}"), json!(["a", "b", "", "c"]));
    assert_eq!(r("{{ '  a  b ' | split }}"), json!(["a", "b"]));
    assert_eq!(r("{{ 'aaa' | replace('a', 'b', 2) }}"), json!("bba"));
    assert_eq!(r("{{ '  x ' | trim }}"), json!("x"));
    assert_eq!(r("{{ 'abc' | first }}{{ 'abc' | last }}"), json!("ac"));
    assert_eq!(e("'abc' | length"), json!(3));
    assert_eq!(r("{{ '%s-%s' | format('a', 3) }}"), json!("a-3"));
}

#[test]
fn ternary_with_none_value() {
    assert_eq!(r("{{ (n > 1) | ternary('big', 'small') }}"), json!("big"));
    assert_eq!(r("{{ nothing | ternary('t', 'f', 'n') }}"), json!("n"));
    assert_eq!(r("{{ nothing | ternary('t', 'f') }}"), json!("f"));
}

#[test]
fn collection_builtins_behave_like_jinja2() {
    assert_eq!(
        r("{{ users | map(attribute='name') | list }}"),
        json!(["bob", "al"])
    );
    assert_eq!(
        r("{{ users | selectattr('admin') | map(attribute='name') | list }}"),
        json!(["bob"])
    );
    assert_eq!(
        r("{{ users | rejectattr('admin') | map(attribute='name') | first }}"),
        json!("al")
    );
    assert_eq!(r("{{ items | select('gt', 1) | list }}"), json!([3, 2]));
    assert_eq!(r("{{ items | reject('eq', 1) | list }}"), json!([3, 2]));
    assert_eq!(
        r("{{ users | sort(attribute='name') | map(attribute='name') | list }}"),
        json!(["al", "bob"])
    );
    assert_eq!(r("{{ items | sort(reverse=true) }}"), json!([3, 2, 1]));
    assert_eq!(r("{{ [1, 1, 2] | unique | list }}"), json!([1, 2]));
    assert_eq!(r("{{ items | min }}{{ items | max }}"), json!("13"));
}

#[test]
fn flatten_levels_and_nulls() {
    assert_eq!(
        r("{{ [1, [2, [3, [4]]], none] | flatten }}"),
        json!([1, 2, 3, 4])
    );
    assert_eq!(
        r("{{ [1, [2, [3]]] | flatten(levels=1) }}"),
        json!([1, 2, [3]])
    );
    assert_eq!(
        r("{{ [1, none] | flatten(skip_nulls=false) }}"),
        json!([1, null])
    );
}

#[test]
fn combine_shallow_recursive_and_list_merge() {
    assert_eq!(
        r("{{ {'a': {'x': 1}, 'l': [1]} | combine({'a': {'y': 2}}) }}"),
        json!({"a": {"y": 2}, "l": [1]})
    );
    assert_eq!(
        r("{{ {'a': {'x': 1}} | combine({'a': {'y': 2}}, recursive=true) }}"),
        json!({"a": {"x": 1, "y": 2}})
    );
    assert_eq!(
        r("{{ {'l': [1, 2]} | combine({'l': [2, 3]}, list_merge='append_rp') }}"),
        json!({"l": [1, 2, 3]})
    );
    assert_eq!(
        r("{{ {'a': 1} | combine([{'b': 2}, {'a': 3}]) }}"),
        json!({"a": 3, "b": 2})
    );
}

#[test]
fn dict2items_and_items2dict() {
    assert_eq!(
        r("{{ {'a': 1} | dict2items }}"),
        json!([{"key": "a", "value": 1}])
    );
    assert_eq!(
        r("{{ {'a': 1} | dict2items(key_name='k', value_name='v') }}"),
        json!([{"k": "a", "v": 1}])
    );
    assert_eq!(
        r("{{ [{'key': 'a', 'value': 1}] | items2dict }}"),
        json!({"a": 1})
    );
}

#[test]
fn community_general_dict_makes_a_dict_of_pairs() {
    assert_eq!(
        r("{{ ['ID=debian', 'VERSION_ID=12'] | map('split', '=') | community.general.dict }}"),
        json!({"ID": "debian", "VERSION_ID": "12"})
    );
    assert_eq!(r("{{ [['a', 1]] | dict }}"), json!({"a": 1}));
}

#[test]
fn set_filters_keep_order_and_dedupe() {
    assert_eq!(r("{{ [1, 2, 2, 3] | difference([2]) }}"), json!([1, 3]));
    assert_eq!(r("{{ [1, 2, 3] | intersect([3, 1]) }}"), json!([1, 3]));
    assert_eq!(r("{{ [1, 2] | union([2, 3]) }}"), json!([1, 2, 3]));
    assert_eq!(
        r("{{ [1, 2] | symmetric_difference([2, 3]) }}"),
        json!([1, 3])
    );
    assert_eq!(
        r("{{ [1, 2] | zip(['a', 'b']) | list }}"),
        json!([[1, "a"], [2, "b"]])
    );
}

#[test]
fn extract_maps_names_through_a_container() {
    assert_eq!(r("{{ ['a'] | map('extract', d) | list }}"), json!([1]));
    assert_eq!(
        r("{{ ['b'] | map('extract', d, 'c') | list }}"),
        json!(["x"])
    );
}

#[test]
fn json_filters_match_python_json_dumps() {
    assert_eq!(
        r("x{{ {'b': 1, 'a': [true, none, 1.0, 'é']} | to_json }}"),
        json!("x{\"b\": 1, \"a\": [true, null, 1.0, \"\\u00e9\"]}")
    );
    assert_eq!(
        r("x{{ {'b': 1, 'a': [1]} | to_nice_json }}"),
        json!("x{\n    \"a\": [\n        1\n    ],\n    \"b\": 1\n}")
    );
    assert_eq!(
        r("{{ '{\"a\": [1, 2]}' | from_json }}"),
        json!({"a": [1, 2]})
    );
}

#[test]
fn yaml_filters_round_trip() {
    assert_eq!(
        r("{{ 'a: [1, 2]\\nb: yes' | from_yaml }}"),
        json!({"a": [1, 2], "b": true})
    );
    assert_eq!(
        r("{{ ({'k': ['v']} | to_yaml) | from_yaml }}"),
        json!({"k": ["v"]})
    );
    assert_eq!(
        r("x{{ {'k': {'j': 1}} | to_nice_yaml }}"),
        json!("xk:\n    j: 1\n")
    );
}

#[test]
fn indent_filter_has_jinja2_signature() {
    assert_eq!(
        r("x{{ 'a\\nb\\n\\nc' | indent(2) }}"),
        json!("xa\n  b\n\n  c")
    );
    assert_eq!(r("x{{ 'a\\nb' | indent(2, true) }}"), json!("x  a\n  b"));
    assert_eq!(
        r("x{{ 'a\\n\\nb' | indent(width=2, blank=true) }}"),
        json!("xa\n  \n  b")
    );
}

#[test]
fn base64_and_hash() {
    assert_eq!(r("{{ 'hello' | b64encode }}"), json!("aGVsbG8="));
    assert_eq!(r("{{ 'aGVsbG8=' | b64decode }}"), json!("hello"));
    assert_eq!(
        r("{{ 'hello' | hash('sha1') }}"),
        json!("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d")
    );
    assert_eq!(
        r("{{ 'hello' | checksum }}"),
        json!("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d")
    );
}

#[test]
fn path_filters() {
    assert_eq!(r("{{ '/etc/ssl/a.pem' | basename }}"), json!("a.pem"));
    assert_eq!(r("{{ '/etc/ssl/a.pem' | dirname }}"), json!("/etc/ssl"));
    assert_eq!(r("{{ 'a.tar.gz' | splitext }}"), json!(["a.tar", ".gz"]));
    assert_eq!(r("{{ \"it's\" | quote }}"), json!("'it'\"'\"'s'"));
}

#[test]
fn regex_replace_python_semantics() {
    assert_eq!(
        r("{{ 'ab12' | regex_replace('([a-z]+)(\\\\d+)', '\\\\2-\\\\1') }}"),
        json!("12-ab")
    );
    assert_eq!(
        r("{{ 'k=v' | regex_replace('(?P<k>\\\\w)=(?P<v>\\\\w)', '\\\\g<v>=\\\\g<k>') }}"),
        json!("v=k")
    );
    assert_eq!(
        r("{{ 'foobar' | regex_replace('foo(?=bar)', 'X') }}"),
        json!("Xbar")
    );
    assert_eq!(
        r("{{ 'ABC' | regex_replace('b', 'x', ignorecase=true) }}"),
        json!("AxC")
    );
    assert_eq!(
        r("{{ 'a\\nb' | regex_replace('^', '> ', multiline=true) }}"),
        json!("> a\n> b")
    );
    assert_eq!(
        r("{{ 'aaa' | regex_replace('a', 'b', count=2) }}"),
        json!("bba")
    );
}

#[test]
fn regex_search_and_findall() {
    assert_eq!(
        r("{{ 'v1.28.3' | regex_search('\\\\d+\\\\.\\\\d+') }}"),
        json!("1.28")
    );
    assert_eq!(
        r("{{ 'v1.28' | regex_search('(\\\\d+)\\\\.(\\\\d+)', '\\\\2', '\\\\1') }}"),
        json!(["28", "1"])
    );
    assert_eq!(e("'abc' | regex_search('z')"), json!(null));
    assert_eq!(
        r("{{ 'a1b22' | regex_findall('\\\\d+') }}"),
        json!(["1", "22"])
    );
    assert_eq!(
        r("{{ 'a=1 b=2' | regex_findall('(\\\\w)=(\\\\d)') }}"),
        json!([["a", "1"], ["b", "2"]])
    );
    assert_eq!(r("{{ 'a.b' | regex_escape }}"), json!("a\\.b"));
}

#[test]
fn regex_tests_anchor_as_python() {
    assert!(cond("'foobar' is match('foo')"));
    assert!(!cond("'foobar' is match('bar')"));
    assert!(cond("'foobar' is search('bar')"));
    assert!(cond("'foobar' is regex('BAR', ignorecase=true)"));
}

#[test]
fn result_tests_read_registered_dicts() {
    assert!(cond(
        "res_ok is succeeded and res_ok is success and res_ok is changed"
    ));
    assert!(cond(
        "res_bad is failed and res_bad is failure and res_bad is not changed"
    ));
    assert!(cond("res_skip is skipped"));
    assert!(cond("loop_res is changed"));
    assert!(Templar::new()
        .eval_condition("name is failed", &vars())
        .is_err());
}

#[test]
fn version_tests() {
    assert!(cond("'1.10' is version('1.9', '>')"));
    assert!(cond("'1.2' is version_compare('1.2.0', 'lt')"));
    assert!(cond("'1.28.3' is version('1.28', operator='ge')"));
    assert!(cond(
        "'1.0.0-rc.1' is version('1.0.0', '<', version_type='semver')"
    ));
    assert!(cond("'1.0' is version('1.0.0', '==', strict=true)"));
}

#[test]
fn type_and_membership_tests() {
    assert!(cond(
        "name is string and n is number and n is integer and 1.5 is float"
    ));
    assert!(cond(
        "d is mapping and items is sequence and name is iterable and true is boolean"
    ));
    assert!(cond(
        "2 is in items and items is contains(3) and 'e' in name"
    ));
    assert!(cond("[1] is subset(items) and items is superset([1, 2])"));
    assert!(cond("name is truthy and empty is falsy"));
    assert!(cond(
        "n is eq 5 and n is ne 4 and n is gt 4 and n is ge 5 and n is lt 6 and n is le 5"
    ));
    assert!(cond("nothing is none and n is equalto 5"));
    assert!(cond("'/' is directory and '/' is exists and '/' is abs"));
}

#[test]
fn env_lookup_with_default() {
    let t = Templar::new();
    let c = ctx(json!({}));
    assert_eq!(
        t.render_str(
            "{{ lookup('env', 'KPLAY_SURELY_UNSET_VAR', default='d') }}",
            &c
        )
        .ok(),
        Some(json!("d"))
    );
    let path = std::env::var("PATH").unwrap_or_default();
    assert_eq!(
        t.render_str("{{ lookup('env', 'PATH') }}", &c).ok(),
        Some(json!(path))
    );
    assert_eq!(
        t.render_str("{{ query('env', 'KPLAY_SURELY_UNSET_VAR') }}", &c)
            .ok(),
        Some(json!([""]))
    );
}

#[test]
fn file_and_template_lookups_search_the_search_path() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("files"))?;
    std::fs::create_dir_all(dir.path().join("templates"))?;
    std::fs::write(dir.path().join("files/a.txt"), "hello\n\n")?;
    std::fs::write(
        dir.path().join("templates/t.j2"),
        "{% if true %}\nname={{ name }}\n{% endif %}\n",
    )?;
    let c = ctx(json!({"ansible_search_path": [dir.path().display().to_string()], "name": "web"}));
    let t = Templar::new();
    assert_eq!(
        t.render_str("{{ lookup('file', 'a.txt') }}", &c)?,
        json!("hello")
    );
    assert_eq!(
        t.render_str("{{ lookup('file', 'a.txt', rstrip=false) }}", &c)?,
        json!("hello\n\n")
    );
    assert_eq!(
        t.render_str("{{ lookup('template', 't.j2') }}", &c)?,
        json!("name=web\n")
    );
    let e = t
        .render_str("{{ lookup('file', 'nope.txt') }}", &c)
        .map_err(|e| e.msg);
    assert!(e.is_err_and(|m| m.contains("nope.txt")));
    Ok(())
}

#[test]
fn vars_lookup_reads_variables_by_name() {
    assert_eq!(r("{{ lookup('vars', 'na' ~ 'me') }}"), json!("web"));
    assert_eq!(
        r("{{ lookup('vars', 'missing', default='z') }}"),
        json!("z")
    );
    assert!(Templar::new()
        .render_str("{{ lookup('vars', 'missing') }}", &vars())
        .is_err());
}

#[test]
fn range_function_is_available() {
    assert_eq!(r("{{ range(3) | list }}"), json!([0, 1, 2]));
}

#[test]
fn syntax_error_is_reported_not_panicked() {
    assert!(Templar::new().render_str("{{ foo( }}", &vars()).is_err());
    assert!(Templar::new().eval_condition("foo ==", &vars()).is_err());
}

#[test]
fn negating_or_branching_on_undefined_is_an_error_naming_the_root() {
    assert_eq!(err("{{ not missing }}").msg, "'missing' is undefined");
    assert_eq!(
        err("{% if missing.b %}y{% endif %}").msg,
        "'missing' is undefined"
    );
    assert_eq!(
        err("{% for x in missing.b %}{{ x }}{% endfor %}").msg,
        "'missing' is undefined"
    );
    assert!(cond("missing is not defined and not missing2 is defined"));
    assert_eq!(r("{{ missing.b | default(5) }}"), json!("5"));
}

/// Results measured with ansible-core 2.18 (`debug: msg=...`).
#[test]
fn list_shaping_lookups_match_ansible() {
    let c = ctx(json!({"d": {"x": 1, "y": 2}}));
    let t = Templar::new();
    let r = |s: &str| t.render_str(s, &c).map_err(|e| e.msg);
    let pairs = json!([{"key": "x", "value": 1}, {"key": "y", "value": 2}]);
    assert_eq!(r("{{ lookup('dict', d) }}"), Ok(pairs.clone()));
    assert_eq!(r("{{ query('dict', d) }}"), Ok(pairs));
    assert_eq!(r("{{ lookup('items', [1, 2], 3) }}"), Ok(json!([1, 2, 3])));
    assert_eq!(r("{{ lookup('list', ['a', 'b']) }}"), Ok(json!(["a", "b"])));
    assert_eq!(
        r("x{{ lookup('sequence', 'start=1 end=3') }}"),
        Ok(json!("x1,2,3"))
    );
    assert_eq!(
        r("{{ query('sequence', 'start=1 end=3') }}"),
        Ok(json!(["1", "2", "3"]))
    );
    assert_eq!(
        r("{{ lookup('indexed_items', ['a', 'b']) }}"),
        Ok(json!([[0, "a"], [1, "b"]]))
    );
    assert_eq!(
        r("{{ query('nested', ['a', 'b'], [1, 2]) }}"),
        Ok(json!([["a", 1], ["a", 2], ["b", 1], ["b", 2]]))
    );
    assert_eq!(
        r("{{ query('together', ['a', 'b'], [1]) }}"),
        Ok(json!([["a", 1], ["b", null]]))
    );
}

#[test]
fn pipe_and_lines_lookups_run_on_the_controller() {
    let t = Templar::new();
    let c = vars();
    let pipe = t.render_str("{{ lookup('pipe', 'printf \"a b\\\\n\\\\n\"') }}", &c);
    assert_eq!(pipe.map_err(|e| e.msg), Ok(json!("a b")));
    let lines = t.render_str("{{ lookup('lines', 'printf \"a\\\\nb\\\\n\"') }}", &c);
    assert_eq!(lines.map_err(|e| e.msg), Ok(json!("a,b")));
    assert!(t.render_str("{{ lookup('pipe', 'exit 3') }}", &c).is_err());
}

#[test]
fn first_found_and_fileglob_search_files_then_the_directory(
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("files"))?;
    std::fs::write(dir.path().join("files/b.txt"), "b")?;
    std::fs::write(dir.path().join("c.txt"), "c")?;
    let c = ctx(json!({"ansible_search_path": [dir.path().display().to_string()]}));
    let t = Templar::new();
    let found = t.render_str(
        "{{ lookup('first_found', ['nope.txt', 'b.txt', 'c.txt']) | basename }}",
        &c,
    )?;
    assert_eq!(found, json!("b.txt"));
    let found = t.render_str(
        "{{ query('first_found', {'files': ['c.txt'], 'paths': [ansible_search_path[0]]}) | map('basename') | list }}",
        &c,
    )?;
    assert_eq!(found, json!(["c.txt"]));
    let globbed = t.render_str("{{ lookup('fileglob', '*.txt') | basename }}", &c)?;
    assert_eq!(globbed, json!("b.txt"));
    Ok(())
}

#[test]
fn comparing_an_undefined_chain_fails_unless_guarded_like_ansible() {
    // ansible-core 2.18: "The conditional check 'missing.bar == 1' failed ... 'missing' is undefined".
    for expr in [
        "missing.bar == 1",
        "missing.bar | length > 0",
        "missing['x'] != 'y'",
    ] {
        let e = Templar::new()
            .eval_condition(expr, &vars())
            .expect_err(expr);
        assert_eq!(e.undefined.as_deref(), Some("missing"), "{expr}: {e}");
    }
    assert!(err("{% if missing.bar == 1 %}y{% endif %}")
        .msg
        .contains("'missing' is undefined"));
    // The guarded idioms keep working.
    assert!(!cond("missing.bar is defined and missing.bar.baz == 1"));
    assert!(cond("missing.bar | default(1) == 1"));
    assert_eq!(
        r("{{ missing.bar.baz if missing.bar is defined else 'n' }}"),
        json!("n")
    );
}

#[test]
fn names_the_template_binds_itself_are_never_blamed() {
    for src in [
        "{% for k in ['nope'] %}{{ d[k] }}{% endfor %}",
        "{% set k = 'nope' %}{{ d[k] }}",
        "{% for i, k in [[1, 'nope']] %}{{ d[k] }}{% endfor %}",
    ] {
        let e = err(src);
        assert_ne!(e.undefined.as_deref(), Some("k"), "{src}: {}", e.msg);
        assert!(!e.msg.contains("'k' is undefined"), "{src}: {}", e.msg);
    }
    // A real undefined variable next to a loop variable is still named.
    assert_eq!(
        err("{% for k in [1] %}{{ k }}{{ nope }}{% endfor %}")
            .undefined
            .as_deref(),
        Some("nope")
    );
}

/// kplay's own filters cap what they build, like minijinja's own limits: these used to take
/// gigabytes (the first aborted the process at 2.8 GB).
#[test]
fn filter_results_are_capped_with_a_template_error() {
    for expr in [
        "range(12) | permutations | list | length",
        "range(40) | combinations(20) | list | length",
        "range(10) | product(range(10), repeat=4) | list | length",
        "'x' | center(10000000000)",
        "'a\nb' | indent(100000000)",
        "'x' | comment(prefix_count=100000000)",
    ] {
        let err = match Templar::new().eval_expr(expr, &vars()) {
            Ok(v) => panic!("{expr} gave {v}"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("limit"), "{expr}: {err}");
    }
    assert_eq!(e("range(5) | permutations(2) | list | length"), json!(20));
    assert_eq!(e("'ab' | center(6)"), json!("  ab  "));
}

/// A whole value that is `{{ x if c }}` with `c` false renders as "" (kubespray's
/// `_access_ips` list); a variable that does not exist is still an error.
#[test]
fn if_without_else_is_empty_as_a_whole_value() {
    assert_eq!(r("{{ n if nothing }}"), json!(""));
    let e = err("{{ no_such_var if n > 1 }}");
    assert!(e.to_string().contains("no_such_var"), "{e}");
}

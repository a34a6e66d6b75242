//! The validator against ansible-core's `ArgumentSpecValidator` behaviour.

use super::validate;
use crate::value::{Map, Value};
use serde_json::json;

fn map(v: Value) -> Map {
    v.as_object().cloned().unwrap_or_default()
}

fn errors(spec: Value, params: Value) -> Vec<String> {
    validate(&map(spec), &map(params)).errors
}

#[test]
fn missing_required_options_are_listed_sorted() {
    let spec = json!({"b": {"required": true}, "a": {"required": true}, "c": {}});
    assert_eq!(
        errors(spec, json!({})),
        vec!["missing required arguments: a, b"]
    );
}

#[test]
fn types_are_converted_or_reported() {
    let spec = json!({"port": {"type": "int"}, "names": {"type": "list", "elements": "int"}});
    let v = validate(
        &map(spec.clone()),
        &map(json!({"port": "80", "names": "1,2"})),
    );
    assert!(v.errors.is_empty(), "{:?}", v.errors);
    assert_eq!(v.params["port"], json!(80));
    assert_eq!(v.params["names"], json!([1, 2]));
    assert_eq!(
        errors(spec, json!({"names": ["x"]})),
        vec![
            "Elements value for option 'names' is of type <class 'str'> and we were unable to \
             convert to int: \"'x'\" cannot be converted to an int"
        ]
    );
}

#[test]
fn a_default_takes_part_in_the_check_only() {
    let spec = json!({"mode": {"type": "int", "default": "fast"}, "x": {"default": 1}});
    let v = validate(&map(spec), &Map::new());
    assert_eq!(
        v.errors,
        vec![
            "argument 'mode' is of type <class 'str'> and we were unable to convert to int: \
             \"'fast'\" cannot be converted to an int"
        ]
    );
    assert_eq!(v.params["x"], json!("1"));
}

#[test]
fn null_values_of_optional_options_pass() {
    let spec = json!({"port": {"type": "int"}});
    assert!(errors(spec, json!({"port": null})).is_empty());
}

#[test]
fn choices_for_values_and_lists() {
    let spec = json!({"state": {"choices": ["present", "absent"]},
                      "tags": {"type": "list", "choices": ["a", "b"]}});
    assert_eq!(
        errors(spec, json!({"state": "gone", "tags": ["a", "c"]})),
        vec![
            "value of state must be one of: present, absent, got: gone",
            "value of tags must be one or more of: a, b. Got no match for: c",
        ]
    );
}

#[test]
fn unsupported_parameters_come_last_with_the_supported_ones() {
    let spec = json!({"b": {}, "a": {"type": "int"}});
    assert_eq!(
        errors(spec, json!({"zz": 1, "a": "x"})),
        vec![
            "argument 'a' is of type <class 'str'> and we were unable to convert to int: \
             \"'x'\" cannot be converted to an int",
            "zz. Supported parameters include: a, b.",
        ]
    );
}

#[test]
fn nested_options_carry_their_context() {
    let spec = json!({"db": {"type": "dict", "options": {
        "host": {"required": true},
        "port": {"type": "int"},
        "user": {}, "socket": {},
    }, "mutually_exclusive": [["port", "socket"]]}});
    assert_eq!(
        errors(
            spec.clone(),
            json!({"db": {"port": "p", "socket": "/s", "x": 1}})
        ),
        vec![
            "parameters are mutually exclusive: port|socket found in db",
            "missing required arguments: host found in db",
            "argument 'port' is of type <class 'str'> found in 'db'. and we were unable to \
             convert to int: \"'p'\" cannot be converted to an int",
            "db.x. Supported parameters include: host, port, socket, user.",
        ]
    );
    let list_spec = json!({"users": {"type": "list", "elements": "dict",
        "options": {"name": {"required": true}}}});
    assert_eq!(
        errors(list_spec, json!({"users": [{"name": "a"}, {}]})),
        vec!["missing required arguments: name found in users"]
    );
}

#[test]
fn an_alias_sets_its_option_and_is_listed_as_supported() {
    let spec = json!({"name": {"aliases": ["n"], "required": true}, "port": {"type": "int"}});
    let v = validate(&map(spec.clone()), &map(json!({"n": "web"})));
    assert!(v.errors.is_empty(), "{:?}", v.errors);
    assert_eq!(v.params["name"], json!("web"));
    assert_eq!(
        errors(spec, json!({"n": "web", "bogus": 1})),
        vec!["bogus. Supported parameters include: name, port (n)."]
    );
    let bad = json!({"x": {"required": true, "default": 1}});
    assert_eq!(
        errors(bad, json!({"x": 2})),
        vec!["internal error: required and default are mutually exclusive for x"]
    );
}

#[test]
fn required_if_and_required_by_in_nested_options() {
    let spec = json!({"svc": {"type": "dict", "options": {
        "state": {}, "path": {}, "url": {}, "user": {}, "password": {}},
        "required_if": [["state", "present", ["path", "url"], true], ["state", "file", ["path", "user"]]],
        "required_by": {"user": "password"}}});
    assert_eq!(
        errors(spec.clone(), json!({"svc": {"state": "present"}})),
        vec!["state is present but any of the following are missing: path, url found in svc"]
    );
    assert!(errors(
        spec.clone(),
        json!({"svc": {"state": "present", "url": "u"}})
    )
    .is_empty());
    assert_eq!(
        errors(
            spec.clone(),
            json!({"svc": {"state": "file", "user": "u", "password": "p"}})
        ),
        vec!["state is file but all of the following are missing: path found in svc"]
    );
    assert_eq!(
        errors(spec, json!({"svc": {"user": "u", "password": null}})),
        vec!["missing parameter(s) required by 'user': password found in svc"]
    );
}

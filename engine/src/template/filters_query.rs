//! `json_query` (JMESPath, as community.general's filter) and `type_debug` (the Python type
//! name of a value).

use super::filters_time::DateTime;
use super::op_err;
use super::{from_json_value, to_json_value};
use minijinja::value::{Value as MjValue, ValueKind};
use minijinja::{Environment, Error};

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("json_query", json_query);
    env.add_filter("community.general.json_query", json_query);
    env.add_filter("type_debug", type_debug);
}

/// `data | json_query('expr')`.
fn json_query(v: &MjValue, expr: String) -> Result<MjValue, Error> {
    super::defined(v)?;
    let compiled = jmespath::compile(&expr)
        .map_err(|e| op_err(format!("JMESPathError in json_query filter plugin: {e}")))?;
    let data = to_json_value(v);
    let out = compiled
        .search(&data)
        .map_err(|e| op_err(format!("JMESPathError in json_query filter plugin: {e}")))?;
    let json = serde_json::to_value(&*out)
        .map_err(|e| op_err(format!("json_query: result is not JSON: {e}")))?;
    Ok(from_json_value(&json))
}

/// `value | type_debug`: Python's `type(value).__name__`.
fn type_debug(v: &MjValue) -> Result<MjValue, Error> {
    super::defined(v)?;
    let name = match v.kind() {
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if v.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Bytes => "bytes",
        ValueKind::Seq => "list",
        ValueKind::Map => "dict",
        _ if v.downcast_object_ref::<DateTime>().is_some() => "datetime",
        _ => "object",
    };
    Ok(MjValue::from(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(expr: &str) -> String {
        let mut env = Environment::new();
        register(&mut env);
        super::super::filters_time::register(&mut env);
        let ctx = minijinja::context! {
            domain => serde_json::json!({
                "cluster": [
                    {"name": "server11", "port": "8080", "status": "running"},
                    {"name": "server12", "port": "8090", "status": "stopped"},
                ]
            })
        };
        env.render_str(expr, ctx).unwrap()
    }

    #[test]
    fn json_query_examples_from_the_docs() {
        assert_eq!(
            r("{{ domain | json_query('cluster[*].name') | join(',') }}"),
            "server11,server12"
        );
        assert_eq!(
            r("{{ domain | json_query(\"cluster[?name=='server12'].port\") | first }}"),
            "8090"
        );
        assert_eq!(
            r("{{ domain | json_query('cluster[0].{n: name, p: port}') | tojson }}"),
            r#"{"n":"server11","p":"8080"}"#
        );
        assert_eq!(r("{{ domain | json_query('missing') }}"), "None");
    }

    #[test]
    fn type_names() {
        assert_eq!(
            r("{{ [1 | type_debug, 1.5 | type_debug, 'a' | type_debug, [] | type_debug, {} | type_debug, true | type_debug, none | type_debug, now() | type_debug] | join(' ') }}"),
            "int float str list dict bool NoneType datetime"
        );
    }
}

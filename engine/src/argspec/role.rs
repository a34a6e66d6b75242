//! A role's argument specs (`meta/argument_specs.yml`, else `argument_specs` in
//! `meta/main.yml`) and the implicit first task ansible-core gives a role whose entry point
//! has one: `validate_argument_spec` named "Validating arguments against arg spec '<entry>'",
//! tagged `always`, checking the role's variables and its role params.

use crate::error::LoadError;
use crate::playbook::action::Action;
use crate::playbook::role::find_in_dir;
use crate::playbook::{Inherited, Task, TaskContext};
use crate::span::Span;
use crate::value::{Map, Value};
use crate::yaml::Node;
use std::path::Path;

/// The action name the implicit task carries (as ansible-core's).
pub const ACTION: &str = "ansible.builtin.validate_argument_spec";

/// All entry points' specs of the role at `role_path` (`meta` is its loaded `meta/main`).
/// `meta/argument_specs.*` wins over `meta/main.yml`; the two are not merged.
pub fn role_specs(role_path: &Path, meta: Option<&Node>) -> Result<Map, LoadError> {
    let from = |doc: Option<&Node>| match doc.and_then(|d| d.get("argument_specs")) {
        Some(n) => match n.to_value() {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        None => Map::new(),
    };
    match find_in_dir(&role_path.join("meta"), "argument_specs") {
        Some(file) => {
            let doc = crate::playbook::load::load_single_doc(&file)?;
            Ok(from(Some(&doc)))
        }
        None => Ok(from(meta)),
    }
}

/// The validation task for entry point `entry` (`main` or `tasks_from`), if it has a spec.
/// `provided` are the role params (keys beside `role:` in a `roles:` entry).
pub fn validation_task(
    specs: &Map,
    entry: &str,
    ctx: &TaskContext,
    provided: &Map,
    span: &Span,
) -> Option<Task> {
    let spec = specs.get(entry)?.as_object()?;
    if spec.is_empty() {
        return None;
    }
    let role = ctx.role.as_ref()?;
    let mut name = format!("Validating arguments against arg spec '{entry}'");
    if let Some(d) = spec.get("short_description") {
        name = format!("{name} - {}", super::types::py_str(d));
    }
    let mut context = Map::new();
    context.insert("type".into(), "role".into());
    context.insert("name".into(), role.name.clone().into());
    context.insert("argument_spec_name".into(), entry.into());
    context.insert("path".into(), role.path.display().to_string().into());
    let mut args = Map::new();
    args.insert(
        "argument_spec".into(),
        spec.get("options")
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new())),
    );
    args.insert("provided_arguments".into(), Value::Object(provided.clone()));
    args.insert("validate_args_context".into(), Value::Object(context));
    Some(Task::implicit(
        &name,
        span.clone(),
        ACTION,
        Action::ValidateArgSpec,
        args,
        Inherited::default(),
        ctx.clone(),
    ))
}

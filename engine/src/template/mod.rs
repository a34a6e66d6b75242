//! Templating: Ansible's Jinja2 dialect on minijinja.
//!
//! [`Templar`] is built once per run and shared (`Arc<Templar>`). It holds two environments
//! with the same filters, tests and functions, differing only in undefined handling (see
//! [`undefined`] for why). The filter/test/lookup library is split by family into the
//! `filters_*`, `jinja_tests` (Jinja tests: `is failed`, `is version` …) and `lookups` files, each
//! with unit tests showing Ansible's behaviour.

mod bare_undefined;
mod convert;
mod filters_collections;
mod filters_crypt;
mod filters_data;
mod filters_itertools;
mod filters_math;
mod filters_net;
mod filters_path;
mod filters_query;
mod filters_random;
mod filters_regex;
mod filters_strings;
mod filters_text;
mod filters_time;
mod filters_units;
mod filters_url;
pub mod fqcn;
mod globals;
mod jinja_tests;
mod jinja_tests_more;
mod limits;
pub mod literal;
pub mod lookup_config;
mod lookup_url;
mod lookups;
mod lookups_more;
mod native;
mod pep440;
mod undefined;

#[cfg(test)]
mod templar_tests;

pub use convert::{from_json_value, to_json_value};
pub use literal::literal_eval;
pub use native::python_repr;

use crate::value::{truthy, Value};
use minijinja::value::{Value as MjValue, ValueKind};
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};
use std::collections::BTreeSet;
use undefined::Scope;

/// A template failed: bad syntax, a failing filter, or an undefined variable.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{msg}")]
pub struct TemplateError {
    pub msg: String,
    /// The undefined variable when that is the cause: its name (`foo`) when the variable itself
    /// is undefined, or the access path (`foo.bar`) when an attribute is missing.
    pub undefined: Option<String>,
}

/// The templating engine with Ansible's filters, tests, lookups and undefined semantics.
pub struct Templar {
    /// Strict undefined: what every template renders with first.
    env: Environment<'static>,
    /// Chainable undefined, for the retry described in [`undefined`].
    chain_env: Environment<'static>,
}

impl Default for Templar {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Templar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Templar")
    }
}

impl Templar {
    pub fn new() -> Templar {
        Templar {
            env: build_env(UndefinedBehavior::Strict),
            chain_env: build_env(UndefinedBehavior::Chainable),
        }
    }

    /// Whether `s` holds any Jinja2 syntax at all.
    pub fn is_template(s: &str) -> bool {
        s.contains("{{") || s.contains("{%") || s.contains("{#")
    }

    /// Ansible 2.18 semantics for a string value (details in [`native`]): no template → returned
    /// as is (no minijinja call); exactly `{{ name }}` of a bool/number/null variable → that
    /// value; one `{{ expr }}` node giving a list/dict → that value; anything else → the
    /// rendered text, literal-evaluated when it reads as a Python list/dict/bool, with the
    /// source's trailing newlines restored on a string result.
    pub fn render_str(&self, s: &str, ctx: &MjValue) -> Result<Value, TemplateError> {
        if !Self::is_template(s) {
            return Ok(Value::String(s.to_string()));
        }
        let scope = Scope::wrap(ctx);
        if let Some(name) = native::single_var(s) {
            if let Ok(v) = scope.get_attr(name) {
                if matches!(
                    v.kind(),
                    ValueKind::Bool | ValueKind::Number | ValueKind::None
                ) {
                    return Ok(to_json_value(&v));
                }
            }
        }
        let src = native::strip_one_newline(s);
        let result = match native::single_expression(src) {
            Some(expr) if self.env.compile_expression(expr).is_ok() => {
                match self.eval_lenient(expr, &scope)? {
                    // `{{ x if c }}` with `c` false: the string render prints nothing (and
                    // still refuses a variable that is really undefined).
                    v if v.is_undefined() => {
                        native::string_result(self.render_scoped(src, &scope)?)
                    }
                    v => native::single_node_result(expr, &v),
                }
            }
            _ => native::string_result(self.render_scoped(src, &scope)?),
        };
        Ok(match result {
            Value::String(mut text) => {
                let missing =
                    native::trailing_newlines(s).saturating_sub(native::trailing_newlines(&text));
                text.push_str(&"\n".repeat(missing));
                Value::String(text)
            }
            other => other,
        })
    }

    /// Recursive [`render_str`](Self::render_str) over lists and maps (keys too).
    pub fn render_value(&self, v: &Value, ctx: &MjValue) -> Result<Value, TemplateError> {
        match v {
            Value::String(s) => self.render_str(s, ctx),
            Value::Array(items) => items
                .iter()
                .map(|x| self.render_value(x, ctx))
                .collect::<Result<_, _>>()
                .map(Value::Array),
            Value::Object(m) => {
                let mut out = crate::value::Map::new();
                for (k, x) in m {
                    let key = if Self::is_template(k) {
                        crate::value::to_display_string(&self.render_str(k, ctx)?)
                    } else {
                        k.clone()
                    };
                    out.insert(key, self.render_value(x, ctx)?);
                }
                Ok(Value::Object(out))
            }
            other => Ok(other.clone()),
        }
    }

    /// The `template` module / `lookup('template')`: the whole text, `trim_blocks` on,
    /// `lstrip_blocks` off, trailing newline kept, no type conversion.
    pub fn render_text(&self, text: &str, ctx: &MjValue) -> Result<String, TemplateError> {
        self.render_scoped(text, &Scope::wrap(ctx))
    }

    /// A bare expression (`var:`, `that:`): its native value. An undefined result is an error.
    pub fn eval_expr(&self, expr: &str, ctx: &MjValue) -> Result<Value, TemplateError> {
        let v = self.eval_scoped(expr, &Scope::wrap(ctx))?;
        Ok(to_json_value(&v))
    }

    /// `when` / `changed_when` / `failed_when` / `until`, as ansible-core 2.18 evaluates them:
    /// a conditional holding `{{ }}` is templated first (a bool result is the answer, an empty
    /// one is false, a string is then evaluated as the expression); the expression is run as
    /// `{% if expr %}True{% else %}False{% endif %}`, i.e. Python truthiness, with undefined
    /// variables an error. An empty conditional is true.
    pub fn eval_condition(&self, expr: &str, ctx: &MjValue) -> Result<bool, TemplateError> {
        let mut cond = expr.trim().to_string();
        if Self::is_template(&cond) {
            match self.render_str(&cond, ctx)? {
                Value::Bool(b) => return Ok(b),
                Value::String(s) => cond = s.trim().to_string(),
                other => return Ok(truthy(&other)),
            }
            if cond.is_empty() {
                return Ok(false);
            }
        }
        if cond.is_empty() {
            return Ok(true);
        }
        let src = format!("{{% if {cond} %}}True{{% else %}}False{{% endif %}}");
        let out = self.render_scoped(&src, &Scope::wrap(ctx))?;
        Ok(out.trim() == "True")
    }

    /// Top-level variable names a template (or, when `s` holds no template syntax, a bare
    /// expression) reads. Names of functions and globals (`lookup`, `range`) are left out.
    pub fn referenced_vars(&self, s: &str) -> BTreeSet<String> {
        let names = if Self::is_template(s) {
            self.env
                .template_from_str(s)
                .map(|t| t.undeclared_variables(false))
                .unwrap_or_default()
        } else {
            self.env
                .compile_expression(s)
                .map(|e| e.undeclared_variables(false))
                .unwrap_or_default()
        };
        names
            .into_iter()
            .filter(|n| !self.env.globals().any(|(g, _)| g == n))
            .collect()
    }

    /// Evaluates an expression against an already wrapped scope, with the undefined retry.
    fn eval_scoped(&self, expr: &str, scope: &MjValue) -> Result<MjValue, TemplateError> {
        let v = self.eval_lenient(expr, scope)?;
        if v.is_undefined() {
            return Err(undefined_result(expr, scope));
        }
        Ok(v)
    }

    /// [`Self::eval_scoped`] that leaves an undefined result to the caller.
    fn eval_lenient(&self, expr: &str, scope: &MjValue) -> Result<MjValue, TemplateError> {
        let run =
            |env: &Environment<'static>| env.compile_expression(expr).and_then(|e| e.eval(scope));
        self.with_retry(expr, scope, run)
    }

    /// Renders a whole template against an already wrapped scope, with the undefined retry.
    fn render_scoped(&self, src: &str, scope: &MjValue) -> Result<String, TemplateError> {
        self.with_retry(src, scope, |env| env.render_str(src, scope))
    }

    fn with_retry<T>(
        &self,
        src: &str,
        scope: &MjValue,
        run: impl Fn(&Environment<'static>) -> Result<T, Error>,
    ) -> Result<T, TemplateError> {
        match run(&self.env) {
            Ok(v) => Ok(v),
            Err(e) => {
                let cause = undefined::explain(&e, src, scope);
                let bare = cause
                    .error
                    .undefined
                    .as_deref()
                    .is_some_and(|path| bare_undefined::used_bare(src, path));
                if !cause.chained || bare || !bare_undefined::may_guard(src) {
                    return Err(cause.error);
                }
                run(&self.chain_env).map_err(|e2| undefined::explain(&e2, src, scope).error)
            }
        }
    }
}

/// The error for an expression whose value is undefined: names the variable that is.
fn undefined_result(expr: &str, scope: &MjValue) -> TemplateError {
    let err = Error::new(ErrorKind::UndefinedError, "undefined value");
    let cause = undefined::explain(&err, expr, scope);
    if cause.error.undefined.is_some() {
        return cause.error;
    }
    TemplateError {
        msg: format!("'{}' is undefined", expr.trim()),
        undefined: Some(expr.trim().to_string()),
    }
}

/// One environment with Ansible's settings and library.
fn build_env(behavior: UndefinedBehavior) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(behavior);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(false);
    env.set_keep_trailing_newline(true);
    env.set_debug(true);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    let strict = behavior == UndefinedBehavior::Strict;
    env.set_formatter(move |out, _state, value| {
        if value.is_undefined() {
            // Strict mode has already refused real undefined values; what reaches here is the
            // silent undefined of `{{ x if c }}`, printed as nothing.
            if strict {
                return Ok(());
            }
            return Err(Error::from(ErrorKind::UndefinedError));
        }
        out.write_str(&native::finalized_str(value))
            .map_err(|_| Error::new(ErrorKind::WriteFailure, "write failed"))
    });
    env.set_unknown_method_callback(filters_strings::unknown_method);
    filters_strings::register(&mut env);
    filters_collections::register(&mut env);
    filters_itertools::register(&mut env);
    filters_units::register(&mut env);
    filters_random::register(&mut env);
    filters_data::register(&mut env);
    filters_path::register(&mut env);
    filters_math::register(&mut env);
    filters_regex::register(&mut env);
    filters_text::register(&mut env);
    filters_url::register(&mut env);
    filters_time::register(&mut env);
    filters_net::register(&mut env);
    filters_crypt::register(&mut env);
    filters_query::register(&mut env);
    jinja_tests::register(&mut env);
    jinja_tests_more::register(&mut env);
    globals::register(&mut env);
    fqcn::register(&mut env);
    lookups::register(&mut env);
    env
}

/// Shorthand for filter errors.
pub(crate) fn op_err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// Rejects an undefined filter input with the error the naming step turns into `'x' is undefined`.
pub(crate) fn defined(v: &MjValue) -> Result<(), Error> {
    if v.is_undefined() {
        Err(Error::from(ErrorKind::UndefinedError))
    } else {
        Ok(())
    }
}

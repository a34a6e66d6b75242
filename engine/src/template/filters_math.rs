//! Ansible's math filters (`log`, `pow`, `root`): Python's `math` module, always a float.

use super::op_err;
use minijinja::value::{Value as MjValue, ValueKind};
use minijinja::{Environment, Error};

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("log", |x: &MjValue, base: Option<f64>| {
        let x = number(x, "log")?;
        Ok(match base {
            None => x.ln(),
            Some(10.0) => x.log10(),
            Some(b) => x.ln() / b.ln(),
        })
    });
    env.add_filter("pow", |x: &MjValue, y: &MjValue| {
        Ok(number(x, "pow")?.powf(number(y, "pow")?))
    });
    env.add_filter("root", |x: &MjValue, base: Option<f64>| {
        let x = number(x, "root")?;
        Ok(match base.unwrap_or(2.0) {
            b if b == 2.0 => x.sqrt(),
            b => x.powf(1.0 / b),
        })
    });
}

/// The value as a float; strings are not numbers here, as in ansible-core.
fn number(v: &MjValue, filter: &str) -> Result<f64, Error> {
    if matches!(v.kind(), ValueKind::Number | ValueKind::Bool) {
        if let Ok(f) = f64::try_from(v.clone()) {
            return Ok(f);
        }
    }
    Err(op_err(format!("{filter}() can only be used on numbers")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(expr: &str) -> String {
        let mut env = Environment::new();
        register(&mut env);
        env.render_str(expr, ()).unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn math_filters_give_pythons_floats() {
        assert_eq!(render("{{ 8 | log(2) }}"), "3.0");
        assert_eq!(render("{{ 1000 | log(10) }}"), "3.0");
        assert_eq!(render("{{ 2 | pow(3) }}"), "8.0");
        assert_eq!(render("{{ 16 | root }}"), "4.0");
        assert_eq!(render("{{ 27 | root(3) }}"), "3.0");
        assert!(render("{{ 'x' | log }}").contains("only be used on numbers"));
    }
}

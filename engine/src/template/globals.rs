//! Global functions Jinja2 and Ansible add that minijinja itself lacks: Jinja2's `cycler`,
//! `joiner` and `lipsum` (minijinja-contrib's, which follow Jinja2) and Ansible's `undef(hint)`.

use minijinja::value::{Rest, Value as MjValue};
use minijinja::Environment;

pub fn register(env: &mut Environment<'static>) {
    // Jinja2's cycler takes its items as separate arguments.
    env.add_function("cycler", |items: Rest<MjValue>| {
        minijinja_contrib::globals::cycler(items.0)
    });
    env.add_function("joiner", minijinja_contrib::globals::joiner);
    env.add_function("lipsum", minijinja_contrib::globals::lipsum);
    // `undef(hint)`: a value that is undefined, for `default(undef())` tricks in role defaults.
    env.add_function("undef", |_hint: Option<String>| MjValue::UNDEFINED);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jinja_globals_work() {
        let mut env = Environment::new();
        register(&mut env);
        let out = env
            .render_str(
                "{% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}{{ c.next() }} \
                 {% set j = joiner('|') %}{{ j() }}x{{ j() }}y {{ undef() is undefined }} \
                 {{ lipsum(1, html=false) | length > 10 }}",
                (),
            )
            .unwrap_or_else(|e| e.to_string());
        assert_eq!(out, "aba x|y True True");
    }
}

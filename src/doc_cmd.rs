//! `kplay doc MODULE` / `kplay doc --list`: ansible-doc's role, printed from the modules'
//! declared argument specs (the same ones their arguments are checked against).

use crate::cli::DocArgs;
use kplay_engine::output::sink;

pub fn run(args: DocArgs) -> u8 {
    if args.list || args.modules.is_empty() {
        let specs = kplay_modules::specs();
        let width = specs.iter().map(|s| s.module.len()).max().unwrap_or(0) + "ansible.builtin.".len();
        for s in specs {
            sink::line(&format!(
                "{:<width$} {}",
                format!("ansible.builtin.{}", s.module),
                s.doc
            ));
        }
        return 0;
    }
    let mut code = 0;
    for name in &args.modules {
        match kplay_modules::spec_for(name) {
            Some(spec) => sink::text(&kplay_modules::common::args::render_doc(spec)),
            None => {
                eprintln!("[WARNING]: module {name} not found in kplay's modules");
                code = 1;
            }
        }
    }
    code
}

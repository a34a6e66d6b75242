//! `kplay doc MODULE` / `kplay doc --list`: ansible-doc's role, printed from the modules'
//! declared argument specs (the same ones their arguments are checked against).

use crate::cli::DocArgs;
use kplay_engine::output::sink;

pub fn run(args: DocArgs) -> u8 {
    if args.list || args.modules.is_empty() {
        let names: Vec<(String, &str)> = kplay_modules::specs()
            .into_iter()
            .map(|(c, s)| (format!("{c}.{}", s.module), s.doc))
            .collect();
        let width = names.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        for (name, doc) in names {
            sink::line(&format!("{name:<width$} {doc}"));
        }
        return 0;
    }
    let mut code = 0;
    for name in &args.modules {
        match kplay_modules::spec_for(name) {
            Some((collection, spec)) => {
                sink::text(&kplay_modules::common::args::render_doc(spec, collection))
            }
            None => {
                eprintln!("[WARNING]: module {name} not found in kplay's modules");
                code = 1;
            }
        }
    }
    code
}

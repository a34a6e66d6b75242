//! kplay's modules, one file each. `register_all` puts them into the engine's registry.

use kplay_engine::module::ModuleRegistry;

pub fn register_all(_reg: &mut ModuleRegistry) {}

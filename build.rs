//! Rebuilds the binary when the embedded deployment content changes (include_dir tracks the files
//! it read, but not files added to or removed from these directories), and builds kplay's agent
//! for the binary to carry (build/agent.rs).

#[path = "build/agent.rs"]
mod agent;

fn main() {
    for dir in ["playbooks", "roles", "group_vars", "inventory"] {
        println!("cargo:rerun-if-changed={dir}");
    }
    let root = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    agent::emit(&root, &out);
}

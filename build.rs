//! Rebuilds the binary when the embedded deployment content changes: include_dir tracks the files
//! it read, but not files added to or removed from these directories.

fn main() {
    for dir in ["playbooks", "roles", "group_vars", "inventory"] {
        println!("cargo:rerun-if-changed={dir}");
    }
}

//! The agent binary: serves requests on stdin/stdout until the controller closes stdin.
//! It takes no arguments; the controller starts it over SSH for the length of a run.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(kplay_agent::serve::serve_stdio() as u8)
}

//! The agent this binary carries: built and compressed by build.rs (build/agent.rs), embedded
//! here, registered with the engine at start. `kplay __agent-info` prints what it is and
//! `kplay __agent-gz` writes it as it travels (tests read the shipped agent that way).

/// One embedded agent, as build/agent.rs describes it in `$OUT_DIR/agent.rs`.
pub struct EmbeddedAgent {
    pub arch: &'static str,
    pub gz: &'static [u8],
    pub len: u64,
    pub sha256: &'static str,
    pub glibc: (u32, u32),
    pub built: &'static str,
}

/// `None` when build.rs could not build an agent (it said so in a cargo warning).
pub const AGENT: Option<EmbeddedAgent> = include!(concat!(env!("OUT_DIR"), "/agent.rs"));

/// Hand the embedded agent to the engine.
pub fn register() {
    let agents = AGENT
        .iter()
        .map(|a| {
            kplay_engine::agent::AgentBinary::new(a.arch, a.gz, a.len, a.sha256, a.glibc, a.built)
        })
        .collect();
    kplay_engine::agent::register(agents);
}

/// The hidden `__agent-*` commands; `None` when `arg` is none of them.
pub fn command(arg: &std::ffi::OsStr) -> Option<u8> {
    use std::io::Write;
    match arg.to_str()? {
        "__agent-info" => {
            let info = match &AGENT {
                Some(a) => serde_json::json!({
                    "arch": a.arch,
                    "len": a.len,
                    "sha256": a.sha256,
                    "wire_bytes": a.gz.len(),
                    "glibc": format!("{}.{}", a.glibc.0, a.glibc.1),
                    "built": a.built,
                }),
                None => serde_json::Value::Null,
            };
            println!("{info}");
            Some(0)
        }
        "__agent-gz" => match &AGENT {
            Some(a) => Some(u8::from(std::io::stdout().write_all(a.gz).is_err())),
            None => {
                eprintln!("kplay: this build carries no agent");
                Some(1)
            }
        },
        _ => None,
    }
}

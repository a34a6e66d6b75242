//! Fact gathering for `setup`: one POSIX sh script (`gather.sh`) runs on the host in one round
//! trip and prints raw sections; everything Ansible-shaped is computed here on the controller,
//! so the host needs nothing beyond sh, coreutils and iproute2.

pub mod distribution;
pub mod hardware;
pub mod host;
pub mod local;
pub mod network;
pub mod platform;
pub mod sections;
pub mod storage;
pub mod subset;
pub mod virtual_;

use kplay_engine::module::{ModuleContext, ModuleError};
use kplay_engine::transport::ExecRequest;
use kplay_engine::value::{Map, Value};
use sections::Sections;
pub use subset::Subsets;

/// The script, with the subset switches prepended by [`script_for`].
const GATHER_SH: &str = include_str!("gather.sh");

/// The script to send for the chosen subsets (`fact_path`: where local facts are read).
pub fn script_for(s: &Subsets, fact_path: Option<&str>) -> String {
    let b = |x: bool| if x { 1 } else { 0 };
    format!(
        "KP_MIN={} KP_HW={} KP_NET={} KP_VIRT={} KP_FACT_PATH={}\n{GATHER_SH}",
        b(s.min),
        b(s.hardware),
        b(s.network),
        b(s.virtual_),
        kplay_engine::transport::sh_quote(fact_path.unwrap_or(local::DEFAULT_FACT_PATH))
    )
}

/// Run the script and build the facts, every key with the `ansible_` prefix.
pub async fn gather(
    ctx: &ModuleContext<'_>,
    subsets: &Subsets,
    fact_path: Option<&str>,
) -> Result<Map, ModuleError> {
    let req = ExecRequest {
        cmd: script_for(subsets, fact_path),
        stdin: None,
        env: ctx.environment.clone(),
        become_: ctx.become_.clone(),
        cwd: None,
    };
    let out = ctx.transport.exec(req).await?;
    let text = out.stdout_str();
    let sec = Sections::parse(&text);
    if !sec.has("end") {
        return Err(ModuleError::new(format!(
            "fact gathering did not complete (rc={}): {}",
            out.rc,
            out.stderr_str().trim()
        )));
    }
    Ok(build(&sec, subsets))
}

/// The string fact `key` of `facts` (empty when missing or not a string), which later
/// subsets key on.
fn text_of(facts: &Map, key: &str) -> String {
    facts
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// Turn the script's sections into facts (separate from [`gather`] so it is testable offline).
pub fn build(sec: &Sections, subsets: &Subsets) -> Map {
    let mut bare = Map::new();
    if subsets.min {
        let plat = platform::platform(sec);
        let system = text_of(&plat, "system");
        bare.extend(plat);
        let dist = distribution::collect(sec, &system);
        let family = text_of(&dist, "os_family");
        bare.extend(dist);
        bare.extend(platform::user(sec));
        bare.extend(platform::misc(sec));
        bare.insert("env".into(), Value::Object(platform::env(sec)));
        if let Some(dt) = platform::date_time(sec) {
            bare.insert("date_time".into(), Value::Object(dt));
        }
        bare.insert("dns".into(), Value::Object(platform::dns(sec)));
        bare.insert(
            "service_mgr".into(),
            Value::String(platform::service_mgr(sec)),
        );
        bare.insert(
            "pkg_mgr".into(),
            Value::String(platform::pkg_mgr(sec, &family)),
        );
        bare.extend(host::minimal(sec));
        if let Some(l) = local::collect(sec) {
            bare.insert("local".into(), l);
        }
    }
    if subsets.hardware {
        bare.extend(hardware::memory(sec));
        bare.extend(hardware::processors(sec));
        bare.insert("mounts".into(), hardware::mounts(sec));
        bare.extend(hardware::dmi(sec));
        if let Some(l) = hardware::loadavg(sec) {
            bare.insert("loadavg".into(), l);
        }
        if let Some(u) = hardware::uptime(sec) {
            bare.insert("uptime_seconds".into(), u);
        }
        bare.extend(storage::devices(sec));
        bare.insert("lvm".into(), storage::lvm(sec));
        bare.extend(host::hardware(sec));
    }
    if subsets.network {
        bare.extend(host::network(sec));
    }
    if subsets.virtual_ {
        bare.extend(virtual_::collect(sec));
    }
    let mut facts: Map = bare
        .into_iter()
        .map(|(k, v)| (format!("ansible_{k}"), v))
        .collect();
    if subsets.network {
        facts.extend(network::collect(sec));
    }
    if subsets.min {
        // What ansible-core's interpreter discovery would pick (it reports it unprefixed).
        if let Some(py) = host::discovered_python(sec) {
            facts.insert("discovered_interpreter_python".into(), py);
        }
    }
    facts.sort_keys();
    facts
}

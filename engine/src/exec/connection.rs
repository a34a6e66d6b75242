//! One transport per host for the whole run, opened on first use and shared by every task.

use crate::transport::local::LocalTransport;
use crate::transport::{Transport, TransportError};
use crate::value::{Map, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;

/// Connection defaults from the command line and ansible.cfg.
#[derive(Clone, Debug, Default)]
pub struct ConnectionDefaults {
    /// `-c`.
    pub connection: Option<String>,
    pub remote_user: Option<String>,
    pub private_key_file: Option<String>,
    pub password: Option<String>,
    pub strict_host_keys: bool,
    /// ansible.cfg `host_key_checking`: `None` when not set (trust on first use).
    pub host_key_checking: Option<bool>,
    pub known_hosts: PathBuf,
    pub timeout: Duration,
}

/// The connection variables of a host, rendered (the transport needs plain values).
pub const CONNECTION_VARS: &[&str] = &[
    "ansible_connection",
    "ansible_host",
    "ansible_ssh_host",
    "ansible_port",
    "ansible_ssh_port",
    "ansible_user",
    "ansible_ssh_user",
    "ansible_ssh_private_key_file",
    "ansible_private_key_file",
    "ansible_password",
    "ansible_ssh_pass",
    "ansible_ssh_common_args",
    "ansible_ssh_extra_args",
    "ansible_ssh_args",
    "ansible_ssh_host_key_checking",
    "ansible_host_key_checking",
    "ansible_ssh_timeout",
    "ansible_timeout",
    "ansible_ssh_private_key_passphrase",
    "ansible_private_key_passphrase",
    "ansible_ssh_password",
    "ansible_ssh_retries",
    "ansible_ssh_executable",
    "kplay_agent",
];

type Slot = Arc<OnceCell<Result<Arc<dyn Transport>, TransportError>>>;

/// Where `-vvv`/`-vvvv` connection traces go.
struct Tracer {
    out: Arc<dyn crate::output::Output>,
    verbosity: u8,
}

#[derive(Default)]
pub struct Connections {
    slots: Mutex<HashMap<String, Slot>>,
    tracer: std::sync::OnceLock<Tracer>,
    /// Connections opened for one task each (see [`Connections::open_dedicated`]).
    dedicated: Mutex<Vec<std::sync::Weak<dyn Transport>>>,
    /// Agent outcomes already reported (`host` and which agent): once per run each.
    agent_reported: Arc<Mutex<std::collections::HashSet<String>>>,
    pub defaults: ConnectionDefaults,
}

impl Connections {
    pub fn new(defaults: ConnectionDefaults) -> Self {
        Connections {
            slots: Mutex::new(HashMap::new()),
            tracer: std::sync::OnceLock::new(),
            dedicated: Mutex::new(Vec::new()),
            agent_reported: Arc::default(),
            defaults,
        }
    }

    /// Report connections opened to `out` from `-v` count `verbosity` 3 on.
    pub fn set_trace(&self, out: Arc<dyn crate::output::Output>, verbosity: u8) {
        let _ = self.tracer.set(Tracer { out, verbosity });
    }

    fn trace(&self, host: &str, level: u8, text: impl FnOnce() -> String) {
        if let Some(t) = self.tracer.get().filter(|t| t.verbosity >= level) {
            t.out.emit(&crate::output::Event::Trace {
                host: host.to_string(),
                level,
                text: text(),
            });
        }
    }

    /// The connection type for a host: its `ansible_connection` var wins over the play/task
    /// keyword, which wins over `-c`; the implicit localhost is local.
    pub fn kind_for(&self, host: &str, vars: &Map, keyword: Option<&str>) -> String {
        if let Some(Value::String(c)) = vars.get("ansible_connection") {
            return c.clone();
        }
        if let Some(k) = keyword {
            return k.to_string();
        }
        if let Some(c) = &self.defaults.connection {
            return c.clone();
        }
        if host == "localhost" || host == "127.0.0.1" {
            return "local".into();
        }
        "ssh".into()
    }

    /// The host's transport, connecting on first use. Concurrent callers share one attempt.
    pub async fn get(
        &self,
        host: &str,
        kind: &str,
        vars: &Map,
    ) -> Result<Arc<dyn Transport>, TransportError> {
        let key = format!("{kind}://{host}");
        let slot = {
            let mut slots = self
                .slots
                .lock()
                .map_err(|_| TransportError::Failed("connection table poisoned".into()))?;
            slots.entry(key).or_default().clone()
        };
        slot.get_or_init(|| self.open(host, kind, vars))
            .await
            .clone()
    }

    async fn open(
        &self,
        host: &str,
        kind: &str,
        vars: &Map,
    ) -> Result<Arc<dyn Transport>, TransportError> {
        if kind == "local" {
            self.trace(host, 3, || "ESTABLISH LOCAL CONNECTION".to_string());
        }
        match kind {
            "local" => Ok(Arc::new(LocalTransport::with_agent(
                crate::transport::agent_wanted(vars)
                    .map_err(|e| TransportError::Unreachable(format!("{host}: {e}")))?,
            ))),
            "ssh" | "paramiko" | "smart" => self.open_ssh(host, vars).await,
            other => Err(TransportError::Unreachable(format!(
                "the connection plugin '{other}' is not supported (use local or ssh)"
            ))),
        }
    }

    async fn open_ssh(&self, host: &str, vars: &Map) -> Result<Arc<dyn Transport>, TransportError> {
        let target = crate::transport::ssh_target(host, vars, &self.defaults)?;
        self.trace(host, 3, || {
            format!(
                "ESTABLISH SSH CONNECTION FOR USER: {} TO {}:{}",
                target.user, target.host, target.port
            )
        });
        self.trace(host, 4, || {
            let keys: Vec<String> = target
                .private_key_files
                .iter()
                .map(|k| k.display().to_string())
                .collect();
            let known: Vec<String> = target
                .known_hosts
                .iter()
                .chain(std::iter::once(&target.kplay_known_hosts))
                .map(|k| k.display().to_string())
                .collect();
            let jumps: Vec<String> = target.jump.iter().map(|j| j.label()).collect();
            format!(
                "SSH: keys [{}] (default ~/.ssh/id_* when empty), password {}, host key policy {:?}, known_hosts [{}], jump [{}], proxy command {}, connect timeout {}s, keepalive {:?}, retries {}, agent {}",
                keys.join(", "),
                if target.password.is_some() { "set (********)" } else { "unset" },
                target.host_key_policy,
                known.join(", "),
                jumps.join(" -> "),
                target.proxy_command.as_deref().unwrap_or("none"),
                target.connect_timeout.as_secs(),
                target.keepalive,
                target.retries,
                target.agent
            )
        });
        let started = std::time::Instant::now();
        let r = crate::transport::ssh::SshTransport::connect(target).await;
        if let (Ok(t), Some(tracer)) = (&r, self.tracer.get()) {
            t.set_agent_report(agent_reporter(
                host,
                tracer.out.clone(),
                self.agent_reported.clone(),
            ));
        }
        match &r {
            Ok(t) => self.trace(host, 4, || {
                format!(
                    "SSH: {} connected and authenticated in {} ms",
                    t.describe(),
                    started.elapsed().as_millis()
                )
            }),
            Err(e) => self.trace(host, 3, || format!("SSH: connection failed: {e}")),
        }
        r.map(|t| Arc::new(t) as Arc<dyn Transport>)
    }

    /// Open a connection of its own for one task (`async`, `timeout`): stopping its commands
    /// ([`Transport::interrupt`]) then stops that task's commands and nothing else. The caller
    /// closes it.
    pub async fn open_dedicated(
        &self,
        host: &str,
        kind: &str,
        vars: &Map,
    ) -> Result<Arc<dyn Transport>, TransportError> {
        let t = self.open(host, kind, vars).await?;
        if let Ok(mut d) = self.dedicated.lock() {
            d.retain(|w| w.strong_count() > 0);
            d.push(Arc::downgrade(&t));
        }
        Ok(t)
    }

    /// Stop the commands every open connection is running (the run is interrupted).
    pub async fn interrupt_all(&self) {
        let open: Vec<Arc<dyn Transport>> = self
            .slots
            .lock()
            .map(|s| {
                s.values()
                    .filter_map(|slot| slot.get().and_then(|r| r.as_ref().ok()).cloned())
                    .collect()
            })
            .unwrap_or_default();
        let extra: Vec<Arc<dyn Transport>> = self
            .dedicated
            .lock()
            .map(|d| d.iter().filter_map(std::sync::Weak::upgrade).collect())
            .unwrap_or_default();
        let mut set = tokio::task::JoinSet::new();
        for t in open.into_iter().chain(extra) {
            set.spawn(async move { t.interrupt().await });
        }
        while set.join_next().await.is_some() {}
    }

    /// `meta: reset_connection`: close the host's connections; the next task opens new ones.
    pub async fn reset(&self, host: &str) {
        let suffix = format!("://{host}");
        let gone: Vec<Slot> = self
            .slots
            .lock()
            .map(|mut s| {
                let keys: Vec<String> =
                    s.keys().filter(|k| k.ends_with(&suffix)).cloned().collect();
                keys.iter().filter_map(|k| s.remove(k)).collect()
            })
            .unwrap_or_default();
        for s in gone {
            if let Some(Ok(t)) = s.get() {
                t.close().await;
            }
        }
    }

    /// Close every open connection (end of run).
    pub async fn close_all(&self) {
        let slots: Vec<Slot> = self
            .slots
            .lock()
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default();
        for s in slots {
            if let Some(Ok(t)) = s.get() {
                t.close().await;
            }
        }
    }
}

/// Reports whether a host's agent runs (`kplay_agent: active (…)`) or why the host takes the sh
/// path (`kplay_agent: fallback (…)`), once per run for each host and agent: a trace of level 1,
/// so `-v` shows it and the JSON output always carries it.
fn agent_reporter(
    host: &str,
    out: Arc<dyn crate::output::Output>,
    reported: Arc<Mutex<std::collections::HashSet<String>>>,
) -> crate::transport::ssh::AgentReport {
    let host = host.to_string();
    Box::new(move |text: &str| {
        let which = text.split(':').next().unwrap_or("");
        let first = reported
            .lock()
            .map(|mut r| r.insert(format!("{host}\0{which}")))
            .unwrap_or(false);
        if first {
            out.emit(&crate::output::Event::Trace {
                host: host.clone(),
                level: 1,
                text: text.to_string(),
            });
        }
    })
}

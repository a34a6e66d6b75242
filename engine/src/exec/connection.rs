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
    pub host_key_checking: bool,
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

#[derive(Default)]
pub struct Connections {
    slots: Mutex<HashMap<String, Slot>>,
    /// Connections opened for one task each (see [`Connections::open_dedicated`]).
    dedicated: Mutex<Vec<std::sync::Weak<dyn Transport>>>,
    pub defaults: ConnectionDefaults,
}

impl Connections {
    pub fn new(defaults: ConnectionDefaults) -> Self {
        Connections {
            slots: Mutex::new(HashMap::new()),
            dedicated: Mutex::new(Vec::new()),
            defaults,
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
        crate::transport::connect_ssh(host, vars, &self.defaults).await
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

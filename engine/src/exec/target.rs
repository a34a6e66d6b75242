//! Connection resolution for a task: which host it talks to (`delegate_to`), over which
//! transport (connection variables, `connection`/`remote_user`/`port` keywords), with which
//! privilege escalation and environment.

use super::call::Conn;
use super::play::PlayRun;
use super::task::{kw_bool, kw_string};
use crate::exec::connection::CONNECTION_VARS;
use crate::module::Module;
use crate::plan::Leaf;
use crate::transport::local::LocalTransport;
use crate::transport::Become;
use crate::value::{ansible_bool, to_display_string, Map, Value};
use crate::vars::scope::Scope;
use std::sync::Arc;

impl PlayRun {
    /// The connection for a task's module: the host's (or delegate's) shared one, or a local
    /// one for modules that run on the controller. `Err`: the host is unreachable (message).
    pub(super) async fn connect(
        &self,
        leaf: &Leaf,
        host: &str,
        scope: &Arc<Scope>,
        module: &dyn Module,
    ) -> Result<Conn, String> {
        let delegate = self.delegate_of(leaf, scope).filter(|d| d != host);
        self.connect_to(leaf, host, delegate, scope, module).await
    }

    /// The task's rendered `delegate_to`, if any (also when it names the host itself).
    pub(super) fn delegate_of(&self, leaf: &Leaf, scope: &Arc<Scope>) -> Option<String> {
        kw_string(&leaf.keywords.delegate_to, scope, &self.runner.templar).filter(|d| !d.is_empty())
    }

    /// The connection to `delegate` (another host than `host`), else to `host`.
    pub(super) async fn connect_to(
        &self,
        leaf: &Leaf,
        host: &str,
        delegate: Option<String>,
        scope: &Arc<Scope>,
        module: &dyn Module,
    ) -> Result<Conn, String> {
        let runner = &self.runner;
        let templar = &runner.templar;
        let conn_host = delegate.clone().unwrap_or_else(|| host.to_string());
        if module.controller_only() {
            return Ok(Conn {
                transport: Arc::new(LocalTransport::new()),
                host: conn_host,
                kind: "local".into(),
                vars: Map::new(),
            });
        }
        let conn_scope = if delegate.is_some() {
            Scope::for_host(&runner.vars, &conn_host)
        } else {
            scope.clone()
        };
        let mut cvars = Map::new();
        for name in CONNECTION_VARS {
            if let Some(v) = conn_scope.get_json(name) {
                cvars.insert(name.to_string(), v);
            }
        }
        let kw_conn = kw_string(&leaf.keywords.connection, scope, templar);
        let kind = runner
            .conns
            .kind_for(&conn_host, &cvars, kw_conn.as_deref());
        if let Some(u) = kw_string(&leaf.keywords.remote_user, scope, templar) {
            cvars.entry("ansible_user").or_insert(Value::String(u));
        }
        // The `port` keyword, where the host sets no port of its own (variables win, as in
        // Ansible).
        if let Some(p) = kw_string(&leaf.keywords.port, scope, templar) {
            if !cvars.contains_key("ansible_ssh_port") {
                cvars.entry("ansible_port").or_insert(Value::String(p));
            }
        }
        match runner.conns.get(&conn_host, &kind, &cvars).await {
            Ok(t) => Ok(Conn {
                transport: t,
                host: conn_host,
                kind,
                vars: cvars,
            }),
            Err(e) => Err(format!("Failed to connect to the host via {kind}: {e}")),
        }
    }

    pub(super) fn become_for(&self, leaf: &Leaf, scope: &Arc<Scope>) -> Option<Become> {
        let t = &self.runner.templar;
        let o = &self.runner.opts;
        let var_bool = |n: &str| scope.get_json(n).and_then(|v| ansible_bool(&v));
        let var_str = |n: &str| {
            scope
                .get_json(n)
                .map(|v| to_display_string(&v))
                .filter(|s| !s.is_empty())
        };
        let on = var_bool("ansible_become")
            .or_else(|| kw_bool(&leaf.keywords.become_, scope, t))
            .or(o.become_)
            .unwrap_or(false);
        if !on {
            return None;
        }
        Some(Become {
            method: var_str("ansible_become_method")
                .or_else(|| kw_string(&leaf.keywords.become_method, scope, t))
                .or_else(|| o.become_method.clone())
                .unwrap_or_else(|| "sudo".into()),
            user: var_str("ansible_become_user")
                .or_else(|| kw_string(&leaf.keywords.become_user, scope, t))
                .or_else(|| o.become_user.clone())
                .unwrap_or_else(|| "root".into()),
            password: var_str("ansible_become_password")
                .or_else(|| var_str("ansible_become_pass"))
                .or_else(|| o.become_password.clone()),
            exe: var_str("ansible_become_exe")
                .or_else(|| kw_string(&leaf.keywords.become_exe, scope, t)),
            flags: var_str("ansible_become_flags")
                .or_else(|| kw_string(&leaf.keywords.become_flags, scope, t)),
        })
    }

    pub(super) fn environment_for(&self, leaf: &Leaf, scope: &Arc<Scope>) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = Vec::new();
        for layer in &leaf.keywords.environment {
            if let Ok(Value::Object(m)) = self.runner.templar.render_value(layer, &scope.ctx()) {
                for (k, v) in m {
                    env.retain(|(ek, _)| ek != &k);
                    env.push((k, to_display_string(&v)));
                }
            }
        }
        env
    }
}

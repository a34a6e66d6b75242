//! `wait_for`: wait for a port to open or close, a file to appear (with some text) or go, or a
//! port's connections to drain, as seen from the host (`host` defaults to the host's own
//! 127.0.0.1).
//!
//! Port and file waits without `search_regex` run as ONE sh loop on the host (the port test uses
//! bash's `/dev/tcp` when bash exists, else `nc -z`). A host with neither, and port waits with
//! `search_regex`, are polled from the controller through the transport's tunnel
//! (`Transport::open_tcp`); file searches poll the file's content, one round trip per try.

use crate::common::args::{p, Param, Spec};
use crate::common::run_sh;
use crate::wait_for_connection::seconds;
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

const PARAMS: &[Param] = &[
    p("host", &[]).doc("Host (as seen from the target) to wait for."),
    p("timeout", &[]).doc("Seconds to wait in all."),
    p("connect_timeout", &[]).doc("Seconds for one connection attempt."),
    p("delay", &[]).doc("Seconds before the first check."),
    p("port", &[]).doc("TCP port to wait for."),
    p("active_connection_states", &[])
        .doc("TCP states that count as an active connection (state=drained)."),
    p("path", &[]).doc("File to wait for."),
    p("search_regex", &[]).doc("Text (regexp) the file or the port's banner must contain."),
    p("state", &[])
        .choices(&["absent", "drained", "present", "started", "stopped"])
        .doc("`started`/`present`, `stopped`/`absent`, or `drained`."),
    p("exclude_hosts", &[]).doc("Hosts whose connections are ignored for state=drained."),
    p("sleep", &[]).doc("Seconds between checks."),
    p("msg", &[]).doc("Message on timeout instead of the default."),
];

/// `wait_for`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "wait_for",
    "Waits for a condition before continuing",
    &[PARAMS],
);

/// Exit codes of the host loop.
const RC_TIMEOUT: i32 = 124;
const RC_NO_TOOL: i32 = 98;

/// `/proc/net/tcp` state codes of Ansible's default `active_connection_states`.
fn tcp_state_code(name: &str) -> Option<&'static str> {
    Some(match name {
        "ESTABLISHED" => "01",
        "SYN_SENT" => "02",
        "SYN_RECV" => "03",
        "FIN_WAIT1" => "04",
        "FIN_WAIT2" => "05",
        "TIME_WAIT" => "06",
        "CLOSE" => "07",
        "CLOSE_WAIT" => "08",
        "LAST_ACK" => "09",
        "LISTEN" => "0A",
        "CLOSING" => "0B",
        _ => return None,
    })
}

/// What to wait for.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    /// Neither port nor path: just sleep `timeout`.
    Nothing,
    Port(u16),
    Path(String),
}

/// Checked `wait_for` arguments.
#[derive(Debug, Clone)]
struct WaitArgs {
    host: String,
    target: Target,
    state: String,
    regex: Option<String>,
    delay: f64,
    timeout: f64,
    sleep: f64,
    connect_timeout: f64,
    msg: Option<String>,
    states: Vec<&'static str>,
}

impl WaitArgs {
    fn parse(args: Map) -> Result<WaitArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let state = a
            .choice(
                "state",
                &["absent", "drained", "present", "started", "stopped"],
            )?
            .unwrap_or_else(|| "started".into());
        let port = match a.raw("port") {
            None => None,
            Some(v) => Some(
                kplay_engine::value::to_display_string(v)
                    .trim()
                    .parse::<u16>()
                    .map_err(|_| ModuleError::new("argument 'port' is not a valid port number"))?,
            ),
        };
        let path = a.str("path")?;
        if port.is_some() && path.is_some() {
            return Err(ModuleError::new(
                "port and path parameter can not both be passed to wait_for",
            ));
        }
        if path.is_some() && state == "stopped" {
            return Err(ModuleError::new(
                "state=stopped should only be used for checking a port in the wait_for module",
            ));
        }
        if path.is_some() && state == "drained" {
            return Err(ModuleError::new(
                "state=drained should only be used for checking a port in the wait_for module",
            ));
        }
        if a.has("exclude_hosts") {
            if state != "drained" {
                return Err(ModuleError::new(
                    "exclude_hosts should only be with state=drained",
                ));
            }
            return Err(ModuleError::new(
                "exclude_hosts is not supported by kplay's wait_for",
            ));
        }
        let names: Vec<String> = match a.raw("active_connection_states") {
            Some(Value::Array(v)) => v
                .iter()
                .map(kplay_engine::value::to_display_string)
                .collect(),
            Some(_) => {
                return Err(ModuleError::new(
                    "argument 'active_connection_states' must be a list",
                ))
            }
            None => [
                "ESTABLISHED",
                "FIN_WAIT1",
                "FIN_WAIT2",
                "SYN_RECV",
                "SYN_SENT",
                "TIME_WAIT",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        };
        let states = names
            .iter()
            .map(|n| {
                tcp_state_code(n)
                    .ok_or_else(|| ModuleError::new(format!("unknown connection state {n}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let regex = a.str("search_regex")?;
        if let Some(r) = &regex {
            fancy_regex::Regex::new(r)
                .map_err(|e| ModuleError::new(format!("invalid search_regex: {e}")))?;
        }
        Ok(WaitArgs {
            host: a.str("host")?.unwrap_or_else(|| "127.0.0.1".into()),
            target: match (port, path) {
                (Some(p), _) => Target::Port(p),
                (_, Some(p)) => Target::Path(p),
                _ => Target::Nothing,
            },
            state,
            regex,
            delay: seconds(&a, "delay", 0.0)?,
            timeout: seconds(&a, "timeout", 300.0)?,
            sleep: seconds(&a, "sleep", 1.0)?,
            connect_timeout: seconds(&a, "connect_timeout", 5.0)?,
            msg: a.str("msg")?,
            states,
        })
    }

    /// Waiting for the thing to be there (vs gone).
    fn wants_present(&self) -> bool {
        matches!(self.state.as_str(), "started" | "present")
    }

    /// Ansible's timeout message for this wait.
    fn timeout_msg(&self) -> String {
        if let Some(m) = &self.msg {
            return m.clone();
        }
        match (&self.target, &self.regex, self.state.as_str()) {
            (Target::Port(p), _, "drained") => {
                format!("Timeout when waiting for {}:{p} to drain", self.host)
            }
            (Target::Port(p), Some(r), _) if self.wants_present() => format!(
                "Timeout when waiting for search string {r} in {}:{p}",
                self.host
            ),
            (Target::Port(p), _, _) if self.wants_present() => {
                format!("Timeout when waiting for {}:{p}", self.host)
            }
            (Target::Port(p), _, _) => {
                format!("Timeout when waiting for {}:{p} to stop.", self.host)
            }
            (Target::Path(path), Some(r), _) if self.wants_present() => {
                format!("Timeout when waiting for search string {r} in {path}")
            }
            (Target::Path(path), _, _) if self.wants_present() => {
                format!("Timeout when waiting for file {path}")
            }
            (Target::Path(path), _, _) => format!("Timeout when waiting for {path} to be absent."),
            (Target::Nothing, _, _) => "Timeout".into(),
        }
    }
}

/// sh function `kc`: succeed when `host:port` accepts a connection (bash `/dev/tcp`, else nc).
fn connect_fn(host: &str, port: u16, connect_timeout: f64) -> String {
    format!(
        "kh={}; kp={port}; kb=$(command -v bash); kt=; command -v timeout >/dev/null 2>&1 && kt=\"timeout {connect_timeout}\"\n\
         if [ -z \"$kb\" ] && ! command -v nc >/dev/null 2>&1; then exit {RC_NO_TOOL}; fi\n\
         kc() {{ if [ -n \"$kb\" ]; then $kt \"$kb\" -c 'exec 3<>\"/dev/tcp/$0/$1\"' \"$kh\" \"$kp\" 2>/dev/null; else nc -z -w {ct} \"$kh\" \"$kp\" >/dev/null 2>&1; fi; }}\n",
        sh_quote(host),
        ct = connect_timeout.ceil().max(1.0) as u64
    )
}

/// sh function `kc` for `drained`: succeed while connections in `states` use local `port`.
fn drained_fn(port: u16, states: &[&str]) -> String {
    format!(
        "kc() {{ [ \"$(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk -v p={port:04X} -v s=' {} ' '{{ n = split($2, a, \":\"); if (a[n] == p && index(s, \" \" $4 \" \")) c++ }} END {{ print c + 0 }}')\" != 0 ]; }}\n",
        states.join(" ")
    )
}

/// The host loop: sleep `delay`, then test until `kc` succeeds (or fails, with `until_gone`)
/// or the deadline passes (exit [`RC_TIMEOUT`]). `date +%s` counts whole seconds, so the loop
/// gives up only once more than `timeout` seconds have passed: with `-ge` a start late in a second
/// ended a 2 s wait after about 1 s.
fn loop_script(setup: &str, until_gone: bool, w: &WaitArgs) -> String {
    let test = if until_gone { "! kc" } else { "kc" };
    format!(
        "{setup}ks=$(date +%s); sleep {delay}\nwhile :; do\n  if {test}; then exit 0; fi\n  [ $(($(date +%s) - ks)) -gt {timeout} ] && exit {RC_TIMEOUT}\n  sleep {sleep}\ndone\n",
        delay = w.delay,
        timeout = w.timeout.ceil() as u64,
        sleep = w.sleep,
    )
}

/// Python-style `re.search` (multiline) of `re` in `text`: the groups and named groups.
fn search(re: &str, text: &str) -> Option<(Vec<Value>, Map)> {
    let re = fancy_regex::Regex::new(&format!("(?m){re}")).ok()?;
    let caps = re.captures(text).ok()??;
    let groups = (1..caps.len())
        .map(|i| {
            caps.get(i)
                .map(|m| Value::String(m.as_str().to_string()))
                .unwrap_or(Value::Null)
        })
        .collect();
    let mut named = Map::new();
    for name in re.capture_names().flatten() {
        let v = caps
            .name(name)
            .map(|m| Value::String(m.as_str().to_string()))
            .unwrap_or(Value::Null);
        named.insert(name.to_string(), v);
    }
    Some((groups, named))
}

/// One try through the tunnel: connected (and, with a regex, the data read that matched).
async fn tunnel_try(
    ctx: &ModuleContext<'_>,
    w: &WaitArgs,
    port: u16,
) -> Result<Option<(Vec<Value>, Map)>, String> {
    let ct = Duration::from_secs_f64(w.connect_timeout.max(0.001));
    let mut s = match tokio::time::timeout(ct, ctx.transport.open_tcp(&w.host, port)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err("connect timeout".into()),
    };
    let Some(re) = &w.regex else {
        return Ok(Some((vec![], Map::new())));
    };
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(m) = search(re, &String::from_utf8_lossy(&data)) {
            return Ok(Some(m));
        }
        match tokio::time::timeout(ct, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => data.extend_from_slice(&buf[..n]),
            _ => return Ok(None),
        }
    }
}

/// Poll from the controller: the tunnel for ports, a read of the file for path searches.
async fn poll(
    ctx: &ModuleContext<'_>,
    w: &WaitArgs,
    start: Instant,
) -> Result<Option<(Vec<Value>, Map)>, ModuleError> {
    let deadline = start + Duration::from_secs_f64(w.timeout);
    loop {
        let hit = match &w.target {
            Target::Port(p) => match tunnel_try(ctx, w, *p).await {
                Ok(m) if w.wants_present() => m,
                Ok(_) => None,
                Err(_) if !w.wants_present() => Some((vec![], Map::new())),
                Err(e) if e.contains("not supported") => {
                    return Err(ModuleError::new(format!(
                        "wait_for: the host has neither bash nor nc, and {e}"
                    )))
                }
                Err(_) => None,
            },
            Target::Path(path) => {
                let q = sh_quote(path);
                let out = run_sh(ctx, format!("[ -e {q} ] || exit 3; cat -- {q}"), None).await?;
                if out.rc == 0 {
                    search(w.regex.as_deref().unwrap_or(""), &out.stdout_str())
                } else {
                    None
                }
            }
            Target::Nothing => None,
        };
        if hit.is_some() {
            return Ok(hit);
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(
            Duration::from_secs_f64(w.sleep)
                .min(deadline.saturating_duration_since(Instant::now())),
        )
        .await;
    }
}

fn result(w: &WaitArgs, start: Instant, groups: Option<(Vec<Value>, Map)>) -> ModuleResult {
    let mut r = ModuleResult::new(false)
        .set("elapsed", start.elapsed().as_secs())
        .set("state", w.state.as_str());
    match &w.target {
        Target::Port(p) => r.insert("port", *p),
        Target::Path(p) => r.insert("path", p.as_str()),
        Target::Nothing => {}
    }
    if let Some(re) = &w.regex {
        r.insert("search_regex", re.as_str());
    }
    let (g, d) = groups.unwrap_or_default();
    r.insert("match_groups", Value::Array(g));
    r.insert("match_groupdict", Value::Object(d));
    r
}

/// Not query → plan → apply ([`crate::planned`]): Its effect is the wait itself (polling until a condition holds), not a state to reach.
pub struct WaitForModule;

#[async_trait]
impl Module for WaitForModule {
    fn name(&self) -> &'static str {
        "wait_for"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let w = WaitArgs::parse(args)?;
        let start = Instant::now();
        if w.target == Target::Nothing {
            tokio::time::sleep(Duration::from_secs_f64(w.delay + w.timeout)).await;
            return Ok(result(&w, start, None));
        }
        let on_host = match (&w.target, &w.regex) {
            (Target::Port(p), _) if w.state == "drained" => {
                Some(loop_script(&drained_fn(*p, &w.states), true, &w))
            }
            (Target::Port(p), None) => Some(loop_script(
                &connect_fn(&w.host, *p, w.connect_timeout),
                !w.wants_present(),
                &w,
            )),
            (Target::Path(path), None) => Some(loop_script(
                &format!("kc() {{ [ -e {} ]; }}\n", sh_quote(path)),
                !w.wants_present(),
                &w,
            )),
            (Target::Path(_), Some(_)) if !w.wants_present() => Some(String::new()),
            _ => None,
        };
        let reached = match on_host {
            Some(s) if !s.is_empty() => {
                let out = run_sh(ctx, s, None).await?;
                match out.rc {
                    0 => Some(None),
                    RC_TIMEOUT => None,
                    RC_NO_TOOL => {
                        tokio::time::sleep(Duration::from_secs_f64(w.delay)).await;
                        poll(ctx, &w, start).await?.map(Some)
                    }
                    rc => {
                        return Err(ModuleError::new(format!(
                            "wait_for failed on the host (rc {rc}): {}",
                            out.stderr_str().trim()
                        )))
                    }
                }
            }
            Some(_) => {
                return Err(ModuleError::new(
                    "search_regex can only be used with state present or started",
                ))
            }
            None => {
                tokio::time::sleep(Duration::from_secs_f64(w.delay)).await;
                poll(ctx, &w, start).await?.map(Some)
            }
        };
        match reached {
            Some(groups) => Ok(result(&w, start, groups)),
            None => Err(ModuleError::with_result(
                w.timeout_msg(),
                result(&w, start, None).into_map(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;
    use tokio::io::AsyncWriteExt;

    fn env() -> TestEnv {
        TestEnv::new(std::path::Path::new("/"))
    }

    #[tokio::test]
    async fn open_port_is_reached_at_once() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let e = env();
        let r = WaitForModule
            .run(
                &ctx(&e, false, false),
                args(json!({"port": port, "timeout": 5})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["port"], port);
        assert_eq!(r["state"], "started");
        assert_eq!(r["changed"], false);
    }

    #[tokio::test]
    async fn closed_port_times_out_with_ansible_message() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = env();
        let err = WaitForModule
            .run(
                &ctx(&e, false, false),
                args(json!({"port": port, "timeout": 1, "sleep": 0.2})),
            )
            .await
            .unwrap_err();
        assert_eq!(
            err.msg,
            format!("Timeout when waiting for 127.0.0.1:{port}")
        );
        let r = WaitForModule
            .run(
                &ctx(&e, false, false),
                args(json!({"port": port, "state": "stopped", "timeout": 2})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["state"], "stopped");
    }

    #[tokio::test]
    async fn port_banner_is_matched_through_the_tunnel() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").await;
            }
        });
        let e = env();
        let r = WaitForModule
            .run(&ctx(&e, false, false), args(json!({"port": port, "search_regex": "OpenSSH_(\\d+)\\.(?P<minor>\\d+)", "timeout": 5})))
            .await
            .unwrap().into_map();
        assert_eq!(r["match_groups"], json!(["9", "2"]));
        assert_eq!(r["match_groupdict"], json!({"minor": "2"}));
    }

    #[tokio::test]
    async fn file_appearing_later_is_waited_for() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("ready");
        let f2 = f.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            std::fs::write(&f2, "status: done\n").unwrap();
        });
        let e = env();
        let r = WaitForModule
            .run(&ctx(&e, false, false), args(json!({"path": f.to_str().unwrap(), "search_regex": "^status: (\\w+)$", "sleep": 0.1, "timeout": 5})))
            .await
            .unwrap().into_map();
        assert_eq!(r["match_groups"], json!(["done"]));
        let r = WaitForModule
            .run(
                &ctx(&e, false, false),
                args(json!({"path": f.to_str().unwrap(), "timeout": 5})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["path"], f.to_str().unwrap());
    }

    #[tokio::test]
    async fn absent_path_waits_until_removed() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("lock");
        std::fs::write(&f, "").unwrap();
        let e = env();
        let err = WaitForModule
            .run(&ctx(&e, false, false), args(json!({"path": f.to_str().unwrap(), "state": "absent", "timeout": 1, "sleep": 0.2, "msg": "still locked"})))
            .await
            .unwrap_err();
        assert_eq!(err.msg, "still locked");
        std::fs::remove_file(&f).unwrap();
        WaitForModule
            .run(
                &ctx(&e, false, false),
                args(json!({"path": f.to_str().unwrap(), "state": "absent", "timeout": 2})),
            )
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn drained_port_without_connections_returns() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = env();
        let r = WaitForModule
            .run(
                &ctx(&e, false, false),
                args(json!({"port": port, "state": "drained", "timeout": 2})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["state"], "drained");
    }

    #[test]
    fn port_and_path_together_are_refused() {
        let e = WaitArgs::parse(args(json!({"port": 1, "path": "/x"}))).unwrap_err();
        assert_eq!(
            e.msg,
            "port and path parameter can not both be passed to wait_for"
        );
        let e = WaitArgs::parse(args(json!({"path": "/x", "state": "stopped"}))).unwrap_err();
        assert!(e.msg.starts_with("state=stopped should only be used"));
        assert!(WaitArgs::parse(args(json!({"port": "http"}))).is_err());
    }

    #[test]
    fn search_returns_groups_like_python() {
        let (g, d) = search("a(b)?(?P<c>c)", "xac").unwrap();
        assert_eq!(g, vec![Value::Null, json!("c")]);
        assert_eq!(d["c"], "c");
        assert!(search("^z", "a\nb").is_none());
    }

    #[test]
    fn host_loop_uses_bash_or_nc_and_the_deadline() {
        let w =
            WaitArgs::parse(args(json!({"port": 22, "host": "10.0.0.1", "timeout": 7}))).unwrap();
        let s = loop_script(&connect_fn(&w.host, 22, w.connect_timeout), false, &w);
        assert!(s.contains("/dev/tcp/$0/$1"));
        assert!(s.contains("nc -z -w 5"));
        assert!(s.contains("-gt 7 ] && exit 124"));
    }
}

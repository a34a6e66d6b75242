//! `pause`, as ansible-core 2.18's action: it runs once for the whole batch (the plan treats it
//! like `run_once`), either waiting `seconds`/`minutes` (showing `Pausing for N seconds`) or
//! showing `[task]\nprompt:` and waiting for the user's Enter (`user_input` is the answer;
//! `echo: false` hides it). When stdin is not a terminal a prompt is not waited for, with
//! Ansible's warning. Difference: Ctrl-C during a pause interrupts the run (Ansible offers
//! "ctrl+C then C to continue early, A to abort").

use super::play::PlayRun;
use crate::output::Event;
use crate::plan::Leaf;
use crate::value::{ansible_bool, to_display_string, Map, Value};
use std::time::{Duration, Instant};

/// Python's `int()` of an argument (whole numbers, also written as text or as a float).
fn whole(v: &Value, name: &str) -> Result<i64, String> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| format!("argument '{name}' is of type {v} and we were unable to convert to int")),
        other => to_display_string(other).trim().parse::<i64>().map_err(|_| {
            format!(
                "argument '{name}' is of type {} and we were unable to convert to int: invalid literal for int() with base 10: '{}'",
                if other.is_string() { "<class 'str'>" } else { "unknown" },
                to_display_string(other)
            )
        }),
    }
}

/// Python's `str(datetime.now())`.
fn now() -> String {
    chrono::Local::now()
        .format("%Y-%m-%d %H:%M:%S%.6f")
        .to_string()
}

/// `pause`'s arguments, checked.
struct PauseArgs {
    echo: bool,
    minutes: Option<i64>,
    /// Seconds to wait; `None`: wait for the user.
    wait: Option<i64>,
    prompt: Option<String>,
}

impl PauseArgs {
    fn parse(args: &Map) -> Result<PauseArgs, String> {
        let echo = match args.get("echo") {
            Some(v) => ansible_bool(v).ok_or_else(|| {
                format!("argument 'echo' is of type {v} and we were unable to convert to bool")
            })?,
            None => true,
        };
        let minutes = args
            .get("minutes")
            .map(|v| whole(v, "minutes"))
            .transpose()?;
        let seconds = args
            .get("seconds")
            .map(|v| whole(v, "seconds"))
            .transpose()?;
        let prompt = args
            .get("prompt")
            .map(to_display_string)
            .filter(|p| !p.is_empty());
        let wait = match (minutes, seconds) {
            (Some(m), _) => Some(m * 60),
            (None, s) => s,
        };
        Ok(PauseArgs {
            echo,
            minutes,
            wait,
            prompt,
        })
    }

    fn hidden(&self) -> &'static str {
        if self.echo {
            ""
        } else {
            " (output is hidden)"
        }
    }
}

impl PlayRun {
    pub(super) async fn pause(&self, leaf: &Leaf, args: &Map) -> Result<Map, String> {
        let a = PauseArgs::parse(args)?;
        let start = now();
        let started = Instant::now();
        let user_input = match a.wait {
            Some(secs) => {
                self.wait_seconds(&a, secs).await;
                String::new()
            }
            None => self.wait_for_user(leaf, &a).await,
        };
        let elapsed = started.elapsed().as_secs_f64();
        let (amount, unit) = if a.minutes.is_some() {
            (elapsed / 60.0, "minutes")
        } else {
            (elapsed, "seconds")
        };
        let mut m = Map::new();
        m.insert("changed".into(), Value::Bool(false));
        m.insert("rc".into(), Value::from(0));
        m.insert("stderr".into(), Value::String(String::new()));
        m.insert(
            "stdout".into(),
            Value::String(format!(
                "Paused for {} {unit}",
                python_float((amount * 100.0).round() / 100.0)
            )),
        );
        m.insert("start".into(), Value::String(start));
        m.insert("stop".into(), Value::String(now()));
        m.insert("delta".into(), Value::from(elapsed as i64));
        m.insert("echo".into(), Value::Bool(a.echo));
        m.insert("user_input".into(), Value::String(user_input));
        Ok(m)
    }

    fn say(&self, text: String) {
        self.runner.out.emit(&Event::Message {
            text,
            id: super::slot::current(),
        })
    }

    /// `Pausing for N seconds`, then the wait.
    async fn wait_seconds(&self, a: &PauseArgs, secs: i64) {
        let secs = secs.max(1);
        self.say(format!("Pausing for {secs} seconds{}", a.hidden()));
        if a.prompt.is_some() {
            self.say("(ctrl+C then 'C' = continue early, ctrl+C then 'A' = abort)".into());
        }
        tokio::time::sleep(Duration::from_secs(secs as u64)).await;
    }

    /// The prompt, answered on the terminal (not waited for without one); the answer.
    async fn wait_for_user(&self, leaf: &Leaf, a: &PauseArgs) -> String {
        let out = &self.runner.out;
        let question = format!(
            "[{}]\n{}{}:",
            leaf.display_name.trim(),
            a.prompt
                .as_deref()
                .unwrap_or("Press enter to continue, Ctrl+C to interrupt"),
            a.hidden()
        );
        if !super::prompt::interactive() {
            out.emit(&Event::Warning(
                "Not waiting for response to prompt as stdin is not interactive".into(),
            ));
            return String::new();
        }
        let answer = super::prompt::ask(out, &question, a.echo)
            .await
            .unwrap_or_default();
        if !a.echo {
            crate::output::sink::err_line("");
        }
        answer
    }
}

/// A float as Python prints it (`5.0`, `0.08`).
fn python_float(f: f64) -> String {
    if f.fract() == 0.0 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

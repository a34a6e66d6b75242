//! `timezone` (community.general.timezone): the system time zone (`name`) and whether the
//! hardware clock keeps local time or UTC (`hwclock`). With systemd running, `timedatectl`
//! reads and sets both; without it, the zone is `/etc/localtime` (a link into
//! /usr/share/zoneinfo) plus Debian's `/etc/timezone`, as Ansible's non-systemd path does.
//! `query`: one round trip reads; `plan` builds the sh for what differs; `apply` runs it.

use crate::common::args::{p, Param, Spec};
use crate::common::reads::{ensure_ok, read_all, Read, Replies};
use crate::common::run_sh;
use crate::common::write::{write_file, WriteRequest};
use crate::planned::{Plan, QueryPlanApply};
use async_trait::async_trait;
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::Map;

const PARAMS: &[Param] = &[
    p("name", &[])
        .str()
        .doc("Time zone name (`Asia/Tokyo`, `Etc/UTC`), as in /usr/share/zoneinfo."),
    p("hwclock", &["rtc"])
        .choices(&["local", "UTC"])
        .doc("Whether the hardware clock keeps `local` time or `UTC` (needs timedatectl)."),
];

/// `timezone`'s declared arguments.
pub static SPEC: Spec = Spec::new("timezone", "Configure timezone setting", &[PARAMS]);

/// `community.general.timezone`.
pub struct TimezoneModule;

/// A zone name that stays inside /usr/share/zoneinfo.
fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && !n.starts_with('/')
        && !n.split('/').any(|c| c == ".." || c.is_empty())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_-+.".contains(c))
}

fn reads(name: Option<&str>) -> Vec<Read> {
    let mut r = vec![
        Read::new(
            "systemd",
            "[ -d /run/systemd/system ] && timedatectl show -p Timezone --value",
        ),
        Read::new("rtc", "timedatectl show -p LocalRTC --value"),
        Read::new("localtime", "readlink -f /etc/localtime"),
        Read::new("etc_timezone", "cat /etc/timezone"),
    ];
    if let Some(n) = name {
        r.push(Read::new(
            "exists",
            format!("[ -f /usr/share/zoneinfo/{} ]", sh_quote(n)),
        ));
    }
    r
}

/// What the host has now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub systemd: bool,
    pub name: String,
    /// `local` or `UTC`, `None` when timedatectl cannot tell.
    pub hwclock: Option<String>,
    /// Debian's `/etc/timezone` exists (rewritten with the name, outside systemd).
    pub etc_timezone: bool,
}

pub fn current(r: &Replies) -> Current {
    let sd = r.get("systemd");
    let systemd = sd.ok() && !sd.out.trim().is_empty();
    let name = if systemd {
        sd.out.trim().to_string()
    } else {
        let lt = r.get("localtime").out;
        match lt.trim().split_once("/zoneinfo/") {
            Some((_, z)) => z.to_string(),
            None => r.get("etc_timezone").out.trim().to_string(),
        }
    };
    let rtc = r.get("rtc");
    let hwclock = rtc.ok().then(|| match rtc.out.trim() {
        "yes" => "local".to_string(),
        _ => "UTC".to_string(),
    });
    Current {
        systemd,
        name,
        hwclock,
        etc_timezone: r.get("etc_timezone").ok(),
    }
}

/// Debian's `/etc/timezone` with the new name, when the zone changes outside systemd.
pub fn etc_timezone(cur: &Current, name: Option<&str>) -> Option<String> {
    name.filter(|n| *n != cur.name && !cur.systemd && cur.etc_timezone)
        .map(|n| format!("{n}\n"))
}

/// The sh that sets what differs (besides [`etc_timezone`]), `None` when nothing does.
pub fn change_script(
    cur: &Current,
    name: Option<&str>,
    hwclock: Option<&str>,
) -> Result<Option<String>, ModuleError> {
    let mut sh = Vec::new();
    if let Some(n) = name.filter(|n| *n != cur.name) {
        let q = sh_quote(n);
        if cur.systemd {
            sh.push(format!("timedatectl set-timezone {q}"));
        } else {
            sh.push(format!("ln -sfn /usr/share/zoneinfo/{q} /etc/localtime.kplay-tmp && mv -f /etc/localtime.kplay-tmp /etc/localtime"));
        }
    }
    if let Some(h) = hwclock {
        match &cur.hwclock {
            Some(c) if c == h => {}
            Some(_) => sh.push(format!(
                "timedatectl set-local-rtc {}",
                if h == "local" { "1" } else { "0" }
            )),
            None => {
                return Err(ModuleError::new(
                    "hwclock: kplay sets the hardware clock mode with timedatectl, which is not available on this host",
                ))
            }
        }
    }
    Ok((!sh.is_empty()).then(|| sh.join(" &&\n")))
}

/// `hwclock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hwclock {
    Local,
    Utc,
}

impl Hwclock {
    pub fn as_str(self) -> &'static str {
        match self {
            Hwclock::Local => "local",
            Hwclock::Utc => "UTC",
        }
    }
}

/// Checked arguments (at least one is set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimezoneArgs {
    pub name: Option<String>,
    pub hwclock: Option<Hwclock>,
}

/// What `apply` does: run the sh, then write Debian's `/etc/timezone` atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    pub script: String,
    pub etc_timezone: Option<String>,
}

/// What `query` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub current: Current,
    /// `/usr/share/zoneinfo/NAME` exists (true when no name is asked for).
    pub zone_exists: bool,
}

#[async_trait]
impl QueryPlanApply for TimezoneModule {
    type Args = TimezoneArgs;
    type Seen = Seen;
    type Changes = Changes;

    fn name(&self) -> &'static str {
        "timezone"
    }

    fn collections(&self) -> &'static [&'static str] {
        &["community.general"]
    }

    fn parse(&self, args: Map) -> Result<TimezoneArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let name = a.str("name")?;
        let hwclock = match a.choice("hwclock", &["local", "UTC"])?.as_deref() {
            Some("local") => Some(Hwclock::Local),
            Some(_) => Some(Hwclock::Utc),
            None => None,
        };
        if name.is_none() && hwclock.is_none() {
            return Err(ModuleError::new(
                "one of the following is required: name, hwclock",
            ));
        }
        if let Some(n) = name.as_deref().filter(|n| !valid_name(n)) {
            return Err(ModuleError::new(format!(
                "given timezone \"{n}\" is not available"
            )));
        }
        Ok(TimezoneArgs { name, hwclock })
    }

    async fn query(&self, ctx: &ModuleContext<'_>, a: &TimezoneArgs) -> Result<Seen, ModuleError> {
        let r = read_all(ctx, &reads(a.name.as_deref())).await?;
        Ok(Seen {
            current: current(&r),
            zone_exists: a.name.is_none() || r.get("exists").ok(),
        })
    }

    fn plan(a: &TimezoneArgs, seen: &Seen) -> Result<Plan<Changes>, ModuleError> {
        if !seen.zone_exists {
            return Err(ModuleError::new(format!(
                "given timezone \"{}\" is not available",
                a.name.as_deref().unwrap_or_default()
            )));
        }
        let cur = &seen.current;
        let hwclock = a.hwclock.map(Hwclock::as_str);
        let script = change_script(cur, a.name.as_deref(), hwclock)?;
        let before = format!(
            "name: {}\nhwclock: {}\n",
            cur.name,
            cur.hwclock.clone().unwrap_or_default()
        );
        let after = format!(
            "name: {}\nhwclock: {}\n",
            a.name.as_deref().unwrap_or(&cur.name),
            hwclock.or(cur.hwclock.as_deref()).unwrap_or_default()
        );
        let result = ModuleResult::new(false).with_diff("timezone", "timezone", &before, &after);
        Ok(match script {
            Some(script) => {
                let etc_timezone = etc_timezone(cur, a.name.as_deref());
                Plan::change(
                    Changes {
                        script,
                        etc_timezone,
                    },
                    result,
                )
            }
            None => Plan::nothing(result),
        })
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        _a: &TimezoneArgs,
        c: Changes,
        result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        let out = run_sh(ctx, c.script, None).await?;
        ensure_ok(&out, |_, e| e.trim().to_string())?;
        if let Some(content) = &c.etc_timezone {
            let req = WriteRequest {
                dest: "/etc/timezone",
                data: content.as_bytes(),
                ..Default::default()
            };
            write_file(ctx, &req).await?;
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replies(pairs: &[(&str, &str, i32)]) -> Replies {
        let mut r = Replies::default();
        for (k, v, rc) in pairs {
            r.insert(k, v, *rc);
        }
        r
    }

    #[test]
    fn zone_is_read_from_timedatectl_or_localtime() {
        let sd = current(&replies(&[("systemd", "Etc/UTC\n", 0), ("rtc", "no\n", 0)]));
        assert_eq!(
            (sd.name.as_str(), sd.hwclock.as_deref()),
            ("Etc/UTC", Some("UTC"))
        );
        let no = current(&replies(&[(
            "localtime",
            "/usr/share/zoneinfo/Asia/Tokyo\n",
            0,
        )]));
        assert!(!no.systemd && no.name == "Asia/Tokyo" && no.hwclock.is_none());
    }

    #[test]
    fn plan_sets_the_zone_with_a_before_after_diff() {
        let a = TimezoneModule
            .parse(crate::testutil::args(
                serde_json::json!({"name": "Asia/Tokyo", "hwclock": "UTC"}),
            ))
            .unwrap();
        assert_eq!(a.hwclock, Some(Hwclock::Utc));
        let seen = Seen {
            current: Current {
                systemd: true,
                name: "Etc/UTC".into(),
                hwclock: Some("UTC".into()),
                etc_timezone: true,
            },
            zone_exists: true,
        };
        let p = TimezoneModule::plan(&a, &seen).unwrap();
        assert_eq!(
            p.changes,
            Some(Changes {
                script: "timedatectl set-timezone Asia/Tokyo".into(),
                etc_timezone: None,
            })
        );
        let r = p.result.into_map();
        assert_eq!(r["changed"], serde_json::json!(true));
        assert_eq!(
            r["diff"][0]["before"],
            serde_json::json!("name: Etc/UTC\nhwclock: UTC\n")
        );
        assert_eq!(
            r["diff"][0]["after"],
            serde_json::json!("name: Asia/Tokyo\nhwclock: UTC\n")
        );
        let debian = Seen {
            current: Current {
                systemd: false,
                ..seen.current.clone()
            },
            ..seen.clone()
        };
        let c = TimezoneModule::plan(&a, &debian).unwrap().changes.unwrap();
        assert!(c.script.contains("/etc/localtime"), "{}", c.script);
        assert_eq!(c.etc_timezone.as_deref(), Some("Asia/Tokyo\n"));
        let missing = Seen {
            zone_exists: false,
            ..seen
        };
        assert_eq!(
            TimezoneModule::plan(&a, &missing).unwrap_err().msg,
            "given timezone \"Asia/Tokyo\" is not available"
        );
    }

    #[test]
    fn only_what_differs_is_changed() {
        let cur = Current {
            systemd: true,
            name: "Etc/UTC".into(),
            hwclock: Some("UTC".into()),
            etc_timezone: true,
        };
        assert_eq!(
            change_script(&cur, Some("Etc/UTC"), Some("UTC")).unwrap(),
            None
        );
        assert_eq!(
            change_script(&cur, Some("Asia/Tokyo"), None)
                .unwrap()
                .unwrap(),
            "timedatectl set-timezone Asia/Tokyo"
        );
        let bare = Current {
            systemd: false,
            hwclock: None,
            ..cur.clone()
        };
        assert!(change_script(&bare, None, Some("local")).is_err());
        assert!(change_script(&bare, Some("Asia/Tokyo"), None)
            .unwrap()
            .unwrap()
            .contains("/etc/localtime"));
        assert_eq!(
            etc_timezone(&bare, Some("Asia/Tokyo")).as_deref(),
            Some("Asia/Tokyo\n")
        );
        assert_eq!(etc_timezone(&cur, Some("Asia/Tokyo")), None, "systemd");
        let no_file = Current {
            etc_timezone: false,
            ..bare
        };
        assert_eq!(etc_timezone(&no_file, Some("Asia/Tokyo")), None);
        assert!(!valid_name("../../etc/passwd") && valid_name("America/New_York"));
    }
}

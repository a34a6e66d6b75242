//! Dates and times as Ansible's Jinja sees them: the `now()` global, `to_datetime` and
//! `strftime` filters, and a datetime value with Python's attributes (`year` … `microsecond`),
//! methods (`strftime`, `isoformat`, `timestamp`, `weekday`, `isoweekday`, `date`) and `str()`
//! (`2026-12-02 11:10:00.123456`). Datetimes are naive, as Python's `datetime.now()` and
//! `utcnow()` are; ordering comparisons between them work, subtraction does not (minijinja has
//! no operator overloading; compare `timestamp()` values instead).

use super::filters_strings::text;
use super::op_err;
use chrono::{Datelike, Local, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use minijinja::value::{Kwargs, Object, ObjectRepr, Value as MjValue};
use minijinja::{Environment, Error, State};
use std::fmt::Write as _;
use std::sync::Arc;

pub fn register(env: &mut Environment<'static>) {
    env.add_function("now", now);
    env.add_filter("to_datetime", to_datetime);
    env.add_filter("strftime", strftime);
}

/// A Python `datetime.datetime` without a time zone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime(pub NaiveDateTime);

impl DateTime {
    pub fn value(dt: NaiveDateTime) -> MjValue {
        MjValue::from_object(DateTime(dt))
    }
}

/// Python's `strftime` on a chrono datetime: `%f` is microseconds (chrono's is nanoseconds);
/// an unknown directive is an error, not a panic.
pub fn py_strftime<T>(fmt: &str, dt: &T) -> Result<String, Error>
where
    T: ChronoFormat,
{
    let fmt = fmt.replace("%f", "%6f");
    let mut out = String::new();
    write!(out, "{}", dt.format_with(&fmt))
        .map_err(|_| op_err(format!("strftime: invalid format string {fmt:?}")))?;
    Ok(out)
}

/// The chrono types [`py_strftime`] formats.
pub trait ChronoFormat {
    fn format_with<'a>(
        &self,
        fmt: &'a str,
    ) -> chrono::format::DelayedFormat<chrono::format::StrftimeItems<'a>>;
}

impl ChronoFormat for NaiveDateTime {
    fn format_with<'a>(
        &self,
        fmt: &'a str,
    ) -> chrono::format::DelayedFormat<chrono::format::StrftimeItems<'a>> {
        self.format(fmt)
    }
}

impl<Tz: TimeZone> ChronoFormat for chrono::DateTime<Tz>
where
    Tz::Offset: std::fmt::Display,
{
    fn format_with<'a>(
        &self,
        fmt: &'a str,
    ) -> chrono::format::DelayedFormat<chrono::format::StrftimeItems<'a>> {
        self.format(fmt)
    }
}

impl Object for DateTime {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &MjValue) -> Option<MjValue> {
        let d = &self.0;
        let v: i64 = match key.as_str()? {
            "year" => d.year().into(),
            "month" => d.month().into(),
            "day" => d.day().into(),
            "hour" => d.hour().into(),
            "minute" => d.minute().into(),
            "second" => d.second().into(),
            "microsecond" => (d.nanosecond() / 1000 % 1_000_000).into(),
            _ => return None,
        };
        Some(MjValue::from(v))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[MjValue],
    ) -> Result<MjValue, Error> {
        let d = &self.0;
        match method {
            "strftime" => {
                let fmt = args
                    .first()
                    .ok_or_else(|| op_err("strftime() takes a format"))?;
                py_strftime(&text(fmt)?, d).map(MjValue::from)
            }
            "isoformat" => {
                let sep = args
                    .first()
                    .map(text)
                    .transpose()?
                    .unwrap_or_else(|| "T".into());
                Ok(MjValue::from(iso(d, &sep)))
            }
            "timestamp" => {
                let local = Local
                    .from_local_datetime(d)
                    .earliest()
                    .ok_or_else(|| op_err("timestamp(): this local time does not exist"))?;
                Ok(MjValue::from(
                    local.timestamp() as f64 + f64::from(d.nanosecond() / 1000) / 1e6,
                ))
            }
            "weekday" => Ok(MjValue::from(d.weekday().num_days_from_monday())),
            "isoweekday" => Ok(MjValue::from(d.weekday().number_from_monday())),
            "date" => Ok(MjValue::from(d.date().format("%Y-%m-%d").to_string())),
            _ => Err(Error::from(minijinja::ErrorKind::UnknownMethod)),
        }
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&iso(&self.0, " "))
    }

    fn custom_cmp(
        self: &Arc<Self>,
        other: &minijinja::value::DynObject,
    ) -> Option<std::cmp::Ordering> {
        other.downcast_ref::<DateTime>().map(|o| self.0.cmp(&o.0))
    }
}

/// Python's `isoformat(sep)`: microseconds only when not zero.
fn iso(d: &NaiveDateTime, sep: &str) -> String {
    let micros = d.nanosecond() / 1000 % 1_000_000;
    let base = format!("{}{sep}{}", d.format("%Y-%m-%d"), d.format("%H:%M:%S"));
    if micros == 0 {
        base
    } else {
        format!("{base}.{micros:06}")
    }
}

/// `now(utc=False, fmt=None)`: the current local (or UTC) time, as a datetime or, with `fmt`,
/// formatted.
fn now(kwargs: Kwargs) -> Result<MjValue, Error> {
    let utc = kwargs.get::<Option<bool>>("utc")?.unwrap_or(false);
    let fmt = kwargs.get::<Option<String>>("fmt")?;
    kwargs.assert_all_used()?;
    let dt = if utc {
        Utc::now().naive_utc()
    } else {
        Local::now().naive_local()
    };
    match fmt {
        Some(f) => py_strftime(&f, &dt).map(MjValue::from),
        None => Ok(DateTime::value(dt)),
    }
}

/// `string | to_datetime(format='%Y-%m-%d %H:%M:%S')`.
fn to_datetime(v: &MjValue, format: Option<String>) -> Result<MjValue, Error> {
    let s = text(v)?;
    let fmt = format.unwrap_or_else(|| "%Y-%m-%d %H:%M:%S".into());
    let cfmt = fmt.replace("%f", "%.f").replace("%.%.f", "%.f");
    if let Ok(dt) = NaiveDateTime::parse_from_str(&s, &cfmt) {
        return Ok(DateTime::value(dt));
    }
    // A format without a time part gives midnight, as Python's strptime does.
    if let Ok(d) = NaiveDate::parse_from_str(&s, &cfmt) {
        if let Some(dt) = d.and_hms_opt(0, 0, 0) {
            return Ok(DateTime::value(dt));
        }
    }
    Err(op_err(format!(
        "time data '{s}' does not match format '{fmt}'"
    )))
}

/// `'%Y-%m-%d' | strftime(second=None, utc=False)`: format a Unix time (default now).
fn strftime(fmt: &MjValue, second: Option<MjValue>, kwargs: Kwargs) -> Result<MjValue, Error> {
    let fmt = text(fmt)?;
    let second = match second {
        Some(s) => Some(s),
        None => kwargs.get::<Option<MjValue>>("second")?,
    };
    let utc = kwargs.get::<Option<bool>>("utc")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    let secs: Option<f64> = match second {
        None => None,
        Some(s) if s.is_none() => None,
        Some(s) => Some(
            text(&s)?
                .trim()
                .parse::<f64>()
                .map_err(|_| op_err(format!("Invalid value for epoch value ({s})")))?,
        ),
    };
    let whole = secs.map(|s| s.trunc() as i64);
    if utc {
        strftime_at(Utc, whole, &fmt)
    } else {
        strftime_at(Local, whole, &fmt)
    }
}

/// `fmt` applied to the Unix time `secs` (now when `None`) as seen in the time zone `tz`.
fn strftime_at<Tz: TimeZone>(tz: Tz, secs: Option<i64>, fmt: &str) -> Result<MjValue, Error>
where
    Tz::Offset: std::fmt::Display,
{
    let dt = match secs {
        Some(s) => tz
            .timestamp_opt(s, 0)
            .single()
            .ok_or_else(|| op_err("epoch value out of range"))?,
        None => Utc::now().with_timezone(&tz),
    };
    py_strftime(fmt, &dt).map(MjValue::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strftime_formats_an_epoch_in_utc_or_local_time() {
        let mut env = Environment::new();
        register(&mut env);
        let render = |src: &str| env.render_str(src, ()).unwrap_or_else(|e| e.to_string());
        assert_eq!(
            render("{{ '%Y-%m-%d %H:%M:%S' | strftime(86399, utc=True) }}"),
            "1970-01-01 23:59:59"
        );
        let local = Local
            .timestamp_opt(86399, 0)
            .single()
            .map(|d| d.format("%d %H").to_string());
        assert_eq!(
            Some(render("{{ '%d %H' | strftime(second=86399) }}")),
            local
        );
        assert!(render("{{ '%Y' | strftime(1e20, utc=True) }}").contains("out of range"));
    }
}

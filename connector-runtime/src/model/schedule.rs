//! Schedules: `#[job(.., cron = "*/5 * * * *")]` and `#[job(.., every = "30s")]`, as pure time
//! maths (when is the next tick); the engine's schedule tasks sleep until each one.
//!
//! A scheduled job receives a [`Tick`]. Each tick is accepted like a delivery, with the source
//! `schedule:{job}` and the tick's due time as its id, so a restarted engine, or a second engine
//! on the same store, never starts the same tick twice. Ticks due while no engine was running
//! are not caught up: after a restart the next tick is the next one due.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a scheduled job receives: the time its tick was due.
///
/// ```
/// use connector_runtime::prelude::*;
///
/// #[job(id = "nightly-report", name = "Nightly report", version = "1.0.0", cron = "0 3 * * *")]
/// async fn nightly_report(tick: Tick, io: NightlyReportIo<'_>) -> Result<String, JobError> {
///     Ok(format!("report for {}", tick.scheduled_at.date_naive()))
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tick {
    /// When the tick was due (a busy engine may start it a little later).
    pub scheduled_at: DateTime<Utc>,
}

/// When a scheduled job runs; `#[job(cron = ..)]` and `#[job(every = ..)]` give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Schedule {
    /// A cron expression, evaluated in UTC: 5 fields (`minute hour day-of-month month
    /// day-of-week`, as in crontab), or 6 with seconds first, or 7 with a year last; and the
    /// aliases `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`.
    Cron(&'static str),
    /// A fixed interval, aligned to the Unix epoch so every engine agrees on the ticks:
    /// `every = "1h"` ticks on the hour, `every = "30s"` at :00 and :30 of each minute.
    Every(Duration),
}

impl Schedule {
    /// The schedule as manifests and runs show it.
    pub fn to_ref(&self) -> ScheduleRef {
        match self {
            Schedule::Cron(expression) => ScheduleRef::Cron { cron: (*expression).to_owned() },
            Schedule::Every(period) => ScheduleRef::Every { every: format_duration(*period) },
        }
    }

    /// The first tick strictly after `after`, or `None` if there is none (a cron expression
    /// that never matches, like February 30th) or the expression does not parse.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        Timer::new(self).ok()?.next_after(after)
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.to_ref().fmt(f)
    }
}

/// A schedule in a manifest or a run's trigger: `{"cron": "*/5 * * * *"}` or `{"every": "30s"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ScheduleRef {
    /// A cron expression (UTC).
    Cron {
        /// The expression, as written.
        cron: String,
    },
    /// A fixed interval (`"200ms"`, `"30s"`, `"5m"`, `"1h"`).
    Every {
        /// The interval.
        every: String,
    },
}

impl std::fmt::Display for ScheduleRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScheduleRef::Cron { cron } => write!(f, "cron = \"{cron}\""),
            ScheduleRef::Every { every } => write!(f, "every = \"{every}\""),
        }
    }
}

/// `30000 ms` -> `"30s"`: the largest unit that divides the interval exactly.
pub(crate) fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    match millis {
        0 => "0ms".to_owned(),
        m if m.is_multiple_of(3_600_000) => format!("{}h", m / 3_600_000),
        m if m.is_multiple_of(60_000) => format!("{}m", m / 60_000),
        m if m.is_multiple_of(1_000) => format!("{}s", m / 1_000),
        m => format!("{m}ms"),
    }
}

/// A parsed schedule, ready to say when the next tick is due.
pub(crate) enum Timer {
    Cron(Box<croner::Cron>),
    Every(i64),
}

impl Timer {
    /// Parses the schedule; the error says what is wrong with it.
    pub(crate) fn new(schedule: &Schedule) -> Result<Timer, String> {
        match schedule {
            Schedule::Cron(expression) => croner::parser::CronParser::new()
                .parse(expression)
                .map(|cron| Timer::Cron(Box::new(cron)))
                .map_err(|error| {
                    format!(
                        "{error}; write 5 fields (minute hour day-of-month month day-of-week), like \"*/5 * * * *\", \
                         or 6 with seconds first, like \"*/10 * * * * *\""
                    )
                }),
            Schedule::Every(period) => match i64::try_from(period.as_millis()) {
                Ok(millis) if millis > 0 => Ok(Timer::Every(millis)),
                _ => Err("an interval must be at least 1ms (and less than ~292 million years)".to_owned()),
            },
        }
    }

    /// The first tick strictly after `after`.
    pub(crate) fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Timer::Cron(cron) => {
                let mut from = after;
                // Whole seconds only: a tick is never sub-second, and an `after` inside the
                // second of a tick must not yield that tick again.
                for _ in 0..2 {
                    let next = cron.find_next_occurrence(&from, false).ok()?;
                    if next > after {
                        return Some(next);
                    }
                    from = next;
                }
                None
            }
            Timer::Every(period) => {
                let now = after.timestamp_millis();
                let next = now.div_euclid(*period).checked_add(1)?.checked_mul(*period)?;
                DateTime::from_timestamp_millis(next)
            }
        }
    }
}

/// Checks a job's schedule at `EngineBuilder::build`: it parses and it ever fires.
pub(crate) fn check(schedule: &Schedule) -> Result<(), String> {
    let timer = Timer::new(schedule)?;
    match timer.next_after(Utc::now()) {
        Some(_) => Ok(()),
        None => Err("it never fires (no date matches it in the next few years)".to_owned()),
    }
}

/// The delivery id of a tick: its due time, RFC 3339 with milliseconds.
pub(crate) fn tick_id(due: DateTime<Utc>) -> String {
    due.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TriggerRef;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn durations_format_in_their_largest_exact_unit() {
        assert_eq!(format_duration(Duration::from_millis(200)), "200ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::from_secs(30)), "30s");
        assert_eq!(format_duration(Duration::from_secs(300)), "5m");
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
    }

    #[test]
    fn intervals_tick_on_multiples_of_the_period() {
        let every = Schedule::Every(Duration::from_secs(30));
        assert_eq!(every.next_after(at("2030-01-01T10:00:07.250Z")), Some(at("2030-01-01T10:00:30Z")));
        assert_eq!(every.next_after(at("2030-01-01T10:00:30Z")), Some(at("2030-01-01T10:01:00Z")));
    }

    #[test]
    fn cron_ticks_follow_crontab() {
        let five = Schedule::Cron("*/5 * * * *");
        assert_eq!(five.next_after(at("2030-01-01T10:03:59.900Z")), Some(at("2030-01-01T10:05:00Z")));
        assert_eq!(five.next_after(at("2030-01-01T10:05:00Z")), Some(at("2030-01-01T10:10:00Z")));
        assert_eq!(five.next_after(at("2030-01-01T10:05:00.001Z")), Some(at("2030-01-01T10:10:00Z")));
        // Day of week 1 is Monday, as in crontab; 2030-01-07 is a Monday.
        assert_eq!(
            Schedule::Cron("0 9 * * 1").next_after(at("2030-01-01T00:00:00Z")),
            Some(at("2030-01-07T09:00:00Z"))
        );
        let seconds = Schedule::Cron("*/10 * * * * *");
        assert_eq!(seconds.next_after(at("2030-01-01T10:00:00.500Z")), Some(at("2030-01-01T10:00:10Z")));
    }

    #[test]
    fn bad_schedules_are_explained() {
        assert!(check(&Schedule::Cron("61 * * * *")).unwrap_err().contains("write 5 fields"));
        assert!(check(&Schedule::Cron("* * *")).is_err());
        assert!(check(&Schedule::Cron("0 0 30 2 *")).unwrap_err().contains("never fires"));
        assert!(check(&Schedule::Every(Duration::ZERO)).is_err());
        assert!(check(&Schedule::Cron("@hourly")).is_ok());
    }

    #[test]
    fn schedule_refs_serialize_flat() {
        let trigger =
            TriggerRef::Schedule { job: "report".into(), schedule: ScheduleRef::Cron { cron: "0 3 * * *".into() } };
        let json = serde_json::to_value(&trigger).unwrap();
        assert_eq!(json, serde_json::json!({"kind": "schedule", "job": "report", "cron": "0 3 * * *"}));
        assert_eq!(serde_json::from_value::<TriggerRef>(json).unwrap(), trigger);
        let trigger =
            TriggerRef::Schedule { job: "sync".into(), schedule: Schedule::Every(Duration::from_secs(30)).to_ref() };
        let json = serde_json::to_value(&trigger).unwrap();
        assert_eq!(json, serde_json::json!({"kind": "schedule", "job": "sync", "every": "30s"}));
        assert_eq!(serde_json::from_value::<TriggerRef>(json).unwrap(), trigger);
    }
}

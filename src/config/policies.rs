//! Validation of the `calendars` and `policies` sections into the SLA engine's
//! own types, so the engine never sees a string it has to interpret.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::SignedDuration;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;

use super::raw::{RawCalendar, RawPolicy, RawTarget};
use super::{Problems, duration, parse_channel};
use crate::model::{Status, Target};
use crate::sla::calendar::{Calendar, Holiday, OpeningInterval};
use crate::sla::policy::{
    AtRisk, Matcher, Policy, PolicySet, ReopenMode, TargetSpec, UnansweredMode,
};

pub(super) fn validate(
    calendars: &[RawCalendar],
    policies: &[RawPolicy],
    problems: &mut Problems,
) -> PolicySet {
    let mut by_name: BTreeMap<&str, Arc<Calendar>> = BTreeMap::new();
    for (i, raw) in calendars.iter().enumerate() {
        let key = format!("calendars[{i}]");
        if by_name.contains_key(raw.name.as_str()) {
            problems.add(
                format!("{key}.name"),
                format!("duplicate calendar name {:?}", raw.name),
            );
            continue;
        }
        if let Some(calendar) = validate_calendar(raw, &key, problems) {
            by_name.insert(&raw.name, Arc::new(calendar));
        }
    }

    let always = Arc::new(Calendar::always());
    let mut out: Vec<Policy> = Vec::new();
    let mut catch_all: Option<&str> = None;
    for (i, raw) in policies.iter().enumerate() {
        let key = format!("policies[{i}]");
        if let Some(previous) = catch_all {
            problems.add(
                format!("{key}.name"),
                format!(
                    "policy {:?} is unreachable: policy {previous:?} before it has no `match` and catches every item",
                    raw.name
                ),
            );
        }
        if out.iter().any(|p| p.name == raw.name) {
            problems.add(
                format!("{key}.name"),
                format!("duplicate policy name {:?}", raw.name),
            );
        }
        if raw.name.is_empty() {
            problems.add(format!("{key}.name"), "must not be empty");
        }
        let matcher = raw.matcher.as_ref().map(|m| {
            let mut channels = Vec::new();
            for (j, c) in m.channels.iter().enumerate() {
                if let Some(c) =
                    problems.check(&format!("{key}.match.channels[{j}]"), parse_channel(c))
                {
                    channels.push(c);
                }
            }
            Matcher {
                channels,
                priorities: m.priorities.clone(),
                teams: m.teams.clone(),
                tags: m.tags.clone(),
            }
        });
        if matcher.is_none() {
            catch_all.get_or_insert(&raw.name);
        }
        if raw.targets.is_empty() {
            problems.add(format!("{key}.targets"), "must define at least one target");
        }
        let mut targets = Vec::new();
        for (name, spec) in &raw.targets {
            let tkey = format!("{key}.targets.{name}");
            if let Some(t) = validate_target(name, spec, &tkey, &by_name, &always, problems) {
                targets.push(t);
            }
        }
        out.push(Policy {
            name: raw.name.clone(),
            matcher,
            targets,
        });
    }
    PolicySet::new(out)
}

fn validate_calendar(raw: &RawCalendar, key: &str, problems: &mut Problems) -> Option<Calendar> {
    let before = problems.0.len();
    let tz = TimeZone::get(&raw.time_zone)
        .map_err(|_| {
            problems.add(
                format!("{key}.time_zone"),
                format!("unknown IANA time zone {:?}", raw.time_zone),
            )
        })
        .ok();
    let mut weekly = Vec::new();
    for (day, intervals) in &raw.hours {
        let Some(weekday) = parse_weekday(day) else {
            problems.add(
                format!("{key}.hours.{day}"),
                "unknown weekday (expected monday … sunday)",
            );
            continue;
        };
        for (j, text) in intervals.iter().enumerate() {
            let ikey = format!("{key}.hours.{day}[{j}]");
            if let Some((start, end)) = problems.check(&ikey, parse_interval(text)) {
                weekly.push(OpeningInterval {
                    weekday,
                    start,
                    end,
                });
            }
        }
    }
    let mut holidays = Vec::new();
    for (j, text) in raw.holidays.iter().enumerate() {
        if let Some(h) = problems.check(&format!("{key}.holidays[{j}]"), parse_holiday(text)) {
            holidays.push(h);
        }
    }
    if problems.0.len() > before {
        return None;
    }
    Calendar::new(&raw.name, tz?, weekly, holidays)
        .map_err(|e| problems.add(format!("{key}.hours"), e.to_string()))
        .ok()
}

fn validate_target(
    name: &str,
    raw: &RawTarget,
    key: &str,
    calendars: &BTreeMap<&str, Arc<Calendar>>,
    always: &Arc<Calendar>,
    problems: &mut Problems,
) -> Option<TargetSpec> {
    let before = problems.0.len();
    let target = Target::ALL.into_iter().find(|t| t.as_str() == name);
    if target.is_none() {
        let known: Vec<_> = Target::ALL.iter().map(|t| t.as_str()).collect();
        problems.add(
            key,
            format!("unknown target (expected one of {})", known.join(", ")),
        );
    }
    let within = problems.check(&format!("{key}.within"), duration::parse(&raw.within));
    if within.is_some_and(|d| d.is_zero()) {
        problems.add(format!("{key}.within"), "must be longer than 0s");
    }
    if within.is_some_and(|d| d > MAX_TARGET) {
        problems.add(
            format!("{key}.within"),
            format!(
                "{:?} is above the maximum {}",
                raw.within,
                duration::format_limit(MAX_TARGET)
            ),
        );
    }
    if !(raw.objective > 0.0 && raw.objective < 1.0) {
        problems.add(
            format!("{key}.objective"),
            format!(
                "must be a ratio between 0 and 1 exclusive (0.95 means 95%), got {}",
                raw.objective
            ),
        );
    }
    let calendar = match &raw.calendar {
        None => Some(always.clone()),
        Some(c) => {
            let found = calendars.get(c.as_str()).cloned();
            if found.is_none() {
                problems.add(
                    format!("{key}.calendar"),
                    format!("no calendar named {c:?}"),
                );
            }
            found
        }
    };
    let mut pause_statuses = Vec::new();
    for (j, s) in raw.pause_statuses.iter().enumerate() {
        if let Some(s) = problems.check(&format!("{key}.pause_statuses[{j}]"), parse_status(s)) {
            pause_statuses.push(s);
        }
    }
    let at_risk = raw
        .at_risk
        .as_deref()
        .and_then(|t| problems.check(&format!("{key}.at_risk"), parse_at_risk(t)));
    let reopen = match raw.reopen.as_deref() {
        None | Some("continue") => ReopenMode::Continue,
        Some("restart") => ReopenMode::Restart,
        Some(other) => {
            problems.add(
                format!("{key}.reopen"),
                format!("{other:?} is not continue or restart"),
            );
            ReopenMode::Continue
        }
    };
    if raw.reopen.is_some() && target.is_some_and(|t| t != Target::Resolution) {
        problems.add(
            format!("{key}.reopen"),
            "applies only to the resolution target",
        );
    }
    let unanswered = match raw.unanswered.as_deref() {
        None | Some("breach") => UnansweredMode::Breach,
        Some("ignore") => UnansweredMode::Ignore,
        Some(other) => {
            problems.add(
                format!("{key}.unanswered"),
                format!("{other:?} is not breach or ignore"),
            );
            UnansweredMode::Breach
        }
    };
    if raw.unanswered.is_some()
        && target.is_some_and(|t| !matches!(t, Target::Pickup | Target::Answer))
    {
        problems.add(
            format!("{key}.unanswered"),
            "applies only to the pickup and answer targets",
        );
    }
    if problems.0.len() > before {
        return None;
    }
    Some(TargetSpec {
        target: target?,
        within: within?,
        objective: raw.objective,
        calendar: calendar?,
        pause_statuses,
        at_risk,
        reopen,
        unanswered,
        use_vendor_due: raw.use_vendor_due,
    })
}

fn parse_weekday(text: &str) -> Option<Weekday> {
    Some(match text {
        "monday" => Weekday::Monday,
        "tuesday" => Weekday::Tuesday,
        "wednesday" => Weekday::Wednesday,
        "thursday" => Weekday::Thursday,
        "friday" => Weekday::Friday,
        "saturday" => Weekday::Saturday,
        "sunday" => Weekday::Sunday,
        _ => return None,
    })
}

fn parse_interval(text: &str) -> Result<(Time, Time), String> {
    let invalid =
        || format!("invalid opening interval {text:?} (expected HH:MM-HH:MM, e.g. 08:00-16:00)");
    let (a, b) = text.split_once('-').ok_or_else(invalid)?;
    let time = |t: &str| -> Result<Time, String> {
        let (h, m) = t.trim().split_once(':').ok_or_else(invalid)?;
        let (h, m): (i8, i8) = (
            h.parse().map_err(|_| invalid())?,
            m.parse().map_err(|_| invalid())?,
        );
        // 24:00 is the end of the day, the only way to write an interval that
        // closes at midnight without wrapping into the next day.
        if h == 24 && m == 0 {
            return Ok(Time::MIN);
        }
        Time::new(h, m, 0, 0).map_err(|_| invalid())
    };
    let (start, end) = (time(a)?, time(b)?);
    if start == end && !b.trim().starts_with("24") {
        return Err(format!("opening interval {text:?} is empty"));
    }
    Ok((start, end))
}

fn parse_holiday(text: &str) -> Result<Holiday, String> {
    if let Some(md) = text.strip_prefix("*-") {
        // Validate against a leap year so "*-02-29" is accepted.
        let date: Date = format!("2024-{md}")
            .parse()
            .map_err(|_| format!("invalid yearly holiday {text:?} (expected *-MM-DD)"))?;
        return Ok(Holiday::Yearly {
            month: date.month(),
            day: date.day(),
        });
    }
    text.parse::<Date>()
        .map(Holiday::Date)
        .map_err(|_| format!("invalid holiday {text:?} (expected YYYY-MM-DD or *-MM-DD)"))
}

fn parse_status(text: &str) -> Result<Status, String> {
    Status::ALL
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| {
            let names: Vec<_> = Status::ALL.iter().map(|s| s.as_str()).collect();
            format!(
                "unknown status {text:?} (expected one of {})",
                names.join(", ")
            )
        })
}

fn parse_at_risk(text: &str) -> Result<AtRisk, String> {
    if let Some(pct) = text.strip_suffix('%') {
        let p: f64 = pct
            .trim()
            .parse()
            .map_err(|_| format!("invalid percentage {text:?}"))?;
        if !(p > 0.0 && p < 100.0) {
            return Err(format!("{text:?} must be between 0% and 100% exclusive"));
        }
        return Ok(AtRisk::Fraction(p / 100.0));
    }
    let d = duration::parse(text)
        .map_err(|e| format!("{e}; or a percentage of the target such as 25%"))?;
    if d > MAX_TARGET {
        return Err(format!(
            "{text:?} is above the maximum {}",
            duration::format_limit(MAX_TARGET)
        ));
    }
    Ok(AtRisk::Remaining(d))
}

/// The longest `within` and `at_risk` (366 days): the engine walks business
/// time up to the deadline, so an absurd target costs CPU on every evaluation.
pub const MAX_TARGET: SignedDuration = SignedDuration::from_hours(24 * 366);

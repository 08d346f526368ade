//! Data-driven SLA cases: every `tests/sla_cases/*.txt` file holds cases of the
//! form below, each with hand-computed expectations (the `#` lines show the
//! arithmetic). `UPDATE_EXPECT=1 cargo test --test sla_table` rewrites the
//! `-- expect` blocks in place (rust-analyzer style); review the diff: it is for
//! formatting, the numbers were computed by hand.
//!
//! ```text
//! == name
//! zone Europe/Ljubljana            # zone the expectations are printed in (default UTC)
//! channel ticket                   # ticket | chat | call (default ticket)
//! created 2026-03-06T15:00+01:00
//! now 2026-03-09T12:00+01:00
//! reply|message|resolved|reopened|assigned|answered|ended <instant>
//! status <status> <start> [<end>]
//! vendor <target> <due> [<completed>]
//! voids_answers                    # the item's resolve_voids_answers (LiveAgent's rule)
//! target <target> <within> [cal=NAME] [pause=a,b] [risk=25%|risk=30m] [reopen=restart] [unanswered=ignore] [vendor]
//! -- expect
//! <target>#<cycle> <state> start=.. due=.. done=.. elapsed=.. remaining=.. [at_risk]
//! ```

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use helpdesk_sla_exporter::model::{Channel, Item, Status, StatusInterval, Target, VendorDue};
use helpdesk_sla_exporter::sla::{
    AtRisk, Calendar, Holiday, OpeningInterval, Outcome, Policy, ReopenMode, State, TargetSpec,
    UnansweredMode, evaluate,
};
use jiff::civil::{Weekday, date, time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// The calendars cases may name.
fn calendars() -> HashMap<&'static str, Arc<Calendar>> {
    use Weekday::*;
    let iv = |weekday, h1, m1, h2, m2| OpeningInterval {
        weekday,
        start: time(h1, m1, 0, 0),
        end: time(h2, m2, 0, 0),
    };
    let every = |h1, h2| {
        [
            Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday,
        ]
        .map(|d| iv(d, h1, 0, h2, 0))
        .to_vec()
    };
    let tz = |n| TimeZone::get(n).unwrap();
    let mut office = vec![];
    for d in [Monday, Tuesday, Wednesday, Thursday] {
        office.push(iv(d, 8, 0, 16, 0));
    }
    office.push(iv(Friday, 8, 0, 12, 0));
    office.push(iv(Friday, 13, 0, 16, 0));
    let eu_holidays = vec![
        Holiday::Date(date(2026, 6, 25)),
        Holiday::Yearly { month: 5, day: 1 },
        Holiday::Yearly { month: 12, day: 25 },
    ];
    let ny: Vec<_> = [Monday, Tuesday, Wednesday, Thursday, Friday]
        .map(|d| iv(d, 9, 0, 17, 0))
        .to_vec();
    let mut map = HashMap::new();
    map.insert("24x7", Arc::new(Calendar::always()));
    let mut add = |name, zone, week, hol| {
        map.insert(
            name,
            Arc::new(Calendar::new(name, tz(zone), week, hol).unwrap()),
        );
    };
    add("office-eu", "Europe/Ljubljana", office, eu_holidays);
    add(
        "office-ny",
        "America/New_York",
        ny,
        vec![Holiday::Date(date(2026, 11, 26))],
    );
    add(
        "night-eu",
        "Europe/Ljubljana",
        every(22, 6),
        vec![Holiday::Date(date(2026, 12, 25))],
    );
    add("night-ny", "America/New_York", every(20, 4), vec![]);
    map
}

#[derive(Default)]
struct Case {
    name: String,
    zone: Option<TimeZone>,
    item: Option<Item>,
    now: Option<Timestamp>,
    targets: Vec<TargetSpec>,
    channel: Option<Channel>,
    pending: Vec<(String, Vec<String>)>,
}

fn instant(s: &str) -> Timestamp {
    s.parse()
        .unwrap_or_else(|e| panic!("bad instant {s:?}: {e}"))
}

fn duration(s: &str) -> SignedDuration {
    let (mut total, mut num) = (0i64, String::new());
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: i64 = num.parse().unwrap_or_else(|_| panic!("bad duration {s:?}"));
        num.clear();
        total += n * match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => panic!("bad unit in {s:?}"),
        };
    }
    SignedDuration::from_secs(total)
}

fn target(s: &str) -> Target {
    *Target::ALL
        .iter()
        .find(|t| t.as_str() == s)
        .unwrap_or_else(|| panic!("unknown target {s}"))
}

fn status(s: &str) -> Status {
    use Status::*;
    *[
        New, Open, Answered, Pending, OnHold, Postponed, Resolved, Closed, Other,
    ]
    .iter()
    .find(|x| x.as_str() == s)
    .unwrap_or_else(|| panic!("unknown status {s}"))
}

impl Case {
    /// Builds the item once `created` and `channel` are known, then applies the
    /// remaining lines in order.
    fn finish(mut self, cals: &HashMap<&str, Arc<Calendar>>) -> Case {
        let mut item: Option<Item> = None;
        for (key, args) in std::mem::take(&mut self.pending) {
            let a = |i: usize| args[i].as_str();
            if key == "created" {
                item = Some(Item::new(
                    "test",
                    &self.name,
                    self.channel.unwrap_or(Channel::Ticket),
                    instant(a(0)),
                ));
                continue;
            }
            if key == "target" {
                let mut spec =
                    TargetSpec::new(target(a(0)), duration(a(1)), 0.9, cals["24x7"].clone());
                for opt in &args[2..] {
                    let (k, v) = opt.split_once('=').unwrap_or((opt, ""));
                    match k {
                        "cal" => spec.calendar = cals[v].clone(),
                        "pause" => spec.pause_statuses = v.split(',').map(status).collect(),
                        "risk" if v.ends_with('%') => {
                            let pct: f64 = v.trim_end_matches('%').parse().unwrap();
                            spec.at_risk = Some(AtRisk::Fraction(pct / 100.0));
                        }
                        "risk" => spec.at_risk = Some(AtRisk::Remaining(duration(v))),
                        "reopen" if v == "restart" => spec.reopen = ReopenMode::Restart,
                        "unanswered" if v == "ignore" => spec.unanswered = UnansweredMode::Ignore,
                        "vendor" => spec.use_vendor_due = true,
                        _ => panic!("{}: unknown target option {opt}", self.name),
                    }
                }
                self.targets.push(spec);
                continue;
            }
            let it = item
                .as_mut()
                .unwrap_or_else(|| panic!("{}: `created` must come first", self.name));
            match key.as_str() {
                "reply" => it.agent_replies.push(instant(a(0))),
                "message" => it.customer_messages.push(instant(a(0))),
                "resolved" => it.resolutions.push(instant(a(0))),
                "reopened" => it.reopenings.push(instant(a(0))),
                "assigned" => it.first_assigned_at = Some(instant(a(0))),
                "answered" => it.answered_at = Some(instant(a(0))),
                "ended" => it.ended_at = Some(instant(a(0))),
                "voids_answers" => it.resolve_voids_answers = true,
                "status" => it.statuses.push(StatusInterval {
                    status: status(a(0)),
                    start: instant(a(1)),
                    end: args.get(2).map(|s| instant(s)),
                }),
                "vendor" => it.vendor_due.push(VendorDue {
                    target: target(a(0)),
                    due_at: instant(a(1)),
                    completed_at: args.get(2).map(|s| instant(s)),
                    breached: None,
                }),
                _ => panic!("{}: unknown line {key}", self.name),
            }
        }
        self.item = item;
        self
    }
}

fn show_ts(t: Timestamp, tz: &TimeZone) -> String {
    let dt = tz.to_datetime(t);
    let secs = tz.to_offset(t).seconds();
    let offset = if secs == 0 {
        "Z".to_owned()
    } else {
        let sign = if secs < 0 { '-' } else { '+' };
        format!("{sign}{:02}:{:02}", secs.abs() / 3600, secs.abs() / 60 % 60)
    };
    let fmt = if dt.second() == 0 {
        "%Y-%m-%dT%H:%M"
    } else {
        "%Y-%m-%dT%H:%M:%S"
    };
    format!("{}{offset}", dt.strftime(fmt))
}

fn show_secs(s: i64) -> String {
    if s == 0 {
        return "0".into();
    }
    let (sign, mut a) = if s < 0 { ("-", -s) } else { ("", s) };
    let mut out = sign.to_string();
    for (unit, n) in [("h", 3600), ("m", 60), ("s", 1)] {
        if a >= n {
            out += &format!("{}{unit}", a / n);
            a %= n;
        }
    }
    out
}

fn render(outcomes: &[Outcome], tz: &TimeZone) -> String {
    let mut s = String::new();
    for o in outcomes {
        // Breached cycles carry breached_at == due_at, others none.
        match o.state {
            State::Breached => assert_eq!(o.breached_at, o.due_at),
            _ => assert_eq!(o.breached_at, None),
        }
        s += &format!(
            "{}#{} {} start={}",
            o.target,
            o.cycle,
            o.state.as_str(),
            show_ts(o.started_at, tz)
        );
        if let Some(d) = o.due_at {
            s += &format!(" due={}", show_ts(d, tz));
        }
        if let Some(d) = o.completed_at {
            s += &format!(" done={}", show_ts(d, tz));
        }
        s += &format!(
            " elapsed={} remaining={}",
            show_secs(o.elapsed_seconds),
            show_secs(o.remaining_seconds)
        );
        if o.at_risk {
            s += " at_risk";
        }
        s += "\n";
    }
    s
}

/// Runs every case of one file; returns the file with fresh expectations and
/// the names of the cases whose expectations differ.
fn check_file(
    text: &str,
    cals: &HashMap<&str, Arc<Calendar>>,
    count: &mut usize,
) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut failures = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        out += line;
        out += "\n";
        let Some(name) = line.strip_prefix("== ") else {
            continue;
        };
        let mut case = Case {
            name: name.trim().to_owned(),
            ..Case::default()
        };
        while let Some(&l) = lines.peek() {
            if l.starts_with("-- expect") || l.starts_with("== ") {
                break;
            }
            lines.next();
            out += l;
            out += "\n";
            let l = l.split(" #").next().unwrap_or("").trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let mut words = l.split_whitespace().map(str::to_owned);
            let key = words.next().unwrap_or_default();
            let args: Vec<String> = words.collect();
            match key.as_str() {
                "zone" => case.zone = Some(TimeZone::get(&args[0]).unwrap()),
                "channel" => {
                    case.channel = Some(match args[0].as_str() {
                        "chat" => Channel::Chat,
                        "call" => Channel::Call,
                        _ => Channel::Ticket,
                    })
                }
                "now" => case.now = Some(instant(&args[0])),
                _ => case.pending.push((key, args)),
            }
        }
        let case = case.finish(cals);
        let item = case
            .item
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no item", case.name));
        let policy = Policy {
            name: "case".into(),
            matcher: None,
            targets: case.targets.clone(),
        };
        let now = case.now.unwrap_or_else(|| panic!("{}: no now", case.name));
        let tz = case.zone.clone().unwrap_or(TimeZone::UTC);
        let actual = render(&evaluate(item, &policy, now), &tz);
        // Evaluating with every list reversed must give the same answer.
        let mut shuffled = item.clone();
        shuffled.statuses.reverse();
        shuffled.agent_replies.reverse();
        shuffled.customer_messages.reverse();
        shuffled.resolutions.reverse();
        shuffled.reopenings.reverse();
        assert_eq!(
            render(&evaluate(&shuffled, &policy, now), &tz),
            actual,
            "{}: order",
            case.name
        );
        let mut expected = String::new();
        if lines.peek().is_some_and(|l| l.starts_with("-- expect")) {
            lines.next();
            while let Some(&l) = lines.peek() {
                if l.trim().is_empty() || l.starts_with("== ") {
                    break;
                }
                expected += l;
                expected += "\n";
                lines.next();
            }
        }
        if expected != actual {
            failures.push(format!(
                "{}:\n--- expected\n{expected}--- actual\n{actual}",
                case.name
            ));
        }
        out += "-- expect\n";
        out += &actual;
        *count += 1;
    }
    (out, failures)
}

#[test]
fn sla_cases() {
    let cals = calendars();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sla_cases");
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    let (mut count, mut failures) = (0, Vec::new());
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let (fresh, mut failed) = check_file(&text, &cals, &mut count);
        if update && fresh != text {
            std::fs::write(&path, fresh).unwrap();
        } else {
            failures.append(&mut failed);
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) differ (UPDATE_EXPECT=1 rewrites):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(count >= 60, "only {count} cases");
}

//! Unit tests for the calendar primitives; the table is checked against the walk.

use super::*;
use jiff::civil::{Weekday::*, date, time};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn hm(h: i8, m: i8) -> Time {
    time(h, m, 0, 0)
}

fn iv(weekday: Weekday, start: Time, end: Time) -> OpeningInterval {
    OpeningInterval {
        weekday,
        start,
        end,
    }
}

/// Mon-Thu 08-16, Fri 08-12 and 13-16, Sat 22:00-02:00 overnight.
fn office(tz: &str, holidays: Vec<Holiday>) -> Calendar {
    let mut week = Vec::new();
    for wd in [Monday, Tuesday, Wednesday, Thursday] {
        week.push(iv(wd, hm(8, 0), hm(16, 0)));
    }
    week.push(iv(Friday, hm(8, 0), hm(12, 0)));
    week.push(iv(Friday, hm(13, 0), hm(16, 0)));
    week.push(iv(Saturday, hm(22, 0), hm(2, 0)));
    Calendar::new("office", TimeZone::get(tz).unwrap(), week, holidays).unwrap()
}

/// Every day 00:00-12:00 and 12:00-00:00: open around the clock in local time.
fn all_day(tz: &str) -> Calendar {
    let mut week = Vec::new();
    for wd in [
        Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday,
    ] {
        week.push(iv(wd, hm(0, 0), hm(12, 0)));
        week.push(iv(wd, hm(12, 0), hm(0, 0)));
    }
    Calendar::new("all", TimeZone::get(tz).unwrap(), week, vec![]).unwrap()
}

fn between(cal: &Calendar, a: &str, b: &str) -> i64 {
    cal.business_seconds_between(ts(a), ts(b))
}

#[test]
fn weekdays_weekend_and_overnight() {
    let cal = office("UTC", vec![]);
    // Monday 2026-03-02 09:00 to 15:00: six open hours.
    assert_eq!(
        between(&cal, "2026-03-02T09:00Z", "2026-03-02T15:00Z"),
        6 * 3600
    );
    // Friday 2026-03-06 11:00 to Monday 09:00: Fri 11-12 (1h) + 13-16 (3h),
    // Sat 22:00 to Sun 02:00 (4h), Mon 08-09 (1h) = 9h.
    assert_eq!(
        between(&cal, "2026-03-06T11:00Z", "2026-03-09T09:00Z"),
        9 * 3600
    );
    // Reversed arguments give the negative.
    assert_eq!(
        between(&cal, "2026-03-09T09:00Z", "2026-03-06T11:00Z"),
        -9 * 3600
    );
    // Sunday 01:00 is inside Saturday's night shift.
    assert!(cal.is_open(ts("2026-03-08T01:00Z")));
    assert!(!cal.is_open(ts("2026-03-08T02:00Z")));
    assert!(!cal.is_open(ts("2026-03-06T12:30Z")));
    assert_eq!(
        cal.next_open(ts("2026-03-06T12:30Z")),
        ts("2026-03-06T13:00Z")
    );
    assert_eq!(
        cal.next_open(ts("2026-03-06T16:00Z")),
        ts("2026-03-07T22:00Z")
    );
    assert_eq!(
        cal.next_open(ts("2026-03-02T09:00Z")),
        ts("2026-03-02T09:00Z")
    );
}

#[test]
fn add_lands_on_the_first_instant_reaching_the_sum() {
    let cal = office("UTC", vec![]);
    let fri = ts("2026-03-06T11:00Z");
    // 1h ends exactly at the lunch break: 12:00, not 13:00.
    assert_eq!(cal.add_business_seconds(fri, 3600), ts("2026-03-06T12:00Z"));
    assert_eq!(
        cal.add_business_seconds(fri, 3601),
        ts("2026-03-06T13:00:01Z")
    );
    // 4h: 1h + 3h ends Friday 16:00; 5h reaches Saturday 23:00.
    assert_eq!(
        cal.add_business_seconds(fri, 4 * 3600),
        ts("2026-03-06T16:00Z")
    );
    assert_eq!(
        cal.add_business_seconds(fri, 5 * 3600),
        ts("2026-03-07T23:00Z")
    );
    // Starting in closed time counts from the next opening.
    assert_eq!(
        cal.add_business_seconds(ts("2026-03-04T20:00Z"), 60),
        ts("2026-03-05T08:01Z")
    );
    assert_eq!(cal.add_business_seconds(fri, 0), fri);
    assert_eq!(cal.add_business_seconds(fri, -5), fri);
}

#[test]
fn holidays_close_the_whole_civil_day_but_not_the_night_before() {
    let cal = office(
        "UTC",
        vec![
            Holiday::Date(date(2026, 3, 4)),
            Holiday::Yearly { month: 3, day: 8 },
        ],
    );
    // Wednesday 2026-03-04 is a holiday: Tue 15:00 -> Thu 09:00 is 1h + 1h.
    assert_eq!(
        between(&cal, "2026-03-03T15:00Z", "2026-03-05T09:00Z"),
        2 * 3600
    );
    // Sunday 03-08 is a yearly holiday, but Saturday's shift started on the
    // 7th and keeps running into it: Sat 22:00 - Sun 02:00 is 4h.
    assert_eq!(
        between(&cal, "2026-03-07T00:00Z", "2026-03-09T00:00Z"),
        4 * 3600
    );
    // A Saturday 03-08 (2031) is itself closed: its shift never starts.
    assert_eq!(date(2031, 3, 8).weekday(), Saturday);
    assert_eq!(between(&cal, "2031-03-08T00:00Z", "2031-03-10T00:00Z"), 0);
}

#[test]
fn ljubljana_spring_forward_and_fall_back() {
    let cal = all_day("Europe/Ljubljana");
    // 2026-03-29 has 23 hours: 02:00 CET jumps to 03:00 CEST.
    assert_eq!(
        between(&cal, "2026-03-28T23:00Z", "2026-03-29T22:00Z"),
        23 * 3600
    );
    // 2026-10-25 has 25 hours: 03:00 CEST falls back to 02:00 CET.
    assert_eq!(
        between(&cal, "2026-10-24T22:00Z", "2026-10-25T23:00Z"),
        25 * 3600
    );
    // An opening at 02:30 on the spring-forward day starts at 03:00 CEST
    // (01:00Z), the first instant after the gap.
    let week = vec![iv(Sunday, hm(2, 30), hm(4, 0))];
    let tz = TimeZone::get("Europe/Ljubljana").unwrap();
    let gap = Calendar::new("gap", tz.clone(), week, vec![]).unwrap();
    assert_eq!(
        gap.next_open(ts("2026-03-29T00:00Z")),
        ts("2026-03-29T01:00Z")
    );
    // 03:00-04:00 CEST is one real hour.
    assert_eq!(
        between(&gap, "2026-03-29T00:00Z", "2026-03-30T00:00Z"),
        3600
    );
    // On the fall-back day 02:30-04:00 starts at the first 02:30 (00:30Z) and
    // runs to 04:00 CET (03:00Z): 2.5 real hours.
    assert_eq!(
        between(&gap, "2026-10-25T00:00Z", "2026-10-26T00:00Z"),
        9000
    );
    // An interval ending inside the fold ends at its second occurrence.
    let week = vec![iv(Sunday, hm(1, 0), hm(2, 30))];
    let fold = Calendar::new("fold", tz, week, vec![]).unwrap();
    // 01:00 CEST (23:00Z Sat) to the second 02:30 (01:30Z): 2.5h.
    assert_eq!(
        between(&fold, "2026-10-24T12:00Z", "2026-10-26T00:00Z"),
        9000
    );
}

#[test]
fn new_york_dst() {
    let cal = all_day("America/New_York");
    // 2026-03-08: 23 hours; 2026-11-01: 25 hours. Midnight EST is 05:00Z.
    assert_eq!(
        between(&cal, "2026-03-08T05:00Z", "2026-03-09T04:00Z"),
        23 * 3600
    );
    assert_eq!(
        between(&cal, "2026-11-01T04:00Z", "2026-11-02T05:00Z"),
        25 * 3600
    );
    let office = office("America/New_York", vec![]);
    // Monday 2026-03-09 08:00 EDT is 12:00Z; the Friday before 16:00 EST is 21:00Z.
    // Fri 15:00 EST (20:00Z) + 2h: 1h Friday, then Saturday 22:00 EST (03:00Z Sun)
    // + 1h = Sunday 04:00Z.
    assert_eq!(
        office.add_business_seconds(ts("2026-03-06T20:00Z"), 7200),
        ts("2026-03-08T04:00Z")
    );
}

#[test]
fn always_is_wall_time() {
    let cal = Calendar::always();
    assert_eq!(
        between(&cal, "2026-01-01T00:00Z", "2027-01-01T00:00Z"),
        365 * 86400
    );
    assert_eq!(
        cal.add_business_seconds(ts("2026-01-01T00:00Z"), 61),
        ts("2026-01-01T00:01:01Z")
    );
    assert!(cal.is_open(ts("2026-01-01T00:00Z")));
}

#[test]
fn table_agrees_with_the_walk() {
    let cal = office(
        "Europe/Ljubljana",
        vec![Holiday::Yearly { month: 12, day: 25 }],
    );
    let z = cal.zoned.as_ref().unwrap();
    let base = ts("2026-01-01T00:00Z").as_second();
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..300 {
        let a = base + rng.i64(0..400 * DAY);
        let b = a + rng.i64(0..40 * DAY);
        assert_eq!(
            cal.between_secs(a, b),
            walk_between(&z.rules, a, b),
            "{a} {b}"
        );
        let n = rng.i64(1..200 * 3600);
        assert_eq!(
            cal.add_secs(a, n),
            walk_add(&z.rules, a, n, i64::MAX).unwrap()
        );
    }
}

#[test]
fn outside_the_table_the_walk_answers() {
    let cal = office("UTC", vec![]);
    // A week in 1960 and one in 2150 both hold 4*8 + 7 + 4 = 43 hours.
    assert_eq!(
        between(&cal, "1960-03-07T00:00Z", "1960-03-14T00:00Z"),
        43 * 3600
    );
    assert_eq!(
        between(&cal, "2150-03-02T00:00Z", "2150-03-09T00:00Z"),
        43 * 3600
    );
    // Spanning the table's upper edge: 2099-12-31 is a Thursday (8h) and
    // 2100-01-01 a Friday (7h).
    assert_eq!(
        between(&cal, "2099-12-31T00:00Z", "2100-01-02T00:00Z"),
        15 * 3600
    );
    assert_eq!(
        cal.add_business_seconds(ts("2099-12-31T15:00Z"), 2 * 3600),
        ts("2100-01-01T09:00Z")
    );
    assert_eq!(
        cal.next_open(ts("1960-03-05T12:00Z")),
        ts("1960-03-05T22:00Z")
    );
}

#[test]
fn invalid_calendars_are_rejected_with_clear_messages() {
    let utc = || TimeZone::UTC;
    let err = |week, hol| {
        Calendar::new("c", utc(), week, hol)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err(vec![], vec![]),
        "calendar \"c\": no opening hours on any weekday"
    );
    assert_eq!(
        err(vec![iv(Monday, hm(8, 0), hm(8, 0))], vec![]),
        "calendar \"c\": monday 08:00-08:00 has zero length (start equals end); split a whole day as 00:00-12:00 and 12:00-00:00"
    );
    assert_eq!(
        err(
            vec![
                iv(Saturday, hm(22, 0), hm(6, 0)),
                iv(Sunday, hm(1, 0), hm(5, 0))
            ],
            vec![]
        ),
        "calendar \"c\": saturday 22:00-06:00 overlaps sunday 01:00-05:00"
    );
    assert_eq!(
        err(
            vec![
                iv(Monday, hm(9, 0), hm(12, 0)),
                iv(Sunday, hm(20, 0), hm(10, 0))
            ],
            vec![]
        ),
        "calendar \"c\": sunday 20:00-10:00 overlaps monday 09:00-12:00"
    );
    assert_eq!(
        err(
            vec![iv(Monday, hm(9, 0), hm(12, 0))],
            vec![Holiday::Yearly { month: 2, day: 30 }]
        ),
        "calendar \"c\": yearly holiday *-02-30 is not a day of any year"
    );
    // Touching intervals are fine.
    assert!(
        Calendar::new(
            "c",
            utc(),
            vec![
                iv(Monday, hm(8, 0), hm(12, 0)),
                iv(Monday, hm(12, 0), hm(16, 0))
            ],
            vec![]
        )
        .is_ok()
    );
}

#[test]
fn holidays_everywhere_never_open_without_hanging() {
    let mut hol = Vec::new();
    for month in 1..=12 {
        for day in 1..=31 {
            if Date::new(2000, month, day).is_ok() {
                hol.push(Holiday::Yearly { month, day });
            }
        }
    }
    let cal = Calendar::new(
        "never",
        TimeZone::UTC,
        vec![iv(Monday, hm(8, 0), hm(9, 0))],
        hol,
    )
    .unwrap();
    assert_eq!(between(&cal, "2026-01-01T00:00Z", "2027-01-01T00:00Z"), 0);
    assert!(cal.add_business_seconds(ts("2026-01-01T00:00Z"), 10) > ts("9000-01-01T00:00Z"));
}

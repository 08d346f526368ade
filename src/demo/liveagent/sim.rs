//! The simulated helpdesk: a seed-deterministic stream of tickets, chats and
//! calls for five departments of a company in Ljubljana.
//!
//! Time is cut into 10-minute buckets; each bucket's arrivals and each item's
//! whole future (replies, postponements, resolutions, reopenings) come from an
//! RNG seeded by `(seed, bucket, kind)`. The API then shows every item "as of
//! now": only the events at or before `now`. So the world is a pure function
//! of `(seed, now)`, and metrics move minute by minute as `now` advances.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// `(id, name, weight)`: the name is the `team` label and what the demo
/// policies match on.
pub const DEPARTMENTS: [(&str, &str, u32); 5] = [
    ("dep-billing", "Billing", 3),
    ("dep-tech", "Technical Support", 5),
    ("dep-sales", "Sales", 2),
    ("dep-onboarding", "Onboarding", 2),
    ("dep-returns", "Returns", 1),
];

const BUCKET_SECS: i64 = 600;
const OFFICE_TZ: &str = "Europe/Ljubljana";
const OPEN_HOUR: i8 = 8;
const CLOSE_HOUR: i8 = 16;

/// One status change of a ticket; `agent` is who holds it from then on.
#[derive(Debug, Clone)]
pub struct Event {
    pub at: Timestamp,
    pub status: char,
    pub agent: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SimTicket {
    pub id: String,
    pub dept: usize,
    pub created: Timestamp,
    pub vip: bool,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone)]
pub struct SimChat {
    pub id: String,
    pub dept: usize,
    pub created: Timestamp,
    pub started: Option<Timestamp>,
    pub ended: Timestamp,
}

#[derive(Debug, Clone)]
pub struct SimCall {
    pub id: String,
    pub inbound: bool,
    pub created: Timestamp,
    pub answered: Option<Timestamp>,
    pub finished: Timestamp,
}

/// Everything created in `[now - retention, now]`, with full futures; callers
/// cut at `now`.
pub struct World {
    pub tickets: Vec<SimTicket>,
    pub chats: Vec<SimChat>,
    pub calls: Vec<SimCall>,
}

pub fn world(seed: u64, now: Timestamp, retention: SignedDuration) -> World {
    let tz = TimeZone::get(OFFICE_TZ).unwrap_or(TimeZone::UTC);
    let first = (now - retention).as_second().div_euclid(BUCKET_SECS);
    let last = now.as_second().div_euclid(BUCKET_SECS);
    let mut w = World {
        tickets: Vec::new(),
        chats: Vec::new(),
        calls: Vec::new(),
    };
    for bucket in first..=last {
        let start = Timestamp::from_second(bucket * BUCKET_SECS).unwrap_or(now);
        let open = in_hours(&tz, start);
        let mut rng = fastrand::Rng::with_seed(mix(seed, bucket as u64, 1));
        for n in 0..arrivals(&mut rng, if open { 0.5 } else { 0.05 }) {
            let created = start + SignedDuration::from_secs(rng.i64(0..BUCKET_SECS));
            w.tickets
                .push(ticket(&tz, &mut rng, format!("t{bucket:x}{n}"), created));
        }
        let mut rng = fastrand::Rng::with_seed(mix(seed, bucket as u64, 2));
        for n in 0..arrivals(&mut rng, if open { 1.5 } else { 0.2 }) {
            let created = start + SignedDuration::from_secs(rng.i64(0..BUCKET_SECS));
            w.chats
                .push(chat(&mut rng, format!("ch{bucket:x}{n}"), created));
        }
        let mut rng = fastrand::Rng::with_seed(mix(seed, bucket as u64, 3));
        for n in 0..arrivals(&mut rng, if open { 1.2 } else { 0.1 }) {
            let created = start + SignedDuration::from_secs(rng.i64(0..BUCKET_SECS));
            w.calls
                .push(call(&mut rng, format!("k{bucket:x}{n}"), created));
        }
    }
    w.tickets.retain(|t| t.created <= now);
    w.chats.retain(|c| c.created <= now);
    w.calls.retain(|c| c.created <= now);
    w
}

/// A Poisson-ish count with mean `rate`: the integer part plus one more with
/// the fractional part's probability.
fn arrivals(rng: &mut fastrand::Rng, rate: f64) -> u32 {
    let mut n = rate.floor() as u32;
    if rng.f64() < rate.fract() {
        n += 1;
    }
    // Occasional bursts so queues form.
    if rng.f64() < 0.03 {
        n += rng.u32(1..4);
    }
    n
}

fn mins(rng: &mut fastrand::Rng, lo: i64, hi: i64) -> SignedDuration {
    SignedDuration::from_secs(rng.i64(lo * 60..hi * 60))
}

fn department(rng: &mut fastrand::Rng) -> usize {
    let total: u32 = DEPARTMENTS.iter().map(|d| d.2).sum();
    let mut pick = rng.u32(0..total);
    for (i, d) in DEPARTMENTS.iter().enumerate() {
        if pick < d.2 {
            return i;
        }
        pick -= d.2;
    }
    0
}

fn ticket(tz: &TimeZone, rng: &mut fastrand::Rng, id: String, created: Timestamp) -> SimTicket {
    let dept = department(rng);
    let vip = rng.f64() < 0.12;
    let agent = Some(format!("agent-{}-{}", dept, rng.u8(1..4)));
    let mut events = vec![Event {
        at: created,
        status: 'N',
        agent: None,
    }];
    let push = |events: &mut Vec<Event>, at: Timestamp, status: char, agent: &Option<String>| {
        let at = at.max(
            events
                .last()
                .map_or(at, |e: &Event| e.at + SignedDuration::from_secs(1)),
        );
        events.push(Event {
            at,
            status,
            agent: agent.clone(),
        });
        at
    };
    if rng.f64() < 0.02 {
        push(&mut events, created + mins(rng, 1, 30), 'B', &None);
        return SimTicket {
            id,
            dept,
            created,
            vip,
            events,
        };
    }
    // Mostly quick first answers, a tail that breaches a 4h target.
    let first_delay = match rng.f64() {
        p if p < 0.72 => mins(rng, 5, 150),
        p if p < 0.9 => mins(rng, 150, 300),
        _ => mins(rng, 300, 900),
    };
    let office = next_open(tz, created);
    if rng.f64() < 0.6 {
        let assign = office + mins(rng, 2, 40).min(first_delay);
        push(&mut events, assign, 'N', &agent);
    }
    let mut last = push(&mut events, office + first_delay, 'A', &agent);
    for _ in 0..3 {
        match rng.f64() {
            p if p < 0.4 => {
                let customer = push(&mut events, last + mins(rng, 20, 1800), 'C', &agent);
                last = push(
                    &mut events,
                    next_open(tz, customer) + reply_delay(rng),
                    'A',
                    &agent,
                );
            }
            p if p < 0.5 => {
                let parked = push(
                    &mut events,
                    next_open(tz, last + mins(rng, 10, 120)),
                    'W',
                    &agent,
                );
                let back = push(&mut events, parked + mins(rng, 120, 1440), 'C', &agent);
                last = push(
                    &mut events,
                    next_open(tz, back) + reply_delay(rng),
                    'A',
                    &agent,
                );
            }
            _ => break,
        }
    }
    if rng.f64() < 0.85 {
        let resolved = push(
            &mut events,
            next_open(tz, last + mins(rng, 60, 2880)),
            'R',
            &agent,
        );
        if rng.f64() < 0.1 {
            let reopened = push(&mut events, resolved + mins(rng, 60, 4320), 'C', &agent);
            let answered = push(
                &mut events,
                next_open(tz, reopened) + reply_delay(rng),
                'A',
                &agent,
            );
            push(
                &mut events,
                next_open(tz, answered + mins(rng, 60, 1440)),
                'R',
                &agent,
            );
        }
    }
    SimTicket {
        id,
        dept,
        created,
        vip,
        events,
    }
}

/// Next-answer delays: usually within the 8h target, sometimes not.
fn reply_delay(rng: &mut fastrand::Rng) -> SignedDuration {
    if rng.f64() < 0.85 {
        mins(rng, 5, 240)
    } else {
        mins(rng, 240, 720)
    }
}

fn chat(rng: &mut fastrand::Rng, id: String, created: Timestamp) -> SimChat {
    let dept = department(rng);
    let secs = |rng: &mut fastrand::Rng, lo, hi| SignedDuration::from_secs(rng.i64(lo..hi));
    if rng.f64() < 0.1 {
        let ended = created + secs(rng, 60, 300);
        return SimChat {
            id,
            dept,
            created,
            started: None,
            ended,
        };
    }
    let wait = if rng.f64() < 0.75 {
        secs(rng, 3, 50)
    } else {
        secs(rng, 50, 200)
    };
    let started = created + wait;
    SimChat {
        id,
        dept,
        created,
        started: Some(started),
        ended: started + secs(rng, 180, 1500),
    }
}

fn call(rng: &mut fastrand::Rng, id: String, created: Timestamp) -> SimCall {
    let inbound = rng.f64() < 0.9;
    let secs = |rng: &mut fastrand::Rng, lo, hi| SignedDuration::from_secs(rng.i64(lo..hi));
    if inbound && rng.f64() < 0.12 {
        let finished = created + secs(rng, 20, 90);
        return SimCall {
            id,
            inbound,
            created,
            answered: None,
            finished,
        };
    }
    let wait = if rng.f64() < 0.8 {
        secs(rng, 2, 28)
    } else {
        secs(rng, 28, 90)
    };
    let answered = created + wait;
    SimCall {
        id,
        inbound,
        created,
        answered: Some(answered),
        finished: answered + secs(rng, 60, 720),
    }
}

fn in_hours(tz: &TimeZone, t: Timestamp) -> bool {
    let z = t.to_zoned_datetime(tz.clone());
    let weekday = z.weekday().to_monday_one_offset();
    weekday <= 5 && (OPEN_HOUR..CLOSE_HOUR).contains(&z.hour())
}

/// `t` if the office is open, else the next opening (weekdays 08:00-16:00).
pub fn next_open(tz: &TimeZone, t: Timestamp) -> Timestamp {
    if in_hours(tz, t) {
        return t;
    }
    let z = t.to_zoned_datetime(tz.clone());
    let mut day = z.date();
    if z.hour() >= OPEN_HOUR {
        day = day.tomorrow().unwrap_or(day);
    }
    while day.weekday().to_monday_one_offset() > 5 {
        day = day.tomorrow().unwrap_or(day);
    }
    day.at(OPEN_HOUR, 0, 0, 0)
        .to_zoned_datetime(tz.clone())
        .map_or(t, |z| z.timestamp())
}

/// SplitMix64 over the inputs: independent, well-spread seeds per bucket.
fn mix(seed: u64, bucket: u64, kind: u64) -> u64 {
    let mut z = seed
        ^ bucket.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ kind.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

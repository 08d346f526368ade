//! The simulated helpdesk: a seed-deterministic stream of tickets, chats and
//! calls for five departments working in four time zones, plus a 24x7
//! technical support desk, so the demo has running, at-risk, breached and met
//! items at any hour of any day.
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

/// When each department (same order as [`DEPARTMENTS`]) works: its agents
/// answer then, and most of its customers write then. The demo's calendars in
/// `DEMO_POLICY_YAML` say the same.
pub const HOURS: [Hours; 5] = [
    Hours::Office {
        time_zone: "Europe/Ljubljana",
        open: 8,
        close: 16,
    },
    Hours::Always,
    Hours::Office {
        time_zone: "America/New_York",
        open: 9,
        close: 17,
    },
    Hours::Office {
        time_zone: "Asia/Tokyo",
        open: 9,
        close: 18,
    },
    Hours::Office {
        time_zone: "America/Los_Angeles",
        open: 8,
        close: 16,
    },
];

/// Ticket arrivals per 10-minute bucket while a department works, by
/// department. The 24x7 desk is the busiest so nights and weekends have
/// queues of their own.
const TICKET_RATE: [f64; 5] = [0.15, 0.5, 0.1, 0.1, 0.06];
/// Chat and call arrivals per bucket while a department works.
const CHAT_RATE: [f64; 5] = [0.3, 0.3, 0.2, 0.15, 0.1];
const CALL_RATE: [f64; 5] = [0.25, 0.25, 0.2, 0.1, 0.1];
/// Share of a department's rate that still arrives while it is closed.
const CLOSED_SHARE: f64 = 0.1;

const BUCKET_SECS: i64 = 600;

/// A department's working hours: weekdays `open..close` local time, or always.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hours {
    Always,
    Office {
        time_zone: &'static str,
        open: i8,
        close: i8,
    },
}

impl Hours {
    fn zone(time_zone: &str) -> TimeZone {
        TimeZone::get(time_zone).unwrap_or(TimeZone::UTC)
    }

    /// Whether the department works at `t`.
    pub fn is_open(self, t: Timestamp) -> bool {
        match self {
            Hours::Always => true,
            Hours::Office {
                time_zone,
                open,
                close,
            } => {
                let z = t.to_zoned_datetime(Self::zone(time_zone));
                z.weekday().to_monday_one_offset() <= 5 && (open..close).contains(&z.hour())
            }
        }
    }

    /// `t` if the department works then, else its next opening.
    pub fn next_open(self, t: Timestamp) -> Timestamp {
        let Hours::Office {
            time_zone, open, ..
        } = self
        else {
            return t;
        };
        if self.is_open(t) {
            return t;
        }
        let tz = Self::zone(time_zone);
        let z = t.to_zoned_datetime(tz.clone());
        let mut day = z.date();
        if z.hour() >= open {
            day = day.tomorrow().unwrap_or(day);
        }
        while day.weekday().to_monday_one_offset() > 5 {
            day = day.tomorrow().unwrap_or(day);
        }
        day.at(open, 0, 0, 0)
            .to_zoned_datetime(tz)
            .map_or(t, |z| z.timestamp())
    }
}

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
    let (first, last) = buckets(now, retention);
    let mut w = world_buckets(seed, first, last);
    w.tickets.retain(|t| t.created <= now);
    w.chats.retain(|c| c.created <= now);
    w.calls.retain(|c| c.created <= now);
    w
}

/// The first and last 10-minute bucket of the world as of `now`.
pub fn buckets(now: Timestamp, retention: SignedDuration) -> (i64, i64) {
    (
        (now - retention).as_second().div_euclid(BUCKET_SECS),
        now.as_second().div_euclid(BUCKET_SECS),
    )
}

/// Everything created in buckets `first..=last`, including the part of the
/// last bucket still in the future of any `now` within it; callers cut.
pub fn world_buckets(seed: u64, first: i64, last: i64) -> World {
    let mut w = World {
        tickets: Vec::new(),
        chats: Vec::new(),
        calls: Vec::new(),
    };
    for bucket in first..=last {
        let start = Timestamp::from_second(bucket * BUCKET_SECS).unwrap_or_default();
        // Each department's rate now: full while it works, a trickle otherwise.
        let open = HOURS.map(|h| if h.is_open(start) { 1.0 } else { CLOSED_SHARE });
        let rates = |base: &[f64; 5]| -> [f64; 5] { std::array::from_fn(|d| base[d] * open[d]) };
        let mut rng = fastrand::Rng::with_seed(mix(seed, bucket as u64, 1));
        let weights = rates(&TICKET_RATE);
        for n in 0..arrivals(&mut rng, weights.iter().sum()) {
            let created = start + SignedDuration::from_secs(rng.i64(0..BUCKET_SECS));
            let dept = department(&mut rng, &weights);
            w.tickets
                .push(ticket(&mut rng, format!("t{bucket:x}{n}"), dept, created));
        }
        let mut rng = fastrand::Rng::with_seed(mix(seed, bucket as u64, 2));
        let weights = rates(&CHAT_RATE);
        for n in 0..arrivals(&mut rng, weights.iter().sum()) {
            let created = start + SignedDuration::from_secs(rng.i64(0..BUCKET_SECS));
            let dept = department(&mut rng, &weights);
            w.chats
                .push(chat(&mut rng, format!("ch{bucket:x}{n}"), dept, created));
        }
        let mut rng = fastrand::Rng::with_seed(mix(seed, bucket as u64, 3));
        for n in 0..arrivals(&mut rng, rates(&CALL_RATE).iter().sum()) {
            let created = start + SignedDuration::from_secs(rng.i64(0..BUCKET_SECS));
            w.calls
                .push(call(&mut rng, format!("k{bucket:x}{n}"), created));
        }
    }
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

/// A department drawn in proportion to `weights` (its arrival rate now).
fn department(rng: &mut fastrand::Rng, weights: &[f64; 5]) -> usize {
    let mut pick = rng.f64() * weights.iter().sum::<f64>();
    for (i, w) in weights.iter().enumerate() {
        if pick < *w {
            return i;
        }
        pick -= w;
    }
    0
}

fn ticket(rng: &mut fastrand::Rng, id: String, dept: usize, created: Timestamp) -> SimTicket {
    let hours = HOURS[dept];
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
    let office = hours.next_open(created);
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
                    hours.next_open(customer) + reply_delay(rng),
                    'A',
                    &agent,
                );
            }
            p if p < 0.5 => {
                let parked = push(
                    &mut events,
                    hours.next_open(last + mins(rng, 10, 120)),
                    'W',
                    &agent,
                );
                let back = push(&mut events, parked + mins(rng, 120, 1440), 'C', &agent);
                last = push(
                    &mut events,
                    hours.next_open(back) + reply_delay(rng),
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
            hours.next_open(last + mins(rng, 60, 2880)),
            'R',
            &agent,
        );
        if rng.f64() < 0.1 {
            let reopened = push(&mut events, resolved + mins(rng, 60, 4320), 'C', &agent);
            let answered = push(
                &mut events,
                hours.next_open(reopened) + reply_delay(rng),
                'A',
                &agent,
            );
            push(
                &mut events,
                hours.next_open(answered + mins(rng, 60, 1440)),
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

fn chat(rng: &mut fastrand::Rng, id: String, dept: usize, created: Timestamp) -> SimChat {
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

/// SplitMix64 over the inputs: independent, well-spread seeds per bucket.
fn mix(seed: u64, bucket: u64, kind: u64) -> u64 {
    let mut z = seed
        ^ bucket.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ kind.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

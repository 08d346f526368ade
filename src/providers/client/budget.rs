//! Waiting rules: the client-side request budget and the vendor's `Retry-After`.

use std::time::Duration;

use jiff::Timestamp;
use reqwest::header::HeaderMap;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Parse a `Retry-After` value: delta seconds or an HTTP date (RFC 9110, which
/// jiff reads as RFC 2822). A date in the past means "now".
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(value)
        .ok()?;
    let delta = at.duration_since(now);
    Some(Duration::try_from(delta).unwrap_or(Duration::ZERO))
}

/// The longest pause a vendor's rate-limit headers can impose on the budget.
const MAX_HEADER_PAUSE: Duration = Duration::from_secs(600);

/// How long to hold back after a successful response whose rate-limit headers
/// say the vendor's window is used up: `ratelimit-remaining: 0` (IETF draft)
/// or `x-rate-limit-remaining: 0` (Zendesk) with `ratelimit-reset` seconds,
/// else a one-minute window; or a structured value `…remaining=0; resets=S`
/// (Zendesk's `zendesk-ratelimit-*`); or Freshdesk's credits,
/// `x-ratelimit-remaining` below `x-ratelimit-used-currentrequest` (the next
/// request of the same kind would not fit), for the rest of its one-minute
/// window. `None` while requests remain or when the vendor sends no such
/// headers (LiveAgent).
pub fn header_pause(headers: &HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let number = |name: &str| get(name).and_then(|v| v.trim().parse::<u64>().ok());
    let remaining = number("ratelimit-remaining").or_else(|| number("x-rate-limit-remaining"));
    let mut pause = match remaining {
        Some(0) => Some(Duration::from_secs(number("ratelimit-reset").unwrap_or(60))),
        _ => None,
    };
    if let (Some(left), Some(cost)) = (
        number("x-ratelimit-remaining"),
        number("x-ratelimit-used-currentrequest"),
    ) && left < cost.max(1)
    {
        pause = Some(pause.map_or(Duration::from_secs(60), |p| p.max(Duration::from_secs(60))));
    }
    for value in headers.values().filter_map(|v| v.to_str().ok()) {
        let field = |key: &str| {
            value.split(';').find_map(|part| {
                let (k, v) = part.split_once('=')?;
                (k.trim() == key).then(|| v.trim().parse::<u64>().ok())?
            })
        };
        if field("remaining") == Some(0) {
            let resets = Duration::from_secs(field("resets").unwrap_or(60));
            pause = Some(pause.map_or(resets, |p| p.max(resets)));
        }
    }
    if let Some(spacing) = atlassian_pause(headers, jiff::Timestamp::now()) {
        pause = Some(pause.map_or(spacing, |p| p.max(spacing)));
    }
    pause.map(|p| p.min(MAX_HEADER_PAUSE))
}

/// Jira Cloud's headers (developer.atlassian.com, "Rate limiting"):
/// `X-RateLimit-Remaining: 0` holds until the ISO 8601 `X-RateLimit-Reset`
/// (a minute when it is absent or unreadable); `X-RateLimit-NearLimit: true`
/// (under a fifth of a budget left) spaces requests so the remaining ones
/// last until the reset, or one a second when the reset is not given.
/// Freshdesk's spelling of the same header comes with
/// `x-ratelimit-used-currentrequest` and is handled above.
fn atlassian_pause(headers: &HeaderMap, now: jiff::Timestamp) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if get("x-ratelimit-used-currentrequest").is_some() {
        return None;
    }
    let remaining = get("x-ratelimit-remaining").and_then(|v| v.trim().parse::<u64>().ok());
    let reset = get("x-ratelimit-reset").and_then(|v| super::parse_reset(v, now));
    let near = get("x-ratelimit-nearlimit").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    match (remaining, near) {
        (Some(0), _) => Some(reset.unwrap_or(Duration::from_secs(60))),
        (Some(left), true) => Some(reset.map_or(Duration::from_secs(1), |r| {
            r / (left as u32).saturating_add(1)
        })),
        (None, true) => Some(reset.unwrap_or(Duration::from_secs(1))),
        _ => None,
    }
}

/// A token bucket in GCRA form: requests are spaced `60s / rpm` apart with a
/// burst of a tenth of the budget. Any 60-second window then sees at most
/// 1.1 × rpm requests, so 150/min stays under LiveAgent's 180/min.
pub struct Budget {
    interval: Duration,
    tolerance: Duration,
    /// The theoretical arrival time of the next request.
    tat: Mutex<Option<Instant>>,
}

impl Budget {
    pub fn new(requests_per_minute: u32) -> Budget {
        let rpm = requests_per_minute.max(1);
        let interval = Duration::from_secs(60) / rpm;
        let burst = (rpm / 10).max(1);
        Budget {
            interval,
            tolerance: interval * (burst - 1),
            tat: Mutex::new(None),
        }
    }

    /// Wait for a slot and return how long we waited. Waiters queue on the
    /// mutex, so concurrent callers are served in order.
    pub async fn acquire(&self) -> Duration {
        let mut tat = self.tat.lock().await;
        let now = Instant::now();
        let current = tat.map_or(now, |t| t.max(now));
        let allowed_at = current
            .checked_sub(self.tolerance)
            .map_or(now, |t| t.max(now));
        if allowed_at > now {
            tokio::time::sleep_until(allowed_at).await;
        }
        *tat = Some(current + self.interval);
        allowed_at - now
    }

    /// Holds every further request until `until` at least (the vendor said
    /// its window is used up); [`Budget::acquire`] reports the wait.
    pub async fn hold_until(&self, until: Instant) {
        let mut tat = self.tat.lock().await;
        let held = until + self.tolerance;
        *tat = Some(tat.map_or(held, |t| t.max(held)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 2026 00:02:00 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 31 Dec 2025 00:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn rate_limit_headers() {
        let headers = |pairs: &[(&'static str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().unwrap());
            }
            h
        };
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(header_pause(&headers(&[])), None);
        assert_eq!(
            header_pause(&headers(&[("x-rate-limit-remaining", "699")])),
            None
        );
        assert_eq!(
            header_pause(&headers(&[
                ("ratelimit-remaining", "0"),
                ("ratelimit-reset", "41")
            ])),
            secs(41)
        );
        assert_eq!(
            header_pause(&headers(&[("x-rate-limit-remaining", "0")])),
            secs(60)
        );
        assert_eq!(
            header_pause(&headers(&[(
                "zendesk-ratelimit-tickets-index",
                "total=100; remaining=0; resets=12"
            )])),
            secs(12)
        );
        assert_eq!(
            header_pause(&headers(&[(
                "zendesk-ratelimit-tickets-index",
                "total=100; remaining=99; resets=12"
            )])),
            None
        );
        assert_eq!(
            header_pause(&headers(&[
                ("ratelimit-remaining", "0"),
                ("ratelimit-reset", "86400")
            ])),
            Some(MAX_HEADER_PAUSE)
        );
        // Jira Cloud: used up until the ISO reset; near the limit, the
        // remaining requests spread until the reset.
        let in_90s = (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(90))
            .strftime("%Y-%m-%dT%H:%MZ")
            .to_string();
        let jira = |remaining: &str, near: &str, reset: &str| {
            let mut h = vec![
                ("x-ratelimit-remaining", remaining),
                ("x-ratelimit-nearlimit", near),
            ];
            if !reset.is_empty() {
                h.push(("x-ratelimit-reset", reset));
            }
            header_pause(&headers(&h))
        };
        assert_eq!(jira("500", "false", &in_90s), None);
        // The reset has minute precision: between 30 and 90 s from now.
        let used_up = jira("0", "true", &in_90s).unwrap();
        assert!((29..=90).contains(&used_up.as_secs()), "{used_up:?}");
        assert_eq!(jira("0", "false", ""), secs(60));
        let spaced = jira("9", "true", &in_90s).unwrap();
        assert!(
            spaced <= Duration::from_secs(9) && spaced >= Duration::from_secs(2),
            "{spaced:?}"
        );
        assert_eq!(jira("9", "true", ""), secs(1));
        // Freshdesk: credits left below what the last request cost.
        let freshdesk = |left: &str| {
            header_pause(&headers(&[
                ("x-ratelimit-total", "200"),
                ("x-ratelimit-remaining", left),
                ("x-ratelimit-used-currentrequest", "3"),
            ]))
        };
        assert_eq!(freshdesk("3"), None);
        assert_eq!(freshdesk("2"), secs(60));
        assert_eq!(freshdesk("0"), secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn hold_until_delays_the_next_request() {
        let budget = Budget::new(600);
        assert_eq!(budget.acquire().await, Duration::ZERO);
        budget
            .hold_until(Instant::now() + Duration::from_secs(30))
            .await;
        assert_eq!(budget.acquire().await, Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn budget_spaces_requests_after_the_burst() {
        let budget = Budget::new(60);
        let start = Instant::now();
        let waits: Vec<_> = futures_wait(&budget, 8).await;
        assert_eq!(waits[..6], [Duration::ZERO; 6]);
        assert_eq!(waits[6..], [Duration::from_secs(1); 2]);
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    async fn futures_wait(budget: &Budget, n: usize) -> Vec<Duration> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(budget.acquire().await);
        }
        out
    }
}

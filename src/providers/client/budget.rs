//! Waiting rules: the client-side request budget and the vendor's `Retry-After`.

use std::time::Duration;

use jiff::Timestamp;
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

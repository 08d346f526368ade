//! The injected "now": the wall clock in production, a fixed instant in golden
//! tests, reports and `--debug.fixed-time`. Everything that asks for the time
//! outside the pure SLA engine (which takes `now` as a parameter) asks a
//! [`Clock`], so tests never depend on when they run.

use std::sync::Arc;

use jiff::Timestamp;

/// Returns "now" each time it is called.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The wall clock.
pub fn wall() -> Clock {
    Arc::new(Timestamp::now)
}

/// Always `t`.
pub fn fixed(t: Timestamp) -> Clock {
    Arc::new(move || t)
}

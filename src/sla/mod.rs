//! The SLA engine: pure evaluation of SLA targets over business-time calendars.
//! No IO, no clock, no tokio: `now` is always a parameter.
//!
//! - [`calendar`]: business hours (zone, weekly intervals, holidays) and
//!   business-time arithmetic.
//! - [`policy`]: which policy applies to an item, and each target's settings.
//! - [`mod@evaluate`]: item + policy + `now` -> one [`Outcome`] per target and cycle.
//!
//! The semantics for users are in `docs/sla-semantics.md`.

pub mod calendar;
pub mod evaluate;
mod intervals;
pub mod policy;

pub use calendar::{Calendar, CalendarError, Holiday, OpeningInterval};
pub use evaluate::{Outcome, State, evaluate, evaluate_into};
pub use policy::{AtRisk, Matcher, Policy, PolicySet, ReopenMode, TargetSpec, UnansweredMode};

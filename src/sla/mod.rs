//! The SLA engine: pure evaluation of SLA targets over business-time calendars.
//! No IO, no clock, no tokio: `now` is always a parameter.

pub mod calendar;
pub mod policy;

//! Placeholder until the SLA engine branch lands (replaced on merge).
use std::sync::Arc;

use super::calendar::Calendar;
use crate::model::{Channel, Status, Target};

#[derive(Debug)]
pub struct Policy {
    pub name: String,
    pub matcher: Option<Matcher>,
    pub targets: Vec<TargetSpec>,
}
#[derive(Debug)]
pub struct Matcher {
    pub channels: Vec<Channel>,
    pub priorities: Vec<String>,
    pub teams: Vec<String>,
    pub tags: Vec<String>,
}
#[derive(Debug)]
pub struct TargetSpec {
    pub target: Target,
    pub within: jiff::SignedDuration,
    pub objective: f64,
    pub calendar: Arc<Calendar>,
    pub pause_statuses: Vec<Status>,
    pub at_risk: Option<AtRisk>,
    pub reopen: ReopenMode,
    pub unanswered: UnansweredMode,
    pub use_vendor_due: bool,
}
#[derive(Debug)]
pub enum AtRisk {
    Fraction(f64),
    Remaining(jiff::SignedDuration),
}
#[derive(Debug)]
pub enum ReopenMode {
    Continue,
    Restart,
}
#[derive(Debug)]
pub enum UnansweredMode {
    Breach,
    Ignore,
}
#[derive(Debug)]
pub struct PolicySet(Vec<Policy>);
impl PolicySet {
    pub fn new(p: Vec<Policy>) -> PolicySet {
        PolicySet(p)
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

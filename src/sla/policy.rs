//! SLA policies: which items a policy covers and, per target, the clock settings
//! (duration, calendar, pauses, warnings, reopen and unanswered handling).
//!
//! Nothing vendor-specific is hard-coded: LiveAgent's "answers keep running while
//! postponed, resolution stops while answered" is simply `pause_statuses: []` on
//! the answer targets and `pause_statuses: [answered]` on resolution.

use std::sync::Arc;

use jiff::SignedDuration;

use crate::model::{Channel, Item, Status, Target};
use crate::sla::calendar::Calendar;

/// Which items a policy covers. Every non-empty list must match (an empty list
/// matches anything); within a list any value matches. Comparison is exact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matcher {
    pub channels: Vec<Channel>,
    /// Item priorities; an item without a priority never matches a non-empty list.
    pub priorities: Vec<String>,
    /// Item teams; an item without a team never matches a non-empty list.
    pub teams: Vec<String>,
    /// Matches when the item has any of these tags.
    pub tags: Vec<String>,
}

/// When to flag a running clock as at risk of breaching.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AtRisk {
    /// Remaining business time below this fraction of the target (0.25 = 25%).
    Fraction(f64),
    /// Remaining business time below this duration.
    Remaining(SignedDuration),
}

/// What a reopen does to the resolution clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReopenMode {
    /// One clock from creation to the final resolution; it stands still while
    /// the item is resolved.
    #[default]
    Continue,
    /// Every reopen starts a new cycle with a fresh clock.
    Restart,
}

/// What a chat or call that ended without being answered counts as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UnansweredMode {
    /// Breached once its target passes.
    #[default]
    Breach,
    /// Not applicable: abandoned conversations are not counted.
    Ignore,
}

/// The settings of one target within a policy.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    pub target: Target,
    /// Business time allowed; negative values count as zero.
    pub within: SignedDuration,
    /// The share of cycles that should be met; reported, not used by evaluation.
    pub objective: f64,
    pub calendar: Arc<Calendar>,
    /// Statuses during which this clock stands still.
    pub pause_statuses: Vec<Status>,
    pub at_risk: Option<AtRisk>,
    /// Only read for `resolution`.
    pub reopen: ReopenMode,
    /// Only read for `pickup` and `answer`.
    pub unanswered: UnansweredMode,
    /// Use the vendor's own due instant for this target when the item has one.
    pub use_vendor_due: bool,
}

impl TargetSpec {
    /// A spec with the defaults: no pauses, no at-risk warning, `continue`,
    /// `breach`, own due computation.
    pub fn new(
        target: Target,
        within: SignedDuration,
        objective: f64,
        calendar: Arc<Calendar>,
    ) -> TargetSpec {
        TargetSpec {
            target,
            within,
            objective,
            calendar,
            pause_statuses: Vec::new(),
            at_risk: None,
            reopen: ReopenMode::default(),
            unanswered: UnansweredMode::default(),
            use_vendor_due: false,
        }
    }
}

/// A named set of targets and the items it covers.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    /// `None` makes this the default policy.
    pub matcher: Option<Matcher>,
    /// At most one spec per target; if several name the same target, the first wins.
    pub targets: Vec<TargetSpec>,
}

/// The configured policies in order.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    policies: Vec<Policy>,
}

impl Matcher {
    pub fn matches(&self, item: &Item) -> bool {
        let any = |list: &[String], value: Option<&String>| {
            list.is_empty() || value.is_some_and(|v| list.contains(v))
        };
        (self.channels.is_empty() || self.channels.contains(&item.channel))
            && any(&self.priorities, item.priority.as_ref())
            && any(&self.teams, item.team.as_ref())
            && (self.tags.is_empty() || item.tags.iter().any(|t| self.tags.contains(t)))
    }
}

impl Policy {
    /// The spec for `target`, if this policy sets one.
    pub fn target(&self, target: Target) -> Option<&TargetSpec> {
        self.targets.iter().find(|s| s.target == target)
    }
}

impl PolicySet {
    pub fn new(policies: Vec<Policy>) -> PolicySet {
        PolicySet { policies }
    }

    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    /// The first policy (in order) whose matcher matches the item; failing that,
    /// the first policy without a matcher, wherever it stands in the list.
    pub fn select(&self, item: &Item) -> Option<&Policy> {
        self.policies
            .iter()
            .find(|p| p.matcher.as_ref().is_some_and(|m| m.matches(item)))
            .or_else(|| self.policies.iter().find(|p| p.matcher.is_none()))
    }
}

/// Whether a target is measured for a channel: tickets have first response,
/// next response, resolution and assignment; chats pickup; calls answer.
pub fn applies(target: Target, channel: Channel) -> bool {
    match channel {
        Channel::Ticket => matches!(
            target,
            Target::FirstResponse | Target::NextResponse | Target::Resolution | Target::Assignment
        ),
        Channel::Chat => target == Target::Pickup,
        Channel::Call => target == Target::Answer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    fn policy(name: &str, matcher: Option<Matcher>) -> Policy {
        Policy {
            name: name.to_owned(),
            matcher,
            targets: Vec::new(),
        }
    }

    #[test]
    fn first_match_wins_and_default_is_the_fallback() {
        let mut item = Item::new("s", "1", Channel::Ticket, Timestamp::UNIX_EPOCH);
        item.priority = Some("Gold".into());
        item.tags = vec!["x".into(), "vip".into()];
        let gold = Matcher {
            priorities: vec!["Gold".into()],
            tags: vec!["vip".into()],
            ..Matcher::default()
        };
        let chats = Matcher {
            channels: vec![Channel::Chat],
            ..Matcher::default()
        };
        let set = PolicySet::new(vec![
            policy("default", None),
            policy("chats", Some(chats)),
            policy("gold", Some(gold.clone())),
            policy("gold-2", Some(gold)),
        ]);
        assert_eq!(set.select(&item).unwrap().name, "gold");
        item.tags.clear();
        assert_eq!(set.select(&item).unwrap().name, "default");
        item.channel = Channel::Chat;
        assert_eq!(set.select(&item).unwrap().name, "chats");
        let none = PolicySet::new(vec![]);
        assert!(none.select(&item).is_none());
    }

    #[test]
    fn missing_team_does_not_match_a_team_list() {
        let item = Item::new("s", "1", Channel::Ticket, Timestamp::UNIX_EPOCH);
        let m = Matcher {
            teams: vec!["Billing".into()],
            ..Matcher::default()
        };
        assert!(!m.matches(&item));
        assert!(Matcher::default().matches(&item));
    }
}

//! The vendor comparison as the provider tests check it: items evaluated
//! under one 24x7 policy, and the comparison's counts.

use std::sync::Arc;

use helpdesk_sla_exporter::model::{Item, Status, Target};
use helpdesk_sla_exporter::sla::{Calendar, Policy, PolicySet, TargetSpec};
use helpdesk_sla_exporter::snapshot::{LabelCaps, evaluate_all};
use jiff::{SignedDuration, Timestamp};

/// One 24x7 policy over every item: each target within its minutes, paused
/// while pending, measured by the vendor's due instant when `use_vendor_due`.
pub fn policy(targets: &[(Target, i64)], use_vendor_due: bool) -> PolicySet {
    let targets = targets
        .iter()
        .map(|&(target, mins)| {
            let mut s = TargetSpec::new(
                target,
                SignedDuration::from_mins(mins),
                0.9,
                Arc::new(Calendar::always()),
            );
            s.pause_statuses = vec![Status::Pending];
            s.use_vendor_due = use_vendor_due;
            s
        })
        .collect();
    PolicySet::new(vec![Policy {
        name: "vendor".into(),
        matcher: None,
        targets,
    }])
}

/// `helpdesk_sla_vendor_comparison_items` at `now` as `"channel target
/// result"` and its count, in label order.
pub fn compared(items: &[Item], policies: &PolicySet, now: Timestamp) -> Vec<(String, u64)> {
    let mut caps = LabelCaps {
        team_limit: 10,
        priority_limit: 10,
        ..LabelCaps::default()
    };
    evaluate_all(items, policies, now, &mut caps)
        .vendor
        .iter()
        .map(|(k, n)| (format!("{} {} {}", k.1, k.2, k.3), *n))
        .collect()
}

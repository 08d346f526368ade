//! The SLA metric families, rendered from one evaluation and the store's
//! counters into exposition text. Each evaluation replaces the whole text, so a
//! label set that no longer exists disappears from `/metrics`.
//!
//! METRICS.md documents every family; `tests/golden/metrics.txt` pins them.

use std::collections::BTreeMap;

use super::text::TextWriter;
use crate::snapshot::{BUCKETS, Evaluation, Histogram, OPEN_STATES, Series};

/// Met and due cycles of one series in one compliance window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub met: u64,
    pub total: u64,
}

/// What [`render`] needs besides the evaluation.
pub struct Inputs<'a> {
    pub eval: &'a Evaluation,
    /// `(series, name, value)` from the store: `met`, `breached`, `b0`..`bN`, `sum`.
    pub counters: &'a [(Series, String, u64)],
    /// `(series, window)` -> tally; windows as labelled (`7d`, `30d`, `month`).
    pub compliance: &'a BTreeMap<(Series, String), Tally>,
    /// `(policy, target, objective)`.
    pub objectives: &'a [(String, &'static str, f64)],
    /// Distinct label values folded into `other`, per label.
    pub folded: &'a [(&'static str, u64)],
}

/// Renders every SLA family, one function each, in a fixed order.
pub fn render(inp: &Inputs<'_>, out: &mut String) {
    let mut w = TextWriter::new(out);
    outcomes(&mut w, inp);
    open_items(&mut w, inp);
    time_to_breach(&mut w, inp);
    completion(&mut w, inp);
    compliance(&mut w, inp);
    objectives(&mut w, inp);
    vendor_comparison(&mut w, inp);
    folded(&mut w, inp);
}

/// The six SLA labels of a series, as owned pairs.
fn d(s: &Series) -> [(&'static str, String); 6] {
    let v = s.values();
    std::array::from_fn(|i| (Series::LABELS[i], v[i].to_owned()))
}

fn outcomes(w: &mut TextWriter<'_>, inp: &Inputs<'_>) {
    w.header(
        "helpdesk_sla_outcomes_total",
        "counter",
        "SLA cycles that ended, by outcome: met when completed in time, breached the moment the due instant passed. Each (item, target, cycle) counts once, across restarts.",
    );
    for (series, name, value) in inp.counters {
        if name == "met" || name == "breached" {
            let mut labels = d(series).to_vec();
            labels.push(("outcome", name.clone()));
            sample(w, "helpdesk_sla_outcomes_total", &labels, *value as f64);
        }
    }
}

fn open_items(w: &mut TextWriter<'_>, inp: &Inputs<'_>) {
    w.header(
        "helpdesk_sla_open_items",
        "gauge",
        "Open SLA cycles by state; states are exclusive (breached, then at_risk, then paused, then running), so they add up to the open cycles of a series.",
    );
    let mut open: BTreeMap<&Series, [u64; 4]> = BTreeMap::new();
    for ((series, state), n) in &inp.eval.open {
        let i = OPEN_STATES
            .iter()
            .position(|s| s == state)
            .expect("known state");
        open.entry(series).or_default()[i] = *n;
    }
    for (series, counts) in open {
        for (state, n) in OPEN_STATES.iter().zip(counts) {
            let mut labels = d(series).to_vec();
            labels.push(("state", (*state).to_owned()));
            sample(w, "helpdesk_sla_open_items", &labels, n as f64);
        }
    }
}

fn time_to_breach(w: &mut TextWriter<'_>, inp: &Inputs<'_>) {
    w.header(
        "helpdesk_sla_time_to_breach_seconds",
        "histogram",
        "Remaining business time of open, not yet breached SLA cycles, recomputed every evaluation (use histogram_quantile directly, without rate()).",
    );
    for (series, h) in &inp.eval.time_to_breach {
        histogram(w, "helpdesk_sla_time_to_breach_seconds", &d(series), h);
    }
}

fn completion(w: &mut TextWriter<'_>, inp: &Inputs<'_>) {
    w.header(
        "helpdesk_sla_completion_elapsed_seconds",
        "histogram",
        "Business time SLA cycles took until completion (reply, assignment, answer or resolution), observed once per cycle.",
    );
    let mut completion: BTreeMap<&Series, Histogram> = BTreeMap::new();
    for (series, name, value) in inp.counters {
        if name == "sum" {
            completion.entry(series).or_default().sum = *value as f64;
        } else if let Some(i) = name.strip_prefix('b').and_then(|i| i.parse::<usize>().ok())
            && i <= BUCKETS.len()
        {
            completion.entry(series).or_default().counts[i] = *value;
        }
    }
    for (series, h) in completion {
        histogram(w, "helpdesk_sla_completion_elapsed_seconds", &d(series), &h);
    }
}

fn compliance(w: &mut TextWriter<'_>, inp: &Inputs<'_>) {
    w.header(
        "helpdesk_sla_compliance_ratio",
        "gauge",
        "Met SLA cycles over cycles that ended in the window (rolling, or the calendar month to date in the target's calendar time zone). Absent without a sample.",
    );
    for ((series, window), t) in inp.compliance {
        if t.total > 0 {
            let mut labels = d(series).to_vec();
            labels.push(("window", window.clone()));
            let ratio = t.met as f64 / t.total as f64;
            sample(w, "helpdesk_sla_compliance_ratio", &labels, ratio);
        }
    }
    w.header(
        "helpdesk_sla_compliance_items",
        "gauge",
        "SLA cycles that ended in the window: the sample size behind helpdesk_sla_compliance_ratio.",
    );
    for ((series, window), t) in inp.compliance {
        let mut labels = d(series).to_vec();
        labels.push(("window", window.clone()));
        sample(w, "helpdesk_sla_compliance_items", &labels, t.total as f64);
    }
}

fn objectives(w: &mut TextWriter<'_>, inp: &Inputs<'_>) {
    w.header(
        "helpdesk_sla_objective_ratio",
        "gauge",
        "The configured objective of each policy target (0.95 means 95% of cycles should be met).",
    );
    for (policy, target, objective) in inp.objectives {
        let labels = [("policy", policy.clone()), ("target", (*target).to_owned())];
        sample(w, "helpdesk_sla_objective_ratio", &labels, *objective);
    }
}

fn vendor_comparison(w: &mut TextWriter<'_>, inp: &Inputs<'_>) {
    w.header(
        "helpdesk_sla_vendor_comparison_items",
        "gauge",
        "Tracked items whose target both the helpdesk's own SLA (its due instant or verdict) and the exporter have decided, by whether they agree: agree_met, agree_breached, vendor_breached_only, exporter_breached_only. Recomputed every evaluation.",
    );
    for ((source, channel, target, result), n) in &inp.eval.vendor {
        let labels = [
            ("source", source.clone()),
            ("channel", (*channel).to_owned()),
            ("target", (*target).to_owned()),
            ("result", (*result).to_owned()),
        ];
        sample(
            w,
            "helpdesk_sla_vendor_comparison_items",
            &labels,
            *n as f64,
        );
    }
}

fn folded(w: &mut TextWriter<'_>, inp: &Inputs<'_>) {
    w.header(
        "helpdesk_sla_label_values_folded_total",
        "counter",
        "Distinct team or priority values folded into \"other\" because a source exceeded metrics.label_limits.",
    );
    for (label, n) in inp.folded {
        let labels = [("label", (*label).to_owned())];
        sample(
            w,
            "helpdesk_sla_label_values_folded_total",
            &labels,
            *n as f64,
        );
    }
}

fn sample(w: &mut TextWriter<'_>, name: &str, labels: &[(&'static str, String)], value: f64) {
    let refs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
    w.sample(name, &refs, value);
}

fn histogram(w: &mut TextWriter<'_>, name: &str, labels: &[(&'static str, String)], h: &Histogram) {
    let refs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
    w.histogram(name, &refs, &BUCKETS, &h.cumulative(), h.sum);
}

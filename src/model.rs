//! The vendor-neutral item model: the boundary between providers and the SLA engine.
//!
//! Every provider maps its vendor JSON into [`Item`]s; the SLA engine reads nothing
//! else. The shape was checked against LiveAgent (status history), Zendesk (metric
//! events and `breach_at`), Freshdesk (`*_due_by` and `stats`) and Jira Service
//! Management (per-request SLA cycles): whatever a vendor cannot give stays empty,
//! and whatever it computes itself (a due instant) travels in [`Item::vendor_due`].
//!
//! All instants are UTC [`Timestamp`]s; time zones only matter inside calendars.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// What kind of conversation an item is. This is the `channel` label of every SLA
/// metric, so it must stay a small closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Ticket,
    Chat,
    Call,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Ticket, Channel::Chat, Channel::Call];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Ticket => "ticket",
            Channel::Chat => "chat",
            Channel::Call => "call",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A vendor-neutral ticket status. Pause rules name these, so every vendor status
/// maps onto exactly one of them (LiveAgent `W` is `postponed`, Zendesk `hold` is
/// `on_hold`, a Freshdesk custom status is `other`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Created, no agent has answered yet.
    New,
    /// Waiting for the support team (the customer wrote last).
    Open,
    /// An agent answered; waiting for the customer.
    Answered,
    /// Waiting on something outside the team (Zendesk/Freshdesk "pending").
    Pending,
    /// Parked by the team (Zendesk "hold").
    OnHold,
    /// Postponed until a later date (LiveAgent `W`).
    Postponed,
    Resolved,
    Closed,
    /// Any vendor status with no neutral meaning.
    Other,
}

impl Status {
    /// Every status, in declaration order (the compact item form stores a
    /// status as its index here, so the order is part of that encoding).
    pub const ALL: [Status; 9] = [
        Status::New,
        Status::Open,
        Status::Answered,
        Status::Pending,
        Status::OnHold,
        Status::Postponed,
        Status::Resolved,
        Status::Closed,
        Status::Other,
    ];

    /// Resolved and closed items no longer wait for the team.
    pub fn is_done(self) -> bool {
        matches!(self, Status::Resolved | Status::Closed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Open => "open",
            Status::Answered => "answered",
            Status::Pending => "pending",
            Status::OnHold => "on_hold",
            Status::Postponed => "postponed",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
            Status::Other => "other",
        }
    }
}

/// The SLA targets the engine evaluates. Also the `target` metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Creation to the first agent reply.
    FirstResponse,
    /// Each customer message after an agent reply, to the next agent reply.
    NextResponse,
    /// Creation to resolution.
    Resolution,
    /// Creation to the first assignment to an agent.
    Assignment,
    /// Chats: creation to the moment an agent picks the chat up.
    Pickup,
    /// Calls: creation (ringing) to the moment an agent answers.
    Answer,
}

impl Target {
    pub const ALL: [Target; 6] = [
        Target::FirstResponse,
        Target::NextResponse,
        Target::Resolution,
        Target::Assignment,
        Target::Pickup,
        Target::Answer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Target::FirstResponse => "first_response",
            Target::NextResponse => "next_response",
            Target::Resolution => "resolution",
            Target::Assignment => "assignment",
            Target::Pickup => "pickup",
            Target::Answer => "answer",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stretch of time an item spent in one status. `end` is `None` while the
/// item is still in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusInterval {
    pub status: Status,
    pub start: Timestamp,
    pub end: Option<Timestamp>,
}

/// A deadline the vendor computed itself (LiveAgent `date_due`, Zendesk `breach_at`,
/// Freshdesk `fr_due_by`, JSM `breachTime`). Already in business time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorDue {
    pub target: Target,
    pub due_at: Timestamp,
    /// When the vendor says the target was fulfilled, if it says so.
    pub completed_at: Option<Timestamp>,
    /// The vendor's own verdict when it states one (JSM `breached`, Freshdesk
    /// `fr_escalated`); otherwise it is read from `due_at` and `completed_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breached: Option<bool>,
}

/// A ticket, chat or call with everything the SLA engine needs and nothing else:
/// no subject, no customer name, no email.
///
/// Event lists are sorted ascending by the provider; the engine does not rely on
/// it (it sorts a copy when it must), but storage and diffs stay stable that way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// The configured source name (`sources[].name`), not the vendor.
    pub source: String,
    /// The vendor's id, unique within the source. Never a metric label.
    pub id: String,
    pub channel: Channel,
    pub created_at: Timestamp,
    /// Department or group, by readable name where the vendor has one.
    pub team: Option<String>,
    /// Priority, or for LiveAgent (which has none) the SLA level name.
    pub priority: Option<String>,
    pub tags: Vec<String>,
    /// The status timeline; contiguous for vendors with history, possibly just
    /// the current status for vendors without.
    pub statuses: Vec<StatusInterval>,
    /// Instants at which an agent replied to the customer.
    pub agent_replies: Vec<Timestamp>,
    /// Instants at which the customer wrote (the first one is usually creation).
    pub customer_messages: Vec<Timestamp>,
    pub first_assigned_at: Option<Timestamp>,
    /// Instants the item became resolved; more than one after reopenings.
    pub resolutions: Vec<Timestamp>,
    /// Instants a resolved item was reopened.
    pub reopenings: Vec<Timestamp>,
    /// Chats and calls: when an agent picked up or answered.
    pub answered_at: Option<Timestamp>,
    /// Chats and calls: when the conversation ended (a missed call ends unanswered).
    pub ended_at: Option<Timestamp>,
    pub vendor_due: Vec<VendorDue>,
    /// The vendor's `date_changed`/`updated_at`; drives incremental sync only.
    pub updated_at: Timestamp,
    /// The vendor logs no first or next response record for an item resolved
    /// while new or open (LiveAgent): such a resolution makes the response
    /// cycle it ends not applicable, even past its due instant. Otherwise
    /// that cycle is breached when its due instant had passed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resolve_voids_answers: bool,
}

impl Item {
    /// A bare item with only its identity filled in; providers and tests build on it.
    pub fn new(source: &str, id: &str, channel: Channel, created_at: Timestamp) -> Item {
        Item {
            source: source.to_owned(),
            id: id.to_owned(),
            channel,
            created_at,
            team: None,
            priority: None,
            tags: Vec::new(),
            statuses: Vec::new(),
            agent_replies: Vec::new(),
            customer_messages: Vec::new(),
            first_assigned_at: None,
            resolutions: Vec::new(),
            reopenings: Vec::new(),
            answered_at: None,
            ended_at: None,
            vendor_due: Vec::new(),
            updated_at: created_at,
            resolve_voids_answers: false,
        }
    }

    /// Sets `resolutions` and `reopenings` from the status timeline: every
    /// step from a not-done status into a done one resolves, every step out of
    /// a done one reopens.
    pub fn set_resolutions_from_statuses(&mut self) {
        self.resolutions.clear();
        self.reopenings.clear();
        for w in self.statuses.windows(2) {
            let (prev, next) = (w[0].status, w[1].status);
            if next.is_done() && !prev.is_done() {
                self.resolutions.push(w[1].start);
            }
            if prev.is_done() && !next.is_done() {
                self.reopenings.push(w[1].start);
            }
        }
    }

    /// The status the item was in at `at`, if the timeline covers that instant.
    pub fn status_at(&self, at: Timestamp) -> Option<Status> {
        self.statuses
            .iter()
            .find(|s| s.start <= at && s.end.is_none_or(|end| at < end))
            .map(|s| s.status)
    }
}

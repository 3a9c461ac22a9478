//! Tickets, their states and deadlines: types and rules, no I/O, every time passed in.

use chrono::{DateTime, Duration, Utc};
use pola_core::FieldError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// What a ticket is about; each has its own deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    LateDelivery,
    DamagedOrWrongItem,
    Refund,
    /// Money left the customer's account but no order came of it.
    PaymentTakenNoOrder,
    Cod,
    ProductQuestion,
    Account,
}

pola_core::stored_as_text!(Category {
    LateDelivery => "late_delivery",
    DamagedOrWrongItem => "damaged_or_wrong_item",
    Refund => "refund",
    PaymentTakenNoOrder => "payment_taken_no_order",
    Cod => "cod",
    ProductQuestion => "product_question",
    Account => "account",
});

impl Category {
    /// When the first answer and the resolution are due after the ticket opens (the clock
    /// stops while the ticket waits on the customer).
    pub fn targets(self) -> (Duration, Duration) {
        let hours = Duration::hours;
        match self {
            // Money taken without an order is the most urgent thing a shop can be told.
            Category::PaymentTakenNoOrder => (hours(1), hours(8)),
            Category::LateDelivery | Category::DamagedOrWrongItem => (hours(4), hours(48)),
            Category::Refund | Category::Cod => (hours(8), hours(72)),
            Category::ProductQuestion | Category::Account => (hours(8), hours(48)),
        }
    }

    /// Whether a ticket of this kind names an order.
    pub fn needs_order(self) -> bool {
        matches!(
            self,
            Category::LateDelivery | Category::DamagedOrWrongItem | Category::Refund | Category::Cod
        )
    }
}

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Opened by the customer, not answered yet.
    New,
    Open,
    /// Staff asked the customer something: the clock stands still.
    Waiting,
    /// Staff consider it done; a customer reply reopens it.
    Resolved,
    /// Done for good.
    Closed,
}

pola_core::stored_as_text!(State {
    New => "new",
    Open => "open",
    Waiting => "waiting",
    Resolved => "resolved",
    Closed => "closed",
});

impl State {
    /// Whether the deadlines' clock runs in this state.
    pub fn clock_runs(self) -> bool {
        matches!(self, State::New | State::Open)
    }
}

/// A ticket's clocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Clocks {
    pub state: State,
    pub first_response_due_at: DateTime<Utc>,
    pub resolution_due_at: DateTime<Utc>,
    pub paused_secs: i64,
    pub paused_since: Option<DateTime<Utc>>,
    pub first_responded_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// How a ticket stands against its deadlines at a moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Deadlines {
    /// When the first answer is due, counting the pauses so far (none once answered).
    pub first_response_due: Option<DateTime<Utc>>,
    /// When the resolution is due, counting the pauses so far (none once resolved).
    pub resolution_due: Option<DateTime<Utc>>,
    /// A deadline passed without being met.
    pub overdue: bool,
    /// The clock stands still (waiting on the customer, or resolved).
    pub paused: bool,
}

impl Clocks {
    /// A new ticket's clocks.
    pub fn start(category: Category, now: DateTime<Utc>) -> Self {
        let (first, resolution) = category.targets();
        Self {
            state: State::New,
            first_response_due_at: now + first,
            resolution_due_at: now + resolution,
            paused_secs: 0,
            paused_since: None,
            first_responded_at: None,
            resolved_at: None,
        }
    }

    /// How long the clock has stood still, up to `now`.
    fn paused(&self, now: DateTime<Utc>) -> Duration {
        let current = self
            .paused_since
            .map_or(Duration::zero(), |since| (now - since).max(Duration::zero()));
        Duration::seconds(self.paused_secs) + current
    }

    pub fn deadlines(&self, now: DateTime<Utc>) -> Deadlines {
        let shift = self.paused(now);
        let first = self.first_responded_at.is_none().then(|| self.first_response_due_at + shift);
        let resolution = (self.resolved_at.is_none() && self.state != State::Closed).then(|| self.resolution_due_at + shift);
        let running = self.state.clock_runs();
        Deadlines {
            first_response_due: first,
            resolution_due: resolution,
            overdue: running && [first, resolution].into_iter().flatten().any(|due| due < now),
            paused: !running,
        }
    }

    fn pause(&mut self, now: DateTime<Utc>) {
        if self.paused_since.is_none() {
            self.paused_since = Some(now);
        }
    }

    fn resume(&mut self, now: DateTime<Utc>) {
        if let Some(since) = self.paused_since.take() {
            self.paused_secs += (now - since).num_seconds().max(0);
        }
    }

    /// Staff answered the customer.
    pub fn staff_replied(&mut self, now: DateTime<Utc>) -> Result<(), Refusal> {
        if self.state == State::Closed {
            return Err(Refusal::Closed);
        }
        self.first_responded_at.get_or_insert(now);
        if self.state == State::New {
            self.state = State::Open;
        }
        Ok(())
    }

    /// The customer wrote: a waiting ticket runs again, a resolved one reopens.
    pub fn customer_replied(&mut self, now: DateTime<Utc>) -> Result<(), Refusal> {
        match self.state {
            State::Closed => Err(Refusal::Closed),
            State::Waiting | State::Resolved => {
                self.resume(now);
                self.resolved_at = None;
                self.state = State::Open;
                Ok(())
            }
            State::New | State::Open => Ok(()),
        }
    }

    /// Staff move the ticket to `to`.
    pub fn move_to(&mut self, to: State, now: DateTime<Utc>) -> Result<(), Refusal> {
        use State::*;
        match (self.state, to) {
            (Closed, _) => return Err(Refusal::Closed),
            (from, to) if from == to => return Ok(()),
            (New | Open | Waiting, Waiting) | (New | Open | Waiting, Resolved) => {
                self.first_responded_at.get_or_insert(now);
                self.pause(now);
                if to == Resolved {
                    self.resolved_at = Some(now);
                }
            }
            (New | Waiting | Resolved, Open) => {
                self.resume(now);
                self.resolved_at = None;
            }
            (Resolved, Closed) => self.resume(now),
            (from, to) => return Err(Refusal::Transition(from, to)),
        }
        self.state = to;
        Ok(())
    }
}

/// A change a ticket's state does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Closed,
    Transition(State, State),
}

impl Refusal {
    pub fn into_error(self) -> pola_core::Error {
        match self {
            Refusal::Closed => pola_core::Error::conflict("ticket-closed", "This ticket is closed; open a new one."),
            Refusal::Transition(from, to) => pola_core::Error::conflict(
                "ticket-state",
                format!("A ticket cannot go from {} to {}.", from.as_str(), to.as_str()),
            ),
        }
    }
}

/// How customers and staff name a ticket: `T-` and the last six hex digits of its id.
pub fn ticket_number(id: Uuid) -> String {
    let simple = id.simple().to_string();
    format!("T-{}", simple[simple.len() - 6..].to_uppercase())
}

/// The longest message.
pub const MAX_MESSAGE: usize = 5000;

/// Checks a message's text.
pub fn check_text(field: &str, text: &str, max: usize) -> Result<String, FieldError> {
    let text = text.trim();
    let count = text.chars().count();
    if count == 0 || count > max || text.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        return Err(FieldError::new(field, format!("must be 1-{max} characters of text")));
    }
    Ok(text.to_owned())
}

/// `POST /api/v1/support/tickets`
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewTicket {
    pub category: Category,
    /// The order it is about (needed for delivery, item, refund and cash-on-delivery tickets).
    pub order_id: Option<Uuid>,
    pub subject: String,
    pub message: String,
}

/// A message of a thread.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MessageView {
    pub id: Uuid,
    /// `customer` or `staff`.
    pub author: String,
    /// Staff only: an internal note, never shown to the customer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub internal: bool,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// A ticket with its thread.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketView {
    pub id: Uuid,
    pub number: String,
    pub customer_id: Uuid,
    pub order_id: Option<Uuid>,
    pub category: Category,
    pub state: State,
    /// None once the customer's personal data was erased.
    pub subject: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deadlines: Deadlines,
    pub messages: Vec<MessageView>,
}

/// A line of a list of tickets (no text: staff open a ticket to read it).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketSummary {
    pub id: Uuid,
    pub number: String,
    pub customer_id: Uuid,
    pub order_id: Option<Uuid>,
    pub category: Category,
    pub state: State,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deadlines: Deadlines,
}

/// `POST …/messages`
#[derive(Debug, Deserialize, ToSchema)]
pub struct Reply {
    pub message: String,
    /// Staff only: an internal note instead of a reply.
    #[serde(default)]
    pub internal: bool,
}

/// `POST /api/v1/support/staff/tickets/{id}/state`
#[derive(Debug, Deserialize, ToSchema)]
pub struct StateChange {
    pub state: State,
}

/// Open and overdue tickets, for the dashboard.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct DeskAtAGlance {
    /// New, open or waiting.
    pub open: i64,
    /// New or open with a deadline passed.
    pub overdue: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hours: i64, minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000, 0).expect("a time") + Duration::hours(hours) + Duration::minutes(minutes)
    }

    #[test]
    fn a_late_delivery_is_due_an_answer_in_four_hours_and_overdue_after() {
        let clocks = Clocks::start(Category::LateDelivery, at(0, 0));
        let due = clocks.deadlines(at(3, 59));
        assert_eq!(due.first_response_due, Some(at(4, 0)));
        assert_eq!(due.resolution_due, Some(at(48, 0)));
        assert!(!due.overdue);
        assert!(clocks.deadlines(at(4, 1)).overdue);
    }

    #[test]
    fn waiting_on_the_customer_stops_the_clock_and_their_reply_starts_it() {
        let mut clocks = Clocks::start(Category::LateDelivery, at(0, 0));
        clocks.staff_replied(at(1, 0)).expect("answered");
        assert_eq!(clocks.deadlines(at(1, 0)).first_response_due, None, "met");
        clocks.move_to(State::Waiting, at(2, 0)).expect("waiting");
        // Two days waiting: not overdue, and the resolution deadline moves with the wait.
        let waiting = clocks.deadlines(at(50, 0));
        assert!(waiting.paused && !waiting.overdue);
        assert_eq!(waiting.resolution_due, Some(at(96, 0)));
        clocks.customer_replied(at(50, 0)).expect("resumed");
        assert_eq!(clocks.state, State::Open);
        assert_eq!(clocks.paused_secs, 48 * 3600);
        assert_eq!(clocks.deadlines(at(95, 59)).resolution_due, Some(at(96, 0)));
        assert!(!clocks.deadlines(at(95, 59)).overdue);
        assert!(clocks.deadlines(at(96, 1)).overdue);
    }

    #[test]
    fn a_customer_reply_reopens_a_resolved_ticket_with_the_resolved_time_not_counted() {
        let mut clocks = Clocks::start(Category::Refund, at(0, 0));
        clocks.move_to(State::Resolved, at(10, 0)).expect("resolved");
        assert_eq!(clocks.deadlines(at(100, 0)).resolution_due, None, "met");
        assert!(!clocks.deadlines(at(100, 0)).overdue);
        clocks.customer_replied(at(20, 0)).expect("reopened");
        assert_eq!(clocks.state, State::Open);
        assert_eq!(clocks.resolved_at, None);
        assert_eq!(
            clocks.deadlines(at(20, 0)).resolution_due,
            Some(at(82, 0)),
            "72 h plus the 10 h it stood resolved"
        );
        clocks.move_to(State::Resolved, at(30, 0)).expect("resolved again");
        clocks.move_to(State::Closed, at(40, 0)).expect("closed");
        assert_eq!(clocks.customer_replied(at(41, 0)), Err(Refusal::Closed));
        assert_eq!(clocks.move_to(State::Open, at(41, 0)), Err(Refusal::Closed));
    }

    #[test]
    fn only_a_resolved_ticket_closes() {
        let mut clocks = Clocks::start(Category::Account, at(0, 0));
        assert_eq!(
            clocks.move_to(State::Closed, at(1, 0)),
            Err(Refusal::Transition(State::New, State::Closed))
        );
        clocks.staff_replied(at(1, 0)).expect("answered");
        assert_eq!(
            clocks.move_to(State::New, at(2, 0)),
            Err(Refusal::Transition(State::Open, State::New))
        );
    }

    #[test]
    fn a_number_is_short_and_stable() {
        let id: Uuid = "01938f2a-7c3e-7d41-9a1b-2c3d4e5f6a7b".parse().expect("an id");
        assert_eq!(ticket_number(id), "T-5F6A7B");
    }
}

//! Support: customers write about their orders and accounts; staff answer, keep internal notes
//! and move tickets through new → open → waiting on the customer → resolved → closed, against
//! a first-response and a resolution deadline per category whose clock stands still while the
//! ticket waits on the customer. Overdue tickets raise `support.overdue` (the notification worker
//! tells the support lead); staff replies raise `support.replied` (the customer is told in their
//! language). Subjects and messages are personal data: sealed with the customer's data key, and
//! the events carry only ids.

pub mod api;
pub mod model;
pub mod store;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use pola_core::{
    Error,
    audit::{self, Change},
    auth::{Role, Staff},
    clock::Clock,
};
use pola_orders::{Viewer, client::OrdersClient};
use pola_pii::{
    KeyService, PiiError,
    seal::{Place, open, seal},
};
use sqlx::{MySqlPool, migrate::Migrator};
use tokio::sync::watch;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    model::{
        Clocks, DeskAtAGlance, MAX_MESSAGE, MessageView, NewTicket, State, TicketSummary, TicketView, check_text, ticket_number,
    },
    store::{MessageRow, TicketRow},
};

/// The database this service owns: `<prefix>_support`.
pub const SERVICE: &str = "support";
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The support desk.
pub struct Support {
    pool: MySqlPool,
    orders: Arc<dyn OrdersClient>,
    pii: Arc<dyn KeyService>,
    clock: Arc<dyn Clock>,
}

/// `support.replied`: staff answered a customer's ticket (the customer is told; no text).
#[derive(Debug, serde::Serialize)]
struct Replied {
    ticket_id: Uuid,
    number: String,
    customer_id: Uuid,
}

impl pola_core::events::Event for Replied {
    fn kind(&self) -> &'static str {
        "support.replied"
    }
}

/// `support.overdue`: a ticket passed a deadline (the support lead is told; no text).
#[derive(Debug, serde::Serialize)]
struct Overdue {
    ticket_id: Uuid,
    number: String,
    category: &'static str,
    /// `first_response` or `resolution`.
    deadline: &'static str,
    due_at: Option<DateTime<Utc>>,
}

impl pola_core::events::Event for Overdue {
    fn kind(&self) -> &'static str {
        "support.overdue"
    }
}

fn subject_place(ticket: Uuid) -> Place<'static> {
    Place {
        table: "tickets",
        column: "subject",
        record: ticket,
    }
}

fn body_place(message: Uuid) -> Place<'static> {
    Place {
        table: "ticket_messages",
        column: "body",
        record: message,
    }
}

impl Support {
    pub fn new(pool: MySqlPool, orders: Arc<dyn OrdersClient>, pii: Arc<dyn KeyService>, clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(Self {
            pool,
            orders,
            pii,
            clock,
        })
    }

    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// The same desk reading the time from `clock` (tests move it by hand).
    pub fn with_clock(&self, clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(Self {
            pool: self.pool.clone(),
            orders: self.orders.clone(),
            pii: self.pii.clone(),
            clock,
        })
    }

    pub fn router(self: &Arc<Self>) -> OpenApiRouter {
        OpenApiRouter::new()
            .routes(routes!(api::open_ticket, api::my_tickets))
            .routes(routes!(api::my_ticket))
            .routes(routes!(api::customer_reply))
            .routes(routes!(api::staff_tickets))
            .routes(routes!(api::staff_ticket))
            .routes(routes!(api::staff_reply))
            .routes(routes!(api::change_state))
            .routes(routes!(api::at_a_glance))
            .with_state(self.clone())
    }

    /// A customer opens a ticket (about one of their own orders, when it names one).
    pub async fn open(&self, customer: Uuid, new: NewTicket) -> Result<TicketView, Error> {
        let mut errors = vec![];
        let subject = check_text("subject", &new.subject, 200).map_err(|e| errors.push(e)).ok();
        let message = check_text("message", &new.message, MAX_MESSAGE)
            .map_err(|e| errors.push(e))
            .ok();
        if new.category.needs_order() && new.order_id.is_none() {
            errors.push(pola_core::FieldError::new("order_id", "name the order this is about"));
        }
        let (Some(subject), Some(message), true) = (subject, message, errors.is_empty()) else {
            return Err(Error::Validation(errors));
        };
        if let Some(order) = new.order_id {
            let owned = self.orders.order(order, Viewer::Staff).await?;
            if owned.is_none_or(|o| o.customer != customer) {
                return Err(Error::field("order_id", "is not one of your orders"));
            }
        }
        let key = self.pii.data_key(customer).await?;
        let now = self.clock.now();
        let id = pola_core::new_id();
        let clocks = Clocks::start(new.category, now);
        let row = TicketRow {
            id,
            customer_id: customer,
            order_id: new.order_id,
            category: new.category,
            state: State::New,
            subject_sealed: seal(&key, subject_place(id), &subject),
            created_at: now,
            updated_at: now,
            first_response_due_at: clocks.first_response_due_at,
            resolution_due_at: clocks.resolution_due_at,
            paused_secs: 0,
            paused_since: None,
            first_responded_at: None,
            resolved_at: None,
        };
        let mut tx = self.pool.begin().await?;
        store::insert_ticket(&mut tx, &row).await?;
        let message_id = pola_core::new_id();
        store::insert_message(
            &mut tx,
            &message_row(id, message_id, None, false, seal(&key, body_place(message_id), &message), now),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(ticket.id = %id, category = new.category.as_str(), "a customer opened a support ticket");
        self.view(row, false).await
    }

    /// The ticket with its thread opened (notes only for staff).
    async fn view(&self, row: TicketRow, staff: bool) -> Result<TicketView, Error> {
        let messages = store::messages(&self.pool, row.id, staff).await?;
        let key = match self.pii.data_key(row.customer_id).await {
            Ok(key) => Some(key),
            Err(PiiError::Erased) => None,
            Err(e) => return Err(e.into()),
        };
        let opened = |place: Place<'_>, sealed: &[u8]| -> Result<Option<String>, Error> {
            key.as_ref()
                .map(|key| open(key, place, sealed).map_err(Error::from))
                .transpose()
        };
        let mut thread = vec![];
        for m in messages {
            thread.push(MessageView {
                id: m.id,
                author: m.author,
                internal: m.internal,
                body: opened(body_place(m.id), &m.body_sealed)?.unwrap_or_else(|| "(erased)".into()),
                created_at: m.created_at,
            });
        }
        Ok(TicketView {
            id: row.id,
            number: ticket_number(row.id),
            customer_id: row.customer_id,
            order_id: row.order_id,
            category: row.category,
            state: row.state,
            subject: opened(subject_place(row.id), &row.subject_sealed)?,
            created_at: row.created_at,
            updated_at: row.updated_at,
            deadlines: row.clocks().deadlines(self.clock.now()),
            messages: thread,
        })
    }

    fn summary(&self, row: &TicketRow, now: DateTime<Utc>) -> TicketSummary {
        TicketSummary {
            id: row.id,
            number: ticket_number(row.id),
            customer_id: row.customer_id,
            order_id: row.order_id,
            category: row.category,
            state: row.state,
            created_at: row.created_at,
            updated_at: row.updated_at,
            deadlines: row.clocks().deadlines(now),
        }
    }

    /// The customer's ticket; another customer's is not found.
    pub async fn customer_ticket(&self, customer: Uuid, id: Uuid) -> Result<TicketView, Error> {
        let row = store::ticket(&mut *self.pool.acquire().await?, id, false)
            .await?
            .filter(|t| t.customer_id == customer)
            .ok_or_else(|| Error::not_found("No such ticket of yours."))?;
        self.view(row, false).await
    }

    pub async fn customer_tickets(&self, customer: Uuid) -> Result<Vec<TicketSummary>, Error> {
        let now = self.clock.now();
        Ok(store::customer_tickets(&self.pool, customer)
            .await?
            .iter()
            .map(|row| self.summary(row, now))
            .collect())
    }

    /// A message on the ticket by its customer (`staff` none) or by staff (a reply, or an
    /// internal note), with the state and clocks it moves.
    async fn post(
        &self,
        id: Uuid,
        customer: Option<Uuid>,
        staff: Option<&Staff>,
        text: &str,
        internal: bool,
    ) -> Result<TicketView, Error> {
        let text = check_text("message", text, MAX_MESSAGE).map_err(|e| Error::Validation(vec![e]))?;
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let row = store::ticket(&mut tx, id, true)
            .await?
            .filter(|t| customer.is_none_or(|c| c == t.customer_id))
            .ok_or_else(|| Error::not_found("No such ticket."))?;
        let mut clocks = row.clocks();
        let before = clocks.state;
        match (staff, internal) {
            (None, _) => clocks.customer_replied(now),
            (Some(_), false) => clocks.staff_replied(now),
            (Some(_), true) => Ok(()),
        }
        .map_err(|r| r.into_error())?;
        let key = self.pii.data_key(row.customer_id).await?;
        let message_id = pola_core::new_id();
        let sealed = seal(&key, body_place(message_id), &text);
        store::insert_message(
            &mut tx,
            &message_row(id, message_id, staff.map(|s| s.id), internal, sealed, now),
        )
        .await?;
        store::save_clocks(
            &mut tx,
            id,
            &clocks,
            before == State::Resolved && clocks.state == State::Open,
            now,
        )
        .await?;
        if let Some(staff) = staff {
            let action = if internal { "ticket.note" } else { "ticket.reply" };
            let change = Change::new(action, "ticket", id)
                .before(serde_json::json!({"state": before}))
                .after(serde_json::json!({"state": clocks.state, "message_id": message_id}));
            audit::record(&mut *tx, staff, change).await?;
            if !internal {
                pola_core::events::record(
                    &mut tx,
                    &Replied {
                        ticket_id: id,
                        number: ticket_number(id),
                        customer_id: row.customer_id,
                    },
                )
                .await?;
            }
        }
        tx.commit().await?;
        let row = store::ticket(&mut *self.pool.acquire().await?, id, false)
            .await?
            .ok_or_else(|| Error::not_found("No such ticket."))?;
        self.view(row, staff.is_some()).await
    }

    pub async fn customer_reply(&self, customer: Uuid, id: Uuid, text: &str) -> Result<TicketView, Error> {
        self.post(id, Some(customer), None, text, false).await
    }

    pub async fn staff_reply(&self, staff: &Staff, id: Uuid, text: &str, internal: bool) -> Result<TicketView, Error> {
        staff.require(Role::Support)?;
        self.post(id, None, Some(staff), text, internal).await
    }

    pub async fn staff_ticket(&self, staff: &Staff, id: Uuid) -> Result<TicketView, Error> {
        staff.require(Role::Support)?;
        let row = store::ticket(&mut *self.pool.acquire().await?, id, false)
            .await?
            .ok_or_else(|| Error::not_found("No such ticket."))?;
        self.view(row, true).await
    }

    /// Tickets in `states` (every one when empty), newest first; `overdue` keeps only those past
    /// a deadline.
    pub async fn staff_tickets(
        &self,
        staff: &Staff,
        states: &[State],
        category: Option<model::Category>,
        overdue: bool,
    ) -> Result<Vec<TicketSummary>, Error> {
        staff.require(Role::Support)?;
        let now = self.clock.now();
        Ok(store::staff_tickets(&self.pool, states, category, 500)
            .await?
            .iter()
            .map(|row| self.summary(row, now))
            .filter(|t| !overdue || t.deadlines.overdue)
            .collect())
    }

    /// Staff move a ticket to another state.
    pub async fn change_state(&self, staff: &Staff, id: Uuid, to: State) -> Result<TicketView, Error> {
        staff.require(Role::Support)?;
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let row = store::ticket(&mut tx, id, true)
            .await?
            .ok_or_else(|| Error::not_found("No such ticket."))?;
        let mut clocks = row.clocks();
        let before = clocks.state;
        clocks.move_to(to, now).map_err(|r| r.into_error())?;
        store::save_clocks(&mut tx, id, &clocks, before == State::Resolved && to == State::Open, now).await?;
        let change = Change::new("ticket.state", "ticket", id)
            .before(serde_json::json!({"state": before}))
            .after(serde_json::json!({"state": to}));
        audit::record(&mut *tx, staff, change).await?;
        tx.commit().await?;
        self.staff_ticket(staff, id).await
    }

    pub async fn at_a_glance(&self, staff: &Staff) -> Result<DeskAtAGlance, Error> {
        staff.require_any(&[Role::Support, Role::Fulfilment, Role::Finance, Role::Catalog])?;
        let now = self.clock.now();
        let running = store::staff_tickets(&self.pool, &[State::New, State::Open, State::Waiting], None, 10_000).await?;
        Ok(DeskAtAGlance {
            open: i64::try_from(running.len()).unwrap_or(i64::MAX),
            overdue: i64::try_from(running.iter().filter(|r| r.clocks().deadlines(now).overdue).count()).unwrap_or(i64::MAX),
        })
    }

    /// Raises `support.overdue` once for each deadline newly passed; the number raised.
    pub async fn raise_overdue(&self) -> Result<usize, Error> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let rows = store::newly_overdue(&mut tx, now).await?;
        let mut raised = 0;
        for row in &rows {
            let deadlines = row.clocks().deadlines(now);
            let first = deadlines.first_response_due.is_some_and(|due| due < now);
            let resolution = deadlines.resolution_due.is_some_and(|due| due < now);
            for (passed, deadline, due_at) in [
                (first, "first_response", deadlines.first_response_due),
                (resolution, "resolution", deadlines.resolution_due),
            ] {
                if passed {
                    let event = Overdue {
                        ticket_id: row.id,
                        number: ticket_number(row.id),
                        category: row.category.as_str(),
                        deadline,
                        due_at,
                    };
                    pola_core::events::record(&mut tx, &event).await?;
                    raised += 1;
                    tracing::warn!(ticket.id = %row.id, deadline, "a support ticket is overdue");
                }
            }
            store::mark_overdue(&mut tx, row.id, first, resolution, now).await?;
        }
        tx.commit().await?;
        Ok(raised)
    }

    /// Looks for overdue tickets every minute until `shutdown`.
    pub fn spawn_overdue_watch(self: &Arc<Self>, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = this.raise_overdue().await {
                    tracing::warn!(error = %e, "overdue support tickets could not be checked; trying again in a minute");
                }
                if pola_core::events::pause(&mut shutdown, std::time::Duration::from_secs(60)).await {
                    return;
                }
            }
        })
    }
}

fn message_row(
    ticket: Uuid,
    id: Uuid,
    staff: Option<Uuid>,
    internal: bool,
    body_sealed: Vec<u8>,
    now: DateTime<Utc>,
) -> MessageRow {
    MessageRow {
        id,
        ticket_id: ticket,
        author: if staff.is_some() { "staff" } else { "customer" }.into(),
        staff_id: staff,
        internal,
        body_sealed,
        created_at: now,
    }
}

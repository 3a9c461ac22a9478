//! Support's SQL.

use chrono::{DateTime, Utc};
use sqlx::{MySql, MySqlConnection, MySqlPool, QueryBuilder};
use uuid::Uuid;

use crate::model::{Category, Clocks, State};

/// A ticket's row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TicketRow {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub order_id: Option<Uuid>,
    #[sqlx(try_from = "String")]
    pub category: Category,
    #[sqlx(try_from = "String")]
    pub state: State,
    pub subject_sealed: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub first_response_due_at: DateTime<Utc>,
    pub resolution_due_at: DateTime<Utc>,
    pub paused_secs: i64,
    pub paused_since: Option<DateTime<Utc>>,
    pub first_responded_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
}

impl TicketRow {
    pub fn clocks(&self) -> Clocks {
        Clocks {
            state: self.state,
            first_response_due_at: self.first_response_due_at,
            resolution_due_at: self.resolution_due_at,
            paused_secs: self.paused_secs,
            paused_since: self.paused_since,
            first_responded_at: self.first_responded_at,
            resolved_at: self.resolved_at,
        }
    }
}

const TICKET_COLUMNS: &str = "id, customer_id, order_id, category, state, subject_sealed, created_at, updated_at, first_response_due_at, \
                              resolution_due_at, paused_secs, paused_since, first_responded_at, resolved_at";

pub async fn insert_ticket(conn: &mut MySqlConnection, row: &TicketRow) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO tickets (id, customer_id, order_id, category, state, subject_sealed, created_at, updated_at,
                              first_response_due_at, resolution_due_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(row.id)
    .bind(row.customer_id)
    .bind(row.order_id)
    .bind(row.category.as_str())
    .bind(row.state.as_str())
    .bind(&row.subject_sealed)
    .bind(row.created_at)
    .bind(row.updated_at)
    .bind(row.first_response_due_at)
    .bind(row.resolution_due_at)
    .execute(conn)
    .await
    .map(drop)
}

/// The ticket, locked for a change when `lock`.
pub async fn ticket(conn: &mut MySqlConnection, id: Uuid, lock: bool) -> sqlx::Result<Option<TicketRow>> {
    let mut query = QueryBuilder::<MySql>::new(format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE id = "));
    query.push_bind(id);
    if lock {
        query.push(" FOR UPDATE");
    }
    query.build_query_as().fetch_optional(conn).await
}

/// Writes a ticket's new state and clocks; a reopened ticket's lead is told again when its
/// resolution becomes overdue again.
pub async fn save_clocks(
    conn: &mut MySqlConnection,
    id: Uuid,
    clocks: &Clocks,
    reopened: bool,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE tickets SET resolution_overdue_at = IF(?, NULL, resolution_overdue_at),
                state = ?, paused_secs = ?, paused_since = ?, first_responded_at = ?, resolved_at = ?, updated_at = ?,
                closed_at = IF(? = 'closed', ?, NULL)
         WHERE id = ?",
    )
    .bind(reopened)
    .bind(clocks.state.as_str())
    .bind(clocks.paused_secs)
    .bind(clocks.paused_since)
    .bind(clocks.first_responded_at)
    .bind(clocks.resolved_at)
    .bind(now)
    .bind(clocks.state.as_str())
    .bind(now)
    .bind(id)
    .execute(conn)
    .await
    .map(drop)
}

/// A message's row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub id: Uuid,
    pub ticket_id: Uuid,
    pub author: String,
    pub staff_id: Option<Uuid>,
    pub internal: bool,
    pub body_sealed: Vec<u8>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_message(conn: &mut MySqlConnection, row: &MessageRow) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO ticket_messages (id, ticket_id, author, staff_id, internal, body_sealed, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(row.id)
    .bind(row.ticket_id)
    .bind(&row.author)
    .bind(row.staff_id)
    .bind(row.internal)
    .bind(&row.body_sealed)
    .bind(row.created_at)
    .execute(conn)
    .await
    .map(drop)
}

/// A ticket's thread, oldest first; staff's internal notes only when `with_notes`.
pub async fn messages(pool: &MySqlPool, ticket: Uuid, with_notes: bool) -> sqlx::Result<Vec<MessageRow>> {
    sqlx::query_as(
        "SELECT id, ticket_id, author, staff_id, internal, body_sealed, created_at FROM ticket_messages
         WHERE ticket_id = ? AND (? OR NOT internal) ORDER BY id",
    )
    .bind(ticket)
    .bind(with_notes)
    .fetch_all(pool)
    .await
}

/// A customer's tickets, newest first.
pub async fn customer_tickets(pool: &MySqlPool, customer: Uuid) -> sqlx::Result<Vec<TicketRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE customer_id = ? ORDER BY id DESC LIMIT 100"
    )))
    .bind(customer)
    .fetch_all(pool)
    .await
}

/// Tickets in `states` (all when empty), oldest deadline first is the page's job: newest first.
pub async fn staff_tickets(
    pool: &MySqlPool,
    states: &[State],
    category: Option<Category>,
    limit: u32,
) -> sqlx::Result<Vec<TicketRow>> {
    let mut query = QueryBuilder::<MySql>::new(format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE 1 = 1"));
    if !states.is_empty() {
        query.push(" AND state IN (");
        let mut list = query.separated(", ");
        for state in states {
            list.push_bind(state.as_str());
        }
        query.push(")");
    }
    if let Some(category) = category {
        query.push(" AND category = ").push_bind(category.as_str());
    }
    query.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
    query.build_query_as().fetch_all(pool).await
}

/// Running tickets whose first answer or resolution passed its deadline at `now` and whose
/// lead was not told yet, locked.
pub async fn newly_overdue(conn: &mut MySqlConnection, now: DateTime<Utc>) -> sqlx::Result<Vec<TicketRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {TICKET_COLUMNS} FROM tickets
         WHERE state IN ('new', 'open') AND (
             (first_responded_at IS NULL AND first_response_overdue_at IS NULL
              AND first_response_due_at + INTERVAL paused_secs SECOND < ?)
          OR (resolved_at IS NULL AND resolution_overdue_at IS NULL
              AND resolution_due_at + INTERVAL paused_secs SECOND < ?))
         ORDER BY id LIMIT 200 FOR UPDATE SKIP LOCKED"
    )))
    .bind(now)
    .bind(now)
    .fetch_all(conn)
    .await
}

/// Marks which deadline's notice went out.
pub async fn mark_overdue(
    conn: &mut MySqlConnection,
    id: Uuid,
    first_response: bool,
    resolution: bool,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE tickets SET first_response_overdue_at = IF(?, ?, first_response_overdue_at),
                            resolution_overdue_at = IF(?, ?, resolution_overdue_at) WHERE id = ?",
    )
    .bind(first_response)
    .bind(now)
    .bind(resolution)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await
    .map(drop)
}

/// Writes a demo history's tickets as they stand (their threads are not kept: the demo's
/// customers are ids only, so subjects are sealed under no key and show as erased).
pub async fn seed_tickets(pool: &MySqlPool, rows: &[TicketRow]) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut insert: QueryBuilder<MySql> = QueryBuilder::new(format!("INSERT INTO tickets ({TICKET_COLUMNS}) "));
    insert.push_values(rows, |mut row, t| {
        row.push_bind(t.id)
            .push_bind(t.customer_id)
            .push_bind(t.order_id)
            .push_bind(t.category.as_str())
            .push_bind(t.state.as_str())
            .push_bind(&t.subject_sealed)
            .push_bind(t.created_at)
            .push_bind(t.updated_at)
            .push_bind(t.first_response_due_at)
            .push_bind(t.resolution_due_at)
            .push_bind(t.paused_secs)
            .push_bind(t.paused_since)
            .push_bind(t.first_responded_at)
            .push_bind(t.resolved_at);
    });
    insert.build().execute(pool).await.map(drop)
}

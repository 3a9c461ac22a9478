//! The audit trail of staff writes: who changed what, which record, before and after (personal
//! data masked by the caller), when, from which address, under which request id.
//!
//! Every service that takes staff writes keeps a `staff_audit` table in its own database (the
//! same shape everywhere: `id`, `staff_id`, `action`, `entity`, `entity_id`, `before_state`,
//! `after_state` (JSON), `client_ip`, `request_id`, `created_at`) and writes the row in the same transaction
//! as the change, so there is no change without its row and no row without its change. The table
//! is append-only: triggers refuse UPDATE and DELETE, whoever asks, the service's own user too.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{MySql, MySqlPool, QueryBuilder};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Staff;

/// One staff write, as recorded.
#[derive(Debug, Clone)]
pub struct Change {
    /// What was done: `product.update`, `order.ship`, `staff.create`.
    pub action: &'static str,
    /// The kind of record: `product`, `order`, `staff`.
    pub entity: &'static str,
    /// The record's public id (or code).
    pub entity_id: String,
    /// The record before the change (none when it is new), personal data masked.
    pub before: Option<Value>,
    /// The record after the change (none when it is gone), personal data masked.
    pub after: Option<Value>,
}

impl Change {
    pub fn new(action: &'static str, entity: &'static str, entity_id: impl ToString) -> Self {
        Self {
            action,
            entity,
            entity_id: entity_id.to_string(),
            before: None,
            after: None,
        }
    }

    pub fn before(mut self, before: impl Serialize) -> Self {
        self.before = serde_json::to_value(before).ok();
        self
    }

    pub fn after(mut self, after: impl Serialize) -> Self {
        self.after = serde_json::to_value(after).ok();
        self
    }
}

/// Writes `change` by `staff` (in the caller's transaction, so the change and its row commit
/// together or not at all).
pub async fn record<'c, E>(executor: E, staff: &Staff, change: Change) -> sqlx::Result<()>
where
    E: sqlx::Executor<'c, Database = MySql>,
{
    sqlx::query(
        "INSERT INTO staff_audit (id, staff_id, action, entity, entity_id, before_state, after_state, client_ip, request_id, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(crate::new_id())
    .bind(staff.id)
    .bind(change.action)
    .bind(change.entity)
    .bind(&change.entity_id)
    .bind(change.before.map(sqlx::types::Json))
    .bind(change.after.map(sqlx::types::Json))
    .bind(&staff.client_ip)
    .bind(crate::http::current_request_id().unwrap_or_default())
    .bind(Utc::now())
    .execute(executor)
    .await
    .map(drop)
}

/// A row of the trail.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Entry {
    pub id: Uuid,
    /// The service whose records changed.
    #[sqlx(default)]
    pub service: String,
    pub staff_id: Uuid,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    #[sqlx(json(nullable))]
    pub before_state: Option<Value>,
    #[sqlx(json(nullable))]
    pub after_state: Option<Value>,
    pub client_ip: String,
    pub request_id: String,
    pub created_at: DateTime<Utc>,
}

/// What to look for in the trail; newest first.
#[derive(Debug, Clone, Default, Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub struct Search {
    /// Only this staff member's writes.
    pub staff: Option<Uuid>,
    /// Only this kind of record (`order`, `product`, …).
    pub entity: Option<String>,
    /// Only this record.
    pub entity_id: Option<String>,
    /// Only actions starting with this (`order.`, `order.ship`).
    pub action: Option<String>,
    /// Only from this time on.
    pub since: Option<DateTime<Utc>>,
    /// Only before this time.
    pub until: Option<DateTime<Utc>>,
    /// At most this many rows (default 100, at most 500).
    pub limit: Option<u32>,
}

impl Search {
    pub fn limit(&self) -> u32 {
        self.limit.unwrap_or(100).clamp(1, 500)
    }
}

/// The newest rows of one service's trail that match `search`.
pub async fn search(pool: &MySqlPool, service: &str, search: &Search) -> sqlx::Result<Vec<Entry>> {
    let mut query: QueryBuilder<MySql> = QueryBuilder::new(
        "SELECT id, staff_id, action, entity, entity_id, before_state, after_state, client_ip, request_id, created_at
         FROM staff_audit WHERE 1 = 1",
    );
    if let Some(staff) = search.staff {
        query.push(" AND staff_id = ").push_bind(staff);
    }
    if let Some(entity) = &search.entity {
        query.push(" AND entity = ").push_bind(entity.clone());
    }
    if let Some(id) = &search.entity_id {
        query.push(" AND entity_id = ").push_bind(id.clone());
    }
    if let Some(action) = &search.action {
        let escaped = action.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        query.push(" AND action LIKE ").push_bind(format!("{escaped}%"));
    }
    if let Some(since) = search.since {
        query.push(" AND created_at >= ").push_bind(since);
    }
    if let Some(until) = search.until {
        query.push(" AND created_at < ").push_bind(until);
    }
    query
        .push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(search.limit());
    let mut rows: Vec<Entry> = query.build_query_as().fetch_all(pool).await?;
    for row in &mut rows {
        row.service = service.to_owned();
    }
    Ok(rows)
}

//! The audit trail of staff writes: who changed what, which record, before and after (personal
//! data masked by the caller), when, from which address, under which request id.
//!
//! Every service keeps a `staff_audit` table in its own database (made by [`MIGRATOR`], the same
//! shape everywhere: `id`, `staff_id`, `action`, `entity`, `entity_id`, `before_state`,
//! `after_state` (JSON), `client_ip`, `request_id`, `created_at`) and writes the row in the same
//! transaction as the change, so there is no change without its row and no row without its
//! change. The table is append-only: triggers refuse UPDATE and DELETE, whoever asks, the
//! service's own user too.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{MySql, MySqlPool, QueryBuilder, migrate::Migrator};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Staff;

/// Creates `staff_audit` in a service's database (run before the service's own migrations, so
/// they may move older trails into it), with its own record of what ran.
pub static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
    let mut migrator = sqlx::migrate!("./migrations/audit");
    migrator.dangerous_set_table_name("_pola_audit_migrations");
    migrator
});

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
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Entry {
    /// Unique within its service.
    pub id: String,
    /// The service whose records changed.
    pub service: String,
    pub staff_id: Uuid,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    pub before_state: Option<Value>,
    pub after_state: Option<Value>,
    pub client_ip: String,
    pub request_id: String,
    pub created_at: DateTime<Utc>,
}

/// A row of a `staff_audit` table.
#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    staff_id: Uuid,
    action: String,
    entity: String,
    entity_id: String,
    #[sqlx(json(nullable))]
    before_state: Option<Value>,
    #[sqlx(json(nullable))]
    after_state: Option<Value>,
    client_ip: String,
    request_id: String,
    created_at: DateTime<Utc>,
}

/// A service's trail, however it keeps it.
#[async_trait::async_trait]
pub trait Trail: Send + Sync {
    /// The newest rows that match `search`.
    async fn search(&self, search: &Search) -> Result<Vec<Entry>, crate::Error>;
}

/// A service's `staff_audit` table.
pub struct Table {
    pub service: &'static str,
    pub pool: MySqlPool,
}

#[async_trait::async_trait]
impl Trail for Table {
    async fn search(&self, search: &Search) -> Result<Vec<Entry>, crate::Error> {
        Ok(self::search(&self.pool, self.service, search).await?)
    }
}

/// The `LIKE` pattern of an action prefix.
pub fn action_prefix(action: &str) -> String {
    let escaped = action.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("{escaped}%")
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
        query.push(" AND action LIKE ").push_bind(action_prefix(action));
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
    let rows: Vec<Row> = query.build_query_as().fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|row| Entry {
            id: row.id.to_string(),
            service: service.to_owned(),
            staff_id: row.staff_id,
            action: row.action,
            entity: row.entity,
            entity_id: row.entity_id,
            before_state: row.before_state,
            after_state: row.after_state,
            client_ip: row.client_ip,
            request_id: row.request_id,
            created_at: row.created_at,
        })
        .collect())
}

//! The audit trail of staff writes, read across the services of this process: each keeps its
//! own append-only `staff_audit` table (see `pola_core::audit`); an admin searches them as one.

use std::sync::Arc;

use axum::extract::State;
use pola_core::{
    Error,
    audit::{Entry, Search, Trail},
    auth::{Role, Staff},
    extract::{Json, Query},
};
use utoipa_axum::{router::OpenApiRouter, routes};

/// The trails of the services here.
pub type Trails = Arc<Vec<Arc<dyn Trail>>>;

pub fn router(trails: Trails) -> OpenApiRouter {
    OpenApiRouter::new().routes(routes!(search)).with_state(trails)
}

/// Search the audit trail of staff writes, newest first (admin).
#[utoipa::path(get, path = "/api/v1/audit", tags = ["staff"],
    security(("staff" = [])),
    params(Search),
    responses((status = 200, description = "Matching rows of every service's trail, newest first", body = Vec<Entry>)))]
pub async fn search(State(trails): State<Trails>, staff: Staff, Query(search): Query<Search>) -> Result<Json<Vec<Entry>>, Error> {
    staff.require(Role::Admin)?;
    let mut rows = vec![];
    for trail in trails.iter() {
        rows.extend(trail.search(&search).await?);
    }
    rows.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
    rows.truncate(usize::try_from(search.limit()).unwrap_or(usize::MAX));
    Ok(Json(rows))
}

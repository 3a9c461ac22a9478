//! Inventory's HTTP handlers (staff only: customers see availability through the catalog).

use std::sync::Arc;

use axum::extract::State;
use pola_core::{
    Error, FieldError,
    auth::{Role, Staff},
    error::Problem,
    extract::{Json, Path},
};
use uuid::Uuid;

use crate::{
    Inventory,
    model::{SetStockRequest, VariantStock, parse_location},
    store,
};

/// A variant's stock at every location, with its latest ledger entries.
#[utoipa::path(get, path = "/api/v1/inventory/variants/{id}/stock", tags = ["inventory", "staff"],
    params(("id" = Uuid, Path, description = "Variant id")),
    security(("staff" = [])),
    responses(
        (status = 200, description = "Stock", body = VariantStock),
        (status = 403, description = "Needs the catalog role", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_stock(
    State(inventory): State<Arc<Inventory>>,
    staff: Staff,
    Path(id): Path<Uuid>,
) -> Result<Json<VariantStock>, Error> {
    staff.require(Role::Catalog)?;
    Ok(Json(store::variant_stock(&inventory.pool, id).await?))
}

/// Set the counted stock of a variant at one location (staff, role `catalog`). The change and its
/// reason go into the ledger.
#[utoipa::path(put, path = "/api/v1/inventory/variants/{id}/stock", tags = ["inventory", "staff"],
    params(("id" = Uuid, Path, description = "Variant id")),
    request_body = SetStockRequest,
    security(("staff" = [])),
    responses(
        (status = 200, description = "Stock after the change", body = VariantStock),
        (status = 403, description = "Needs the catalog role", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_stock(
    State(inventory): State<Arc<Inventory>>,
    staff: Staff,
    Path(id): Path<Uuid>,
    Json(request): Json<SetStockRequest>,
) -> Result<Json<VariantStock>, Error> {
    staff.require(Role::Catalog)?;
    let mut errors = vec![];
    let location = parse_location(&request.location).map_err(|m| errors.push(FieldError::new("location", m)));
    if !(0..=1_000_000_000).contains(&request.on_hand) {
        errors.push(FieldError::new("on_hand", "must be between 0 and 1000000000"));
    }
    let reason = request.reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        errors.push(FieldError::new("reason", "must be 1-200 characters"));
    }
    let Ok(location) = location else {
        return Err(Error::Validation(errors));
    };
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    pola_core::db::retry_deadlocks(|| store::set_stock(&inventory.pool, id, &location, request.on_hand, reason, &staff)).await?;
    tracing::info!(variant.id = %id, stock.location = %location, stock.on_hand = request.on_hand, staff.id = %staff.id, "stock set");
    Ok(Json(store::variant_stock(&inventory.pool, id).await?))
}

/// Internal API: what other Pola processes call through `client::HttpInventory`. Not in the
/// public OpenAPI document; admitted only with the service token.
pub mod internal {
    use std::{collections::HashMap, sync::Arc};

    use axum::extract::State;
    use pola_core::{
        Error,
        client::InternalCall,
        extract::{Json, Path},
    };
    use uuid::Uuid;

    use crate::{
        Inventory,
        client::{AvailabilityQuery, InventoryClient, ReserveRequest, SaleRequest},
    };

    type AppState = State<Arc<Inventory>>;

    pub async fn availability(
        State(inventory): AppState,
        _: InternalCall,
        Json(query): Json<AvailabilityQuery>,
    ) -> Result<Json<HashMap<Uuid, i64>>, Error> {
        Ok(Json(inventory.availability(&query.variants).await?))
    }

    pub async fn reserve(
        State(inventory): AppState,
        _: InternalCall,
        Path(id): Path<Uuid>,
        Json(request): Json<ReserveRequest>,
    ) -> Result<Json<()>, Error> {
        Ok(Json(inventory.reserve(id, &request.items, &request.hold).await?))
    }

    pub async fn release(State(inventory): AppState, _: InternalCall, Path(id): Path<Uuid>) -> Result<Json<()>, Error> {
        Ok(Json(inventory.release(id).await?))
    }

    pub async fn sell(State(inventory): AppState, _: InternalCall, Json(request): Json<SaleRequest>) -> Result<Json<()>, Error> {
        Ok(Json(inventory.commit(request.order, &request.consume, &request.items).await?))
    }

    pub async fn return_order(State(inventory): AppState, _: InternalCall, Path(order): Path<Uuid>) -> Result<Json<()>, Error> {
        Ok(Json(inventory.return_order(order).await?))
    }
}

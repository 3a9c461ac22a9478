//! Inventory's HTTP handlers (staff only: customers see availability through the catalog).

use std::sync::Arc;

use axum::extract::State;
use pola_core::{
    Error, FieldError,
    auth::{Role, Staff},
    error::Problem,
    extract::{Json, Path, Query},
    pagination::{Page, PageParams},
};
use uuid::Uuid;

use crate::{
    Inventory,
    model::{
        LEDGER_KINDS, LedgerEntry, LedgerQuery, Locations, SetStockRequest, StockQuery, VariantLevels, VariantStock,
        parse_location,
    },
    store,
};

/// A variant's stock at every location, with its latest ledger entries.
#[utoipa::path(get, path = "/api/v1/inventory/variants/{id}/stock", tags = ["inventory", "staff"],
    params(("id" = Uuid, Path, description = "Variant id")),
    security(("staff" = [])),
    responses(
        (status = 200, description = "Stock", body = VariantStock),
        (status = 403, description = "Needs the catalog or fulfilment role", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_stock(
    State(inventory): State<Arc<Inventory>>,
    staff: Staff,
    Path(id): Path<Uuid>,
) -> Result<Json<VariantStock>, Error> {
    staff.require_any(&STOCK_READERS)?;
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

/// The roles that read stock: those who count it and those who pick it.
const STOCK_READERS: [Role; 2] = [Role::Catalog, Role::Fulfilment];

/// Every location's totals, with how many of its rows run low.
#[utoipa::path(get, path = "/api/v1/inventory/locations", tags = ["inventory", "staff"],
    security(("staff" = [])),
    responses(
        (status = 200, description = "Locations", body = Locations),
        (status = 403, description = "Needs the catalog or fulfilment role", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn locations(State(inventory): State<Arc<Inventory>>, staff: Staff) -> Result<Json<Locations>, Error> {
    staff.require_any(&STOCK_READERS)?;
    let threshold = inventory.config.low_stock_threshold;
    Ok(Json(Locations {
        low_stock_threshold: threshold,
        locations: store::locations(&inventory.pool, threshold).await?,
    }))
}

/// Stock by variant, at one location or all; `low=true` lists only what runs low (the
/// configured threshold or fewer available).
#[utoipa::path(get, path = "/api/v1/inventory/stock", tags = ["inventory", "staff"],
    params(StockQuery, PageParams),
    security(("staff" = [])),
    responses(
        (status = 200, description = "A page of variants", body = Page<VariantLevels>),
        (status = 403, description = "Needs the catalog or fulfilment role", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad location, limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn stock(
    State(inventory): State<Arc<Inventory>>,
    staff: Staff,
    Query(query): Query<StockQuery>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<VariantLevels>>, Error> {
    staff.require_any(&STOCK_READERS)?;
    let location = location_filter(query.location.as_deref())?;
    let low = query.low.then_some(inventory.config.low_stock_threshold);
    Ok(Json(
        store::stock_levels(&inventory.pool, location.as_deref(), low, page.parse()?).await?,
    ))
}

/// Every change to stock, newest first: counts, sales and returns, with their reasons.
#[utoipa::path(get, path = "/api/v1/inventory/ledger", tags = ["inventory", "staff"],
    params(LedgerQuery, PageParams),
    security(("staff" = [])),
    responses(
        (status = 200, description = "A page of changes", body = Page<LedgerEntry>),
        (status = 403, description = "Needs the catalog or fulfilment role", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad location, kind, limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn ledger(
    State(inventory): State<Arc<Inventory>>,
    staff: Staff,
    Query(query): Query<LedgerQuery>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<LedgerEntry>>, Error> {
    staff.require_any(&STOCK_READERS)?;
    let location = location_filter(query.location.as_deref())?;
    let kind = query.kind.as_deref().filter(|k| !k.is_empty());
    if kind.is_some_and(|k| !LEDGER_KINDS.contains(&k)) {
        return Err(Error::Validation(vec![FieldError::new(
            "kind",
            "must be adjustment, sale or return",
        )]));
    }
    let page = page.parse()?;
    Ok(Json(
        store::ledger(&inventory.pool, query.variant, location.as_deref(), kind, page).await?,
    ))
}

/// A location to filter by (an empty one: every location).
fn location_filter(raw: Option<&str>) -> Result<Option<String>, Error> {
    match raw.filter(|l| !l.is_empty()) {
        None => Ok(None),
        Some(raw) => parse_location(raw)
            .map(Some)
            .map_err(|m| Error::Validation(vec![FieldError::new("location", m)])),
    }
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

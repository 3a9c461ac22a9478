//! Stock: what each location holds, what runs low, every change with its reason (the ledger),
//! and a count entered for a variant at a location.

use axum::{body::Bytes, extract::State, response::Response};
use http::Method;
use minijinja::context;
use pola_core::extract::{Path, Query};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{Area, Done};
use crate::{
    Backoffice, Error,
    desk::{Desk, Office, Staffer, refusal},
    templates::value,
};

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct StockSearch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    location: Option<String>,
    /// `1`: only what runs low.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    low: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
}

impl StockSearch {
    fn low(&self) -> bool {
        self.low.as_deref().is_some_and(|l| !l.is_empty())
    }
}

/// Names for the variants of a page of stock rows or ledger entries (`id → {sku, title}`).
async fn names(office: &Backoffice, staffer: &Staffer, ids: impl Iterator<Item = String>) -> Result<serde_json::Value, Error> {
    let mut ids: Vec<String> = ids.collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(json!({}));
    }
    let found: Vec<serde_json::Value> = office
        .get(staffer, &format!("/api/v1/catalog/variants?ids={}", ids.join(",")))
        .await?;
    Ok(found
        .into_iter()
        .filter_map(|v| Some((v["id"].as_str()?.to_owned(), v)))
        .collect::<serde_json::Map<_, _>>()
        .into())
}

/// The ids of a page's items' variants.
fn variant_ids(page: &serde_json::Value) -> impl Iterator<Item = String> + '_ {
    page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item["variant_id"].as_str().map(str::to_owned))
}

/// `GET /backoffice/stock`: the locations, and stock by variant (all of it, or what runs low).
pub async fn list(State(office): Office, desk: Desk, Query(search): Query<StockSearch>) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Stock).await?;
    let locations: serde_json::Value = office.get(&staffer, "/api/v1/inventory/locations").await?;
    let mut query = vec![("limit", "50".to_owned()), ("low", search.low().to_string())];
    query.extend(search.location.clone().filter(|l| !l.is_empty()).map(|l| ("location", l)));
    query.extend(search.cursor.clone().map(|c| ("cursor", c)));
    let path = format!(
        "/api/v1/inventory/stock?{}",
        serde_urlencoded::to_string(&query).unwrap_or_default()
    );
    let page: serde_json::Value = office.get(&staffer, &path).await?;
    let names = names(&office, &staffer, variant_ids(&page)).await?;
    let next = page["next_cursor"].as_str().map(|cursor| {
        let kept = StockSearch {
            cursor: Some(cursor.to_owned()),
            ..search.clone()
        };
        format!("/backoffice/stock?{}", serde_urlencoded::to_string(&kept).unwrap_or_default())
    });
    let ctx = context! {
        locations => value(&locations),
        page => value(&page),
        names => value(&names),
        search => value(&search),
        low => search.low(),
        next => next,
    };
    office.page(&staffer.desk, Some(&staffer), "stock.html", ctx)
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct LedgerSearch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
}

/// `GET /backoffice/stock/ledger`: every change to stock, newest first.
pub async fn ledger(State(office): Office, desk: Desk, Query(search): Query<LedgerSearch>) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Stock).await?;
    let query = serde_urlencoded::to_string(&search).unwrap_or_default();
    let page: serde_json::Value = office
        .get(&staffer, &format!("/api/v1/inventory/ledger?limit=50&{query}"))
        .await?;
    let names = names(&office, &staffer, variant_ids(&page)).await?;
    let next = page["next_cursor"].as_str().map(|cursor| {
        let kept = LedgerSearch {
            cursor: Some(cursor.to_owned()),
            ..search.clone()
        };
        format!(
            "/backoffice/stock/ledger?{}",
            serde_urlencoded::to_string(&kept).unwrap_or_default()
        )
    });
    let ctx = context! { page => value(&page), names => value(&names), search => value(&search), next => next };
    office.page(&staffer.desk, Some(&staffer), "ledger.html", ctx)
}

/// One variant's stock page, with a refusal's reasons when there is one.
async fn variant_page(
    office: &Backoffice,
    staffer: &Staffer,
    id: Uuid,
    refused: Option<serde_json::Value>,
    done: Option<String>,
) -> Result<Response, Error> {
    let stock: serde_json::Value = office.get(staffer, &format!("/api/v1/inventory/variants/{id}/stock")).await?;
    let names = names(office, staffer, std::iter::once(id.to_string())).await?;
    let Some(variant) = names.get(id.to_string()).cloned() else {
        return Err(Error::NotFound);
    };
    let failed = refused.is_some();
    let ctx = context! {
        stock => value(&stock),
        variant => value(&variant),
        may_count => staffer.has(&[pola_core::auth::Role::Catalog]),
        refused => value(&refused),
        done => done,
    };
    office.form_page(staffer, "stock_variant.html", ctx, failed)
}

/// `GET /backoffice/stock/variants/{id}`
pub async fn variant(
    State(office): Office,
    desk: Desk,
    Path(id): Path<Uuid>,
    Query(done): Query<Done>,
) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Stock).await?;
    variant_page(&office, &staffer, id, None, done.done).await
}

#[derive(Debug, Deserialize)]
pub struct CountForm {
    location: String,
    on_hand: String,
    reason: String,
}

/// `POST /backoffice/stock/variants/{id}`: a count at a location, with its reason.
pub async fn count(State(office): Office, desk: Desk, Path(id): Path<Uuid>, body: Bytes) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Stock).await?;
    let form: CountForm = office.form(&staffer.desk, &body)?;
    let Ok(on_hand) = form.on_hand.trim().parse::<i64>() else {
        let refused = json!({"title": "Not a count", "detail": format!("`{}` is not a whole number of units.", form.on_hand)});
        return variant_page(&office, &staffer, id, Some(refused), None).await;
    };
    let count = json!({"location": form.location.trim(), "on_hand": on_hand, "reason": form.reason});
    let reply = office
        .write(
            &staffer,
            Method::PUT,
            &format!("/api/v1/inventory/variants/{id}/stock"),
            count,
        )
        .await?;
    if reply.status.is_success() {
        return Ok(office.redirect(&staffer.desk, &format!("/backoffice/stock/variants/{id}?done=counted")));
    }
    variant_page(&office, &staffer, id, Some(refusal(reply)?), None).await
}

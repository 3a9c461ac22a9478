//! The suggestions pages and apps show.

use std::sync::Arc;

use axum::extract::State;
use pola_catalog::model::ProductSummary;
use pola_core::{
    Error, FieldError,
    extract::{Json, Query},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{MAX_BASKET, MAX_SUGGESTIONS, Recommendations};

/// `?products=…,…&limit=6`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct SuggestionsQuery {
    /// The products being looked at, ids separated by commas: a product page's, or a cart's
    /// (the first 20 count).
    pub products: String,
    /// How many to suggest, 1 to 12. Default 6.
    pub limit: Option<usize>,
}

/// Products to suggest.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Suggestions {
    pub products: Vec<ProductSummary>,
}

/// "Customers also bought": products bought with these, most related first, in stock and not
/// among them; the bestsellers of their categories fill in where purchases say too little
/// (a new product). Anyone may ask.
#[utoipa::path(get, path = "/api/v1/recommendations", tag = "recommendations", params(SuggestionsQuery),
    responses(
        (status = 200, description = "Suggestions, possibly none", body = Suggestions),
        (status = 422, description = "A product id or the limit is not valid", content_type = "application/problem+json"),
    ))]
pub async fn suggestions(
    State(recommendations): State<Arc<Recommendations>>,
    Query(query): Query<SuggestionsQuery>,
) -> Result<Json<Suggestions>, Error> {
    let limit = query.limit.unwrap_or(6);
    let mut errors = vec![];
    let products: Result<Vec<Uuid>, _> = query.products.split(',').take(MAX_BASKET).map(str::parse).collect();
    let products = products.unwrap_or_else(|_| {
        errors.push(FieldError::new("products", "must be product ids separated by commas"));
        vec![]
    });
    if !(1..=MAX_SUGGESTIONS).contains(&limit) {
        errors.push(FieldError::new("limit", "must be between 1 and 12"));
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    Ok(Json(Suggestions {
        products: recommendations.suggest(&products, limit).await?,
    }))
}

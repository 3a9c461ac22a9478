//! How other services use the catalog.

use std::collections::HashMap;

use async_trait::async_trait;
use pola_core::{Error, Money, client::ServiceClient};
use pola_inventory::model::StockItem;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Catalog, model::ProductSummary, store};

/// What cart and orders need to know of a variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariantInfo {
    pub id: Uuid,
    pub product_id: Uuid,
    pub sku: String,
    /// Product name with the variant's attribute values: `Batik shirt (M, Blue)`.
    pub title: String,
    pub price: Money,
    pub category_id: Uuid,
    /// One unit, packed.
    pub weight_grams: u32,
    /// Variant and product are both active.
    pub purchasable: bool,
    /// The stock one unit takes: itself, or a bundle's components.
    pub stock_items: Vec<StockItem>,
}

/// The catalog as other services see it.
#[async_trait]
pub trait CatalogClient: Send + Sync {
    /// The variants that exist among `ids` (archived ones included, not purchasable).
    async fn variants(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, VariantInfo>, Error>;
    /// The active products among `ids` (at most 100), as lists show them, in the order asked.
    async fn products(&self, ids: &[Uuid]) -> Result<Vec<ProductSummary>, Error>;
}

#[async_trait]
impl CatalogClient for Catalog {
    async fn products(&self, ids: &[Uuid]) -> Result<Vec<ProductSummary>, Error> {
        self.summaries(&ids[..ids.len().min(100)]).await
    }

    async fn variants(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, VariantInfo>, Error> {
        let rows = store::variants(&self.pool, ids, false).await?;
        Ok(rows
            .into_iter()
            .map(|v| {
                let values: Vec<String> = v
                    .attributes
                    .values()
                    .map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_owned))
                    .collect();
                let name = v.product_name;
                let title = if values.is_empty() {
                    name
                } else {
                    format!("{name} ({})", values.join(", "))
                };
                let stock_items = if v.components.is_empty() {
                    vec![StockItem {
                        variant_id: v.id,
                        quantity: 1,
                    }]
                } else {
                    v.components
                        .iter()
                        .map(|c| StockItem {
                            variant_id: c.variant_id,
                            quantity: c.quantity,
                        })
                        .collect()
                };
                (
                    v.id,
                    VariantInfo {
                        id: v.id,
                        product_id: v.product_id,
                        sku: v.sku,
                        title,
                        price: v.price,
                        category_id: v.category_id,
                        weight_grams: v.weight_grams,
                        purchasable: v.active,
                        stock_items,
                    },
                )
            })
            .collect())
    }
}

/// The catalog in another process, through its internal API.
pub struct HttpCatalog(pub ServiceClient);

/// Body of `POST /internal/v1/catalog/variants`.
#[derive(Debug, Serialize, Deserialize)]
pub struct VariantsQuery {
    pub ids: Vec<Uuid>,
}

#[async_trait]
impl CatalogClient for HttpCatalog {
    async fn variants(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, VariantInfo>, Error> {
        let query = VariantsQuery { ids: ids.to_vec() };
        self.0.post("/internal/v1/catalog/variants", &query).await
    }

    async fn products(&self, ids: &[Uuid]) -> Result<Vec<ProductSummary>, Error> {
        let query = ProductsQuery { ids: ids.to_vec() };
        self.0.post("/internal/v1/catalog/products", &query).await
    }
}

/// Body of `POST /internal/v1/catalog/products`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ProductsQuery {
    pub ids: Vec<Uuid>,
}

//! The SQL of the catalogue's CSV export and import.

use sqlx::{MySqlPool, QueryBuilder, types::Json};
use uuid::Uuid;

use crate::model::ProductKind;

/// A variant with its product, as a sheet's row holds it.
#[derive(Debug, sqlx::FromRow)]
pub struct ExportRow {
    pub product_id: Uuid,
    pub product_name: String,
    pub category: String,
    pub product_type: String,
    pub kind: String,
    pub description: String,
    pub sku: String,
    pub price_minor: i64,
    pub status: String,
    pub weight_grams: u32,
    pub attributes: Json<std::collections::BTreeMap<String, serde_json::Value>>,
}

/// Every variant, by product name then SKU.
pub async fn export_rows(pool: &MySqlPool) -> sqlx::Result<Vec<ExportRow>> {
    sqlx::query_as(
        "SELECT p.id AS product_id, p.name AS product_name, c.slug AS category, t.code AS product_type, p.kind, p.description,
                v.sku, v.price_minor, IF(p.status = 'archived', 'archived', v.status) AS status, v.weight_grams, v.attributes
         FROM variants v JOIN products p ON p.id = v.product_id JOIN categories c ON c.id = p.category_id
              JOIN product_types t ON t.id = p.product_type_id
         ORDER BY p.name, p.id, v.sku",
    )
    .fetch_all(pool)
    .await
}

/// A variant a sheet names by SKU, with what an import may change.
#[derive(Debug, sqlx::FromRow)]
pub struct ExistingVariant {
    pub id: Uuid,
    pub sku: String,
    pub product_id: Uuid,
    pub price_minor: i64,
    pub status: String,
    pub product_name: String,
    pub description: String,
    pub category_id: Uuid,
    pub product_type: String,
}

pub async fn variants_by_sku(pool: &MySqlPool, skus: &[String]) -> sqlx::Result<Vec<ExistingVariant>> {
    let mut found = vec![];
    for chunk in skus.chunks(1000) {
        let mut query = QueryBuilder::new(
            "SELECT v.id, v.sku, v.product_id, v.price_minor, v.status, p.name AS product_name, p.description, p.category_id,
                    t.code AS product_type
             FROM variants v JOIN products p ON p.id = v.product_id JOIN product_types t ON t.id = p.product_type_id
             WHERE v.sku IN (",
        );
        let mut list = query.separated(", ");
        for sku in chunk {
            list.push_bind(sku);
        }
        query.push(")");
        found.extend(query.build_query_as::<ExistingVariant>().fetch_all(pool).await?);
    }
    Ok(found)
}

/// A product a sheet names by id.
#[derive(Debug, sqlx::FromRow)]
pub struct ExistingProduct {
    pub id: Uuid,
    #[sqlx(try_from = "String")]
    pub kind: ProductKind,
    pub product_type: String,
}

pub async fn products(pool: &MySqlPool, ids: &[Uuid]) -> sqlx::Result<Vec<ExistingProduct>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let mut query = QueryBuilder::new(
        "SELECT p.id, p.kind, t.code AS product_type FROM products p JOIN product_types t ON t.id = p.product_type_id WHERE p.id IN (",
    );
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    query.push(")");
    query.build_query_as().fetch_all(pool).await
}

//! Catalog: categories, product types with typed attributes, products, services and bundles
//! with their variants; browsing with filters, search and keyset paging.

pub mod api;
pub mod client;
pub mod images;
pub mod model;
pub mod read_model;
pub mod sheet;
pub mod staff;
pub mod store;

use std::{collections::HashMap, sync::Arc};

use pola_core::{
    Error, Money,
    audit::{self, Change},
    auth::Staff,
    config::CatalogConfig,
    db::is_duplicate_key,
    pagination::{Page, PageRequest, encode_cursor},
};
use pola_inventory::client::InventoryClient;
use sqlx::{MySqlPool, migrate::Migrator};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::model::{
    NewCategory, NewProduct, NewProductType, ProductDetail, ProductFilter, ProductKind, ProductSummary, ProductType, Sort,
    VariantView, bundle_available,
};
use crate::read_model::{PageJson, ReadModel};

/// Commits `tx` with `change` in the audit trail, when a staff member made it (the demo seed
/// is no one's).
async fn commit_audited(mut tx: sqlx::Transaction<'_, sqlx::MySql>, staff: Option<&Staff>, change: Change) -> Result<(), Error> {
    if let Some(staff) = staff {
        audit::record(&mut *tx, staff, change).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// `catalog.changed`: what lists or product pages show changed (a product's name, a price, a
/// status, variants or pictures). Pages kept in memory are cleared by it.
#[derive(Debug, serde::Serialize)]
pub struct CatalogChanged {
    /// The product changed; none when a sheet import changed many.
    pub product_id: Option<Uuid>,
    /// The audit trail's action: `product.update`, `variant.update`, `catalog.import`, …
    pub action: &'static str,
}

impl pola_core::events::Event for CatalogChanged {
    fn kind(&self) -> &'static str {
        "catalog.changed"
    }
}

impl Catalog {
    /// Commits a staff change to what customers see, with its audit row and its
    /// `catalog.changed` event, and forgets this process's pages at once (the others hear the
    /// event).
    async fn commit_shown(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::MySql>,
        staff: &Staff,
        product: Option<Uuid>,
        change: Change,
    ) -> Result<(), Error> {
        let event = CatalogChanged {
            product_id: product,
            action: change.action,
        };
        pola_core::events::record(&mut tx, &event).await?;
        commit_audited(tx, Some(staff), change).await?;
        self.read_model.clear();
        Ok(())
    }
}

/// The database this service owns: `<prefix>_catalog`.
pub const SERVICE: &str = "catalog";
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// How many batches an `in_stock` listing reads before it returns a short page with a cursor.
const IN_STOCK_SCAN_BATCHES: usize = 10;

/// The catalog service.
pub struct Catalog {
    pool: MySqlPool,
    inventory: Arc<dyn InventoryClient>,
    read_model: Arc<ReadModel>,
}

impl Catalog {
    pub fn new(pool: MySqlPool, inventory: Arc<dyn InventoryClient>, config: &CatalogConfig) -> Arc<Self> {
        Arc::new(Self {
            pool,
            inventory,
            read_model: Arc::new(ReadModel::new(config)),
        })
    }

    /// The pages this process keeps, to follow the events that clear them.
    pub fn read_model(&self) -> Arc<ReadModel> {
        self.read_model.clone()
    }

    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    pub fn router(self: &Arc<Self>) -> OpenApiRouter {
        OpenApiRouter::new()
            .routes(routes!(api::list_products, api::create_product))
            .routes(routes!(api::get_product, api::update_product))
            .routes(routes!(api::archive_product))
            .routes(routes!(api::add_variant))
            .routes(routes!(api::update_variant))
            .routes(routes!(api::name_variants))
            .routes(routes!(api::staff_product))
            .routes(routes!(api::archived_products))
            .routes(routes!(api::list_categories, api::create_category))
            .routes(routes!(api::list_product_types, api::create_product_type))
            .routes(routes!(api::upload_image))
            .routes(routes!(api::attach_image))
            .routes(routes!(api::detach_image, api::update_image))
            .routes(routes!(api::export_sheet))
            .routes(routes!(api::import_sheet))
            .route("/images/{hash}/{file}", axum::routing::get(api::serve_image))
            .route("/internal/v1/catalog/variants", axum::routing::post(api::lookup_variants))
            .route("/internal/v1/catalog/products", axum::routing::post(api::lookup_products))
            .with_state(self.clone())
    }

    /// Units available per variant, bundles computed from their components.
    async fn stock(&self, variants: &[store::VariantRow]) -> Result<HashMap<Uuid, i64>, Error> {
        let mut ids: Vec<Uuid> = variants
            .iter()
            .flat_map(|v| {
                if v.components.is_empty() {
                    vec![v.id]
                } else {
                    v.components.iter().map(|c| c.variant_id).collect()
                }
            })
            .collect();
        ids.sort();
        ids.dedup();
        let available = self.inventory.availability(&ids).await?;
        let of = |id: Uuid| available.get(&id).copied().unwrap_or(0);
        Ok(variants
            .iter()
            .map(|v| {
                let units = if v.components.is_empty() {
                    of(v.id)
                } else {
                    bundle_available(&v.components, of)
                };
                (v.id, if v.active { units } else { 0 })
            })
            .collect())
    }

    /// Products as lists show them: lowest and highest price and the units available over
    /// their active variants (no pictures yet).
    async fn summarise(&self, rows: Vec<store::SummaryRow>) -> Result<Vec<ProductSummary>, Error> {
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let variants = store::variants(&self.pool, &ids, true).await?;
        let stock = self.stock(&variants).await?;
        // (units available, lowest price, highest price) of each product's active variants.
        let mut per_product: HashMap<Uuid, (i64, i64, i64)> = HashMap::new();
        for v in variants.iter().filter(|v| v.active) {
            let entry = per_product.entry(v.product_id).or_insert((0, i64::MAX, 0));
            entry.0 += stock.get(&v.id).copied().unwrap_or(0);
            entry.1 = entry.1.min(v.price.amount_minor);
            entry.2 = entry.2.max(v.price.amount_minor);
        }
        Ok(rows
            .into_iter()
            .map(|row| {
                let (stock_available, price_min, price_max) = per_product.get(&row.id).copied().unwrap_or((0, 0, 0));
                ProductSummary {
                    id: row.id,
                    name: row.name,
                    kind: row.kind,
                    category: row.category,
                    product_type: row.product_type,
                    price: Money::lkr(price_min),
                    price_max: Money::lkr(price_max),
                    stock_available,
                    image: None,
                }
            })
            .collect())
    }

    /// Gives each product its first picture.
    async fn picture(&self, products: &mut [ProductSummary]) -> Result<(), Error> {
        let ids: Vec<Uuid> = products.iter().map(|p| p.id).collect();
        let mut images = self.images_of(&ids).await?;
        for product in products {
            product.image = images
                .get_mut(&product.id)
                .and_then(|all| (!all.is_empty()).then(|| all.remove(0)));
        }
        Ok(())
    }

    /// The active products among `ids`, as lists show them, in the order asked.
    pub async fn summaries(&self, ids: &[Uuid]) -> Result<Vec<ProductSummary>, Error> {
        let mut rows = store::summary_rows(&self.pool, ids).await?;
        rows.sort_by_key(|r| ids.iter().position(|id| *id == r.id));
        let mut out = self.summarise(rows).await?;
        self.picture(&mut out).await?;
        Ok(out)
    }

    /// A page of products as customers browse them, from the read model.
    pub async fn list(&self, filter: &ProductFilter, page: PageRequest) -> Result<PageJson, Error> {
        let key = (filter.clone(), page);
        self.read_model.list(key, || self.read_list(filter, page)).await
    }

    /// A product as customers see it (archived ones are not found), from the read model.
    pub async fn product_page(&self, id: Uuid) -> Result<PageJson, Error> {
        self.read_model.product(id, || self.detail(id, false)).await
    }

    /// A page of products, newest first, read from the database.
    async fn read_list(&self, filter: &ProductFilter, page: PageRequest) -> Result<Page<ProductSummary>, Error> {
        let categories = match &filter.category {
            Some(slug) => Some(
                store::category_scope(&self.pool, slug)
                    .await?
                    .ok_or_else(|| Error::field("category", "no such category"))?,
            ),
            None => None,
        };
        // Only products whose type declares every filtered attribute can match; knowing which
        // spares reading the others' variants.
        let types = match filter.attributes.is_empty() {
            true => None,
            false => {
                let types: Vec<Uuid> = store::list_product_types(&self.pool)
                    .await?
                    .into_iter()
                    .filter(|t| {
                        filter
                            .attributes
                            .iter()
                            .all(|(code, _)| t.attributes.iter().any(|a| a.code == code.as_str()))
                    })
                    .map(|t| t.id)
                    .collect();
                if types.is_empty() {
                    return Ok(Page {
                        items: vec![],
                        next_cursor: None,
                    });
                }
                Some(types)
            }
        };
        let want = page.limit as usize + 1;
        // Without the stock filter one batch of limit + 1 is the page; with it, batches a half
        // larger (most products are in stock) are read until the page is full, all are read,
        // or the scan budget is spent.
        let batch = if filter.in_stock {
            (want + want / 2) as u32
        } else {
            want as u32
        };
        // A price-sorted page goes on from its last product's price (as it is now).
        let mut after = match page.after {
            None => None,
            Some(id) => Some(store::After {
                id,
                price_min: match filter.sort {
                    Sort::Newest => 0,
                    _ => store::price_min(&self.pool, id).await?.unwrap_or(0),
                },
            }),
        };
        let mut out: Vec<ProductSummary> = vec![];
        let mut exhausted = false;
        'scan: for _ in 0..IN_STOCK_SCAN_BATCHES {
            let scope = store::Scope {
                filter,
                categories: categories.as_deref(),
                types: types.as_deref(),
            };
            let rows = store::list_products(&self.pool, &scope, after, batch).await?;
            exhausted = rows.len() < batch as usize;
            for product in self.summarise(rows).await? {
                after = Some(store::After {
                    id: product.id,
                    price_min: product.price.amount_minor,
                });
                if filter.in_stock && product.stock_available <= 0 {
                    continue;
                }
                out.push(product);
                if out.len() == want {
                    break 'scan;
                }
            }
            if exhausted || !filter.in_stock {
                break;
            }
        }
        self.picture(&mut out).await?;
        let mut result = Page::from_rows(out, page.limit, |p| p.id);
        if result.next_cursor.is_none() && !exhausted && filter.in_stock {
            // The scan budget ran out before the page filled: continue from the last row read.
            result.next_cursor = after.map(|a| encode_cursor(a.id));
        }
        Ok(result)
    }

    /// One product with its variants; archived products are not found.
    pub async fn detail(&self, id: Uuid, include_archived: bool) -> Result<ProductDetail, Error> {
        let product = store::product(&self.pool, id)
            .await?
            .filter(|p| include_archived || p.status == model::Status::Active)
            .ok_or_else(|| Error::not_found("No such product."))?;
        let variants: Vec<_> = store::variants(&self.pool, &[id], true)
            .await?
            .into_iter()
            .filter(|v| include_archived || v.active)
            .collect();
        let stock = self.stock(&variants).await?;
        let views: Vec<VariantView> = variants
            .into_iter()
            .map(|v| VariantView {
                stock_available: stock.get(&v.id).copied().unwrap_or(0),
                id: v.id,
                sku: v.sku,
                attributes: v.attributes,
                price: v.price,
                components: v.components,
                archived: !v.active,
            })
            .collect();
        Ok(ProductDetail {
            id: product.id,
            name: product.name,
            description: product.description,
            kind: product.kind,
            status: product.status,
            category: product.category,
            product_type: product.product_type,
            price: views
                .iter()
                .map(|v| v.price)
                .min_by_key(|m| m.amount_minor)
                .unwrap_or(Money::lkr(0)),
            stock_available: views.iter().map(|v| v.stock_available).sum(),
            variants: views,
            images: self.images_of(&[id]).await?.remove(&id).unwrap_or_default(),
        })
    }

    /// A new category (`staff`'s, recorded in the audit trail; none for the demo seed).
    pub async fn create_category(&self, staff: Option<&Staff>, new: &NewCategory) -> Result<Uuid, Error> {
        if !model::is_code(&new.slug.replace('-', "_")) || new.slug.len() > 80 {
            return Err(Error::field("slug", "must be lower-case letters, digits, - and _"));
        }
        if new.name.trim().is_empty() || new.name.chars().count() > 100 {
            return Err(Error::field("name", "must be 1-100 characters"));
        }
        let parent = match &new.parent {
            Some(slug) => Some(
                store::category_id(&self.pool, slug)
                    .await?
                    .ok_or_else(|| Error::field("parent", "no such category"))?,
            ),
            None => None,
        };
        let id = pola_core::new_id();
        let mut tx = self.pool.begin().await?;
        store::insert_category(&mut tx, id, new, parent).await.map_err(|e| {
            if is_duplicate_key(&e, "uq_categories_slug") {
                Error::conflict("slug-taken", "A category with this slug exists.")
            } else {
                e.into()
            }
        })?;
        let change = Change::new("category.create", "category", id)
            .after(serde_json::json!({"slug": new.slug, "name": new.name, "parent": new.parent}));
        commit_audited(tx, staff, change).await?;
        Ok(id)
    }

    pub async fn create_product_type(&self, staff: Option<&Staff>, new: &NewProductType) -> Result<ProductType, Error> {
        new.validate().map_err(Error::Validation)?;
        let id = pola_core::new_id();
        let mut tx = self.pool.begin().await?;
        store::insert_product_type(&mut tx, id, new).await.map_err(|e| {
            if is_duplicate_key(&e, "uq_product_types_code") {
                Error::conflict("code-taken", "A product type with this code exists.")
            } else {
                e.into()
            }
        })?;
        let created = ProductType {
            id,
            code: new.code.clone(),
            name: new.name.trim().to_owned(),
            attributes: new.attributes.clone(),
        };
        commit_audited(
            tx,
            staff,
            Change::new("product-type.create", "product-type", id).after(&created),
        )
        .await?;
        Ok(created)
    }

    /// Checks that every bundle component is an existing, active, non-bundle variant.
    async fn check_components(&self, variants: &[&model::NewVariant]) -> Result<(), Error> {
        let mut wanted: Vec<Uuid> = variants
            .iter()
            .flat_map(|v| v.components.iter().map(|c| c.variant_id))
            .collect();
        wanted.sort();
        wanted.dedup();
        let found = store::plain_variants(&self.pool, &wanted).await?;
        if found.len() != wanted.len() {
            return Err(Error::field(
                "variants.components",
                "every component must be an active variant that is not a bundle",
            ));
        }
        Ok(())
    }

    fn sku_taken(e: sqlx::Error) -> Error {
        if is_duplicate_key(&e, "uq_variants_sku") {
            Error::conflict("sku-taken", "A variant with one of these SKUs exists.")
        } else {
            e.into()
        }
    }

    pub async fn create_product(&self, staff: &Staff, new: &NewProduct) -> Result<ProductDetail, Error> {
        let product_type = store::product_type_by_code(&self.pool, &new.product_type)
            .await?
            .ok_or_else(|| Error::field("product_type", "no such product type"))?;
        let category = store::category_id(&self.pool, &new.category)
            .await?
            .ok_or_else(|| Error::field("category", "no such category"))?;
        new.validate(&product_type).map_err(Error::Validation)?;
        if new.kind == ProductKind::Bundle {
            self.check_components(&new.variants.iter().collect::<Vec<_>>()).await?;
        }
        let id = pola_core::new_id();
        let variant_ids: Vec<Uuid> = new.variants.iter().map(|_| pola_core::new_id()).collect();
        let mut tx = self.pool.begin().await?;
        store::insert_products(&mut tx, &[(id, product_type.id, category, new)], &[variant_ids])
            .await
            .map_err(Self::sku_taken)?;
        let after = store::product(&mut *tx, id).await?;
        let change = Change::new("product.create", "product", id).after(&after);
        self.commit_shown(tx, staff, Some(id), change).await?;
        self.detail(id, true).await
    }

    /// Bulk insert for the demo seed: categories and types must exist (by slug and code).
    pub async fn seed_products(&self, products: &[NewProduct], variant_ids: &[Vec<Uuid>]) -> Result<Vec<Uuid>, Error> {
        let mut types: HashMap<String, Uuid> = HashMap::new();
        for t in store::list_product_types(&self.pool).await? {
            types.insert(t.code, t.id);
        }
        let categories: HashMap<String, Uuid> = store::list_categories(&self.pool)
            .await?
            .into_iter()
            .map(|c| (c.slug, c.id))
            .collect();
        let rows: Vec<(Uuid, Uuid, Uuid, &NewProduct)> = products
            .iter()
            .map(|p| {
                let missing = || Error::Internal(anyhow::anyhow!("seed names an unknown category or type"));
                Ok((
                    pola_core::new_id(),
                    *types.get(&p.product_type).ok_or_else(missing)?,
                    *categories.get(&p.category).ok_or_else(missing)?,
                    p,
                ))
            })
            .collect::<Result<_, Error>>()?;
        let mut tx = self.pool.begin().await?;
        store::insert_products(&mut tx, &rows, variant_ids)
            .await
            .map_err(Self::sku_taken)?;
        tx.commit().await?;
        Ok(rows.iter().map(|r| r.0).collect())
    }

    pub async fn add_variant(&self, staff: &Staff, product: Uuid, new: &model::NewVariant) -> Result<ProductDetail, Error> {
        let (product_type, kind) = store::product_type_of_product(&self.pool, product)
            .await?
            .ok_or_else(|| Error::not_found("No such product."))?;
        new.check(0, kind, &product_type).map_err(Error::Validation)?;
        if kind == ProductKind::Bundle {
            self.check_components(&[new]).await?;
        }
        let id = pola_core::new_id();
        let mut tx = self.pool.begin().await?;
        store::insert_variants(&mut tx, &[(id, product, new)])
            .await
            .map_err(Self::sku_taken)?;
        let after = store::variant_state(&mut tx, id).await?;
        let change = Change::new("variant.create", "variant", id).after(&after);
        self.commit_shown(tx, staff, Some(product), change).await?;
        self.detail(product, true).await
    }
}

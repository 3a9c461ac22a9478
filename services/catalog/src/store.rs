//! Catalog's SQL.

pub mod sheet;

use std::collections::{BTreeMap, HashMap};

use chrono::Utc;
use pola_core::Money;
use serde_json::Value;
use sqlx::{MySql, MySqlConnection, MySqlPool, QueryBuilder};
use uuid::Uuid;

use crate::model::{
    BundleComponent, Category, NewCategory, NewProduct, NewProductType, NewVariant, ProductFilter, ProductKind, ProductType,
    Sort, Status,
};

/// A product list row, before stock is known.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SummaryRow {
    pub id: Uuid,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub kind: ProductKind,
    pub category: String,
    pub product_type: String,
}

/// A variant row, with the bundle components it is sold as.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VariantRow {
    pub id: Uuid,
    pub product_id: Uuid,
    pub product_name: String,
    pub category_id: Uuid,
    pub weight_grams: u32,
    pub sku: String,
    #[sqlx(rename = "price_minor", try_from = "i64")]
    pub price: Money,
    #[sqlx(json)]
    pub attributes: BTreeMap<String, Value>,
    pub active: bool,
    /// Read after the variant, from `bundle_components`.
    #[sqlx(skip)]
    pub components: Vec<BundleComponent>,
}

/// A variant row with its product's kind, which tells whether it has components to read.
#[derive(sqlx::FromRow)]
struct KindedVariant {
    #[sqlx(flatten)]
    variant: VariantRow,
    #[sqlx(try_from = "String")]
    kind: ProductKind,
}

/// A product row for the detail page and for the client.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct ProductRow {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    #[sqlx(try_from = "String")]
    pub kind: ProductKind,
    #[sqlx(try_from = "String")]
    pub status: Status,
    pub category: String,
    pub product_type: String,
}

pub async fn insert_category(conn: &mut MySqlConnection, id: Uuid, new: &NewCategory, parent: Option<Uuid>) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO categories (id, slug, name, parent_id) VALUES (?, ?, ?, ?)")
        .bind(id)
        .bind(&new.slug)
        .bind(new.name.trim())
        .bind(parent)
        .execute(conn)
        .await
        .map(drop)
}

pub async fn category_id(pool: &MySqlPool, slug: &str) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("SELECT id FROM categories WHERE slug = ?")
        .bind(slug)
        .fetch_optional(pool)
        .await
}

/// The category with this slug and its direct children; `None` if there is no such category.
pub async fn category_scope(pool: &MySqlPool, slug: &str) -> sqlx::Result<Option<Vec<Uuid>>> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT c.id FROM categories c WHERE c.slug = ?
         UNION SELECT k.id FROM categories k JOIN categories p ON k.parent_id = p.id WHERE p.slug = ?",
    )
    .bind(slug)
    .bind(slug)
    .fetch_all(pool)
    .await?;
    Ok((!ids.is_empty()).then_some(ids))
}

pub async fn list_categories(pool: &MySqlPool) -> sqlx::Result<Vec<Category>> {
    sqlx::query_as(
        "SELECT c.id, c.slug, c.name, p.slug AS parent FROM categories c LEFT JOIN categories p ON p.id = c.parent_id
         ORDER BY c.name",
    )
    .fetch_all(pool)
    .await
}

pub async fn insert_product_type(conn: &mut MySqlConnection, id: Uuid, new: &NewProductType) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO product_types (id, code, name, attributes) VALUES (?, ?, ?, ?)")
        .bind(id)
        .bind(&new.code)
        .bind(new.name.trim())
        .bind(sqlx::types::Json(&new.attributes))
        .execute(conn)
        .await
        .map(drop)
}

pub async fn product_type_by_code(pool: &MySqlPool, code: &str) -> sqlx::Result<Option<ProductType>> {
    sqlx::query_as("SELECT id, code, name, attributes FROM product_types WHERE code = ?")
        .bind(code)
        .fetch_optional(pool)
        .await
}

/// A product's type, with the product's kind.
#[derive(sqlx::FromRow)]
struct TypeOfProduct {
    #[sqlx(flatten)]
    product_type: ProductType,
    #[sqlx(try_from = "String")]
    kind: ProductKind,
}

pub async fn product_type_of_product(pool: &MySqlPool, product: Uuid) -> sqlx::Result<Option<(ProductType, ProductKind)>> {
    let found: Option<TypeOfProduct> = sqlx::query_as(
        "SELECT t.id, t.code, t.name, t.attributes, p.kind FROM product_types t JOIN products p ON p.product_type_id = t.id
         WHERE p.id = ?",
    )
    .bind(product)
    .fetch_optional(pool)
    .await?;
    Ok(found.map(|f| (f.product_type, f.kind)))
}

pub async fn list_product_types(pool: &MySqlPool) -> sqlx::Result<Vec<ProductType>> {
    sqlx::query_as("SELECT id, code, name, attributes FROM product_types ORDER BY code")
        .fetch_all(pool)
        .await
}

/// Inserts products with their variants and bundle components, many rows to a statement. All
/// categories and product types must exist; ids are the caller's.
pub async fn insert_products(
    conn: &mut MySqlConnection,
    products: &[(Uuid, Uuid, Uuid, &NewProduct)],
    variant_ids: &[Vec<Uuid>],
) -> sqlx::Result<()> {
    if products.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    let mut insert: QueryBuilder<MySql> = QueryBuilder::new(
        "INSERT INTO products (id, product_type_id, category_id, kind, name, description, status, created_at, updated_at) ",
    );
    insert.push_values(products, |mut row, (id, type_id, category_id, p)| {
        row.push_bind(*id)
            .push_bind(*type_id)
            .push_bind(*category_id)
            .push_bind(p.kind.as_str())
            .push_bind(p.name.trim())
            .push_bind(&p.description)
            .push_bind("active")
            .push_bind(now)
            .push_bind(now);
    });
    insert.build().execute(&mut *conn).await?;
    let variants: Vec<(Uuid, Uuid, &NewVariant)> = products
        .iter()
        .zip(variant_ids)
        .flat_map(|((product_id, _, _, p), ids)| ids.iter().zip(&p.variants).map(move |(id, v)| (*id, *product_id, v)))
        .collect();
    insert_variants(conn, &variants).await
}

/// Inserts variants (`id`, `product_id`, what) and their components.
pub async fn insert_variants(conn: &mut MySqlConnection, variants: &[(Uuid, Uuid, &NewVariant)]) -> sqlx::Result<()> {
    let now = Utc::now();
    for chunk in variants.chunks(1000) {
        let mut insert: QueryBuilder<MySql> = QueryBuilder::new(
            "INSERT INTO variants (id, product_id, sku, price_minor, currency, attributes, status, weight_grams, created_at) ",
        );
        insert.push_values(chunk, |mut row, (id, product_id, v)| {
            row.push_bind(*id)
                .push_bind(*product_id)
                .push_bind(&v.sku)
                .push_bind(v.price_minor)
                .push_bind("LKR")
                .push_bind(sqlx::types::Json(&v.attributes))
                .push_bind("active")
                .push_bind(v.weight_grams)
                .push_bind(now);
        });
        insert.build().execute(&mut *conn).await?;
    }
    let components: Vec<(Uuid, BundleComponent)> = variants
        .iter()
        .flat_map(|(id, _, v)| v.components.iter().map(move |c| (*id, *c)))
        .collect();
    for chunk in components.chunks(1000) {
        let mut insert: QueryBuilder<MySql> =
            QueryBuilder::new("INSERT INTO bundle_components (bundle_variant_id, component_variant_id, quantity) ");
        insert.push_values(chunk, |mut row, (id, c)| {
            row.push_bind(*id).push_bind(c.variant_id).push_bind(c.quantity);
        });
        insert.build().execute(&mut *conn).await?;
    }
    let mut products: Vec<Uuid> = variants.iter().map(|(_, product, _)| *product).collect();
    products.sort_unstable();
    products.dedup();
    refresh_prices(conn, &products).await
}

/// Active variants among `ids` that are not themselves bundles (what a bundle may be made of).
pub async fn plain_variants(pool: &MySqlPool, ids: &[Uuid]) -> sqlx::Result<Vec<Uuid>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let mut query: QueryBuilder<MySql> = QueryBuilder::new(
        "SELECT v.id FROM variants v JOIN products p ON p.id = v.product_id
         WHERE p.kind <> 'bundle' AND v.status = 'active' AND v.id IN (",
    );
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    query.push(")");
    query.build_query_scalar().fetch_all(pool).await
}

/// Where the previous page of a list ended: its last product, and that product's lowest price
/// (for the price sorts).
#[derive(Debug, Clone, Copy)]
pub struct After {
    pub id: Uuid,
    pub price_min: i64,
}

/// ` ORDER BY …` for `sort`, the columns prefixed with `table` (`p.`, or none outside).
fn order_by(sort: Sort, table: &str) -> String {
    match sort {
        Sort::Newest => format!(" ORDER BY {table}id DESC"),
        Sort::PriceAsc => format!(" ORDER BY {table}price_min_minor, {table}id"),
        Sort::PriceDesc => format!(" ORDER BY {table}price_min_minor DESC, {table}id DESC"),
    }
}

/// The product list's SELECT with every filter, for one category or all.
fn push_page_select(query: &mut QueryBuilder<MySql>, scope: &Scope<'_>, category: Option<Uuid>, after: Option<After>) {
    let filter = scope.filter;
    query.push(
        "SELECT p.id, p.name, p.kind, c.slug AS category, t.code AS product_type, p.price_min_minor
         FROM products p
         JOIN categories c ON c.id = p.category_id
         JOIN product_types t ON t.id = p.product_type_id
         WHERE p.status = 'active'",
    );
    if let Some(category) = category {
        query.push(" AND p.category_id = ").push_bind(category);
    }
    match (after, filter.sort) {
        (None, _) => {}
        (Some(after), Sort::Newest) => {
            query.push(" AND p.id < ").push_bind(after.id);
        }
        (Some(after), sort) => {
            let beyond = if sort == Sort::PriceAsc { " > " } else { " < " };
            query
                .push(" AND (p.price_min_minor")
                .push(beyond)
                .push_bind(after.price_min)
                .push(" OR (p.price_min_minor = ")
                .push_bind(after.price_min)
                .push(" AND p.id")
                .push(beyond)
                .push_bind(after.id)
                .push("))");
        }
    }
    if let Some(types) = scope.types {
        query.push(" AND p.product_type_id IN (");
        let mut list = query.separated(", ");
        for t in types {
            list.push_bind(*t);
        }
        query.push(")");
    }
    if let Some(search) = &filter.search {
        query
            .push(" AND MATCH (p.name, p.description) AGAINST (")
            .push_bind(search.clone())
            .push(" IN BOOLEAN MODE)");
    }
    if filter.min_price.is_some() || filter.max_price.is_some() || !filter.attributes.is_empty() {
        // One variant must satisfy every variant-level condition at once.
        query.push(" AND EXISTS (SELECT 1 FROM variants v WHERE v.product_id = p.id AND v.status = 'active'");
        if let Some(min) = filter.min_price {
            query.push(" AND v.price_minor >= ").push_bind(min);
        }
        if let Some(max) = filter.max_price {
            query.push(" AND v.price_minor <= ").push_bind(max);
        }
        for (code, value) in &filter.attributes {
            // The path is bound, not spliced, and an attribute code cannot quote its way out.
            query
                .push(" AND JSON_UNQUOTE(JSON_EXTRACT(v.attributes, ")
                .push_bind(code.json_path())
                .push(")) = ")
                .push_bind(value.clone());
        }
        query.push(")");
    }
}

/// One batch of the product list: up to `limit` active products after `after`, newest first.
/// What a product list is limited to, beyond the client's filter.
pub struct Scope<'a> {
    pub filter: &'a ProductFilter,
    /// These categories only (a category and its children).
    pub categories: Option<&'a [Uuid]>,
    /// Products of these types only (those that declare every filtered attribute); never empty.
    pub types: Option<&'a [Uuid]>,
}

pub async fn list_products(
    pool: &MySqlPool,
    scope: &Scope<'_>,
    after: Option<After>,
    limit: u32,
) -> sqlx::Result<Vec<SummaryRow>> {
    let filter = scope.filter;
    // Every plan here must be able to stop at the page's end:
    // - without semi-join flattening, the variant conditions run per product through
    //   ix_variants_product; flattened, MariaDB materialises them over every variant first
    //   (43 ms instead of 0.9 ms for `attr=size:M` on the demo shop);
    // - a category IN-list reads every product of those categories and sorts them (57 ms for
    //   `clothing`), so each category gets its own branch that walks ix_products_category in
    //   id order, and the branches are merged.
    let variant_filters = filter.min_price.is_some() || filter.max_price.is_some() || !filter.attributes.is_empty();
    let mut query: QueryBuilder<MySql> = QueryBuilder::new(if variant_filters {
        "SET STATEMENT optimizer_switch = 'semijoin=off,materialization=off' FOR "
    } else {
        ""
    });
    match scope.categories {
        None => {
            push_page_select(&mut query, scope, None, after);
            query.push(order_by(filter.sort, "p.")).push(" LIMIT ").push_bind(limit);
        }
        Some(categories) => {
            query.push("SELECT * FROM (");
            for (i, category) in categories.iter().enumerate() {
                if i > 0 {
                    query.push(" UNION ALL ");
                }
                query.push("(");
                push_page_select(&mut query, scope, Some(*category), after);
                query
                    .push(order_by(filter.sort, "p."))
                    .push(" LIMIT ")
                    .push_bind(limit)
                    .push(")");
            }
            query
                .push(") AS page")
                .push(order_by(filter.sort, ""))
                .push(" LIMIT ")
                .push_bind(limit);
        }
    }
    query.build_query_as().fetch_all(pool).await
}

/// The active products among `ids`, in no particular order.
pub async fn summary_rows(pool: &MySqlPool, ids: &[Uuid]) -> sqlx::Result<Vec<SummaryRow>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let mut query: QueryBuilder<MySql> = QueryBuilder::new(
        "SELECT p.id, p.name, p.kind, c.slug AS category, t.code AS product_type
         FROM products p
         JOIN categories c ON c.id = p.category_id
         JOIN product_types t ON t.id = p.product_type_id
         WHERE p.status = 'active' AND p.id IN (",
    );
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    query.push(")");
    query.build_query_as().fetch_all(pool).await
}

/// A bundle's component as stored.
#[derive(sqlx::FromRow)]
struct ComponentRow {
    bundle_variant_id: Uuid,
    component_variant_id: Uuid,
    #[sqlx(try_from = "i32")]
    quantity: u32,
}

async fn components_of(pool: &MySqlPool, variants: &[Uuid]) -> sqlx::Result<HashMap<Uuid, Vec<BundleComponent>>> {
    let mut by_bundle: HashMap<Uuid, Vec<BundleComponent>> = HashMap::new();
    if variants.is_empty() {
        return Ok(by_bundle);
    }
    let mut query: QueryBuilder<MySql> = QueryBuilder::new(
        "SELECT bundle_variant_id, component_variant_id, quantity FROM bundle_components WHERE bundle_variant_id IN (",
    );
    let mut list = query.separated(", ");
    for v in variants {
        list.push_bind(*v);
    }
    query.push(") ORDER BY bundle_variant_id, component_variant_id");
    for row in query.build_query_as::<ComponentRow>().fetch_all(pool).await? {
        by_bundle.entry(row.bundle_variant_id).or_default().push(BundleComponent {
            variant_id: row.component_variant_id,
            quantity: row.quantity,
        });
    }
    Ok(by_bundle)
}

/// Variants by product (`by_product`) or by id, with their product's name and, for bundles, their
/// components; active and archived.
pub async fn variants(pool: &MySqlPool, ids: &[Uuid], by_product: bool) -> sqlx::Result<Vec<VariantRow>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let mut query: QueryBuilder<MySql> = QueryBuilder::new(
        "SELECT v.id, v.product_id, v.sku, v.price_minor, v.attributes, v.weight_grams, p.name AS product_name, p.kind,
                p.category_id, (v.status = 'active' AND p.status = 'active') AS active
         FROM variants v JOIN products p ON p.id = v.product_id WHERE ",
    );
    query.push(if by_product { "v.product_id IN (" } else { "v.id IN (" });
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    // Sorted here rather than by MariaDB: a filesort doubled the query's cost.
    query.push(")");
    let rows: Vec<KindedVariant> = query.build_query_as().fetch_all(pool).await?;
    let bundles: Vec<Uuid> = rows
        .iter()
        .filter(|row| row.kind == ProductKind::Bundle)
        .map(|row| row.variant.id)
        .collect();
    let mut components = components_of(pool, &bundles).await?;
    let mut variants: Vec<VariantRow> = rows
        .into_iter()
        .map(|row| VariantRow {
            components: components.remove(&row.variant.id).unwrap_or_default(),
            ..row.variant
        })
        .collect();
    variants.sort_by(|a, b| (a.product_id, a.price.amount_minor, &a.sku).cmp(&(b.product_id, b.price.amount_minor, &b.sku)));
    Ok(variants)
}

pub async fn product<'c, E>(executor: E, id: Uuid) -> sqlx::Result<Option<ProductRow>>
where
    E: sqlx::Executor<'c, Database = MySql>,
{
    sqlx::query_as(
        "SELECT p.id, p.name, p.description, p.kind, p.status, c.slug AS category, t.code AS product_type
         FROM products p JOIN categories c ON c.id = p.category_id JOIN product_types t ON t.id = p.product_type_id
         WHERE p.id = ?",
    )
    .bind(id)
    .fetch_optional(executor)
    .await
}

/// Applies a patch; false when there is no such product.
pub async fn update_product(
    conn: &mut MySqlConnection,
    id: Uuid,
    name: Option<&str>,
    description: Option<&str>,
    category: Option<Uuid>,
    status: Option<Status>,
) -> sqlx::Result<bool> {
    let result = sqlx::query(
        "UPDATE products SET name = COALESCE(?, name), description = COALESCE(?, description),
           category_id = COALESCE(?, category_id), status = COALESCE(?, status), updated_at = ? WHERE id = ?",
    )
    .bind(name)
    .bind(description)
    .bind(category)
    .bind(status.map(Status::as_str))
    .bind(Utc::now())
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected() == 1 || product(&mut *conn, id).await?.is_some())
}

/// Applies a patch to a variant; false when there is no such variant.
pub async fn update_variant(
    conn: &mut MySqlConnection,
    id: Uuid,
    price_minor: Option<i64>,
    status: Option<Status>,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query("UPDATE variants SET price_minor = COALESCE(?, price_minor), status = COALESCE(?, status) WHERE id = ?")
        .bind(price_minor)
        .bind(status.map(Status::as_str))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let product: Option<Uuid> = sqlx::query_scalar("SELECT product_id FROM variants WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(product) = product {
        refresh_prices(conn, &[product]).await?;
    }
    Ok(product)
}

/// Keeps each of `products`' lowest active variant price, which price-sorted lists walk.
async fn refresh_prices(conn: &mut MySqlConnection, products: &[Uuid]) -> sqlx::Result<()> {
    for chunk in products.chunks(1000) {
        let mut query: QueryBuilder<MySql> = QueryBuilder::new(
            "UPDATE products p SET price_min_minor = COALESCE(
                 (SELECT MIN(v.price_minor) FROM variants v WHERE v.product_id = p.id AND v.status = 'active'), 0)
             WHERE p.id IN (",
        );
        let mut list = query.separated(", ");
        for p in chunk {
            list.push_bind(*p);
        }
        query.push(")");
        query.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// The lowest active variant price of `product`, as price-sorted lists saw it (a page's last
/// product places the next page).
pub async fn price_min(pool: &MySqlPool, product: Uuid) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT price_min_minor FROM products WHERE id = ?")
        .bind(product)
        .fetch_optional(pool)
        .await
}

pub async fn count_products(pool: &MySqlPool) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM products").fetch_one(pool).await
}

/// A product's picture, with its original's size and the widths it is served at.
#[derive(Debug, sqlx::FromRow)]
pub struct ProductImageRow {
    pub id: Uuid,
    pub product_id: Uuid,
    pub variant_id: Option<Uuid>,
    pub hash: String,
    pub width: u32,
    pub height: u32,
    pub alt_en: String,
    pub alt_si: String,
    pub alt_ta: String,
    /// `320,640,1280`
    pub widths: String,
}

/// Keeps an uploaded picture and its renditions (once: the same file again changes nothing).
pub async fn insert_image(pool: &MySqlPool, image: &crate::images::Processed) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query(
        "INSERT IGNORE INTO images (hash, content_type, width, height, original, created_at) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&image.hash)
    .bind(image.content_type)
    .bind(image.width)
    .bind(image.height)
    .bind(&image.original)
    .bind(chrono::Utc::now())
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 1 {
        for (width, bytes) in &image.renditions {
            sqlx::query("INSERT INTO image_renditions (hash, width, bytes) VALUES (?, ?, ?)")
                .bind(&image.hash)
                .bind(width)
                .bind(bytes)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await
}

/// An uploaded picture's size and served widths, if there is one by that name.
pub async fn image_sizes(pool: &MySqlPool, hash: &str) -> sqlx::Result<Option<(u32, u32, String)>> {
    sqlx::query_as(
        "SELECT i.width, i.height, (SELECT CAST(GROUP_CONCAT(r.width ORDER BY r.width) AS CHAR) FROM image_renditions r WHERE r.hash = i.hash) AS widths
         FROM images i WHERE i.hash = ?",
    )
    .bind(hash)
    .fetch_optional(pool)
    .await
}

/// One rendition's bytes.
pub async fn rendition(pool: &MySqlPool, hash: &str, width: u32) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar("SELECT bytes FROM image_renditions WHERE hash = ? AND width = ?")
        .bind(hash)
        .bind(width)
        .fetch_optional(pool)
        .await
}

/// Shows a picture on a product, at `position` (default last); false when there is no such
/// product (or variant of it).
pub async fn insert_product_image(
    conn: &mut MySqlConnection,
    id: Uuid,
    product: Uuid,
    new: &crate::images::NewProductImage,
) -> sqlx::Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO product_images (id, product_id, variant_id, hash, position, alt_en, alt_si, alt_ta)
         SELECT ?, p.id, ?, ?, COALESCE(?, (SELECT COALESCE(MAX(position) + 1, 0) FROM product_images WHERE product_id = p.id)), ?, ?, ?
         FROM products p
         WHERE p.id = ? AND (? IS NULL OR EXISTS (SELECT 1 FROM variants v WHERE v.id = ? AND v.product_id = p.id))",
    )
    .bind(id)
    .bind(new.variant_id)
    .bind(&new.image)
    .bind(new.position)
    .bind(new.alt.en.trim())
    .bind(new.alt.si.trim())
    .bind(new.alt.ta.trim())
    .bind(product)
    .bind(new.variant_id)
    .bind(new.variant_id)
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// A picture's words and place on a product, locked for a change.
#[derive(Debug, serde::Serialize, sqlx::FromRow)]
pub struct PlacedImage {
    pub position: i32,
    pub alt_en: String,
    pub alt_si: String,
    pub alt_ta: String,
}

pub async fn lock_product_image(conn: &mut MySqlConnection, product: Uuid, id: Uuid) -> sqlx::Result<Option<PlacedImage>> {
    sqlx::query_as("SELECT position, alt_en, alt_si, alt_ta FROM product_images WHERE id = ? AND product_id = ? FOR UPDATE")
        .bind(id)
        .bind(product)
        .fetch_optional(conn)
        .await
}

/// Sets a picture's words, and moves it to `placed.position` among its product's pictures (the
/// others keep their order around it; places are renumbered from 0).
pub async fn update_product_image(conn: &mut MySqlConnection, product: Uuid, id: Uuid, placed: &PlacedImage) -> sqlx::Result<()> {
    let mut order: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM product_images WHERE product_id = ? ORDER BY position, id FOR UPDATE")
            .bind(product)
            .fetch_all(&mut *conn)
            .await?;
    order.retain(|other| *other != id);
    let at = usize::try_from(placed.position).unwrap_or(0).min(order.len());
    order.insert(at, id);
    for (position, picture) in order.iter().enumerate() {
        sqlx::query("UPDATE product_images SET position = ? WHERE id = ?")
            .bind(i32::try_from(position).unwrap_or(i32::MAX))
            .bind(picture)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("UPDATE product_images SET alt_en = ?, alt_si = ?, alt_ta = ? WHERE id = ?")
        .bind(placed.alt_en.trim())
        .bind(placed.alt_si.trim())
        .bind(placed.alt_ta.trim())
        .bind(id)
        .execute(conn)
        .await
        .map(drop)
}

/// Takes a picture off a product; false when it was not on it.
pub async fn delete_product_image(conn: &mut MySqlConnection, product: Uuid, id: Uuid) -> sqlx::Result<bool> {
    let deleted = sqlx::query("DELETE FROM product_images WHERE id = ? AND product_id = ?")
        .bind(id)
        .bind(product)
        .execute(conn)
        .await?;
    Ok(deleted.rows_affected() == 1)
}

/// The pictures of `products`, in each product's order.
pub async fn product_images(pool: &MySqlPool, products: &[Uuid]) -> sqlx::Result<Vec<ProductImageRow>> {
    if products.is_empty() {
        return Ok(vec![]);
    }
    let mut query: QueryBuilder<MySql> = QueryBuilder::new(
        "SELECT pi.id, pi.product_id, pi.variant_id, pi.hash, i.width, i.height, pi.alt_en, pi.alt_si, pi.alt_ta,
                (SELECT CAST(GROUP_CONCAT(r.width ORDER BY r.width) AS CHAR) FROM image_renditions r WHERE r.hash = pi.hash) AS widths
         FROM product_images pi JOIN images i ON i.hash = pi.hash WHERE pi.product_id IN (",
    );
    let mut ids = query.separated(", ");
    for id in products {
        ids.push_bind(*id);
    }
    query.push(") ORDER BY pi.product_id, pi.position, pi.id");
    query.build_query_as().fetch_all(pool).await
}

/// Shows pictures on many products at once, each first in its product's order (the demo seed).
pub async fn seed_product_images(pool: &MySqlPool, rows: &[(Uuid, Uuid, &str, &crate::images::AltText)]) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut query: QueryBuilder<MySql> =
        QueryBuilder::new("INSERT INTO product_images (id, product_id, variant_id, hash, position, alt_en, alt_si, alt_ta) ");
    query.push_values(rows, |mut b, (id, product, hash, alt)| {
        b.push_bind(*id)
            .push_bind(*product)
            .push_bind(None::<Uuid>)
            .push_bind(*hash)
            .push_bind(0)
            .push_bind(&alt.en)
            .push_bind(&alt.si)
            .push_bind(&alt.ta);
    });
    query.build().execute(pool).await.map(|_| ())
}

/// Every product's id, oldest first (the demo seed's order).
pub async fn product_ids(pool: &MySqlPool) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar("SELECT id FROM products ORDER BY id")
        .fetch_all(pool)
        .await
}

/// A variant as the audit trail records it.
#[derive(Debug, serde::Serialize, sqlx::FromRow)]
pub struct VariantState {
    pub sku: String,
    pub price_minor: i64,
    pub status: String,
}

pub async fn variant_state(conn: &mut MySqlConnection, id: Uuid) -> sqlx::Result<Option<VariantState>> {
    sqlx::query_as("SELECT sku, price_minor, status FROM variants WHERE id = ?")
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Archived products, newest first.
pub async fn archived_products(
    pool: &MySqlPool,
    page: pola_core::pagination::PageRequest,
) -> sqlx::Result<pola_core::pagination::Page<crate::model::ArchivedProduct>> {
    let rows: Vec<crate::model::ArchivedProduct> = sqlx::query_as(
        "SELECT p.id, p.name, c.slug AS category FROM products p JOIN categories c ON c.id = p.category_id
         WHERE p.status = 'archived' AND (? IS NULL OR p.id < ?) ORDER BY p.id DESC LIMIT ?",
    )
    .bind(page.after)
    .bind(page.after)
    .bind(page.limit + 1)
    .fetch_all(pool)
    .await?;
    Ok(pola_core::pagination::Page::from_rows(rows, page.limit, |p| p.id))
}

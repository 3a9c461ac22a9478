//! Catalog's HTTP handlers.

use std::sync::Arc;

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use pola_core::{
    Error,
    auth::{Role, Staff},
    error::Problem,
    extract::{Json, Path, Query},
    pagination::{Page, PageParams},
};
use uuid::Uuid;

use crate::{
    Catalog,
    images::{MAX_UPLOAD_BYTES, NewProductImage, ProductImage, UploadedImage},
    model::{
        Category, NewCategory, NewProduct, NewProductType, NewVariant, ProductDetail, ProductPatch, ProductQuery, ProductSummary,
        ProductType, Status, VariantPatch,
    },
    sheet::ImportReport,
    store,
};

type AppState = State<Arc<Catalog>>;

/// Browse products, newest first or by price, with filters and full-text search.
#[utoipa::path(get, path = "/api/v1/catalog/products", tag = "catalog",
    params(ProductQuery),
    responses(
        (status = 200, description = "A page of products", body = Page<ProductSummary>),
        (status = 422, description = "Invalid filters", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_products(State(catalog): AppState, Query(query): Query<ProductQuery>) -> Result<Response, Error> {
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .parse()?;
    let filter = query.filter().map_err(Error::Validation)?;
    Ok(catalog.list(&filter, page).await?.into_response())
}

/// One product with its variants, their prices and stock.
#[utoipa::path(get, path = "/api/v1/catalog/products/{id}", tag = "catalog",
    params(("id" = Uuid, Path, description = "Product id")),
    responses(
        (status = 200, description = "The product", body = ProductDetail),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_product(State(catalog): AppState, Path(id): Path<Uuid>) -> Result<Response, Error> {
    Ok(catalog.product_page(id).await?.into_response())
}

/// One product as staff edit it: archived ones too, with their archived variants (role `catalog`).
#[utoipa::path(get, path = "/api/v1/catalog/staff/products/{id}", tags = ["catalog", "staff"],
    params(("id" = Uuid, Path, description = "Product id")),
    security(("staff" = [])),
    responses(
        (status = 200, description = "The product", body = ProductDetail),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn staff_product(State(catalog): AppState, staff: Staff, Path(id): Path<Uuid>) -> Result<Json<ProductDetail>, Error> {
    staff.require(Role::Catalog)?;
    Ok(Json(catalog.detail(id, true).await?))
}

/// Archived products, newest first, to bring one back (role `catalog`).
#[utoipa::path(get, path = "/api/v1/catalog/staff/archived", tags = ["catalog", "staff"],
    params(PageParams),
    security(("staff" = [])),
    responses(
        (status = 200, description = "A page of archived products", body = Page<crate::model::ArchivedProduct>),
    ))]
pub async fn archived_products(
    State(catalog): AppState,
    staff: Staff,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<crate::model::ArchivedProduct>>, Error> {
    staff.require(Role::Catalog)?;
    Ok(Json(store::archived_products(&catalog.pool, page.parse()?).await?))
}

/// Create a product, service or bundle with its variants (staff, role `catalog`).
#[utoipa::path(post, path = "/api/v1/catalog/products", tags = ["catalog", "staff"],
    request_body = NewProduct,
    security(("staff" = [])),
    responses(
        (status = 201, description = "Created", body = ProductDetail),
        (status = 409, description = "A SKU is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_product(
    State(catalog): AppState,
    staff: Staff,
    Json(new): Json<NewProduct>,
) -> Result<(StatusCode, Json<ProductDetail>), Error> {
    staff.require(Role::Catalog)?;
    let product = catalog.create_product(&staff, &new).await?;
    tracing::info!(product.id = %product.id, staff.id = %staff.id, "product created");
    Ok((StatusCode::CREATED, Json(product)))
}

/// Change a product's name, description, category or status (staff, role `catalog`).
#[utoipa::path(patch, path = "/api/v1/catalog/products/{id}", tags = ["catalog", "staff"],
    params(("id" = Uuid, Path, description = "Product id")),
    request_body = ProductPatch,
    security(("staff" = [])),
    responses(
        (status = 200, description = "Updated", body = ProductDetail),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_product(
    State(catalog): AppState,
    staff: Staff,
    Path(id): Path<Uuid>,
    Json(patch): Json<ProductPatch>,
) -> Result<Json<ProductDetail>, Error> {
    Ok(Json(catalog.update_product(&staff, id, &patch).await?))
}

/// Archive a product: customers no longer see or buy it (staff, role `catalog`).
#[utoipa::path(post, path = "/api/v1/catalog/products/{id}/archive", tags = ["catalog", "staff"],
    params(("id" = Uuid, Path, description = "Product id")),
    security(("staff" = [])),
    responses(
        (status = 200, description = "Archived", body = ProductDetail),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn archive_product(State(catalog): AppState, staff: Staff, Path(id): Path<Uuid>) -> Result<Json<ProductDetail>, Error> {
    let archive = ProductPatch {
        status: Some(Status::Archived),
        ..ProductPatch::default()
    };
    Ok(Json(catalog.update_product(&staff, id, &archive).await?))
}

/// Add a variant to a product (staff, role `catalog`).
#[utoipa::path(post, path = "/api/v1/catalog/products/{id}/variants", tags = ["catalog", "staff"],
    params(("id" = Uuid, Path, description = "Product id")),
    request_body = NewVariant,
    security(("staff" = [])),
    responses(
        (status = 201, description = "The product with its new variant", body = ProductDetail),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The SKU is taken", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_variant(
    State(catalog): AppState,
    staff: Staff,
    Path(id): Path<Uuid>,
    Json(new): Json<NewVariant>,
) -> Result<(StatusCode, Json<ProductDetail>), Error> {
    staff.require(Role::Catalog)?;
    Ok((StatusCode::CREATED, Json(catalog.add_variant(&staff, id, &new).await?)))
}

/// `GET /api/v1/catalog/variants?ids=`: up to 100 variant ids, comma-separated.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VariantIds {
    /// Variant ids, comma-separated (at most 100).
    pub ids: String,
}

/// A variant as staff lists name it (stock, pick lists).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct VariantName {
    pub id: Uuid,
    pub product_id: Uuid,
    pub sku: String,
    /// `Batik shirt (M, Blue)`.
    pub title: String,
    /// Variant and product are both active.
    pub purchasable: bool,
}

/// Name variants by id, archived ones included (staff, role `catalog` or `fulfilment`): what
/// the stock pages show next to counts.
#[utoipa::path(get, path = "/api/v1/catalog/variants", tags = ["catalog", "staff"],
    params(VariantIds),
    security(("staff" = [])),
    responses(
        (status = 200, description = "The variants that exist, in the order asked", body = Vec<VariantName>),
        (status = 422, description = "Not a list of at most 100 ids", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn name_variants(
    State(catalog): AppState,
    staff: Staff,
    Query(query): Query<VariantIds>,
) -> Result<Json<Vec<VariantName>>, Error> {
    use crate::client::CatalogClient;
    staff.require_any(&[Role::Catalog, Role::Fulfilment])?;
    let ids: Vec<Uuid> = query
        .ids
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()
        .ok()
        .filter(|ids: &Vec<Uuid>| ids.len() <= 100)
        .ok_or_else(|| {
            Error::Validation(vec![pola_core::FieldError::new(
                "ids",
                "must be at most 100 ids, comma-separated",
            )])
        })?;
    let mut found = catalog.variants(&ids).await?;
    Ok(Json(
        ids.iter()
            .filter_map(|id| found.remove(id))
            .map(|v| VariantName {
                id: v.id,
                product_id: v.product_id,
                sku: v.sku,
                title: v.title,
                purchasable: v.purchasable,
            })
            .collect(),
    ))
}

/// Change a variant's price or status (staff, role `catalog`). Carts and checkouts read the new
/// price from then on.
#[utoipa::path(patch, path = "/api/v1/catalog/variants/{id}", tags = ["catalog", "staff"],
    params(("id" = Uuid, Path, description = "Variant id")),
    request_body = VariantPatch,
    security(("staff" = [])),
    responses(
        (status = 200, description = "The product with the changed variant", body = ProductDetail),
        (status = 404, description = "No such variant", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_variant(
    State(catalog): AppState,
    staff: Staff,
    Path(id): Path<Uuid>,
    Json(patch): Json<VariantPatch>,
) -> Result<Json<ProductDetail>, Error> {
    Ok(Json(catalog.update_variant(&staff, id, &patch).await?))
}

/// Every category.
#[utoipa::path(get, path = "/api/v1/catalog/categories", tag = "catalog",
    responses((status = 200, description = "Categories by name", body = Vec<Category>)))]
pub async fn list_categories(State(catalog): AppState) -> Result<Json<Vec<Category>>, Error> {
    Ok(Json(store::list_categories(&catalog.pool).await?))
}

/// Create a category (staff, role `catalog`).
#[utoipa::path(post, path = "/api/v1/catalog/categories", tags = ["catalog", "staff"],
    request_body = NewCategory,
    security(("staff" = [])),
    responses(
        (status = 201, description = "Created", body = Category),
        (status = 409, description = "The slug is taken", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_category(
    State(catalog): AppState,
    staff: Staff,
    Json(new): Json<NewCategory>,
) -> Result<(StatusCode, Json<Category>), Error> {
    staff.require(Role::Catalog)?;
    let id = catalog.create_category(Some(&staff), &new).await?;
    Ok((
        StatusCode::CREATED,
        Json(Category {
            id,
            slug: new.slug,
            name: new.name.trim().to_owned(),
            parent: new.parent,
        }),
    ))
}

/// Every product type with its attributes.
#[utoipa::path(get, path = "/api/v1/catalog/product-types", tag = "catalog",
    responses((status = 200, description = "Product types by code", body = Vec<ProductType>)))]
pub async fn list_product_types(State(catalog): AppState) -> Result<Json<Vec<ProductType>>, Error> {
    Ok(Json(store::list_product_types(&catalog.pool).await?))
}

/// Declare a new kind of product and its typed attributes (staff, role `catalog`).
#[utoipa::path(post, path = "/api/v1/catalog/product-types", tags = ["catalog", "staff"],
    request_body = NewProductType,
    security(("staff" = [])),
    responses(
        (status = 201, description = "Created", body = ProductType),
        (status = 409, description = "The code is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_product_type(
    State(catalog): AppState,
    staff: Staff,
    Json(new): Json<NewProductType>,
) -> Result<(StatusCode, Json<ProductType>), Error> {
    staff.require(Role::Catalog)?;
    Ok((
        StatusCode::CREATED,
        Json(catalog.create_product_type(Some(&staff), &new).await?),
    ))
}

/// Internal API: what other Pola processes call through `client::HttpCatalog`. Not in the public
/// OpenAPI document; admitted only with the service token.
pub async fn lookup_variants(
    State(catalog): AppState,
    _: pola_core::client::InternalCall,
    Json(query): Json<crate::client::VariantsQuery>,
) -> Result<Json<std::collections::HashMap<Uuid, crate::client::VariantInfo>>, Error> {
    use crate::client::CatalogClient;
    Ok(Json(catalog.variants(&query.ids).await?))
}

/// The active products among the ids, as lists show them (internal).
pub async fn lookup_products(
    State(catalog): AppState,
    _: pola_core::client::InternalCall,
    Json(query): Json<crate::client::ProductsQuery>,
) -> Result<Json<Vec<ProductSummary>>, Error> {
    use crate::client::CatalogClient;
    Ok(Json(catalog.products(&query.ids).await?))
}

/// Upload a product picture (staff, role `catalog`): the JPEG or PNG file as the body, up to
/// 5 MiB. It is named by the SHA-256 of its bytes (the same file twice is kept once) and
/// resized for phones and desktops; show it on a product with `POST …/products/{id}/images`.
#[utoipa::path(post, path = "/api/v1/catalog/images", tags = ["catalog", "staff"],
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "A JPEG or PNG file"),
    security(("staff" = [])),
    responses(
        (status = 201, description = "Kept", body = UploadedImage),
        (status = 413, description = "Larger than 5 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a JPEG or PNG picture", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Damaged, or larger than 8000 pixels on a side", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn upload_image(
    State(catalog): AppState,
    staff: Staff,
    body: axum::body::Body,
) -> Result<(StatusCode, Json<UploadedImage>), Error> {
    staff.require(Role::Catalog)?;
    // Read here with the pictures' own limit, above the API's usual one.
    let bytes = axum::body::to_bytes(body, MAX_UPLOAD_BYTES + 1)
        .await
        .map_err(|_| Error::Status {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            detail: format!("A picture may be at most {} MiB.", MAX_UPLOAD_BYTES / 1024 / 1024),
        })?;
    let uploaded = catalog.upload_image(bytes.to_vec()).await?;
    tracing::info!(image.hash = %uploaded.hash, staff.id = %staff.id, "picture uploaded by staff");
    Ok((StatusCode::CREATED, Json(uploaded)))
}

/// Show an uploaded picture on a product or one of its variants, with its alt text in English,
/// Sinhala and Tamil (staff, role `catalog`).
#[utoipa::path(post, path = "/api/v1/catalog/products/{id}/images", tags = ["catalog", "staff"],
    params(("id" = Uuid, Path, description = "Product id")),
    request_body = NewProductImage,
    security(("staff" = [])),
    responses(
        (status = 201, description = "Shown", body = ProductImage),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No such picture or variant, or alt text missing", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn attach_image(
    State(catalog): AppState,
    staff: Staff,
    Path(id): Path<Uuid>,
    Json(new): Json<NewProductImage>,
) -> Result<(StatusCode, Json<ProductImage>), Error> {
    let image = catalog.attach_image(&staff, id, &new).await?;
    tracing::info!(product.id = %id, image.id = %image.id, staff.id = %staff.id, "picture shown on a product");
    Ok((StatusCode::CREATED, Json(image)))
}

/// Change a picture's alt text or its place among the product's pictures (staff, role `catalog`).
#[utoipa::path(patch, path = "/api/v1/catalog/products/{id}/images/{image_id}", tags = ["catalog", "staff"],
    params(("id" = Uuid, Path, description = "Product id"), ("image_id" = Uuid, Path, description = "The picture's id on the product")),
    request_body = crate::images::ProductImagePatch,
    security(("staff" = [])),
    responses(
        (status = 204, description = "Changed"),
        (status = 404, description = "Not on this product", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Alt text or position out of bounds", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_image(
    State(catalog): AppState,
    staff: Staff,
    Path((id, image_id)): Path<(Uuid, Uuid)>,
    Json(patch): Json<crate::images::ProductImagePatch>,
) -> Result<StatusCode, Error> {
    catalog.update_image(&staff, id, image_id, &patch).await?;
    tracing::info!(product.id = %id, image.id = %image_id, staff.id = %staff.id, "picture changed on a product");
    Ok(StatusCode::NO_CONTENT)
}

/// Take a picture off a product (staff, role `catalog`).
#[utoipa::path(delete, path = "/api/v1/catalog/products/{id}/images/{image_id}", tags = ["catalog", "staff"],
    params(("id" = Uuid, Path, description = "Product id"), ("image_id" = Uuid, Path, description = "The picture's id on the product")),
    security(("staff" = [])),
    responses(
        (status = 204, description = "Taken off"),
        (status = 404, description = "Not on this product", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn detach_image(
    State(catalog): AppState,
    staff: Staff,
    Path((id, image_id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, Error> {
    catalog.detach_image(&staff, id, image_id).await?;
    tracing::info!(product.id = %id, image.id = %image_id, staff.id = %staff.id, "picture taken off a product");
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /images/{hash}/{width}.jpg`: a picture at one of its widths, kept by browsers and the
/// edge for a year (a new picture has a new name).
pub async fn serve_image(
    State(catalog): AppState,
    Path((hash, file)): Path<(String, String)>,
) -> Result<axum::response::Response, Error> {
    use axum::response::IntoResponse;
    let width = file.strip_suffix(".jpg").and_then(|w| w.parse::<u32>().ok());
    let Some(bytes) = (match width {
        Some(width) => catalog.rendition(&hash, width).await?,
        None => None,
    }) else {
        return Err(Error::not_found("No such picture."));
    };
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "image/jpeg"),
            (axum::http::header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        bytes,
    )
        .into_response())
}

/// The whole catalogue as CSV, one row per variant: the shape the import reads (staff, role
/// `catalog`).
#[utoipa::path(get, path = "/api/v1/catalog/export.csv", tags = ["catalog", "staff"],
    security(("staff" = [])),
    responses((status = 200, description = "The catalogue", content_type = "text/csv", body = String)))]
pub async fn export_sheet(State(catalog): AppState, staff: Staff) -> Result<axum::response::Response, Error> {
    use axum::response::IntoResponse;
    let csv = catalog.export_sheet(&staff).await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"pola-catalogue.csv\"",
            ),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        csv,
    )
        .into_response())
}

/// Whether an import only checks.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Check the file and say what it would do, changing nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Import a CSV of the export's shape (staff, role `catalog`): checked whole first; when any row
/// is bad, every bad row is named (`row 3: price`) and nothing changes. Otherwise everything is
/// applied in one transaction.
#[utoipa::path(post, path = "/api/v1/catalog/import", tags = ["catalog", "staff"],
    params(ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    security(("staff" = [])),
    responses(
        (status = 200, description = "Imported (or, on a dry run, what would be)", body = ImportReport),
        (status = 413, description = "Larger than 5 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The bad rows, each with why; nothing changed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn import_sheet(
    State(catalog): AppState,
    staff: Staff,
    Query(query): Query<ImportQuery>,
    body: axum::body::Body,
) -> Result<Json<ImportReport>, Error> {
    staff.require(Role::Catalog)?;
    let bytes = axum::body::to_bytes(body, MAX_SHEET_BYTES + 1)
        .await
        .map_err(|_| Error::Status {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            detail: format!("A sheet may be at most {} MiB.", MAX_SHEET_BYTES / 1024 / 1024),
        })?;
    Ok(Json(catalog.import_sheet(&staff, &bytes, query.dry_run).await?))
}

/// The largest sheet an import reads.
const MAX_SHEET_BYTES: usize = 5 * 1024 * 1024;

//! The catalogue: products found by words or category, edited one at a time (name, description,
//! category, status; each variant's price and status), and the whole catalogue exported to a
//! spreadsheet and imported back, with a report of every bad row before anything changes.

use axum::{
    body::Bytes,
    extract::{Multipart, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use http::Method;
use minijinja::context;
use pola_core::extract::{Path, Query};
use pola_storefront::client::{ApiError, ApiRequest};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{Area, Done};
use crate::{
    Backoffice, Error,
    desk::{Desk, Office, Staffer, refusal},
    templates::value,
};

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct CatalogueSearch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    q: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
    /// `1`: the archived products instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    archived: Option<String>,
}

/// The catalogue page, with an import's report (or its refusal) when there is one.
async fn catalogue_page(
    office: &Backoffice,
    staffer: &Staffer,
    search: &CatalogueSearch,
    report: Option<serde_json::Value>,
    refused: Option<serde_json::Value>,
) -> Result<Response, Error> {
    let archived = search.archived.as_deref().is_some_and(|a| !a.is_empty());
    let query = serde_urlencoded::to_string(search).unwrap_or_default();
    let path = match archived {
        true => format!(
            "/api/v1/catalog/staff/archived?limit=50&{}",
            serde_urlencoded::to_string([("cursor", search.cursor.as_deref().unwrap_or_default())]).unwrap_or_default()
        ),
        false => format!("/api/v1/catalog/products?limit=50&{query}"),
    };
    let page: serde_json::Value = match office.get(staffer, &path).await {
        Err(Error::Api(ApiError::Refused(problem))) if problem.status == 422 => json!({"items": [], "refused": problem}),
        other => other?,
    };
    let categories: serde_json::Value = office.get(staffer, "/api/v1/catalog/categories").await?;
    let next = page["next_cursor"].as_str().map(|cursor| {
        let kept = CatalogueSearch {
            q: search.q.clone(),
            category: search.category.clone(),
            cursor: Some(cursor.to_owned()),
            archived: search.archived.clone(),
        };
        format!(
            "/backoffice/catalogue?{}",
            serde_urlencoded::to_string(&kept).unwrap_or_default()
        )
    });
    let failed = refused.is_some();
    let ctx = context! {
        page => value(&page),
        categories => value(&categories),
        search => value(search),
        archived => archived,
        next => next,
        report => value(&report),
        refused => value(&refused),
    };
    office.form_page(staffer, "catalogue.html", ctx, failed)
}

/// `GET /backoffice/catalogue`
pub async fn list(State(office): Office, desk: Desk, Query(search): Query<CatalogueSearch>) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Catalogue).await?;
    catalogue_page(&office, &staffer, &search, None, None).await
}

/// `GET /backoffice/catalogue/export.csv`: the whole catalogue, to edit in a spreadsheet.
pub async fn export(State(office): Office, desk: Desk) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Catalogue).await?;
    let reply = office
        .send(
            &staffer.desk,
            ApiRequest::new(Method::GET, "/api/v1/catalog/export.csv"),
            Some(staffer.token()),
        )
        .await?;
    if !reply.status.is_success() {
        return Err(reply.into_problem().into());
    }
    let mut response = reply.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"pola-catalogue.csv\""),
    );
    Ok(response)
}

/// `POST /backoffice/catalogue/import` (a form with the file): `check` reports what the file
/// would do; `import` does it, all or nothing.
pub async fn import(State(office): Office, desk: Desk, mut form: Multipart) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Catalogue).await?;
    let (mut csrf, mut file, mut action) = (String::new(), Bytes::new(), String::new());
    while let Some(field) = form.next_field().await.map_err(|_| Error::BadForm)? {
        match field.name().unwrap_or_default() {
            "csrf" => csrf = field.text().await.map_err(|_| Error::BadForm)?,
            "action" => action = field.text().await.map_err(|_| Error::BadForm)?,
            "file" => file = field.bytes().await.map_err(|_| Error::BadForm)?,
            _ => {}
        }
    }
    office.check_csrf(&staffer.desk, &csrf)?;
    let dry_run = action != "import";
    let request = ApiRequest::new(Method::POST, format!("/api/v1/catalog/import?dry_run={dry_run}")).raw("text/csv", file);
    let reply = office.send(&staffer.desk, request, Some(staffer.token())).await?;
    let search = CatalogueSearch::default();
    match reply.status.as_u16() {
        200 => catalogue_page(&office, &staffer, &search, Some(reply.body), None).await,
        413 | 422 => catalogue_page(&office, &staffer, &search, None, Some(reply.body)).await,
        _ => Err(reply.into_problem().into()),
    }
}

/// The product page, with a refusal's reasons when there is one.
async fn product_page(
    office: &Backoffice,
    staffer: &Staffer,
    id: Uuid,
    refused: Option<serde_json::Value>,
    done: Option<String>,
) -> Result<Response, Error> {
    let product: serde_json::Value = office.get(staffer, &format!("/api/v1/catalog/staff/products/{id}")).await?;
    let categories: serde_json::Value = office.get(staffer, "/api/v1/catalog/categories").await?;
    let types: Vec<serde_json::Value> = office.get(staffer, "/api/v1/catalog/product-types").await?;
    let product_type = types.into_iter().find(|t| t["code"] == product["product_type"]);
    let failed = refused.is_some();
    let ctx = context! {
        product => value(&product),
        categories => value(&categories),
        product_type => value(&product_type),
        refused => value(&refused),
        done => done,
    };
    office.form_page(staffer, "product.html", ctx, failed)
}

/// `GET /backoffice/catalogue/products/{id}`
pub async fn product(
    State(office): Office,
    desk: Desk,
    Path(id): Path<Uuid>,
    Query(done): Query<Done>,
) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Catalogue).await?;
    product_page(&office, &staffer, id, None, done.done).await
}

#[derive(Debug, Deserialize)]
pub struct ProductForm {
    name: String,
    #[serde(default)]
    description: String,
    category: String,
    status: String,
}

/// `POST /backoffice/catalogue/products/{id}`
pub async fn save_product(State(office): Office, desk: Desk, Path(id): Path<Uuid>, body: Bytes) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Catalogue).await?;
    let form: ProductForm = office.form(&staffer.desk, &body)?;
    let patch = json!({"name": form.name, "description": form.description, "category": form.category, "status": form.status});
    let reply = office
        .write(&staffer, Method::PATCH, &format!("/api/v1/catalog/products/{id}"), patch)
        .await?;
    after_write(&office, &staffer, id, reply).await
}

#[derive(Debug, Deserialize)]
pub struct VariantForm {
    product: Uuid,
    price: String,
    status: String,
}

/// `POST /backoffice/catalogue/variants/{id}`
pub async fn save_variant(State(office): Office, desk: Desk, Path(id): Path<Uuid>, body: Bytes) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Catalogue).await?;
    let form: VariantForm = office.form(&staffer.desk, &body)?;
    let Some(price_minor) = pola_storefront::model::rupees_to_cents(&form.price) else {
        let refused = json!({"title": "Not a price", "detail": format!("`{}` is not a price in rupees.", form.price)});
        return product_page(&office, &staffer, form.product, Some(refused), None).await;
    };
    let patch = json!({"price_minor": price_minor, "status": form.status});
    let reply = office
        .write(&staffer, Method::PATCH, &format!("/api/v1/catalog/variants/{id}"), patch)
        .await?;
    after_write(&office, &staffer, form.product, reply).await
}

/// `POST /backoffice/catalogue/products/{id}/variants`: a new variant, its SKU, price, weight
/// and a value for each attribute of the product's type. The API checks the values against the
/// type.
pub async fn add_variant(State(office): Office, desk: Desk, Path(id): Path<Uuid>, body: Bytes) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Catalogue).await?;
    let form: Vec<(String, String)> = office.form(&staffer.desk, &body)?;
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let Some(price_minor) = pola_storefront::model::rupees_to_cents(&field("price")) else {
        let refused = json!({"title": "Not a price", "detail": format!("`{}` is not a price in rupees.", field("price"))});
        return product_page(&office, &staffer, id, Some(refused), None).await;
    };
    // `attr.<code>` holds text; `number.<code>` a number (sent as text when it is not one, for
    // the API to name).
    let attributes: serde_json::Map<String, serde_json::Value> = form
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .filter_map(|(k, v)| {
            let v = v.trim();
            match (k.strip_prefix("attr."), k.strip_prefix("number.")) {
                (Some(code), _) => Some((code.to_owned(), json!(v))),
                (_, Some(code)) => Some((code.to_owned(), v.parse::<i64>().map_or_else(|_| json!(v), |n| json!(n)))),
                _ => None,
            }
        })
        .collect();
    let variant = json!({
        "sku": field("sku"),
        "price_minor": price_minor,
        "weight_grams": field("weight_grams").parse::<u32>().unwrap_or(0),
        "attributes": attributes,
    });
    let reply = office
        .write(
            &staffer,
            Method::POST,
            &format!("/api/v1/catalog/products/{id}/variants"),
            variant,
        )
        .await?;
    after_write(&office, &staffer, id, reply).await
}

/// The most a picture's upload form may carry (the API takes pictures up to 5 MiB).
pub const PICTURE_FORM_LIMIT: usize = 6 * 1024 * 1024;

/// `POST /backoffice/catalogue/products/{id}/pictures` (a form with the file and its alt text
/// in the three languages): uploaded, then shown last on the product.
pub async fn add_picture(
    State(office): Office,
    desk: Desk,
    Path(id): Path<Uuid>,
    mut form: Multipart,
) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Catalogue).await?;
    let (mut csrf, mut file, mut kind) = (String::new(), Bytes::new(), "image/jpeg");
    let mut alt = serde_json::Map::new();
    while let Some(field) = form.next_field().await.map_err(|_| Error::BadForm)? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "csrf" => csrf = field.text().await.map_err(|_| Error::BadForm)?,
            "file" => {
                if field.content_type() == Some("image/png") {
                    kind = "image/png";
                }
                file = field.bytes().await.map_err(|_| Error::BadForm)?;
            }
            "alt_en" | "alt_si" | "alt_ta" => {
                let text = field.text().await.map_err(|_| Error::BadForm)?;
                alt.insert(name[4..].to_owned(), text.into());
            }
            _ => {}
        }
    }
    office.check_csrf(&staffer.desk, &csrf)?;
    // The API reads the file's own bytes to tell JPEG from PNG; the type only labels them.
    let upload = ApiRequest::new(Method::POST, "/api/v1/catalog/images").raw(kind, file);
    let uploaded = office.send(&staffer.desk, upload, Some(staffer.token())).await?;
    if !uploaded.status.is_success() {
        return product_page(&office, &staffer, id, Some(refusal(uploaded)?), None).await;
    }
    let shown = json!({"image": uploaded.body["hash"], "alt": alt});
    let reply = office
        .write(
            &staffer,
            Method::POST,
            &format!("/api/v1/catalog/products/{id}/images"),
            shown,
        )
        .await?;
    after_write(&office, &staffer, id, reply).await
}

#[derive(Debug, Deserialize)]
pub struct PictureForm {
    /// `save` (alt text and place) or `remove`.
    action: String,
    #[serde(default)]
    position: String,
    #[serde(default)]
    alt_en: String,
    #[serde(default)]
    alt_si: String,
    #[serde(default)]
    alt_ta: String,
}

/// `POST /backoffice/catalogue/products/{id}/pictures/{picture}`: new alt text and place, or
/// the picture taken off the product.
pub async fn change_picture(
    State(office): Office,
    desk: Desk,
    Path((id, picture)): Path<(Uuid, Uuid)>,
    body: Bytes,
) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Catalogue).await?;
    let form: PictureForm = office.form(&staffer.desk, &body)?;
    let path = format!("/api/v1/catalog/products/{id}/images/{picture}");
    let reply = match form.action.as_str() {
        "remove" => office.write(&staffer, Method::DELETE, &path, json!(null)).await?,
        _ => {
            let Ok(position) = form.position.trim().parse::<i32>() else {
                let refused =
                    json!({"title": "Not a place", "detail": format!("`{}` is not a place (0 is first).", form.position)});
                return product_page(&office, &staffer, id, Some(refused), None).await;
            };
            let patch = json!({"position": position, "alt": {"en": form.alt_en, "si": form.alt_si, "ta": form.alt_ta}});
            office.write(&staffer, Method::PATCH, &path, patch).await?
        }
    };
    after_write(&office, &staffer, id, reply).await
}

/// Back to the product after a change, or the product page again with the API's reasons.
async fn after_write(
    office: &Backoffice,
    staffer: &Staffer,
    product: Uuid,
    reply: pola_storefront::client::ApiReply,
) -> Result<Response, Error> {
    if reply.status.is_success() {
        return Ok(office.redirect(&staffer.desk, &format!("/backoffice/catalogue/products/{product}?done=saved")));
    }
    product_page(office, staffer, product, Some(refusal(reply)?), None).await
}

//! The pages' handlers: read the visit, ask the API as the visitor, render or redirect.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{RawQuery, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use http::Method;
use minijinja::{Value, context, value::Serde};
use pola_core::{districts::DISTRICTS, extract::Path};
use serde_json::json;
use uuid::Uuid;

use crate::{
    Error, Storefront, Visit,
    client::{ApiError, ApiRequest},
    model::{
        AddToCart, ChangeLine, CheckoutForm, Codes, ListingQuery, PaymentChoice, SignIn, SignUp, Tokens, delivery_days, safe_next,
    },
};

type Shop = State<Arc<Storefront>>;
type Page = Result<Response, Error>;

/// Products per listing page.
const PAGE_SIZE: u32 = 24;

/// The help pages there are.
const HELP_PAGES: [&str; 4] = ["delivery", "returns", "privacy", "contact"];

fn query<T: serde::de::DeserializeOwned + Default>(raw: Option<String>) -> T {
    raw.and_then(|q| serde_urlencoded::from_str(&q).ok()).unwrap_or_default()
}

/// `GET /`: categories and the newest products.
pub async fn home(State(shop): Shop, mut visit: Visit) -> Page {
    let categories: serde_json::Value = shop.get(&mut visit, "/api/v1/catalog/categories").await?;
    let newest: serde_json::Value = shop
        .get(&mut visit, "/api/v1/catalog/products?limit=12&in_stock=true")
        .await?;
    let offers: Vec<serde_json::Value> = shop.optional(&mut visit, "/api/v1/promotions/current").await;
    shop.page(
        &mut visit,
        "home.html",
        context! { categories => Value::from(Serde(&categories)), products => Value::from(Serde(&newest["items"])), offers => Value::from(Serde(&offers)) },
    )
}

/// `GET /categories/{slug}`: a category's products, filtered.
pub async fn category(State(shop): Shop, mut visit: Visit, Path(slug): Path<String>, RawQuery(raw): RawQuery) -> Page {
    let categories: serde_json::Value = shop.get(&mut visit, "/api/v1/catalog/categories").await?;
    let Some(current) = categories
        .as_array()
        .and_then(|all| all.iter().find(|c| c["slug"] == slug.as_str()))
        .cloned()
    else {
        return Err(Error::NotFound);
    };
    listing(&shop, &mut visit, Some(current), categories, query(raw)).await
}

/// `GET /search?q=`: products matching the words, in any of the shop's languages.
pub async fn search(State(shop): Shop, mut visit: Visit, RawQuery(raw): RawQuery) -> Page {
    let categories: serde_json::Value = shop.get(&mut visit, "/api/v1/catalog/categories").await?;
    listing(&shop, &mut visit, None, categories, query(raw)).await
}

async fn listing(
    shop: &Storefront,
    visit: &mut Visit,
    category: Option<serde_json::Value>,
    categories: serde_json::Value,
    query: ListingQuery,
) -> Page {
    let slug = category.as_ref().and_then(|c| c["slug"].as_str().map(str::to_owned));
    let api = format!("/api/v1/catalog/products?{}", query.api_query(slug.as_deref(), PAGE_SIZE));
    let reply = shop.call(visit, ApiRequest::new(Method::GET, api)).await?;
    // Filters the catalogue refuses (a price out of range, an unknown attribute) show an empty
    // page with the filters to change, not an error.
    let (products, next) = match reply.into_result::<serde_json::Value>() {
        Ok(page) => (
            page["items"].clone(),
            page["next_cursor"].as_str().map(|c| query.with_cursor(c)),
        ),
        Err(ApiError::Refused(_)) => (json!([]), None),
        Err(e) => return Err(e.into()),
    };
    let types: serde_json::Value = shop.get(visit, "/api/v1/catalog/product-types").await?;
    let filters = attribute_filters(&types, &products);
    shop.page(
        visit,
        "listing.html",
        context! { category => Value::from(Serde(&category)), categories => Value::from(Serde(&categories)), products => Value::from(Serde(&products)), next => Value::from(Serde(&next)), q => Value::from(Serde(&query.q)), min => Value::from(Serde(&query.min)), max => Value::from(Serde(&query.max)), in_stock => Value::from(Serde(&query.in_stock.is_some())), attr => Value::from(Serde(&query.attr)), sort => Value::from(Serde(&query.sort)), filters => Value::from(Serde(&filters)) },
    )
}

/// The attributes customers can filter the listed products by: those of the listed products'
/// types with a fixed list of values.
fn attribute_filters(types: &serde_json::Value, products: &serde_json::Value) -> Vec<serde_json::Value> {
    let listed: Vec<&str> = products
        .as_array()
        .map(|items| items.iter().filter_map(|p| p["product_type"].as_str()).collect())
        .unwrap_or_default();
    let mut filters: Vec<serde_json::Value> = vec![];
    for kind in types.as_array().into_iter().flatten() {
        if !listed.contains(&kind["code"].as_str().unwrap_or_default()) {
            continue;
        }
        for attribute in kind["attributes"].as_array().into_iter().flatten() {
            let Some(values) = attribute["values"].as_array().filter(|v| !v.is_empty()) else {
                continue;
            };
            if filters.iter().any(|f| f["code"] == attribute["code"]) {
                continue;
            }
            filters.push(json!({"code": attribute["code"], "name": attribute["name"], "values": values}));
        }
    }
    filters
}

/// `GET /products/{id}`: a product, its variants and their stock, and delivery to the
/// customer's district.
pub async fn product(State(shop): Shop, mut visit: Visit, Path(id): Path<Uuid>, RawQuery(raw): RawQuery) -> Page {
    let product: serde_json::Value = shop.get(&mut visit, &format!("/api/v1/catalog/products/{id}")).await?;
    let chosen: ProductQuery = query(raw);
    let district = chosen.district.filter(|d| DISTRICTS.contains(&d.as_str()));
    let days = district.as_deref().map(delivery_days);
    let also = shop.suggestions(&mut visit, &[id]).await;
    let variants: Vec<&str> = product["variants"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["id"].as_str())
        .take(20)
        .collect();
    let prices: serde_json::Map<String, serde_json::Value> = match variants.is_empty() {
        true => Default::default(),
        false => shop
            .optional::<Vec<serde_json::Value>>(&mut visit, &format!("/api/v1/cart/prices?variants={}", variants.join(",")))
            .await
            .into_iter()
            .filter_map(|p| Some((p["variant_id"].as_str()?.to_owned(), p)))
            .collect(),
    };
    shop.page(
        &mut visit,
        "product.html",
        context! { product => Value::from(Serde(&product)), also => Value::from(Serde(&also)), prices => Value::from(Serde(&prices)), districts => Value::from(Serde(&DISTRICTS)), district => Value::from(Serde(&district)), delivery_days => Value::from(Serde(&days)), variant => Value::from(Serde(&chosen.variant)) },
    )
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct ProductQuery {
    variant: Option<String>,
    district: Option<String>,
}

/// `GET /cart`: the lines, codes, delivery to a district, VAT and total.
pub async fn cart(State(shop): Shop, mut visit: Visit, RawQuery(raw): RawQuery) -> Page {
    let chosen: CartQuery = query(raw);
    cart_page(&shop, &mut visit, chosen.district.as_deref(), None).await
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct CartQuery {
    district: Option<String>,
}

async fn cart_page(shop: &Storefront, visit: &mut Visit, district: Option<&str>, problem: Option<&str>) -> Page {
    let district = district.filter(|d| DISTRICTS.contains(d));
    let path = match district {
        Some(d) => format!(
            "/api/v1/cart?{}",
            serde_urlencoded::to_string([("district", d)]).unwrap_or_default()
        ),
        None => "/api/v1/cart".to_owned(),
    };
    let cart: serde_json::Value = shop.get(visit, &path).await?;
    let in_cart: Vec<Uuid> = cart["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|line| line["product_id"].as_str()?.parse().ok())
        .collect();
    let also = shop.suggestions(visit, &in_cart).await;
    shop.page(
        visit,
        "cart.html",
        context! { cart => Value::from(Serde(&cart)), also => Value::from(Serde(&also)), districts => Value::from(Serde(&DISTRICTS)), district => Value::from(Serde(&district)), problem => Value::from(Serde(&problem)) },
    )
}

/// `POST /cart/lines`: puts a variant in the cart and holds its stock.
pub async fn add_to_cart(State(shop): Shop, mut visit: Visit, body: Bytes) -> Page {
    let form: AddToCart = shop.form(&visit, &body)?;
    let variant = Uuid::parse_str(&form.variant).map_err(|_| Error::BadForm)?;
    let quantity = quantity(form.quantity.as_deref()).ok_or(Error::BadForm)?;
    let request = ApiRequest::new(Method::POST, "/api/v1/cart/lines").json(json!({"variant_id": variant, "quantity": quantity}));
    let reply = shop.call(&mut visit, request).await?;
    visit.session.flash = Some(match reply.into_result::<serde_json::Value>() {
        Ok(_) => "cart.added".into(),
        Err(ApiError::Refused(problem)) => cart_refusal(problem.code()).into(),
        Err(e) => return Err(e.into()),
    });
    visit.dirty = true;
    Ok(shop.redirect(&visit, "/cart"))
}

fn quantity(typed: Option<&str>) -> Option<u32> {
    match typed.map(str::trim) {
        None | Some("") => Some(1),
        Some(q) => q.parse().ok().filter(|q| (1..=99).contains(q)),
    }
}

/// The message for a cart change the API refused.
fn cart_refusal(code: &str) -> &'static str {
    match code {
        "out-of-stock" => "cart.out_of_stock",
        "cart-limit" | "hold-limit" => "cart.limit",
        _ => "cart.not_changed",
    }
}

/// `POST /cart/lines/{id}`: a line's new quantity, or its removal.
pub async fn change_cart_line(State(shop): Shop, mut visit: Visit, Path(id): Path<Uuid>, body: Bytes) -> Page {
    let form: ChangeLine = shop.form(&visit, &body)?;
    let path = format!("/api/v1/cart/lines/{id}");
    let request = match (form.action.as_deref(), quantity(form.quantity.as_deref())) {
        (Some("remove"), _) | (_, Some(0)) => ApiRequest::new(Method::DELETE, path),
        (_, Some(quantity)) => ApiRequest::new(Method::PATCH, path).json(json!({"quantity": quantity})),
        (_, None) => return Err(Error::BadForm),
    };
    let reply = shop.call(&mut visit, request).await?;
    if let Err(e) = reply.into_result::<serde_json::Value>() {
        match e {
            ApiError::Refused(problem) => visit.session.flash = Some(cart_refusal(problem.code()).into()),
            e => return Err(e.into()),
        }
        visit.dirty = true;
    }
    Ok(shop.redirect(&visit, "/cart"))
}

/// `POST /cart/codes`: the promotion codes to apply (those that do not apply are shown with why).
pub async fn apply_codes(State(shop): Shop, mut visit: Visit, body: Bytes) -> Page {
    let form: Codes = shop.form(&visit, &body)?;
    let request = ApiRequest::new(Method::PUT, "/api/v1/cart/codes").json(json!({"codes": form.list()}));
    let reply = shop.call(&mut visit, request).await?;
    match reply.into_result::<serde_json::Value>() {
        Ok(_) => Ok(shop.redirect(&visit, "/cart")),
        Err(ApiError::Refused(problem)) => cart_page(&shop, &mut visit, None, Some(problem.code())).await,
        Err(e) => Err(e.into()),
    }
}

/// `GET /checkout`: the delivery address and payment form (signed-in customers only).
pub async fn checkout(State(shop): Shop, mut visit: Visit, RawQuery(raw): RawQuery) -> Page {
    if !visit.session.signed_in() {
        return Ok(sign_in_first(&shop, &visit, "/checkout"));
    }
    let chosen: CartQuery = query(raw);
    let form = CheckoutForm {
        district: chosen.district.unwrap_or_default(),
        payment: "cod".into(),
        idempotency_key: Uuid::now_v7().to_string(),
        ..CheckoutForm::default()
    };
    checkout_page(&shop, &mut visit, form, vec![], None).await
}

async fn checkout_page(
    shop: &Storefront,
    visit: &mut Visit,
    form: CheckoutForm,
    errors: Vec<String>,
    problem: Option<String>,
) -> Page {
    let district = Some(form.district.as_str()).filter(|d| DISTRICTS.contains(d));
    let cod = form.payment == "cod";
    let mut path = "/api/v1/cart".to_owned();
    if let Some(d) = district {
        path = format!(
            "{path}?{}",
            serde_urlencoded::to_string([("district", d), ("cash_on_delivery", if cod { "true" } else { "false" })])
                .unwrap_or_default()
        );
    }
    let cart: serde_json::Value = shop.get(visit, &path).await?;
    if cart["lines"].as_array().is_none_or(Vec::is_empty) {
        return Ok(shop.redirect(visit, "/cart"));
    }
    shop.page(
        visit,
        "checkout.html",
        context! { cart => Value::from(Serde(&cart)), form => Value::from(Serde(&form)), districts => Value::from(Serde(&DISTRICTS)), errors => Value::from(Serde(&errors)), problem => Value::from(Serde(&problem)) },
    )
}

/// `POST /checkout`: places the order (once, whatever the number of clicks: the form's
/// idempotency key), then starts its payment.
pub async fn place_order(State(shop): Shop, mut visit: Visit, body: Bytes) -> Page {
    if !visit.session.signed_in() {
        return Ok(sign_in_first(&shop, &visit, "/checkout"));
    }
    let form: CheckoutForm = shop.form(&visit, &body)?;
    let Some(payment) = PaymentChoice::parse(&form.payment) else {
        return checkout_page(&shop, &mut visit, form, vec!["payment".into()], None).await;
    };
    if Uuid::parse_str(&form.idempotency_key).is_err() {
        return Err(Error::BadForm);
    }
    let order = ApiRequest::new(Method::POST, "/api/v1/orders")
        .header(http::HeaderName::from_static("idempotency-key"), &form.idempotency_key)
        .json(json!({
            "delivery": form.delivery(),
            "cash_on_delivery": payment == PaymentChoice::CashOnDelivery,
        }));
    let reply = shop.call(&mut visit, order).await?;
    let order: serde_json::Value = match reply.into_result() {
        Ok(order) => order,
        Err(ApiError::Refused(problem)) => {
            let fields = problem
                .errors
                .iter()
                .map(|e| e.field.trim_start_matches("delivery.").to_owned())
                .collect();
            let code = Some(problem.code().to_owned()).filter(|_| problem.errors.is_empty());
            return checkout_page(&shop, &mut visit, form, fields, code).await;
        }
        Err(e) => return Err(e.into()),
    };
    let id = order["id"]
        .as_str()
        .ok_or(Error::Unavailable("an order without an id".into()))?
        .to_owned();
    let pay = ApiRequest::new(
        Method::POST,
        format!("/api/v1/payments/orders/{id}/{}", payment.api_segment()),
    );
    let paid = match shop.call(&mut visit, pay).await?.into_result::<serde_json::Value>() {
        Ok(paid) => paid,
        // The order stands; the customer reads why on its page.
        Err(ApiError::Refused(_)) => {
            visit.session.flash = Some("order.pay_refused".into());
            visit.dirty = true;
            return Ok(shop.redirect(&visit, &format!("/account/orders/{id}")));
        }
        Err(e) => return Err(e.into()),
    };
    match payment {
        PaymentChoice::PayHere => shop.page(
            &mut visit,
            "payhere.html",
            context! { checkout => Value::from(Serde(&paid)), order => Value::from(Serde(&order)) },
        ),
        _ => {
            visit.session.flash = Some("order.placed".into());
            visit.dirty = true;
            Ok(shop.redirect(&visit, &format!("/account/orders/{id}")))
        }
    }
}

/// `GET /account/orders/{id}`: an order, its payment and where it is (also PayHere's return
/// page).
pub async fn order(State(shop): Shop, mut visit: Visit, Path(id): Path<Uuid>) -> Page {
    if !visit.session.signed_in() {
        return Ok(sign_in_first(&shop, &visit, &format!("/account/orders/{id}")));
    }
    let order: serde_json::Value = shop.get(&mut visit, &format!("/api/v1/orders/{id}")).await?;
    let payment = shop
        .call(
            &mut visit,
            ApiRequest::new(Method::GET, format!("/api/v1/payments/orders/{id}")),
        )
        .await?
        .into_result::<serde_json::Value>()
        .ok();
    shop.page(
        &mut visit,
        "order.html",
        context! { order => Value::from(Serde(&order)), payment => Value::from(Serde(&payment)) },
    )
}

/// `GET /account`: the profile, order history, notification preferences and personal data.
pub async fn account(State(shop): Shop, mut visit: Visit) -> Page {
    account_page(&shop, &mut visit, false).await
}

async fn account_page(shop: &Storefront, visit: &mut Visit, wrong_password: bool) -> Page {
    if !visit.session.signed_in() {
        return Ok(sign_in_first(shop, visit, "/account"));
    }
    let me: serde_json::Value = shop.get(visit, "/api/v1/identity/me").await?;
    let orders: serde_json::Value = shop.get(visit, "/api/v1/orders?limit=20").await?;
    let preferences: serde_json::Value = shop.get(visit, "/api/v1/identity/me/preferences").await?;
    let mut response = shop.page(
        visit,
        "account.html",
        context! {
            me => Value::from(Serde(&me)), orders => Value::from(Serde(&orders["items"])),
            preferences => Value::from(Serde(&preferences)), wrong_password => wrong_password,
        },
    )?;
    if wrong_password {
        *response.status_mut() = http::StatusCode::FORBIDDEN;
    }
    Ok(response)
}

/// `POST /account/preferences`: order news by email and by SMS.
pub async fn save_preferences(State(shop): Shop, mut visit: Visit, body: Bytes) -> Page {
    #[derive(serde::Deserialize)]
    struct Choice {
        email: Option<String>,
        sms: Option<String>,
    }
    let choice: Choice = shop.form(&visit, &body)?;
    if !visit.session.signed_in() {
        return Ok(sign_in_first(&shop, &visit, "/account"));
    }
    let preferences = json!({
        "language": visit.language.code(), "email": choice.email.is_some(), "sms": choice.sms.is_some(),
    });
    let request = ApiRequest::new(Method::PUT, "/api/v1/identity/me/preferences").json(preferences);
    shop.call(&mut visit, request).await?.into_result::<serde_json::Value>()?;
    visit.session.flash = Some("account.saved".into());
    visit.dirty = true;
    Ok(shop.redirect(&visit, "/account"))
}

/// `GET /account/data.json`: everything the shop holds about the customer, to keep (PDPA).
pub async fn export_data(State(shop): Shop, mut visit: Visit) -> Page {
    if !visit.session.signed_in() {
        return Ok(sign_in_first(&shop, &visit, "/account"));
    }
    let export: serde_json::Value = shop.get(&mut visit, "/api/v1/identity/me/export").await?;
    let body = serde_json::to_vec_pretty(&export).map_err(|e| Error::Unavailable(e.to_string()))?;
    let mut response = (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"pola-my-data.json\""),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response();
    shop.keep(&visit, &mut response);
    Ok(response)
}

/// `POST /account/erase`: erases the customer's personal data (PDPA), after their password.
pub async fn erase_account(State(shop): Shop, mut visit: Visit, body: Bytes) -> Page {
    #[derive(serde::Deserialize)]
    struct Erase {
        #[serde(default)]
        password: String,
        confirm: Option<String>,
    }
    let form: Erase = shop.form(&visit, &body)?;
    if !visit.session.signed_in() {
        return Ok(sign_in_first(&shop, &visit, "/account"));
    }
    if form.confirm.is_none() {
        return Err(Error::BadForm);
    }
    let request = ApiRequest::new(Method::POST, "/api/v1/identity/me/erase").json(json!({"password": form.password}));
    match shop.call(&mut visit, request).await?.into_result::<serde_json::Value>() {
        Ok(_) => {
            visit.session.sign_out();
            visit.session.flash = Some("account.erased".into());
            visit.dirty = true;
            Ok(shop.redirect(&visit, "/"))
        }
        Err(ApiError::Refused(problem)) if problem.status == 403 => account_page(&shop, &mut visit, true).await,
        Err(e) => Err(e.into()),
    }
}

/// `GET /account/forgot-password`
pub async fn forgot_password_page(State(shop): Shop, mut visit: Visit) -> Page {
    shop.page(&mut visit, "forgot.html", context! { sent => Value::from(()) })
}

/// `POST /account/forgot-password`: a reset link by email or a code by SMS. The answer is the
/// same whether or not there is such an account.
pub async fn forgot_password(State(shop): Shop, mut visit: Visit, body: Bytes) -> Page {
    #[derive(serde::Deserialize)]
    struct Forgot {
        #[serde(default)]
        username: String,
        #[serde(default)]
        channel: String,
    }
    let form: Forgot = shop.form(&visit, &body)?;
    let channel = if form.channel == "sms" { "sms" } else { "email" };
    let request = ApiRequest::new(Method::POST, "/api/v1/identity/password-reset")
        .json(json!({"username": form.username.trim(), "channel": channel}));
    let reply = shop.call(&mut visit, request).await?;
    let sent = match reply.into_result::<serde_json::Value>() {
        Ok(_) => channel,
        Err(ApiError::Refused(problem)) if problem.status == 422 => "invalid",
        Err(ApiError::Refused(problem)) if problem.status == 429 => "too_many",
        Err(e) => return Err(e.into()),
    };
    shop.page(
        &mut visit,
        "forgot.html",
        context! { sent => sent, username => form.username.trim() },
    )
}

/// `GET /reset-password?token=`: the page an emailed link opens.
pub async fn reset_password_page(State(shop): Shop, mut visit: Visit, RawQuery(raw): RawQuery) -> Page {
    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(default)]
    struct Token {
        token: String,
    }
    let token: Token = query(raw);
    shop.page(&mut visit, "reset.html", context! { token => token.token, failed => false })
}

/// `POST /reset-password`: the new password, with the link's token or the SMS code.
pub async fn reset_password(State(shop): Shop, mut visit: Visit, body: Bytes) -> Page {
    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(default)]
    struct Reset {
        token: String,
        username: String,
        code: String,
        password: String,
    }
    let form: Reset = shop.form(&visit, &body)?;
    let confirm = match form.token.is_empty() {
        false => json!({"token": form.token, "password": form.password}),
        true => json!({"username": form.username.trim(), "code": form.code.trim(), "password": form.password}),
    };
    let request = ApiRequest::new(Method::POST, "/api/v1/identity/password-reset/confirm").json(confirm);
    match shop.call(&mut visit, request).await?.into_result::<serde_json::Value>() {
        Ok(_) => {
            visit.session.flash = Some("reset.done".into());
            visit.dirty = true;
            Ok(shop.redirect(&visit, "/account/sign-in"))
        }
        Err(ApiError::Refused(problem)) if problem.status < 500 => {
            let page = context! {
                token => form.token, username => form.username, failed => true,
                weak => problem.errors.iter().any(|e| e.field == "password"),
            };
            let mut response = shop.page(&mut visit, "reset.html", page)?;
            *response.status_mut() = http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn sign_in_first(shop: &Storefront, visit: &Visit, next: &str) -> Response {
    let to = format!(
        "/account/sign-in?{}",
        serde_urlencoded::to_string([("next", next)]).unwrap_or_default()
    );
    shop.redirect(visit, &to)
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct NextQuery {
    next: String,
}

/// `GET /account/sign-in`
pub async fn sign_in_page(State(shop): Shop, mut visit: Visit, RawQuery(raw): RawQuery) -> Page {
    let next: NextQuery = query(raw);
    shop.page(
        &mut visit,
        "sign_in.html",
        context! { next => Value::from(Serde(&safe_next(&next.next))), failed => Value::from(Serde(&false)) },
    )
}

/// `POST /account/sign-in`: signs in, and merges the guest cart into the account's.
pub async fn sign_in(State(shop): Shop, mut visit: Visit, body: Bytes) -> Page {
    let form: SignIn = shop.form(&visit, &body)?;
    let next = safe_next(&form.next).to_owned();
    let request = ApiRequest::new(Method::POST, "/api/v1/identity/token")
        .json(json!({"grant_type": "password", "username": form.email.trim(), "password": form.password}));
    match shop.call(&mut visit, request).await?.into_result::<Tokens>() {
        Ok(tokens) => {
            start_session(&shop, &mut visit, tokens).await?;
            Ok(shop.redirect(&visit, &next))
        }
        Err(ApiError::Refused(problem)) => {
            let page = context! { next => Value::from(Serde(&next)), failed => Value::from(Serde(&true)), email => Value::from(Serde(&form.email)), code => Value::from(Serde(&problem.code())) };
            let mut response = shop.page(&mut visit, "sign_in.html", page)?;
            *response.status_mut() = http::StatusCode::UNAUTHORIZED;
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}

/// Signs the visitor in with `tokens` and moves their guest cart into the account's.
async fn start_session(shop: &Storefront, visit: &mut Visit, tokens: Tokens) -> Result<(), Error> {
    visit.session.sign_in(tokens.access_token, tokens.refresh_token);
    visit.dirty = true;
    if visit.session.cart.is_some() {
        // A signed-in call that still carries the guest token merges the guest cart.
        shop.get::<serde_json::Value>(visit, "/api/v1/cart").await?;
        visit.session.cart = None;
    }
    Ok(())
}

/// `GET /account/sign-up`
pub async fn sign_up_page(State(shop): Shop, mut visit: Visit, RawQuery(raw): RawQuery) -> Page {
    let next: NextQuery = query(raw);
    let form = SignUp {
        next: safe_next(&next.next).to_owned(),
        ..SignUp::default()
    };
    shop.page(
        &mut visit,
        "sign_up.html",
        context! { form => Value::from(Serde(&form)), errors => Value::from(Serde(&Vec::<String>::new())) },
    )
}

/// `POST /account/sign-up`: makes the account in the page's language, then signs in.
pub async fn sign_up(State(shop): Shop, mut visit: Visit, body: Bytes) -> Page {
    let form: SignUp = shop.form(&visit, &body)?;
    let phone = Some(form.phone.trim()).filter(|p| !p.is_empty());
    let register = ApiRequest::new(Method::POST, "/api/v1/identity/register").json(json!({
        "name": form.name, "email": form.email.trim(), "password": form.password, "phone": phone,
        "language": visit.language.code(),
    }));
    if let Err(e) = shop.call(&mut visit, register).await?.into_result::<serde_json::Value>() {
        let ApiError::Refused(problem) = e else {
            return Err(e.into());
        };
        let mut errors: Vec<String> = problem.errors.iter().map(|e| e.field.clone()).collect();
        if problem.status == 409 {
            errors.push("email_taken".into());
        }
        let mut response = shop.page(
            &mut visit,
            "sign_up.html",
            context! { form => Value::from(Serde(&form)), errors => Value::from(Serde(&errors)) },
        )?;
        *response.status_mut() = http::StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(response);
    }
    let token = ApiRequest::new(Method::POST, "/api/v1/identity/token")
        .json(json!({"grant_type": "password", "username": form.email.trim(), "password": form.password}));
    let tokens: Tokens = shop.call(&mut visit, token).await?.into_result()?;
    start_session(&shop, &mut visit, tokens).await?;
    visit.session.flash = Some("account.welcome".into());
    Ok(shop.redirect(&visit, safe_next(&form.next)))
}

/// `POST /account/sign-out`: revokes the refresh token and forgets the session.
pub async fn sign_out(State(shop): Shop, mut visit: Visit, body: Bytes) -> Page {
    let _: Csrf = shop.form(&visit, &body)?;
    if let Some(refresh) = visit.session.refresh.clone() {
        let request = ApiRequest::new(Method::POST, "/api/v1/identity/logout").json(json!({"refresh_token": refresh}));
        // Signed out here whatever the API says: the access token expires within minutes.
        if let Err(e) = shop.call(&mut visit, request).await {
            tracing::warn!(error = %e, "could not revoke a refresh token at sign-out");
        }
    }
    visit.session.sign_out();
    visit.dirty = true;
    Ok(shop.redirect(&visit, "/"))
}

/// A form with nothing but its CSRF token.
#[derive(Debug, serde::Deserialize)]
struct Csrf {}

/// `GET /help/{page}`: delivery, returns, privacy, contact.
pub async fn help(State(shop): Shop, mut visit: Visit, Path(page): Path<String>) -> Page {
    if !HELP_PAGES.contains(&page.as_str()) {
        return Err(Error::NotFound);
    }
    shop.page(
        &mut visit,
        "help.html",
        context! { page => Value::from(Serde(&page)), pages => Value::from(Serde(&HELP_PAGES)) },
    )
}

/// `POST /language`: the customer's language, remembered, then back where they were.
pub async fn choose_language(State(shop): Shop, mut visit: Visit, body: Bytes) -> Page {
    #[derive(serde::Deserialize)]
    struct Choice {
        lang: String,
        #[serde(default)]
        back: String,
    }
    let choice: Choice = shop.form(&visit, &body)?;
    visit.language = crate::i18n::parse_code(&choice.lang).ok_or(Error::BadForm)?;
    visit.language_chosen = true;
    // A signed-in customer's emails and SMS follow the language too.
    if visit.session.signed_in() {
        let prefs = shop
            .get::<serde_json::Value>(&mut visit, "/api/v1/identity/me/preferences")
            .await;
        if let Ok(mut prefs) = prefs {
            prefs["language"] = json!(visit.language.code());
            let request = ApiRequest::new(Method::PUT, "/api/v1/identity/me/preferences").json(prefs);
            if let Err(e) = shop.call(&mut visit, request).await {
                tracing::warn!(error = %e, "could not save a customer's language");
            }
        }
    }
    Ok(shop.redirect(&visit, safe_back(&choice.back)))
}

fn safe_back(back: &str) -> &str {
    match safe_next(back) {
        "/account" if back != "/account" => "/",
        ok => ok,
    }
}

/// `GET /robots.txt`
pub async fn robots(State(shop): Shop) -> Response {
    let body = format!(
        "User-agent: *\nDisallow: /cart\nDisallow: /checkout\nDisallow: /account\nDisallow: /api/\nSitemap: {}/sitemap.xml\n",
        shop.public_url
    );
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))],
        body,
    )
        .into_response()
}

/// `GET /sitemap.xml`: the home page, categories, products and help pages, each in the three
/// languages.
pub async fn sitemap(State(shop): Shop, mut visit: Visit) -> Page {
    let categories: serde_json::Value = shop.get(&mut visit, "/api/v1/catalog/categories").await?;
    let mut products = vec![];
    let mut cursor: Option<String> = None;
    // The sitemap protocol's limit is 50,000 addresses a file; each product is three.
    while products.len() < 15_000 {
        let mut pairs = vec![("limit", "100")];
        if let Some(c) = &cursor {
            pairs.push(("cursor", c));
        }
        let path = format!(
            "/api/v1/catalog/products?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        );
        let page: serde_json::Value = shop.get(&mut visit, &path).await?;
        products.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let ctx = context! { base => Value::from(Serde(&&shop.public_url)), categories => Value::from(Serde(&categories)), products => Value::from(Serde(&products)), pages => Value::from(Serde(&HELP_PAGES)), languages => Value::from(Serde(&["en", "si", "ta"])) };
    let xml = shop
        .templates
        .get_template("sitemap.xml")
        .and_then(|t| t.render(ctx))
        .map_err(|e| Error::Unavailable(format!("sitemap: {e:#}")))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml; charset=utf-8"),
        )],
        xml,
    )
        .into_response())
}

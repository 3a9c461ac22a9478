//! Cart's HTTP handlers. A signed-in customer's cart follows their account; a guest's follows the
//! `X-Cart-Token` header. A signed-in call that still sends a guest token merges that cart first.

use std::sync::Arc;

use axum::{
    extract::{FromRequestParts, State},
    http::{HeaderValue, StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use pola_core::{
    Error,
    auth::MaybeCustomer,
    error::Problem,
    extract::{Json, Path, Query},
    http::CART_TOKEN,
};
use pola_promotions::pricing::Destination;
use uuid::Uuid;

use crate::{
    Cart, Owner,
    model::{AddLine, CartQuery, CartView, SetCodes, UnitPrice, UnitPricesQuery, UpdateLine, parse_quantity},
};

/// Whose cart: the signed-in customer's, or the guest's behind `X-Cart-Token`.
pub struct CartOwner {
    customer: Option<Uuid>,
    token: Option<String>,
    /// The client's address as the edge saw it.
    address: Option<std::net::IpAddr>,
}

impl<S: Send + Sync> FromRequestParts<S> for CartOwner {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let MaybeCustomer(customer) = MaybeCustomer::from_request_parts(parts, state).await?;
        let token = match parts.headers.get(CART_TOKEN) {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .ok()
                    .filter(|t| t.starts_with("ct_") && t.len() <= 100)
                    .ok_or_else(|| Error::BadRequest("X-Cart-Token is not a cart token.".into()))?
                    .to_owned(),
            ),
        };
        // The edge puts the client's address here, replacing whatever the client sent.
        let address = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok());
        Ok(Self {
            customer: customer.map(|c| c.id),
            token,
            address,
        })
    }
}

impl CartOwner {
    /// The owner to act for, after merging a guest cart into a signed-in customer's.
    async fn resolve(self, cart: &Cart) -> Result<Owner, Error> {
        match (self.customer, self.token) {
            (Some(customer), Some(token)) => {
                cart.merge_guest(customer, &token).await?;
                Ok(Owner::Customer(customer))
            }
            (Some(customer), None) => Ok(Owner::Customer(customer)),
            (None, token) => Ok(Owner::Guest {
                token,
                address: self.address,
            }),
        }
    }
}

/// A cart reply; a new guest token also travels as the `X-Cart-Token` response header.
pub struct CartReply(StatusCode, CartView);

impl IntoResponse for CartReply {
    fn into_response(self) -> Response {
        let token = self.1.cart_token.clone();
        let mut response = (self.0, Json(self.1)).into_response();
        if let Some(value) = token.and_then(|t| HeaderValue::from_str(&t).ok()) {
            response.headers_mut().insert(CART_TOKEN, value);
        }
        response
    }
}

/// The cart: a signed-in customer's, or a guest's (`X-Cart-Token`), priced now with its
/// promotions and codes. With `district`, also the delivery charge there: a delivery quote.
#[utoipa::path(get, path = "/api/v1/cart", tag = "cart",
    params(("X-Cart-Token" = Option<String>, Header, description = "Guest cart token"), CartQuery),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The cart at today's prices", body = CartView),
        (status = 401, description = "A bad access token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not one of Sri Lanka's districts", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_cart(
    State(cart): State<Arc<Cart>>,
    owner: CartOwner,
    Query(query): Query<CartQuery>,
) -> Result<CartReply, Error> {
    let owner = owner.resolve(&cart).await?;
    let view = match query.district {
        Some(district) => {
            let destination = Destination {
                district,
                cash_on_delivery: query.cash_on_delivery,
            };
            cart.quote(&owner, destination).await?
        }
        None => cart.get(&owner).await?,
    };
    Ok(CartReply(StatusCode::OK, view))
}

/// What one unit of each variant costs now, before any code (a product page's "price with
/// promotions, and why"): for the signed-in customer (member prices, their groups) or a guest.
#[utoipa::path(get, path = "/api/v1/cart/prices", tag = "cart",
    params(UnitPricesQuery),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The variants on sale among those asked, priced", body = Vec<UnitPrice>),
        (status = 422, description = "Not variant ids, or more than 20", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn unit_prices(
    State(cart): State<Arc<Cart>>,
    MaybeCustomer(customer): MaybeCustomer,
    Query(query): Query<UnitPricesQuery>,
) -> Result<Json<Vec<UnitPrice>>, Error> {
    let variants = query.variants().map_err(|e| Error::Validation(vec![e]))?;
    Ok(Json(cart.unit_prices(customer.map(|c| c.id), &variants).await?))
}

/// Replace the cart's promotion codes (case does not matter; at most 5). Codes that do not
/// apply stay, listed under `rejected_codes` with the reason.
#[utoipa::path(put, path = "/api/v1/cart/codes", tag = "cart",
    params(("X-Cart-Token" = Option<String>, Header, description = "Guest cart token")),
    request_body = SetCodes,
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The cart, priced with the codes", body = CartView),
        (status = 422, description = "Too many codes, or one too long", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_codes(
    State(cart): State<Arc<Cart>>,
    owner: CartOwner,
    Json(request): Json<SetCodes>,
) -> Result<CartReply, Error> {
    let owner = owner.resolve(&cart).await?;
    Ok(CartReply(StatusCode::OK, cart.set_codes(&owner, &request.codes).await?))
}

/// Put units of a variant in the cart; this holds them for the customer for a while
/// (`inventory.reservation_ttl_secs`). A guest without a token gets a new cart and its token.
#[utoipa::path(post, path = "/api/v1/cart/lines", tag = "cart",
    params(("X-Cart-Token" = Option<String>, Header, description = "Guest cart token")),
    request_body = AddLine,
    security((), ("bearer" = [])),
    responses(
        (status = 201, description = "The cart", body = CartView),
        (status = 409, description = "Not enough stock; `available` says how many can be had", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown variant or bad quantity", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_line(State(cart): State<Arc<Cart>>, owner: CartOwner, Json(add): Json<AddLine>) -> Result<CartReply, Error> {
    let quantity = parse_quantity(add.quantity).map_err(|e| Error::Validation(vec![e]))?;
    let owner = owner.resolve(&cart).await?;
    Ok(CartReply(
        StatusCode::CREATED,
        cart.add_line(&owner, add.variant_id, quantity).await?,
    ))
}

/// Change a line's quantity.
#[utoipa::path(patch, path = "/api/v1/cart/lines/{id}", tag = "cart",
    params(("id" = Uuid, Path, description = "Cart line id"), ("X-Cart-Token" = Option<String>, Header, description = "Guest cart token")),
    request_body = UpdateLine,
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The cart", body = CartView),
        (status = 404, description = "No such line in this cart", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not enough stock", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_line(
    State(cart): State<Arc<Cart>>,
    owner: CartOwner,
    Path(id): Path<Uuid>,
    Json(update): Json<UpdateLine>,
) -> Result<CartReply, Error> {
    let quantity = parse_quantity(update.quantity).map_err(|e| Error::Validation(vec![e]))?;
    let owner = owner.resolve(&cart).await?;
    Ok(CartReply(StatusCode::OK, cart.update_line(&owner, id, quantity).await?))
}

/// Take a line out of the cart; its stock is released.
#[utoipa::path(delete, path = "/api/v1/cart/lines/{id}", tag = "cart",
    params(("id" = Uuid, Path, description = "Cart line id"), ("X-Cart-Token" = Option<String>, Header, description = "Guest cart token")),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The cart", body = CartView),
        (status = 404, description = "No such line in this cart", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn remove_line(State(cart): State<Arc<Cart>>, owner: CartOwner, Path(id): Path<Uuid>) -> Result<CartReply, Error> {
    let owner = owner.resolve(&cart).await?;
    Ok(CartReply(StatusCode::OK, cart.remove_line(&owner, id).await?))
}

/// Internal API: what other Pola processes call through `client::HttpCart`. Not in the public
/// OpenAPI document; admitted only with the service token.
pub mod internal {
    use std::sync::Arc;

    use axum::extract::State;
    use pola_core::{Error, client::InternalCall, extract::Json};

    use crate::{
        Cart,
        client::{CartClient, CheckoutCart, CheckoutQuery},
    };

    pub async fn checkout_lines(
        State(cart): State<Arc<Cart>>,
        _: InternalCall,
        Json(query): Json<CheckoutQuery>,
    ) -> Result<Json<CheckoutCart>, Error> {
        Ok(Json(cart.checkout_lines(query.customer).await?))
    }

    pub async fn checked_out(
        State(cart): State<Arc<Cart>>,
        _: InternalCall,
        Json(query): Json<CheckoutQuery>,
    ) -> Result<Json<()>, Error> {
        Ok(Json(cart.remove_checked_out(query.customer, &query.lines).await?))
    }
}

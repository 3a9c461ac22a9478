//! Cart: one persistent cart per customer, guest carts behind a cart token, and stock held by an
//! inventory reservation for every line.

pub mod api;
pub mod client;
pub mod model;
pub mod store;

use std::{collections::HashMap, net::IpAddr, sync::Arc};

use pola_catalog::client::{CatalogClient, VariantInfo};
use pola_core::{Error, FieldError, Money, config::CartConfig};
use pola_inventory::{
    client::InventoryClient,
    model::{Hold, Holder, StockItem},
};
use sha2::{Digest, Sha256};
use sqlx::{MySqlPool, migrate::Migrator};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use pola_promotions::{
    client::{PriceRequest, PromotionsClient},
    pricing::{Destination, Item},
};

use crate::model::{
    CartLimits, CartLineView, CartView, Line, MAX_LINES, Saving, UnitPrice, check_codes, check_limits, merged_quantity,
};

/// The database this service owns: `<prefix>_cart`.
pub const SERVICE: &str = "cart";
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// Whose cart a request is about.
#[derive(Debug, Clone)]
pub enum Owner {
    Customer(Uuid),
    /// A guest, with the cart token they sent, if any, and the address they came from (the
    /// edge's `X-Forwarded-For`), if known.
    Guest {
        token: Option<String>,
        address: Option<IpAddr>,
    },
}

/// A cart located for a request, with a new guest token when one was just made.
struct Located {
    cart: Option<Uuid>,
    new_token: Option<String>,
}

/// The cart service.
pub struct Cart {
    pool: MySqlPool,
    catalog: Arc<dyn CatalogClient>,
    inventory: Arc<dyn InventoryClient>,
    promotions: Arc<dyn PromotionsClient>,
    config: CartConfig,
    /// Keys the hash that stands for a guest's address in holds.
    address_key: [u8; 32],
}

fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn new_token() -> String {
    pola_core::token::random::<32>("ct")
}

/// A variant as pricing takes it.
pub fn price_item(info: &VariantInfo, quantity: u32) -> Item {
    Item {
        variant_id: info.id,
        product_id: info.product_id,
        category_id: Some(info.category_id),
        unit_price_minor: info.price.amount_minor,
        quantity,
        grams: i64::from(info.weight_grams),
    }
}

fn stock_items(info: &VariantInfo, quantity: u32) -> Vec<StockItem> {
    info.stock_items
        .iter()
        .map(|i| StockItem {
            variant_id: i.variant_id,
            quantity: i.quantity * quantity,
        })
        .collect()
}

impl Cart {
    /// `address_key` keys the hash of a guest's address that their holds carry (it must be the
    /// same in every process, so that holds from one address count together everywhere).
    pub fn new(
        pool: MySqlPool,
        catalog: Arc<dyn CatalogClient>,
        inventory: Arc<dyn InventoryClient>,
        promotions: Arc<dyn PromotionsClient>,
        config: CartConfig,
        address_key: [u8; 32],
    ) -> Arc<Self> {
        Arc::new(Self {
            pool,
            catalog,
            inventory,
            promotions,
            config,
            address_key,
        })
    }

    fn limits(&self, owner: &Owner) -> CartLimits {
        match owner {
            Owner::Customer(_) => CartLimits {
                max_per_variant: self.config.customer_max_per_variant,
                max_units: self.config.customer_max_units,
                guest: false,
            },
            Owner::Guest { .. } => CartLimits {
                max_per_variant: self.config.guest_max_per_variant,
                max_units: self.config.guest_max_units,
                guest: true,
            },
        }
    }

    /// The terms of a hold of `quantity` units for `owner`: a guest's count against their
    /// address's limits, and a large line holds its stock for a short time only.
    fn hold(&self, owner: &Owner, quantity: u32) -> Hold {
        let holder = match owner {
            Owner::Guest {
                address: Some(address), ..
            } => Some(Holder {
                key: self.address_holder(*address),
                max_per_variant: i64::from(self.config.address_max_per_variant),
                max_units: i64::from(self.config.address_max_units),
            }),
            _ => None,
        };
        Hold {
            holder,
            ttl_secs: (quantity > self.config.short_hold_above).then_some(self.config.short_hold_secs),
        }
    }

    /// A keyed hash of `address`: the same for every hold from it, and not the address.
    fn address_holder(&self, address: IpAddr) -> Uuid {
        let bytes = match address.to_canonical() {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        let digest = Sha256::new().chain_update(self.address_key).chain_update(bytes).finalize();
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        Uuid::from_bytes(key)
    }

    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    pub fn router(self: &Arc<Self>) -> OpenApiRouter {
        OpenApiRouter::new()
            .routes(routes!(api::get_cart))
            .routes(routes!(api::set_codes))
            .routes(routes!(api::add_line))
            .routes(routes!(api::update_line, api::remove_line))
            .routes(routes!(api::unit_prices))
            .route(
                "/internal/v1/cart/checkout-lines",
                axum::routing::post(api::internal::checkout_lines),
            )
            .route(
                "/internal/v1/cart/checked-out",
                axum::routing::post(api::internal::checked_out),
            )
            .with_state(self.clone())
    }

    /// Finds (or, with `create`, makes) the cart of `owner`. A customer who sends a guest cart
    /// token gets the guest cart merged into theirs.
    async fn locate(&self, owner: &Owner, create: bool) -> Result<Located, Error> {
        match owner {
            Owner::Customer(customer) => {
                let cart = match create {
                    true => Some(store::customer_cart(&self.pool, *customer).await?),
                    false => store::find_customer_cart(&self.pool, *customer).await?,
                };
                Ok(Located { cart, new_token: None })
            }
            Owner::Guest { token: Some(token), .. } => {
                if let Some(cart) = store::guest_cart(&self.pool, &hash_token(token)).await? {
                    return Ok(Located {
                        cart: Some(cart),
                        new_token: None,
                    });
                }
                // An unknown or merged token: start afresh rather than fail the shopper.
                self.new_guest_cart(create).await
            }
            Owner::Guest { token: None, .. } => self.new_guest_cart(create).await,
        }
    }

    async fn new_guest_cart(&self, create: bool) -> Result<Located, Error> {
        if !create {
            return Ok(Located {
                cart: None,
                new_token: None,
            });
        }
        let token = new_token();
        let cart = store::create_guest_cart(&self.pool, &hash_token(&token)).await?;
        Ok(Located {
            cart: Some(cart),
            new_token: Some(token),
        })
    }

    /// Merges the guest cart behind `token` into `customer`'s cart, once: the guest cart is gone
    /// afterwards. A line whose merged quantity cannot be reserved keeps the customer's quantity.
    pub async fn merge_guest(&self, customer: Uuid, token: &str) -> Result<(), Error> {
        let Some(guest) = store::guest_cart(&self.pool, &hash_token(token)).await? else {
            return Ok(());
        };
        let target = store::customer_cart(&self.pool, customer).await?;
        let mut tx = self.pool.begin().await?;
        // Lock both carts in id order, so that two merges cannot deadlock each other.
        let (first, second) = if guest < target { (guest, target) } else { (target, guest) };
        store::lock_cart(&mut tx, first).await?;
        store::lock_cart(&mut tx, second).await?;
        let guest_lines = store::lines(&mut *tx, guest).await?;
        let mine: HashMap<Uuid, Line> = store::lines(&mut *tx, target)
            .await?
            .into_iter()
            .map(|l| (l.variant_id, l))
            .collect();
        let ids: Vec<Uuid> = guest_lines.iter().map(|l| l.variant_id).collect();
        let infos = self.catalog.variants(&ids).await?;
        let owner = Owner::Customer(customer);
        let limit = self.limits(&owner).max_per_variant;
        for line in &guest_lines {
            match (mine.get(&line.variant_id), infos.get(&line.variant_id)) {
                (Some(existing), Some(info)) => {
                    let quantity = merged_quantity(existing.quantity, line.quantity).min(limit);
                    self.inventory.release(line.id).await?;
                    let hold = self.hold(&owner, quantity);
                    match self.inventory.reserve(existing.id, &stock_items(info, quantity), &hold).await {
                        Ok(()) => store::upsert_line(&mut tx, target, Line { quantity, ..*existing }).await?,
                        Err(Error::Conflict { .. }) => {
                            tracing::info!(cart.id = %target, variant.id = %line.variant_id, "merged quantity not in stock; kept the customer's");
                        }
                        Err(e) => return Err(e),
                    }
                }
                _ => store::move_line(&mut tx, line.id, target).await?,
            }
        }
        let mut codes = store::codes(&mut *tx, target).await?;
        codes.extend(store::codes(&mut *tx, guest).await?);
        if let Ok(codes) = check_codes(&codes) {
            store::set_codes(&mut *tx, target, &codes).await?;
        }
        store::delete_cart(&mut tx, guest).await?;
        tx.commit().await?;
        tracing::info!(cart.id = %target, lines.merged = guest_lines.len(), "guest cart merged");
        Ok(())
    }

    /// What one unit of each of `variants` (those on sale) costs `customer` (None: a guest)
    /// now, before any code: each priced alone, as the pricing step would in a cart.
    pub async fn unit_prices(&self, customer: Option<Uuid>, variants: &[Uuid]) -> Result<Vec<UnitPrice>, Error> {
        let infos = self.catalog.variants(variants).await?;
        let sold: Vec<&VariantInfo> = variants
            .iter()
            .filter_map(|v| infos.get(v))
            .filter(|i| i.purchasable)
            .collect();
        let items: Vec<Item> = sold.iter().map(|info| price_item(info, 1)).collect();
        let priced = self.promotions.price_alone(customer, &items).await?;
        if priced.len() != items.len() {
            return Err(Error::Internal(anyhow::anyhow!(
                "promotions priced {} of {} variants",
                priced.len(),
                items.len()
            )));
        }
        Ok(sold
            .into_iter()
            .zip(priced)
            .map(|(info, priced)| {
                let because = priced
                    .adjustments
                    .iter()
                    .filter_map(|a| {
                        let share = a.lines.iter().find(|l| l.variant_id == info.id)?;
                        Some(Saving {
                            promotion: a.label.clone(),
                            amount: share.amount,
                        })
                    })
                    .collect();
                UnitPrice {
                    variant_id: info.id,
                    price: info.price,
                    pays: priced.lines.first().map_or(info.price, |l| l.total),
                    because,
                }
            })
            .collect())
    }

    /// The cart as the customer sees it, priced now: promotions, its codes, and the delivery
    /// charge to `destination` when one is given. Lines no longer sold are shown, not priced.
    async fn view(&self, owner: &Owner, located: Located, destination: Option<Destination>) -> Result<CartView, Error> {
        let Some(cart) = located.cart else {
            return Ok(CartView::empty());
        };
        let lines = store::lines(&self.pool, cart).await?;
        let codes = store::codes(&self.pool, cart).await?;
        let ids: Vec<Uuid> = lines.iter().map(|l| l.variant_id).collect();
        let infos = self.catalog.variants(&ids).await?;
        let sold: Vec<(&Line, &VariantInfo)> = lines
            .iter()
            .filter_map(|line| Some((line, infos.get(&line.variant_id)?)))
            .collect();
        let request = PriceRequest {
            customer: match owner {
                Owner::Customer(id) => Some(*id),
                Owner::Guest { .. } => None,
            },
            items: sold
                .iter()
                .filter(|(_, info)| info.purchasable)
                .map(|(line, info)| price_item(info, line.quantity))
                .collect(),
            codes: codes.clone(),
            destination: destination.filter(|_| !sold.is_empty()),
            at: None,
        };
        let priced = self.promotions.price(&request).await?;
        let views: Vec<CartLineView> = sold
            .iter()
            .filter_map(|(line, info)| {
                let priced_line = priced
                    .lines
                    .iter()
                    .find(|p| p.variant_id == line.variant_id && info.purchasable);
                Some(CartLineView {
                    id: line.id,
                    variant_id: line.variant_id,
                    product_id: info.product_id,
                    sku: info.sku.clone(),
                    title: info.title.clone(),
                    quantity: line.quantity,
                    unit_price: info.price,
                    line_total: info.price.times(line.quantity)?,
                    discount: priced_line.map_or(Money::lkr(0), |p| p.discount),
                    vat: priced_line.map_or(Money::lkr(0), |p| p.vat),
                    purchasable: info.purchasable,
                })
            })
            .collect();
        Ok(CartView {
            id: Some(cart),
            lines: views,
            codes,
            subtotal: priced.subtotal,
            adjustments: priced.adjustments,
            delivery_charge: priced.delivery,
            delivery_fee: priced.delivery_fee,
            vat: Some(priced.vat),
            total: priced.total,
            rejected_codes: priced.rejected_codes,
            cart_token: located.new_token,
        })
    }

    /// The cart priced with the delivery charge to `destination`.
    pub async fn quote(&self, owner: &Owner, destination: Destination) -> Result<CartView, Error> {
        let located = self.locate(owner, false).await?;
        self.view(owner, located, Some(destination)).await
    }

    /// Replaces the cart's promotion codes (at most `MAX_CODES`); codes that do not apply are
    /// kept and listed under `rejected_codes` with the reason.
    pub async fn set_codes(&self, owner: &Owner, codes: &[String]) -> Result<CartView, Error> {
        let codes = check_codes(codes).map_err(Error::Validation)?;
        let located = self.locate(owner, true).await?;
        let cart = located
            .cart
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("a cart was to be created")))?;
        store::set_codes(&self.pool, cart, &codes).await?;
        self.view(owner, located, None).await
    }

    async fn purchasable(&self, variant: Uuid) -> Result<VariantInfo, Error> {
        let info = self
            .catalog
            .variants(&[variant])
            .await?
            .remove(&variant)
            .ok_or_else(|| Error::field("variant_id", "no such variant"))?;
        if !info.purchasable {
            return Err(Error::field("variant_id", "is no longer sold"));
        }
        Ok(info)
    }

    /// Reserves stock for `quantity` units on the line's reservation, on `owner`'s terms; on
    /// shortage the 409 says how many units of this variant could be had.
    async fn reserve(&self, owner: &Owner, line: Uuid, info: &VariantInfo, quantity: u32) -> Result<(), Error> {
        let hold = self.hold(owner, quantity);
        match self.inventory.reserve(line, &stock_items(info, quantity), &hold).await {
            Err(Error::Conflict { code, detail, mut extra }) => {
                let available = extra
                    .get("shortages")
                    .and_then(|s| s.as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|s| {
                        let variant: Uuid = s.get("variant_id")?.as_str()?.parse().ok()?;
                        let per_unit = info.stock_items.iter().find(|i| i.variant_id == variant)?.quantity;
                        Some(s.get("available")?.as_i64()? / i64::from(per_unit.max(1)))
                    })
                    .min()
                    .unwrap_or(0);
                extra.insert("available".into(), available.into());
                let detail = if info.stock_items.len() == 1 {
                    format!("Only {available} of {} can be had right now.", info.sku)
                } else {
                    detail
                };
                Err(Error::Conflict { code, detail, extra })
            }
            other => other,
        }
    }

    pub async fn get(&self, owner: &Owner) -> Result<CartView, Error> {
        let located = self.locate(owner, false).await?;
        self.view(owner, located, None).await
    }

    /// Adds units of a variant (to its line, if the cart has one).
    pub async fn add_line(&self, owner: &Owner, variant: Uuid, quantity: u32) -> Result<CartView, Error> {
        let info = self.purchasable(variant).await?;
        let located = self.locate(owner, true).await?;
        let cart = located
            .cart
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("cart was not created")))?;
        let mut tx = self.pool.begin().await?;
        store::lock_cart(&mut tx, cart).await?;
        let lines = store::lines(&mut *tx, cart).await?;
        let existing = lines.iter().find(|l| l.variant_id == variant).copied();
        if existing.is_none() && lines.len() >= MAX_LINES {
            return Err(Error::conflict(
                "cart-full",
                format!("A cart holds at most {MAX_LINES} lines."),
            ));
        }
        let line = match existing {
            Some(line) => {
                let total = line.quantity + quantity;
                if total > model::MAX_LINE_QUANTITY {
                    return Err(Error::Validation(vec![FieldError::new(
                        "quantity",
                        format!(
                            "the cart would hold {total}; at most {} of one variant",
                            model::MAX_LINE_QUANTITY
                        ),
                    )]));
                }
                Line { quantity: total, ..line }
            }
            None => Line {
                id: pola_core::new_id(),
                variant_id: variant,
                quantity,
            },
        };
        let after: Vec<Line> = lines.iter().filter(|l| l.id != line.id).copied().chain([line]).collect();
        check_limits(&self.limits(owner), &after)?;
        self.reserve(owner, line.id, &info, line.quantity).await?;
        store::upsert_line(&mut tx, cart, line).await?;
        tx.commit().await?;
        self.view(owner, located, None).await
    }

    /// Sets a line's quantity.
    pub async fn update_line(&self, owner: &Owner, line_id: Uuid, quantity: u32) -> Result<CartView, Error> {
        let located = self.locate(owner, false).await?;
        let cart = located.cart.ok_or_else(|| Error::not_found("No such cart line."))?;
        let mut tx = self.pool.begin().await?;
        store::lock_cart(&mut tx, cart).await?;
        let lines = store::lines(&mut *tx, cart).await?;
        let line = lines
            .iter()
            .find(|l| l.id == line_id)
            .copied()
            .ok_or_else(|| Error::not_found("No such cart line."))?;
        let after: Vec<Line> = lines
            .iter()
            .map(|l| if l.id == line_id { Line { quantity, ..*l } } else { *l })
            .collect();
        check_limits(&self.limits(owner), &after)?;
        let info = self.purchasable(line.variant_id).await?;
        self.reserve(owner, line.id, &info, quantity).await?;
        store::upsert_line(&mut tx, cart, Line { quantity, ..line }).await?;
        tx.commit().await?;
        self.view(owner, located, None).await
    }

    /// Removes a line and gives its stock back.
    pub async fn remove_line(&self, owner: &Owner, line_id: Uuid) -> Result<CartView, Error> {
        let located = self.locate(owner, false).await?;
        let cart = located.cart.ok_or_else(|| Error::not_found("No such cart line."))?;
        let mut tx = self.pool.begin().await?;
        store::lock_cart(&mut tx, cart).await?;
        if !store::lines(&mut *tx, cart).await?.iter().any(|l| l.id == line_id) {
            return Err(Error::not_found("No such cart line."));
        }
        store::delete_lines(&mut tx, cart, &[line_id]).await?;
        tx.commit().await?;
        self.inventory.release(line_id).await?;
        self.view(owner, located, None).await
    }
}

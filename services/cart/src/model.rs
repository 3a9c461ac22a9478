//! Cart types and rules, without I/O.

use pola_core::{FieldError, Money};
use pola_promotions::pricing::{Adjustment, DeliveryQuote, RejectedCode, Vat};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Most units of one variant in a cart.
pub const MAX_LINE_QUANTITY: u32 = 100;
/// Most lines in a cart.
pub const MAX_LINES: usize = 100;

/// `POST /api/v1/cart/lines`
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"variant_id": "0193a6c2-1f7e-7c3a-9d51-2f1e4b5a6c7d", "quantity": 2}))]
pub struct AddLine {
    pub variant_id: Uuid,
    /// 1 to 100; added to what the cart already has of this variant.
    pub quantity: i64,
}

/// `PATCH /api/v1/cart/lines/{id}`
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"quantity": 3}))]
pub struct UpdateLine {
    /// The new quantity, 1 to 100.
    pub quantity: i64,
}

/// A quantity as the client sent it, checked.
pub fn parse_quantity(raw: i64) -> Result<u32, FieldError> {
    u32::try_from(raw)
        .ok()
        .filter(|q| (1..=MAX_LINE_QUANTITY).contains(q))
        .ok_or_else(|| FieldError::new("quantity", format!("must be between 1 and {MAX_LINE_QUANTITY}")))
}

/// A cart line as the customer sees it, at today's price.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CartLineView {
    pub id: Uuid,
    pub variant_id: Uuid,
    /// The product the variant is of (its page: `/api/v1/catalog/products/{product_id}`).
    pub product_id: Uuid,
    pub sku: String,
    pub title: String,
    pub quantity: u32,
    pub unit_price: Money,
    pub line_total: Money,
    /// Negative: what promotions take off this line.
    pub discount: Money,
    /// The VAT inside what the line costs after its discount.
    pub vat: Money,
    /// False when the product was archived since it was added; checkout refuses it.
    pub purchasable: bool,
}

/// A cart.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"id": "0193a6c2-1f7e-7c3a-9d51-2f1e4b5a6c7d", "lines": [], "total": {"amount_minor": 0, "currency": "LKR"}}))]
pub struct CartView {
    /// Absent for a guest who has not added anything yet.
    pub id: Option<Uuid>,
    pub lines: Vec<CartLineView>,
    /// Promotion codes typed, upper case.
    pub codes: Vec<String>,
    /// Catalogue prices × quantities of the lines still sold.
    pub subtotal: Money,
    /// Every change to the price, and why: promotions, codes, free delivery. Negative: money off.
    pub adjustments: Vec<Adjustment>,
    /// The delivery charge, when a district was given (`GET /api/v1/cart?district=`).
    pub delivery_charge: Option<DeliveryQuote>,
    /// The delivery fee (before any free-delivery adjustment) and any cash-on-delivery surcharge.
    pub delivery_fee: Money,
    /// The VAT inside the total.
    pub vat: Option<Vat>,
    /// What checking out now would cost: `subtotal + Σ adjustments + delivery_fee`.
    pub total: Money,
    /// Codes that do not apply, and why (`reason`: `expired`, `used-up`, `min-spend-not-met`, …).
    pub rejected_codes: Vec<RejectedCode>,
    /// For guests: send it back as `X-Cart-Token` on later cart calls, and once after signing
    /// in to merge this cart into the customer's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cart_token: Option<String>,
}

impl CartView {
    /// No cart yet.
    pub fn empty() -> Self {
        Self {
            id: None,
            lines: vec![],
            codes: vec![],
            subtotal: Money::lkr(0),
            adjustments: vec![],
            delivery_charge: None,
            delivery_fee: Money::lkr(0),
            vat: None,
            total: Money::lkr(0),
            rejected_codes: vec![],
            cart_token: None,
        }
    }
}

/// Most codes a cart or an order takes.
pub const MAX_CODES: usize = 5;

/// The codes as kept (trimmed, upper case, each once), or what is wrong with them.
pub fn check_codes(codes: &[String]) -> Result<Vec<String>, Vec<FieldError>> {
    let mut kept: Vec<String> = vec![];
    for (i, code) in codes.iter().enumerate() {
        let code = pola_promotions::pricing::normalize_code(code);
        if code.is_empty() || code.len() > 40 || !code.chars().all(|c| c.is_ascii_graphic()) {
            return Err(vec![FieldError::new(
                format!("codes[{i}]"),
                "must be 1 to 40 letters, digits, - or _",
            )]);
        }
        if !kept.contains(&code) {
            kept.push(code);
        }
    }
    if kept.len() > MAX_CODES {
        return Err(vec![FieldError::new("codes", format!("at most {MAX_CODES} codes"))]);
    }
    Ok(kept)
}

/// `PUT /api/v1/cart/codes`
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"codes": ["AVURUDU25"]}))]
pub struct SetCodes {
    pub codes: Vec<String>,
}

/// Where the cart would go, for its delivery charge.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CartQuery {
    /// One of Sri Lanka's 25 districts (any common spelling).
    pub district: Option<String>,
    /// Paying on delivery adds the cash-on-delivery surcharge.
    #[serde(default)]
    pub cash_on_delivery: bool,
}

/// A stored line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct Line {
    pub id: Uuid,
    pub variant_id: Uuid,
    #[sqlx(try_from = "i32")]
    pub quantity: u32,
}

/// The quantity two lines of the same variant merge into, capped at the line maximum.
pub fn merged_quantity(a: u32, b: u32) -> u32 {
    a.saturating_add(b).min(MAX_LINE_QUANTITY)
}

/// What one cart may hold at once (`cart` in the configuration): less for a guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CartLimits {
    pub max_per_variant: u32,
    pub max_units: u32,
    /// Whether signing in would raise the limits (the refusal says so).
    pub guest: bool,
}

/// Checks the cart's lines, as they would be after a change, against its limits.
pub fn check_limits(limits: &CartLimits, lines: &[Line]) -> Result<(), pola_core::Error> {
    let hint = if limits.guest { " Sign in to hold more." } else { "" };
    let over = |detail: String| {
        let mut extra = serde_json::Map::new();
        extra.insert("max_per_variant".into(), limits.max_per_variant.into());
        extra.insert("max_units".into(), limits.max_units.into());
        pola_core::Error::Conflict {
            code: "cart-limit".into(),
            detail: format!("{detail}{hint}"),
            extra,
        }
    };
    if lines.iter().any(|l| l.quantity > limits.max_per_variant) {
        return Err(over(format!("A cart holds at most {} of one item.", limits.max_per_variant)));
    }
    if lines.iter().map(|l| u64::from(l.quantity)).sum::<u64>() > u64::from(limits.max_units) {
        return Err(over(format!("A cart holds at most {} items in all.", limits.max_units)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cart_may_hold_up_to_its_limits_of_one_variant_and_in_all() {
        let limits = CartLimits {
            max_per_variant: 10,
            max_units: 15,
            guest: true,
        };
        let line = |quantity| Line {
            id: Uuid::now_v7(),
            variant_id: Uuid::now_v7(),
            quantity,
        };
        assert!(check_limits(&limits, &[line(10), line(5)]).is_ok());
        let Err(pola_core::Error::Conflict { code, detail, .. }) = check_limits(&limits, &[line(11)]) else {
            panic!("over the limit of one variant");
        };
        assert_eq!(code, "cart-limit");
        assert!(
            detail.contains("at most 10 of one item") && detail.contains("Sign in"),
            "{detail}"
        );
        assert!(check_limits(&limits, &[line(10), line(6)]).is_err(), "over the limit in all");
    }

    #[test]
    fn quantities_outside_one_to_a_hundred_are_refused() {
        for bad in [0, -1, 101, i64::MAX, i64::MIN] {
            assert!(parse_quantity(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_quantity(100).ok(), Some(100));
    }

    #[test]
    fn merging_caps_at_the_line_maximum() {
        assert_eq!(merged_quantity(2, 3), 5);
        assert_eq!(merged_quantity(90, 30), MAX_LINE_QUANTITY);
    }
}

/// What one unit of a variant costs now, before any code, and why.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UnitPrice {
    pub variant_id: Uuid,
    /// The catalogue price.
    pub price: Money,
    /// What one unit costs with the promotions that apply to it on its own.
    pub pays: Money,
    /// Those promotions: each one's name and what it takes off (negative).
    pub because: Vec<Saving>,
}

/// What a promotion takes off.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Saving {
    /// The promotion's name.
    pub promotion: String,
    /// Negative: money off.
    pub amount: Money,
}

/// `?variants=…,…`: at most 20 variant ids, separated by commas.
#[derive(Debug, Deserialize, IntoParams)]
pub struct UnitPricesQuery {
    pub variants: String,
}

/// The most variants priced at once.
pub const MAX_PRICED: usize = 20;

impl UnitPricesQuery {
    pub fn variants(&self) -> Result<Vec<Uuid>, FieldError> {
        let ids: Result<Vec<Uuid>, _> = self.variants.split(',').map(|v| v.trim().parse()).collect();
        match ids {
            Ok(ids) if ids.len() <= MAX_PRICED => Ok(ids),
            Ok(_) => Err(FieldError::new("variants", "at most 20 variants")),
            Err(_) => Err(FieldError::new("variants", "must be variant ids separated by commas")),
        }
    }
}

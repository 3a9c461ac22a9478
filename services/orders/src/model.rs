//! Order types and rules, without I/O: the status machine, line pricing and request checks.

pub mod staff;

use std::fmt;

use chrono::{DateTime, Utc};
pub use pola_contracts::orders::{BriefItem, OrderBrief, Shipment, order_number};
use pola_core::{FieldError, Money};
use pola_promotions::{
    delivery::district,
    pricing::{Adjustment, DeliveryQuote, Vat},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    PendingPayment,
    Paid,
    /// Cash on delivery: accepted, to be paid to the courier.
    Confirmed,
    Packed,
    Shipped,
    Delivered,
    /// The courier could not deliver it; it goes out again or comes back.
    DeliveryFailed,
    /// Back in the warehouse after a failed delivery; its stock is on sale again.
    Returned,
    Cancelled,
    Refunded,
}

impl TryFrom<String> for OrderStatus {
    type Error = String;

    fn try_from(stored: String) -> Result<Self, String> {
        OrderStatus::parse(&stored).ok_or_else(|| format!("unknown order status `{stored}`"))
    }
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 10] = [
        OrderStatus::PendingPayment,
        OrderStatus::Paid,
        OrderStatus::Confirmed,
        OrderStatus::Packed,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::DeliveryFailed,
        OrderStatus::Returned,
        OrderStatus::Cancelled,
        OrderStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::Paid => "paid",
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::Packed => "packed",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::DeliveryFailed => "delivery_failed",
            OrderStatus::Returned => "returned",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Refunded => "refunded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The customer bought what is in it: paid, or accepted for cash on delivery, and neither
    /// cancelled, refunded nor returned since.
    pub fn is_purchase(self) -> bool {
        use OrderStatus::*;
        matches!(self, Paid | Confirmed | Packed | Shipped | Delivered | DeliveryFailed)
    }

    /// The statuses of a purchase, as stored.
    pub fn purchases() -> impl Iterator<Item = OrderStatus> {
        Self::ALL.into_iter().filter(|s| s.is_purchase())
    }

    /// The legal moves. Cancelling is only possible before payment or, for cash on delivery,
    /// before packing; after payment, money goes back by a refund. A failed delivery goes out
    /// again or comes back; cancelled and refunded are final.
    pub fn can_become(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, next),
            (PendingPayment, Paid | Confirmed | Cancelled)
                | (Confirmed, Packed | Cancelled)
                | (Paid, Packed | Refunded)
                | (Packed, Shipped | Refunded)
                | (Shipped, Delivered | DeliveryFailed | Refunded)
                | (DeliveryFailed, Shipped | Returned)
                | (Returned, Refunded)
                | (Delivered, Refunded)
        )
    }

    /// Whether moving from `self` to `next` puts the order's stock back on sale: the goods never
    /// left (cancelled, refunded before shipping) or came back (returned).
    pub fn returns_stock(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!((self, next), (_, Cancelled | Returned) | (Paid | Packed, Refunded))
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of a "buy now" checkout.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RequestedLine {
    pub variant_id: Uuid,
    /// 1 to 100.
    pub quantity: i64,
}

/// `POST /api/v1/orders`: `{}` checks out the cart; `{"lines": […]}` buys those lines now.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"lines": [{"variant_id": "0193a6c2-1f7e-7c3a-9d51-2f1e4b5a6c7d", "quantity": 1}],
    "delivery": {"recipient": "Nimal Perera", "phone": "077 123 4567", "line1": "12 Galle Road", "city": "Colombo 03", "postal_code": "00300"}}))]
pub struct PlaceOrder {
    pub lines: Option<Vec<RequestedLine>>,
    /// Where to deliver (none for services and pick-up). Stored sealed.
    pub delivery: Option<DeliveryAddress>,
    /// Promotion codes (case does not matter). None: the cart's codes when buying the cart.
    /// A code that does not apply refuses the order (409 `promotion-unavailable`, naming it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codes: Option<Vec<String>>,
    /// To be paid on delivery: the cash-on-delivery surcharge is part of the total.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cash_on_delivery: bool,
    /// A business buying: its name and VAT number go on the order's tax invoice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business: Option<Business>,
}

/// A business customer, as its tax invoice names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Lanka Tea Traders (Pvt) Ltd", "vat_number": "134567891-7000"}))]
pub struct Business {
    pub name: String,
    /// Sri Lankan VAT registration number: nine digits and `-7000`.
    pub vat_number: String,
}

impl Business {
    /// The business with its name trimmed and VAT number as `123456789-7000`, or what is wrong.
    pub fn check(self) -> Result<Self, Vec<FieldError>> {
        let mut errors = vec![];
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 120 || name.chars().any(char::is_control) {
            errors.push(FieldError::new("business.name", "must be 1 to 120 characters"));
        }
        let digits: String = self.vat_number.chars().filter(char::is_ascii_digit).collect();
        let vat_number = match (digits.len(), digits.strip_suffix("7000")) {
            (13, Some(tin)) if self.vat_number.chars().all(|c| c.is_ascii_digit() || c == '-' || c == ' ') => {
                format!("{tin}-7000")
            }
            _ => {
                errors.push(FieldError::new(
                    "business.vat_number",
                    "must be a VAT number: nine digits and -7000",
                ));
                String::new()
            }
        };
        if errors.is_empty() {
            Ok(Self { name, vat_number })
        } else {
            Err(errors)
        }
    }
}

/// A tax invoice, as the Inland Revenue asks of a VAT-registered seller: both parties' names,
/// addresses and VAT numbers, the value of each supply without VAT, the VAT and the total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TaxInvoice {
    /// Always `Tax Invoice`.
    pub title: String,
    pub invoice_number: String,
    /// The order's date in Colombo.
    pub date: chrono::NaiveDate,
    pub supplier: InvoiceParty,
    pub purchaser: InvoiceParty,
    pub lines: Vec<InvoiceLine>,
    pub vat_rate_percent: String,
    pub value_excluding_vat: Money,
    pub vat: Money,
    pub total: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct InvoiceParty {
    pub name: String,
    pub vat_number: String,
    pub address: String,
}

/// A supply on the invoice: goods after their discounts, or delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct InvoiceLine {
    pub description: String,
    pub quantity: u32,
    pub value_excluding_vat: Money,
    pub vat: Money,
    pub total: Money,
}

impl TaxInvoice {
    /// The invoice of `order`, or why there is none: no business named, or no VAT kept.
    pub fn of(order: &Order, seller: &pola_core::config::TaxConfig) -> Result<Self, &'static str> {
        let business = order
            .pricing
            .business
            .as_ref()
            .ok_or("This order was not placed by a business with a VAT number.")?;
        let vat = order
            .pricing
            .vat
            .as_ref()
            .ok_or("This order was placed before Pola kept VAT.")?;
        let line = |description: String, quantity: u32, total: i64, vat: i64| InvoiceLine {
            description,
            quantity,
            value_excluding_vat: Money::lkr(total - vat),
            vat: Money::lkr(vat),
            total: Money::lkr(total),
        };
        let mut lines: Vec<InvoiceLine> = order
            .lines
            .iter()
            .map(|l| {
                let total = l.line_total.amount_minor + l.discount.amount_minor;
                line(l.title.clone(), l.quantity, total, l.vat.map_or(0, |v| v.amount_minor))
            })
            .collect();
        let goods: i64 = lines.iter().map(|l| l.total.amount_minor).sum();
        let delivery = order.total.amount_minor - goods;
        if delivery != 0 {
            lines.push(line("Delivery".into(), 1, delivery, vat.delivery.amount_minor));
        }
        let address = order
            .delivery
            .as_ref()
            .map(|d| {
                [Some(d.line1.as_str()), d.line2.as_deref(), Some(d.city.as_str())]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        Ok(Self {
            title: "Tax Invoice".into(),
            invoice_number: format!("INV-{}", order_number(order.id)),
            date: order
                .created_at
                .with_timezone(&pola_promotions::pricing::colombo())
                .date_naive(),
            supplier: InvoiceParty {
                name: seller.seller_name.clone(),
                vat_number: seller.seller_vat_number.clone(),
                address: seller.seller_address.clone(),
            },
            purchaser: InvoiceParty {
                name: business.name.clone(),
                vat_number: business.vat_number.clone(),
                address,
            },
            lines,
            vat_rate_percent: vat.rate_percent.clone(),
            value_excluding_vat: Money::lkr(order.total.amount_minor - vat.amount.amount_minor),
            vat: vat.amount,
            total: order.total,
        })
    }
}

/// A delivery address. Personal data: sealed at rest, never logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryAddress {
    pub recipient: String,
    /// Any common Sri Lankan spelling; kept in E.164.
    pub phone: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: Option<String>,
    /// One of Sri Lanka's 25 districts, in any common spelling; when absent, the city's name
    /// (`Colombo 03` is in Colombo). It prices delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
}

impl DeliveryAddress {
    /// The address with its phone in E.164, or what is wrong with it (never echoing it back).
    pub fn check(mut self) -> Result<Self, Vec<FieldError>> {
        let mut errors = vec![];
        let mut text = |field: &str, value: &mut String, max: usize| {
            *value = value.trim().to_owned();
            if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
                errors.push(FieldError::new(
                    format!("delivery.{field}"),
                    format!("must be 1 to {max} characters"),
                ));
            }
        };
        text("recipient", &mut self.recipient, 100);
        text("line1", &mut self.line1, 200);
        text("city", &mut self.city, 100);
        if let Some(line2) = &mut self.line2 {
            text("line2", line2, 200);
        }
        if let Some(code) = &mut self.postal_code {
            text("postal_code", code, 10);
        }
        match pola_pii::normalize::phone(&self.phone) {
            Some(e164) => self.phone = e164,
            None => errors.push(FieldError::new("delivery.phone", "must be a phone number, e.g. 077 123 4567")),
        }
        let named = self.district.as_deref().map(district);
        let from_city = || {
            district(
                self.city
                    .trim_end_matches(|c: char| c.is_ascii_digit() || c.is_whitespace() || c == '-'),
            )
        };
        match named {
            Some(Some(d)) => self.district = Some(d.to_owned()),
            Some(None) => errors.push(FieldError::new(
                "delivery.district",
                "must be one of Sri Lanka's 25 districts",
            )),
            None => match from_city() {
                Some(d) => self.district = Some(d.to_owned()),
                None => errors.push(FieldError::new(
                    "delivery.district",
                    "is needed: name one of Sri Lanka's 25 districts (the city alone does not say which)",
                )),
            },
        }
        if errors.is_empty() { Ok(self) } else { Err(errors) }
    }

    /// What staff see until they reveal it: the city, the rest masked.
    pub fn masked(&self) -> Self {
        use pola_pii::mask;
        Self {
            recipient: mask::name(&self.recipient),
            phone: mask::phone(&self.phone),
            line1: mask::hidden(&self.line1),
            line2: self.line2.as_deref().map(mask::hidden),
            city: self.city.clone(),
            postal_code: self.postal_code.clone(),
            district: self.district.clone(),
        }
    }
}

/// The order as a message to its customer tells it: what promotions took off (free delivery
/// shown on the delivery line instead), the items, the city, the parcel.
pub fn brief(customer: Uuid, order: &Order) -> OrderBrief {
    let pricing = &order.pricing;
    let free_delivery: i64 = pricing
        .adjustments
        .iter()
        .filter(|a| a.kind == pola_promotions::pricing::Kind::FreeDelivery)
        .map(|a| a.amount.amount_minor)
        .sum();
    let adjusted: i64 = pricing.adjustments.iter().map(|a| a.amount.amount_minor).sum();
    OrderBrief {
        id: order.id,
        customer,
        total_minor: order.total.amount_minor,
        savings_minor: adjusted - free_delivery,
        delivery_minor: pricing.delivery_fee.amount_minor + free_delivery,
        vat_minor: pricing.vat.as_ref().map(|v| v.amount.amount_minor),
        items: order
            .lines
            .iter()
            .map(|l| BriefItem {
                title: l.title.clone(),
                quantity: l.quantity,
            })
            .collect(),
        city: order.delivery.as_ref().map(|d| d.city.clone()),
        shipment: order.shipment.clone(),
        cash_on_delivery: order.history.iter().any(|h| h.to == OrderStatus::Confirmed),
    }
}

/// Most lines in one order.
pub const MAX_ORDER_LINES: usize = 50;

/// Checks explicit lines and merges repeats of a variant.
pub fn check_lines(lines: &[RequestedLine]) -> Result<Vec<(Uuid, u32)>, Vec<FieldError>> {
    let mut errors = vec![];
    if lines.is_empty() || lines.len() > MAX_ORDER_LINES {
        errors.push(FieldError::new("lines", format!("must have 1-{MAX_ORDER_LINES} lines")));
    }
    let mut merged: Vec<(Uuid, u32)> = vec![];
    for (i, line) in lines.iter().enumerate() {
        match u32::try_from(line.quantity).ok().filter(|q| (1..=100).contains(q)) {
            Some(q) => match merged.iter_mut().find(|(v, _)| *v == line.variant_id) {
                Some((_, total)) => *total += q,
                None => merged.push((line.variant_id, q)),
            },
            None => errors.push(FieldError::new(format!("lines[{i}].quantity"), "must be between 1 and 100")),
        }
    }
    if errors.is_empty() { Ok(merged) } else { Err(errors) }
}

/// An `Idempotency-Key`: 1-100 visible ASCII characters.
pub fn check_idempotency_key(key: &str) -> bool {
    (1..=100).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// A priced order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderLine {
    pub variant_id: Uuid,
    pub product_id: Uuid,
    pub sku: String,
    pub title: String,
    pub unit_price: Money,
    pub quantity: u32,
    pub line_total: Money,
    /// Negative: what promotions took off this line.
    pub discount: Money,
    /// The VAT inside what was paid for the line (absent on orders from before VAT was kept).
    pub vat: Option<Money>,
}

impl OrderLine {
    pub fn new(variant_id: Uuid, product_id: Uuid, sku: String, title: String, unit_price: Money, quantity: u32) -> Option<Self> {
        Some(Self {
            line_total: unit_price.times(quantity)?,
            variant_id,
            product_id,
            sku,
            title,
            unit_price,
            quantity,
            discount: Money::lkr(0),
            vat: None,
        })
    }
}

/// How an order was priced, as it was when placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Pricing {
    /// Promotion codes used, upper case.
    pub codes: Vec<String>,
    /// Every change to the price and why. Negative: money off.
    pub adjustments: Vec<Adjustment>,
    /// The delivery charge, for orders delivered.
    pub delivery_charge: Option<DeliveryQuote>,
    /// The delivery fee before any free-delivery adjustment, plus any cash-on-delivery surcharge.
    pub delivery_fee: Money,
    /// The VAT inside the total, at the rate of the order's day (absent on orders from before
    /// VAT was kept).
    pub vat: Option<Vat>,
    /// Placed to be paid on delivery.
    pub cash_on_delivery: bool,
    /// The business buying, for the tax invoice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business: Option<Business>,
}

impl Default for Pricing {
    fn default() -> Self {
        Self {
            codes: vec![],
            adjustments: vec![],
            delivery_charge: None,
            delivery_fee: Money::lkr(0),
            vat: None,
            cash_on_delivery: false,
            business: None,
        }
    }
}

/// The sum of the lines, or `None` on overflow.
pub fn subtotal(lines: &[OrderLine]) -> Option<Money> {
    lines.iter().try_fold(Money::lkr(0), |sum, l| sum.plus(l.line_total))
}

/// One status change.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatusChange {
    pub from: Option<OrderStatus>,
    pub to: OrderStatus,
    /// `customer`, `staff:<id>` or `system`.
    pub actor: String,
    pub at: DateTime<Utc>,
}

/// An order as its customer sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a6c2-1f7e-7c3a-9d51-2f1e4b5a6c7d",
    "status": "pending_payment",
    "lines": [{"variant_id": "0193a6c2-2a10-7b2e-8c11-5d9e0f1a2b3c", "product_id": "0193a6c2-29ff-7a01-9f00-1a2b3c4d5e6f",
               "sku": "TEA-00042-200G", "title": "Dimbula Pure Ceylon tea (Pure Ceylon, 200)",
               "unit_price": {"amount_minor": 120000, "currency": "LKR"}, "quantity": 2,
               "line_total": {"amount_minor": 240000, "currency": "LKR"}}],
    "subtotal": {"amount_minor": 240000, "currency": "LKR"},
    "total": {"amount_minor": 240000, "currency": "LKR"},
    "created_at": "2026-11-22T03:02:01.680907Z",
    "history": [{"from": null, "to": "pending_payment", "actor": "customer", "at": "2026-11-22T03:02:01.680907Z"}]
}))]
pub struct Order {
    pub id: Uuid,
    pub status: OrderStatus,
    pub lines: Vec<OrderLine>,
    pub subtotal: Money,
    pub total: Money,
    /// Where it goes: in full for its customer, masked for staff, absent once the customer's
    /// personal data was erased.
    pub delivery: Option<DeliveryAddress>,
    /// True when the customer was erased: the delivery address can no longer be read.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub personal_data_erased: bool,
    pub created_at: DateTime<Utc>,
    /// Courier and waybill, once shipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipment: Option<Shipment>,
    pub history: Vec<StatusChange>,
    /// `total = subtotal + Σ adjustments + delivery_fee`.
    #[serde(flatten)]
    pub pricing: Pricing,
}

/// The products of one order, for "customers also bought": no prices, no people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Basket {
    pub order_id: Uuid,
    pub placed_at: DateTime<Utc>,
    /// Its status is a purchase (see `OrderStatus::is_purchase`).
    pub bought: bool,
    /// Each product once, in line order.
    pub products: Vec<Uuid>,
}

/// A line of the order history.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct OrderSummary {
    pub id: Uuid,
    #[sqlx(try_from = "String")]
    pub status: OrderStatus,
    #[sqlx(rename = "total_minor", try_from = "i64")]
    pub total: Money,
    pub item_count: i64,
    pub created_at: DateTime<Utc>,
}

/// What moving an order along found. Moving it where it is already is not an error: callers
/// that retry (a payment notification sent twice, a courier's status read again) see `Already`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Moved {
    /// It moved, from `from`.
    Done { from: OrderStatus },
    /// It was there already.
    Already,
    /// That move is not legal from `from`.
    Illegal { from: OrderStatus },
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

    #[test]
    fn the_happy_path_is_legal_and_going_back_is_not() {
        for pair in [PendingPayment, Paid, Packed, Shipped, Delivered].windows(2) {
            assert!(pair[0].can_become(pair[1]), "{} -> {}", pair[0], pair[1]);
            assert!(!pair[1].can_become(pair[0]), "{} -> {}", pair[1], pair[0]);
        }
    }

    #[test]
    fn cash_on_delivery_goes_the_same_way_from_confirmed() {
        for pair in [PendingPayment, Confirmed, Packed, Shipped, Delivered].windows(2) {
            assert!(pair[0].can_become(pair[1]), "{} -> {}", pair[0], pair[1]);
        }
        assert!(!Confirmed.can_become(Refunded), "nothing was paid to refund");
    }

    #[test]
    fn only_unpaid_orders_cancel_and_final_states_stay_final() {
        assert!(PendingPayment.can_become(Cancelled) && Confirmed.can_become(Cancelled));
        for s in [
            Paid,
            Packed,
            Shipped,
            Delivered,
            DeliveryFailed,
            Returned,
            Refunded,
            Cancelled,
        ] {
            assert!(!s.can_become(Cancelled), "{s}");
        }
        for s in OrderStatus::ALL {
            assert!(!Cancelled.can_become(s) && !Refunded.can_become(s), "{s}");
        }
    }

    #[test]
    fn a_failed_delivery_goes_out_again_or_comes_back_with_its_stock() {
        assert!(Shipped.can_become(DeliveryFailed));
        assert!(DeliveryFailed.can_become(Shipped) && DeliveryFailed.can_become(Returned));
        assert!(!DeliveryFailed.can_become(Delivered) && !DeliveryFailed.can_become(Refunded));
        assert!(DeliveryFailed.returns_stock(Returned) && Returned.can_become(Refunded));
        assert!(!Returned.returns_stock(Refunded), "it came back already");
        assert!(Paid.returns_stock(Refunded) && !Shipped.returns_stock(Refunded) && !Delivered.returns_stock(Refunded));
    }

    #[test]
    fn lines_merge_repeats_and_refuse_bad_quantities() {
        let v = Uuid::now_v7();
        let lines = [
            RequestedLine {
                variant_id: v,
                quantity: 2,
            },
            RequestedLine {
                variant_id: v,
                quantity: 3,
            },
        ];
        assert_eq!(check_lines(&lines).expect("valid"), [(v, 5)]);
        let bad = [
            RequestedLine {
                variant_id: v,
                quantity: 0,
            },
            RequestedLine {
                variant_id: v,
                quantity: -4,
            },
        ];
        assert_eq!(check_lines(&bad).expect_err("invalid").len(), 2);
        assert!(check_lines(&[]).is_err());
    }

    #[test]
    fn idempotency_keys_are_short_visible_ascii() {
        assert!(check_idempotency_key("3f2a-checkout-1"));
        assert!(!check_idempotency_key(""));
        assert!(!check_idempotency_key("has space"));
        assert!(!check_idempotency_key(&"k".repeat(101)));
    }
}

/// `order.placed`, `order.paid`, `order.confirmed`, `order.packed`, `order.shipped`,
/// `order.delivered`, `order.delivery_failed`, `order.returned`, `order.cancelled`,
/// `order.refunded`: an order was placed or changed status. Ids and amounts
/// only; a consumer that needs the delivery address asks orders for it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderEvent {
    pub order_id: Uuid,
    pub customer_id: Uuid,
    pub status: OrderStatus,
    /// None when the order was just placed.
    pub from: Option<OrderStatus>,
    pub total_minor: i64,
    pub currency: String,
}

impl pola_core::events::Event for OrderEvent {
    fn kind(&self) -> &'static str {
        match (self.from, self.status) {
            (None, _) => "order.placed",
            (_, OrderStatus::PendingPayment) => "order.pending_payment",
            (_, OrderStatus::Paid) => "order.paid",
            (_, OrderStatus::Confirmed) => "order.confirmed",
            (_, OrderStatus::Packed) => "order.packed",
            (_, OrderStatus::Shipped) => "order.shipped",
            (_, OrderStatus::Delivered) => "order.delivered",
            (_, OrderStatus::DeliveryFailed) => "order.delivery_failed",
            (_, OrderStatus::Returned) => "order.returned",
            (_, OrderStatus::Cancelled) => "order.cancelled",
            (_, OrderStatus::Refunded) => "order.refunded",
        }
    }
}

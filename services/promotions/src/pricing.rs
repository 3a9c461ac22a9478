//! The one pricing step: catalogue prices → catalogue promotions → membership benefits → cart
//! promotions and codes → delivery fee → total, with the VAT in it shown. No I/O: the caller
//! brings the items, the customer's groups, the codes typed, the promotions that could apply
//! (with what their limits have left), the VAT rates and the delivery rules.
//!
//! How promotions combine, written down once:
//!
//! - Candidates are taken by `priority` (highest first; then automatic before codes, then the
//!   older promotion). An `exclusive` one is taken only if nothing was taken before it, and then
//!   nothing after it is; whatever is left out says which promotion it does not combine with.
//! - Taken promotions apply in stages: per-item discounts, bundle prices and buy-X-get-Y first
//!   (catalogue promotions, then those for a customer group: member prices), then discounts off
//!   the order, then delivery. Each works on the prices the stages before it left, so a
//!   minimum spend is checked against what the customer would pay at that point: a threshold
//!   crossed by an earlier discount no longer holds.
//! - Percentages are of a line's (or the order's) current amount, rounded half up; an order
//!   discount is split across the lines it covers by largest remainder (`money`), so the lines'
//!   discounts add up to the adjustment to the cent. No line goes below zero.
//! - Delivery is free by a free-delivery promotion or from the threshold of the delivery rules
//!   (on the goods after discounts); either shows as a `free_delivery` adjustment of minus the
//!   fee. The cash-on-delivery surcharge is never waived.
//! - VAT is inside the prices: the portion at the rate in force on the pricing date (Colombo
//!   time) of the goods after discounts and of the delivery charge, split across the lines by
//!   largest remainder.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use pola_core::Money;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    delivery::{self, DeliveryRules, NoQuote},
    money::{allocate, percent_of},
    vat::{VatRate, rate_on, vat_lines},
};

/// Sri Lanka's time: UTC+05:30 all year (no daylight saving since 2006).
pub fn colombo() -> FixedOffset {
    FixedOffset::east_opt(5 * 3600 + 30 * 60).expect("a valid offset")
}

/// The calendar date in Colombo at `at`.
pub fn colombo_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&colombo()).date_naive()
}

/// What a promotion does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `value` percent off each eligible item, or off the order.
    PercentOff,
    /// `value` rupees off each eligible unit, or off the order.
    AmountOff,
    /// The delivery fee waived (not the cash-on-delivery surcharge).
    FreeDelivery,
    /// Buy `buy_quantity` eligible units, get `get_quantity` (of `get_product_ids`, else of the
    /// same eligible ones) at `value` percent off (100: free), cheapest first, up to
    /// `max_applications` times.
    BuyXGetY,
    /// Any `bundle_quantity` eligible units together for `value` rupees (dearest grouped first),
    /// up to `max_applications` times.
    SetPrice,
}

pola_core::stored_as_text!(Kind {
    PercentOff => "percent_off",
    AmountOff => "amount_off",
    FreeDelivery => "free_delivery",
    BuyXGetY => "buy_x_get_y",
    SetPrice => "set_price",
});

/// Whether a percentage or an amount is taken off each item or off the order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppliesTo {
    #[default]
    Item,
    Order,
}

pola_core::stored_as_text!(AppliesTo {
    Item => "item",
    Order => "order",
});

/// Who and what a promotion is for. Empty lists mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Eligibility {
    pub product_ids: Vec<Uuid>,
    pub category_ids: Vec<Uuid>,
    /// Of the eligible items, at the prices left by the stages before, in cents.
    pub min_spend_minor: Option<i64>,
    /// Eligible units in the cart.
    pub min_quantity: Option<u32>,
    /// Any of: `member` (any active plan), `plan:<slug>`, `first_order`, `staff`, or a group
    /// staff put customers in.
    pub customer_groups: Vec<String>,
    /// Delivery zones (`metro`, `island`, …) the order must go to.
    pub zones: Vec<String>,
}

/// A promotion as pricing sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    pub id: Uuid,
    pub name: String,
    pub kind: Kind,
    /// Basis points for percentages (2500 = 25%), cents for amounts and set prices.
    pub value: i64,
    pub applies_to: AppliesTo,
    pub eligibility: Eligibility,
    pub buy_quantity: u32,
    pub get_quantity: u32,
    pub get_product_ids: Vec<Uuid>,
    pub bundle_quantity: u32,
    pub max_applications: Option<u32>,
    pub priority: i32,
    pub exclusive: bool,
    pub active: bool,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
}

/// What a promotion's limits have left for this customer, as read before pricing (`None`: no
/// such limit). Checkout enforces them again, exactly, when it records the use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Left {
    pub uses: Option<i64>,
    pub budget_minor: Option<i64>,
    pub customer_uses: Option<i64>,
    pub code_uses: Option<i64>,
}

/// A promotion that may apply: automatic, or named by a code the customer typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub promotion: Promotion,
    /// The code as the shop knows it (upper case) when the offer came from one.
    pub code: Option<String>,
    pub left: Left,
}

/// An item to price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub variant_id: Uuid,
    pub product_id: Uuid,
    pub category_id: Option<Uuid>,
    pub unit_price_minor: i64,
    pub quantity: u32,
    /// Of one unit.
    pub grams: i64,
}

/// Where it goes, for the delivery fee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    pub district: String,
    pub cash_on_delivery: bool,
}

/// What is priced.
#[derive(Debug, Clone)]
pub struct Basket<'a> {
    pub items: &'a [Item],
    pub groups: &'a BTreeSet<String>,
    /// As typed; compared case-insensitively.
    pub codes: &'a [String],
    pub destination: Option<&'a Destination>,
    pub at: DateTime<Utc>,
}

/// What it is priced with.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    pub offers: &'a [Offer],
    pub vat: &'a [VatRate],
    pub delivery: &'a DeliveryRules,
}

/// Why a code did not apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    Unknown,
    NotStarted,
    Expired,
    Paused,
    UsedUp,
    CustomerLimitReached,
    BudgetExhausted,
    NotForThisCustomer,
    NoEligibleItems,
    MinSpendNotMet,
    MinQuantityNotMet,
    NotCombinable,
    NoDelivery,
    NotForThisDestination,
    Duplicate,
}

pola_core::stored_as_text!(Reason {
    Unknown => "unknown",
    NotStarted => "not-started",
    Expired => "expired",
    Paused => "paused",
    UsedUp => "used-up",
    CustomerLimitReached => "customer-limit-reached",
    BudgetExhausted => "budget-exhausted",
    NotForThisCustomer => "not-for-this-customer",
    NoEligibleItems => "no-eligible-items",
    MinSpendNotMet => "min-spend-not-met",
    MinQuantityNotMet => "min-quantity-not-met",
    NotCombinable => "not-combinable",
    NoDelivery => "no-delivery",
    NotForThisDestination => "not-for-this-destination",
    Duplicate => "duplicate",
});

/// A code that did not apply, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RejectedCode {
    pub code: String,
    pub reason: Reason,
    /// In words, for the customer.
    pub detail: String,
}

/// One line's share of an adjustment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LineShare {
    pub variant_id: Uuid,
    /// Negative: money off.
    pub amount: Money,
}

/// A change to the price, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Adjustment {
    pub kind: Kind,
    /// None for the delivery rules' own free-delivery threshold.
    pub promotion_id: Option<Uuid>,
    pub code: Option<String>,
    /// The promotion's name.
    pub label: String,
    /// Which rule matched, in words.
    pub rule: String,
    /// Negative: money off.
    pub amount: Money,
    /// The lines it changed (none for delivery).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<LineShare>,
}

/// A priced line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PricedLine {
    pub variant_id: Uuid,
    pub quantity: u32,
    pub unit_price: Money,
    /// Catalogue price × quantity.
    pub line_total: Money,
    /// Negative: what promotions took off this line.
    pub discount: Money,
    /// What the customer pays for the line.
    pub total: Money,
    /// The VAT inside `total`.
    pub vat: Money,
}

/// The delivery charge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryQuote {
    pub district: String,
    pub zone: String,
    /// Kilograms charged: the first, and each further one begun.
    pub kilograms: i64,
    /// The zone's fee before any free-delivery adjustment.
    pub fee: Money,
    pub cash_on_delivery_surcharge: Money,
}

/// The VAT inside the total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Vat {
    /// Percent, as text: `18`.
    pub rate_percent: String,
    pub rate_basis_points: u32,
    pub amount: Money,
    /// Of the delivery charge (the lines' shares are on the lines).
    pub delivery: Money,
}

/// A promotion used, for the record checkout writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Use {
    pub promotion_id: Uuid,
    pub code: Option<String>,
    /// The code has a limit of its own (a bulk code).
    #[serde(default)]
    pub code_limited: bool,
    /// Cents off (positive), the money its budget pays.
    pub amount_minor: i64,
}

/// The price of a basket, and why it is what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Priced {
    pub lines: Vec<PricedLine>,
    /// Catalogue prices × quantities.
    pub subtotal: Money,
    pub adjustments: Vec<Adjustment>,
    /// Absent without a destination.
    pub delivery: Option<DeliveryQuote>,
    /// The delivery charge (before a free-delivery adjustment) plus any cash-on-delivery
    /// surcharge.
    pub delivery_fee: Money,
    pub vat: Vat,
    /// `subtotal + Σ adjustments + delivery_fee`.
    pub total: Money,
    pub rejected_codes: Vec<RejectedCode>,
    /// The promotions used, one entry each: what checkout records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uses: Vec<Use>,
}

/// Why a basket cannot be priced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    #[error("`{0}` is not one of Sri Lanka's 25 districts")]
    UnknownDistrict(String),
    #[error("the shop does not deliver to {0}")]
    NoZone(&'static str),
    #[error("there is no VAT rate for {0}")]
    NoVatRate(NaiveDate),
    #[error("the amounts are too large")]
    Overflow,
}

/// The code as the shop keeps it: trimmed, upper case.
pub fn normalize_code(code: &str) -> String {
    code.trim().to_uppercase()
}

/// The eligibility and limit checks that do not depend on prices.
fn standing(offer: &Offer, groups: &BTreeSet<String>, zone: Option<&str>, at: DateTime<Utc>) -> Result<(), Reason> {
    let p = &offer.promotion;
    if !p.active {
        return Err(Reason::Paused);
    }
    if p.starts_at.is_some_and(|s| at < s) {
        return Err(Reason::NotStarted);
    }
    if p.ends_at.is_some_and(|e| at >= e) {
        return Err(Reason::Expired);
    }
    let wanted = &p.eligibility.customer_groups;
    if !wanted.is_empty() && !wanted.iter().any(|g| groups.contains(g)) {
        return Err(Reason::NotForThisCustomer);
    }
    let zones = &p.eligibility.zones;
    match zone {
        _ if zones.is_empty() => {}
        None => return Err(Reason::NoDelivery),
        Some(zone) if !zones.iter().any(|z| z == zone) => return Err(Reason::NotForThisDestination),
        Some(_) => {}
    }
    let left = offer.left;
    if left.uses.is_some_and(|n| n <= 0) || left.code_uses.is_some_and(|n| n <= 0) {
        return Err(Reason::UsedUp);
    }
    if left.customer_uses.is_some_and(|n| n <= 0) {
        return Err(Reason::CustomerLimitReached);
    }
    if left.budget_minor.is_some_and(|n| n <= 0) {
        return Err(Reason::BudgetExhausted);
    }
    Ok(())
}

fn eligible(p: &Promotion, item: &Item) -> bool {
    let e = &p.eligibility;
    (e.product_ids.is_empty() || e.product_ids.contains(&item.product_id))
        && (e.category_ids.is_empty() || item.category_id.is_some_and(|c| e.category_ids.contains(&c)))
}

fn in_get_set(p: &Promotion, item: &Item) -> bool {
    if p.get_product_ids.is_empty() {
        eligible(p, item)
    } else {
        p.get_product_ids.contains(&item.product_id)
    }
}

/// Prices the basket.
pub fn price(basket: &Basket<'_>, rules: &Rules<'_>) -> Result<Priced, PriceError> {
    let mut state = State::new(basket.items)?;
    let mut rejected = vec![];
    let mut seen_codes = BTreeSet::new();
    for typed in basket.codes {
        let code = normalize_code(typed);
        if !seen_codes.insert(code.clone()) {
            rejected.push(reject(&code, Reason::Duplicate, "This code was entered twice.".into()));
        } else if !rules.offers.iter().any(|o| o.code.as_deref() == Some(code.as_str())) {
            rejected.push(reject(&code, Reason::Unknown, "There is no such code.".into()));
        }
    }
    // Offers from codes count only if typed; automatic ones always.
    let mut candidates: Vec<&Offer> = rules
        .offers
        .iter()
        .filter(|o| o.code.as_ref().is_none_or(|c| seen_codes.contains(c)))
        .collect();
    candidates.sort_by(|a, b| {
        b.promotion
            .priority
            .cmp(&a.promotion.priority)
            .then(a.code.is_some().cmp(&b.code.is_some()))
            .then(a.promotion.id.cmp(&b.promotion.id))
    });

    let zone = basket
        .destination
        .and_then(|to| delivery::district(&to.district))
        .and_then(|d| rules.delivery.districts.get(d))
        .map(String::as_str);
    // Which promotions are taken: standing, items present, exclusivity.
    let mut taken: Vec<&Offer> = vec![];
    let mut exclusive: Option<&Offer> = None;
    for offer in candidates {
        let p = &offer.promotion;
        let refused = if let Err(reason) = standing(offer, basket.groups, zone, basket.at) {
            Some((reason, None))
        } else if !basket.items.iter().any(|i| eligible(p, i)) {
            Some((Reason::NoEligibleItems, None))
        } else {
            exclusive
                .or(taken.first().copied().filter(|_| p.exclusive))
                .map(|first| (Reason::NotCombinable, Some(first)))
        };
        match refused {
            Some((reason, with)) => {
                if let Some(code) = &offer.code {
                    let detail = match with {
                        Some(other) => format!("It cannot be combined with “{}”.", other.promotion.name),
                        None => describe(reason).into(),
                    };
                    rejected.push(reject(code, reason, detail));
                }
            }
            None => {
                if p.exclusive {
                    exclusive = Some(offer);
                }
                taken.push(offer);
            }
        }
    }

    // Stages: items (catalogue, then customer groups), then the order, then delivery.
    let stage = |o: &&Offer| {
        let p = &o.promotion;
        match (p.kind, p.applies_to) {
            (Kind::FreeDelivery, _) => 3,
            (Kind::PercentOff | Kind::AmountOff, AppliesTo::Order) => 2,
            _ if p.eligibility.customer_groups.is_empty() && o.code.is_none() => 0,
            _ => 1,
        }
    };
    taken.sort_by_key(stage); // stable: priority order holds within a stage
    let mut adjustments = vec![];
    let mut uses = vec![];
    let mut free_delivery: Option<&Offer> = None;
    for offer in taken {
        let p = &offer.promotion;
        let applied = match p.kind {
            Kind::FreeDelivery => {
                match state.check_thresholds(p) {
                    Ok(()) if basket.destination.is_some() => free_delivery = free_delivery.or(Some(offer)),
                    Ok(()) => rejected_if_code(&mut rejected, offer, Reason::NoDelivery),
                    Err(reason) => rejected_if_code(&mut rejected, offer, reason),
                }
                continue;
            }
            _ => state.check_thresholds(p).and_then(|()| state.apply(p)),
        };
        match applied {
            Ok((shares, rule)) => {
                let amount: i64 = shares.iter().map(|(_, a)| a).sum();
                if offer.left.budget_minor.is_some_and(|left| amount > left) {
                    state.undo(&shares);
                    rejected_if_code(&mut rejected, offer, Reason::BudgetExhausted);
                    continue;
                }
                uses.push(Use {
                    promotion_id: p.id,
                    code: offer.code.clone(),
                    code_limited: offer.left.code_uses.is_some(),
                    amount_minor: amount,
                });
                adjustments.push(Adjustment {
                    kind: p.kind,
                    promotion_id: Some(p.id),
                    code: offer.code.clone(),
                    label: p.name.clone(),
                    rule,
                    amount: Money::lkr(-amount),
                    lines: shares
                        .iter()
                        .map(|&(i, a)| LineShare {
                            variant_id: basket.items[i].variant_id,
                            amount: Money::lkr(-a),
                        })
                        .collect(),
                });
            }
            Err(reason) => rejected_if_code(&mut rejected, offer, reason),
        }
    }

    let goods: i64 = state.current.iter().sum();
    let mut delivery_quote = None;
    let mut delivery_charge = 0;
    let mut delivery_fee = 0;
    if let Some(to) = basket.destination {
        let grams = basket
            .items
            .iter()
            .try_fold(0i64, |sum, i| sum.checked_add(i.grams.checked_mul(i64::from(i.quantity))?))
            .ok_or(PriceError::Overflow)?;
        let fee = delivery::quote(rules.delivery, &to.district, grams, 0, to.cash_on_delivery, false).map_err(|e| match e {
            NoQuote::UnknownDistrict => PriceError::UnknownDistrict(to.district.clone()),
            NoQuote::NoZone(d) => PriceError::NoZone(d),
        })?;
        let district = delivery::district(&to.district).unwrap_or_default().to_owned();
        delivery_fee = fee.fee_minor + fee.cod_surcharge_minor;
        delivery_charge = delivery_fee;
        let by_threshold = rules.delivery.free_from_minor.filter(|from| goods >= *from);
        // The rules' own threshold first: a free-delivery promotion is not used up on an order
        // that travels free anyway.
        let waiver = match (by_threshold, free_delivery) {
            (Some(from), _) => Some((
                None,
                format!("goods of {} or more", Money::lkr(from)),
                "Free delivery".to_owned(),
            )),
            (None, Some(offer)) => Some((
                Some(offer),
                format!("free delivery to {district}"),
                offer.promotion.name.clone(),
            )),
            (None, None) => None,
        };
        let waived_by: Option<&Offer> = match waiver {
            Some((offer, rule, label)) if fee.fee_minor > 0 => {
                delivery_charge -= fee.fee_minor;
                if let Some(offer) = offer {
                    uses.push(Use {
                        promotion_id: offer.promotion.id,
                        code: offer.code.clone(),
                        code_limited: offer.left.code_uses.is_some(),
                        amount_minor: fee.fee_minor,
                    });
                }
                adjustments.push(Adjustment {
                    kind: Kind::FreeDelivery,
                    promotion_id: offer.map(|o| o.promotion.id),
                    code: offer.and_then(|o| o.code.clone()),
                    label,
                    rule,
                    amount: Money::lkr(-fee.fee_minor),
                    lines: vec![],
                });
                offer
            }
            _ => None,
        };
        if let Some(offer) = free_delivery
            && waived_by.is_none()
        {
            // Nothing left to waive: the promotion is not used.
            rejected_if_code(&mut rejected, offer, Reason::NoDelivery);
        }
        delivery_quote = Some(DeliveryQuote {
            district,
            zone: fee.zone,
            kilograms: fee.kilograms,
            fee: Money::lkr(fee.fee_minor),
            cash_on_delivery_surcharge: Money::lkr(fee.cod_surcharge_minor),
        });
    }

    let date = colombo_date(basket.at);
    let rate = rate_on(rules.vat, date).ok_or(PriceError::NoVatRate(date))?;
    let mut taxable = state.current.clone();
    taxable.push(delivery_charge);
    let (vat_total, vat_shares) = vat_lines(&taxable, rate);
    let lines = basket
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| PricedLine {
            variant_id: item.variant_id,
            quantity: item.quantity,
            unit_price: Money::lkr(item.unit_price_minor),
            line_total: Money::lkr(state.original[i]),
            discount: Money::lkr(state.current[i] - state.original[i]),
            total: Money::lkr(state.current[i]),
            vat: Money::lkr(vat_shares[i]),
        })
        .collect();
    let subtotal: i64 = state.original.iter().sum();
    let total = goods.checked_add(delivery_charge).ok_or(PriceError::Overflow)?;
    Ok(Priced {
        lines,
        subtotal: Money::lkr(subtotal),
        adjustments,
        delivery: delivery_quote,
        delivery_fee: Money::lkr(delivery_fee),
        vat: Vat {
            rate_percent: percent_text(rate),
            rate_basis_points: rate,
            amount: Money::lkr(vat_total),
            delivery: Money::lkr(vat_shares[basket.items.len()]),
        },
        total: Money::lkr(total),
        rejected_codes: rejected,
        uses,
    })
}

/// `1850` → `18.5`; `1800` → `18`.
pub fn percent_text(basis_points: u32) -> String {
    let (whole, hundredths) = (basis_points / 100, basis_points % 100);
    match hundredths {
        0 => whole.to_string(),
        h if h % 10 == 0 => format!("{whole}.{}", h / 10),
        h => format!("{whole}.{h:02}"),
    }
}

fn reject(code: &str, reason: Reason, detail: String) -> RejectedCode {
    RejectedCode {
        code: code.to_owned(),
        reason,
        detail,
    }
}

fn rejected_if_code(rejected: &mut Vec<RejectedCode>, offer: &Offer, reason: Reason) {
    if let Some(code) = &offer.code {
        rejected.push(reject(code, reason, describe(reason).into()));
    }
}

/// The customer's words for a reason.
pub fn describe(reason: Reason) -> &'static str {
    match reason {
        Reason::Unknown => "There is no such code.",
        Reason::NotStarted => "This offer has not started yet.",
        Reason::Expired => "This offer has ended.",
        Reason::Paused => "This offer is paused.",
        Reason::UsedUp => "This code has been used as many times as it may be.",
        Reason::CustomerLimitReached => "You have already used this offer as many times as you may.",
        Reason::BudgetExhausted => "This offer's budget is used up.",
        Reason::NotForThisCustomer => "This offer is not available on your account.",
        Reason::NoEligibleItems => "Nothing in the cart is part of this offer.",
        Reason::MinSpendNotMet => "The cart does not reach this offer's minimum spend.",
        Reason::MinQuantityNotMet => "The cart does not have enough items for this offer.",
        Reason::NotCombinable => "It cannot be combined with another offer in the cart.",
        Reason::NoDelivery => "There is no delivery fee for this offer to take off.",
        Reason::NotForThisDestination => "This offer is not for deliveries to this district.",
        Reason::Duplicate => "This code was entered twice.",
    }
}

/// The lines' amounts as the stages change them.
struct State<'a> {
    items: &'a [Item],
    original: Vec<i64>,
    current: Vec<i64>,
}

type Shares = Vec<(usize, i64)>;

impl<'a> State<'a> {
    fn new(items: &'a [Item]) -> Result<Self, PriceError> {
        let original = items
            .iter()
            .map(|i| i.unit_price_minor.checked_mul(i64::from(i.quantity)))
            .collect::<Option<Vec<_>>>()
            .ok_or(PriceError::Overflow)?;
        original
            .iter()
            .try_fold(0i64, |s, a| s.checked_add(*a))
            .ok_or(PriceError::Overflow)?;
        Ok(Self {
            items,
            current: original.clone(),
            original,
        })
    }

    fn eligible_lines(&self, p: &Promotion) -> Vec<usize> {
        (0..self.items.len()).filter(|&i| eligible(p, &self.items[i])).collect()
    }

    fn check_thresholds(&self, p: &Promotion) -> Result<(), Reason> {
        let lines = match p.kind {
            // Free delivery's minimum spend is of the whole order.
            Kind::FreeDelivery if p.eligibility.product_ids.is_empty() && p.eligibility.category_ids.is_empty() => {
                (0..self.items.len()).collect()
            }
            _ => self.eligible_lines(p),
        };
        let spend: i64 = lines.iter().map(|&i| self.current[i]).sum();
        let units: u32 = lines.iter().map(|&i| self.items[i].quantity).sum();
        if p.eligibility.min_quantity.is_some_and(|n| units < n) {
            return Err(Reason::MinQuantityNotMet);
        }
        if p.eligibility.min_spend_minor.is_some_and(|n| spend < n) {
            return Err(Reason::MinSpendNotMet);
        }
        Ok(())
    }

    /// Applies `p` to the lines; returns each changed line's discount (positive) and the rule.
    fn apply(&mut self, p: &Promotion) -> Result<(Shares, String), Reason> {
        let lines = self.eligible_lines(p);
        let (shares, rule): (Shares, String) = match (p.kind, p.applies_to) {
            (Kind::PercentOff, AppliesTo::Item) => (
                lines
                    .iter()
                    .map(|&i| (i, percent_of(self.current[i], basis(p.value))))
                    .collect(),
                format!("{}% off each item", percent_text(basis(p.value))),
            ),
            (Kind::AmountOff, AppliesTo::Item) => (
                lines
                    .iter()
                    .map(|&i| {
                        let off = p.value.saturating_mul(i64::from(self.items[i].quantity));
                        (i, off.min(self.current[i]))
                    })
                    .collect(),
                format!("{} off each item", Money::lkr(p.value)),
            ),
            (Kind::PercentOff | Kind::AmountOff, AppliesTo::Order) => {
                let weights: Vec<i64> = lines.iter().map(|&i| self.current[i]).collect();
                let base: i64 = weights.iter().sum();
                let (off, rule) = if p.kind == Kind::PercentOff {
                    (
                        percent_of(base, basis(p.value)),
                        format!("{}% off the order", percent_text(basis(p.value))),
                    )
                } else {
                    (p.value.min(base), format!("{} off the order", Money::lkr(p.value)))
                };
                (lines.iter().copied().zip(allocate(off, &weights)).collect(), rule)
            }
            (Kind::BuyXGetY, _) => self.buy_x_get_y(p),
            (Kind::SetPrice, _) => self.set_price(p),
            (Kind::FreeDelivery, _) => (vec![], String::new()),
        };
        let shares: Shares = shares.into_iter().filter(|(_, a)| *a > 0).collect();
        if shares.is_empty() {
            return Err(if p.kind == Kind::BuyXGetY || p.kind == Kind::SetPrice {
                Reason::MinQuantityNotMet
            } else {
                Reason::NoEligibleItems
            });
        }
        for &(i, a) in &shares {
            self.current[i] -= a;
        }
        Ok((shares, rule))
    }

    fn undo(&mut self, shares: &Shares) {
        for &(i, a) in shares {
            self.current[i] += a;
        }
    }

    /// Every unit of `lines` at its current price (a line's amount split evenly by largest
    /// remainder), as (line, cents).
    fn units(&self, lines: &[usize]) -> Vec<(usize, i64)> {
        lines
            .iter()
            .flat_map(|&i| {
                let quantity = self.items[i].quantity as usize;
                allocate(self.current[i], &vec![1; quantity])
                    .into_iter()
                    .map(move |cents| (i, cents))
            })
            .collect()
    }

    fn buy_x_get_y(&self, p: &Promotion) -> (Shares, String) {
        let (buy_n, get_n) = (p.buy_quantity.max(1) as usize, p.get_quantity.max(1) as usize);
        let cap = p.max_applications.map_or(usize::MAX, |n| n as usize);
        let same = p.get_product_ids.is_empty();
        let buy_lines: Vec<usize> = (0..self.items.len())
            .filter(|&i| eligible(p, &self.items[i]) && (same || !in_get_set(p, &self.items[i])))
            .collect();
        let mut free: Vec<(usize, i64)> = if same {
            let mut units = self.units(&buy_lines);
            let times = (units.len() / (buy_n + get_n)).min(cap);
            units.sort_by_key(|u| u.1);
            units.truncate(times * get_n);
            units
        } else {
            let get_lines: Vec<usize> = (0..self.items.len()).filter(|&i| in_get_set(p, &self.items[i])).collect();
            let bought = self.units(&buy_lines).len();
            let mut units = self.units(&get_lines);
            let times = (bought / buy_n).min(units.len() / get_n).min(cap);
            units.sort_by_key(|u| u.1);
            units.truncate(times * get_n);
            units
        };
        free.sort_by_key(|u| u.0);
        let mut shares: HashMap<usize, i64> = HashMap::new();
        for (line, cents) in free {
            *shares.entry(line).or_default() += percent_of(cents, basis(p.value));
        }
        let mut shares: Shares = shares.into_iter().collect();
        shares.sort_unstable();
        let off = match basis(p.value) {
            10_000 => "free".to_owned(),
            b => format!("{}% off", percent_text(b)),
        };
        (shares, format!("buy {buy_n}, get {get_n} {off}"))
    }

    fn set_price(&self, p: &Promotion) -> (Shares, String) {
        let n = p.bundle_quantity.max(1) as usize;
        let cap = p.max_applications.map_or(usize::MAX, |c| c as usize);
        let mut units = self.units(&self.eligible_lines(p));
        // Dearest first, then the earlier line.
        units.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut shares: HashMap<usize, i64> = HashMap::new();
        for group in units.chunks_exact(n).take(cap) {
            let sum: i64 = group.iter().map(|u| u.1).sum();
            if sum <= p.value {
                continue;
            }
            let weights: Vec<i64> = group.iter().map(|u| u.1).collect();
            for (unit, off) in group.iter().zip(allocate(sum - p.value, &weights)) {
                *shares.entry(unit.0).or_default() += off;
            }
        }
        let mut shares: Shares = shares.into_iter().collect();
        shares.sort_unstable();
        (shares, format!("any {n} for {}", Money::lkr(p.value)))
    }
}

/// A percentage value, kept to 0–100%.
fn basis(value: i64) -> u32 {
    u32::try_from(value.clamp(0, 10_000)).unwrap_or(0)
}

//! What the promotions API takes and gives.
//!
//! Staff write amounts in rupees and percentages in percent, as numbers with at most two
//! decimals (`"value": 12.5`); Pola keeps them as integer cents and basis points. Times are
//! Colombo's: `2027-04-13T00:00` (or a date alone, `2027-04-13`, for its midnight) is midnight
//! in Colombo; a time with an offset is taken as written.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use pola_core::{FieldError, Money};
use serde::{Deserialize, Serialize};
use serde_json::Number;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::pricing::{AppliesTo, Eligibility, Kind, colombo};

/// Codes: 3 to 40 letters, digits, `-` or `_`.
pub const CODE_MAX: usize = 40;

/// A number with at most two decimals, in hundredths: `12.5` → 1250.
pub fn hundredths(n: &Number, field: &str) -> Result<i64, FieldError> {
    let bad = || FieldError::new(field, "must be a number with at most two decimals");
    let text = n.to_string();
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    if fraction.len() > 2 || text.contains(['e', 'E']) || whole.starts_with('-') {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let fraction: i64 = format!("{fraction:0<2}").parse().map_err(|_| bad())?;
    whole.checked_mul(100).and_then(|w| w.checked_add(fraction)).ok_or_else(bad)
}

/// Hundredths back to a number: 1250 → `12.5`, 2500 → `25`.
pub fn number(hundredths: i64) -> Number {
    if hundredths % 100 == 0 {
        Number::from(hundredths / 100)
    } else {
        Number::from_f64(hundredths as f64 / 100.0).unwrap_or_else(|| Number::from(0))
    }
}

/// A time as staff write it (see the module's note).
pub fn colombo_time(text: &str, field: &str) -> Result<DateTime<Utc>, FieldError> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M"))
        .or_else(|_| NaiveDate::parse_from_str(text, "%Y-%m-%d").map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default()))
        .map_err(|_| FieldError::new(field, "must be a date (2027-04-13) or a Colombo time (2027-04-13T00:00)"))?;
    local
        .and_local_timezone(colombo())
        .single()
        .map(|at| at.with_timezone(&Utc))
        .ok_or_else(|| FieldError::new(field, "is not a time in Colombo"))
}

/// Who and what a promotion is for, as staff write it. Empty lists mean "any".
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
#[schema(example = json!({"category_ids": ["0193a6c2-1f7e-7c3a-9d51-2f1e4b5a6c7d"], "min_spend": 5000, "customer_groups": ["member"]}))]
pub struct EligibilityRules {
    pub product_ids: Vec<Uuid>,
    pub category_ids: Vec<Uuid>,
    /// Rupees, of the eligible items at the prices earlier promotions left.
    #[schema(value_type = Option<f64>)]
    pub min_spend: Option<Number>,
    pub min_quantity: Option<u32>,
    /// `member`, `plan:<slug>`, `first_order`, `staff`, or a group staff made.
    pub customer_groups: Vec<String>,
    /// Delivery zones (`metro`, `island`, `north_east`).
    pub zones: Vec<String>,
}

impl EligibilityRules {
    fn check(self, errors: &mut Vec<FieldError>) -> Eligibility {
        let min_spend_minor = self
            .min_spend
            .as_ref()
            .and_then(|n| hundredths(n, "eligibility.min_spend").map_err(|e| errors.push(e)).ok());
        for group in &self.customer_groups {
            if !valid_name(group.strip_prefix("plan:").unwrap_or(group)) {
                errors.push(FieldError::new(
                    "eligibility.customer_groups",
                    "names are 1 to 40 letters, digits, - or _",
                ));
            }
        }
        Eligibility {
            product_ids: self.product_ids,
            category_ids: self.category_ids,
            min_spend_minor,
            min_quantity: self.min_quantity,
            customer_groups: self.customer_groups,
            zones: self.zones,
        }
    }

    pub fn from_stored(e: &Eligibility) -> Self {
        Self {
            product_ids: e.product_ids.clone(),
            category_ids: e.category_ids.clone(),
            min_spend: e.min_spend_minor.map(number),
            min_quantity: e.min_quantity,
            customer_groups: e.customer_groups.clone(),
            zones: e.zones.clone(),
        }
    }
}

/// Group and plan names: 1 to 40 letters, digits, `-` or `_`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 40 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A code as the shop keeps it, or what is wrong with it.
pub fn check_code(code: &str, field: &str) -> Result<String, FieldError> {
    let code = crate::pricing::normalize_code(code);
    if code.len() < 3 || code.len() > CODE_MAX || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(FieldError::new(field, "must be 3 to 40 letters, digits, - or _"));
    }
    Ok(code)
}

/// A new promotion (`POST /api/v1/promotions`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Avurudu 25% off", "code": "AVURUDU25", "kind": "percent_off", "value": 25,
    "applies_to": "order", "usage_limit": 500, "per_customer_limit": 1, "budget": 250000,
    "starts_at": "2027-04-13T00:00", "ends_at": "2027-04-16T00:00", "eligibility": {"min_spend": 3000}}))]
pub struct NewPromotion {
    pub name: String,
    /// A code customers type.
    pub code: Option<String>,
    /// Applies by itself, without a code. Default: when there is no `code`. A promotion for
    /// bulk codes (`POST …/codes`) is created with `"automatic": false`.
    pub automatic: Option<bool>,
    pub kind: Kind,
    /// Percent for `percent_off` and `buy_x_get_y` (100 = free, the default there); rupees for
    /// `amount_off` and `set_price`; unused for `free_delivery`.
    #[schema(value_type = Option<f64>)]
    pub value: Option<Number>,
    #[serde(default)]
    pub applies_to: AppliesTo,
    /// Uses in all (live orders hold them; cancelled, expired and refunded ones give them back).
    pub usage_limit: Option<i64>,
    pub per_customer_limit: Option<i64>,
    /// Rupees this promotion may give away in all.
    #[schema(value_type = Option<f64>)]
    pub budget: Option<Number>,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    #[serde(default)]
    pub eligibility: EligibilityRules,
    /// `buy_x_get_y`: units to buy, and units that get the discount.
    pub buy_quantity: Option<u32>,
    pub get_quantity: Option<u32>,
    /// `buy_x_get_y`: the products that get the discount (else the eligible ones).
    #[serde(default)]
    pub get_product_ids: Vec<Uuid>,
    /// `set_price`: units in a set.
    pub bundle_quantity: Option<u32>,
    /// `buy_x_get_y` and `set_price`: most times per order.
    pub max_applications: Option<u32>,
    #[serde(default)]
    pub priority: i32,
    #[serde(default)]
    pub exclusive: bool,
}

/// A checked promotion, ready to store.
#[derive(Debug, Clone)]
pub struct PromotionSpec {
    pub promotion: crate::pricing::Promotion,
    pub code: Option<String>,
    pub automatic: bool,
    pub usage_limit: Option<i64>,
    pub per_customer_limit: Option<i64>,
    pub budget_minor: Option<i64>,
}

impl NewPromotion {
    /// The promotion, or every field that is wrong.
    pub fn check(self, id: Uuid) -> Result<PromotionSpec, Vec<FieldError>> {
        let mut errors = vec![];
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 120 {
            errors.push(FieldError::new("name", "must be 1 to 120 characters"));
        }
        let code = self
            .code
            .as_deref()
            .and_then(|c| check_code(c, "code").map_err(|e| errors.push(e)).ok());
        let value = self
            .value
            .as_ref()
            .and_then(|v| hundredths(v, "value").map_err(|e| errors.push(e)).ok());
        let value = match (self.kind, value) {
            (Kind::FreeDelivery, _) => 0,
            (Kind::BuyXGetY, None) => 10_000,
            (_, Some(v)) => v,
            (_, None) => {
                errors.push(FieldError::new("value", "is required for this kind"));
                0
            }
        };
        if matches!(self.kind, Kind::PercentOff | Kind::BuyXGetY) && !(1..=10_000).contains(&value) {
            errors.push(FieldError::new("value", "must be a percentage above 0 and at most 100"));
        }
        if matches!(self.kind, Kind::AmountOff) && value <= 0 {
            errors.push(FieldError::new("value", "must be an amount above 0"));
        }
        if self.kind == Kind::SetPrice && value < 0 {
            errors.push(FieldError::new("value", "must not be negative"));
        }
        let terms = Terms::check(
            [self.usage_limit, self.per_customer_limit],
            self.budget.as_ref(),
            [self.starts_at.as_deref(), self.ends_at.as_deref()],
            &mut errors,
        );
        check_window(terms.starts_at, terms.ends_at, &mut errors);
        let (buy_quantity, get_quantity) = (self.buy_quantity.unwrap_or(0), self.get_quantity.unwrap_or(0));
        if self.kind == Kind::BuyXGetY && (buy_quantity == 0 || get_quantity == 0) {
            errors.push(FieldError::new(
                "buy_quantity",
                "buy_x_get_y needs buy_quantity and get_quantity of 1 or more",
            ));
        }
        let bundle_quantity = self.bundle_quantity.unwrap_or(0);
        if self.kind == Kind::SetPrice && bundle_quantity < 2 {
            errors.push(FieldError::new("bundle_quantity", "set_price needs a set of 2 or more"));
        }
        let automatic = self.automatic.unwrap_or(self.code.is_none());
        if automatic && self.code.is_some() {
            errors.push(FieldError::new("automatic", "a promotion with a code is not automatic"));
        }
        let eligibility = self.eligibility.check(&mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(PromotionSpec {
            promotion: crate::pricing::Promotion {
                id,
                name,
                kind: self.kind,
                value,
                applies_to: self.applies_to,
                eligibility,
                buy_quantity,
                get_quantity,
                get_product_ids: self.get_product_ids,
                bundle_quantity,
                max_applications: self.max_applications,
                priority: self.priority,
                exclusive: self.exclusive,
                active: true,
                starts_at: terms.starts_at,
                ends_at: terms.ends_at,
            },
            code,
            automatic,
            usage_limit: terms.usage_limit,
            per_customer_limit: terms.per_customer_limit,
            budget_minor: terms.budget_minor,
        })
    }
}

/// A promotion's limits and dates as staff write them, on a new promotion or a change: each
/// checked, `None` where not given (or wrong, with its error pushed).
pub struct Terms {
    pub usage_limit: Option<i64>,
    pub per_customer_limit: Option<i64>,
    pub budget_minor: Option<i64>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
}

impl Terms {
    /// `[usage_limit, per_customer_limit]`, the budget in rupees, `[starts_at, ends_at]`.
    pub fn check(
        limits: [Option<i64>; 2],
        budget: Option<&Number>,
        window: [Option<&str>; 2],
        errors: &mut Vec<FieldError>,
    ) -> Self {
        let [usage_limit, per_customer_limit] =
            [("usage_limit", limits[0]), ("per_customer_limit", limits[1])].map(|(field, limit)| match limit {
                Some(n) if n < 1 => {
                    errors.push(FieldError::new(field, "must be 1 or more"));
                    None
                }
                other => other,
            });
        let budget_minor = match budget.map(|b| hundredths(b, "budget")) {
            Some(Ok(minor)) if minor > 0 => Some(minor),
            Some(Ok(_)) => {
                errors.push(FieldError::new("budget", "must be above 0"));
                None
            }
            Some(Err(e)) => {
                errors.push(e);
                None
            }
            None => None,
        };
        let [starts_at, ends_at] = [("starts_at", window[0]), ("ends_at", window[1])]
            .map(|(field, text)| text.and_then(|t| colombo_time(t, field).map_err(|e| errors.push(e)).ok()));
        Self {
            usage_limit,
            per_customer_limit,
            budget_minor,
            starts_at,
            ends_at,
        }
    }
}

/// A promotion ends after it starts.
pub fn check_window(starts_at: Option<DateTime<Utc>>, ends_at: Option<DateTime<Utc>>, errors: &mut Vec<FieldError>) {
    if let (Some(s), Some(e)) = (starts_at, ends_at)
        && e <= s
    {
        errors.push(FieldError::new("ends_at", "must be after starts_at"));
    }
}

/// A promotion, with its use so far.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PromotionView {
    pub id: Uuid,
    pub name: String,
    pub code: Option<String>,
    /// No code: applies by itself.
    pub automatic: bool,
    pub kind: Kind,
    #[schema(value_type = f64)]
    pub value: Number,
    pub applies_to: AppliesTo,
    pub eligibility: EligibilityRules,
    pub buy_quantity: u32,
    pub get_quantity: u32,
    pub get_product_ids: Vec<Uuid>,
    pub bundle_quantity: u32,
    pub max_applications: Option<u32>,
    pub priority: i32,
    pub exclusive: bool,
    pub active: bool,
    /// In Colombo time.
    pub starts_at: Option<DateTime<chrono::FixedOffset>>,
    pub ends_at: Option<DateTime<chrono::FixedOffset>>,
    pub usage_limit: Option<i64>,
    pub per_customer_limit: Option<i64>,
    pub budget: Option<Money>,
    /// Orders that hold a use now.
    pub uses: i64,
    /// What those orders were given.
    pub cost: Money,
    pub created_at: DateTime<Utc>,
}

/// A promotion running now that anyone may see: automatic ones only (codes are handed out, not
/// listed).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OnOffer {
    pub id: Uuid,
    pub name: String,
    pub kind: Kind,
    /// Percent for percentages (`buy_x_get_y`: off the units got), rupees for amounts and set
    /// prices.
    #[schema(value_type = f64)]
    pub value: Number,
    pub applies_to: AppliesTo,
    pub buy_quantity: u32,
    pub get_quantity: u32,
    pub bundle_quantity: u32,
    /// Spend at least this on what it applies to.
    pub min_spend: Option<Money>,
    /// Only for some customers: members, a first order, a group.
    pub restricted: bool,
    /// In Colombo time.
    pub ends_at: Option<DateTime<chrono::FixedOffset>>,
}

/// A change to a promotion: pause or resume it, move its dates, change its limits.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromotionChange {
    pub active: Option<bool>,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    pub usage_limit: Option<i64>,
    pub per_customer_limit: Option<i64>,
    #[schema(value_type = Option<f64>)]
    pub budget: Option<Number>,
    pub priority: Option<i32>,
}

/// Bulk codes for a promotion, each usable `uses_per_code` times.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"count": 100, "prefix": "SMS-", "uses_per_code": 1}))]
pub struct GenerateCodes {
    /// 1 to 10,000.
    pub count: u32,
    #[serde(default)]
    pub prefix: String,
    #[serde(default = "one")]
    pub uses_per_code: i64,
}

fn one() -> i64 {
    1
}

/// Generated codes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GeneratedCodes {
    pub promotion_id: Uuid,
    pub codes: Vec<String>,
}

/// A promotion's use and cost, for reporting.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Usage {
    pub promotion_id: Uuid,
    pub name: String,
    /// Orders holding a use now, and what they were given.
    pub uses: i64,
    pub cost: Money,
    /// Uses given back (orders cancelled, expired, returned or refunded), and their amount.
    pub released_uses: i64,
    pub released_cost: Money,
    pub customers: i64,
}

/// A membership plan.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"slug": "pola-plus", "name": "Pola Plus", "variant_id": "0193a6c2-1f7e-7c3a-9d51-2f1e4b5a6c7d", "months": 12}))]
pub struct NewPlan {
    /// Promotions target it as `plan:<slug>`.
    pub slug: String,
    pub name: String,
    /// The catalogue variant customers buy it as.
    pub variant_id: Uuid,
    pub months: u32,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanView {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub variant_id: Uuid,
    pub months: u32,
    pub active: bool,
    /// Members now.
    pub members: i64,
}

/// A customer's active membership.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MembershipView {
    pub plan: String,
    pub name: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// A customer's groups (staff put them in or take them out).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupChange {
    pub group: String,
    pub member: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_with_two_decimals_become_hundredths() {
        let n = |s: &str| hundredths(&s.parse::<Number>().expect("a number"), "value");
        assert_eq!(n("25"), Ok(2500));
        assert_eq!(n("12.5"), Ok(1250));
        assert_eq!(n("0.05"), Ok(5));
        assert_eq!(n("1999.99"), Ok(199_999));
        assert!(n("0.125").is_err());
        assert!(n("-1").is_err());
        assert_eq!(number(1250).to_string(), "12.5");
        assert_eq!(number(2500).to_string(), "25");
    }

    #[test]
    fn colombo_midnight_is_half_past_six_the_evening_before_in_utc() {
        let at = |s| colombo_time(s, "starts_at").map(|t| t.to_rfc3339());
        assert_eq!(at("2027-04-13"), Ok("2027-04-12T18:30:00+00:00".into()));
        assert_eq!(at("2027-04-13T00:00"), Ok("2027-04-12T18:30:00+00:00".into()));
        assert_eq!(at("2027-04-13T06:00:00+05:30"), Ok("2027-04-13T00:30:00+00:00".into()));
        assert!(at("13/04/2027").is_err());
    }
}

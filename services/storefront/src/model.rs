//! The forms customers send and the few API answers the pages act on (the rest is rendered as
//! the API sent it). No I/O.

use serde::Deserialize;

/// `POST /api/v1/identity/token`'s answer.
#[derive(Debug, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
}

/// A listing's filters, sort and page, from its query string.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListingQuery {
    pub q: Option<String>,
    /// Rupees, as a customer types them.
    pub min: Option<String>,
    pub max: Option<String>,
    pub in_stock: Option<String>,
    /// `code:value`
    pub attr: Option<String>,
    /// `price_asc` or `price_desc`; newest first otherwise.
    pub sort: Option<String>,
    pub cursor: Option<String>,
}

impl ListingQuery {
    /// The catalogue API's query for these filters; filters that do not parse are left out.
    pub fn api_query(&self, category: Option<&str>, page_size: u32) -> String {
        let mut pairs: Vec<(&str, String)> = vec![("limit", page_size.to_string())];
        if let Some(category) = category {
            pairs.push(("category", category.to_owned()));
        }
        if let Some(q) = self.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            pairs.push(("q", q.to_owned()));
        }
        if let Some(min) = self.min.as_deref().and_then(rupees_to_cents) {
            pairs.push(("min_price", min.to_string()));
        }
        if let Some(max) = self.max.as_deref().and_then(rupees_to_cents) {
            pairs.push(("max_price", max.to_string()));
        }
        if self.in_stock.is_some() {
            pairs.push(("in_stock", "true".into()));
        }
        if let Some(attr) = self.attr.as_deref().filter(|a| a.contains(':')) {
            pairs.push(("attr", attr.to_owned()));
        }
        if let Some(sort) = self.sort.as_deref().filter(|s| ["price_asc", "price_desc"].contains(s)) {
            pairs.push(("sort", sort.to_owned()));
        }
        if let Some(cursor) = self.cursor.as_deref().filter(|c| !c.is_empty()) {
            pairs.push(("cursor", cursor.to_owned()));
        }
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }

    /// This listing's query with another page's cursor (for the "next page" link).
    pub fn with_cursor(&self, cursor: &str) -> String {
        let mut pairs: Vec<(&str, &str)> = vec![];
        for (key, value) in [
            ("q", &self.q),
            ("min", &self.min),
            ("max", &self.max),
            ("in_stock", &self.in_stock),
            ("attr", &self.attr),
            ("sort", &self.sort),
        ] {
            if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
                pairs.push((key, value));
            }
        }
        pairs.push(("cursor", cursor));
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

/// Rupees as typed (`1,250`, `1250.50`, `Rs. 900`) in cents; `None` for anything else.
pub fn rupees_to_cents(typed: &str) -> Option<i64> {
    let cleaned: String = typed
        .trim()
        .trim_start_matches("Rs.")
        .trim_start_matches("Rs")
        .chars()
        .filter(|c| *c != ',' && !c.is_whitespace())
        .collect();
    if cleaned.is_empty() {
        return None;
    }
    let (whole, fraction) = cleaned.split_once('.').unwrap_or((&cleaned, ""));
    if fraction.len() > 2 || !whole.chars().all(|c| c.is_ascii_digit()) || !fraction.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let cents: i64 = format!("{fraction:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(cents)
}

/// "Add to cart".
#[derive(Debug, Deserialize)]
pub struct AddToCart {
    pub variant: String,
    pub quantity: Option<String>,
}

/// A cart line's new quantity, or its removal.
#[derive(Debug, Deserialize)]
pub struct ChangeLine {
    pub quantity: Option<String>,
    /// `remove` takes the line out.
    pub action: Option<String>,
}

/// Promotion codes, separated by commas or spaces.
#[derive(Debug, Deserialize)]
pub struct Codes {
    #[serde(default)]
    pub codes: String,
}

impl Codes {
    pub fn list(&self) -> Vec<String> {
        self.codes
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// Where the delivery goes and how the customer pays.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct CheckoutForm {
    pub recipient: String,
    pub phone: String,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub district: String,
    pub postal_code: String,
    /// `cod`, `payhere` or `bank`.
    pub payment: String,
    /// Made when the form was shown: sending the form twice places one order.
    pub idempotency_key: String,
}

/// How a customer pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentChoice {
    CashOnDelivery,
    PayHere,
    BankTransfer,
}

impl PaymentChoice {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "cod" => Some(Self::CashOnDelivery),
            "payhere" => Some(Self::PayHere),
            "bank" => Some(Self::BankTransfer),
            _ => None,
        }
    }

    /// The payments API's path for this method.
    pub fn api_segment(self) -> &'static str {
        match self {
            Self::CashOnDelivery => "cod",
            Self::PayHere => "payhere",
            Self::BankTransfer => "bank-transfer",
        }
    }
}

impl CheckoutForm {
    /// The orders API's delivery address.
    pub fn delivery(&self) -> serde_json::Value {
        let optional = |v: &str| match v.trim() {
            "" => serde_json::Value::Null,
            v => v.into(),
        };
        serde_json::json!({
            "recipient": self.recipient,
            "phone": self.phone,
            "line1": self.line1,
            "line2": optional(&self.line2),
            "city": self.city,
            "district": optional(&self.district),
            "postal_code": optional(&self.postal_code),
        })
    }
}

/// Signing in.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignIn {
    pub email: String,
    pub password: String,
    /// Where to go afterwards (a path of this shop).
    pub next: String,
}

/// Signing up.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct SignUp {
    pub name: String,
    pub email: String,
    pub phone: String,
    #[serde(skip_serializing)]
    pub password: String,
    pub next: String,
}

/// How long a courier usually takes to `district`, as a catalogue key's last part: the Western
/// Province next day or two, the North and East (further from Colombo's hubs) three to five.
pub fn delivery_days(district: &str) -> &'static str {
    match district {
        "Colombo" | "Gampaha" | "Kalutara" => "1_2",
        "Jaffna" | "Kilinochchi" | "Mannar" | "Mullaitivu" | "Vavuniya" | "Trincomalee" | "Batticaloa" | "Ampara" => "3_5",
        _ => "2_3",
    }
}

/// A path of this shop to go to after signing in; anything else (another site, a scheme, a
/// protocol-relative `//evil`) is the account page.
pub fn safe_next(next: &str) -> &str {
    let ok = next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') && !next.contains("://");
    if ok { next } else { "/account" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rupees_are_read_as_customers_type_them() {
        assert_eq!(rupees_to_cents("1,250"), Some(125_000));
        assert_eq!(rupees_to_cents("Rs. 900.5"), Some(90_050));
        assert_eq!(rupees_to_cents(" 12.05 "), Some(1_205));
        assert_eq!(rupees_to_cents("12.345"), None);
        assert_eq!(rupees_to_cents("-5"), None);
        assert_eq!(rupees_to_cents("abc"), None);
        assert_eq!(rupees_to_cents(""), None);
        assert_eq!(rupees_to_cents("99999999999999999999"), None);
    }

    #[test]
    fn a_listing_asks_the_api_only_for_filters_that_parse() {
        let query = ListingQuery {
            q: Some(" බතික් ".into()),
            min: Some("1,000".into()),
            max: Some("lots".into()),
            in_stock: Some("on".into()),
            attr: Some("colour:Indigo".into()),
            sort: Some("price_asc".into()),
            cursor: None,
        };
        assert_eq!(
            query.api_query(Some("batik"), 24),
            "limit=24&category=batik&q=%E0%B6%B6%E0%B6%AD%E0%B7%92%E0%B6%9A%E0%B7%8A&min_price=100000&in_stock=true&attr=colour%3AIndigo&sort=price_asc"
        );
        assert!(query.with_cursor("abc").ends_with("&sort=price_asc&cursor=abc"));
        let odd = ListingQuery {
            sort: Some("cheapest".into()),
            ..Default::default()
        };
        assert_eq!(odd.api_query(None, 24), "limit=24", "an unknown sort is left out");
    }

    #[test]
    fn only_this_shops_paths_are_followed_after_signing_in() {
        assert_eq!(safe_next("/checkout"), "/checkout");
        assert_eq!(safe_next("//evil.example"), "/account");
        assert_eq!(safe_next("https://evil.example"), "/account");
        assert_eq!(safe_next("/\\evil.example"), "/account");
        assert_eq!(safe_next(""), "/account");
    }
}

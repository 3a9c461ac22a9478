//! Catalog types and rules, without I/O.

use std::collections::BTreeMap;

use pola_core::{FieldError, Money};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// What kind of thing is sold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProductKind {
    /// Goods that are stocked and shipped.
    Product,
    /// Work done for the customer (tailoring, a delivery slot); stocked as capacity.
    Service,
    /// A fixed set of other variants sold together; its stock is theirs.
    Bundle,
}

impl ProductKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProductKind::Product => "product",
            ProductKind::Service => "service",
            ProductKind::Bundle => "bundle",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [ProductKind::Product, ProductKind::Service, ProductKind::Bundle]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

impl TryFrom<String> for ProductKind {
    type Error = String;

    fn try_from(stored: String) -> Result<Self, String> {
        ProductKind::parse(&stored).ok_or_else(|| format!("unknown product kind `{stored}`"))
    }
}

/// Whether customers can see and buy it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Archived,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Archived => "archived",
        }
    }
}

impl TryFrom<String> for Status {
    type Error = String;

    fn try_from(stored: String) -> Result<Self, String> {
        [Status::Active, Status::Archived]
            .into_iter()
            .find(|s| s.as_str() == stored)
            .ok_or_else(|| format!("unknown status `{stored}`"))
    }
}

/// The type of one attribute's values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum AttributeKind {
    /// One of a fixed list (`S`, `M`, `L`).
    Enum { values: Vec<String> },
    /// Free text up to 100 characters.
    Text,
    /// A whole number in `unit` (`g`, `ml`, `minutes`).
    Number { unit: String },
}

/// An attribute a product type declares for its variants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"code": "size", "name": "Size", "kind": "enum", "values": ["S", "M", "L", "XL"]}))]
pub struct AttributeDef {
    /// `a-z`, `0-9` and `_`, up to 40 characters; used in filters (`attr=size:M`).
    pub code: String,
    pub name: String,
    #[serde(flatten)]
    pub kind: AttributeKind,
}

/// A kind of product and its attributes (T-shirt: size, colour; tea: flavour, weight).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct ProductType {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    #[sqlx(json)]
    pub attributes: Vec<AttributeDef>,
}

/// `POST /api/v1/catalog/product-types`
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"code": "tshirt", "name": "T-shirt", "attributes": [
    {"code": "size", "name": "Size", "kind": "enum", "values": ["S", "M", "L"]},
    {"code": "colour", "name": "Colour", "kind": "enum", "values": ["Blue", "Maroon"]}]}))]
pub struct NewProductType {
    pub code: String,
    pub name: String,
    pub attributes: Vec<AttributeDef>,
}

pub fn is_code(s: &str) -> bool {
    (1..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// An attribute's code as a filter names it (`size` in `attr=size:M`): only ever made by
/// [`AttributeCode::parse`], so what a SQL JSON path is built from is `a-z`, `0-9` and `_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttributeCode(String);

impl AttributeCode {
    pub fn parse(code: &str) -> Option<Self> {
        is_code(code).then(|| Self(code.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The JSON path of this attribute in a variant's `attributes` (`$."size"`).
    pub fn json_path(&self) -> String {
        format!("$.\"{}\"", self.0)
    }
}

fn check_name(errors: &mut Vec<FieldError>, field: &str, value: &str, max: usize) {
    let n = value.trim().chars().count();
    if n == 0 || n > max {
        errors.push(FieldError::new(field, format!("must be 1-{max} characters")));
    }
}

impl NewProductType {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = vec![];
        if !is_code(&self.code) {
            errors.push(FieldError::new("code", "must be 1-40 characters of a-z, 0-9 and _"));
        }
        check_name(&mut errors, "name", &self.name, 100);
        let mut seen = std::collections::HashSet::new();
        for (i, a) in self.attributes.iter().enumerate() {
            if !is_code(&a.code) || !seen.insert(a.code.as_str()) {
                errors.push(FieldError::new(
                    format!("attributes[{i}].code"),
                    "must be a unique code of a-z, 0-9 and _",
                ));
            }
            check_name(&mut errors, &format!("attributes[{i}].name"), &a.name, 100);
            if let AttributeKind::Enum { values } = &a.kind
                && (values.is_empty() || values.iter().any(|v| v.trim().is_empty() || v.chars().count() > 60))
            {
                errors.push(FieldError::new(
                    format!("attributes[{i}].values"),
                    "must list 1-60 character values",
                ));
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }
}

/// Checks a variant's attribute values against its product type: every declared attribute present
/// with a value of its type, nothing undeclared. `field` prefixes error names.
pub fn validate_attributes(defs: &[AttributeDef], values: &BTreeMap<String, Value>, field: &str) -> Result<(), Vec<FieldError>> {
    let mut errors = vec![];
    for def in defs {
        let name = format!("{field}.{}", def.code);
        let Some(value) = values.get(&def.code) else {
            errors.push(FieldError::new(name, "is required"));
            continue;
        };
        let ok = match (&def.kind, value) {
            (AttributeKind::Enum { values }, Value::String(s)) => values.contains(s),
            (AttributeKind::Text, Value::String(s)) => (1..=100).contains(&s.chars().count()),
            (AttributeKind::Number { .. }, Value::Number(n)) => n.as_i64().is_some_and(|n| n >= 0),
            _ => false,
        };
        if !ok {
            let expected = match &def.kind {
                AttributeKind::Enum { values } => format!("must be one of {}", values.join(", ")),
                AttributeKind::Text => "must be text of 1-100 characters".into(),
                AttributeKind::Number { unit } => format!("must be a whole number of {unit}"),
            };
            errors.push(FieldError::new(name, expected));
        }
    }
    for code in values.keys() {
        if !defs.iter().any(|d| &d.code == code) {
            errors.push(FieldError::new(
                format!("{field}.{code}"),
                "is not an attribute of this product type",
            ));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// A category of the shop.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
#[schema(example = json!({"id": "0193a6c2-1f7e-7c3a-9d51-2f1e4b5a6c7d", "slug": "batik", "name": "Batik", "parent": "clothing"}))]
pub struct Category {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    /// The parent's slug.
    pub parent: Option<String>,
}

/// `POST /api/v1/catalog/categories`
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"slug": "batik", "name": "Batik", "parent": "clothing"}))]
pub struct NewCategory {
    pub slug: String,
    pub name: String,
    pub parent: Option<String>,
}

/// One line of the product list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": "0193a6c2-1f7e-7c3a-9d51-2f1e4b5a6c7d", "name": "Kandyan batik shirt", "kind": "product",
    "category": "batik", "product_type": "shirt", "price": {"amount_minor": 450000, "currency": "LKR"},
    "price_max": {"amount_minor": 520000, "currency": "LKR"}, "stock_available": 37}))]
pub struct ProductSummary {
    pub id: Uuid,
    pub name: String,
    pub kind: ProductKind,
    /// Category slug.
    pub category: String,
    /// Product type code.
    pub product_type: String,
    /// The lowest variant price ("from").
    pub price: Money,
    /// The highest variant price.
    pub price_max: Money,
    /// Units that can be bought now, over all variants.
    pub stock_available: i64,
    /// The first picture, if it has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<crate::images::ProductImage>,
}

/// A variant as customers see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VariantView {
    pub id: Uuid,
    pub sku: String,
    /// Attribute values by code (`{"size": "M", "colour": "Blue"}`).
    #[schema(value_type = Object)]
    pub attributes: BTreeMap<String, Value>,
    pub price: Money,
    pub stock_available: i64,
    /// For a bundle: the variants it is made of.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<BundleComponent>,
    /// Archived (only staff see such variants).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub archived: bool,
}

/// An archived product, as staff find it to bring it back.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct ArchivedProduct {
    pub id: Uuid,
    pub name: String,
    /// The category's slug.
    pub category: String,
}

/// A product with its variants.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a6c2-1f7e-7c3a-9d51-2f1e4b5a6c7d", "name": "Kandyan batik shirt", "description": "Hand-waxed cotton batik.",
    "kind": "product", "status": "active", "category": "batik", "product_type": "shirt",
    "price": {"amount_minor": 450000, "currency": "LKR"}, "stock_available": 7,
    "variants": [{"id": "0193a6c2-2a10-7b2e-8c11-5d9e0f1a2b3c", "sku": "BATIK-SHIRT-M-BLUE",
                  "attributes": {"colour": "Blue", "size": "M"}, "price": {"amount_minor": 450000, "currency": "LKR"},
                  "stock_available": 7}]
}))]
pub struct ProductDetail {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub kind: ProductKind,
    pub status: Status,
    pub category: String,
    pub product_type: String,
    pub price: Money,
    pub stock_available: i64,
    pub variants: Vec<VariantView>,
    /// Its pictures, in order (some show one variant).
    pub images: Vec<crate::images::ProductImage>,
}

/// One component of a bundle variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BundleComponent {
    pub variant_id: Uuid,
    pub quantity: u32,
}

/// A variant to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(example = json!({"sku": "BATIK-SHIRT-M-BLUE", "price_minor": 450000, "attributes": {"size": "M", "colour": "Blue"}}))]
pub struct NewVariant {
    /// Unique stock-keeping unit: 1-64 characters of A-Z, 0-9, `-`, `_` and `.`.
    pub sku: String,
    /// Price in cents of LKR.
    pub price_minor: i64,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: BTreeMap<String, Value>,
    /// Only for bundles: what one unit of this variant is made of.
    #[serde(default)]
    pub components: Vec<BundleComponent>,
    /// What one unit weighs packed, in grams (up to 100 kg), for delivery fees.
    #[serde(default)]
    pub weight_grams: u32,
}

/// The heaviest unit a variant may weigh: 100 kg.
pub const MAX_WEIGHT_GRAMS: u32 = 100_000;

/// `POST /api/v1/catalog/products`
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(example = json!({"name": "Kandyan batik shirt", "description": "Hand-waxed cotton batik.", "kind": "product",
    "category": "batik", "product_type": "shirt",
    "variants": [{"sku": "BATIK-SHIRT-M-BLUE", "price_minor": 450000, "attributes": {"size": "M", "colour": "Blue"}}]}))]
pub struct NewProduct {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub kind: ProductKind,
    /// Category slug.
    pub category: String,
    /// Product type code.
    pub product_type: String,
    pub variants: Vec<NewVariant>,
}

pub fn is_sku(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.'))
}

/// Largest price accepted: LKR 100 million.
pub const MAX_PRICE_MINOR: i64 = 10_000_000_000;

impl NewProduct {
    /// Checks everything that needs no database: names, SKUs, prices, bundle shape, and the
    /// attributes against `product_type`.
    pub fn validate(&self, product_type: &ProductType) -> Result<(), Vec<FieldError>> {
        let mut errors = vec![];
        check_name(&mut errors, "name", &self.name, 200);
        if self.description.chars().count() > 5000 {
            errors.push(FieldError::new("description", "must be at most 5000 characters"));
        }
        if self.variants.is_empty() || self.variants.len() > 200 {
            errors.push(FieldError::new("variants", "must have 1-200 variants"));
        }
        let mut skus = std::collections::HashSet::new();
        for (i, v) in self.variants.iter().enumerate() {
            errors.extend(v.check(i, self.kind, product_type).err().unwrap_or_default());
            if !skus.insert(v.sku.as_str()) {
                errors.push(FieldError::new(format!("variants[{i}].sku"), "appears twice"));
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }
}

impl NewVariant {
    /// Checks one variant (number `i` of the request) of a product of `kind`.
    pub fn check(&self, i: usize, kind: ProductKind, product_type: &ProductType) -> Result<(), Vec<FieldError>> {
        let mut errors = vec![];
        let field = format!("variants[{i}]");
        if !is_sku(&self.sku) {
            errors.push(FieldError::new(
                format!("{field}.sku"),
                "must be 1-64 characters of A-Z, 0-9, -, _ and .",
            ));
        }
        if self.weight_grams > MAX_WEIGHT_GRAMS {
            errors.push(FieldError::new(
                format!("{field}.weight_grams"),
                "must be at most 100000 (100 kg)",
            ));
        }
        if !(0..=MAX_PRICE_MINOR).contains(&self.price_minor) {
            errors.push(FieldError::new(
                format!("{field}.price_minor"),
                "must be between 0 and 10000000000",
            ));
        }
        match (kind, self.components.is_empty()) {
            (ProductKind::Bundle, true) => {
                errors.push(FieldError::new(
                    format!("{field}.components"),
                    "a bundle variant lists its components",
                ));
            }
            (ProductKind::Product | ProductKind::Service, false) => {
                errors.push(FieldError::new(format!("{field}.components"), "only bundles have components"));
            }
            _ => {}
        }
        if self.components.iter().any(|c| c.quantity == 0 || c.quantity > 100) {
            errors.push(FieldError::new(format!("{field}.components"), "quantities must be 1-100"));
        }
        if let Err(e) = validate_attributes(&product_type.attributes, &self.attributes, &format!("{field}.attributes")) {
            errors.extend(e);
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }
}

/// `PATCH /api/v1/catalog/products/{id}`: only the fields sent change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(example = json!({"name": "Kandyan batik shirt (slim fit)", "status": "archived"}))]
pub struct ProductPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    /// Category slug.
    pub category: Option<String>,
    pub status: Option<Status>,
}

/// `PATCH /api/v1/catalog/variants/{id}`
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(example = json!({"price_minor": 425000}))]
pub struct VariantPatch {
    pub price_minor: Option<i64>,
    pub status: Option<Status>,
}

/// The list's query string.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct ProductQuery {
    /// Items per page, 1-100 (default 20).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Category slug; includes its direct subcategories.
    pub category: Option<String>,
    /// Words to search for in names and descriptions (each at least 3 letters).
    pub q: Option<String>,
    /// Lowest price in cents: products with a variant at or above it.
    pub min_price: Option<i64>,
    /// Highest price in cents: products with a variant at or below it.
    pub max_price: Option<i64>,
    /// Only products with stock to sell now.
    pub in_stock: Option<bool>,
    /// Attribute filters, `code:value` pairs separated by commas: `size:M,colour:Blue`.
    pub attr: Option<String>,
    /// `newest` (default), `price_asc` or `price_desc` (by the lowest price of each product).
    pub sort: Option<String>,
}

/// A validated list query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ProductFilter {
    pub category: Option<String>,
    /// Boolean-mode full-text terms (`+batik* +shirt*`).
    pub search: Option<String>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub in_stock: bool,
    pub attributes: Vec<(AttributeCode, String)>,
    pub sort: Sort,
}

/// The order of a product list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Sort {
    /// Newest first.
    #[default]
    Newest,
    /// Cheapest "from" price first, then oldest.
    PriceAsc,
    /// Dearest "from" price first, then newest.
    PriceDesc,
}

impl Sort {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "newest" => Some(Sort::Newest),
            "price_asc" => Some(Sort::PriceAsc),
            "price_desc" => Some(Sort::PriceDesc),
            _ => None,
        }
    }
}

impl ProductQuery {
    pub fn filter(&self) -> Result<ProductFilter, Vec<FieldError>> {
        let mut errors = vec![];
        let search = match self.q.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(q) => {
                let terms: Vec<String> = q
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| w.chars().count() >= 3)
                    .take(8)
                    .map(|w| format!("+{}*", w.to_lowercase()))
                    .collect();
                if terms.is_empty() {
                    errors.push(FieldError::new("q", "needs a word of at least 3 letters"));
                }
                Some(terms.join(" "))
            }
        };
        for (field, value) in [("min_price", self.min_price), ("max_price", self.max_price)] {
            if value.is_some_and(|v| !(0..=MAX_PRICE_MINOR).contains(&v)) {
                errors.push(FieldError::new(field, "must be between 0 and 10000000000"));
            }
        }
        if let (Some(min), Some(max)) = (self.min_price, self.max_price)
            && min > max
        {
            errors.push(FieldError::new("max_price", "must not be below min_price"));
        }
        let mut attributes = vec![];
        for pair in self.attr.as_deref().unwrap_or("").split(',').filter(|p| !p.is_empty()) {
            match pair
                .split_once(':')
                .and_then(|(code, value)| Some((AttributeCode::parse(code)?, value)))
            {
                Some((code, value)) if !value.is_empty() && value.len() <= 60 => {
                    attributes.push((code, value.to_owned()));
                }
                _ => errors.push(FieldError::new("attr", "must be code:value pairs separated by commas")),
            }
        }
        if attributes.len() > 5 {
            errors.push(FieldError::new("attr", "at most 5 attribute filters"));
        }
        if self.category.as_deref().is_some_and(|c| c.is_empty() || c.len() > 80) {
            errors.push(FieldError::new("category", "must be a category slug"));
        }
        let sort = match self.sort.as_deref() {
            None | Some("") => Sort::Newest,
            Some(s) => Sort::parse(s).unwrap_or_else(|| {
                errors.push(FieldError::new("sort", "must be newest, price_asc or price_desc"));
                Sort::Newest
            }),
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ProductFilter {
            category: self.category.clone(),
            search,
            min_price: self.min_price,
            max_price: self.max_price,
            in_stock: self.in_stock.unwrap_or(false),
            attributes,
            sort,
        })
    }
}

/// Units of a bundle that can be made from its components' availability.
pub fn bundle_available(components: &[BundleComponent], available: impl Fn(Uuid) -> i64) -> i64 {
    components
        .iter()
        .map(|c| available(c.variant_id) / i64::from(c.quantity.max(1)))
        .min()
        .unwrap_or(0)
        .max(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_stored_status_reads_back_and_an_unknown_one_is_an_error() {
        for status in [Status::Active, Status::Archived] {
            assert_eq!(Status::try_from(status.as_str().to_owned()), Ok(status));
        }
        assert_eq!(Status::try_from("draft".to_owned()), Err("unknown status `draft`".to_owned()));
    }

    fn shirt() -> ProductType {
        serde_json::from_value(json!({"id": Uuid::nil(), "code": "shirt", "name": "Shirt", "attributes": [
            {"code": "size", "name": "Size", "kind": "enum", "values": ["S", "M", "L"]},
            {"code": "weight", "name": "Weight", "kind": "number", "unit": "g"}]}))
        .expect("valid type")
    }

    #[test]
    fn attributes_are_checked_against_the_type() {
        let ok: BTreeMap<String, Value> = serde_json::from_value(json!({"size": "M", "weight": 250})).expect("map");
        assert!(validate_attributes(&shirt().attributes, &ok, "a").is_ok());
        let bad: BTreeMap<String, Value> = serde_json::from_value(json!({"size": "XXL", "flavour": "mint"})).expect("map");
        let errors = validate_attributes(&shirt().attributes, &bad, "a").expect_err("invalid");
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["a.size", "a.weight", "a.flavour"]);
    }

    #[test]
    fn search_words_become_prefix_terms_and_operators_are_dropped() {
        let query = ProductQuery {
            q: Some("Batik +shirt -\"tea\" a".into()),
            ..Default::default()
        };
        assert_eq!(
            query.filter().expect("valid").search.as_deref(),
            Some("+batik* +shirt* +tea*")
        );
        let short = ProductQuery {
            q: Some("a b".into()),
            ..Default::default()
        };
        assert!(short.filter().is_err());
    }

    #[test]
    fn attribute_filters_parse_and_reject_junk() {
        let query = ProductQuery {
            attr: Some("size:M,colour:Blue".into()),
            ..Default::default()
        };
        assert_eq!(query.filter().expect("valid").attributes.len(), 2);
        let junk = ProductQuery {
            attr: Some("size".into()),
            ..Default::default()
        };
        assert!(junk.filter().is_err());
    }

    #[test]
    fn a_bundle_is_as_available_as_its_scarcest_component() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let components = [
            BundleComponent {
                variant_id: a,
                quantity: 2,
            },
            BundleComponent {
                variant_id: b,
                quantity: 1,
            },
        ];
        let available = |v| if v == a { 7 } else { 10 };
        assert_eq!(bundle_available(&components, available), 3);
    }

    #[test]
    fn bundles_need_components_and_products_must_not_have_them() {
        let t = ProductType {
            attributes: vec![],
            ..shirt()
        };
        let variant = NewVariant {
            sku: "X-1".into(),
            price_minor: 100,
            attributes: BTreeMap::new(),
            components: vec![],
            weight_grams: 0,
        };
        assert!(variant.check(0, ProductKind::Product, &t).is_ok());
        assert!(variant.check(0, ProductKind::Bundle, &t).is_err());
    }

    #[test]
    fn an_attribute_code_is_plain_before_it_becomes_a_json_path() {
        assert_eq!(
            AttributeCode::parse("size").map(|c| c.json_path()),
            Some("$.\"size\"".to_owned())
        );
        for refused in ["", "Size", "size\"", "a.b", "a\\b", "colour\") OR 1=1 --"] {
            assert_eq!(AttributeCode::parse(refused), None, "{refused}");
        }
    }
}

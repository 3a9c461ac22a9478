//! The catalogue as a spreadsheet: exported as CSV, one row per variant, and imported back from
//! the same shape. An import is checked whole first: every bad row is named with why, and
//! nothing changes until the file is clean; then every change is made in one transaction, each
//! with its row in the audit trail.
//!
//! Columns: `product_id` (empty for a new product), `product_name`, `category`, `product_type`,
//! `kind` (`product` or `service`), `description`, `sku`, `price` (rupees, `1250.00`), `status`
//! (`active` or `archived`), `weight_grams`, `attributes` (`size=M;colour=Maroon`). A row whose
//! SKU exists updates that variant (price, status) and its product (name, description,
//! category); a new SKU adds a variant to `product_id`'s product, or, without one, to a new
//! product made of the file's rows with the same `product_name`.

use std::collections::{BTreeMap, HashMap, HashSet};

use pola_core::{
    Error, FieldError,
    audit::{self, Change},
    auth::{Role, Staff},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::MySqlConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    Catalog,
    model::{AttributeKind, MAX_PRICE_MINOR, MAX_WEIGHT_GRAMS, NewProduct, NewVariant, ProductKind, ProductType, Status, is_sku},
    store::{self, sheet as db},
};

/// The columns, in order.
pub const COLUMNS: [&str; 11] = [
    "product_id",
    "product_name",
    "category",
    "product_type",
    "kind",
    "description",
    "sku",
    "price",
    "status",
    "weight_grams",
    "attributes",
];

/// The most rows one file may hold.
pub const MAX_ROWS: usize = 20_000;

/// One row as read.
#[derive(Debug, Clone, Default, Deserialize)]
struct Row {
    #[serde(default)]
    product_id: String,
    #[serde(default)]
    product_name: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    product_type: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    sku: String,
    #[serde(default)]
    price: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    weight_grams: String,
    #[serde(default)]
    attributes: String,
}

/// What an import did (or, on a dry run, would do).
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct ImportReport {
    pub rows: usize,
    pub products_created: usize,
    pub variants_created: usize,
    pub variants_updated: usize,
    pub products_updated: usize,
    pub unchanged: usize,
    /// True when nothing was written (`dry_run`).
    pub dry_run: bool,
}

/// Rupees as a sheet holds them (`1250`, `1,250.00`) in cents.
fn cents(text: &str) -> Option<i64> {
    let cleaned: String = text.trim().chars().filter(|c| *c != ',').collect();
    let (whole, fraction) = cleaned.split_once('.').unwrap_or((&cleaned, ""));
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    if !digits(whole) || fraction.len() > 2 || !(fraction.is_empty() || digits(fraction)) {
        return None;
    }
    let fraction: i64 = format!("{fraction:0<2}").parse().ok()?;
    whole.parse::<i64>().ok()?.checked_mul(100)?.checked_add(fraction)
}

/// `size=M;colour=Maroon` as the product type's attribute values (numbers as numbers).
fn attributes(text: &str, product_type: &ProductType) -> Result<BTreeMap<String, Value>, String> {
    let mut values = BTreeMap::new();
    for pair in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (code, value) = pair.split_once('=').ok_or_else(|| format!("`{pair}` is not code=value"))?;
        let (code, value) = (code.trim(), value.trim());
        let number = product_type
            .attributes
            .iter()
            .any(|d| d.code == code && matches!(d.kind, AttributeKind::Number { .. }));
        let value = match (number, value.parse::<i64>()) {
            (true, Ok(n)) => Value::from(n),
            _ => Value::from(value),
        };
        values.insert(code.to_owned(), value);
    }
    Ok(values)
}

fn attributes_text(values: &BTreeMap<String, Value>) -> String {
    values
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// A checked row, ready to apply.
struct Checked {
    line: usize,
    row: Row,
    price_minor: i64,
    status: Status,
    weight_grams: u32,
    attributes: BTreeMap<String, Value>,
}

/// A new product the file makes, with its rows.
struct NewFromSheet {
    product: NewProduct,
    lines: Vec<usize>,
}

/// Everything an import will do.
#[derive(Default)]
struct Plan {
    new_products: Vec<NewFromSheet>,
    new_variants: Vec<(Uuid, NewVariant)>,
    variant_updates: Vec<(Uuid, i64, Status)>,
    product_updates: Vec<(Uuid, String, String, Uuid)>,
    unchanged: usize,
}

impl Catalog {
    /// The whole catalogue as CSV, one row per variant (bundles included, for their prices).
    pub async fn export_sheet(&self, staff: &Staff) -> Result<Vec<u8>, Error> {
        staff.require(Role::Catalog)?;
        let mut out = csv::Writer::from_writer(vec![]);
        out.write_record(COLUMNS).map_err(anyhow::Error::from)?;
        for row in db::export_rows(&self.pool).await? {
            out.write_record([
                row.product_id.to_string(),
                row.product_name,
                row.category,
                row.product_type,
                row.kind,
                row.description,
                row.sku,
                pola_core::money::decimal(row.price_minor),
                row.status,
                row.weight_grams.to_string(),
                attributes_text(&row.attributes.0),
            ])
            .map_err(anyhow::Error::from)?;
        }
        out.into_inner().map_err(|e| Error::Internal(anyhow::anyhow!("{e}")))
    }

    /// Checks `csv` whole and, when every row is good and `dry_run` is false, applies it in one
    /// transaction. Bad rows are answered as field errors named `row N: column`.
    pub async fn import_sheet(&self, staff: &Staff, csv: &[u8], dry_run: bool) -> Result<ImportReport, Error> {
        staff.require(Role::Catalog)?;
        let rows = read(csv)?;
        let mut errors = vec![];
        let types: HashMap<String, ProductType> = store::list_product_types(&self.pool)
            .await?
            .into_iter()
            .map(|t| (t.code.clone(), t))
            .collect();
        let categories: HashMap<String, Uuid> = store::list_categories(&self.pool)
            .await?
            .into_iter()
            .map(|c| (c.slug, c.id))
            .collect();
        let skus: Vec<String> = rows.iter().map(|(_, r)| r.sku.trim().to_owned()).collect();
        let existing: HashMap<String, db::ExistingVariant> = db::variants_by_sku(&self.pool, &skus)
            .await?
            .into_iter()
            .map(|v| (v.sku.clone(), v))
            .collect();
        let named: Vec<Uuid> = rows.iter().filter_map(|(_, r)| r.product_id.trim().parse().ok()).collect();
        let products: HashMap<Uuid, db::ExistingProduct> = db::products(&self.pool, &named)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();

        let mut seen = HashSet::new();
        let mut checked = vec![];
        for (line, row) in rows {
            let mut bad = |column: &str, message: String| errors.push(FieldError::new(format!("row {line}: {column}"), message));
            let sku = row.sku.trim();
            if !is_sku(sku) {
                bad("sku", "must be 1-64 characters of A-Z, 0-9, -, _ and .".into());
            } else if !seen.insert(sku.to_owned()) {
                bad("sku", format!("{sku} appears on an earlier row too"));
            }
            let price_minor = cents(&row.price).filter(|p| (0..=MAX_PRICE_MINOR).contains(p));
            if price_minor.is_none() {
                bad("price", format!("`{}` is not a price in rupees (1250.00)", row.price.trim()));
            }
            let status = match row.status.trim() {
                "" | "active" => Some(Status::Active),
                "archived" => Some(Status::Archived),
                other => {
                    bad("status", format!("`{other}` is neither active nor archived"));
                    None
                }
            };
            let weight = match row.weight_grams.trim() {
                "" => Some(0),
                w => w.parse::<u32>().ok().filter(|w| *w <= MAX_WEIGHT_GRAMS),
            };
            if weight.is_none() {
                bad("weight_grams", "must be a whole number of grams up to 100000".into());
            }
            let product_id = match row.product_id.trim() {
                "" => None,
                id => match id.parse::<Uuid>().ok().filter(|id| products.contains_key(id)) {
                    Some(id) => Some(id),
                    None => {
                        bad("product_id", format!("there is no product {id}"));
                        None
                    }
                },
            };
            let known = existing.get(sku);
            if let (Some(variant), Some(product)) = (known, product_id)
                && variant.product_id != product
            {
                bad(
                    "product_id",
                    format!("{sku} belongs to another product ({})", variant.product_id),
                );
            }
            // The product type whose attributes this row's variant has.
            let type_code = match (known, product_id) {
                (Some(v), _) => Some(v.product_type.clone()),
                (None, Some(p)) => products.get(&p).map(|p| p.product_type.clone()),
                (None, None) => Some(row.product_type.trim().to_owned()),
            };
            let product_type = type_code.as_deref().and_then(|code| types.get(code));
            if product_type.is_none() {
                bad(
                    "product_type",
                    format!("there is no product type `{}`", type_code.unwrap_or_default()),
                );
            }
            let category = row.category.trim();
            if (known.is_some() || product_id.is_none() || !category.is_empty()) && !categories.contains_key(category) {
                bad("category", format!("there is no category `{category}`"));
            }
            if row.product_name.trim().is_empty() || row.product_name.trim().chars().count() > 200 {
                bad("product_name", "must be 1-200 characters".into());
            }
            let values = match product_type.map(|t| attributes(&row.attributes, t)) {
                Some(Ok(values)) => values,
                Some(Err(message)) => {
                    bad("attributes", message);
                    BTreeMap::new()
                }
                None => BTreeMap::new(),
            };
            if known.is_none()
                && let Some(product_type) = product_type
            {
                let kind = match product_id.and_then(|p| products.get(&p)) {
                    Some(p) => p.kind,
                    None => ProductKind::parse(row.kind.trim()).unwrap_or(ProductKind::Product),
                };
                if kind == ProductKind::Bundle {
                    bad("kind", "bundles are made in the back-office, not from a sheet".into());
                }
                let variant = NewVariant {
                    sku: sku.to_owned(),
                    price_minor: price_minor.unwrap_or(0),
                    attributes: values.clone(),
                    components: vec![],
                    weight_grams: weight.unwrap_or(0),
                };
                // SKU, price and weight are checked above; the attributes against the type here.
                for e in variant.check(0, kind, product_type).err().unwrap_or_default() {
                    if e.field.contains(".attributes.") {
                        bad(
                            "attributes",
                            format!("{}: {}", e.field.rsplit('.').next().unwrap_or_default(), e.message),
                        );
                    }
                }
            }
            if let (Some(price_minor), Some(status), Some(weight_grams)) = (price_minor, status, weight) {
                checked.push(Checked {
                    line,
                    row,
                    price_minor,
                    status,
                    weight_grams,
                    attributes: values,
                });
            }
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let plan = plan(checked, &existing, &categories)?;
        let report = ImportReport {
            rows: skus.len(),
            products_created: plan.new_products.len(),
            variants_created: plan.new_variants.len() + plan.new_products.iter().map(|p| p.product.variants.len()).sum::<usize>(),
            variants_updated: plan.variant_updates.len(),
            products_updated: plan.product_updates.len(),
            unchanged: plan.unchanged,
            dry_run,
        };
        if dry_run {
            return Ok(report);
        }
        let mut tx = self.pool.begin().await?;
        apply(&mut tx, staff, &plan, &types, &categories).await.map_err(|e| match e {
            Error::Conflict { .. } => Error::field("sku", "a SKU of this file was taken meanwhile; import it again"),
            e => e,
        })?;
        let summary = Change::new("catalog.import", "catalog", format!("{:x}", Sha256::digest(csv)))
            .after(serde_json::to_value(&report).unwrap_or_default());
        self.commit_shown(tx, staff, None, summary).await?;
        tracing::info!(staff.id = %staff.id, rows = report.rows, created = report.variants_created, updated = report.variants_updated, "catalogue imported from a sheet");
        Ok(report)
    }
}

/// The rows of a CSV file, numbered as a spreadsheet numbers them (the header is row 1); a row
/// that cannot be read at all is named with why, with the others.
fn read(csv: &[u8]) -> Result<Vec<(usize, Row)>, Error> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::Headers)
        .flexible(true)
        .from_reader(csv);
    let headers = reader
        .headers()
        .map_err(|e| Error::field("file", format!("not a CSV file: {e}")))?
        .clone();
    let missing: Vec<&str> = ["product_name", "category", "product_type", "sku", "price"]
        .into_iter()
        .filter(|c| !headers.iter().any(|h| h == *c))
        .collect();
    if !missing.is_empty() {
        return Err(Error::field("file", format!("the header lacks {}", missing.join(", "))));
    }
    let width = headers.len();
    let (mut rows, mut unreadable) = (vec![], vec![]);
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let read = record.map_err(|e| e.to_string()).and_then(|record| {
            if record.len() != width {
                return Err(format!(
                    "has {} columns where the header has {width} (a comma in a price? quote the cell)",
                    record.len()
                ));
            }
            record.deserialize::<Row>(Some(&headers)).map_err(|e| e.to_string())
        });
        match read {
            Ok(row) => rows.push((line, row)),
            Err(why) => unreadable.push(FieldError::new(format!("row {line}"), format!("cannot be read: {why}"))),
        }
        if i >= MAX_ROWS {
            return Err(Error::field("file", format!("has more than {MAX_ROWS} rows; split it")));
        }
    }
    if !unreadable.is_empty() {
        return Err(Error::Validation(unreadable));
    }
    if rows.is_empty() {
        return Err(Error::field("file", "has no rows under its header"));
    }
    Ok(rows)
}

/// What to create and change, from rows that each passed their checks; the checks that need
/// the rows together (a new product's rows agreeing) happen here.
fn plan(
    checked: Vec<Checked>,
    existing: &HashMap<String, db::ExistingVariant>,
    categories: &HashMap<String, Uuid>,
) -> Result<Plan, Error> {
    let mut plan = Plan::default();
    let mut errors = vec![];
    let mut touched_products = HashSet::new();
    for c in checked {
        let sku = c.row.sku.trim().to_owned();
        let variant = NewVariant {
            sku: sku.clone(),
            price_minor: c.price_minor,
            attributes: c.attributes,
            components: vec![],
            weight_grams: c.weight_grams,
        };
        match (existing.get(&sku), c.row.product_id.trim().parse::<Uuid>().ok()) {
            (Some(known), _) => {
                let changed = known.price_minor != c.price_minor || known.status != c.status.as_str();
                if changed {
                    plan.variant_updates.push((known.id, c.price_minor, c.status));
                }
                let category = categories.get(c.row.category.trim()).copied().unwrap_or(known.category_id);
                let (name, description) = (c.row.product_name.trim().to_owned(), c.row.description.trim().to_owned());
                let product_changed =
                    known.product_name != name || known.description != description || known.category_id != category;
                if product_changed && touched_products.insert(known.product_id) {
                    plan.product_updates.push((known.product_id, name, description, category));
                }
                if !changed && !product_changed {
                    plan.unchanged += 1;
                }
            }
            (None, Some(product)) => plan.new_variants.push((product, variant)),
            (None, None) => {
                let name = c.row.product_name.trim().to_owned();
                match plan.new_products.iter_mut().find(|p| p.product.name == name) {
                    Some(p) => {
                        if p.product.category != c.row.category.trim() || p.product.product_type != c.row.product_type.trim() {
                            errors.push(FieldError::new(
                                format!("row {}: product_name", c.line),
                                format!("`{name}` is on an earlier row with another category or product type"),
                            ));
                        }
                        p.product.variants.push(variant);
                        p.lines.push(c.line);
                    }
                    None => plan.new_products.push(NewFromSheet {
                        product: NewProduct {
                            name,
                            description: c.row.description.trim().to_owned(),
                            kind: ProductKind::parse(c.row.kind.trim()).unwrap_or(ProductKind::Product),
                            category: c.row.category.trim().to_owned(),
                            product_type: c.row.product_type.trim().to_owned(),
                            variants: vec![variant],
                        },
                        lines: vec![c.line],
                    }),
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(plan)
    } else {
        Err(Error::Validation(errors))
    }
}

async fn apply(
    tx: &mut MySqlConnection,
    staff: &Staff,
    plan: &Plan,
    types: &HashMap<String, ProductType>,
    categories: &HashMap<String, Uuid>,
) -> Result<(), Error> {
    for new in &plan.new_products {
        let (Some(product_type), Some(category)) = (types.get(&new.product.product_type), categories.get(&new.product.category))
        else {
            continue;
        };
        let id = pola_core::new_id();
        let variant_ids: Vec<Uuid> = new.product.variants.iter().map(|_| pola_core::new_id()).collect();
        store::insert_products(tx, &[(id, product_type.id, *category, &new.product)], &[variant_ids])
            .await
            .map_err(Catalog::sku_taken)?;
        let after = store::product(&mut *tx, id).await?;
        let change = Change::new("product.create", "product", id).after(serde_json::json!({"product": after, "rows": new.lines}));
        audit::record(&mut *tx, staff, change).await?;
    }
    for (product, variant) in &plan.new_variants {
        let id = pola_core::new_id();
        store::insert_variants(tx, &[(id, *product, variant)])
            .await
            .map_err(Catalog::sku_taken)?;
        let after = store::variant_state(tx, id).await?;
        audit::record(&mut *tx, staff, Change::new("variant.create", "variant", id).after(&after)).await?;
    }
    for (id, price_minor, status) in &plan.variant_updates {
        let before = store::variant_state(tx, *id).await?;
        store::update_variant(tx, *id, Some(*price_minor), Some(*status)).await?;
        let after = store::variant_state(tx, *id).await?;
        audit::record(
            &mut *tx,
            staff,
            Change::new("variant.update", "variant", id).before(&before).after(&after),
        )
        .await?;
    }
    for (id, name, description, category) in &plan.product_updates {
        let before = store::product(&mut *tx, *id).await?;
        store::update_product(tx, *id, Some(name), Some(description), Some(*category), None).await?;
        let after = store::product(&mut *tx, *id).await?;
        audit::record(
            &mut *tx,
            staff,
            Change::new("product.update", "product", id).before(&before).after(&after),
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_read_as_rupees_and_write_back_the_same() {
        assert_eq!(cents("1250"), Some(125_000));
        assert_eq!(cents("1,250.5"), Some(125_050));
        assert_eq!(cents("0.99"), Some(99));
        for bad in ["", "12.345", "-1", "abc", "1.2.3", "Rs. 100"] {
            assert_eq!(cents(bad), None, "{bad}");
        }
        assert_eq!(pola_core::money::decimal(125_050), "1250.50");
        assert_eq!(cents(&pola_core::money::decimal(99)), Some(99));
    }
}

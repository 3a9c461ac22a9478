//! Stock rules, without I/O: how a request for units is spread over locations, and what a release
//! gives back. The store locks the rows, runs these on them, and writes the result.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Units of one variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StockItem {
    pub variant_id: Uuid,
    pub quantity: u32,
}

/// A stock row as locked for update.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Level {
    pub on_hand: i64,
    pub reserved: i64,
}

impl Level {
    pub fn available(self) -> i64 {
        (self.on_hand - self.reserved).max(0)
    }
}

/// Stock rows by (variant, location), ordered so that iteration is deterministic.
pub type Levels = BTreeMap<(Uuid, String), Level>;

/// Units taken from one location.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Allocation {
    pub variant_id: Uuid,
    pub location: String,
    pub quantity: i64,
}

/// Not enough of a variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Shortage {
    pub variant_id: Uuid,
    pub requested: u32,
    /// What could be had right now.
    pub available: i64,
}

/// How units are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Held for a cart: `reserved` grows.
    Reserve,
    /// Sold: `on_hand` shrinks.
    Sell,
}

/// Returns reserved units to availability.
pub fn release(levels: &mut Levels, held: &[Allocation]) {
    for a in held {
        if let Some(level) = levels.get_mut(&(a.variant_id, a.location.clone())) {
            level.reserved = (level.reserved - a.quantity).max(0);
        }
    }
}

/// Takes every item from the locations with the most available first, all or nothing. Items of
/// the same variant add up. On shortage `levels` is left as it was.
pub fn take(levels: &mut Levels, items: &[StockItem], how: Take) -> Result<Vec<Allocation>, Vec<Shortage>> {
    let mut wanted: BTreeMap<Uuid, u32> = BTreeMap::new();
    for item in items {
        *wanted.entry(item.variant_id).or_default() += item.quantity;
    }
    let shortages: Vec<Shortage> = wanted
        .iter()
        .filter_map(|(&variant_id, &requested)| {
            let available: i64 = levels
                .iter()
                .filter(|((v, _), _)| *v == variant_id)
                .map(|(_, l)| l.available())
                .sum();
            (available < i64::from(requested)).then_some(Shortage {
                variant_id,
                requested,
                available,
            })
        })
        .collect();
    if !shortages.is_empty() {
        return Err(shortages);
    }
    let mut allocations = vec![];
    for (variant_id, requested) in wanted {
        let mut locations: Vec<(&String, i64)> = levels
            .iter()
            .filter(|((v, _), l)| *v == variant_id && l.available() > 0)
            .map(|((_, loc), l)| (loc, l.available()))
            .collect();
        locations.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let mut left = i64::from(requested);
        let mut picks = vec![];
        for (location, available) in locations {
            if left == 0 {
                break;
            }
            let quantity = left.min(available);
            left -= quantity;
            picks.push(Allocation {
                variant_id,
                location: location.clone(),
                quantity,
            });
        }
        for pick in &picks {
            let level = levels
                .get_mut(&(pick.variant_id, pick.location.clone()))
                .expect("picked from an existing level");
            match how {
                Take::Reserve => level.reserved += pick.quantity,
                Take::Sell => level.on_hand -= pick.quantity,
            }
        }
        allocations.extend(picks);
    }
    Ok(allocations)
}

/// Stock of one variant at one location, as staff see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LocationStock {
    pub location: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
}

/// One change to on-hand stock.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerEntry {
    pub variant_id: Uuid,
    pub location: String,
    /// `adjustment`, `sale` or `return`.
    pub kind: String,
    pub delta: i64,
    pub on_hand_after: i64,
    pub reason: String,
    pub order_id: Option<Uuid>,
    pub staff_id: Option<Uuid>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A variant's stock, everywhere, with its latest ledger entries.
#[derive(Debug, Serialize, ToSchema)]
pub struct VariantStock {
    pub variant_id: Uuid,
    pub available: i64,
    pub locations: Vec<LocationStock>,
    /// The 50 latest changes, newest first.
    pub ledger: Vec<LedgerEntry>,
}

/// A variant's stock at the locations a list asked about.
#[derive(Debug, Serialize, ToSchema)]
pub struct VariantLevels {
    pub variant_id: Uuid,
    pub locations: Vec<LocationStock>,
}

/// What one location holds.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct LocationSummary {
    pub location: String,
    /// Variants with a stock row here.
    pub variants: i64,
    pub on_hand: i64,
    pub reserved: i64,
    /// Variants here with `low_stock_threshold` units available or fewer.
    pub low: i64,
}

/// Every location, and where "low" starts.
#[derive(Debug, Serialize, ToSchema)]
pub struct Locations {
    pub low_stock_threshold: i64,
    pub locations: Vec<LocationSummary>,
}

/// `GET /api/v1/inventory/stock`: which stock rows.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StockQuery {
    /// Only this location.
    pub location: Option<String>,
    /// Only rows with `low_stock_threshold` units available or fewer.
    #[serde(default)]
    pub low: bool,
}

/// `GET /api/v1/inventory/ledger`: which changes, newest first.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    pub variant: Option<Uuid>,
    pub location: Option<String>,
    /// `adjustment`, `sale` or `return`.
    pub kind: Option<String>,
}

/// The ledger's kinds of change.
pub const LEDGER_KINDS: [&str; 3] = ["adjustment", "sale", "return"];

/// `PUT /api/v1/inventory/variants/{id}/stock`: a stock count or correction.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"location": "colombo", "on_hand": 120, "reason": "stock count 2026-11-20"}))]
pub struct SetStockRequest {
    /// Location code (`colombo`, `kandy`, …): 1-40 characters of a-z, 0-9, `-` and `_`.
    pub location: String,
    /// The counted units on hand, 0 or more.
    pub on_hand: i64,
    /// Why (kept in the ledger), 1-200 characters.
    pub reason: String,
}

/// A location code, validated.
pub fn parse_location(raw: &str) -> Result<String, &'static str> {
    let ok = (1..=40).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err("must be 1-40 characters of a-z, 0-9, - and _")
    }
}

/// The terms of a reservation: for whom, and for how long.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// A holder whose holds all count against one limit (a guest's address), if any.
    pub holder: Option<Holder>,
    /// How long the units are held, in seconds; None: `inventory.reservation_ttl_secs`.
    pub ttl_secs: Option<u64>,
}

/// Whose holds count together, and how much they may hold at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// An opaque key (a keyed hash: never the address itself).
    pub key: Uuid,
    /// Most units of one variant held at once, in all its reservations.
    pub max_per_variant: i64,
    /// Most units held at once, in all.
    pub max_units: i64,
}

/// A hold refused because its holder would hold more than it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OverLimit {
    /// The variant over its limit; None when the total is.
    pub variant_id: Option<Uuid>,
    pub limit: i64,
    /// What the holder would hold with this reservation.
    pub would_hold: i64,
}

/// Checks that `holder`, holding `elsewhere` (units per variant in its other reservations),
/// may also hold `items`.
pub fn check_holder(holder: &Holder, elsewhere: &BTreeMap<Uuid, i64>, items: &[StockItem]) -> Result<(), OverLimit> {
    let mut wanted: BTreeMap<Uuid, i64> = BTreeMap::new();
    for item in items {
        *wanted.entry(item.variant_id).or_default() += i64::from(item.quantity);
    }
    for (variant, quantity) in &wanted {
        let would_hold = elsewhere.get(variant).copied().unwrap_or(0) + quantity;
        if would_hold > holder.max_per_variant {
            return Err(OverLimit {
                variant_id: Some(*variant),
                limit: holder.max_per_variant,
                would_hold,
            });
        }
    }
    let would_hold = elsewhere.values().sum::<i64>() + wanted.values().sum::<i64>();
    if would_hold > holder.max_units {
        return Err(OverLimit {
            variant_id: None,
            limit: holder.max_units,
            would_hold,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels(rows: &[(Uuid, &str, i64, i64)]) -> Levels {
        rows.iter()
            .map(|&(v, l, on_hand, reserved)| ((v, l.to_owned()), Level { on_hand, reserved }))
            .collect()
    }

    #[test]
    fn a_request_spreads_over_locations_most_available_first() {
        let v = Uuid::now_v7();
        let mut stock = levels(&[(v, "colombo", 5, 4), (v, "kandy", 3, 0)]);
        let taken = take(
            &mut stock,
            &[StockItem {
                variant_id: v,
                quantity: 4,
            }],
            Take::Reserve,
        )
        .expect("enough");
        assert_eq!(
            taken.iter().map(|a| (a.location.as_str(), a.quantity)).collect::<Vec<_>>(),
            [("kandy", 3), ("colombo", 1)]
        );
        assert_eq!(stock[&(v, "colombo".into())].reserved, 5);
        assert_eq!(stock[&(v, "kandy".into())].reserved, 3);
    }

    #[test]
    fn a_shortage_takes_nothing_and_says_what_is_available() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let mut stock = levels(&[(a, "colombo", 10, 0), (b, "colombo", 2, 1)]);
        let before = stock.clone();
        let items = [
            StockItem {
                variant_id: a,
                quantity: 3,
            },
            StockItem {
                variant_id: b,
                quantity: 2,
            },
        ];
        let shortages = take(&mut stock, &items, Take::Sell).expect_err("short");
        assert_eq!(
            shortages,
            [Shortage {
                variant_id: b,
                requested: 2,
                available: 1
            }]
        );
        assert_eq!(stock, before);
    }

    #[test]
    fn the_same_variant_twice_adds_up() {
        let v = Uuid::now_v7();
        let mut stock = levels(&[(v, "colombo", 3, 0)]);
        let items = [
            StockItem {
                variant_id: v,
                quantity: 2,
            },
            StockItem {
                variant_id: v,
                quantity: 2,
            },
        ];
        assert!(take(&mut stock, &items, Take::Sell).is_err());
    }

    #[test]
    fn release_then_sell_reuses_the_held_units() {
        let v = Uuid::now_v7();
        let mut stock = levels(&[(v, "colombo", 1, 1)]);
        release(
            &mut stock,
            &[Allocation {
                variant_id: v,
                location: "colombo".into(),
                quantity: 1,
            }],
        );
        take(
            &mut stock,
            &[StockItem {
                variant_id: v,
                quantity: 1,
            }],
            Take::Sell,
        )
        .expect("the released unit");
        assert_eq!(stock[&(v, "colombo".into())], Level { on_hand: 0, reserved: 0 });
    }

    #[test]
    fn a_holder_may_hold_up_to_its_limits_per_variant_and_in_all() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let holder = Holder {
            key: Uuid::now_v7(),
            max_per_variant: 10,
            max_units: 15,
        };
        let item = |variant_id, quantity| StockItem { variant_id, quantity };
        let elsewhere = BTreeMap::from([(a, 6)]);
        assert_eq!(check_holder(&holder, &elsewhere, &[item(a, 4)]), Ok(()));
        assert_eq!(
            check_holder(&holder, &elsewhere, &[item(a, 3), item(a, 2)]),
            Err(OverLimit {
                variant_id: Some(a),
                limit: 10,
                would_hold: 11
            })
        );
        assert_eq!(check_holder(&holder, &elsewhere, &[item(b, 9)]), Ok(()));
        assert_eq!(
            check_holder(&holder, &elsewhere, &[item(b, 10)]),
            Err(OverLimit {
                variant_id: None,
                limit: 15,
                would_hold: 16
            })
        );
    }
}

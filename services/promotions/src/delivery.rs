//! Delivery fees: Sri Lanka's 25 districts grouped into zones; each zone charges for the first
//! kilogram and for each further kilogram begun; orders from a threshold (after discounts) go
//! free, and cash on delivery adds a surcharge (which free delivery does not waive: it pays for
//! handling the cash, not for the ride).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub use pola_core::districts::{DISTRICTS, district};

/// A delivery zone's prices, in cents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Zone {
    pub code: String,
    pub first_kg_minor: i64,
    pub extra_kg_minor: i64,
}

/// Zones, which district is in which, the free-delivery threshold and the COD surcharge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRules {
    pub zones: Vec<Zone>,
    /// District (canonical name) → zone code.
    pub districts: HashMap<String, String>,
    /// Subtotal after discounts from which delivery is free; none: never.
    pub free_from_minor: Option<i64>,
    pub cod_surcharge_minor: i64,
}

impl DeliveryRules {
    /// The demo shop's rules (staff change them): Colombo, Gampaha and Kalutara Rs. 350 + Rs. 100
    /// a further kilogram; the North and East Rs. 550 + Rs. 150; elsewhere Rs. 450 + Rs. 120;
    /// free from Rs. 10,000; Rs. 100 for cash on delivery.
    pub fn demo() -> Self {
        let zone = |code: &str, first_kg_minor, extra_kg_minor| Zone {
            code: code.into(),
            first_kg_minor,
            extra_kg_minor,
        };
        let metro = ["Colombo", "Gampaha", "Kalutara"];
        let north_east = [
            "Jaffna",
            "Kilinochchi",
            "Mannar",
            "Mullaitivu",
            "Vavuniya",
            "Trincomalee",
            "Batticaloa",
            "Ampara",
        ];
        let districts = DISTRICTS
            .into_iter()
            .map(|d| {
                let zone = match d {
                    d if metro.contains(&d) => "metro",
                    d if north_east.contains(&d) => "north_east",
                    _ => "island",
                };
                (d.to_owned(), zone.to_owned())
            })
            .collect();
        Self {
            zones: vec![
                zone("metro", 35_000, 10_000),
                zone("island", 45_000, 12_000),
                zone("north_east", 55_000, 15_000),
            ],
            districts,
            free_from_minor: Some(1_000_000),
            cod_surcharge_minor: 10_000,
        }
    }
}

/// What delivery costs, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryFee {
    pub zone: String,
    /// Kilograms charged: the first, and each further one begun.
    pub kilograms: i64,
    /// The ride (zero when free).
    pub fee_minor: i64,
    /// Handling cash on delivery.
    pub cod_surcharge_minor: i64,
    /// Free by the threshold (or a promotion).
    pub free: bool,
}

/// Why there is no delivery quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoQuote {
    UnknownDistrict,
    /// The district has no zone (the rules are incomplete): staff must place it.
    NoZone(&'static str),
}

/// What delivering `grams` to `district` costs for a subtotal (after discounts) of
/// `subtotal_minor`; `free` when a promotion gives free delivery.
pub fn quote(
    rules: &DeliveryRules,
    district_name: &str,
    grams: i64,
    subtotal_minor: i64,
    cod: bool,
    free: bool,
) -> Result<DeliveryFee, NoQuote> {
    let district = district(district_name).ok_or(NoQuote::UnknownDistrict)?;
    let zone = rules
        .districts
        .get(district)
        .and_then(|code| rules.zones.iter().find(|z| &z.code == code))
        .ok_or(NoQuote::NoZone(district))?;
    // Up to 1,000 g is the first kilogram; each further kilogram begun is charged (1,001 g: 2).
    let kilograms = 1 + (grams.max(1) - 1) / 1000;
    let free = free || rules.free_from_minor.is_some_and(|from| subtotal_minor >= from);
    Ok(DeliveryFee {
        zone: zone.code.clone(),
        kilograms,
        fee_minor: if free {
            0
        } else {
            zone.first_kg_minor + (kilograms - 1) * zone.extra_kg_minor
        },
        cod_surcharge_minor: if cod { rules.cod_surcharge_minor } else { 0 },
        free,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_district_is_in_a_zone_and_spellings_are_forgiven() {
        let rules = DeliveryRules::demo();
        assert_eq!(rules.districts.len(), 25);
        assert_eq!(district("nuwara-eliya"), Some("Nuwara Eliya"));
        assert_eq!(district(" COLOMBO "), Some("Colombo"));
        assert_eq!(district("Atlantis"), None);
    }

    #[test]
    fn fees_worked_by_hand() {
        let rules = DeliveryRules::demo();
        let fee = |d: &str, grams, subtotal, cod| {
            quote(&rules, d, grams, subtotal, cod, false).map(|f| (f.fee_minor, f.cod_surcharge_minor, f.kilograms))
        };
        // Kandy (island), 2,300 g: Rs. 450 + 2 × Rs. 120 = Rs. 690.
        assert_eq!(fee("Kandy", 2_300, 500_000, false), Ok((69_000, 0, 3)));
        // Colombo, exactly 1 kg: Rs. 350; one gram more: a second kilogram begun, Rs. 450.
        assert_eq!(fee("Colombo", 1_000, 500_000, false), Ok((35_000, 0, 1)));
        assert_eq!(fee("Colombo", 1_001, 500_000, false), Ok((45_000, 0, 2)));
        // Jaffna, 500 g, cash on delivery: Rs. 550 and Rs. 100.
        assert_eq!(fee("Jaffna", 500, 500_000, true), Ok((55_000, 10_000, 1)));
        // Galle at exactly Rs. 10,000.00 goes free; the COD surcharge stays.
        assert_eq!(fee("Galle", 4_000, 1_000_000, true), Ok((0, 10_000, 4)));
        // A cent under the threshold pays: Rs. 450 + 3 × Rs. 120 = Rs. 810.
        assert_eq!(fee("Galle", 4_000, 999_999, false), Ok((81_000, 0, 4)));
        // Unknown weight (0 g) is charged as the first kilogram.
        assert_eq!(fee("Matara", 0, 100, false), Ok((45_000, 0, 1)));
        assert_eq!(fee("Atlantis", 100, 100, false), Err(NoQuote::UnknownDistrict));
        let promo = quote(&rules, "Ampara", 1_500, 100, false, true).expect("a quote");
        assert!(promo.free && promo.fee_minor == 0, "free delivery by a promotion");
    }

    #[test]
    fn a_district_without_a_zone_is_said_so() {
        let mut rules = DeliveryRules::demo();
        rules.districts.remove("Kegalle");
        assert_eq!(
            quote(&rules, "Kegalle", 100, 100, false, false),
            Err(NoQuote::NoZone("Kegalle"))
        );
    }
}

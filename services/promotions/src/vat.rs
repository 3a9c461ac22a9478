//! VAT. Shop prices include it (the maximum-retail-price practice); what is shown is the VAT
//! portion of an inclusive amount, at the rate in force on the order's date. Rates are
//! effective-dated data: a new rate is a new row from its first day, never an edit of the old.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::money::{allocate, div_round_half_up};

/// A VAT rate, in force from `from` until the next rate's first day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VatRate {
    pub from: NaiveDate,
    /// 1/100 of a percent: 1800 is 18%.
    pub basis_points: u32,
}

/// Sri Lanka's standard rate since December 2019: 8% from 1 December 2019, 12% from 1 June
/// 2022, 15% from 1 September 2022, 18% from 1 January 2024.
pub fn sri_lanka() -> Vec<VatRate> {
    [
        ((2019, 12, 1), 800),
        ((2022, 6, 1), 1200),
        ((2022, 9, 1), 1500),
        ((2024, 1, 1), 1800),
    ]
    .into_iter()
    .filter_map(|((y, m, d), basis_points)| {
        Some(VatRate {
            from: NaiveDate::from_ymd_opt(y, m, d)?,
            basis_points,
        })
    })
    .collect()
}

/// The rate in force on `date`: the latest that started on or before it.
pub fn rate_on(rates: &[VatRate], date: NaiveDate) -> Option<u32> {
    rates
        .iter()
        .filter(|r| r.from <= date)
        .max_by_key(|r| r.from)
        .map(|r| r.basis_points)
}

/// The VAT in a VAT-inclusive amount: amount × rate / (1 + rate), rounded half up.
pub fn vat_in(gross_minor: i64, basis_points: u32) -> i64 {
    let vat = div_round_half_up(
        i128::from(gross_minor) * i128::from(basis_points),
        10_000 + i128::from(basis_points),
    );
    i64::try_from(vat).unwrap_or(i64::MAX)
}

/// The order's VAT, worked out once on its total, and each line's part of it (split by the
/// lines' amounts, largest remainder): the lines always add up to the order's VAT.
pub fn vat_lines(line_totals: &[i64], basis_points: u32) -> (i64, Vec<i64>) {
    let total = vat_in(line_totals.iter().sum(), basis_points);
    (total, allocate(total, line_totals))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("a date")
    }

    #[test]
    fn the_rate_is_the_one_in_force_on_the_order_s_date() {
        let rates = sri_lanka();
        assert_eq!(rate_on(&rates, day(2023, 12, 31)), Some(1500));
        assert_eq!(rate_on(&rates, day(2024, 1, 1)), Some(1800));
        assert_eq!(rate_on(&rates, day(2026, 12, 2)), Some(1800));
        assert_eq!(rate_on(&rates, day(2022, 8, 31)), Some(1200));
        assert_eq!(rate_on(&rates, day(2019, 1, 1)), None, "before the first rate we hold");
    }

    #[test]
    fn the_vat_portion_of_inclusive_prices_worked_by_hand() {
        // Rs. 1,180.00 at 18%: 118000 × 18/118 = 18000 exactly.
        assert_eq!(vat_in(118_000, 1800), 18_000);
        // Rs. 1,000.00: 100000 × 18/118 = 15254.24 → 15254.
        assert_eq!(vat_in(100_000, 1800), 15_254);
        // Rs. 0.07: 7 × 18/118 = 1.07 → 1; Rs. 0.03: 0.46 → 0.
        assert_eq!(vat_in(7, 1800), 1);
        assert_eq!(vat_in(3, 1800), 0);
        // At 15%: Rs. 2,300.00 × 15/115 = 30000.
        assert_eq!(vat_in(230_000, 1500), 30_000);
    }

    #[test]
    fn line_vat_adds_up_to_the_order_s() {
        // Three lines of Rs. 3.33 (999 in all): 999 × 18/118 = 152.39 → 152, split 51, 51, 50.
        let (order, lines) = vat_lines(&[333, 333, 333], 1800);
        assert_eq!(order, 152);
        assert_eq!(lines, [51, 51, 50]);
        // Each line alone would round to 51 (333 × 18/118 = 50.8): 153, a cent invented.
        assert_eq!(vat_in(333, 1800) * 3, 153);
    }
}

//! Rounding, written down once. Amounts are integer cents of LKR.
//!
//! - A percentage of an amount is rounded half up to the cent (half a cent and more rounds
//!   away from zero): 12.5% of Rs. 10.01 is 125.125 cents, so 125 cents; of Rs. 10.02, 125.25,
//!   so 125; of Rs. 10.04, 125.5, so 126.
//! - An amount split across lines in proportion to their weights is split by largest
//!   remainder: each line gets its share rounded down, and the cents left over go one each to
//!   the lines with the largest remainders (the earlier line first on a tie). The shares always
//!   add up to the amount.

/// `numerator / denominator` rounded half up (away from zero); `denominator` > 0.
pub fn div_round_half_up(numerator: i128, denominator: i128) -> i128 {
    debug_assert!(denominator > 0);
    let (quotient, remainder) = (numerator / denominator, numerator % denominator);
    if remainder.abs() * 2 >= denominator {
        quotient + numerator.signum()
    } else {
        quotient
    }
}

/// `basis_points` (1/100 of a percent: 1250 is 12.5%) of `amount_minor`, rounded half up.
pub fn percent_of(amount_minor: i64, basis_points: u32) -> i64 {
    let cents = div_round_half_up(i128::from(amount_minor) * i128::from(basis_points), 10_000);
    i64::try_from(cents).unwrap_or(i64::MAX)
}

/// Splits `amount_minor` (≥ 0) across `weights` (≥ 0) in proportion, by largest remainder. All
/// weights zero: nothing can be split, and every share is zero but the first, which takes it all.
pub fn allocate(amount_minor: i64, weights: &[i64]) -> Vec<i64> {
    if weights.is_empty() {
        return vec![];
    }
    let total: i128 = weights.iter().map(|w| i128::from((*w).max(0))).sum();
    if total == 0 {
        let mut shares = vec![0; weights.len()];
        shares[0] = amount_minor;
        return shares;
    }
    let amount = i128::from(amount_minor);
    let mut shares = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    for (i, weight) in weights.iter().enumerate() {
        let exact = amount * i128::from((*weight).max(0));
        shares.push(exact / total);
        remainders.push((exact % total, i));
    }
    let mut left = amount - shares.iter().sum::<i128>();
    // Largest remainder first; on a tie, the earlier line.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in remainders {
        if left == 0 {
            break;
        }
        shares[i] += 1;
        left -= 1;
    }
    shares.into_iter().map(|s| i64::try_from(s).unwrap_or(i64::MAX)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_percentage_rounds_half_up_to_the_cent() {
        // Worked by hand: 12.5% of 1001 = 125.125 → 125; of 1002 = 125.25 → 125; of 1004 = 125.5 → 126.
        assert_eq!(percent_of(1001, 1250), 125);
        assert_eq!(percent_of(1002, 1250), 125);
        assert_eq!(percent_of(1004, 1250), 126);
        // 10% of Rs. 999.95 = 9999.5 cents → 10000.
        assert_eq!(percent_of(99_995, 1000), 10_000);
        assert_eq!(percent_of(0, 1000), 0);
        assert_eq!(percent_of(12_345, 10_000), 12_345, "100% is all of it");
        assert_eq!(div_round_half_up(-5, 2), -3, "away from zero below zero too");
    }

    #[test]
    fn a_split_never_loses_or_invents_a_cent() {
        // Rs. 1.00 over three equal lines: 33, 33, 33 and one cent left, to the first.
        assert_eq!(allocate(100, &[500, 500, 500]), [34, 33, 33]);
        // Rs. 10.00 over 1:2 weights: 333.33… and 666.66…; the larger remainder (.66) gets it.
        assert_eq!(allocate(1000, &[100, 200]), [333, 667]);
        assert_eq!(allocate(7, &[0, 3, 0]), [0, 7, 0]);
        assert_eq!(allocate(5, &[0, 0]), [5, 0]);
        assert!(allocate(0, &[]).is_empty());
        for (amount, weights) in [
            (999_999_i64, vec![1_i64, 7, 13, 999]),
            (1, vec![5, 5, 5, 5]),
            (250_000, vec![120_000, 120_000, 45_050, 3]),
        ] {
            let shares = allocate(amount, &weights);
            assert_eq!(shares.iter().sum::<i64>(), amount, "{weights:?}");
            assert!(shares.iter().all(|s| *s >= 0));
        }
    }
}

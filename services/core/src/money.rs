//! Money as integer minor units with a currency. Never floating point.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The currencies Pola prices in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum Currency {
    /// Sri Lankan rupee; 100 cents to the rupee.
    #[serde(rename = "LKR")]
    Lkr,
}

impl Currency {
    pub fn code(self) -> &'static str {
        match self {
            Currency::Lkr => "LKR",
        }
    }
}

/// An amount of money: `amount_minor` cents of `currency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"amount_minor": 450000, "currency": "LKR"}))]
pub struct Money {
    /// Amount in the currency's minor unit (cents for LKR).
    pub amount_minor: i64,
    pub currency: Currency,
}

/// An amount as the shop stores it: minor units of LKR, its one currency (rows map with it).
impl From<i64> for Money {
    fn from(amount_minor: i64) -> Self {
        Money::lkr(amount_minor)
    }
}

impl Money {
    pub const fn lkr(amount_minor: i64) -> Self {
        Self {
            amount_minor,
            currency: Currency::Lkr,
        }
    }

    /// `self × quantity`, or `None` on overflow.
    pub fn times(self, quantity: u32) -> Option<Self> {
        Some(Self {
            amount_minor: self.amount_minor.checked_mul(i64::from(quantity))?,
            ..self
        })
    }

    /// `self + other`, or `None` on overflow or mixed currencies.
    pub fn plus(self, other: Self) -> Option<Self> {
        if self.currency != other.currency {
            return None;
        }
        Some(Self {
            amount_minor: self.amount_minor.checked_add(other.amount_minor)?,
            ..self
        })
    }
}

impl fmt::Display for Money {
    /// `LKR 4,500.00`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.currency.code(), grouped(self.amount_minor))
    }
}

/// Rupees and cents of an amount, and its sign: every writer of money starts from this (an
/// amount's absolute value as `u64`, so that `i64::MIN` writes too).
fn parts(amount_minor: i64) -> (bool, u64, u64) {
    let abs = amount_minor.unsigned_abs();
    (amount_minor < 0, abs / 100, abs % 100)
}

/// An amount of cents as rupees with thousands grouped the Sri Lankan way: `-1,234,567.89`.
pub fn grouped(amount_minor: i64) -> String {
    let (negative, _, _) = parts(amount_minor);
    format!("{}{}", if negative { "-" } else { "" }, grouped_abs(amount_minor))
}

fn grouped_abs(amount_minor: i64) -> String {
    let (_, major, minor) = parts(amount_minor);
    let digits = major.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3 + 4);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{grouped}.{minor:02}")
}

/// An amount as a form, a sheet or a payment gateway writes it: `-1234.50` (no grouping).
pub fn decimal(amount_minor: i64) -> String {
    let (negative, major, minor) = parts(amount_minor);
    format!("{}{major}.{minor:02}", if negative { "-" } else { "" })
}

/// How a text writes rupees: its symbol, what separates it from the figure, its minus sign.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    pub symbol: &'static str,
    pub space: &'static str,
    pub minus: &'static str,
}

impl Written {
    /// `Rs. 1,250.00` and `-Rs. 2.50`: plain characters, as emails and SMS (GSM 7-bit) carry.
    pub const PLAIN: Self = Self {
        symbol: "Rs.",
        space: " ",
        minus: "-",
    };

    /// The amount, grouped, after the symbol; the minus sign before both.
    pub fn amount(self, amount_minor: i64) -> String {
        let (negative, _, _) = parts(amount_minor);
        let sign = if negative { self.minus } else { "" };
        format!("{sign}{}{}{}", self.symbol, self.space, grouped_abs(amount_minor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_rupees_with_grouping() {
        assert_eq!(Money::lkr(450_000).to_string(), "LKR 4,500.00");
        assert_eq!(Money::lkr(123_456_789).to_string(), "LKR 1,234,567.89");
        assert_eq!(grouped(i64::MIN), "-92,233,720,368,547,758.08");
        assert_eq!(grouped(-5), "-0.05");
        assert_eq!(Money::lkr(-5).to_string(), "LKR -0.05");
    }

    #[test]
    fn arithmetic_refuses_overflow() {
        assert_eq!(Money::lkr(i64::MAX).times(2), None);
        assert_eq!(Money::lkr(250).times(3), Some(Money::lkr(750)));
        assert_eq!(Money::lkr(i64::MAX).plus(Money::lkr(1)), None);
    }

    #[test]
    fn serialises_with_the_iso_code() {
        let json = serde_json::to_value(Money::lkr(100)).expect("serialises");
        assert_eq!(json, serde_json::json!({"amount_minor": 100, "currency": "LKR"}));
    }
}

//! Promotions and prices: the one pricing step (catalogue price → promotions → memberships →
//! codes → delivery → total, with VAT shown), promotions and codes with limits exact under
//! concurrency, memberships, delivery fees by zone and weight, and VAT.
//!
//! Built in steps (issue 14). This step holds the rules without I/O that every later one
//! prices with: how an amount is split without losing or inventing a cent (`money`), the VAT
//! portion of VAT-inclusive prices at the rate in force on a date (`vat`), and delivery fees
//! by district, zone and weight (`delivery`).

pub mod delivery;
pub mod money;
pub mod pricing;
pub mod vat;

//! Payment types and rules, without I/O: methods, the forward-only payment status, amounts as
//! gateways write them, cash-on-delivery limits, bank-transfer references and remittance reports.

use std::fmt;

use chrono::{DateTime, Utc};
use pola_core::{FieldError, Money};
use pola_orders::model::order_number;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// How an order is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// PayHere's hosted checkout: cards and wallets on PayHere's page.
    Payhere,
    /// Cash to the courier on delivery.
    Cod,
    /// A transfer to the shop's bank account, confirmed by finance.
    BankTransfer,
}

pola_core::stored_as_text!(Method {
    Payhere => "payhere",
    Cod => "cod",
    BankTransfer => "bank_transfer",
});

/// Where one payment stands. It only moves forward: a late "pending" or "failed" never undoes a
/// success, and only a chargeback (or a refund) follows a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Pending,
    Cancelled,
    Failed,
    Succeeded,
    /// The customer's bank took the money back after a success.
    ChargedBack,
}

pola_core::stored_as_text!(PaymentStatus {
    Pending => "pending",
    Cancelled => "cancelled",
    Failed => "failed",
    Succeeded => "succeeded",
    ChargedBack => "charged_back",
});

impl PaymentStatus {
    fn rank(self) -> u8 {
        match self {
            PaymentStatus::Pending => 0,
            PaymentStatus::Cancelled | PaymentStatus::Failed => 1,
            PaymentStatus::Succeeded => 2,
            PaymentStatus::ChargedBack => 3,
        }
    }

    /// Whether a payment in `self` may move to `next`: only forward, never sideways between
    /// cancelled and failed.
    pub fn can_become(self, next: PaymentStatus) -> bool {
        next.rank() > self.rank()
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a payment did to its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Nothing yet (not succeeded, or not applied yet).
    Open,
    /// It paid the order.
    Applied,
    /// The order could not take it (cancelled meanwhile, or paid already): it is refunded.
    Refunded,
}

pola_core::stored_as_text!(Outcome {
    Open => "open",
    Applied => "applied",
    Refunded => "refunded",
});

/// An amount as gateways write it, `1234.50`, in cents; None unless it is exactly a number
/// with at most two decimals (a third decimal that is not zero is not a price in rupees).
pub fn parse_amount(text: &str) -> Option<i64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || whole.len() > 15 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) || (fraction.len() > 2 && fraction[2..].bytes().any(|b| b != b'0')) {
        return None;
    }
    let cents: i64 = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<i64>().ok()? * 10,
        _ => fraction[..2].parse().ok()?,
    };
    whole.parse::<i64>().ok()?.checked_mul(100)?.checked_add(cents)
}

/// A JSON number or string as gateways and couriers write ids and amounts, as text.
pub fn json_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The reference a bank transfer must carry: `POLA-` and the order's number.
pub fn bank_reference(order: Uuid) -> String {
    format!("POLA-{}", order_number(order))
}

/// Why an order may not be paid on delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodRefusal {
    OverCeiling { ceiling: i64 },
    FailedDeliveries { count: i64 },
    NoDeliveryAddress,
}

/// Whether an order of `total` for a customer with `failed_deliveries` may be paid on delivery.
pub fn check_cod(
    total: Money,
    has_delivery: bool,
    failed_deliveries: i64,
    ceiling: i64,
    max_failed: i64,
) -> Result<(), CodRefusal> {
    if !has_delivery {
        return Err(CodRefusal::NoDeliveryAddress);
    }
    if total.amount_minor > ceiling {
        return Err(CodRefusal::OverCeiling { ceiling });
    }
    if failed_deliveries >= max_failed {
        return Err(CodRefusal::FailedDeliveries {
            count: failed_deliveries,
        });
    }
    Ok(())
}

/// One line of a courier's remittance report: what it paid over for a waybill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemittanceLine {
    pub waybill: String,
    pub amount_minor: i64,
}

/// Most lines in one remittance report.
pub const MAX_REMITTANCE_LINES: usize = 20_000;

/// Reads a remittance report (CSV with a header; the waybill in a column named `waybill`,
/// `waybill_id` or `waybill_no`, the amount in `amount`, `cod_amount` or `cod`, written
/// `1234.50` or `1,234.50`). Every bad row is named; one bad row refuses the whole file.
pub fn parse_remittance(csv_text: &str) -> Result<Vec<RemittanceLine>, Vec<FieldError>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(csv_text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h
            .iter()
            .map(|h| h.to_ascii_lowercase().replace([' ', '-'], "_"))
            .collect::<Vec<_>>(),
        Err(_) => return Err(vec![FieldError::new("file", "is not CSV with a header row")]),
    };
    let column = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    let (Some(waybill_col), Some(amount_col)) = (
        column(&["waybill", "waybill_id", "waybill_no"]),
        column(&["amount", "cod_amount", "cod"]),
    ) else {
        return Err(vec![FieldError::new(
            "file",
            "needs a `waybill` and an `amount` column in its header",
        )]);
    };
    let mut lines = vec![];
    let mut errors = vec![];
    for (i, record) in reader.records().enumerate() {
        // Row 1 is the header: data starts at row 2, as a spreadsheet numbers it.
        let row = i + 2;
        let record = match record {
            Ok(r) => r,
            Err(_) => {
                errors.push(FieldError::new(format!("row {row}"), "is not valid CSV"));
                continue;
            }
        };
        if record.iter().all(str::is_empty) {
            continue;
        }
        let waybill = record.get(waybill_col).unwrap_or_default();
        let amount = record.get(amount_col).unwrap_or_default().replace(',', "");
        if waybill.is_empty() || waybill.len() > 60 || !waybill.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            errors.push(FieldError::new(
                format!("row {row}"),
                "waybill must be 1-60 letters, digits or -",
            ));
        }
        match parse_amount(&amount) {
            Some(minor) if minor > 0 => lines.push(RemittanceLine {
                waybill: waybill.to_owned(),
                amount_minor: minor,
            }),
            _ => errors.push(FieldError::new(
                format!("row {row}"),
                "amount must be a positive number like 1234.50",
            )),
        }
        if lines.len() + errors.len() > MAX_REMITTANCE_LINES {
            return Err(vec![FieldError::new(
                "file",
                format!("has more than {MAX_REMITTANCE_LINES} rows: split it"),
            )]);
        }
    }
    if lines.is_empty() && errors.is_empty() {
        errors.push(FieldError::new("file", "has no rows"));
    }
    if errors.is_empty() { Ok(lines) } else { Err(errors) }
}

/// `POST /api/v1/payments/orders/{id}/payhere`: the form the client posts to PayHere.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"action": "https://sandbox.payhere.lk/pay/checkout", "fields": {
    "merchant_id": "1221149", "return_url": "https://pola.lk/account/orders/0193a6c2-1f7e-7c3a-9d51-2f1e4b5a6c7d",
    "cancel_url": "https://pola.lk/account/orders/0193a6c2-1f7e-7c3a-9d51-2f1e4b5a6c7d",
    "notify_url": "https://pola.lk/api/v1/payments/payhere/notify", "order_id": "0193a6c2-1f7e-7c3a-9d51-2f1e4b5a6c7d",
    "items": "Pola order 4B5A6C7D", "currency": "LKR", "amount": "2400.00", "hash": "F1B0E5B1C2…",
    "first_name": "Nimal", "last_name": "Perera", "email": "nimal@example.lk", "phone": "+94771234567",
    "address": "12 Galle Road", "city": "Colombo 03", "country": "Sri Lanka"}}))]
pub struct HostedCheckout {
    /// Where the form is posted (the gateway's checkout page).
    pub action: String,
    pub fields: CheckoutFields,
}

/// PayHere's checkout form fields, in the order its documentation lists them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckoutFields {
    pub merchant_id: String,
    pub return_url: String,
    pub cancel_url: String,
    pub notify_url: String,
    pub order_id: String,
    pub items: String,
    pub currency: String,
    pub amount: String,
    pub hash: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: String,
    pub address: String,
    pub city: String,
    pub country: String,
}

/// What the customer pays and who they are, for a gateway's checkout.
#[derive(Debug, Clone)]
pub struct Payer {
    pub order: Uuid,
    pub amount: Money,
    pub items: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: String,
    pub address: String,
    pub city: String,
}

/// A name as gateways want it: first name and the rest (a one-word name is both).
pub fn split_name(name: &str) -> (String, String) {
    let name = name.trim();
    match name.split_once(char::is_whitespace) {
        Some((first, rest)) if !rest.trim().is_empty() => (first.to_owned(), rest.trim().to_owned()),
        _ => (name.to_owned(), name.to_owned()),
    }
}

/// A bank transfer the customer is to make.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"bank": "Commercial Bank of Ceylon", "branch": "Colombo 03", "account_name": "Pola (Private) Limited",
    "account_number": "1000 2345 6789", "reference": "POLA-4B5A6C7D", "amount": {"amount_minor": 240000, "currency": "LKR"},
    "pay_by": "2026-12-05T03:02:01Z"}))]
pub struct BankTransferInstructions {
    pub bank: String,
    pub branch: String,
    pub account_name: String,
    pub account_number: String,
    /// Write this on the transfer, so that finance finds the order.
    pub reference: String,
    pub amount: Money,
    /// After this the order cancels itself and its stock goes back on sale.
    pub pay_by: DateTime<Utc>,
}

/// One payment of an order, as its customer and staff see it. Never a card number.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PaymentView {
    pub id: Uuid,
    pub method: Method,
    /// The gateway's id (PayHere's `payment_id`), the bank slip's reference, or the waybill of
    /// cash collected on delivery.
    pub reference: Option<String>,
    pub status: PaymentStatus,
    pub amount: Money,
    pub refunded: Money,
    /// What it did to the order.
    pub outcome: Outcome,
    /// Card scheme or wallet (`VISA`, `EZCASH`), when a gateway says.
    pub instrument: Option<String>,
    /// Why finance must look at it (a chargeback, a payment after the order was cancelled).
    pub flag: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A payment as finance lists it: with its order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StaffPayment {
    pub order_id: Uuid,
    #[serde(flatten)]
    pub payment: PaymentView,
}

/// How an order is to be paid, as staff lists show it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckoutSummary {
    pub order_id: Uuid,
    pub method: Method,
    pub amount: Money,
    /// No longer waiting: paid, confirmed or cancelled.
    pub settled: bool,
    pub created_at: DateTime<Utc>,
}

/// `GET /api/v1/payments/staff/checkouts`: every field narrows the list; newest first.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckoutQuery {
    pub method: Option<Method>,
    /// Chosen at or after.
    pub since: Option<DateTime<Utc>>,
    /// Chosen before.
    pub until: Option<DateTime<Utc>>,
}

/// `GET /api/v1/payments/staff/payments`: every field narrows the list; newest first.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PaymentQuery {
    pub method: Option<Method>,
    pub status: Option<PaymentStatus>,
    /// Only this order's.
    pub order: Option<Uuid>,
    /// Received at or after.
    pub since: Option<DateTime<Utc>>,
    /// Received before.
    pub until: Option<DateTime<Utc>>,
}

/// Where a refund stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Asked of the gateway, no answer yet (or to be tried again).
    Pending,
    Done,
    /// The gateway refused it for good: finance must act.
    Failed,
}

pola_core::stored_as_text!(RefundStatus {
    Pending => "pending",
    Done => "done",
    Failed => "failed",
});

/// A refund, as finance sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RefundView {
    pub id: Uuid,
    pub payment_id: Uuid,
    pub amount: Money,
    pub reason: String,
    pub status: RefundStatus,
    /// The gateway's refund id, or the bank reference of a refund made by hand.
    pub reference: Option<String>,
    /// `staff:<id>`, or `system` for a refund Pola made by itself.
    pub requested_by: String,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// `POST /api/v1/payments/staff/orders/{id}/refunds`
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"amount_minor": 50000, "reason": "One item arrived damaged", "reference": null}))]
pub struct RefundRequest {
    /// Cents to refund; none refunds everything not refunded yet.
    pub amount_minor: Option<i64>,
    /// Why (5-300 characters): kept with the refund and in the audit trail.
    pub reason: String,
    /// For cash and bank-transfer orders, which finance refunds by hand: the reference of the
    /// transfer made to the customer.
    pub reference: Option<String>,
}

/// `POST /api/v1/payments/staff/orders/{id}/bank-transfer`
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"amount_minor": 240000, "slip_reference": "CMB-778812", "note": "Seen on the statement of 2 Dec"}))]
pub struct ConfirmTransfer {
    /// What arrived, in cents: must be the order's total.
    pub amount_minor: i64,
    /// The bank's reference for the transfer.
    pub slip_reference: String,
    pub note: Option<String>,
}

/// Checks a free-text reason: 5-300 characters, no control characters.
pub fn check_reason(field: &str, reason: &str) -> Result<String, FieldError> {
    let reason = reason.trim();
    let count = reason.chars().count();
    if !(5..=300).contains(&count) || reason.chars().any(char::is_control) {
        return Err(FieldError::new(field, "must be 5 to 300 characters"));
    }
    Ok(reason.to_owned())
}

/// Checks a reference (a bank slip's, a waybill): 1-60 visible characters.
pub fn check_reference(field: &str, reference: &str) -> Result<String, FieldError> {
    let reference = reference.trim();
    if reference.is_empty() || reference.len() > 60 || !reference.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err(FieldError::new(field, "must be 1 to 60 visible characters"));
    }
    Ok(reference.to_owned())
}

/// `payment.refunded`, `payment.charged_back`: money went back to a customer, or their bank
/// took it back. Ids and amounts only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PaymentEvent {
    #[serde(skip)]
    pub kind: &'static str,
    pub order_id: Uuid,
    pub customer_id: Uuid,
    pub payment_id: Uuid,
    pub amount_minor: i64,
    pub currency: String,
}

impl pola_core::events::Event for PaymentEvent {
    fn kind(&self) -> &'static str {
        self.kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_as_gateways_write_them_and_nothing_else() {
        assert_eq!(parse_amount("1000.00"), Some(100_000));
        assert_eq!(parse_amount("1000"), Some(100_000));
        assert_eq!(parse_amount("10.5"), Some(1_050));
        assert_eq!(parse_amount("0.05"), Some(5));
        assert_eq!(parse_amount("10.500"), Some(1_050), "a trailing zero is still the same price");
        for bad in [
            "",
            ".5",
            "10.505",
            "-10.00",
            "1e3",
            "10,00",
            " 10.00",
            "NaN",
            "99999999999999999.00",
        ] {
            assert_eq!(parse_amount(bad), None, "{bad}");
        }
        assert_eq!(pola_core::money::decimal(240_000), "2400.00");
        assert_eq!(pola_core::money::decimal(5), "0.05");
    }

    #[test]
    fn a_payment_only_moves_forward() {
        use PaymentStatus::*;
        assert!(Pending.can_become(Succeeded) && Pending.can_become(Failed));
        assert!(Failed.can_become(Succeeded), "a retried attempt may succeed");
        assert!(Succeeded.can_become(ChargedBack));
        for late in [Pending, Failed, Cancelled] {
            assert!(!Succeeded.can_become(late), "{late} after success");
        }
        assert!(!Succeeded.can_become(Succeeded) && !ChargedBack.can_become(Succeeded));
        assert!(!Failed.can_become(Cancelled) && !Cancelled.can_become(Failed));
    }

    #[test]
    fn cash_on_delivery_has_a_ceiling_and_a_limit_on_failed_deliveries() {
        let ok = check_cod(Money::lkr(4_999_999), true, 1, 5_000_000, 2);
        assert_eq!(ok, Ok(()));
        assert_eq!(
            check_cod(Money::lkr(5_000_001), true, 0, 5_000_000, 2),
            Err(CodRefusal::OverCeiling { ceiling: 5_000_000 })
        );
        assert_eq!(
            check_cod(Money::lkr(100), true, 2, 5_000_000, 2),
            Err(CodRefusal::FailedDeliveries { count: 2 })
        );
        assert_eq!(
            check_cod(Money::lkr(100), false, 0, 5_000_000, 2),
            Err(CodRefusal::NoDeliveryAddress)
        );
    }

    #[test]
    fn a_remittance_report_is_read_whole_or_refused_naming_each_bad_row() {
        let good = "Waybill,Receiver,COD Amount\nKB100,Nimal,\"1,250.00\"\nKB101,Sita,990\n\n";
        assert_eq!(
            parse_remittance(good).expect("valid"),
            [
                RemittanceLine {
                    waybill: "KB100".into(),
                    amount_minor: 125_000
                },
                RemittanceLine {
                    waybill: "KB101".into(),
                    amount_minor: 99_000
                },
            ]
        );
        let bad = parse_remittance("waybill,amount\nKB100,12.5x\n,100\nKB102,50\n").expect_err("invalid");
        let rows: Vec<&str> = bad.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(rows, ["row 2", "row 3"]);
        assert!(parse_remittance("order,total\nKB1,1\n").is_err(), "no waybill column");
        assert!(parse_remittance("waybill,amount\n").is_err(), "no rows");
    }

    #[test]
    fn names_split_for_gateways_and_orders_have_short_numbers() {
        assert_eq!(split_name("Nimal Perera"), ("Nimal".into(), "Perera".into()));
        assert_eq!(split_name(" K. M. Silva "), ("K.".into(), "M. Silva".into()));
        assert_eq!(split_name("Madonna"), ("Madonna".into(), "Madonna".into()));
        let id: Uuid = "0193a6c2-1f7e-7c3a-9d51-2f1e4b5a6c7d".parse().expect("a uuid");
        assert_eq!(bank_reference(id), "POLA-4B5A6C7D");
    }
}

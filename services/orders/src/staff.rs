//! Orders as staff work them: found by number, customer, state, district and date; opened with
//! the address masked; the full address revealed for a reason, which the audit trail keeps.

use chrono::{Duration, Utc};
use pola_core::{
    Error, FieldError, Money,
    audit::{self, Change},
    auth::{Role, Staff},
    pagination::{Page, PageRequest},
};
use uuid::Uuid;

use crate::{
    Orders, Viewer,
    model::{
        OrderStatus,
        staff::{OrdersAtAGlance, RevealedAddress, StaffOrder, StaffOrderQuery, StaffOrderSummary},
    },
    store::{self, staff::OrderFilter},
};

/// The roles that work orders.
pub const ORDER_ROLES: [Role; 3] = [Role::Fulfilment, Role::Finance, Role::Support];

/// A comma-separated list of at most 100 ids (`field` is named when it is not one).
fn ids(list: &str, field: &str, errors: &mut Vec<FieldError>) -> Vec<Uuid> {
    let ids: Vec<Uuid> = list
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    if ids.len() != list.split(',').filter(|s| !s.trim().is_empty()).count() || ids.len() > 100 {
        errors.push(FieldError::new(field, "must be at most 100 ids, comma-separated"));
    }
    ids
}

impl StaffOrderQuery {
    fn filter(&self, page: PageRequest) -> Result<OrderFilter, Error> {
        let mut errors = vec![];
        let number = self.number.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(|n| {
            let n = n.trim_start_matches('#').to_uppercase();
            if n.len() != 8 || !n.chars().all(|c| c.is_ascii_hexdigit()) {
                errors.push(FieldError::new(
                    "number",
                    "must be an order number: eight letters and digits (8F3A21C0)",
                ));
            }
            n
        });
        let customers = self.customers.as_deref().map(|list| ids(list, "customers", &mut errors));
        let orders = self.orders.as_deref().map(|list| ids(list, "orders", &mut errors));
        let statuses = self
            .status
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .filter_map(|s| match OrderStatus::parse(s.trim()) {
                Some(status) => Some(status),
                None => {
                    errors.push(FieldError::new("status", format!("`{s}` is not an order status")));
                    None
                }
            })
            .collect();
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(OrderFilter {
            number,
            customers,
            orders,
            statuses,
            district: self.district.clone().filter(|d| !d.is_empty()),
            since: self.since,
            until: self.until,
            before: page.after,
            limit: page.limit + 1,
        })
    }
}

impl Orders {
    pub async fn staff_search(
        &self,
        staff: &Staff,
        query: &StaffOrderQuery,
        page: PageRequest,
    ) -> Result<Page<StaffOrderSummary>, Error> {
        staff.require_any(&ORDER_ROLES)?;
        let rows = store::staff::search(&self.pool, &query.filter(page)?).await?;
        Ok(Page::from_rows(rows, page.limit, |o| o.id))
    }

    /// One order for staff: the address masked.
    pub async fn staff_order(&self, staff: &Staff, id: Uuid) -> Result<StaffOrder, Error> {
        staff.require_any(&ORDER_ROLES)?;
        let stored = store::order(&self.pool, id, None)
            .await?
            .ok_or_else(|| Error::not_found("No such order."))?;
        let customer_id = stored.customer;
        Ok(StaffOrder {
            number: crate::model::order_number(id),
            customer_id,
            order: self.open(stored, Viewer::Staff).await?,
        })
    }

    /// The full delivery address, for packing or a courier's call (`fulfilment`, `support`),
    /// with the reason kept in the audit trail (the address itself is not).
    pub async fn reveal_address(&self, staff: &Staff, id: Uuid, reason: &str) -> Result<RevealedAddress, Error> {
        staff.require_any(&[Role::Fulfilment, Role::Support])?;
        let reason = reason.trim();
        if reason.chars().count() < 5 || reason.chars().count() > 300 {
            return Err(Error::field("reason", "say why, in 5 to 300 characters"));
        }
        let stored = store::order(&self.pool, id, None)
            .await?
            .ok_or_else(|| Error::not_found("No such order."))?;
        let order = self.open(stored, Viewer::Handover).await?;
        let delivery = order
            .delivery
            .ok_or_else(|| Error::Gone("This order has no delivery address to show (erased, or never given).".into()))?;
        let change = Change::new("order.reveal-address", "order", id).after(serde_json::json!({"reason": reason}));
        audit::record(&self.pool, staff, change).await?;
        tracing::info!(order.id = %id, staff.id = %staff.id, "a staff member revealed an order's delivery address");
        Ok(RevealedAddress { delivery })
    }

    /// Today's orders and what waits for staff, for the dashboard.
    pub async fn at_a_glance(&self, staff: &Staff) -> Result<OrdersAtAGlance, Error> {
        staff.require_any(&[Role::Fulfilment, Role::Finance, Role::Support, Role::Catalog])?;
        // Colombo's midnight: UTC+05:30, no summer time.
        let colombo = Utc::now() + Duration::minutes(330);
        let midnight = colombo.date_naive().and_hms_opt(0, 0, 0).expect("midnight exists").and_utc() - Duration::minutes(330);
        let (orders_today, revenue) = store::staff::placed_since(&self.pool, midnight).await?;
        let mut glance = OrdersAtAGlance {
            orders_today,
            revenue_today: Money::lkr(revenue),
            awaiting_payment: 0,
            to_pack: 0,
            to_ship: 0,
            shipped: 0,
            delivery_failed: 0,
        };
        for count in store::staff::open_counts(&self.pool).await? {
            match count.status.as_str() {
                "pending_payment" => glance.awaiting_payment += count.orders,
                "paid" | "confirmed" => glance.to_pack += count.orders,
                "packed" => glance.to_ship += count.orders,
                "shipped" => glance.shipped += count.orders,
                "delivery_failed" => glance.delivery_failed += count.orders,
                _ => {}
            }
        }
        Ok(glance)
    }
}

//! Payments' part of the audit trail: its `staff_actions`, each written before the action runs,
//! with its result appended after (`staff_action_results`; neither table is ever updated), read
//! as the trail's rows (`order.refund`, `order.ship`, `payments.cod-remittance`…), what was
//! asked as the state after, and its result.

use pola_core::{
    Error,
    audit::{Entry, Search, Trail},
};
use serde_json::json;
use sqlx::MySqlPool;

use crate::store;

pub struct PaymentsTrail(pub MySqlPool);

#[async_trait::async_trait]
impl Trail for PaymentsTrail {
    async fn search(&self, search: &Search) -> Result<Vec<Entry>, Error> {
        let rows = store::trail(&self.0, search).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let (entity, entity_id, prefix) = match row.order_id {
                    Some(order) => ("order", order.to_string(), "order"),
                    None => ("payments", String::new(), "payments"),
                };
                Entry {
                    id: row.id.to_string(),
                    service: crate::SERVICE.to_owned(),
                    staff_id: row.staff_id,
                    action: format!("{prefix}.{}", row.action.replace('_', "-")),
                    entity: entity.to_owned(),
                    entity_id,
                    before_state: None,
                    after_state: Some(json!({"asked": row.detail.0, "reason": row.reason, "result": row.result})),
                    client_ip: row.client_ip.unwrap_or_else(|| "unknown".into()),
                    request_id: row.request_id.unwrap_or_default(),
                    created_at: row.created_at,
                }
            })
            .collect())
    }
}

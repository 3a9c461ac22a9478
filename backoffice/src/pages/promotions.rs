//! Promotions and membership plans: what runs, when, how often it was used and what it cost;
//! a new promotion (a code or automatic), scheduled, paused and resumed; a new plan.

use axum::{body::Bytes, extract::State, response::Response};
use http::Method;
use minijinja::context;
use pola_core::extract::{Path, Query};
use serde::Deserialize;
use serde_json::{Value as Json, json};
use uuid::Uuid;

use super::{Area, Done};
use crate::{
    Backoffice, Error,
    desk::{Desk, Office, Staffer, refusal},
    templates::value,
};

/// The list of promotions and plans, with a refusal's reasons (and the form as it was sent).
async fn promotions_page(
    office: &Backoffice,
    staffer: &Staffer,
    refused: Option<Json>,
    sent: Option<Json>,
    done: Option<String>,
) -> Result<Response, Error> {
    let promotions: Json = office.get(staffer, "/api/v1/promotions").await?;
    let plans: Json = office.get(staffer, "/api/v1/promotions/plans").await?;
    let failed = refused.is_some();
    let ctx = context! {
        promotions => value(&promotions),
        plans => value(&plans),
        refused => value(&refused),
        sent => value(&sent),
        done => done,
    };
    office.form_page(staffer, "promotions.html", ctx, failed)
}

/// `GET /backoffice/promotions`
pub async fn list(State(office): Office, desk: Desk, Query(done): Query<Done>) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Promotions).await?;
    promotions_page(&office, &staffer, None, None, done.done).await
}

/// A form's text as the API's value: nothing when empty, a number when it reads as one (the
/// API names a field that is not).
fn number(text: &str) -> Json {
    let text = text.trim().replace(',', "");
    match text.is_empty() {
        true => Json::Null,
        false => serde_json::from_str::<serde_json::Number>(&text).map_or(Json::String(text), Json::Number),
    }
}

fn text(text: &str) -> Json {
    match text.trim() {
        "" => Json::Null,
        t => Json::String(t.to_owned()),
    }
}

#[derive(Debug, Deserialize)]
pub struct PromotionForm {
    name: String,
    #[serde(default)]
    code: String,
    kind: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    applies_to: String,
    #[serde(default)]
    min_spend: String,
    #[serde(default)]
    buy_quantity: String,
    #[serde(default)]
    get_quantity: String,
    #[serde(default)]
    bundle_quantity: String,
    #[serde(default)]
    usage_limit: String,
    #[serde(default)]
    per_customer_limit: String,
    #[serde(default)]
    budget: String,
    #[serde(default)]
    starts_at: String,
    #[serde(default)]
    ends_at: String,
}

/// `POST /backoffice/promotions`: a new promotion.
pub async fn create(State(office): Office, desk: Desk, body: Bytes) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Promotions).await?;
    let form: PromotionForm = office.form(&staffer.desk, &body)?;
    let mut new = json!({
        "name": form.name,
        "code": text(&form.code),
        "kind": form.kind,
        "value": number(&form.value),
        "applies_to": if form.applies_to == "order" { "order" } else { "item" },
        "eligibility": {"min_spend": number(&form.min_spend)},
        "usage_limit": number(&form.usage_limit),
        "per_customer_limit": number(&form.per_customer_limit),
        "budget": number(&form.budget),
        "starts_at": text(&form.starts_at),
        "ends_at": text(&form.ends_at),
    });
    for (field, raw) in [
        ("buy_quantity", &form.buy_quantity),
        ("get_quantity", &form.get_quantity),
        ("bundle_quantity", &form.bundle_quantity),
    ] {
        if !raw.trim().is_empty() {
            new[field] = number(raw);
        }
    }
    let reply = office.write(&staffer, Method::POST, "/api/v1/promotions", new).await?;
    if reply.status.is_success() {
        return Ok(office.redirect(&staffer.desk, "/backoffice/promotions?done=created"));
    }
    let sent = serde_json::to_value(PromotionEcho::from(&form)).unwrap_or_default();
    promotions_page(&office, &staffer, Some(refusal(reply)?), Some(sent), None).await
}

/// The form's fields, to fill it again after a refusal.
#[derive(serde::Serialize)]
struct PromotionEcho<'a> {
    name: &'a str,
    code: &'a str,
    kind: &'a str,
    value: &'a str,
    min_spend: &'a str,
    usage_limit: &'a str,
    per_customer_limit: &'a str,
    budget: &'a str,
    starts_at: &'a str,
    ends_at: &'a str,
}

impl<'a> From<&'a PromotionForm> for PromotionEcho<'a> {
    fn from(f: &'a PromotionForm) -> Self {
        Self {
            name: &f.name,
            code: &f.code,
            kind: &f.kind,
            value: &f.value,
            min_spend: &f.min_spend,
            usage_limit: &f.usage_limit,
            per_customer_limit: &f.per_customer_limit,
            budget: &f.budget,
            starts_at: &f.starts_at,
            ends_at: &f.ends_at,
        }
    }
}

/// One promotion: its terms, its use and cost, and the form that changes its schedule and limits.
async fn promotion_page(
    office: &Backoffice,
    staffer: &Staffer,
    id: Uuid,
    refused: Option<Json>,
    done: Option<String>,
) -> Result<Response, Error> {
    let promotion: Json = office.get(staffer, &format!("/api/v1/promotions/{id}")).await?;
    let usage: Json = office.get(staffer, &format!("/api/v1/promotions/{id}/usage")).await?;
    let failed = refused.is_some();
    let ctx = context! { promotion => value(&promotion), usage => value(&usage), refused => value(&refused), done => done };
    office.form_page(staffer, "promotion.html", ctx, failed)
}

/// `GET /backoffice/promotions/{id}`
pub async fn promotion(
    State(office): Office,
    desk: Desk,
    Path(id): Path<Uuid>,
    Query(done): Query<Done>,
) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Promotions).await?;
    promotion_page(&office, &staffer, id, None, done.done).await
}

#[derive(Debug, Deserialize)]
pub struct ChangeForm {
    /// `pause`, `resume` or `save` (the schedule and limits).
    action: String,
    #[serde(default)]
    starts_at: String,
    #[serde(default)]
    ends_at: String,
    #[serde(default)]
    usage_limit: String,
    #[serde(default)]
    per_customer_limit: String,
    #[serde(default)]
    budget: String,
}

/// `POST /backoffice/promotions/{id}`: pause, resume, or a new schedule and limits.
pub async fn change(State(office): Office, desk: Desk, Path(id): Path<Uuid>, body: Bytes) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Promotions).await?;
    let form: ChangeForm = office.form(&staffer.desk, &body)?;
    let change = match form.action.as_str() {
        "pause" => json!({"active": false}),
        "resume" => json!({"active": true}),
        _ => {
            let mut change = serde_json::Map::new();
            for (field, raw, parse) in [
                ("starts_at", &form.starts_at, text as fn(&str) -> Json),
                ("ends_at", &form.ends_at, text),
                ("usage_limit", &form.usage_limit, number),
                ("per_customer_limit", &form.per_customer_limit, number),
                ("budget", &form.budget, number),
            ] {
                let parsed = parse(raw);
                if !parsed.is_null() {
                    change.insert(field.to_owned(), parsed);
                }
            }
            Json::Object(change)
        }
    };
    let reply = office
        .write(&staffer, Method::PATCH, &format!("/api/v1/promotions/{id}"), change)
        .await?;
    if reply.status.is_success() {
        return Ok(office.redirect(&staffer.desk, &format!("/backoffice/promotions/{id}?done={}", form.action)));
    }
    promotion_page(&office, &staffer, id, Some(refusal(reply)?), None).await
}

#[derive(Debug, Deserialize)]
pub struct PlanForm {
    slug: String,
    name: String,
    variant_id: String,
    months: String,
}

/// `POST /backoffice/promotions/plans`: a new membership plan.
pub async fn create_plan(State(office): Office, desk: Desk, body: Bytes) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Promotions).await?;
    let form: PlanForm = office.form(&staffer.desk, &body)?;
    let plan = json!({"slug": form.slug.trim(), "name": form.name.trim(), "variant_id": form.variant_id.trim(), "months": number(&form.months)});
    let reply = office.write(&staffer, Method::POST, "/api/v1/promotions/plans", plan).await?;
    if reply.status.is_success() {
        return Ok(office.redirect(&staffer.desk, "/backoffice/promotions?done=plan"));
    }
    promotions_page(&office, &staffer, Some(refusal(reply)?), None, None).await
}

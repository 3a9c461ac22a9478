//! Promotions' HTTP handlers: staff manage promotions, codes, plans, groups, delivery fees and
//! VAT rates (every write audited); customers see their memberships.

use std::sync::Arc;

use axum::{extract::State, http::StatusCode};
use chrono::Utc;
use pola_core::{
    Error, FieldError, Money,
    auth::{Customer, Role, Staff},
    error::Problem,
    extract::{Json, Path},
};
use rand::Rng;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    Promotions,
    delivery::{DISTRICTS, DeliveryRules, district},
    model::{
        EligibilityRules, GenerateCodes, GeneratedCodes, GroupChange, MembershipView, NewPlan, NewPromotion, OnOffer, PlanView,
        PromotionChange, PromotionView, Terms, Usage, check_code, check_window, number, valid_name,
    },
    pricing::colombo,
    store::{self, PlanRow, PromotionRow},
    vat::VatRate,
};

type AppState = State<Arc<Promotions>>;

/// Who may manage promotions, plans, delivery fees and VAT rates.
const MANAGERS: [Role; 2] = [Role::Catalog, Role::Finance];

fn view(row: &PromotionRow, code: Option<String>, live: (i64, i64)) -> PromotionView {
    let local = |t: Option<chrono::DateTime<Utc>>| t.map(|t| t.with_timezone(&colombo()));
    PromotionView {
        id: row.id,
        name: row.name.clone(),
        code,
        automatic: row.automatic,
        kind: row.kind,
        value: number(row.value_minor),
        applies_to: row.applies_to,
        eligibility: EligibilityRules::from_stored(&row.eligibility.0),
        buy_quantity: row.buy_quantity,
        get_quantity: row.get_quantity,
        get_product_ids: row.get_product_ids.0.clone(),
        bundle_quantity: row.bundle_quantity,
        max_applications: row.max_applications,
        priority: row.priority,
        exclusive: row.exclusive,
        active: row.active,
        starts_at: local(row.starts_at),
        ends_at: local(row.ends_at),
        usage_limit: row.usage_limit,
        per_customer_limit: row.per_customer_limit,
        budget: row.budget_minor.map(Money::lkr),
        uses: live.0,
        cost: Money::lkr(live.1),
        created_at: row.created_at,
    }
}

impl Promotions {
    async fn promotion_view(&self, id: Uuid) -> Result<PromotionView, Error> {
        let row = store::promotion(&mut *self.pool.acquire().await?, id)
            .await?
            .ok_or_else(|| Error::not_found("No such promotion."))?;
        let code = store::own_codes(&self.pool, &[id]).await?.remove(&id);
        let live = self.usage_of(&[id]).await?.remove(&id).unwrap_or_default();
        Ok(view(&row, code, live))
    }
}

/// Create a promotion (`catalog` or `finance`). With a `code` customers type it; without, it
/// applies by itself to every basket it fits.
#[utoipa::path(post, path = "/api/v1/promotions", tags = ["promotions", "staff"],
    request_body = NewPromotion,
    security(("staff" = [])),
    responses(
        (status = 201, description = "Created", body = PromotionView),
        (status = 403, description = "Missing role", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The code is taken (`code-taken`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "What is wrong, field by field", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_promotion(
    State(promotions): AppState,
    staff: Staff,
    Json(request): Json<NewPromotion>,
) -> Result<(StatusCode, Json<PromotionView>), Error> {
    staff.require_any(&MANAGERS)?;
    let spec = request.check(pola_core::new_id()).map_err(Error::Validation)?;
    let id = spec.promotion.id;
    let detail = serde_json::json!({"name": spec.promotion.name, "kind": spec.promotion.kind, "code": spec.code,
        "value": spec.promotion.value, "usage_limit": spec.usage_limit, "per_customer_limit": spec.per_customer_limit,
        "budget_minor": spec.budget_minor});
    promotions
        .audited(&staff, "promotion.create", Some(id), detail, async |conn| {
            store::insert_promotion(conn, &spec, Utc::now()).await.map_err(code_taken)
        })
        .await?;
    promotions.forget_codes();
    tracing::info!(promotion.id = %id, kind = spec.promotion.kind.as_str(), "promotion created");
    Ok((StatusCode::CREATED, Json(promotions.promotion_view(id).await?)))
}

fn code_taken(e: sqlx::Error) -> Error {
    if pola_core::db::is_duplicate_key(&e, "PRIMARY") {
        Error::conflict("code-taken", "That code belongs to another promotion; choose another.")
    } else {
        e.into()
    }
}

/// Every promotion, newest first, with its live uses and cost (`catalog` or `finance`).
#[utoipa::path(get, path = "/api/v1/promotions", tags = ["promotions", "staff"],
    security(("staff" = [])),
    responses((status = 200, description = "Promotions", body = Vec<PromotionView>)))]
pub async fn list_promotions(State(promotions): AppState, staff: Staff) -> Result<Json<Vec<PromotionView>>, Error> {
    staff.require_any(&MANAGERS)?;
    let rows = store::promotions(promotions.pool(), 500).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut codes = store::own_codes(promotions.pool(), &ids).await?;
    let live = promotions.usage_of(&ids).await?;
    Ok(Json(
        rows.iter()
            .map(|r| view(r, codes.remove(&r.id), live.get(&r.id).copied().unwrap_or_default()))
            .collect(),
    ))
}

/// One promotion (`catalog` or `finance`).
#[utoipa::path(get, path = "/api/v1/promotions/{id}", tags = ["promotions", "staff"],
    params(("id" = Uuid, Path, description = "Promotion id")),
    security(("staff" = [])),
    responses(
        (status = 200, description = "The promotion", body = PromotionView),
        (status = 404, description = "No such promotion", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_promotion(
    State(promotions): AppState,
    staff: Staff,
    Path(id): Path<Uuid>,
) -> Result<Json<PromotionView>, Error> {
    staff.require_any(&MANAGERS)?;
    Ok(Json(promotions.promotion_view(id).await?))
}

/// Pause or resume a promotion, move its dates, change its limits (`catalog` or `finance`).
/// A limit lowered below the uses already held stops new uses; it takes none back.
#[utoipa::path(patch, path = "/api/v1/promotions/{id}", tags = ["promotions", "staff"],
    params(("id" = Uuid, Path, description = "Promotion id")),
    request_body = PromotionChange,
    security(("staff" = [])),
    responses(
        (status = 200, description = "Changed", body = PromotionView),
        (status = 404, description = "No such promotion", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "What is wrong", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_promotion(
    State(promotions): AppState,
    staff: Staff,
    Path(id): Path<Uuid>,
    Json(change): Json<PromotionChange>,
) -> Result<Json<PromotionView>, Error> {
    staff.require_any(&MANAGERS)?;
    let detail = serde_json::json!({"active": change.active, "starts_at": change.starts_at, "ends_at": change.ends_at,
        "usage_limit": change.usage_limit, "per_customer_limit": change.per_customer_limit,
        "budget": change.budget.as_ref().map(ToString::to_string), "priority": change.priority});
    promotions
        .audited(&staff, "promotion.change", Some(id), detail, async |conn| {
            let mut row = store::lock_promotion(conn, id)
                .await?
                .ok_or_else(|| Error::not_found("No such promotion."))?;
            apply_change(&mut row, change)?;
            store::update_promotion(conn, &row, Utc::now()).await?;
            Ok(())
        })
        .await?;
    promotions.forget_codes();
    Ok(Json(promotions.promotion_view(id).await?))
}

fn apply_change(row: &mut PromotionRow, change: PromotionChange) -> Result<(), Error> {
    let mut errors: Vec<FieldError> = vec![];
    let terms = Terms::check(
        [change.usage_limit, change.per_customer_limit],
        change.budget.as_ref(),
        [change.starts_at.as_deref(), change.ends_at.as_deref()],
        &mut errors,
    );
    row.usage_limit = terms.usage_limit.or(row.usage_limit);
    row.per_customer_limit = terms.per_customer_limit.or(row.per_customer_limit);
    row.budget_minor = terms.budget_minor.or(row.budget_minor);
    if change.starts_at.is_some() {
        row.starts_at = terms.starts_at;
    }
    if change.ends_at.is_some() {
        row.ends_at = terms.ends_at;
    }
    row.active = change.active.unwrap_or(row.active);
    row.priority = change.priority.unwrap_or(row.priority);
    check_window(row.starts_at, row.ends_at, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(errors))
    }
}

/// Bulk codes for a promotion (`catalog` or `finance`): `count` codes of `prefix` and eight
/// random letters and digits (no 0/O or 1/I), each usable `uses_per_code` times.
#[utoipa::path(post, path = "/api/v1/promotions/{id}/codes", tags = ["promotions", "staff"],
    params(("id" = Uuid, Path, description = "Promotion id")),
    request_body = GenerateCodes,
    security(("staff" = [])),
    responses(
        (status = 201, description = "The codes", body = GeneratedCodes),
        (status = 404, description = "No such promotion", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad count, prefix or uses", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn generate_codes(
    State(promotions): AppState,
    staff: Staff,
    Path(id): Path<Uuid>,
    Json(request): Json<GenerateCodes>,
) -> Result<(StatusCode, Json<GeneratedCodes>), Error> {
    staff.require_any(&MANAGERS)?;
    let mut errors = vec![];
    if !(1..=10_000).contains(&request.count) {
        errors.push(FieldError::new("count", "must be 1 to 10000"));
    }
    let prefix = request.prefix.trim().to_uppercase();
    if prefix.len() > 20 || !prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        errors.push(FieldError::new("prefix", "must be at most 20 letters, digits, - or _"));
    }
    if request.uses_per_code < 1 {
        errors.push(FieldError::new("uses_per_code", "must be 1 or more"));
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let codes: Vec<String> = (0..request.count)
        .map(|_| {
            let mut rng = rand::rng();
            let tail: String = (0..8)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                .collect();
            check_code(&format!("{prefix}{tail}"), "prefix")
        })
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Validation(vec![e]))?;
    let detail = serde_json::json!({"count": request.count, "prefix": prefix, "uses_per_code": request.uses_per_code});
    promotions
        .audited(&staff, "promotion.codes", Some(id), detail, async |conn| {
            let promotion = store::promotion(conn, id)
                .await?
                .ok_or_else(|| Error::not_found("No such promotion."))?;
            if promotion.automatic {
                return Err(Error::conflict(
                    "automatic-promotion",
                    "This promotion applies without a code; create one with \"automatic\": false for codes.",
                ));
            }
            store::insert_codes(conn, id, &codes, Some(request.uses_per_code), Utc::now())
                .await
                .map_err(code_taken)
        })
        .await?;
    promotions.forget_codes();
    Ok((StatusCode::CREATED, Json(GeneratedCodes { promotion_id: id, codes })))
}

/// A promotion's use and cost so far, for reporting (`catalog` or `finance`).
#[utoipa::path(get, path = "/api/v1/promotions/{id}/usage", tags = ["promotions", "staff"],
    params(("id" = Uuid, Path, description = "Promotion id")),
    security(("staff" = [])),
    responses(
        (status = 200, description = "Use and cost", body = Usage),
        (status = 404, description = "No such promotion", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn promotion_usage(State(promotions): AppState, staff: Staff, Path(id): Path<Uuid>) -> Result<Json<Usage>, Error> {
    staff.require_any(&MANAGERS)?;
    let row = store::promotion(&mut *promotions.pool.acquire().await?, id)
        .await?
        .ok_or_else(|| Error::not_found("No such promotion."))?;
    let usage = store::usage(promotions.pool(), id).await?;
    Ok(Json(Usage {
        promotion_id: id,
        name: row.name,
        uses: usage.uses,
        cost: Money::lkr(usage.cost_minor),
        released_uses: usage.released_uses,
        released_cost: Money::lkr(usage.released_minor),
        customers: usage.customers,
    }))
}

/// Define a membership plan sold as a catalogue variant (`catalog` or `finance`). Its members
/// are the groups `member` and `plan:<slug>` that promotions target.
#[utoipa::path(post, path = "/api/v1/promotions/plans", tags = ["promotions", "staff"],
    request_body = NewPlan,
    security(("staff" = [])),
    responses(
        (status = 201, description = "Created", body = PlanView),
        (status = 409, description = "Slug or variant taken (`plan-taken`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "What is wrong", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_plan(
    State(promotions): AppState,
    staff: Staff,
    Json(request): Json<NewPlan>,
) -> Result<(StatusCode, Json<PlanView>), Error> {
    staff.require_any(&MANAGERS)?;
    let mut errors = vec![];
    let slug = request.slug.trim().to_lowercase();
    if !valid_name(&slug) {
        errors.push(FieldError::new("slug", "must be 1 to 40 letters, digits, - or _"));
    }
    let name = request.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 120 {
        errors.push(FieldError::new("name", "must be 1 to 120 characters"));
    }
    if !(1..=60).contains(&request.months) {
        errors.push(FieldError::new("months", "must be 1 to 60"));
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let plan = PlanRow {
        id: pola_core::new_id(),
        slug,
        name,
        variant_id: request.variant_id,
        months: request.months,
        active: true,
        members: 0,
    };
    let detail = serde_json::json!({"slug": plan.slug, "name": plan.name, "variant_id": plan.variant_id, "months": plan.months});
    promotions
        .audited(&staff, "plan.create", Some(plan.id), detail, async |conn| {
            store::insert_plan(conn, &plan, Utc::now()).await.map_err(|e| {
                if pola_core::db::is_duplicate_key(&e, "uq_plans_slug") || pola_core::db::is_duplicate_key(&e, "uq_plans_variant")
                {
                    Error::conflict(
                        "plan-taken",
                        "A plan with that slug, or sold as that variant, exists already.",
                    )
                } else {
                    e.into()
                }
            })
        })
        .await?;
    Ok((StatusCode::CREATED, Json(plan_view(plan))))
}

fn plan_view(p: PlanRow) -> PlanView {
    PlanView {
        id: p.id,
        slug: p.slug,
        name: p.name,
        variant_id: p.variant_id,
        months: p.months,
        active: p.active,
        members: p.members,
    }
}

/// The membership plans and their members now (`catalog` or `finance`).
#[utoipa::path(get, path = "/api/v1/promotions/plans", tags = ["promotions", "staff"],
    security(("staff" = [])),
    responses((status = 200, description = "Plans", body = Vec<PlanView>)))]
pub async fn list_plans(State(promotions): AppState, staff: Staff) -> Result<Json<Vec<PlanView>>, Error> {
    staff.require_any(&MANAGERS)?;
    let plans = store::plans(promotions.pool(), Utc::now()).await?;
    Ok(Json(plans.into_iter().map(plan_view).collect()))
}

/// What is on offer now, for everyone to see: the automatic promotions running (soonest to end
/// first). Codes are not listed.
#[utoipa::path(get, path = "/api/v1/promotions/current", tag = "promotions",
    responses((status = 200, description = "Promotions running now", body = Vec<OnOffer>)))]
pub async fn current_promotions(State(promotions): AppState) -> Result<Json<Vec<OnOffer>>, Error> {
    let mut running = store::running_automatic(promotions.pool(), Utc::now()).await?;
    running.sort_by_key(|p| (p.ends_at.is_none(), p.ends_at, -p.priority));
    Ok(Json(
        running
            .iter()
            .take(20)
            .map(|p| OnOffer {
                id: p.id,
                name: p.name.clone(),
                kind: p.kind,
                value: number(p.value_minor),
                applies_to: p.applies_to,
                buy_quantity: p.buy_quantity,
                get_quantity: p.get_quantity,
                bundle_quantity: p.bundle_quantity,
                min_spend: p.eligibility.0.min_spend_minor.map(Money::lkr),
                restricted: !p.eligibility.0.customer_groups.is_empty(),
                ends_at: p.ends_at.map(|t| t.with_timezone(&colombo())),
            })
            .collect(),
    ))
}

/// The customer's memberships in force or paid ahead.
#[utoipa::path(get, path = "/api/v1/promotions/memberships", tag = "promotions",
    security(("bearer" = [])),
    responses((status = 200, description = "Memberships", body = Vec<MembershipView>)))]
pub async fn my_memberships(State(promotions): AppState, customer: Customer) -> Result<Json<Vec<MembershipView>>, Error> {
    let rows = store::memberships(promotions.pool(), customer.id, Utc::now()).await?;
    Ok(Json(
        rows.into_iter()
            .map(|m| MembershipView {
                plan: m.slug,
                name: m.name,
                starts_at: m.starts_at,
                ends_at: m.ends_at,
            })
            .collect(),
    ))
}

/// Put a customer in a group, or take them out (`catalog` or `finance`): `staff`,
/// `wholesale`, … Plans and first orders make their own groups.
#[utoipa::path(post, path = "/api/v1/promotions/customers/{id}/groups", tags = ["promotions", "staff"],
    params(("id" = Uuid, Path, description = "Customer id")),
    request_body = GroupChange,
    security(("staff" = [])),
    responses(
        (status = 204, description = "Done"),
        (status = 422, description = "Bad group name", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_group(
    State(promotions): AppState,
    staff: Staff,
    Path(customer): Path<Uuid>,
    Json(change): Json<GroupChange>,
) -> Result<StatusCode, Error> {
    staff.require_any(&MANAGERS)?;
    let group = change.group.trim().to_lowercase();
    if !valid_name(&group) || matches!(group.as_str(), "member" | "first_order") {
        return Err(Error::field(
            "group",
            "must be 1 to 40 letters, digits, - or _, and not member or first_order (those follow plans and orders)",
        ));
    }
    let detail = serde_json::json!({"group": group, "member": change.member});
    promotions
        .audited(&staff, "customer.group", Some(customer), detail, async |conn| {
            Ok(store::set_group(conn, customer, &group, change.member, Utc::now()).await?)
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delivery fees: zones with their first-kilogram and further-kilogram fees (cents), each of
/// the 25 districts' zone, the free-delivery threshold and the cash-on-delivery surcharge.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryRulesView {
    pub zones: Vec<crate::delivery::Zone>,
    /// District → zone code.
    pub districts: std::collections::BTreeMap<String, String>,
    pub free_from_minor: Option<i64>,
    pub cod_surcharge_minor: i64,
}

/// The delivery fees (`catalog` or `finance`).
#[utoipa::path(get, path = "/api/v1/promotions/delivery-rules", tags = ["promotions", "staff"],
    security(("staff" = [])),
    responses((status = 200, description = "The rules", body = DeliveryRulesView)))]
pub async fn get_delivery_rules(State(promotions): AppState, staff: Staff) -> Result<Json<DeliveryRulesView>, Error> {
    staff.require_any(&MANAGERS)?;
    let (rules, _) = store::rates(promotions.pool()).await?;
    Ok(Json(DeliveryRulesView {
        zones: rules.zones,
        districts: rules.districts.into_iter().collect(),
        free_from_minor: rules.free_from_minor,
        cod_surcharge_minor: rules.cod_surcharge_minor,
    }))
}

/// Replace the delivery fees (`catalog` or `finance`). Every district must be in a zone that
/// exists; fees are not negative.
#[utoipa::path(put, path = "/api/v1/promotions/delivery-rules", tags = ["promotions", "staff"],
    request_body = DeliveryRulesView,
    security(("staff" = [])),
    responses(
        (status = 200, description = "The rules now", body = DeliveryRulesView),
        (status = 422, description = "What is wrong", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_delivery_rules(
    State(promotions): AppState,
    staff: Staff,
    Json(view): Json<DeliveryRulesView>,
) -> Result<Json<DeliveryRulesView>, Error> {
    staff.require_any(&MANAGERS)?;
    let mut errors = vec![];
    let mut districts = std::collections::HashMap::new();
    for (name, zone) in &view.districts {
        match district(name) {
            Some(d) if view.zones.iter().any(|z| &z.code == zone) => {
                districts.insert(d.to_owned(), zone.clone());
            }
            Some(_) => errors.push(FieldError::new(
                format!("districts.{name}"),
                "names a zone that is not in zones",
            )),
            None => errors.push(FieldError::new(
                format!("districts.{name}"),
                "is not one of Sri Lanka's 25 districts",
            )),
        }
    }
    for d in DISTRICTS {
        if !districts.contains_key(d) {
            errors.push(FieldError::new(
                format!("districts.{d}"),
                "is missing: every district needs a zone",
            ));
        }
    }
    for (i, z) in view.zones.iter().enumerate() {
        if !valid_name(&z.code) || z.first_kg_minor < 0 || z.extra_kg_minor < 0 {
            errors.push(FieldError::new(format!("zones[{i}]"), "needs a code and fees of 0 or more"));
        }
    }
    if view.cod_surcharge_minor < 0 || view.free_from_minor.is_some_and(|f| f < 0) {
        errors.push(FieldError::new("cod_surcharge_minor", "amounts must be 0 or more"));
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let rules = DeliveryRules {
        zones: view.zones.clone(),
        districts,
        free_from_minor: view.free_from_minor,
        cod_surcharge_minor: view.cod_surcharge_minor,
    };
    let detail = serde_json::to_value(&view).map_err(anyhow::Error::from)?;
    promotions
        .audited(&staff, "delivery.rules", None, detail, async |conn| {
            Ok(store::save_delivery(conn, &rules).await?)
        })
        .await?;
    promotions.forget_rates();
    get_delivery_rules(State(promotions), staff).await
}

/// The VAT rates, each in force from its date until the next one's.
#[utoipa::path(get, path = "/api/v1/promotions/vat-rates", tags = ["promotions", "staff"],
    security(("staff" = [])),
    responses((status = 200, description = "Rates, oldest first", body = Vec<VatRate>)))]
pub async fn get_vat_rates(State(promotions): AppState, staff: Staff) -> Result<Json<Vec<VatRate>>, Error> {
    staff.require_any(&MANAGERS)?;
    Ok(Json(store::rates(promotions.pool()).await?.1))
}

/// Add the VAT rate in force from a date (or correct one) (`finance`). Orders keep the VAT
/// they were placed with.
#[utoipa::path(post, path = "/api/v1/promotions/vat-rates", tags = ["promotions", "staff"],
    request_body = VatRate,
    security(("staff" = [])),
    responses(
        (status = 200, description = "Rates now", body = Vec<VatRate>),
        (status = 422, description = "Rate outside 0–100%", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_vat_rate(
    State(promotions): AppState,
    staff: Staff,
    Json(rate): Json<VatRate>,
) -> Result<Json<Vec<VatRate>>, Error> {
    staff.require(Role::Finance)?;
    if rate.basis_points > 10_000 {
        return Err(Error::field("basis_points", "must be 0 to 10000 (0–100%)"));
    }
    let detail = serde_json::to_value(rate).map_err(anyhow::Error::from)?;
    promotions
        .audited(&staff, "vat.rate", None, detail, async |conn| {
            Ok(store::save_vat_rate(conn, &rate).await?)
        })
        .await?;
    promotions.forget_rates();
    get_vat_rates(State(promotions), staff).await
}

/// The endpoints other services call.
pub mod internal {
    use std::sync::Arc;

    use axum::extract::State;
    use pola_core::{Error, client::InternalCall, extract::Json};

    use crate::{
        Promotions,
        client::{OrderRef, PaidRequest, PriceAloneRequest, PriceRequest, RedeemRequest},
        pricing::Priced,
    };

    type AppState = State<Arc<Promotions>>;

    pub async fn price(State(p): AppState, _: InternalCall, Json(request): Json<PriceRequest>) -> Result<Json<Priced>, Error> {
        Ok(Json(p.price(&request).await?))
    }

    pub async fn price_alone(
        State(p): AppState,
        _: InternalCall,
        Json(r): Json<PriceAloneRequest>,
    ) -> Result<Json<Vec<Priced>>, Error> {
        Ok(Json(p.price_alone(r.customer, &r.items).await?))
    }

    pub async fn redeem(State(p): AppState, _: InternalCall, Json(r): Json<RedeemRequest>) -> Result<Json<()>, Error> {
        p.redeem(r.order, r.customer, &r.uses).await.map(Json)
    }

    pub async fn release(State(p): AppState, _: InternalCall, Json(r): Json<OrderRef>) -> Result<Json<()>, Error> {
        p.release(r.order).await.map(Json)
    }

    pub async fn paid(State(p): AppState, _: InternalCall, Json(r): Json<PaidRequest>) -> Result<Json<()>, Error> {
        p.order_paid(r.order, r.customer, &r.variants).await.map(Json)
    }
}

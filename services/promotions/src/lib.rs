//! Promotions and prices: the one pricing step (catalogue price → promotions → memberships →
//! codes → delivery → total, with VAT shown), promotions and codes whose limits are exact under
//! concurrency, memberships, delivery fees by zone and weight, and VAT.
//!
//! A checkout's uses are recorded here, under the order's id, by the same idempotent-per-order
//! step that sells its stock (`PromotionsClient::redeem`), before the order is written; a
//! checkout that never writes its order is reaped, and its uses given back, like its stock.
//! Cancelled, expired, returned and refunded orders give their uses back (`release`).

pub mod api;
pub mod batch;
pub mod client;
pub mod delivery;
pub mod model;
pub mod money;
pub mod pricing;
pub mod store;
pub mod vat;

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use pola_core::{
    Error,
    audit::{self, Change},
    auth::Staff,
};
use sqlx::{MySqlPool, migrate::Migrator};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    client::PriceRequest,
    delivery::DeliveryRules,
    pricing::{Basket, Destination, Item, Left, Offer, PriceError, Priced, Rules, Use, describe, normalize_code},
    store::Refusal,
    vat::VatRate,
};

/// The database this service owns: `<prefix>_promotions`.
pub const SERVICE: &str = "promotions";
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// How long a process prices with delivery rules and VAT rates it read, unless it changed them
/// itself: a change made through another process applies within this time.
const RATES_TTL: Duration = Duration::from_secs(30);

/// How long a process prices with a code as it read it (known or not). A quote may show a code
/// used up or paused within that time as still good; checkout then refuses it by name, since
/// recording the use reads every limit and the promotion's state afresh.
const CODES_TTL: Duration = Duration::from_secs(1);
/// Most codes remembered at once (typed codes, good or not, from any customer).
const CODES_KEPT: usize = 10_000;

/// What baskets are priced with (see `Promotions::terms`).
struct Terms {
    rates: Arc<Rates>,
    offers: Vec<Offer>,
    groups: BTreeSet<String>,
}

impl Terms {
    fn price(
        &self,
        items: &[Item],
        codes: &[String],
        destination: Option<&Destination>,
        at: DateTime<Utc>,
    ) -> Result<Priced, Error> {
        let basket = Basket {
            items,
            groups: &self.groups,
            codes,
            destination,
            at,
        };
        let rules = Rules {
            offers: &self.offers,
            vat: &self.rates.vat,
            delivery: &self.rates.delivery,
        };
        pricing::price(&basket, &rules).map_err(|e| match e {
            PriceError::UnknownDistrict(_) | PriceError::NoZone(_) => Error::field("delivery.district", e.to_string()),
            PriceError::Overflow => Error::field("lines", e.to_string()),
            PriceError::NoVatRate(_) => Error::Internal(anyhow::anyhow!("{e}")),
        })
    }
}

/// Delivery rules and VAT rates, as read.
pub struct Rates {
    pub delivery: DeliveryRules,
    pub vat: Vec<VatRate>,
}

/// The promotions service.
pub struct Promotions {
    pool: MySqlPool,
    rates: RwLock<Option<(Instant, Arc<Rates>)>>,
    /// Codes as read (`None`: no such code), and when.
    codes: RwLock<HashMap<String, (Instant, Option<store::CodeRow>)>>,
    redeems: batch::RedeemQueue,
}

/// The 409 a promotion that cannot be used at checkout becomes; it names the code.
pub fn refusal_problem(refusal: &Refusal) -> Error {
    let Refusal::Promotion {
        promotion_id,
        code,
        reason,
    } = refusal;
    unavailable(Some(*promotion_id), code.as_deref(), *reason, describe(*reason))
}

/// The 409 `promotion-unavailable`: the code (if one was typed), the reason and, in words, why.
fn unavailable(promotion_id: Option<Uuid>, code: Option<&str>, reason: pricing::Reason, why: &str) -> Error {
    let detail = match code {
        Some(code) => format!("The code {code} cannot be used: {why} Check out without it, or try another."),
        None => format!("An offer in the cart has just ended: {why} Check out again to see the price now."),
    };
    let mut extra = serde_json::Map::new();
    if let Some(code) = code {
        extra.insert("code".into(), code.into());
    }
    extra.insert("reason".into(), reason.as_str().into());
    if let Some(id) = promotion_id {
        extra.insert("promotion_id".into(), id.to_string().into());
    }
    Error::Conflict {
        code: "promotion-unavailable".into(),
        detail,
        extra,
    }
}

impl Promotions {
    pub fn new(pool: MySqlPool) -> Arc<Self> {
        Arc::new(Self {
            redeems: batch::RedeemQueue::start(pool.clone()),
            pool,
            rates: RwLock::new(None),
            codes: RwLock::new(HashMap::new()),
        })
    }

    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    pub fn router(self: &Arc<Self>) -> OpenApiRouter {
        OpenApiRouter::new()
            .routes(routes!(api::create_promotion, api::list_promotions))
            .routes(routes!(api::get_promotion, api::change_promotion))
            .routes(routes!(api::generate_codes))
            .routes(routes!(api::promotion_usage))
            .routes(routes!(api::create_plan, api::list_plans))
            .routes(routes!(api::my_memberships))
            .routes(routes!(api::current_promotions))
            .routes(routes!(api::change_group))
            .routes(routes!(api::get_delivery_rules, api::put_delivery_rules))
            .routes(routes!(api::get_vat_rates, api::put_vat_rate))
            .route("/internal/v1/promotions/price", axum::routing::post(api::internal::price))
            .route(
                "/internal/v1/promotions/price-alone",
                axum::routing::post(api::internal::price_alone),
            )
            .route("/internal/v1/promotions/redeem", axum::routing::post(api::internal::redeem))
            .route("/internal/v1/promotions/release", axum::routing::post(api::internal::release))
            .route("/internal/v1/promotions/paid", axum::routing::post(api::internal::paid))
            .with_state(self.clone())
    }

    /// Delivery rules and VAT rates, read at most every `RATES_TTL`.
    pub async fn rates(&self) -> Result<Arc<Rates>, Error> {
        if let Ok(guard) = self.rates.read()
            && let Some((read_at, rates)) = guard.as_ref()
            && read_at.elapsed() < RATES_TTL
        {
            return Ok(rates.clone());
        }
        let (delivery, vat) = store::rates(&self.pool).await?;
        let rates = Arc::new(Rates { delivery, vat });
        if let Ok(mut guard) = self.rates.write() {
            *guard = Some((Instant::now(), rates.clone()));
        }
        Ok(rates)
    }

    fn forget_rates(&self) {
        if let Ok(mut guard) = self.rates.write() {
            *guard = None;
        }
    }

    /// The promotions behind `codes`, each as read at most `CODES_TTL` ago.
    async fn by_codes(&self, codes: &[String]) -> Result<Vec<store::CodeRow>, Error> {
        let mut found = vec![];
        let mut missing = vec![];
        if let Ok(kept) = self.codes.read() {
            for code in codes {
                match kept.get(code) {
                    Some((read_at, row)) if read_at.elapsed() < CODES_TTL => found.extend(row.clone()),
                    _ => missing.push(code.clone()),
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let read = store::by_codes(&self.pool, &missing).await?;
        if let Ok(mut kept) = self.codes.write() {
            if kept.len() >= CODES_KEPT {
                kept.clear();
            }
            let now = Instant::now();
            for code in missing {
                let row = read.iter().find(|r| r.code == code).cloned();
                kept.insert(code, (now, row));
            }
        }
        found.extend(read);
        Ok(found)
    }

    /// Forgets the codes read (after a staff change in this process).
    fn forget_codes(&self) {
        if let Ok(mut kept) = self.codes.write() {
            kept.clear();
        }
    }

    /// Prices a basket: what each promotion running now and each code typed does to it, for
    /// this customer (a guest belongs to no group), with the limits' state as of now.
    pub async fn price(&self, request: &PriceRequest) -> Result<Priced, Error> {
        let at = request.at.unwrap_or_else(Utc::now);
        let terms = self.terms(request.customer, &request.codes, at).await?;
        terms.price(&request.items, &request.codes, request.destination.as_ref(), at)
    }

    /// Each item priced as a basket of its own, now and without codes (a product page's prices
    /// of its variants): as `price` prices each, with what applies read once for all.
    pub async fn price_alone(&self, customer: Option<Uuid>, items: &[Item]) -> Result<Vec<Priced>, Error> {
        let at = Utc::now();
        let terms = self.terms(customer, &[], at).await?;
        items
            .iter()
            .map(|item| terms.price(std::slice::from_ref(item), &[], None, at))
            .collect()
    }

    /// What a basket of this customer's with these codes is priced with at `at`: the rates, the
    /// automatic promotions running and the codes' promotions with their limits' state, and the
    /// customer's groups.
    async fn terms(&self, customer: Option<Uuid>, typed: &[String], at: DateTime<Utc>) -> Result<Terms, Error> {
        let rates = self.rates().await?;
        let codes: Vec<String> = typed.iter().map(|c| normalize_code(c)).collect();
        let automatic = store::running_automatic(&self.pool, at).await?;
        let coded = self.by_codes(&codes).await?;
        let candidates = || automatic.iter().chain(coded.iter().map(|c| &c.promotion));
        let (groups, customer_uses) = match customer {
            Some(customer) => {
                // Groups and per-customer uses are read only when a promotion asks for them.
                let groups = match candidates().any(|p| !p.eligibility.0.customer_groups.is_empty()) {
                    true => store::groups(&mut *self.pool.acquire().await?, customer, at, None).await?,
                    false => Default::default(),
                };
                let limited: Vec<Uuid> = candidates()
                    .filter(|p| p.per_customer_limit.is_some())
                    .map(|p| p.id)
                    .collect();
                (groups, store::customer_uses(&self.pool, customer, &limited).await?)
            }
            None => Default::default(),
        };
        let left = |p: &store::PromotionRow| Left {
            uses: p.usage_limit.map(|limit| limit - p.uses),
            budget_minor: p.budget_minor.map(|budget| budget - p.spent_minor),
            customer_uses: p
                .per_customer_limit
                .map(|limit| limit - customer_uses.get(&p.id).copied().unwrap_or(0)),
            code_uses: None,
        };
        let mut offers: Vec<Offer> = automatic
            .iter()
            .map(|p| Offer {
                promotion: p.promotion(),
                code: None,
                left: left(p),
            })
            .collect();
        offers.extend(coded.iter().map(|c| Offer {
            promotion: c.promotion.promotion(),
            code: Some(c.code.clone()),
            left: Left {
                code_uses: c.max_uses.map(|max| max - c.code_uses),
                ..left(&c.promotion)
            },
        }));
        Ok(Terms { rates, offers, groups })
    }

    /// Records `order`'s uses, every limit checked exactly; once per order. A use past a limit
    /// is a 409 `promotion-unavailable` naming its code, and nothing is recorded.
    pub async fn redeem(&self, order: Uuid, customer: Uuid, uses: &[Use]) -> Result<(), Error> {
        let redeem = store::Redeem {
            order,
            customer,
            uses: uses.to_vec(),
        };
        let recorded = self.redeems.redeem(redeem).await?;
        match recorded {
            Ok(()) => {
                for u in uses {
                    metrics::counter!("promotions_uses_total").increment(1);
                    tracing::debug!(order.id = %order, promotion.id = %u.promotion_id, amount_minor = u.amount_minor, "promotion used");
                }
                Ok(())
            }
            Err(refusal) => {
                let Refusal::Promotion {
                    promotion_id, reason, ..
                } = &refusal;
                metrics::counter!("promotions_uses_refused_total", "reason" => reason.as_str()).increment(1);
                tracing::info!(order.id = %order, promotion.id = %promotion_id, reason = reason.as_str(), "promotion use refused at checkout");
                Err(refusal_problem(&refusal))
            }
        }
    }

    /// Gives back `order`'s uses and memberships; idempotent.
    pub async fn release(&self, order: Uuid) -> Result<(), Error> {
        let now = Utc::now();
        if let Some(uses) = pola_core::db::retry_deadlocks(|| store::release(&self.pool, order, now)).await? {
            tracing::info!(order.id = %order, uses, "promotion uses given back");
        }
        Ok(())
    }

    /// Starts the memberships a paid order bought; idempotent.
    pub async fn order_paid(&self, order: Uuid, customer: Uuid, variants: &[(Uuid, u32)]) -> Result<(), Error> {
        let started = store::activate_memberships(&self.pool, order, customer, variants, Utc::now()).await?;
        for plan in started {
            tracing::info!(order.id = %order, plan, "membership started");
        }
        Ok(())
    }

    /// A staff write and its audit row, in one transaction.
    async fn audited<T, F>(
        &self,
        staff: &Staff,
        action: &'static str,
        subject: Option<Uuid>,
        detail: serde_json::Value,
        write: F,
    ) -> Result<T, Error>
    where
        F: AsyncFnOnce(&mut sqlx::MySqlConnection) -> Result<T, Error>,
    {
        let mut tx = self.pool.begin().await?;
        let done = write(&mut tx).await?;
        let entity = action.split('.').next().unwrap_or(action);
        let change = Change::new(action, entity, subject.map(|s| s.to_string()).unwrap_or_default()).after(detail);
        audit::record(&mut *tx, staff, change).await?;
        tx.commit().await?;
        tracing::info!(staff.id = %staff.id, action, subject = ?subject, "staff changed promotions");
        Ok(done)
    }

    /// Live uses and cost of each promotion.
    async fn usage_of(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, (i64, i64)>, Error> {
        Ok(store::live_usage(&self.pool, ids).await?)
    }
}

/// Why a code was refused, for callers that turn a priced basket's refusals into a 409.
pub fn rejected_problem(rejected: &pricing::RejectedCode) -> Error {
    unavailable(None, Some(&rejected.code), rejected.reason, &rejected.detail)
}

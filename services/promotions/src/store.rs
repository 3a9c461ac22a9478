//! Promotions' SQL.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{MySql, MySqlConnection, MySqlPool, QueryBuilder, types::Json};
use uuid::Uuid;

use crate::{
    delivery::{DeliveryRules, Zone},
    model::PromotionSpec,
    pricing::{AppliesTo, Eligibility, Kind, Promotion, Use},
    vat::VatRate,
};

/// Binds `items` as a comma-separated list (the caller writes the parentheses).
fn push_list<'t, T>(q: &mut QueryBuilder<MySql>, items: impl IntoIterator<Item = T>)
where
    T: sqlx::Encode<'t, MySql> + sqlx::Type<MySql>,
{
    let mut list = q.separated(", ");
    for item in items {
        list.push_bind(item);
    }
}

/// A promotion row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PromotionRow {
    pub id: Uuid,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub kind: Kind,
    pub value_minor: i64,
    #[sqlx(try_from = "String")]
    pub applies_to: AppliesTo,
    pub eligibility: Json<Eligibility>,
    pub buy_quantity: u32,
    pub get_quantity: u32,
    pub get_product_ids: Json<Vec<Uuid>>,
    pub bundle_quantity: u32,
    pub max_applications: Option<u32>,
    pub priority: i32,
    pub exclusive: bool,
    pub automatic: bool,
    pub active: bool,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub usage_limit: Option<i64>,
    pub per_customer_limit: Option<i64>,
    pub budget_minor: Option<i64>,
    pub uses: i64,
    pub spent_minor: i64,
    pub created_at: DateTime<Utc>,
}

impl PromotionRow {
    pub fn promotion(&self) -> Promotion {
        Promotion {
            id: self.id,
            name: self.name.clone(),
            kind: self.kind,
            value: self.value_minor,
            applies_to: self.applies_to,
            eligibility: self.eligibility.0.clone(),
            buy_quantity: self.buy_quantity,
            get_quantity: self.get_quantity,
            get_product_ids: self.get_product_ids.0.clone(),
            bundle_quantity: self.bundle_quantity,
            max_applications: self.max_applications,
            priority: self.priority,
            exclusive: self.exclusive,
            active: self.active,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
        }
    }

    /// Whether checkouts count its uses on its row (it has a limit or a budget).
    pub fn counted(&self) -> bool {
        self.usage_limit.is_some() || self.budget_minor.is_some()
    }
}

const PROMOTION: &str = "SELECT p.id, p.name, p.kind, p.value_minor, p.applies_to, p.eligibility, p.buy_quantity,
    p.get_quantity, p.get_product_ids, p.bundle_quantity, p.max_applications, p.priority, p.exclusive, p.automatic,
    p.active, p.starts_at, p.ends_at, p.usage_limit, p.per_customer_limit, p.budget_minor, p.uses, p.spent_minor,
    p.created_at FROM promotions p";

/// Writes a new promotion and its code.
pub async fn insert_promotion(conn: &mut MySqlConnection, spec: &PromotionSpec, now: DateTime<Utc>) -> sqlx::Result<()> {
    let p = &spec.promotion;
    sqlx::query(
        "INSERT INTO promotions (id, name, kind, value_minor, applies_to, eligibility, buy_quantity, get_quantity,
             get_product_ids, bundle_quantity, max_applications, priority, exclusive, automatic, active, starts_at,
             ends_at, usage_limit, per_customer_limit, budget_minor, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, TRUE, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(p.id)
    .bind(&p.name)
    .bind(p.kind.as_str())
    .bind(p.value)
    .bind(p.applies_to.as_str())
    .bind(Json(&p.eligibility))
    .bind(p.buy_quantity)
    .bind(p.get_quantity)
    .bind(Json(&p.get_product_ids))
    .bind(p.bundle_quantity)
    .bind(p.max_applications)
    .bind(p.priority)
    .bind(p.exclusive)
    .bind(spec.automatic)
    .bind(p.starts_at)
    .bind(p.ends_at)
    .bind(spec.usage_limit)
    .bind(spec.per_customer_limit)
    .bind(spec.budget_minor)
    .bind(now)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if let Some(code) = &spec.code {
        insert_codes(conn, p.id, std::slice::from_ref(code), None, now).await?;
    }
    Ok(())
}

/// Adds codes to a promotion, each usable `max_uses` times (`None`: as the promotion allows).
pub async fn insert_codes(
    conn: &mut MySqlConnection,
    promotion: Uuid,
    codes: &[String],
    max_uses: Option<i64>,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    for chunk in codes.chunks(1000) {
        let mut insert: QueryBuilder<MySql> =
            QueryBuilder::new("INSERT INTO promotion_codes (code, promotion_id, max_uses, created_at) ");
        insert.push_values(chunk, |mut row, code| {
            row.push_bind(code).push_bind(promotion).push_bind(max_uses).push_bind(now);
        });
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

pub async fn promotion(conn: &mut MySqlConnection, id: Uuid) -> sqlx::Result<Option<PromotionRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{PROMOTION} WHERE p.id = ?")))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The promotion, locked for the rest of the transaction.
pub async fn lock_promotion(conn: &mut MySqlConnection, id: Uuid) -> sqlx::Result<Option<PromotionRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{PROMOTION} WHERE p.id = ? FOR UPDATE")))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Every promotion, newest first.
pub async fn promotions(pool: &MySqlPool, limit: u32) -> sqlx::Result<Vec<PromotionRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{PROMOTION} ORDER BY p.created_at DESC LIMIT ?")))
        .bind(limit)
        .fetch_all(pool)
        .await
}

/// The promotion's own code (the one made with it), if any.
pub async fn own_codes(pool: &MySqlPool, ids: &[Uuid]) -> sqlx::Result<HashMap<Uuid, String>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut q: QueryBuilder<MySql> = QueryBuilder::new(
        "SELECT promotion_id, MIN(code) AS code FROM promotion_codes WHERE max_uses IS NULL AND promotion_id IN (",
    );
    push_list(&mut q, ids.iter().copied());
    q.push(") GROUP BY promotion_id");
    let rows: Vec<(Uuid, String)> = q.build_query_as().fetch_all(pool).await?;
    Ok(rows.into_iter().collect())
}

/// Automatic promotions running at `now`.
pub async fn running_automatic(pool: &MySqlPool, now: DateTime<Utc>) -> sqlx::Result<Vec<PromotionRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{PROMOTION} WHERE p.automatic AND p.active AND (p.starts_at IS NULL OR p.starts_at <= ?)
                       AND (p.ends_at IS NULL OR p.ends_at > ?)"
    )))
    .bind(now)
    .bind(now)
    .fetch_all(pool)
    .await
}

/// A code and its promotion.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CodeRow {
    pub code: String,
    pub max_uses: Option<i64>,
    pub code_uses: i64,
    #[sqlx(flatten)]
    pub promotion: PromotionRow,
}

/// The promotions behind `codes` (upper case), whatever their state.
pub async fn by_codes(pool: &MySqlPool, codes: &[String]) -> sqlx::Result<Vec<CodeRow>> {
    if codes.is_empty() {
        return Ok(vec![]);
    }
    let select = PROMOTION.replacen("SELECT p.id", "SELECT c.code, c.max_uses, c.uses AS code_uses, p.id", 1);
    let mut q: QueryBuilder<MySql> = QueryBuilder::new(format!(
        "{select} JOIN promotion_codes c ON c.promotion_id = p.id WHERE c.code IN ("
    ));
    push_list(&mut q, codes.iter());
    q.push(")");
    q.build_query_as().fetch_all(pool).await
}

/// The customer's live uses of each of `promotions`.
pub async fn customer_uses(pool: &MySqlPool, customer: Uuid, promotions: &[Uuid]) -> sqlx::Result<HashMap<Uuid, i64>> {
    if promotions.is_empty() {
        return Ok(HashMap::new());
    }
    let mut q: QueryBuilder<MySql> = QueryBuilder::new("SELECT promotion_id, uses FROM customer_uses WHERE customer_id = ");
    q.push_bind(customer).push(" AND promotion_id IN (");
    push_list(&mut q, promotions.iter().copied());
    q.push(")");
    let rows: Vec<(Uuid, i64)> = q.build_query_as().fetch_all(pool).await?;
    Ok(rows.into_iter().collect())
}

/// The customer's groups at `now`: their plans (`member`, `plan:<slug>`), the groups staff put
/// them in, and `first_order` while none of their orders stands (`standing` orders, else read).
pub async fn groups(
    conn: &mut MySqlConnection,
    customer: Uuid,
    now: DateTime<Utc>,
    standing: Option<i64>,
) -> sqlx::Result<BTreeSet<String>> {
    let standing = match standing {
        Some(n) => n,
        None => sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM priced_orders WHERE customer_id = ? AND released_at IS NULL LIMIT 1) standing",
        )
        .bind(customer)
        .fetch_one(&mut *conn)
        .await?,
    };
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT CONCAT('plan:', p.slug) FROM memberships m JOIN plans p ON p.id = m.plan_id
          WHERE m.customer_id = ? AND m.revoked_at IS NULL AND m.starts_at <= ? AND m.ends_at > ?
         UNION SELECT group_name FROM customer_groups WHERE customer_id = ?",
    )
    .bind(customer)
    .bind(now)
    .bind(now)
    .bind(customer)
    .fetch_all(conn)
    .await?;
    let mut groups: BTreeSet<String> = rows.into_iter().map(|(g,)| g).collect();
    if groups.iter().any(|g| g.starts_with("plan:")) {
        groups.insert("member".into());
    }
    if standing == 0 {
        groups.insert("first_order".into());
    }
    Ok(groups)
}

/// Why a use could not be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `reason` is a `pricing::Reason` text.
    Promotion {
        promotion_id: Uuid,
        code: Option<String>,
        reason: crate::pricing::Reason,
    },
}

/// One order's uses to record.
#[derive(Debug, Clone)]
pub struct Redeem {
    pub order: Uuid,
    pub customer: Uuid,
    pub uses: Vec<Use>,
}

/// Records the uses of several orders in one transaction (one commit for all), each order in a
/// savepoint of its own: an order refused records nothing and leaves the others alone.
pub async fn redeem_batch(pool: &MySqlPool, batch: &[Redeem], now: DateTime<Utc>) -> sqlx::Result<Vec<Result<(), Refusal>>> {
    let mut tx = pool.begin().await?;
    let mut ids: Vec<Uuid> = batch.iter().flat_map(|r| r.uses.iter().map(|u| u.promotion_id)).collect();
    ids.sort_unstable();
    ids.dedup();
    // Read once for the batch: whether each is running and whom it is for. Limits are not
    // taken from here but checked by the conditional updates on the locked rows.
    let promotions = promotions_by_id(&mut tx, &ids).await?;
    let mut results = Vec::with_capacity(batch.len());
    // Written together after the loop: an order refused adds none.
    let mut redemptions = vec![];
    for r in batch {
        // A refusal comes at a check, or at a limit's conditional update, which then changed
        // nothing: with one limited step at most, the order's only write before it is its
        // `priced_orders` row, deleted on refusal. More steps take a savepoint.
        let steps: usize = r
            .uses
            .iter()
            .map(|u| {
                let row = promotions.get(&u.promotion_id);
                usize::from(row.is_some_and(PromotionRow::counted))
                    + usize::from(u.code_limited)
                    + usize::from(row.is_some_and(|p| p.per_customer_limit.is_some()))
            })
            .sum();
        let savepoint = steps > 1;
        if savepoint {
            sqlx::query("SAVEPOINT redeem").execute(&mut *tx).await?;
        }
        let result = redeem(&mut tx, &promotions, r, now, &mut redemptions).await?;
        let finish = match (&result, savepoint) {
            (Ok(()), true) => Some(sqlx::query("RELEASE SAVEPOINT redeem")),
            (Err(_), true) => Some(sqlx::query("ROLLBACK TO SAVEPOINT redeem")),
            (Err(_), false) => Some(sqlx::query("DELETE FROM priced_orders WHERE order_id = ?").bind(r.order)),
            (Ok(()), false) => None,
        };
        if let Some(statement) = finish {
            statement.execute(&mut *tx).await?;
        }
        results.push(result);
    }
    insert_redemptions(&mut tx, &redemptions, now).await?;
    tx.commit().await?;
    Ok(results)
}

/// Records `order`'s uses in `tx`, each limit checked on a locked row: a use past a usage
/// limit, a per-customer limit, a code's own limit or a budget is refused (the caller undoes the
/// order's writes; see `redeem_batch`). Recording an order's uses again changes nothing. Rows are locked in
/// one order (the customer's, promotions by id, codes, customer uses).
async fn redeem<'a>(
    tx: &mut MySqlConnection,
    rows: &HashMap<Uuid, PromotionRow>,
    r: &'a Redeem,
    now: DateTime<Utc>,
    out: &mut Vec<NewRedemption<'a>>,
) -> sqlx::Result<Result<(), Refusal>> {
    use crate::pricing::Reason;
    let (order, customer, uses) = (r.order, r.customer, &r.uses);
    let fresh = sqlx::query("INSERT IGNORE INTO priced_orders (order_id, customer_id, created_at) VALUES (?, ?, ?)")
        .bind(order)
        .bind(customer)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    if !fresh {
        return Ok(Ok(()));
    }
    let mut uses: Vec<&Use> = uses.iter().collect();
    uses.sort_by_key(|u| u.promotion_id);
    let rows: Vec<&PromotionRow> = uses.iter().filter_map(|u| rows.get(&u.promotion_id)).collect();
    // Groups matter only to promotions for some: those checkouts read them. "First order" is
    // checked with the customer's other checkouts in flight queued behind a lock of their own,
    // and their orders read with a locking read, which waits for any not yet committed.
    let wanted = |p: &PromotionRow| !p.eligibility.0.customer_groups.is_empty();
    let groups = if rows.iter().any(|p| wanted(p)) {
        let first_order = rows
            .iter()
            .any(|p| p.eligibility.0.customer_groups.iter().any(|g| g == "first_order"));
        let standing = if first_order {
            sqlx::query("INSERT INTO customer_locks (customer_id) VALUES (?) ON DUPLICATE KEY UPDATE customer_id = customer_id")
                .bind(customer)
                .execute(&mut *tx)
                .await?;
            let other: Option<Uuid> = sqlx::query_scalar(
                "SELECT order_id FROM priced_orders WHERE customer_id = ? AND released_at IS NULL AND order_id <> ?
                 LIMIT 1 LOCK IN SHARE MODE",
            )
            .bind(customer)
            .bind(order)
            .fetch_optional(&mut *tx)
            .await?;
            Some(i64::from(other.is_some()))
        } else {
            None
        };
        groups(&mut *tx, customer, now, standing).await?
    } else {
        BTreeSet::new()
    };
    let refuse = |use_: &Use, reason| {
        Ok(Err(Refusal::Promotion {
            promotion_id: use_.promotion_id,
            code: use_.code.clone(),
            reason,
        }))
    };
    let mut recorded = vec![];
    for use_ in &uses {
        let Some(row) = rows.iter().find(|p| p.id == use_.promotion_id) else {
            return refuse(use_, Reason::Unknown);
        };
        if !row.active {
            return refuse(use_, Reason::Paused);
        }
        if row.starts_at.is_some_and(|s| now < s) {
            return refuse(use_, Reason::NotStarted);
        }
        if row.ends_at.is_some_and(|e| now >= e) {
            return refuse(use_, Reason::Expired);
        }
        let wanted = &row.eligibility.0.customer_groups;
        if !wanted.is_empty() && !wanted.iter().any(|g| groups.contains(g)) {
            return refuse(use_, Reason::NotForThisCustomer);
        }
        let counted = row.counted();
        if counted {
            let moved = sqlx::query(
                "UPDATE promotions SET uses = uses + 1, spent_minor = spent_minor + ?
                  WHERE id = ? AND (usage_limit IS NULL OR uses < usage_limit)
                    AND (budget_minor IS NULL OR spent_minor + ? <= budget_minor)",
            )
            .bind(use_.amount_minor)
            .bind(use_.promotion_id)
            .bind(use_.amount_minor)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if moved == 0 {
                let uses_now: i64 = sqlx::query_scalar("SELECT uses FROM promotions WHERE id = ?")
                    .bind(use_.promotion_id)
                    .fetch_one(&mut *tx)
                    .await?;
                let used_up = row.usage_limit.is_some_and(|limit| uses_now >= limit);
                return refuse(use_, if used_up { Reason::UsedUp } else { Reason::BudgetExhausted });
            }
        }
        // A code's own limit (bulk codes; a code never gains or loses one).
        let code_counted = use_.code_limited && use_.code.is_some();
        if let (true, Some(code)) = (code_counted, &use_.code) {
            let moved = sqlx::query(
                "UPDATE promotion_codes SET uses = uses + 1
                  WHERE code = ? AND promotion_id = ? AND max_uses IS NOT NULL AND uses < max_uses",
            )
            .bind(code)
            .bind(use_.promotion_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if moved == 0 {
                return refuse(use_, Reason::UsedUp);
            }
        }
        let customer_counted = row.per_customer_limit.is_some();
        if let Some(limit) = row.per_customer_limit {
            sqlx::query(
                "INSERT INTO customer_uses (promotion_id, customer_id, uses) VALUES (?, ?, 0)
                 ON DUPLICATE KEY UPDATE uses = uses",
            )
            .bind(use_.promotion_id)
            .bind(customer)
            .execute(&mut *tx)
            .await?;
            let moved =
                sqlx::query("UPDATE customer_uses SET uses = uses + 1 WHERE promotion_id = ? AND customer_id = ? AND uses < ?")
                    .bind(use_.promotion_id)
                    .bind(customer)
                    .bind(limit)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            if moved == 0 {
                return refuse(use_, Reason::CustomerLimitReached);
            }
        }
        recorded.push((*use_, counted, code_counted, customer_counted));
    }
    out.extend(
        recorded
            .into_iter()
            .map(|(use_, counted, code_counted, customer_counted)| NewRedemption {
                order,
                customer,
                use_,
                counted,
                code_counted,
                customer_counted,
            }),
    );
    Ok(Ok(()))
}

/// A use to write, once its order is through.
struct NewRedemption<'a> {
    order: Uuid,
    customer: Uuid,
    use_: &'a Use,
    counted: bool,
    code_counted: bool,
    customer_counted: bool,
}

/// Writes a batch's uses, a few hundred rows to a statement.
async fn insert_redemptions(conn: &mut MySqlConnection, rows: &[NewRedemption<'_>], now: DateTime<Utc>) -> sqlx::Result<()> {
    for chunk in rows.chunks(500) {
        let mut insert: QueryBuilder<MySql> = QueryBuilder::new(
            "INSERT INTO redemptions (order_id, promotion_id, code, customer_id, amount_minor, counted, code_counted,
                                      customer_counted, created_at) ",
        );
        insert.push_values(chunk, |mut row, r| {
            row.push_bind(r.order)
                .push_bind(r.use_.promotion_id)
                .push_bind(&r.use_.code)
                .push_bind(r.customer)
                .push_bind(r.use_.amount_minor)
                .push_bind(r.counted)
                .push_bind(r.code_counted)
                .push_bind(r.customer_counted)
                .push_bind(now);
        });
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

async fn promotions_by_id(conn: &mut MySqlConnection, ids: &[Uuid]) -> sqlx::Result<HashMap<Uuid, PromotionRow>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut q: QueryBuilder<MySql> = QueryBuilder::new(format!("{PROMOTION} WHERE p.id IN ("));
    push_list(&mut q, ids.iter().copied());
    q.push(")");
    let rows: Vec<PromotionRow> = q.build_query_as().fetch_all(conn).await?;
    Ok(rows.into_iter().map(|r| (r.id, r)).collect())
}

/// A use as recorded.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Redemption {
    promotion_id: Uuid,
    code: Option<String>,
    customer_id: Uuid,
    amount_minor: i64,
    counted: bool,
    code_counted: bool,
    customer_counted: bool,
}

/// Gives back `order`'s uses (and counts it out of its customer's standing orders), once.
/// Returns how many uses were given back; `None` when the order was never recorded here or was
/// released already.
pub async fn release(pool: &MySqlPool, order: Uuid, now: DateTime<Utc>) -> sqlx::Result<Option<usize>> {
    let mut tx = pool.begin().await?;
    let recorded: Option<Uuid> =
        sqlx::query_scalar("SELECT customer_id FROM priced_orders WHERE order_id = ? AND released_at IS NULL FOR UPDATE")
            .bind(order)
            .fetch_optional(&mut *tx)
            .await?;
    if recorded.is_none() {
        return Ok(None);
    }
    let uses: Vec<Redemption> = sqlx::query_as(
        "SELECT promotion_id, code, customer_id, amount_minor, counted, code_counted, customer_counted
           FROM redemptions WHERE order_id = ? AND released_at IS NULL ORDER BY promotion_id",
    )
    .bind(order)
    .fetch_all(&mut *tx)
    .await?;
    for r in &uses {
        if r.counted {
            sqlx::query("UPDATE promotions SET uses = uses - 1, spent_minor = spent_minor - ? WHERE id = ?")
                .bind(r.amount_minor)
                .bind(r.promotion_id)
                .execute(&mut *tx)
                .await?;
        }
        if r.code_counted
            && let Some(code) = &r.code
        {
            sqlx::query("UPDATE promotion_codes SET uses = uses - 1 WHERE code = ?")
                .bind(code)
                .execute(&mut *tx)
                .await?;
        }
        if r.customer_counted {
            sqlx::query("UPDATE customer_uses SET uses = uses - 1 WHERE promotion_id = ? AND customer_id = ?")
                .bind(r.promotion_id)
                .bind(r.customer_id)
                .execute(&mut *tx)
                .await?;
        }
    }
    sqlx::query("UPDATE redemptions SET released_at = ? WHERE order_id = ? AND released_at IS NULL")
        .bind(now)
        .bind(order)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE memberships SET revoked_at = ? WHERE order_id = ? AND revoked_at IS NULL")
        .bind(now)
        .bind(order)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE priced_orders SET released_at = ? WHERE order_id = ?")
        .bind(now)
        .bind(order)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(uses.len()))
}

/// Changes what staff may change of a promotion.
pub async fn update_promotion(conn: &mut MySqlConnection, row: &PromotionRow, now: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE promotions SET active = ?, starts_at = ?, ends_at = ?, usage_limit = ?, per_customer_limit = ?,
                budget_minor = ?, priority = ?, updated_at = ? WHERE id = ?",
    )
    .bind(row.active)
    .bind(row.starts_at)
    .bind(row.ends_at)
    .bind(row.usage_limit)
    .bind(row.per_customer_limit)
    .bind(row.budget_minor)
    .bind(row.priority)
    .bind(now)
    .bind(row.id)
    .execute(conn)
    .await
    .map(drop)
}

/// Use and cost of a promotion, from its recorded uses.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct UsageRow {
    pub uses: i64,
    pub cost_minor: i64,
    pub released_uses: i64,
    pub released_minor: i64,
    pub customers: i64,
}

pub async fn usage(pool: &MySqlPool, promotion: Uuid) -> sqlx::Result<UsageRow> {
    sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(released_at IS NULL), 0) AS SIGNED) AS uses,
                CAST(COALESCE(SUM(IF(released_at IS NULL, amount_minor, 0)), 0) AS SIGNED) AS cost_minor,
                CAST(COALESCE(SUM(released_at IS NOT NULL), 0) AS SIGNED) AS released_uses,
                CAST(COALESCE(SUM(IF(released_at IS NOT NULL, amount_minor, 0)), 0) AS SIGNED) AS released_minor,
                COUNT(DISTINCT IF(released_at IS NULL, customer_id, NULL)) AS customers
           FROM redemptions WHERE promotion_id = ?",
    )
    .bind(promotion)
    .fetch_one(pool)
    .await
}

/// Live uses and cost per promotion.
pub async fn live_usage(pool: &MySqlPool, ids: &[Uuid]) -> sqlx::Result<HashMap<Uuid, (i64, i64)>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut q: QueryBuilder<MySql> = QueryBuilder::new(
        "SELECT promotion_id, COUNT(*), CAST(COALESCE(SUM(amount_minor), 0) AS SIGNED) FROM redemptions
          WHERE released_at IS NULL AND promotion_id IN (",
    );
    push_list(&mut q, ids.iter().copied());
    q.push(") GROUP BY promotion_id");
    let rows: Vec<(Uuid, i64, i64)> = q.build_query_as().fetch_all(pool).await?;
    Ok(rows.into_iter().map(|(id, n, cost)| (id, (n, cost))).collect())
}

/// A plan row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PlanRow {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub variant_id: Uuid,
    pub months: u32,
    pub active: bool,
    pub members: i64,
}

pub async fn insert_plan(conn: &mut MySqlConnection, plan: &PlanRow, now: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO plans (id, slug, name, variant_id, months, active, created_at) VALUES (?, ?, ?, ?, ?, TRUE, ?)")
        .bind(plan.id)
        .bind(&plan.slug)
        .bind(&plan.name)
        .bind(plan.variant_id)
        .bind(plan.months)
        .bind(now)
        .execute(conn)
        .await
        .map(drop)
}

pub async fn plans(pool: &MySqlPool, now: DateTime<Utc>) -> sqlx::Result<Vec<PlanRow>> {
    sqlx::query_as(
        "SELECT p.id, p.slug, p.name, p.variant_id, p.months, p.active,
                (SELECT COUNT(DISTINCT m.customer_id) FROM memberships m
                  WHERE m.plan_id = p.id AND m.revoked_at IS NULL AND m.starts_at <= ? AND m.ends_at > ?) AS members
           FROM plans p ORDER BY p.slug",
    )
    .bind(now)
    .bind(now)
    .fetch_all(pool)
    .await
}

/// Starts the memberships `order` bought (of the plans sold as `variants`), each after the
/// customer's current one of that plan ends; once per order.
pub async fn activate_memberships(
    pool: &MySqlPool,
    order: Uuid,
    customer: Uuid,
    variants: &[(Uuid, u32)],
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<String>> {
    let mut tx = pool.begin().await?;
    let mut started = vec![];
    for (variant, quantity) in variants {
        let plan: Option<(Uuid, String, u32)> =
            sqlx::query_as("SELECT id, slug, months FROM plans WHERE variant_id = ? AND active")
                .bind(variant)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((plan, slug, months)) = plan else {
            continue;
        };
        // The customer's memberships of this plan, locked: two paid orders queue here.
        let current: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT MAX(ends_at) FROM memberships WHERE customer_id = ? AND plan_id = ? AND revoked_at IS NULL FOR UPDATE",
        )
        .bind(customer)
        .bind(plan)
        .fetch_one(&mut *tx)
        .await?;
        let starts_at = current.filter(|end| *end > now).unwrap_or(now);
        let ends_at = starts_at
            .checked_add_months(chrono::Months::new(months * quantity))
            .unwrap_or(starts_at);
        let inserted = sqlx::query(
            "INSERT IGNORE INTO memberships (order_id, plan_id, customer_id, starts_at, ends_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(order)
        .bind(plan)
        .bind(customer)
        .bind(starts_at)
        .bind(ends_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 1 {
            started.push(slug);
        }
    }
    tx.commit().await?;
    Ok(started)
}

/// A customer's memberships in force at `now`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MembershipRow {
    pub slug: String,
    pub name: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

pub async fn memberships(pool: &MySqlPool, customer: Uuid, now: DateTime<Utc>) -> sqlx::Result<Vec<MembershipRow>> {
    sqlx::query_as(
        "SELECT p.slug, p.name, m.starts_at, m.ends_at FROM memberships m JOIN plans p ON p.id = m.plan_id
          WHERE m.customer_id = ? AND m.revoked_at IS NULL AND m.ends_at > ? ORDER BY m.starts_at",
    )
    .bind(customer)
    .bind(now)
    .fetch_all(pool)
    .await
}

pub async fn set_group(
    conn: &mut MySqlConnection,
    customer: Uuid,
    group: &str,
    member: bool,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let query = if member {
        sqlx::query("INSERT IGNORE INTO customer_groups (customer_id, group_name, created_at) VALUES (?, ?, ?)")
            .bind(customer)
            .bind(group)
            .bind(now)
    } else {
        sqlx::query("DELETE FROM customer_groups WHERE customer_id = ? AND group_name = ?")
            .bind(customer)
            .bind(group)
    };
    query.execute(conn).await.map(drop)
}

/// The delivery rules and VAT rates as stored.
pub async fn rates(pool: &MySqlPool) -> sqlx::Result<(DeliveryRules, Vec<VatRate>)> {
    let zones: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT code, first_kg_minor, extra_kg_minor FROM delivery_zones ORDER BY code")
            .fetch_all(pool)
            .await?;
    let districts: Vec<(String, String)> = sqlx::query_as("SELECT district, zone FROM delivery_districts")
        .fetch_all(pool)
        .await?;
    let (free_from_minor, cod_surcharge_minor): (Option<i64>, i64) =
        sqlx::query_as("SELECT free_from_minor, cod_surcharge_minor FROM delivery_settings WHERE id = 1")
            .fetch_one(pool)
            .await?;
    let vat: Vec<(NaiveDate, u32)> = sqlx::query_as("SELECT effective_from, basis_points FROM vat_rates ORDER BY effective_from")
        .fetch_all(pool)
        .await?;
    Ok((
        DeliveryRules {
            zones: zones
                .into_iter()
                .map(|(code, first_kg_minor, extra_kg_minor)| Zone {
                    code,
                    first_kg_minor,
                    extra_kg_minor,
                })
                .collect(),
            districts: districts.into_iter().collect(),
            free_from_minor,
            cod_surcharge_minor,
        },
        vat.into_iter()
            .map(|(from, basis_points)| VatRate { from, basis_points })
            .collect(),
    ))
}

/// Replaces the delivery rules.
pub async fn save_delivery(conn: &mut MySqlConnection, rules: &DeliveryRules) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM delivery_zones").execute(&mut *conn).await?;
    sqlx::query("DELETE FROM delivery_districts").execute(&mut *conn).await?;
    for zone in &rules.zones {
        sqlx::query("INSERT INTO delivery_zones (code, first_kg_minor, extra_kg_minor) VALUES (?, ?, ?)")
            .bind(&zone.code)
            .bind(zone.first_kg_minor)
            .bind(zone.extra_kg_minor)
            .execute(&mut *conn)
            .await?;
    }
    for (district, zone) in &rules.districts {
        sqlx::query("INSERT INTO delivery_districts (district, zone) VALUES (?, ?)")
            .bind(district)
            .bind(zone)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("UPDATE delivery_settings SET free_from_minor = ?, cod_surcharge_minor = ? WHERE id = 1")
        .bind(rules.free_from_minor)
        .bind(rules.cod_surcharge_minor)
        .execute(&mut *conn)
        .await
        .map(drop)
}

/// Adds (or corrects) the VAT rate in force from a date.
pub async fn save_vat_rate(conn: &mut MySqlConnection, rate: &VatRate) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO vat_rates (effective_from, basis_points) VALUES (?, ?)
         ON DUPLICATE KEY UPDATE basis_points = VALUES(basis_points)",
    )
    .bind(rate.from)
    .bind(rate.basis_points)
    .execute(conn)
    .await
    .map(drop)
}

/// A demo history's use of a promotion by one order.
#[derive(Debug, Clone)]
pub struct SeedRedemption {
    pub order_id: Uuid,
    pub promotion_id: Uuid,
    pub code: Option<String>,
    pub customer_id: Uuid,
    pub amount_minor: i64,
    pub at: DateTime<Utc>,
}

/// Writes a demo history's promotion uses (of promotions without limits, so no counter moves).
pub async fn seed_redemptions(pool: &MySqlPool, rows: &[SeedRedemption]) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut insert: QueryBuilder<MySql> = QueryBuilder::new(
        "INSERT INTO redemptions (order_id, promotion_id, code, customer_id, amount_minor, counted, code_counted,
                                  customer_counted, created_at) ",
    );
    insert.push_values(rows, |mut row, r| {
        row.push_bind(r.order_id)
            .push_bind(r.promotion_id)
            .push_bind(&r.code)
            .push_bind(r.customer_id)
            .push_bind(r.amount_minor)
            .push_bind(false)
            .push_bind(false)
            .push_bind(false)
            .push_bind(r.at);
    });
    insert.build().execute(pool).await.map(drop)
}

//! Inventory's SQL. Every change runs in one transaction that locks what it touches in one order
//! — a holder's row (only reserving takes it), then reservation rows, then stock rows by
//! (variant, location) — so concurrent checkouts
//! serialise on the rows they share and never deadlock each other by order; the rules in
//! `model` then run on the locked rows.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::{MySql, MySqlConnection, MySqlPool, QueryBuilder};
use uuid::Uuid;

use crate::model::{
    self, Allocation, Hold, LedgerEntry, Level, Levels, LocationStock, OverLimit, Shortage, StockItem, Take, VariantStock,
};

/// Why a change could not be made.
#[derive(Debug, thiserror::Error)]
pub enum StockError {
    #[error("not enough stock")]
    Shortage(Vec<Shortage>),
    #[error("the holder would hold more than it may")]
    OverLimit(OverLimit),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl pola_core::db::AsDeadlock for StockError {
    fn is_deadlock(&self) -> bool {
        matches!(self, StockError::Database(e) if pola_core::db::is_retryable(e))
    }
}

async fn lock_levels(conn: &mut MySqlConnection, variants: &BTreeSet<Uuid>) -> sqlx::Result<Levels> {
    if variants.is_empty() {
        return Ok(Levels::new());
    }
    let mut query: QueryBuilder<MySql> =
        QueryBuilder::new("SELECT variant_id, location, on_hand, reserved FROM stock WHERE variant_id IN (");
    let mut list = query.separated(", ");
    for v in variants {
        list.push_bind(*v);
    }
    query.push(") ORDER BY variant_id, location FOR UPDATE");
    let lines: Vec<StockLine> = query.build_query_as().fetch_all(&mut *conn).await?;
    Ok(lines.into_iter().map(|l| ((l.variant_id, l.location), l.level)).collect())
}

/// Writes the rows that changed, and records `stock.out` and `stock.in` for each variant whose
/// units available (over its locations, all of which `before` holds) reached zero or left it.
async fn write_levels(conn: &mut MySqlConnection, before: &Levels, after: &Levels) -> sqlx::Result<()> {
    let now = Utc::now();
    for (key, level) in after {
        if before.get(key) == Some(level) {
            continue;
        }
        sqlx::query("UPDATE stock SET on_hand = ?, reserved = ?, updated_at = ? WHERE variant_id = ? AND location = ?")
            .bind(level.on_hand)
            .bind(level.reserved)
            .bind(now)
            .bind(key.0)
            .bind(&key.1)
            .execute(&mut *conn)
            .await?;
    }
    record_crossings(conn, before, after).await
}

/// Units available per variant, over the locations `levels` holds.
fn available_per_variant(levels: &Levels) -> BTreeMap<Uuid, i64> {
    let mut available = BTreeMap::new();
    for ((variant, _), level) in levels {
        *available.entry(*variant).or_insert(0) += level.available();
    }
    available
}

async fn record_crossings(conn: &mut MySqlConnection, before: &Levels, after: &Levels) -> sqlx::Result<()> {
    let was = available_per_variant(before);
    for (variant, available) in available_per_variant(after) {
        let had = was.get(&variant).copied().unwrap_or(0) > 0;
        if had != (available > 0) {
            let event = StockCrossed {
                variant_id: variant,
                available,
                out: had,
            };
            pola_core::events::record(conn, &event).await?;
        }
    }
    Ok(())
}

/// Locks a reservation and returns what it holds (nothing if it does not exist).
async fn lock_held(conn: &mut MySqlConnection, reservation: Uuid) -> sqlx::Result<Vec<Allocation>> {
    sqlx::query("SELECT id FROM reservations WHERE id = ? FOR UPDATE")
        .bind(reservation)
        .fetch_optional(&mut *conn)
        .await?;
    sqlx::query_as(
        "SELECT variant_id, location, quantity FROM reservation_items WHERE reservation_id = ? ORDER BY variant_id, location",
    )
    .bind(reservation)
    .fetch_all(&mut *conn)
    .await
}

async fn delete_reservation(conn: &mut MySqlConnection, reservation: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM reservation_items WHERE reservation_id = ?")
        .bind(reservation)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM reservations WHERE id = ?")
        .bind(reservation)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn variants_of(held: &[Allocation], items: &[StockItem]) -> BTreeSet<Uuid> {
    held.iter()
        .map(|a| a.variant_id)
        .chain(items.iter().map(|i| i.variant_id))
        .collect()
}

/// Units per variant that `holder` holds in reservations other than `except`.
#[derive(sqlx::FromRow)]
struct HeldUnits {
    variant_id: Uuid,
    quantity: i64,
}

/// Locks `holder`'s row (made on first use): holds of one holder are counted one at a time.
async fn lock_holder(conn: &mut MySqlConnection, holder: Uuid) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO holders (holder) VALUES (?) ON DUPLICATE KEY UPDATE holder = holder")
        .bind(holder)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn held_by(conn: &mut MySqlConnection, holder: Uuid, except: Uuid) -> sqlx::Result<BTreeMap<Uuid, i64>> {
    // Expired holds count until the sweeper returns them: their units are still out of stock.
    let rows: Vec<HeldUnits> = sqlx::query_as(
        "SELECT ri.variant_id, CAST(SUM(ri.quantity) AS SIGNED) AS quantity
         FROM reservations r JOIN reservation_items ri ON ri.reservation_id = r.id
         WHERE r.holder = ? AND r.id <> ? GROUP BY ri.variant_id",
    )
    .bind(holder)
    .bind(except)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.variant_id, r.quantity)).collect())
}

/// Sets what `reservation` holds to `items` (creating it, or replacing what it held), on the
/// terms of `hold`, until `expires_at`. All or nothing: on shortage, or when its holder would
/// hold more than it may, the reservation keeps what it had. Returns the units its holder holds
/// now, in all, if it has one.
pub async fn reserve(
    pool: &MySqlPool,
    reservation: Uuid,
    items: &[StockItem],
    hold: &Hold,
    expires_at: DateTime<Utc>,
) -> Result<Option<i64>, StockError> {
    let mut tx = pool.begin().await?;
    let mut holding = None;
    if let Some(holder) = &hold.holder {
        lock_holder(&mut tx, holder.key).await?;
        let elsewhere = held_by(&mut tx, holder.key, reservation).await?;
        model::check_holder(holder, &elsewhere, items).map_err(StockError::OverLimit)?;
        holding = Some(elsewhere.values().sum::<i64>() + items.iter().map(|i| i64::from(i.quantity)).sum::<i64>());
    }
    let held = lock_held(&mut tx, reservation).await?;
    let mut levels = lock_levels(&mut tx, &variants_of(&held, items)).await?;
    let before = levels.clone();
    model::release(&mut levels, &held);
    let allocations = model::take(&mut levels, items, Take::Reserve).map_err(StockError::Shortage)?;
    write_levels(&mut tx, &before, &levels).await?;
    sqlx::query("DELETE FROM reservation_items WHERE reservation_id = ?")
        .bind(reservation)
        .execute(&mut *tx)
        .await?;
    if !allocations.is_empty() {
        let mut insert: QueryBuilder<MySql> =
            QueryBuilder::new("INSERT INTO reservation_items (reservation_id, variant_id, location, quantity) ");
        insert.push_values(&allocations, |mut row, a| {
            row.push_bind(reservation)
                .push_bind(a.variant_id)
                .push_bind(&a.location)
                .push_bind(a.quantity);
        });
        insert.build().execute(&mut *tx).await?;
    }
    sqlx::query(
        "INSERT INTO reservations (id, expires_at, created_at, holder) VALUES (?, ?, ?, ?)
         ON DUPLICATE KEY UPDATE expires_at = VALUES(expires_at), holder = VALUES(holder)",
    )
    .bind(reservation)
    .bind(expires_at)
    .bind(Utc::now())
    .bind(hold.holder.map(|h| h.key))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(holding)
}

/// Forgets holders that hold nothing any more (the sweeper's last step).
pub async fn prune_holders(pool: &MySqlPool) -> sqlx::Result<u64> {
    let done = sqlx::query("DELETE h FROM holders h LEFT JOIN reservations r ON r.holder = h.holder WHERE r.id IS NULL")
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

/// Returns what a reservation holds to stock and forgets it. Releasing an unknown or expired
/// reservation does nothing.
pub async fn release(pool: &MySqlPool, reservation: Uuid) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    release_in(&mut tx, reservation).await?;
    tx.commit().await
}

/// Gives back what a reservation holds and deletes it, inside the caller's transaction.
async fn release_in(conn: &mut MySqlConnection, reservation: Uuid) -> sqlx::Result<()> {
    let held = lock_held(conn, reservation).await?;
    let mut levels = lock_levels(conn, &variants_of(&held, &[])).await?;
    let before = levels.clone();
    model::release(&mut levels, &held);
    write_levels(conn, &before, &levels).await?;
    delete_reservation(conn, reservation).await
}

/// A change of on-hand stock: what moved, on hand after it, and for which order.
type LedgerRow = (Allocation, i64, Option<Uuid>);

async fn insert_ledger(
    conn: &mut MySqlConnection,
    entries: &[LedgerRow],
    kind: &str,
    reason: &str,
    staff: Option<Uuid>,
) -> sqlx::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    let mut insert: QueryBuilder<MySql> = QueryBuilder::new(
        "INSERT INTO stock_ledger (variant_id, location, kind, delta, on_hand_after, reason, order_id, staff_id, created_at) ",
    );
    insert.push_values(entries, |mut row, (a, after, order)| {
        row.push_bind(a.variant_id)
            .push_bind(&a.location)
            .push_bind(kind)
            .push_bind(a.quantity)
            .push_bind(*after)
            .push_bind(reason)
            .push_bind(*order)
            .push_bind(staff)
            .push_bind(now);
    });
    insert.build().execute(&mut *conn).await.map(drop)
}

/// One order's sale, as `commit_batch` takes it.
#[derive(Debug, Clone)]
pub struct Sale {
    pub order: Uuid,
    /// Reservations the sale uses up first.
    pub consume: Vec<Uuid>,
    pub items: Vec<StockItem>,
}

/// Sells every sale in one transaction: each stock row is locked once, every sale is worked out
/// in memory against the locked rows, and each changed row, the sales and the ledger are written
/// once — a batch of thirty buyers of one variant costs a handful of statements and one commit.
/// Each sale is all or nothing: a short one is reported and the others go on. Idempotent per
/// order: an order sold before, or twice in the batch, is sold once.
///
/// A stock row a batch takes from above `low_stock` available units to at or under it records
/// `stock.low` for staff, once per crossing.
pub async fn commit_batch(pool: &MySqlPool, sales: &[Sale], low_stock: i64) -> sqlx::Result<Vec<Result<(), Vec<Shortage>>>> {
    let mut tx = pool.begin().await?;
    let orders: Vec<Uuid> = sales.iter().map(|s| s.order).collect();
    let mut sold_orders = already_sold(&mut tx, &orders).await?;

    // Locks in the one order every transaction here uses: reservations by id, then stock rows.
    let mut consume: Vec<Uuid> = sales.iter().flat_map(|s| s.consume.iter().copied()).collect();
    consume.sort();
    consume.dedup();
    let mut held_by = HashMap::new();
    for &reservation in &consume {
        held_by.insert(reservation, lock_held(&mut tx, reservation).await?);
    }
    let mut variants: BTreeSet<Uuid> = sales.iter().flat_map(|s| s.items.iter().map(|i| i.variant_id)).collect();
    variants.extend(held_by.values().flatten().map(|a| a.variant_id));
    let mut levels = lock_levels(&mut tx, &variants).await?;
    let before = levels.clone();

    let mut results = Vec::with_capacity(sales.len());
    let mut used_up = vec![];
    let mut sold_rows = vec![];
    let mut ledger: Vec<LedgerRow> = vec![];
    for sale in sales {
        if !sold_orders.insert(sale.order) {
            results.push(Ok(()));
            continue;
        }
        let held: Vec<Allocation> = sale
            .consume
            .iter()
            .filter_map(|r| held_by.get(r))
            .flatten()
            .cloned()
            .collect();
        let mut trial = levels.clone();
        model::release(&mut trial, &held);
        match model::take(&mut trial, &sale.items, Take::Sell) {
            Ok(sold) => {
                levels = trial;
                for reservation in &sale.consume {
                    if held_by.remove(reservation).is_some() {
                        used_up.push(*reservation);
                    }
                }
                for a in sold {
                    let after = levels[&(a.variant_id, a.location.clone())].on_hand;
                    ledger.push((
                        Allocation {
                            quantity: -a.quantity,
                            ..a.clone()
                        },
                        after,
                        Some(sale.order),
                    ));
                    sold_rows.push((sale.order, a));
                }
                results.push(Ok(()));
            }
            Err(shortages) => {
                sold_orders.remove(&sale.order);
                results.push(Err(shortages));
            }
        }
    }

    write_levels(&mut tx, &before, &levels).await?;
    for ((variant, location), level) in &levels {
        let available = level.on_hand - level.reserved;
        let was = before
            .get(&(*variant, location.clone()))
            .map_or(i64::MAX, |l| l.on_hand - l.reserved);
        if was > low_stock && available <= low_stock {
            let event = StockLow {
                variant_id: *variant,
                location: location.clone(),
                available,
            };
            pola_core::events::record(&mut tx, &event).await?;
        }
    }
    for reservation in used_up {
        delete_reservation(&mut tx, reservation).await?;
    }
    let now = Utc::now();
    for chunk in sold_rows.chunks(500) {
        let mut insert: QueryBuilder<MySql> =
            QueryBuilder::new("INSERT INTO sales (order_id, variant_id, location, quantity, created_at) ");
        insert.push_values(chunk, |mut row, (order, a)| {
            row.push_bind(*order)
                .push_bind(a.variant_id)
                .push_bind(&a.location)
                .push_bind(a.quantity)
                .push_bind(now);
        });
        insert.build().execute(&mut *tx).await?;
    }
    for chunk in ledger.chunks(500) {
        insert_ledger(&mut tx, chunk, "sale", "order placed", None).await?;
    }
    tx.commit().await?;
    Ok(results)
}

/// Which of `orders` have sold already.
async fn already_sold(conn: &mut MySqlConnection, orders: &[Uuid]) -> sqlx::Result<HashSet<Uuid>> {
    let mut query: QueryBuilder<MySql> = QueryBuilder::new("SELECT DISTINCT order_id FROM sales WHERE order_id IN (");
    let mut list = query.separated(", ");
    for order in orders {
        list.push_bind(*order);
    }
    query.push(")");
    query
        .build_query_scalar()
        .fetch_all(conn)
        .await
        .map(|ids| ids.into_iter().collect())
}

/// Puts back what `order` took (a cancellation). Idempotent.
pub async fn return_order(pool: &MySqlPool, order: Uuid) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    let sold: Vec<Allocation> = sqlx::query_as(
        "SELECT variant_id, location, quantity FROM sales WHERE order_id = ? AND returned_at IS NULL
         ORDER BY variant_id, location FOR UPDATE",
    )
    .bind(order)
    .fetch_all(&mut *tx)
    .await?;
    if sold.is_empty() {
        return Ok(());
    }
    let mut levels = lock_levels(&mut tx, &variants_of(&sold, &[])).await?;
    let before = levels.clone();
    let mut ledger = vec![];
    for a in sold {
        let level = levels
            .entry((a.variant_id, a.location.clone()))
            .or_insert(Level { on_hand: 0, reserved: 0 });
        level.on_hand += a.quantity;
        ledger.push((a, level.on_hand, Some(order)));
    }
    write_levels(&mut tx, &before, &levels).await?;
    sqlx::query("UPDATE sales SET returned_at = ? WHERE order_id = ?")
        .bind(Utc::now())
        .bind(order)
        .execute(&mut *tx)
        .await?;
    insert_ledger(&mut tx, &ledger, "return", "order cancelled", None).await?;
    tx.commit().await
}

/// Sets the counted stock of a variant at a location, keeping the change in the ledger.
pub async fn set_stock(
    pool: &MySqlPool,
    variant: Uuid,
    location: &str,
    on_hand: i64,
    reason: &str,
    staff: &pola_core::auth::Staff,
) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    let before = lock_levels(&mut tx, &BTreeSet::from([variant])).await?;
    let key = (variant, location.to_owned());
    let current = before.get(&key).map(|level| level.on_hand);
    let now = Utc::now();
    sqlx::query(
        "INSERT INTO stock (variant_id, location, on_hand, reserved, updated_at) VALUES (?, ?, ?, 0, ?)
         ON DUPLICATE KEY UPDATE on_hand = VALUES(on_hand), updated_at = VALUES(updated_at)",
    )
    .bind(variant)
    .bind(location)
    .bind(on_hand)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let mut after = before.clone();
    after.entry(key).or_default().on_hand = on_hand;
    record_crossings(&mut tx, &before, &after).await?;
    let delta = on_hand - current.unwrap_or(0);
    let entry = Allocation {
        variant_id: variant,
        location: location.to_owned(),
        quantity: delta,
    };
    insert_ledger(&mut tx, &[(entry, on_hand, None)], "adjustment", reason, Some(staff.id)).await?;
    let change = pola_core::audit::Change::new("stock.count", "variant", variant)
        .before(serde_json::json!({"location": location, "on_hand": current}))
        .after(serde_json::json!({"location": location, "on_hand": on_hand, "reason": reason}));
    pola_core::audit::record(&mut *tx, staff, change).await?;
    tx.commit().await
}

/// Loads many stock rows at once without a ledger entry each (the demo seed).
pub async fn seed_stock(pool: &MySqlPool, rows: &[(Uuid, String, i64)]) -> sqlx::Result<()> {
    let now = Utc::now();
    for chunk in rows.chunks(1000) {
        let mut insert: QueryBuilder<MySql> =
            QueryBuilder::new("INSERT INTO stock (variant_id, location, on_hand, reserved, updated_at) ");
        insert.push_values(chunk, |mut row, (v, location, on_hand)| {
            row.push_bind(*v)
                .push_bind(location)
                .push_bind(*on_hand)
                .push_bind(0)
                .push_bind(now);
        });
        insert.push(" ON DUPLICATE KEY UPDATE on_hand = VALUES(on_hand)");
        insert.build().execute(pool).await?;
    }
    Ok(())
}

/// Units available now, per variant (variants without stock rows are absent).
pub async fn availability(pool: &MySqlPool, variants: &[Uuid]) -> sqlx::Result<HashMap<Uuid, i64>> {
    let mut available = HashMap::new();
    if variants.is_empty() {
        return Ok(available);
    }
    let mut query: QueryBuilder<MySql> =
        QueryBuilder::new("SELECT variant_id, location, on_hand, reserved FROM stock WHERE variant_id IN (");
    let mut list = query.separated(", ");
    for v in variants {
        list.push_bind(*v);
    }
    query.push(")");
    // Summed here with the model's rule, not by MariaDB: a GROUP BY cost a fifth more.
    for line in query.build_query_as::<StockLine>().fetch_all(pool).await? {
        *available.entry(line.variant_id).or_insert(0) += line.level.available();
    }
    Ok(available)
}

/// Reservations whose time is up, oldest first.
pub async fn expired_reservations(pool: &MySqlPool, now: DateTime<Utc>, limit: u32) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar("SELECT id FROM reservations WHERE expires_at <= ? ORDER BY expires_at LIMIT ?")
        .bind(now)
        .bind(limit)
        .fetch_all(pool)
        .await
}

/// Releases one reservation if it is still expired once locked (a cart may have renewed it).
pub async fn release_if_expired(pool: &MySqlPool, reservation: Uuid, now: DateTime<Utc>) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let expires_at: Option<DateTime<Utc>> = sqlx::query_scalar("SELECT expires_at FROM reservations WHERE id = ? FOR UPDATE")
        .bind(reservation)
        .fetch_optional(&mut *tx)
        .await?;
    if expires_at.is_none_or(|at| at > now) {
        return Ok(false);
    }
    release_in(&mut tx, reservation).await?;
    tx.commit().await?;
    Ok(true)
}

/// Stock and recent ledger of one variant.
pub async fn variant_stock(pool: &MySqlPool, variant: Uuid) -> sqlx::Result<VariantStock> {
    let lines: Vec<StockLine> =
        sqlx::query_as("SELECT variant_id, location, on_hand, reserved FROM stock WHERE variant_id = ? ORDER BY location")
            .bind(variant)
            .fetch_all(pool)
            .await?;
    let locations: Vec<LocationStock> = lines.into_iter().map(LocationStock::from).collect();
    let ledger = ledger(
        pool,
        Some(variant),
        None,
        None,
        pola_core::pagination::PageRequest { limit: 50, after: None },
    )
    .await?
    .items;
    Ok(VariantStock {
        variant_id: variant,
        available: locations.iter().map(|l| l.available).sum(),
        locations,
        ledger,
    })
}

/// Every location's totals; `low` counts rows with `low_stock` units available or fewer.
pub async fn locations(pool: &MySqlPool, low_stock: i64) -> sqlx::Result<Vec<model::LocationSummary>> {
    sqlx::query_as(
        "SELECT location, COUNT(*) AS variants, CAST(SUM(on_hand) AS SIGNED) AS on_hand, \
         CAST(SUM(reserved) AS SIGNED) AS reserved, CAST(SUM(on_hand - reserved <= ?) AS SIGNED) AS low \
         FROM stock GROUP BY location ORDER BY location",
    )
    .bind(low_stock)
    .fetch_all(pool)
    .await
}

/// A stock row.
#[derive(sqlx::FromRow)]
struct StockLine {
    variant_id: Uuid,
    location: String,
    #[sqlx(flatten)]
    level: Level,
}

impl From<StockLine> for LocationStock {
    fn from(line: StockLine) -> Self {
        LocationStock {
            location: line.location,
            on_hand: line.level.on_hand,
            reserved: line.level.reserved,
            available: line.level.available(),
        }
    }
}

/// Stock by variant (one page of variants, by id), at `location` or everywhere; with `low`,
/// only the rows with that many units available or fewer.
pub async fn stock_levels(
    pool: &MySqlPool,
    location: Option<&str>,
    low: Option<i64>,
    page: pola_core::pagination::PageRequest,
) -> sqlx::Result<pola_core::pagination::Page<model::VariantLevels>> {
    let filter = |query: &mut QueryBuilder<MySql>| {
        query.push(" WHERE TRUE");
        if let Some(location) = location {
            query.push(" AND location = ").push_bind(location.to_owned());
        }
        if let Some(low) = low {
            query.push(" AND on_hand - reserved <= ").push_bind(low);
        }
    };
    let mut ids: QueryBuilder<MySql> = QueryBuilder::new("SELECT DISTINCT variant_id FROM stock");
    filter(&mut ids);
    if let Some(after) = page.after {
        ids.push(" AND variant_id > ").push_bind(after);
    }
    ids.push(" ORDER BY variant_id LIMIT ").push_bind(page.limit + 1);
    let ids: Vec<Uuid> = ids.build_query_scalar().fetch_all(pool).await?;
    let mut levels: Vec<model::VariantLevels> = ids
        .iter()
        .map(|&variant_id| model::VariantLevels {
            variant_id,
            locations: vec![],
        })
        .collect();
    if !ids.is_empty() {
        let mut rows: QueryBuilder<MySql> = QueryBuilder::new("SELECT variant_id, location, on_hand, reserved FROM stock");
        filter(&mut rows);
        rows.push(" AND variant_id IN (");
        let mut list = rows.separated(", ");
        for id in &ids {
            list.push_bind(*id);
        }
        rows.push(") ORDER BY variant_id, location");
        let lines: Vec<StockLine> = rows.build_query_as().fetch_all(pool).await?;
        for line in lines {
            if let Some(variant) = levels.iter_mut().find(|v| v.variant_id == line.variant_id) {
                variant.locations.push(line.into());
            }
        }
    }
    Ok(pola_core::pagination::Page::from_rows(levels, page.limit, |v| v.variant_id))
}

/// A ledger row as read.
#[derive(sqlx::FromRow)]
struct LedgerLine {
    id: i64,
    variant_id: Uuid,
    location: String,
    kind: String,
    delta: i32,
    on_hand_after: i32,
    reason: String,
    order_id: Option<Uuid>,
    staff_id: Option<Uuid>,
    created_at: DateTime<Utc>,
}

impl From<LedgerLine> for LedgerEntry {
    fn from(line: LedgerLine) -> Self {
        LedgerEntry {
            variant_id: line.variant_id,
            location: line.location,
            kind: line.kind,
            delta: i64::from(line.delta),
            on_hand_after: i64::from(line.on_hand_after),
            reason: line.reason,
            order_id: line.order_id,
            staff_id: line.staff_id,
            created_at: line.created_at,
        }
    }
}

const LEDGER_COLUMNS: &str =
    "SELECT id, variant_id, location, kind, delta, on_hand_after, reason, order_id, staff_id, created_at FROM stock_ledger";

/// The ledger, newest first, narrowed by variant, location and kind. Its rows are numbered, not
/// named by ids: the page cursor carries the number as a UUID's 128 bits.
pub async fn ledger(
    pool: &MySqlPool,
    variant: Option<Uuid>,
    location: Option<&str>,
    kind: Option<&str>,
    page: pola_core::pagination::PageRequest,
) -> sqlx::Result<pola_core::pagination::Page<LedgerEntry>> {
    let mut query: QueryBuilder<MySql> = QueryBuilder::new(LEDGER_COLUMNS);
    query.push(" WHERE TRUE");
    if let Some(variant) = variant {
        query.push(" AND variant_id = ").push_bind(variant);
    }
    if let Some(location) = location {
        query.push(" AND location = ").push_bind(location.to_owned());
    }
    if let Some(kind) = kind {
        query.push(" AND kind = ").push_bind(kind.to_owned());
    }
    if let Some(after) = page.after {
        query
            .push(" AND id < ")
            .push_bind(i64::try_from(after.as_u128()).unwrap_or(i64::MAX));
    }
    query.push(" ORDER BY id DESC LIMIT ").push_bind(page.limit + 1);
    let lines: Vec<LedgerLine> = query.build_query_as().fetch_all(pool).await?;
    let numbered: Vec<(i64, LedgerEntry)> = lines.into_iter().map(|l| (l.id, l.into())).collect();
    let page = pola_core::pagination::Page::from_rows(numbered, page.limit, |(id, _)| {
        Uuid::from_u128(u128::try_from(*id).unwrap_or(0))
    });
    Ok(pola_core::pagination::Page {
        items: page.items.into_iter().map(|(_, entry)| entry).collect(),
        next_cursor: page.next_cursor,
    })
}

/// `stock.low`: a sale left few units of a variant at a location (for staff).
#[derive(Debug, serde::Serialize)]
pub struct StockLow {
    pub variant_id: Uuid,
    pub location: String,
    pub available: i64,
}

impl pola_core::events::Event for StockLow {
    fn kind(&self) -> &'static str {
        "stock.low"
    }
}

/// `stock.out`: a variant has no unit available any more, at any location; `stock.in`: it has
/// some again (lists and product pages kept in memory are cleared by both).
#[derive(Debug, serde::Serialize)]
pub struct StockCrossed {
    pub variant_id: Uuid,
    pub available: i64,
    #[serde(skip)]
    pub out: bool,
}

impl pola_core::events::Event for StockCrossed {
    fn kind(&self) -> &'static str {
        if self.out { "stock.out" } else { "stock.in" }
    }
}

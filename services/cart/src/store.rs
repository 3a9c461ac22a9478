//! Cart's SQL.

use chrono::Utc;
use sqlx::{MySql, MySqlConnection, MySqlPool, QueryBuilder};
use uuid::Uuid;

use crate::model::Line;

/// The customer's cart, created on first use.
pub async fn customer_cart(pool: &MySqlPool, customer: Uuid) -> sqlx::Result<Uuid> {
    let now = Utc::now();
    sqlx::query(
        "INSERT INTO carts (id, customer_id, created_at, updated_at) VALUES (?, ?, ?, ?)
         ON DUPLICATE KEY UPDATE id = id",
    )
    .bind(pola_core::new_id())
    .bind(customer)
    .bind(now)
    .bind(now)
    .execute(pool)
    .await?;
    sqlx::query_scalar("SELECT id FROM carts WHERE customer_id = ?")
        .bind(customer)
        .fetch_one(pool)
        .await
}

/// The customer's cart if they have one.
pub async fn find_customer_cart(pool: &MySqlPool, customer: Uuid) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("SELECT id FROM carts WHERE customer_id = ?")
        .bind(customer)
        .fetch_optional(pool)
        .await
}

pub async fn guest_cart(pool: &MySqlPool, token_hash: &[u8; 32]) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("SELECT id FROM carts WHERE guest_token_hash = ?")
        .bind(&token_hash[..])
        .fetch_optional(pool)
        .await
}

pub async fn create_guest_cart(pool: &MySqlPool, token_hash: &[u8; 32]) -> sqlx::Result<Uuid> {
    let id = pola_core::new_id();
    let now = Utc::now();
    sqlx::query("INSERT INTO carts (id, guest_token_hash, created_at, updated_at) VALUES (?, ?, ?, ?)")
        .bind(id)
        .bind(&token_hash[..])
        .bind(now)
        .bind(now)
        .execute(pool)
        .await?;
    Ok(id)
}

/// Locks the cart row: changes to one cart are serialised.
pub async fn lock_cart(conn: &mut MySqlConnection, cart: Uuid) -> sqlx::Result<bool> {
    let found: Option<Uuid> = sqlx::query_scalar("SELECT id FROM carts WHERE id = ? FOR UPDATE")
        .bind(cart)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(found.is_some())
}

pub async fn lines(conn: impl sqlx::MySqlExecutor<'_>, cart: Uuid) -> sqlx::Result<Vec<Line>> {
    sqlx::query_as("SELECT id, variant_id, quantity FROM cart_lines WHERE cart_id = ? ORDER BY created_at, id")
        .bind(cart)
        .fetch_all(conn)
        .await
}

pub async fn upsert_line(conn: &mut MySqlConnection, cart: Uuid, line: Line) -> sqlx::Result<()> {
    let now = Utc::now();
    sqlx::query(
        "INSERT INTO cart_lines (id, cart_id, variant_id, quantity, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
         ON DUPLICATE KEY UPDATE quantity = VALUES(quantity), updated_at = VALUES(updated_at)",
    )
    .bind(line.id)
    .bind(cart)
    .bind(line.variant_id)
    .bind(line.quantity)
    .bind(now)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    touch(conn, cart).await
}

/// Moves a line to another cart (a guest's line joining the customer's cart).
pub async fn move_line(conn: &mut MySqlConnection, line: Uuid, to: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE cart_lines SET cart_id = ? WHERE id = ?")
        .bind(to)
        .bind(line)
        .execute(&mut *conn)
        .await?;
    touch(conn, to).await
}

pub async fn delete_lines(conn: &mut MySqlConnection, cart: Uuid, ids: &[Uuid]) -> sqlx::Result<()> {
    for id in ids {
        sqlx::query("DELETE FROM cart_lines WHERE cart_id = ? AND id = ?")
            .bind(cart)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    touch(conn, cart).await
}

pub async fn delete_cart(conn: &mut MySqlConnection, cart: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM cart_lines WHERE cart_id = ?")
        .bind(cart)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM carts WHERE id = ?")
        .bind(cart)
        .execute(&mut *conn)
        .await
        .map(drop)
}

async fn touch(conn: &mut MySqlConnection, cart: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE carts SET updated_at = ? WHERE id = ?")
        .bind(Utc::now())
        .bind(cart)
        .execute(conn)
        .await
        .map(drop)
}

/// The cart's promotion codes.
pub async fn codes(conn: impl sqlx::MySqlExecutor<'_>, cart: Uuid) -> sqlx::Result<Vec<String>> {
    let codes: Option<Option<sqlx::types::Json<Vec<String>>>> = sqlx::query_scalar("SELECT codes FROM carts WHERE id = ?")
        .bind(cart)
        .fetch_optional(conn)
        .await?;
    Ok(codes.flatten().map(|c| c.0).unwrap_or_default())
}

pub async fn set_codes(conn: impl sqlx::MySqlExecutor<'_>, cart: Uuid, codes: &[String]) -> sqlx::Result<()> {
    sqlx::query("UPDATE carts SET codes = ?, updated_at = ? WHERE id = ?")
        .bind(sqlx::types::Json(codes))
        .bind(Utc::now())
        .bind(cart)
        .execute(conn)
        .await
        .map(drop)
}

/// A demo history's cart left with goods in it: a customer's, or a guest's (no token: nobody
/// can open it again).
#[derive(Debug, Clone)]
pub struct SeedCart {
    pub id: Uuid,
    pub customer_id: Option<Uuid>,
    pub touched_at: chrono::DateTime<Utc>,
    /// Variant and quantity.
    pub lines: Vec<(Uuid, i32)>,
}

/// Writes a demo history's abandoned carts.
pub async fn seed_carts(pool: &MySqlPool, carts: &[SeedCart]) -> sqlx::Result<()> {
    if carts.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    let mut insert: QueryBuilder<MySql> =
        QueryBuilder::new("INSERT INTO carts (id, customer_id, guest_token_hash, created_at, updated_at) ");
    insert.push_values(carts, |mut row, c| {
        // A guest cart's token hash: random bytes no token hashes to.
        let guest = c.customer_id.is_none().then(|| rand::random::<[u8; 32]>().to_vec());
        row.push_bind(c.id)
            .push_bind(c.customer_id)
            .push_bind(guest)
            .push_bind(c.touched_at)
            .push_bind(c.touched_at);
    });
    insert.build().execute(&mut *tx).await?;
    let lines = carts.iter().flat_map(|c| c.lines.iter().map(move |l| (c, l)));
    let mut insert: QueryBuilder<MySql> =
        QueryBuilder::new("INSERT INTO cart_lines (id, cart_id, variant_id, quantity, created_at, updated_at) ");
    insert.push_values(lines, |mut row, (c, (variant, quantity))| {
        row.push_bind(Uuid::now_v7())
            .push_bind(c.id)
            .push_bind(variant)
            .push_bind(quantity)
            .push_bind(c.touched_at)
            .push_bind(c.touched_at);
    });
    insert.build().execute(&mut *tx).await?;
    tx.commit().await
}

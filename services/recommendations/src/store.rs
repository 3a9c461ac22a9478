//! Recommendations' SQL: purchases, and the counts made of them.

use chrono::{DateTime, Utc};
use sqlx::{MySql, MySqlConnection, MySqlPool, QueryBuilder};
use uuid::Uuid;

use crate::model::Pair;

/// Locks the counts for this transaction (see the `learning` table).
pub async fn lock(conn: &mut MySqlConnection) -> sqlx::Result<()> {
    sqlx::query("SELECT id FROM learning WHERE id = 1 FOR UPDATE")
        .execute(conn)
        .await
        .map(drop)
}

/// The products recorded for `order` (none when it is not a purchase here).
pub async fn recorded(conn: &mut MySqlConnection, order: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar("SELECT product_id FROM purchases WHERE order_id = ? ORDER BY product_id")
        .bind(order)
        .fetch_all(conn)
        .await
}

/// Records the purchases of `baskets` not recorded yet: (order, placed at, products).
pub async fn insert_purchases(conn: &mut MySqlConnection, baskets: &[(Uuid, DateTime<Utc>, &[Uuid])]) -> sqlx::Result<u64> {
    let rows: Vec<(Uuid, DateTime<Utc>, Uuid)> = baskets
        .iter()
        .flat_map(|&(order, at, products)| products.iter().map(move |&p| (order, at, p)))
        .collect();
    if rows.is_empty() {
        return Ok(0);
    }
    let now = Utc::now();
    let mut insert: QueryBuilder<MySql> =
        QueryBuilder::new("INSERT IGNORE INTO purchases (order_id, product_id, placed_at, recorded_at) ");
    insert.push_values(rows, |mut row, (order, at, product)| {
        row.push_bind(order).push_bind(product).push_bind(at).push_bind(now);
    });
    Ok(insert.build().execute(conn).await?.rows_affected())
}

/// Forgets the purchase `order`.
pub async fn delete_purchase(conn: &mut MySqlConnection, order: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM purchases WHERE order_id = ?")
        .bind(order)
        .execute(conn)
        .await
        .map(drop)
}

/// Adds `by` (1 or -1) to the counts of `products` bought together once.
pub async fn count(conn: &mut MySqlConnection, products: &[Uuid], by: i32) -> sqlx::Result<()> {
    let mut bought: QueryBuilder<MySql> = QueryBuilder::new("INSERT INTO products (product_id, orders) ");
    bought.push_values(products, |mut row, p| {
        row.push_bind(*p).push_bind(by.max(0));
    });
    bought
        .push(" ON DUPLICATE KEY UPDATE orders = GREATEST(orders + ")
        .push_bind(by)
        .push(", 0)");
    bought.build().execute(&mut *conn).await?;
    let pairs: Vec<(Uuid, Uuid)> = products
        .iter()
        .flat_map(|&a| products.iter().filter(move |&&b| b != a).map(move |&b| (a, b)))
        .collect();
    if pairs.is_empty() {
        return Ok(());
    }
    let mut together: QueryBuilder<MySql> = QueryBuilder::new("INSERT INTO pairs (product_id, other_id, together) ");
    together.push_values(pairs, |mut row, (a, b)| {
        row.push_bind(a).push_bind(b).push_bind(by.max(0));
    });
    together
        .push(" ON DUPLICATE KEY UPDATE together = GREATEST(together + ")
        .push_bind(by)
        .push(", 0)");
    together.build().execute(conn).await.map(drop)
}

/// Sets the category of products.
pub async fn categorise(pool: &MySqlPool, categories: &[(Uuid, &str)]) -> sqlx::Result<()> {
    if categories.is_empty() {
        return Ok(());
    }
    let mut query: QueryBuilder<MySql> = QueryBuilder::new("INSERT INTO products (product_id, category, orders) ");
    query.push_values(categories, |mut row, (p, category)| {
        row.push_bind(*p).push_bind(*category).push_bind(0);
    });
    query.push(" ON DUPLICATE KEY UPDATE category = VALUES(category)");
    query.build().execute(pool).await.map(drop)
}

/// The orders with purchases recorded before `before`, after `after` (a page at a time).
pub async fn recorded_orders(
    pool: &MySqlPool,
    before: DateTime<Utc>,
    after: Option<Uuid>,
    limit: u32,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT DISTINCT order_id FROM purchases WHERE recorded_at < ? AND (? IS NULL OR order_id > ?) ORDER BY order_id LIMIT ?",
    )
    .bind(before)
    .bind(after)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Counts everything again from the purchases, in `conn`'s transaction (which holds the lock).
pub async fn recount(conn: &mut MySqlConnection) -> sqlx::Result<()> {
    sqlx::query("UPDATE products SET orders = 0").execute(&mut *conn).await?;
    sqlx::query(
        "INSERT INTO products (product_id, orders)
         SELECT product_id, COUNT(*) FROM purchases GROUP BY product_id
         ON DUPLICATE KEY UPDATE orders = VALUES(orders)",
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM pairs").execute(&mut *conn).await?;
    sqlx::query(
        "INSERT INTO pairs (product_id, other_id, together)
         SELECT a.product_id, b.product_id, COUNT(*) FROM purchases a
         JOIN purchases b ON b.order_id = a.order_id AND b.product_id <> a.product_id
         GROUP BY a.product_id, b.product_id",
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE learning SET rebuilt_at = ? WHERE id = 1")
        .bind(Utc::now())
        .execute(conn)
        .await
        .map(drop)
}

#[derive(sqlx::FromRow)]
struct PairRow {
    product_id: Uuid,
    other_id: Uuid,
    together: i32,
    product_orders: i32,
    other_orders: i32,
}

/// The pairs of `basket`'s products bought together at least `min_support` times.
pub async fn pairs(pool: &MySqlPool, basket: &[Uuid], min_support: u32) -> sqlx::Result<Vec<Pair<Uuid>>> {
    if basket.is_empty() {
        return Ok(vec![]);
    }
    let mut query: QueryBuilder<MySql> = QueryBuilder::new(
        "SELECT p.product_id, p.other_id, p.together, a.orders AS product_orders, b.orders AS other_orders
         FROM pairs p JOIN products a ON a.product_id = p.product_id JOIN products b ON b.product_id = p.other_id
         WHERE p.together >= ",
    );
    query.push_bind(min_support).push(" AND p.product_id IN (");
    let mut list = query.separated(", ");
    for p in basket {
        list.push_bind(*p);
    }
    query.push(")");
    let rows: Vec<PairRow> = query.build_query_as().fetch_all(pool).await?;
    let count = |n: i32, column: &str| {
        u32::try_from(n).map_err(|_| sqlx::Error::ColumnDecode {
            index: column.into(),
            source: format!("a negative count {n}").into(),
        })
    };
    rows.into_iter()
        .map(|r| {
            Ok(Pair {
                product: r.product_id,
                other: r.other_id,
                together: count(r.together, "together")?,
                product_orders: count(r.product_orders, "product_orders")?,
                other_orders: count(r.other_orders, "other_orders")?,
            })
        })
        .collect()
}

/// The `limit` products in the most purchases, of `categories` only when given.
pub async fn bestsellers(pool: &MySqlPool, categories: Option<&[String]>, limit: u32) -> sqlx::Result<Vec<Uuid>> {
    let mut query: QueryBuilder<MySql> = QueryBuilder::new("SELECT product_id FROM products WHERE orders > 0");
    if let Some(categories) = categories {
        if categories.is_empty() {
            return Ok(vec![]);
        }
        query.push(" AND category IN (");
        let mut list = query.separated(", ");
        for c in categories {
            list.push_bind(c.as_str());
        }
        query.push(")");
    }
    query.push(" ORDER BY orders DESC, product_id LIMIT ").push_bind(limit);
    query.build_query_scalar().fetch_all(pool).await
}

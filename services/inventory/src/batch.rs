//! Sales in batches. Every sale of a variant locks its stock row until its transaction commits,
//! and a commit waits for the disk: one sale per transaction caps a hot variant at one fsync per
//! order (about 600 orders/s here). Sales queue up instead, and a worker sells whatever has
//! queued in one transaction, so concurrent buyers of one variant share a commit.
//!
//! Sales are routed to a worker by their first variant, so a hot variant's sales always meet in
//! the same batch, while other variants' sales run beside them on other workers. A worker takes
//! what is queued without waiting for more: a quiet shop sells one order per transaction, as
//! before.

use pola_core::db::retry_deadlocks;
use sqlx::MySqlPool;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::{
    model::Shortage,
    store::{self, Sale, StockError},
};

/// Workers, each with its own queue and connection.
const WORKERS: usize = 4;

struct Job {
    sale: Sale,
    reply: oneshot::Sender<Result<(), StockError>>,
}

/// The queues in front of the sale workers.
pub struct SaleQueue {
    workers: Vec<mpsc::Sender<Job>>,
}

impl SaleQueue {
    /// Starts the workers; they stop when the queue is dropped.
    /// `low_stock`: a sale that leaves a row's available units at or under it records
    /// `stock.low`.
    pub fn start(pool: MySqlPool, max_batch: usize, low_stock: i64) -> Self {
        let workers = (0..WORKERS)
            .map(|_| {
                let (tx, rx) = mpsc::channel(1024);
                tokio::spawn(work(pool.clone(), rx, max_batch, low_stock));
                tx
            })
            .collect();
        Self { workers }
    }

    /// Sells, in whichever batch the sale lands in; returns when that batch is committed.
    pub async fn sell(&self, sale: Sale) -> Result<(), StockError> {
        let first = sale.items.iter().map(|i| i.variant_id).min().unwrap_or(Uuid::nil());
        let worker = &self.workers[(first.as_u128() % WORKERS as u128) as usize];
        let (reply, answer) = oneshot::channel();
        worker
            .send(Job { sale, reply })
            .await
            .map_err(|_| StockError::Database(sqlx::Error::WorkerCrashed))?;
        answer.await.map_err(|_| StockError::Database(sqlx::Error::WorkerCrashed))?
    }
}

async fn work(pool: MySqlPool, mut queue: mpsc::Receiver<Job>, max_batch: usize, low_stock: i64) {
    while let Some(first) = queue.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < max_batch {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let sales: Vec<Sale> = jobs.iter().map(|j| j.sale.clone()).collect();
        metrics::histogram!("inventory_sale_batch_size").record(sales.len() as f64);
        match retry_deadlocks(|| store::commit_batch(&pool, &sales, low_stock)).await {
            Ok(results) => {
                for (job, result) in jobs.into_iter().zip(results) {
                    // A caller that went away needs no answer.
                    let _ = job.reply.send(result.map_err(StockError::Shortage));
                }
            }
            Err(e) if jobs.len() == 1 => {
                if let Some(job) = jobs.pop() {
                    let _ = job.reply.send(Err(StockError::Database(e)));
                }
            }
            Err(e) => {
                // Something failed that a retry did not cure: sell one by one, so that one bad
                // sale cannot fail the others.
                tracing::warn!(error = %e, batch.size = sales.len(), "sale batch failed; selling one at a time");
                for job in jobs {
                    let result = sell_alone(&pool, &job.sale, low_stock).await;
                    let _ = job.reply.send(result);
                }
            }
        }
    }
}

async fn sell_alone(pool: &MySqlPool, sale: &Sale, low_stock: i64) -> Result<(), StockError> {
    let batch = std::slice::from_ref(sale);
    let mut results: Vec<Result<(), Vec<Shortage>>> = retry_deadlocks(|| store::commit_batch(pool, batch, low_stock)).await?;
    results.pop().unwrap_or(Ok(())).map_err(StockError::Shortage)
}

//! Promotion uses in batches. A use of a promotion with a limit moves its counter on its row,
//! which stays locked until the transaction commits, and a commit waits for the disk: one
//! checkout per transaction would cap a popular code at one fsync per order. Uses queue up
//! instead, and a worker records whatever has queued in one transaction (each order in its own
//! savepoint), so concurrent checkouts share a commit — as inventory's sales do.
//!
//! Orders are routed to a worker by their first promotion, so the uses of a popular code meet
//! in the same batch; orders without promotions spread by their id.

use chrono::Utc;
use pola_core::db::retry_deadlocks;
use sqlx::MySqlPool;
use tokio::sync::{mpsc, oneshot};

use crate::store::{self, Redeem, Refusal};

/// Workers, each with its own queue.
const WORKERS: usize = 4;
/// Most orders in one transaction.
const MAX_BATCH: usize = 64;

struct Job {
    redeem: Redeem,
    reply: oneshot::Sender<sqlx::Result<Result<(), Refusal>>>,
}

/// The queues in front of the workers.
pub struct RedeemQueue {
    workers: Vec<mpsc::Sender<Job>>,
}

impl RedeemQueue {
    /// Starts the workers; they stop when the queue is dropped.
    pub fn start(pool: MySqlPool) -> Self {
        let workers = (0..WORKERS)
            .map(|_| {
                let (tx, rx) = mpsc::channel(1024);
                tokio::spawn(work(pool.clone(), rx));
                tx
            })
            .collect();
        Self { workers }
    }

    /// Records the uses, in whichever batch they land in; returns when it is committed.
    pub async fn redeem(&self, redeem: Redeem) -> sqlx::Result<Result<(), Refusal>> {
        let key = redeem.uses.iter().map(|u| u.promotion_id).min().unwrap_or(redeem.order);
        let worker = &self.workers[(key.as_u128() % WORKERS as u128) as usize];
        let (reply, answer) = oneshot::channel();
        worker
            .send(Job { redeem, reply })
            .await
            .map_err(|_| sqlx::Error::WorkerCrashed)?;
        answer.await.map_err(|_| sqlx::Error::WorkerCrashed)?
    }
}

async fn work(pool: MySqlPool, mut queue: mpsc::Receiver<Job>) {
    while let Some(first) = queue.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let batch: Vec<Redeem> = jobs.iter().map(|j| j.redeem.clone()).collect();
        metrics::histogram!("promotions_redeem_batch_size").record(batch.len() as f64);
        match retry_deadlocks(|| store::redeem_batch(&pool, &batch, Utc::now())).await {
            Ok(results) => {
                for (job, result) in jobs.into_iter().zip(results) {
                    // A caller that went away needs no answer.
                    let _ = job.reply.send(Ok(result));
                }
            }
            Err(e) if jobs.len() == 1 => {
                if let Some(job) = jobs.pop() {
                    let _ = job.reply.send(Err(e));
                }
            }
            Err(e) => {
                // Something failed that a retry did not cure: one at a time, so that one bad
                // order cannot fail the others.
                tracing::warn!(error = %e, batch.size = batch.len(), "redeem batch failed; recording one at a time");
                for job in jobs {
                    let alone = std::slice::from_ref(&job.redeem);
                    let result = retry_deadlocks(|| store::redeem_batch(&pool, alone, Utc::now()))
                        .await
                        .map(|mut results| results.pop().unwrap_or(Ok(())));
                    let _ = job.reply.send(result);
                }
            }
        }
    }
}

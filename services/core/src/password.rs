//! Argon2id password hashing, off the async runtime and bounded. A hash takes tens of
//! milliseconds of a core and `argon2_memory_kib` (19 MiB) of memory: hashes run on
//! `hashing_slots` threads of their own, each reusing one buffer of that size, behind a queue
//! of `hashing_queue`; beyond it, or after `hashing_wait_ms` in it, a request is shed with 503 at
//! once. Unbounded, 500 wrong-password sign-ins at once held 500 × 19 MiB on 500 blocking
//! threads; and a fresh 19 MiB per hash, freed on whichever thread ran it, stayed with the
//! allocator afterwards (about 58 MiB per allocator arena): memory that never came back.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::phc::{Output, ParamsString, PasswordHash, Salt},
};
use tokio::sync::oneshot;

use crate::{Error, config::AuthConfig};

/// Hashes and verifies passwords with the configured cost, a few at a time.
#[derive(Debug, Clone)]
pub struct PasswordHashing {
    /// A hash of nothing anyone knows, with the configured cost, for `verify_dummy`.
    dummy: Arc<str>,
    workers: Arc<Workers>,
}

/// What a hashing thread is asked to do.
enum Work {
    Hash(String),
    Verify { password: String, phc: String },
}

enum Done {
    Hashed(String),
    Verified(bool),
}

struct Job {
    work: Work,
    queued: Instant,
    reply: oneshot::Sender<Result<Done, Error>>,
}

/// The hashing threads and their queue. The threads end when the last handle is dropped.
#[derive(Debug)]
struct Workers {
    queue: mpsc::SyncSender<Job>,
    /// The threads' end of the queue, kept here too so that the queue stays open (and
    /// bounded) even while no thread runs; it closes when the last sender goes.
    _jobs: Arc<Mutex<mpsc::Receiver<Job>>>,
    /// Jobs queued and not yet picked up.
    waiting: Arc<AtomicUsize>,
}

fn busy() -> Error {
    Error::Busy("Too many sign-ins at once; try again in a moment.".into())
}

impl Workers {
    fn start(slots: usize, config: &AuthConfig, params: &Params) -> Self {
        let (queue, jobs) = mpsc::sync_channel::<Job>(config.hashing_queue);
        let jobs = Arc::new(Mutex::new(jobs));
        let waiting = Arc::new(AtomicUsize::new(0));
        let wait = Duration::from_millis(config.hashing_wait_ms);
        for slot in 0..slots {
            let (jobs, waiting, params) = (jobs.clone(), waiting.clone(), params.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{slot}"))
                .spawn(move || work(&jobs, &waiting, &params, wait));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password hashing thread");
            }
        }
        Self {
            queue,
            _jobs: jobs,
            waiting,
        }
    }

    /// Queues `work` and waits for its result; `Busy` at once when the queue is full.
    async fn run(&self, work: Work) -> Result<Done, Error> {
        let (reply, done) = oneshot::channel();
        let job = Job {
            work,
            queued: Instant::now(),
            reply,
        };
        self.waiting.fetch_add(1, Ordering::AcqRel);
        if self.queue.try_send(job).is_err() {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            metrics::counter!("password_hashing_shed_total").increment(1);
            return Err(busy());
        }
        metrics::gauge!("password_hashing_waiting").set(self.waiting.load(Ordering::Acquire) as f64);
        done.await
            .map_err(|_| Error::Internal(anyhow::anyhow!("the password hashing thread stopped")))?
    }
}

/// One hashing thread: takes jobs until the queue closes, with one buffer for every hash.
fn work(jobs: &Mutex<mpsc::Receiver<Job>>, waiting: &AtomicUsize, params: &Params, wait: Duration) {
    let mut memory: Vec<Block> = Vec::new();
    loop {
        // The lock is held only while this thread waits for the next job.
        let job = match jobs.lock().map(|jobs| jobs.recv()) {
            Ok(Ok(job)) => job,
            _ => return,
        };
        waiting.fetch_sub(1, Ordering::AcqRel);
        if job.reply.is_closed() {
            continue; // The request is gone: nobody waits for this hash.
        }
        if job.queued.elapsed() > wait {
            metrics::counter!("password_hashing_shed_total").increment(1);
            let _ = job.reply.send(Err(busy()));
            continue;
        }
        let done = match job.work {
            Work::Hash(password) => hash(params, password.as_bytes(), &mut memory).map(Done::Hashed),
            Work::Verify { password, phc } => verify(password.as_bytes(), &phc, &mut memory).map(Done::Verified),
        };
        let _ = job.reply.send(done);
    }
}

/// Runs Argon2 into `out` in `memory`, which grows to what `argon2` needs and is kept.
fn compute(argon2: &Argon2<'_>, password: &[u8], salt: &[u8], out: &mut [u8], memory: &mut Vec<Block>) -> Result<(), Error> {
    let blocks = argon2.params().block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    argon2
        .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
        .map_err(|e| Error::Internal(anyhow::anyhow!("hashing a password: {e}")))
}

fn phc_error(e: impl std::fmt::Display) -> Error {
    Error::Internal(anyhow::anyhow!("password hash format: {e}"))
}

/// A PHC string (`$argon2id$v=19$m=…`) of `password` with a fresh random salt.
fn hash(params: &Params, password: &[u8], memory: &mut Vec<Block>) -> Result<String, Error> {
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut salt = [0u8; argon2::RECOMMENDED_SALT_LEN];
    rand::fill(&mut salt);
    let mut out = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    compute(&argon2, password, &salt, &mut out, memory)?;
    Ok(PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(phc_error)?,
        salt: Some(Salt::new(&salt).map_err(phc_error)?),
        hash: Some(Output::new(&out).map_err(phc_error)?),
    }
    .to_string())
}

/// Whether `password` matches the PHC string `phc`, with the parameters it was made with (an
/// older cost still verifies). The comparison is constant-time.
fn verify(password: &[u8], phc: &str, memory: &mut Vec<Block>) -> Result<bool, Error> {
    let stored = PasswordHash::new(phc).map_err(phc_error)?;
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        return Err(phc_error("no salt or no hash"));
    };
    let algorithm = Algorithm::try_from(stored.algorithm.as_str()).map_err(phc_error)?;
    let version = stored
        .version
        .map_or(Ok(Version::default()), Version::try_from)
        .map_err(phc_error)?;
    let params = Params::try_from(&stored).map_err(phc_error)?;
    let argon2 = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    compute(&argon2, password, salt, &mut out, memory)?;
    Ok(Output::new(&out).map_err(phc_error)? == *expected)
}

impl PasswordHashing {
    pub fn new(config: &AuthConfig) -> anyhow::Result<Self> {
        let params = Params::new(config.argon2_memory_kib, config.argon2_iterations, 1, None)
            .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        // Made here, once, before the workers exist.
        let dummy = hash(&params, crate::new_id().as_bytes(), &mut Vec::new()).map_err(|e| anyhow::anyhow!("{e}"))?;
        let slots = match config.hashing_slots {
            0 => std::thread::available_parallelism().map_or(2, usize::from),
            n => n,
        };
        Ok(Self {
            workers: Arc::new(Workers::start(slots, config, &params)),
            dummy: dummy.into(),
        })
    }

    /// A PHC string (`$argon2id$v=19$m=…`) with a fresh random salt.
    pub async fn hash(&self, password: String) -> Result<String, Error> {
        match self.workers.run(Work::Hash(password)).await? {
            Done::Hashed(phc) => Ok(phc),
            Done::Verified(_) => Err(Error::Internal(anyhow::anyhow!("a hash came back as a verification"))),
        }
    }

    /// Whether `password` matches `phc`. The parameters come from the stored hash, so hashes made
    /// with an older cost still verify.
    pub async fn verify(&self, password: String, phc: String) -> Result<bool, Error> {
        match self.workers.run(Work::Verify { password, phc }).await? {
            Done::Verified(matches) => Ok(matches),
            Done::Hashed(_) => Err(Error::Internal(anyhow::anyhow!("a verification came back as a hash"))),
        }
    }

    /// Burns the time of one verification, so that an unknown user takes as long as a known
    /// one; under a flood it is shed like any other (or an unknown user would answer faster).
    pub async fn verify_dummy(&self, password: String) -> Result<(), Error> {
        // The result is meaningless by design; only the time spent matters.
        self.verify(password, self.dummy.to_string()).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let config = AuthConfig {
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            ..AuthConfig::default()
        };
        let hashing = PasswordHashing::new(&config).expect("params");
        let hash = hashing.hash("correct horse".into()).await.expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(hashing.verify("correct horse".into(), hash.clone()).await.expect("verify"));
        assert!(!hashing.verify("wrong horse".into(), hash).await.expect("verify"));
    }

    fn cheap(queue: usize, wait_ms: u64) -> (AuthConfig, Params) {
        let config = AuthConfig {
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            hashing_queue: queue,
            hashing_wait_ms: wait_ms,
            ..AuthConfig::default()
        };
        let params = Params::new(64, 1, 1, None).expect("params");
        (config, params)
    }

    #[tokio::test]
    async fn beyond_the_queue_hashing_is_refused_at_once_as_busy() {
        // No thread takes jobs: the queue fills, and the next job is refused without waiting.
        let (config, params) = cheap(2, 60_000);
        let workers = Arc::new(Workers::start(0, &config, &params));
        let queued: Vec<_> = (0..2)
            .map(|_| {
                let workers = workers.clone();
                tokio::spawn(async move { workers.run(Work::Hash("queued".into())).await })
            })
            .collect();
        while workers.waiting.load(Ordering::Acquire) < 2 {
            tokio::task::yield_now().await;
        }
        let shed = workers.run(Work::Hash("one too many".into())).await;
        assert!(matches!(shed, Err(Error::Busy(_))), "shed");
        for job in queued {
            job.abort();
        }
    }

    #[tokio::test]
    async fn a_job_that_waited_past_its_time_is_refused_as_busy_instead_of_hashed() {
        let (config, params) = cheap(8, 0);
        let workers = Workers::start(1, &config, &params);
        let late = workers.run(Work::Hash("late".into())).await;
        assert!(matches!(late, Err(Error::Busy(_))), "late");
    }

    #[tokio::test]
    async fn hashes_from_the_reused_buffer_verify_with_the_argon2_crate_and_the_other_way_round() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let (_, params) = cheap(8, 1000);
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let mut memory = Vec::new();
        let ours = hash(&params, b"correct horse", &mut memory).expect("hashed");
        let parsed = PasswordHash::new(&ours).expect("a PHC string");
        assert!(argon2.verify_password(b"correct horse", &parsed).is_ok());
        assert!(argon2.verify_password(b"wrong horse", &parsed).is_err());
        // An older, bigger cost made by the crate verifies in the same (grown) buffer.
        let older = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(256, 2, 1, None).expect("params"),
        )
        .hash_password(b"battery staple")
        .expect("hashed")
        .to_string();
        assert!(verify(b"battery staple", &older, &mut memory).expect("verified"));
        assert!(!verify(b"battery stable", &older, &mut memory).expect("verified"));
        assert!(verify(b"correct horse", &ours, &mut memory).expect("verified"));
    }
}

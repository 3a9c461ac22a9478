//! What sealing personal data costs a registration and a sign-in (`make bench`).
//!
//! Both run in this process against the bench MariaDB (durable: binary log, fsync per commit)
//! with production Argon2 settings, interleaved one by one so that the machine's drift hits
//! both alike:
//! - with: `Identity::register` and `Identity::login` as they are — a data key made and stored
//!   by the local keyring, four fields sealed, blind indexes for look-ups;
//! - without: the same work with the fields in clear — the Argon2 hash, the row inserted,
//!   looked up by email, the password checked, a refresh token stored and an access token
//!   signed — as registration and sign-in were before personal data was sealed.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use pola::Services;
use pola_core::{
    auth::{Realm, TokenKeys},
    config::Config,
    db::connect_server,
    password::PasswordHashing,
};
use pola_identity::model::RegisterRequest;
use secrecy::SecretString;
use sqlx::{AssertSqlSafe, Executor};
use uuid::Uuid;

const PASSWORD: &str = "benchmark passphrase";

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Drops the bench's databases (left over from an earlier run, or this run's).
async fn drop_databases(server: &mut sqlx::MySqlConnection) -> anyhow::Result<()> {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'benchpii\\_%'")
            .fetch_all(&mut *server)
            .await?;
    for name in names {
        server.execute(AssertSqlSafe(format!("DROP DATABASE `{name}`"))).await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("BENCH_PII_N").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let mut config = Config::default();
    config.database.url =
        SecretString::from(std::env::var("POLA_BENCH_DATABASE_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3327".into()));
    config.database.prefix = "benchpii".into();
    let dir = std::env::temp_dir().join(format!("pola-bench-pii-{}", Uuid::now_v7().simple()));
    config.pii.keyring_dir = dir.join("pii");

    let mut server = connect_server(&config.database)
        .await
        .context("the bench MariaDB (make bench starts it)")?;
    drop_databases(&mut server).await?;
    let keys = TokenKeys::generate(&config.auth.issuer)?;
    let services = Services::connect(&config, keys.clone(), true).await?;
    let identity = services.identity.clone().context("identity runs here")?;
    let pool = identity.pool().clone();
    pool.execute(
        "CREATE TABLE plain_customers (id BINARY(16) NOT NULL PRIMARY KEY, email VARCHAR(254) NOT NULL, name VARCHAR(100) NOT NULL,
            phone VARCHAR(16) NULL, nic VARCHAR(12) NULL, password_hash VARCHAR(255) NOT NULL, created_at DATETIME(6) NOT NULL,
            UNIQUE KEY uq_plain_email (email)) ENGINE = InnoDB",
    )
    .await?;
    let hashing = PasswordHashing::new(&config.auth)?;

    let (mut register_with, mut register_without, mut login_with, mut login_without) = (vec![], vec![], vec![], vec![]);
    let phone = |i: usize| format!("07{:08}", 10_000_000 + i);
    for i in 0..n {
        let request = RegisterRequest {
            email: format!("sealed-{i}@example.lk"),
            password: PASSWORD.into(),
            name: "Bench Shopper".into(),
            phone: Some(phone(i)),
            nic: Some(format!("{}", 198_500_100_000u64 + i as u64)),
            language: Default::default(),
        };
        let new = request.validate().map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let started = Instant::now();
        identity.register(new).await?;
        register_with.push(started.elapsed());

        let started = Instant::now();
        let hash = hashing.hash(PASSWORD.into()).await?;
        sqlx::query(
            "INSERT INTO plain_customers (id, email, name, phone, nic, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(pola_core::new_id())
        .bind(format!("plain-{i}@example.lk"))
        .bind("Bench Shopper")
        .bind(phone(i))
        .bind(format!("{}", 198_500_100_000u64 + i as u64))
        .bind(hash)
        .bind(Utc::now())
        .execute(&pool)
        .await?;
        register_without.push(started.elapsed());
    }
    for i in 0..n {
        let started = Instant::now();
        identity
            .login(Realm::Customer, &format!("sealed-{i}@example.lk"), PASSWORD.into(), None)
            .await?;
        login_with.push(started.elapsed());

        let started = Instant::now();
        let (id, hash): (Uuid, String) = sqlx::query_as("SELECT id, password_hash FROM plain_customers WHERE email = ?")
            .bind(format!("plain-{i}@example.lk"))
            .fetch_one(&pool)
            .await?;
        anyhow::ensure!(hashing.verify(PASSWORD.into(), hash).await?, "the password checks");
        let mut token = [0u8; 32];
        rand::fill(&mut token);
        pola_identity::store::insert_refresh_token(&pool, &token, pola_core::new_id(), Realm::Customer, id, Utc::now()).await?;
        keys.issue(Realm::Customer, id, vec![], Duration::from_secs(300))?;
        login_without.push(started.elapsed());
    }

    println!(
        "personal data: {n} registrations and {n} sign-ins each way, interleaved, Argon2 {} KiB × {}",
        config.auth.argon2_memory_kib, config.auth.argon2_iterations
    );
    for (what, with, without) in [
        ("registration", &mut register_with, &mut register_without),
        ("sign-in (by email)", &mut login_with, &mut login_without),
    ] {
        let (a, b) = (median(with), median(without));
        println!(
            "{what:<20} sealed p50 {:7.2} ms   in clear p50 {:7.2} ms   cost of sealing {:+6.2} ms ({:+.1}%)",
            ms(a),
            ms(b),
            ms(a) - ms(b),
            (ms(a) / ms(b) - 1.0) * 100.0
        );
    }
    drop(services);
    drop_databases(&mut server).await?;
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

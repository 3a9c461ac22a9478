//! What a flood of sign-ins costs `pola serve` (`make bench`): 500 and then 1,000 wrong-password
//! sign-ins at once, each from its own loopback address, against a release build with the real
//! password cost (Argon2id, 19 MiB, 2 passes). Reports the answers, how long the flood took and
//! the server's resident memory: idle, at its peak, and after.
//!
//! `scripts/bench.sh` starts the server and names it: `POLA_BENCH_API` (its URL),
//! `POLA_BENCH_PID` (its process) and `POLA_BENCH_ACCOUNT` (a registered email).

use anyhow::Context;
use pola_core::testing::{process_memory_mib, sign_in_flood};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let api = std::env::var("POLA_BENCH_API").context("POLA_BENCH_API")?;
    let pid: u32 = std::env::var("POLA_BENCH_PID").context("POLA_BENCH_PID")?.parse()?;
    let account = std::env::var("POLA_BENCH_ACCOUNT").context("POLA_BENCH_ACCOUNT")?;
    let idle = process_memory_mib(pid, "VmRSS");
    for n in [500, 1000] {
        let flood = sign_in_flood(&api, &account, n).await;
        let (peak, after) = (process_memory_mib(pid, "VmHWM"), process_memory_mib(pid, "VmRSS"));
        let shed = flood.answers.get(&503).copied().unwrap_or(0);
        println!(
            "{n} sign-ins at once: {:?} in {:.1} s ({shed} shed, {} without Retry-After); resident {idle:.0} MiB idle, \
             peak {peak:.0} MiB (+{:.0}), {after:.0} MiB after",
            flood.answers,
            flood.took.as_secs_f64(),
            flood.without_retry_after,
            peak - idle,
        );
    }
    Ok(())
}

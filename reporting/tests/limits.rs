//! The limits every report keeps to, on the test MariaDB (a primary): the primary is refused
//! unless allowed, a runaway query is stopped by the time limit, and a report past the row cap is
//! refused.

use chrono::NaiveDate;
use pola_core::config::Config;
use pola_reporting::{Error, Period, Report, Reporting, Request, Role};
use secrecy::SecretString;

fn config(timeout_secs: u64, row_cap: usize) -> Config {
    pola_core::install_crypto_provider();
    let mut config = Config::default();
    config.database.url = SecretString::from(pola_core::testing::test_server_url());
    config.reporting.statement_timeout_secs = timeout_secs;
    config.reporting.row_cap = row_cap;
    config
}

fn today() -> Period {
    let day = NaiveDate::from_ymd_opt(2026, 12, 1).expect("a date");
    Period { from: day, to: day }
}

#[tokio::test]
async fn a_report_on_the_primary_is_refused_unless_allowed() {
    let reporting = Reporting::new(&config(30, 100)).expect("reporting");
    let refused = pola_reporting::run(&reporting, &Request::new(Report::Sales, today())).await;
    match refused {
        Err(Error::NoStandby { seen }) => assert_eq!(seen, "this: primary"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let reporting = reporting.allowing_primary(true);
    let session = reporting.standby().await.expect("the primary, as allowed");
    assert_eq!(session.freshness.role, Role::Primary);
    assert!(session.freshness.to_string().contains("PRIMARY"), "{}", session.freshness);
    drop(session);
    reporting.close().await;
}

#[tokio::test]
async fn a_runaway_query_is_stopped_by_the_time_limit() {
    let reporting = Reporting::new(&config(1, 100)).expect("reporting").allowing_primary(true);
    let mut session = reporting.standby().await.expect("a session");
    // Summing a hundred billion numbers takes far longer than a second anywhere.
    let stopped = session
        .rows::<(i64,)>("SELECT CAST(SUM(seq) AS SIGNED) FROM mysql.seq_1_to_100000000000", ())
        .await;
    assert!(matches!(stopped, Err(Error::TimedOut(1))), "{stopped:?}");
    // The session still answers after the stop.
    let small: Vec<(i64,)> = session.rows("SELECT 42", ()).await.expect("a quick query");
    assert_eq!(small, vec![(42,)]);
    drop(session);
    reporting.close().await;
}

#[tokio::test]
async fn a_report_past_the_row_cap_is_refused_and_one_within_it_is_whole() {
    let reporting = Reporting::new(&config(30, 1_000)).expect("reporting").allowing_primary(true);
    let mut session = reporting.standby().await.expect("a session");
    let refused = session.rows::<(i64,)>("SELECT seq FROM mysql.seq_1_to_1001", ()).await;
    assert!(matches!(refused, Err(Error::TooManyRows(1_000))), "{refused:?}");
    let whole: Vec<(i64,)> = session
        .rows("SELECT seq FROM mysql.seq_1_to_1000", ())
        .await
        .expect("within the cap");
    assert_eq!(whole.len(), 1_000);
    assert_eq!(whole.last(), Some(&(1_000,)));
    drop(session);
    reporting.close().await;
}

//! `pola worker summary`: every morning at `reporting.summary_at` (Colombo), yesterday's summary
//! is read on the standby site and handed to the notification worker, which emails it to the
//! managers. Its event id is the day's, so a restart, a retry or a worker on each site still
//! sends each day's summary once.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use pola_core::{
    clock::colombo,
    config::Config,
    events::{Envelope, broker::publish_event},
};
use uuid::Uuid;

/// The event the notification worker turns into the managers' email.
pub const KIND: &str = "report.daily_summary";

/// The next moment after `now` that Colombo's clock reads `at`.
pub fn next_run(now: DateTime<Utc>, at: NaiveTime) -> DateTime<Utc> {
    let local = now.with_timezone(&colombo()).naive_local();
    let mut next = local.date().and_time(at);
    if next <= local {
        next += Duration::days(1);
    }
    next.and_utc() - Duration::seconds(i64::from(colombo().local_minus_utc()))
}

/// The day before `now`'s day in Colombo: the one a morning summary covers.
pub fn yesterday(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&colombo()).date_naive() - Duration::days(1)
}

/// The same id for the same day's summary, wherever and however often it is made.
pub fn event_id(date: NaiveDate) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, format!("pola:report.daily_summary:{date}").as_bytes())
}

/// Reads `date`'s summary and publishes it for the notification worker.
pub async fn send(config: &Config, date: NaiveDate) -> anyhow::Result<()> {
    let reporting = pola_reporting::Reporting::new(config)?;
    let summary = pola_reporting::summary::summary(&reporting, date).await?;
    let failed = summary.sections.iter().filter(|s| s.failed.is_some()).count();
    let envelope = Envelope {
        id: event_id(date),
        kind: KIND.to_owned(),
        occurred_at: Utc::now(),
        version: 1,
        data: serde_json::to_value(&summary)?,
    };
    publish_event(&config.events, &envelope).await?;
    tracing::info!(%date, sections = summary.sections.len(), failed, "daily summary sent to the notification worker");
    Ok(())
}

/// How long a failed summary waits before it is tried again.
const RETRY: std::time::Duration = std::time::Duration::from_secs(300);

/// Sends each morning's summary until `stop`. A summary that cannot be read or published is
/// tried again every five minutes until the next one is due.
pub async fn run(config: &Config, at: NaiveTime, mut stop: tokio::sync::watch::Receiver<bool>) -> anyhow::Result<()> {
    loop {
        let due = next_run(Utc::now(), at);
        tracing::info!(%due, "next daily summary");
        let wait = (due - Utc::now()).to_std().unwrap_or_default();
        if pola_core::events::pause(&mut stop, wait).await {
            return Ok(());
        }
        let date = yesterday(due);
        loop {
            match send(config, date).await {
                Ok(()) => break,
                Err(e) if Utc::now() + Duration::from_std(RETRY)? < next_run(due, at) => {
                    tracing::warn!(%date, error = %format!("{e:#}"), "the daily summary could not be sent yet; trying again in 5 minutes");
                    if pola_core::events::pause(&mut stop, RETRY).await {
                        return Ok(());
                    }
                }
                Err(e) => {
                    tracing::error!(%date, error = %format!("{e:#}"), "the daily summary could not be sent");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_goes_at_the_next_colombo_morning() {
        let at = NaiveTime::from_hms_opt(7, 30, 0).expect("a time");
        let utc = |s: &str| s.parse::<DateTime<Utc>>().expect("a time");
        // 06:00 in Colombo (00:30 UTC): this morning at 07:30 Colombo, 02:00 UTC.
        assert_eq!(next_run(utc("2026-12-03T00:30:00Z"), at), utc("2026-12-03T02:00:00Z"));
        // 07:30 sharp has gone: tomorrow.
        assert_eq!(next_run(utc("2026-12-03T02:00:00Z"), at), utc("2026-12-04T02:00:00Z"));
        // 23:00 UTC on the 2nd is 04:30 on the 3rd in Colombo.
        assert_eq!(next_run(utc("2026-12-02T23:00:00Z"), at), utc("2026-12-03T02:00:00Z"));
        assert_eq!(
            yesterday(utc("2026-12-03T02:00:00Z")),
            NaiveDate::from_ymd_opt(2026, 12, 2).expect("a day")
        );
        // 20:00 UTC on the 2nd is already the 3rd in Colombo.
        assert_eq!(
            yesterday(utc("2026-12-02T20:00:00Z")),
            NaiveDate::from_ymd_opt(2026, 12, 2).expect("a day")
        );
    }

    #[test]
    fn a_days_summary_has_one_id() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 2).expect("a day");
        assert_eq!(event_id(day), event_id(day));
        assert_ne!(event_id(day), event_id(day.succ_opt().expect("a day")));
    }
}

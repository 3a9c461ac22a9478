//! Both sites under a steady stream of checkouts through the edge, moved with the playbooks the
//! runbooks give SREs: failover after the DC database is killed, switchover there and back,
//! failback (by GTID, and by rebuild when the old primary has errant transactions), a
//! point-in-time restore from a backup taken under load, and the backups' retention and nightly
//! restore check.

use std::{
    collections::HashSet,
    path::PathBuf,
    time::{Duration, Instant},
};

use pola_core::testing::{MailServer, OwnBroker};
use pola_e2e::{Audit, Load, ONE_AT_A_TIME, Shop, Site, Sites};
use serde_json::json;
use uuid::Uuid;

/// `pola status` names one primary (exit 0) and the other site replicating with both threads.
async fn assert_one_primary_and_a_replica(sites: &Sites, primary: Site) {
    let (status, code) = sites.status().await;
    println!("pola status:\n{status}");
    assert_eq!(code, 0, "pola status: {status}");
    let primary_line = format!("{} (", primary.name());
    let line_of = |start: &str| status.lines().find(|l| l.starts_with(start)).unwrap_or_default().to_owned();
    assert!(line_of(&primary_line).contains("primary (takes writes)"), "{status}");
    assert!(status.contains("io Yes, sql Yes"), "the other site replicates: {status}");
}

/// Waits until every event the sites' services recorded at `site` has been relayed to RabbitMQ.
async fn assert_outbox_drains(sites: &Sites, site: Site) {
    let db = sites.db(site).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let unsent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pola_orders.outbox WHERE sent_at IS NULL")
            .fetch_one(&db)
            .await
            .expect("the outbox");
        if unsent == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{unsent} events still unsent at {} after 60 s",
            site.name()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn failover_after_the_dc_database_is_killed_loses_no_acknowledged_order_and_oversells_nothing() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (sites, shop) = Shop::up("failover", 8, 150).await;
    // A product picture as customers get it from DC (pictures live in the catalog's database).
    let picture = picture_url(&sites).await;
    let before = fetch(&picture).await;
    let load = Load::running(&sites, &shop, 100).await;

    let killed = Instant::now();
    sites.kill_db(Site::Dc);
    let playbook = sites.playbook("failover.yml", &[]).await;
    load.until_acked_after(killed, 100).await;
    let rto = load.first_ack_after(killed).expect("a checkout after the kill") - killed;
    let outcome = load.finish().await;

    let audit = Audit::of(&sites.db(Site::Dr).await, &outcome.acks, &shop).await;
    println!(
        "FAILOVER: RTO (kill -> first successful checkout) {:.2} s; failover.yml took {:.2} s; \
         acknowledged orders lost: {} of {}; client retries {}; refused (sold out) {}; {audit:?}",
        rto.as_secs_f64(),
        playbook.as_secs_f64(),
        audit.lost.len(),
        outcome.acks.len(),
        outcome.retries,
        outcome.refused,
    );
    audit.assert_sound(&shop);
    assert!(
        outcome.failed.is_empty(),
        "checkouts that never got an answer: {:?}",
        outcome.failed
    );
    assert!(audit.scarce_sold > 0, "the scarce variant was bought: {audit:?}");
    let (status, code) = sites.status().await;
    assert_eq!(code, 0, "one primary: {status}");
    assert!(
        status.contains("dr (") && status.contains("primary (takes writes)"),
        "{status}"
    );
    assert!(status.contains("dc (") && status.contains("UNREACHABLE"), "{status}");
    assert_outbox_drains(&sites, Site::Dr).await;
    // The same picture, now from DR: replicated with the rest of the catalog.
    assert_eq!(fetch(&picture).await, before, "the picture at DR is the one DC served");
}

/// The address, through the edge, of the first demo product's picture at its smallest width.
async fn picture_url(sites: &Sites) -> String {
    let hash: String = sqlx::query_scalar("SELECT hash FROM pola_catalog.product_images ORDER BY id LIMIT 1")
        .fetch_one(&sites.db(Site::Dc).await)
        .await
        .expect("the demo shop's products have pictures");
    format!("{}/images/{hash}/320.jpg", sites.edge())
}

async fn fetch(url: &str) -> Vec<u8> {
    let response = reqwest::get(url).await.expect("an answer");
    assert_eq!(response.status(), 200, "{url}");
    response.bytes().await.expect("bytes").to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn switchover_to_dr_and_back_under_load_loses_nothing_and_fails_no_checkout() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (sites, shop) = Shop::up("switchover", 8, 150).await;
    let load = Load::running(&sites, &shop, 60).await;

    let there = Instant::now();
    let to_dr = sites.playbook("switchover.yml", &[]).await;
    load.until_acked_after(Instant::now(), 60).await;
    assert_one_primary_and_a_replica(&sites, Site::Dr).await;
    let back = Instant::now();
    let to_dc = sites.playbook("switchover.yml", &[]).await;
    load.until_acked_after(Instant::now(), 60).await;
    let done = Instant::now();
    let outcome = load.finish().await;

    assert_one_primary_and_a_replica(&sites, Site::Dc).await;
    let audit = Audit::of(&sites.db(Site::Dc).await, &outcome.acks, &shop).await;
    println!(
        "SWITCHOVER: DC->DR took {:.2} s, longest wait between checkouts {:.2} s; DR->DC took {:.2} s, \
         longest wait {:.2} s; acknowledged orders lost: {} of {}; failed after retries: {}; client retries {}; {audit:?}",
        to_dr.as_secs_f64(),
        outcome.longest_gap(there, back).as_secs_f64(),
        to_dc.as_secs_f64(),
        outcome.longest_gap(back, done).as_secs_f64(),
        audit.lost.len(),
        outcome.acks.len(),
        outcome.failed.len(),
        outcome.retries,
    );
    audit.assert_sound(&shop);
    assert!(outcome.failed.is_empty(), "checkouts that failed: {:?}", outcome.failed);
    // The replica has every acknowledged order too.
    let missing = missing_at_replica(&sites, &outcome.acks, &shop).await;
    assert!(missing.is_empty(), "DR misses {missing:?}");
}

/// A file of each `pola serve` of both sites (two per site in the `local` inventory): its
/// `pid` or its `log`.
fn serve_files(sites: &Sites, extension: &str) -> Vec<String> {
    [Site::Dc, Site::Dr]
        .iter()
        .flat_map(|site| {
            ["pola-serve", "pola-serve-2"].map(|name| sites.dir.join(site.name()).join(format!("{name}.{extension}")))
        })
        .map(|file| std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rolling_restart_of_every_pola_serve_under_load_fails_no_request() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (sites, shop) = Shop::up("rolling_restart", 8, 150).await;
    let before = serve_files(&sites, "pid");
    let load = Load::running(&sites, &shop, 60).await;

    let started = Instant::now();
    let took = sites.playbook("restart.yml", &[]).await;
    load.until_acked_after(Instant::now(), 60).await;
    let done = Instant::now();
    let outcome = load.finish().await;

    let after = serve_files(&sites, "pid");
    assert!(
        before.iter().zip(&after).all(|(b, a)| b != a),
        "every pola serve restarted: {before:?} -> {after:?}"
    );
    // Each drained before it stopped, and the edge took each out of its pool and back.
    for log in serve_files(&sites, "log") {
        assert!(
            log.contains("draining: readyz answers 503"),
            "{}",
            log.lines().rev().take(20).collect::<Vec<_>>().join("\n")
        );
    }
    let edge_log = std::fs::read_to_string(sites.dir.join("edge/pola-edge.log")).expect("the edge's log");
    for said in ["member left the pool", "member back in the pool"] {
        assert!(
            edge_log.matches(said).count() >= 4,
            "the edge said \"{said}\" of each pola serve"
        );
    }
    let audit = Audit::of(&sites.db(Site::Dc).await, &outcome.acks, &shop).await;
    println!(
        "ROLLING RESTART: restart.yml took {:.2} s for four pola serve; longest wait between checkouts {:.2} s; \
         acknowledged {}; failed {}; client retries {}; {audit:?}",
        took.as_secs_f64(),
        outcome.longest_gap(started, done).as_secs_f64(),
        outcome.acks.len(),
        outcome.failed.len(),
        outcome.retries,
    );
    audit.assert_sound(&shop);
    assert!(outcome.failed.is_empty(), "checkouts that failed: {:?}", outcome.failed);
    assert_eq!(outcome.retries, 0, "no checkout was answered 5xx or cut off");
}

/// The acknowledged orders DR still lacks after up to 30 s of catching up.
async fn missing_at_replica(sites: &Sites, acks: &[pola_e2e::Ack], shop: &Shop) -> Vec<Uuid> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let missing = Audit::of(&sites.db(Site::Dr).await, acks, shop).await.lost;
        if missing.is_empty() || Instant::now() >= deadline {
            return missing;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn failback_rejoins_the_old_primary_by_gtid_or_rebuilds_it_when_it_has_errant_transactions() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (sites, shop) = Shop::up("failback", 6, 100).await;

    // Round 1: DC lost, DR takes over, DC comes back by GTID and is primary again.
    let load = Load::running(&sites, &shop, 40).await;
    let killed = Instant::now();
    sites.kill_db(Site::Dc);
    sites.playbook("failover.yml", &[]).await;
    load.until_acked_after(killed, 30).await;
    let rejoin = sites.playbook("failback.yml", &[]).await;
    let log = std::fs::read_to_string(sites.dir.join("failback.yml.log")).expect("the playbook's log");
    assert!(log.contains("rejoined by GTID"), "DC rejoined without a rebuild:\n{log}");
    load.until_acked_after(Instant::now(), 30).await;
    let mut acks = load.finish().await.acks;
    assert_one_primary_and_a_replica(&sites, Site::Dc).await;

    // Round 2: DC commits what DR never receives (DR's receiving thread stopped: semi-sync falls
    // back to async), then DC is lost. DR takes over without those commits; DC cannot rejoin.
    let dc = sites.db(Site::Dc).await;
    let dr = sites.db(Site::Dr).await;
    sqlx::query("STOP SLAVE IO_THREAD")
        .execute(&dr)
        .await
        .expect("DR stops receiving");
    sqlx::query("CREATE DATABASE errant_probe")
        .execute(&dc)
        .await
        .expect("an errant transaction at DC");
    dc.close().await;
    sites.kill_db(Site::Dc);
    sites.playbook("failover.yml", &[]).await;
    let load = Load::running(&sites, &shop, 30).await;
    // This time in two steps, as the runbook allows: rebuild DC as DR's replica, then switch.
    let rebuild = sites.playbook("failback.yml", &["-e", "failback_switch=false"]).await;
    let log = std::fs::read_to_string(sites.dir.join("failback.yml.log")).expect("the playbook's log");
    assert!(
        log.contains("rebuilding from a backup of the primary"),
        "DC was rebuilt:\n{log}"
    );
    assert_one_primary_and_a_replica(&sites, Site::Dr).await;
    load.until_acked_after(Instant::now(), 30).await;
    let switch = sites.playbook("switchover.yml", &[]).await;
    load.until_acked_after(Instant::now(), 30).await;
    acks.extend(load.finish().await.acks);

    assert_one_primary_and_a_replica(&sites, Site::Dc).await;
    let dc = sites.db(Site::Dc).await;
    let errant: Option<String> = sqlx::query_scalar("SHOW DATABASES LIKE 'errant\\_probe'")
        .fetch_optional(&dc)
        .await
        .expect("databases");
    assert_eq!(errant, None, "the rebuilt DC has only what DR had");
    let kept_aside = std::fs::read_dir(sites.dir.join("dc/mariadb"))
        .expect("DC's folder")
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("data.errant-"));
    assert!(kept_aside, "DC's old data is kept aside for forensics");
    let audit = Audit::of(&dc, &acks, &shop).await;
    println!(
        "FAILBACK: rejoin by GTID + switch back took {:.2} s; rebuild from a backup {:.2} s, then switch back {:.2} s; \
         acknowledged orders lost: {} of {}; {audit:?}",
        rejoin.as_secs_f64(),
        rebuild.as_secs_f64(),
        switch.as_secs_f64(),
        audit.lost.len(),
        acks.len()
    );
    audit.assert_sound(&shop);
}

/// The orders a consistent snapshot of `db` sees, and the GTID of that snapshot.
async fn snapshot(db: &sqlx::MySqlPool) -> (String, HashSet<Uuid>) {
    let mut conn = db.acquire().await.expect("a connection");
    sqlx::raw_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        .execute(&mut *conn)
        .await
        .expect("a snapshot");
    let orders: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM pola_orders.orders")
        .fetch_all(&mut *conn)
        .await
        .expect("orders");
    let status: Vec<(String, String)> =
        sqlx::query_as("SHOW STATUS WHERE Variable_name IN ('Binlog_snapshot_file', 'Binlog_snapshot_position')")
            .fetch_all(&mut *conn)
            .await
            .expect("the snapshot's binlog position");
    sqlx::raw_sql("COMMIT").execute(&mut *conn).await.expect("commit");
    let value = |name: &str| status.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).expect(name);
    let gtid: String = sqlx::query_scalar("SELECT BINLOG_GTID_POS(?, ?)")
        .bind(value("Binlog_snapshot_file"))
        .bind(value("Binlog_snapshot_position").parse::<u64>().expect("a position"))
        .fetch_one(&mut *conn)
        .await
        .expect("the snapshot's GTID");
    (gtid, orders.into_iter().collect())
}

async fn orders_at(port: u16) -> HashSet<Uuid> {
    let db = sqlx::MySqlPool::connect(&format!("mysql://root@127.0.0.1:{port}"))
        .await
        .expect("the restored instance");
    sqlx::query_scalar("SELECT id FROM pola_orders.orders")
        .fetch_all(&db)
        .await
        .expect("orders")
        .into_iter()
        .collect()
}

/// The backups' folders, by name (oldest first), and the archive's files.
fn backups(sites: &Sites) -> (Vec<String>, Vec<String>) {
    let names = |dir: PathBuf, deep: bool| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .flatten()
                    .flat_map(|entry| {
                        let path = entry.path();
                        if deep && path.is_dir() {
                            std::fs::read_dir(&path)
                                .into_iter()
                                .flatten()
                                .flatten()
                                .map(|file| file.path().strip_prefix(&dir).expect("inside").display().to_string())
                                .collect()
                        } else {
                            vec![entry.file_name().to_string_lossy().into_owned()]
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        names.retain(|name| name.ends_with("-full") || name.ends_with("-incremental") || name.contains("/binlog."));
        names.sort();
        names
    };
    (
        names(sites.dir.join("backups"), false),
        names(sites.dir.join("binlog-archive"), true),
    )
}

/// The line restore-check.yml reports.
fn restore_check_report(said: &str) -> String {
    said.lines()
        .find_map(|line| {
            line.split_once("\"restore-check ")
                .and_then(|(_, report)| report.split('"').next())
        })
        .unwrap_or_else(|| panic!("no report in:\n{said}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn backups_restore_to_a_point_in_time_keep_their_retention_and_are_proved_across_a_switchover() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (sites, shop) = Shop::up("backup", 6, 1_000).await;
    let load = Load::running(&sites, &shop, 30).await;
    let dc = sites.db(Site::Dc).await;
    // The binary log is rotated after each backup, so that the archive has files to prune.
    let rotate = async || {
        sqlx::raw_sql("FLUSH BINARY LOGS").execute(&dc).await.expect("rotate");
    };
    let full = sites.playbook("backup.yml", &[]).await;
    rotate().await;
    load.until_acked_after(Instant::now(), 30).await;
    let incremental = sites.playbook("backup.yml", &["-e", "backup_kind=incremental"]).await;
    rotate().await;
    load.until_acked_after(Instant::now(), 30).await;

    let (target, at_target) = snapshot(&dc).await;
    // A time target: whole seconds, as an SRE types it (the machine's clock is UTC).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let time: String = sqlx::query_scalar("SELECT DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m-%d %H:%i:%s')")
        .fetch_one(&dc)
        .await
        .expect("the time");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    load.until_acked_after(Instant::now(), 30).await;
    load.finish().await;
    let live: HashSet<Uuid> = sqlx::query_scalar("SELECT id FROM pola_orders.orders")
        .fetch_all(&dc)
        .await
        .expect("orders")
        .into_iter()
        .collect();
    // The archiver streams DC's binary log as it is written; give it a moment to have the end.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let port = pola_core::testing::free_port();
    let started = Instant::now();
    sites
        .playbook(
            "restore.yml",
            &[
                "-e",
                &format!("restore_to_gtid={target}"),
                "-e",
                &format!("restore_port={port}"),
            ],
        )
        .await;
    let restore_took = started.elapsed();
    let restored = orders_at(port).await;
    println!(
        "BACKUP: full backup under load {:.2} s, incremental {:.2} s; restore to GTID {target} took {:.2} s; \
         {} orders at the target, {} restored, {} live",
        full.as_secs_f64(),
        incremental.as_secs_f64(),
        restore_took.as_secs_f64(),
        at_target.len(),
        restored.len(),
        live.len()
    );
    assert!(live.len() > at_target.len(), "orders came after the target");
    assert_eq!(restored, at_target, "exactly the orders up to the GTID");

    let port = pola_core::testing::free_port();
    sites
        .playbook(
            "restore.yml",
            &[
                "-e",
                &format!("restore_to_time='{time}'"),
                "-e",
                &format!("restore_port={port}"),
                "-e",
                "restore_name=pitr-time",
            ],
        )
        .await;
    let restored = orders_at(port).await;
    let created: Vec<(Uuid, i64)> =
        sqlx::query_as("SELECT id, TIMESTAMPDIFF(MICROSECOND, created_at, ?) FROM pola_orders.orders")
            .bind(&time)
            .fetch_all(&dc)
            .await
            .expect("orders");
    // Orders placed over a second before the time named are there, those over a second after it
    // are not (an order's time is taken a moment before its commit, whose time the log keeps).
    for (order, before) in created {
        if before > 1_000_000 {
            assert!(restored.contains(&order), "{order} is from before {time}");
        } else if before < -1_000_000 {
            assert!(!restored.contains(&order), "{order} is from after {time}");
        }
    }
    assert!(
        restored.len() < live.len() && restored.len() >= at_target.len(),
        "{} restored by time",
        restored.len()
    );

    retention_and_restore_check(&sites, &shop, rotate).await;
}

/// A second chain; both age by years, and a third is taken: with a retention of 14 days (and at
/// least one full backup) the first goes and the second stays (a restore to 14 days ago starts
/// from it).
/// Then the archive follows DR when it becomes primary, and restore-check proves the oldest chain
/// kept through both servers' archives, under load, and finds a change the archive never saw.
async fn retention_and_restore_check(sites: &Sites, shop: &Shop, rotate: impl AsyncFn()) {
    let load = Load::running(sites, shop, 10).await;
    sites.playbook("backup.yml", &[]).await;
    rotate().await;
    let (taken, archived) = backups(sites);
    assert_eq!(taken.len(), 3, "{taken:?}: all within the retention");
    let aged: Vec<String> = taken[..3]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let old = format!("20200{}01T00000{i}-{}", 1 + i / 2, name.split_once('-').expect("kind").1);
            std::fs::rename(sites.dir.join("backups").join(name), sites.dir.join("backups").join(&old)).expect("age");
            old
        })
        .collect();
    let (_, said) = sites
        .playbook_said("backup.yml", &["-e", "backup_keep_days=14", "-e", "backup_keep_fulls=1"])
        .await;
    let (kept, pruned_archive) = backups(sites);
    assert_eq!(kept[0], aged[2], "the second chain stays: {said}");
    assert_eq!(kept.len(), 2, "{kept:?}: the second chain and the one just taken");
    // The files written up to the rotation after the first chain's incremental backup (counted
    // among those listed before: the archiver may have begun the next file since).
    let deleted = archived.iter().filter(|file| !pruned_archive.contains(file)).count();
    assert!(
        deleted >= 2,
        "archived binary logs before the second chain go: {archived:?} then {pruned_archive:?}"
    );

    sites.playbook("switchover.yml", &[]).await;
    load.until_acked_after(Instant::now(), 30).await;
    let (_, said) = sites.playbook_said("backup.yml", &["-e", "backup_kind=incremental"]).await;
    assert!(said.contains("taking a full one"), "an incremental backup of DC now: {said}");
    let (_, archive) = backups(sites);
    assert!(archive.iter().any(|file| file.starts_with("server-2/")), "{archive:?}");

    let (took, said) = sites
        .playbook_said("restore-check.yml", &["-e", "restore_check_from=oldest"])
        .await;
    let oldest = restore_check_report(&said);
    load.finish().await;
    println!("RESTORE-CHECK: the oldest chain kept, {:.1} s: {oldest}", took.as_secs_f64());
    assert!(oldest.contains(": OK;") && oldest.contains(" 0 differ;"), "{oldest}");
    assert!(oldest.contains(&aged[2]), "the oldest chain kept: {oldest}");

    let dr = sites.db(Site::Dr).await;
    let mut conn = dr.acquire().await.expect("a connection");
    sqlx::raw_sql("SET SESSION sql_log_bin = 0; UPDATE pola_orders.orders SET total_minor = total_minor + 1 LIMIT 1")
        .execute(&mut *conn)
        .await
        .expect("a change the binary log never sees");
    let report = restore_check_report(&sites.playbook_refused("restore-check.yml", &[]).await);
    assert!(
        report.contains("FAILED") && report.contains(" 1 differ: pola_orders.orders;"),
        "{report}"
    );
    let log = std::fs::read_to_string(sites.dir.join("backups/restore-check.log")).expect("the check's log");
    assert_eq!(log.lines().count(), 2, "{log}");
}

/// How many of the mail server's messages mention each of `orders` (by the number customers see).
fn mails_per_order(mail: &MailServer, orders: &[Uuid]) -> Vec<usize> {
    let messages: Vec<String> = mail
        .messages()
        .iter()
        .map(|raw| String::from_utf8_lossy(raw).into_owned())
        .collect();
    orders
        .iter()
        .map(|order| {
            let number = order.simple().to_string()[24..].to_uppercase();
            messages.iter().filter(|m| m.contains(&number)).count()
        })
        .collect()
}

/// Both sites with a broker each (the test's own), a notification worker each and a mail server.
async fn sites_with_notifications(name: &str) -> (Sites, [OwnBroker; 2], MailServer) {
    let (brokers, mail) = tokio::task::spawn_blocking(|| ([OwnBroker::start(), OwnBroker::start()], MailServer::start()))
        .await
        .expect("started");
    let sites = Sites::up_with(
        name,
        json!({
            "pola_worker_notifications": true,
            "pola_smtp_port": mail.port,
            "pola_ports": {"mq": brokers[0].port(), "mq_dr": brokers[1].port()},
        }),
    )
    .await;
    (sites, brokers, mail)
}

/// Waits until every order in `orders` has at least one email, lets what may follow arrive, and
/// returns how many emails each has.
async fn mails_once_settled(sites: &Sites, site: Site, mail: &MailServer, orders: &[Uuid], what: &str) -> Vec<usize> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while mails_per_order(mail, orders).contains(&0) {
        assert!(Instant::now() < deadline, "{what}: not every order was mailed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Events sent again that were handled already are no-ops: let them pass, then count.
    assert_outbox_drains(sites, site).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    mails_per_order(mail, orders)
}

/// The orders a load placed, once it has finished.
async fn orders_of(load: Load) -> Vec<Uuid> {
    load.finish().await.acks.iter().map(|a| a.order).collect()
}

fn histogram(counts: &[usize]) -> std::collections::BTreeMap<usize, usize> {
    counts.iter().fold(std::collections::BTreeMap::new(), |mut m, n| {
        *m.entry(*n).or_default() += 1;
        m
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn events_a_lost_sites_broker_held_unconsumed_are_delivered_exactly_once_after_failover() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (sites, [dc_broker, dr_broker], mail) = sites_with_notifications("lost-broker").await;
    let shop = Shop::open(&sites, Site::Dc, 4, 100).await;

    // Orders while DC's worker runs: DC sends their emails.
    let first = orders_of(Load::running(&sites, &shop, 20).await).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while mails_per_order(&mail, &first).contains(&0) {
        assert!(Instant::now() < deadline, "DC's worker did not send every email");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // DC's worker dies; more orders are relayed to DC's broker and wait there, unconsumed.
    sites.kill(Site::Dc, "pola-worker");
    let second = orders_of(Load::running(&sites, &shop, 20).await).await;
    assert_outbox_drains(&sites, Site::Dc).await;
    assert!(
        mails_per_order(&mail, &second).iter().all(|n| *n == 0),
        "nobody consumed them"
    );

    // DC is lost: its database and its broker (with those events) together.
    sites.kill_db(Site::Dc);
    tokio::task::spawn_blocking(move || drop(dc_broker)).await.expect("stopped");
    sites.playbook("failover.yml", &[]).await;

    // DR sends the recent events again; its worker mails what nobody had, and only that.
    let all: Vec<Uuid> = first.iter().chain(&second).copied().collect();
    let deadline = Instant::now() + Duration::from_secs(90);
    while mails_per_order(&mail, &all).contains(&0) {
        assert!(Instant::now() < deadline, "after failover, not every order was mailed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The republished events already handled are no-ops: wait for them to pass, then count.
    assert_outbox_drains(&sites, Site::Dr).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let counts = mails_per_order(&mail, &all);
    println!(
        "{} orders before DC's worker died, {} relayed to DC's broker and lost with it; emails per order after failover: {:?}",
        first.len(),
        second.len(),
        counts
            .iter()
            .fold(std::collections::BTreeMap::<usize, usize>::new(), |mut m, n| {
                *m.entry(*n).or_default() += 1;
                m
            })
    );
    assert!(counts.iter().all(|n| *n == 1), "exactly one email per order: {counts:?}");
    drop(dr_broker);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_playbooks_refuse_to_do_harm_and_a_failed_switchover_reverts_by_itself() {
    let _one = ONE_AT_A_TIME.lock().await;
    let sites = Sites::up("guards").await;
    assert_one_primary_and_a_replica(&sites, Site::Dc).await;

    // Failover while DC is alive and takes writes: two primaries. Refused, nothing changed.
    let output = sites.playbook_refused("failover.yml", &[]).await;
    assert!(output.contains("would make two primaries"), "{output}");
    assert!(output.contains("Nothing was changed"), "{output}");
    assert_one_primary_and_a_replica(&sites, Site::Dc).await;

    // Run with a stale primary-site file (or a second time after a failover): its target is not
    // a replica. Refused, nothing changed.
    std::fs::write(sites.primary_file(), "dr").expect("the stale file");
    let output = sites.playbook_refused("failover.yml", &[]).await;
    assert!(output.contains("dc is not a replica"), "{output}");
    std::fs::write(sites.primary_file(), "dc").expect("the file put right");
    assert_one_primary_and_a_replica(&sites, Site::Dc).await;

    // Failback without one of the databases in the play: refused before touching either.
    let output = sites.playbook_refused("failback.yml", &["--limit", "!dc-db"]).await;
    assert!(output.contains("failback needs both"), "{output}");
    assert_one_primary_and_a_replica(&sites, Site::Dc).await;
    let output = sites.playbook_refused("switchover.yml", &["--limit", "!dr-db"]).await;
    assert!(output.contains("switchover needs both"), "{output}");
    assert_one_primary_and_a_replica(&sites, Site::Dc).await;

    // A switchover while DR lags (its replication delayed by a minute, a write waiting there):
    // writes would stop until it caught up. Refused, nothing changed.
    let dc = sites.db(Site::Dc).await;
    let dr = sites.db(Site::Dr).await;
    let mut conn = dr.acquire().await.expect("a connection");
    let delay = async |conn: &mut sqlx::MySqlConnection, secs: u32| {
        for statement in [
            "STOP SLAVE".to_string(),
            format!("CHANGE MASTER TO MASTER_DELAY = {secs}"),
            "START SLAVE".to_string(),
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                .execute(&mut *conn)
                .await
                .expect("delay replication");
        }
    };
    delay(&mut *conn, 60).await;
    sqlx::raw_sql("CREATE DATABASE IF NOT EXISTS lag_probe")
        .execute(&dc)
        .await
        .expect("a write");
    tokio::time::sleep(Duration::from_secs(7)).await;
    let output = sites.playbook_refused("switchover.yml", &[]).await;
    assert!(output.contains("s behind dc (at most 5 s)"), "{output}");
    delay(&mut *conn, 0).await;
    let position: String = sqlx::query_scalar("SELECT @@global.gtid_binlog_pos")
        .fetch_one(&dc)
        .await
        .expect("DC's position");
    let waited: i64 = sqlx::query_scalar("SELECT MASTER_GTID_WAIT(?, 30)")
        .bind(&position)
        .fetch_one(&mut *conn)
        .await
        .expect("DR catches up");
    assert_eq!(waited, 0, "DR caught up with {position}");
    assert_one_primary_and_a_replica(&sites, Site::Dc).await;

    // A switchover whose re-pointing fails (DR lost its replication account): DC has stopped
    // writes and DR has been promoted when DC cannot replicate from it. It reverts by itself.
    for statement in ["SET SESSION sql_log_bin = 0", "DROP USER 'repl'@'127.0.0.1'"] {
        sqlx::query(statement).execute(&mut *conn).await.expect(statement);
    }
    let started = Instant::now();
    let output = sites.playbook_refused("switchover.yml", &[]).await;
    println!("failed switchover reverted in {:.1} s", started.elapsed().as_secs_f64());
    assert!(output.contains("Switchover REVERTED"), "{output}");
    assert!(output.contains("could not replicate from dr"), "{output}");
    assert_one_primary_and_a_replica(&sites, Site::Dc).await;
    for statement in [
        "CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY 'repl-local-only'",
        "GRANT REPLICATION SLAVE, REPLICATION CLIENT, SLAVE MONITOR ON *.* TO 'repl'@'127.0.0.1'",
    ] {
        sqlx::query(statement).execute(&mut *conn).await.expect(statement);
    }
    drop(conn);

    // DC takes writes again (its app sees so within its watch period): a checkout through the
    // edge succeeds.
    let ready = format!("{}/readyz", sites.app(Site::Dc));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = reqwest::get(&ready).await.expect("an answer");
        let body: serde_json::Value = answer.json().await.unwrap_or_default();
        if body["writable"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "DC's app never took writes again: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let shop = Shop::open(&sites, Site::Dc, 1, 10).await;
    let outcome = Load::running(&sites, &shop, 5).await.finish().await;
    assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_switchover_under_a_burst_of_500_orders_mails_each_exactly_once_and_parks_nothing() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (sites, brokers, mail) = sites_with_notifications("switch-mail").await;
    let shop = Shop::open(&sites, Site::Dc, 8, 1000).await;
    let load = Load::running(&sites, &shop, 100).await;
    let switched = Instant::now();
    let took = sites.playbook("switchover.yml", &[]).await;
    let done = Instant::now();
    let deadline = done + Duration::from_secs(120);
    while load.acks() < 500 {
        assert!(Instant::now() < deadline, "only {} checkouts in the burst", load.acks());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let outcome = load.finish().await;
    assert!(
        outcome.failed.is_empty(),
        "checkouts failed after retries: {:?}",
        outcome.failed
    );
    let orders: Vec<Uuid> = outcome.acks.iter().map(|a| a.order).collect();
    let counts = mails_once_settled(&sites, Site::Dr, &mail, &orders, "after the switchover").await;
    println!(
        "switchover DC→DR in {:.1} s under a burst of {} orders ({} attempts retried); longest time without a completed \
         checkout {:.1} s; emails per order: {:?}",
        took.as_secs_f64(),
        orders.len(),
        outcome.retries,
        outcome.longest_gap(switched, done + Duration::from_secs(2)).as_secs_f64(),
        histogram(&counts)
    );
    assert!(
        counts.iter().all(|n| *n == 1),
        "exactly one email per order: {:?}",
        histogram(&counts)
    );
    for broker in &brokers {
        let config = pola_core::config::EventsConfig {
            amqp_url: Some(broker.url().into()),
            ..Default::default()
        };
        let (parked, _) = pola_core::events::parking::visit(&config, "notifications", 10, |_| false)
            .await
            .expect("the parking queue");
        assert!(parked.is_empty(), "nothing parked: {parked:?}");
    }
}

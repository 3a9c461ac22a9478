//! The notification worker against a real RabbitMQ, a real SMTP server (aiosmtpd from PyPI, a
//! process of each test's own) and a local HTTP server standing in for the SMS gateway.

#![expect(clippy::disallowed_types, reason = "the SMS gateway stand-in is a plain axum server")]

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Json, Router, http::StatusCode, routing::post};
use pola_core::{
    auth::Role,
    client::ServiceClient,
    config::Config,
    events::parking,
    testing::{MailServer, test_amqp_url},
};
use pola_identity::client::{HttpIdentity, IdentityClient};
use pola_orders::client::{HttpOrderBriefs, OrderBriefs};
use serde_json::{Value, json};
use tokio::sync::watch;
use uuid::Uuid;

use crate::harness::{
    OwnBroker, TestApp, spawn_app_behind_edge_with, spawn_app_with, thousand_orders_across_a_broker_restart, uuid,
};

/// Every message the mail server received so far, parsed.
fn messages(mail: &MailServer) -> Vec<Mail> {
    mail.messages().iter().map(|raw| Mail::parse(raw)).collect()
}

/// What a test reads of an email.
#[derive(Debug, Clone)]
pub(crate) struct Mail {
    pub(crate) to: String,
    pub(crate) subject: String,
    pub(crate) text: String,
    html: String,
    message_id: String,
}

impl Mail {
    fn parse(raw: &[u8]) -> Self {
        let message = mail_parser::MessageParser::default().parse(raw).expect("an email");
        let address = |a: Option<&mail_parser::Address>| {
            a.and_then(|a| a.first())
                .and_then(|a| a.address())
                .unwrap_or_default()
                .to_owned()
        };
        Self {
            to: address(message.to()),
            subject: message.subject().unwrap_or_default().to_owned(),
            text: message.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
            html: message.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
            message_id: message.message_id().unwrap_or_default().to_owned(),
        }
    }
}

/// The SMS gateway stand-in: records what it is sent; answers 503 while `down`.
pub(crate) struct Gateway {
    url: String,
    received: Arc<Mutex<Vec<Value>>>,
    down: Arc<AtomicBool>,
    _server: pola_core::testing::ThreadServer,
}

impl Shop {
    /// The emails sent so far.
    pub(crate) fn mails(&self) -> Vec<Mail> {
        messages(&self.mail)
    }
}

impl Gateway {
    fn start() -> Self {
        let received = Arc::new(Mutex::new(vec![]));
        let down = Arc::new(AtomicBool::new(false));
        let (log, broken) = (received.clone(), down.clone());
        let app = Router::new().route(
            "/send",
            post(move |Json(message): Json<Value>| {
                let (log, broken) = (log.clone(), broken.clone());
                async move {
                    if broken.load(Ordering::Relaxed) {
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    log.lock().expect("unpoisoned").push(message);
                    StatusCode::ACCEPTED
                }
            }),
        );
        let server = pola_core::testing::ThreadServer::start(app);
        Self {
            url: format!("http://{}/send", server.addr),
            received,
            down,
            _server: server,
        }
    }

    pub(crate) fn received(&self) -> Vec<Value> {
        self.received.lock().expect("unpoisoned").clone()
    }
}

/// An app with events, its notification worker, a mail server and an SMS gateway.
pub(crate) struct Shop {
    pub(crate) app: Arc<TestApp>,
    queue: String,
    mail: MailServer,
    pub(crate) sms: Gateway,
    _stop: watch::Sender<bool>,
}

pub(crate) async fn shop() -> Shop {
    shop_on(test_amqp_url()).await
}

async fn shop_on(amqp_url: String) -> Shop {
    shop_with(amqp_url, |_| {}).await
}

async fn shop_with(amqp_url: String, adjust: impl FnOnce(&mut Config)) -> Shop {
    shop_at(amqp_url, false, adjust).await
}

/// A shop that sends its messages, behind an edge in any run (for the back-office's tests).
pub(crate) async fn shop_behind_edge() -> Shop {
    shop_at(test_amqp_url(), true, |_| {}).await
}

async fn shop_at(amqp_url: String, behind_edge: bool, adjust: impl FnOnce(&mut Config)) -> Shop {
    let mail = tokio::task::spawn_blocking(MailServer::start).await.expect("started");
    let sms = Gateway::start();
    let (smtp_port, sms_url) = (mail.port, sms.url.clone());
    let configure = move |config: &mut Config| {
        config.events.amqp_url = Some(amqp_url.into());
        config.events.exchange = format!("pola.test.{}", Uuid::now_v7().simple());
        config.events.relay_idle_ms = 20;
        config.events.retry_delays_ms = vec![200, 400, 800, 1600];
        config.notifications.smtp.port = smtp_port;
        config.notifications.smtp.timeout_ms = 2000;
        config.notifications.sms.url = Some(sms_url);
        config.notifications.sms.timeout_ms = 2000;
        config.notifications.pause_ms = 100;
        // No quiet hours: these tests run at any time of day.
        config.notifications.quiet_from = "00:00".into();
        config.notifications.quiet_until = "00:00".into();
        adjust(config);
    };
    let app = match behind_edge {
        true => spawn_app_behind_edge_with(configure).await,
        false => spawn_app_with(configure).await,
    };
    let (stop, stopped) = watch::channel(false);
    // Each test its own queue, as it has its own exchange.
    let mut config = app.config.clone();
    config.notifications.queue = format!("notifications-{}", Uuid::now_v7().simple());
    // The worker reaches identity and orders as it does in production: over their internal API.
    let internal = |service| {
        let token = config
            .services
            .internal_token
            .clone()
            .expect("the test app has an internal token");
        ServiceClient::new(service, &app.ops.base, token, Duration::from_secs(5)).expect("a client")
    };
    let identity: Arc<dyn IdentityClient> = Arc::new(HttpIdentity(internal("identity")));
    let orders: Arc<dyn OrderBriefs> = Arc::new(HttpOrderBriefs(internal("orders")));
    pola::start_notifications(&config, &identity, &orders, true, stopped)
        .await
        .expect("the worker starts");
    Shop {
        app: Arc::new(app),
        queue: config.notifications.queue,
        mail,
        sms,
        _stop: stop,
    }
}

pub(crate) async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(done) = check() {
            return done;
        }
        assert!(Instant::now() < deadline, "{what} never happened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A customer who registered in `language`, with a phone, signed in.
async fn customer(app: &TestApp, language: &str, phone: &str) -> (String, String) {
    let email = format!("{language}-{}@example.lk", Uuid::now_v7().simple());
    app.api
        .post(
            "/api/v1/identity/register",
            None,
            json!({"email": email, "password": "kottu roti at midnight", "name": format!("Customer {language}"), "phone": phone, "language": language}),
        )
        .await
        .expect(201);
    let token = app.login(&email, "kottu roti at midnight").await;
    (email, token.get("access_token").as_str().expect("a token").to_owned())
}

#[tokio::test]
async fn an_orders_life_sends_the_expected_email_and_sms_in_each_customers_language() {
    let shop = shop().await;
    let app = &shop.app;
    let (staff, finance, fulfilment) = (
        app.staff(&[Role::Catalog]).await,
        app.staff(&[Role::Finance]).await,
        app.staff(&[Role::Fulfilment]).await,
    );
    let tea = app.tea(&staff, "Dimbula", 95_000, 100).await;
    let people = [("en", "0771234501"), ("si", "0771234502"), ("ta", "0771234503")];
    let mut customers = vec![];
    for (language, phone) in people {
        let (email, token) = customer(app, language, phone).await;
        let order = app
            .checkout(
                &token,
                json!({"lines": [{"variant_id": tea.variant, "quantity": 2}],
                       "delivery": {"recipient": "Customer", "phone": phone, "line1": "12 Temple Road", "city": "Kandy"}}),
            )
            .await
            .expect(201);
        let order = uuid(order.get("id"));
        app.fulfil(order, &finance, &fulfilment).await;
        customers.push((language, email, order));
    }
    // A fourth, who wants no SMS.
    let (quiet_email, quiet_token) = customer(app, "en", "0771234504").await;
    app.api
        .request(reqwest::Method::PUT, "/api/v1/identity/me/preferences")
        .bearer_auth(&quiet_token)
        .json(&json!({"language": "en", "email": true, "sms": false}))
        .send()
        .await
        .expect("saved");
    app.buy_now(&quiet_token, tea.variant, 1).await.expect(201);

    // Per customer: welcome, placed, paid, packed, shipped, delivered by email; placed, paid,
    // shipped, delivered by SMS. The fourth: welcome and placed by email, nothing by SMS.
    let mails = eventually("every email", || Some(messages(&shop.mail)).filter(|m| m.len() >= 20)).await;
    let texts = eventually("every SMS", || Some(shop.sms.received()).filter(|s| s.len() >= 12)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(messages(&shop.mail).len(), 20, "no more, no fewer");
    assert_eq!(shop.sms.received().len(), 12);
    let mut ids: Vec<&str> = mails.iter().map(|m| m.message_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 20, "each email once");

    let placed_subject = [("en", "Your Pola order"), ("si", "ඔබගේ Pola ඇණවුම"), ("ta", "உங்கள் Pola ஆர்டர்")];
    let shipped_sms = [("en", "is on its way"), ("si", "එන ගමන්"), ("ta", "வந்துகொண்டிருக்கிறது")];
    for ((language, email, order), ((_, subject), (_, sms))) in customers.iter().zip(placed_subject.iter().zip(shipped_sms)) {
        let theirs: Vec<&Mail> = mails.iter().filter(|m| &m.to == email).collect();
        assert_eq!(theirs.len(), 6, "{language}: {theirs:#?}");
        let number = pola_orders::model::order_number(*order);
        let placed = theirs
            .iter()
            .find(|m| m.subject.starts_with(subject))
            .expect("the order's email");
        assert!(placed.subject.ends_with(&number), "{language}: {}", placed.subject);
        assert!(
            placed.text.contains("Dimbula (Pure Ceylon, 100) × 2")
                // Rs 1,900 of tea and Rs 450 to Kandy; 18% VAT inside: 2350 × 18 / 118 = 358.47.
                && placed.text.contains("Rs. 450.00")
                && placed.text.contains("Rs. 2,350.00")
                && placed.text.contains("Rs. 358.47"),
            "{language}: {}",
            placed.text
        );
        assert!(placed.text.contains("Kandy"), "{language}: {}", placed.text);
        assert!(
            placed.html.contains("<p>") && placed.html.contains(&number),
            "{language}: an HTML part"
        );
        let phone = format!(
            "+9477123450{}",
            ["en", "si", "ta"].iter().position(|l| l == language).expect("known") + 1
        );
        let their_texts: Vec<&str> = texts
            .iter()
            .filter(|t| t["to"] == phone.as_str())
            .map(|t| t["message"].as_str().expect("text"))
            .collect();
        assert_eq!(their_texts.len(), 4, "{language}: {their_texts:?}");
        assert!(
            their_texts.iter().any(|t| t.contains(sms) && t.contains(&number)),
            "{language}: {their_texts:?}"
        );
        assert!(texts.iter().all(|t| t["sender"] == "POLA"));
    }
    assert_eq!(mails.iter().filter(|m| m.to == quiet_email).count(), 2);
    assert!(!texts.iter().any(|t| t["to"] == "+94771234504"), "no SMS for who wants none");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_mail_server_away_emails_wait_and_arrive_once_it_is_back_and_a_failing_sms_is_parked_and_replayed() {
    let mut shop = shop().await;
    let staff = shop.app.staff(&[Role::Catalog]).await;
    let tea = shop.app.tea(&staff, "Uva", 50_000, 100).await;
    let (email, token) = customer(&shop.app, "en", "0771234511").await;
    eventually("the welcome", || {
        messages(&shop.mail).iter().any(|m| m.to == email).then_some(())
    })
    .await;

    // The mail server dies, and the gateway fails every message.
    tokio::task::block_in_place(|| shop.mail.kill());
    shop.sms.down.store(true, Ordering::Relaxed);
    let order = uuid(shop.app.buy_now(&token, tea.variant, 1).await.expect(201).get("id"));
    tokio::time::sleep(Duration::from_millis(700)).await;
    // The mail server is back before the retries run out; the gateway is not.
    tokio::task::block_in_place(|| shop.mail.restart());
    let number = pola_orders::model::order_number(order);
    eventually("the order's email", || {
        messages(&shop.mail)
            .iter()
            .any(|m| m.subject.ends_with(&number))
            .then_some(())
    })
    .await;

    // Every retry of the SMS failed: parked, with the gateway's answer.
    let parked = loop {
        let (found, _) = parking::visit(&shop.app.config.events, &shop.queue, 10, |_| false)
            .await
            .expect("the parking queue");
        if !found.is_empty() {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].kind, "order.placed");
    assert!(parked[0].error.as_deref().unwrap_or("").contains("503"), "{parked:?}");

    // The gateway is fixed; the SMS is replayed and sent, the email not sent again.
    shop.sms.down.store(false, Ordering::Relaxed);
    let (_, replayed) = parking::visit(&shop.app.config.events, &shop.queue, 10, |_| true)
        .await
        .expect("replayed");
    assert_eq!(replayed, 1);
    eventually("the SMS", || {
        shop.sms
            .received()
            .iter()
            .any(|t| t["message"].as_str().is_some_and(|m| m.contains(&number)))
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        messages(&shop.mail).iter().filter(|m| m.subject.ends_with(&number)).count(),
        1
    );
    assert_eq!(shop.sms.received().len(), 1);
}

#[tokio::test]
async fn a_password_is_reset_once_by_email_link_or_sms_code_and_asking_reveals_nothing() {
    let shop = shop().await;
    let app = &shop.app;
    let (email, _) = customer(app, "en", "0771234521").await;
    let ask = |username: &str, channel: &str| {
        app.api.post(
            "/api/v1/identity/password-reset",
            None,
            json!({"username": username, "channel": channel}),
        )
    };
    let confirm = |body: Value| app.api.post("/api/v1/identity/password-reset/confirm", None, body);
    let login = |password: &str| {
        app.api.post(
            "/api/v1/identity/token",
            None,
            json!({"grant_type": "password", "username": email, "password": password}),
        )
    };

    // An unknown account gets the same answer, and nothing is sent.
    let unknown = ask("nobody@example.lk", "email").await.expect(202);
    let known = ask(&email, "email").await.expect(202);
    assert_eq!(unknown.body, known.body);

    // By email: a link, good once.
    let mail = eventually("the reset email", || {
        messages(&shop.mail)
            .into_iter()
            .find(|m| m.subject == "Reset your Pola password")
    })
    .await;
    assert_eq!(mail.to, email);
    let token = mail
        .text
        .split("token=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a link with a token")
        .to_owned();
    confirm(json!({"token": token, "password": "a brand new passphrase"}))
        .await
        .expect(204);
    confirm(json!({"token": token, "password": "yet another passphrase"}))
        .await
        .expect_problem(422);
    login("kottu roti at midnight").await.expect_problem(400);
    login("a brand new passphrase").await.expect(200);

    // By SMS: a six-digit code to the phone on the account; a wrong code does not work.
    ask("077 123 4521", "sms").await.expect(202);
    let text = eventually("the reset code", || {
        shop.sms
            .received()
            .into_iter()
            .find(|t| t["message"].as_str().is_some_and(|m| m.contains("reset code")))
    })
    .await;
    assert_eq!(text["to"], "+94771234521");
    let message = text["message"].as_str().expect("text");
    let code: String = message.split("code is ").nth(1).expect("a code")[..6].to_owned();
    assert!(code.bytes().all(|b| b.is_ascii_digit()), "{message}");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    confirm(json!({"username": "0771234521", "code": wrong, "password": "sms chosen passphrase"}))
        .await
        .expect_problem(422);
    confirm(json!({"username": "0771234521", "code": code, "password": "sms chosen passphrase"}))
        .await
        .expect(204);
    login("sms chosen passphrase").await.expect(200);

    // Three an hour: the fourth is answered alike and sends nothing.
    ask(&email, "email").await.expect(202);
    eventually("the third reset email", || {
        (messages(&shop.mail)
            .iter()
            .filter(|m| m.subject == "Reset your Pola password")
            .count()
            == 2)
            .then_some(())
    })
    .await;
    ask(&email, "email").await.expect(202);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        messages(&shop.mail)
            .iter()
            .filter(|m| m.subject == "Reset your Pola password")
            .count(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_restart_in_a_burst_of_a_thousand_orders_loses_and_doubles_no_email_or_sms() {
    let broker = Arc::new(tokio::task::spawn_blocking(OwnBroker::start).await.expect("started"));
    let shop = shop_on(broker.url()).await;
    let staff = shop.app.staff(&[Role::Catalog]).await;
    let tea = shop.app.tea(&staff, "Kandy", 20_000, 100_000).await;
    let (_, token) = customer(&shop.app, "si", "0771234531").await;

    let placed = thousand_orders_across_a_broker_restart(&shop.app, tea.variant, Some(&token), &broker).await;

    let subject = "ඔබගේ Pola ඇණවුම";
    eventually("a thousand order emails and SMS", || {
        let mails = messages(&shop.mail).iter().filter(|m| m.subject.starts_with(subject)).count();
        let texts = shop.sms.received().len();
        (mails >= 1000 && texts >= 1000).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mails = messages(&shop.mail);
    let texts = shop.sms.received();
    for order in &placed {
        let number = pola_orders::model::order_number(*order);
        let emailed = mails
            .iter()
            .filter(|m| m.subject.starts_with(subject) && m.subject.ends_with(&number))
            .count();
        let texted = texts
            .iter()
            .filter(|t| {
                t["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(&number) && m.contains("ලැබුණා"))
            })
            .count();
        assert_eq!((emailed, texted), (1, 1), "order {number}: one email and one SMS");
    }
    assert_eq!(mails.iter().filter(|m| m.subject.starts_with(subject)).count(), 1000);
    assert_eq!(texts.len(), 1000);
    drop(broker);
}

/// Done when, issue 13: the customer's journey for each way to pay, from checkout to delivered,
/// with the right email and SMS at each step (through the edge and its WAF in `make test`'s
/// second run). PayHere through payhere-sim's checkout page, in English; cash on delivery, in
/// Sinhala; a bank transfer finance confirms, in Tamil.
#[tokio::test]
async fn each_way_to_pay_goes_from_checkout_to_delivered_with_a_message_at_each_step() {
    use pola_payments::testing::{KoombiyoApi, MerchantApi, Simulator};
    let sim = Simulator::started("1221149", "NDA0MjQ0ODQ3OTIxNTk1NDgzNjQ2ODEyNTg1MDg3MjEwNTg1").await;
    let merchant = MerchantApi::start("4OVx33RVOPg4DzdZUzq4A94D2", "8n4VCj25MXp4JLDFyvsE9h4a8").await;
    let courier = KoombiyoApi::start("koombiyo-test-key").await;
    let shop = shop_with(test_amqp_url(), |config| {
        crate::payments::take_payments(config, &sim, &merchant, &courier);
        config.payments.jobs_interval_secs = 3600;
    })
    .await;
    let app = &shop.app;
    let (catalog, finance, fulfilment) = (
        app.staff(&[Role::Catalog]).await,
        app.staff(&[Role::Finance]).await,
        app.staff(&[Role::Fulfilment]).await,
    );
    let tea = app.tea(&catalog, "Dimbula", 95_000, 100).await;
    let mut journeys = vec![];
    for (language, phone, method) in [
        ("en", "0771234521", "payhere"),
        ("si", "0771234522", "cod"),
        ("ta", "0771234523", "bank-transfer"),
    ] {
        let (email, token) = customer(app, language, phone).await;
        let order = app
            .checkout(
                &token,
                json!({"lines": [{"variant_id": tea.variant, "quantity": 2}], "cash_on_delivery": method == "cod",
                       "delivery": {"recipient": format!("Customer {language}"), "phone": phone, "line1": "12 Temple Road", "city": "Kandy"}}),
            )
            .await
            .expect(201);
        let order_total = order.get("total")["amount_minor"].clone();
        let order = uuid(order.get("id"));
        let pay = format!("/api/v1/payments/orders/{order}/{method}");
        let chosen = app.api.post(&pay, Some(&token), json!({})).await.expect(200);
        match method {
            "payhere" => {
                let action = chosen.get("action").as_str().expect("a URL").to_owned();
                sim.pay(&action, chosen.get("fields"), "success").await.expect("paid");
            }
            "bank-transfer" => {
                app.api
                    .post(
                        &format!("/api/v1/payments/staff/orders/{order}/bank-transfer"),
                        Some(&finance),
                        json!({"amount_minor": order_total, "slip_reference": chosen.get("reference")}),
                    )
                    .await
                    .expect(200);
            }
            _ => assert_eq!(chosen.get("order_status"), "confirmed"),
        }
        let step = |name: &str| format!("/api/v1/fulfilment/orders/{order}/{name}");
        app.api.post(&step("pack"), Some(&fulfilment), json!({})).await.expect(200);
        let ship = match method {
            "payhere" => json!({"courier": "koombiyo"}),
            _ => json!({"courier": "manual", "waybill": format!("DX-{phone}")}),
        };
        let shipped = app.api.post(&step("ship"), Some(&fulfilment), ship).await.expect(200);
        let waybill = shipped.get("shipment")["waybill"].as_str().expect("a waybill").to_owned();
        if method == "payhere" {
            courier.update(&waybill, "6", "Delivered");
            assert_eq!(app.payments.track_parcels().await.expect("tracked"), 1);
        } else {
            app.api
                .post(&step("delivered"), Some(&fulfilment), json!({}))
                .await
                .expect(200);
        }
        let mine = app
            .api
            .get(&format!("/api/v1/orders/{order}"), Some(&token))
            .await
            .expect(200);
        assert_eq!(mine.get("status"), "delivered", "{method}");
        journeys.push((language, method, email, format!("+94{}", &phone[1..]), order, waybill));
    }

    // Each: welcome, placed, paid or confirmed, packed, shipped, delivered by email; placed,
    // paid or confirmed, shipped, delivered by SMS.
    let mails = eventually("every email", || Some(messages(&shop.mail)).filter(|m| m.len() >= 18)).await;
    let texts = eventually("every SMS", || Some(shop.sms.received()).filter(|s| s.len() >= 12)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(messages(&shop.mail).len(), 18, "no more, no fewer");
    assert_eq!(shop.sms.received().len(), 12);
    let shipped_words = [("en", "is on its way"), ("si", "එන ගමන්"), ("ta", "வந்துகொண்டிருக்கிறது")];
    for ((language, method, email, phone, order, waybill), (_, shipped)) in journeys.iter().zip(shipped_words) {
        let number = pola_orders::model::order_number(*order);
        let theirs: Vec<&Mail> = mails.iter().filter(|m| &m.to == email).collect();
        assert_eq!(theirs.len(), 6, "{method}: {theirs:#?}");
        let shipped_mail = theirs
            .iter()
            .find(|m| m.subject.contains(&number) && m.text.contains(waybill.as_str()))
            .unwrap_or_else(|| panic!("{method}: the shipping email names the waybill: {theirs:#?}"));
        let their_texts: Vec<&str> = texts
            .iter()
            .filter(|t| t["to"] == phone.as_str())
            .map(|t| t["message"].as_str().expect("text"))
            .collect();
        assert_eq!(their_texts.len(), 4, "{method}: {their_texts:?}");
        let on_its_way = their_texts
            .iter()
            .find(|t| t.contains(shipped))
            .unwrap_or_else(|| panic!("{language}: {their_texts:?}"));
        match *method {
            "payhere" => {
                let link = format!("https://koombiyodelivery.lk/Track/track_id?id={waybill}");
                assert!(
                    on_its_way.contains(&link) && shipped_mail.text.contains(&link),
                    "{on_its_way}"
                );
            }
            // Rs 1,900 of tea, Rs 450 to Kandy and Rs 100 for the cash.
            "cod" => assert!(on_its_way.contains("2,450.00"), "pay on delivery: {on_its_way}"),
            _ => assert!(!on_its_way.contains("2,350.00"), "paid already: {on_its_way}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alert_reaches_the_on_call_staff_by_email_and_sms_once_when_it_fires_and_once_when_it_resolves() {
    let shop = shop_with(test_amqp_url(), |c| {
        c.notifications.oncall_emails = vec!["oncall@pola.lk".into()];
        c.notifications.oncall_phones = vec!["+94771234599".into()];
    })
    .await;
    let config = &shop.app.config;
    let mut board = pola::alerts::Board::default();
    let replica_behind = |lag: &str| {
        pola::alerts::Finding::Holds(vec![pola::alerts::Alert {
            key: "replication:dr".into(),
            title: "replica at dr is 45 s behind".into(),
            detail: format!("replication lag {lag} s (threshold 30 s)"),
        }])
    };
    // Checked three times while it holds, then twice after: one message each way.
    for finding in [replica_behind("45"), replica_behind("50"), replica_behind("55")] {
        for change in board.update("replication", finding, chrono::Utc::now()) {
            pola::alerts::tell(config, &change).await;
        }
    }
    for _ in 0..2 {
        for change in board.update("replication", pola::alerts::Finding::Holds(vec![]), chrono::Utc::now()) {
            pola::alerts::tell(config, &change).await;
        }
    }
    eventually("the alert and its resolution by email", || {
        let mails: Vec<Mail> = shop.mails().into_iter().filter(|m| m.to == "oncall@pola.lk").collect();
        (mails.len() >= 2).then_some(mails)
    })
    .await;
    let texts = eventually("the alert and its resolution by SMS", || {
        let texts: Vec<Value> = shop
            .sms
            .received()
            .into_iter()
            .filter(|s| s["to"] == "+94771234599")
            .collect();
        (texts.len() >= 2).then_some(texts)
    })
    .await;
    // Nothing more arrives.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mails: Vec<Mail> = shop.mails().into_iter().filter(|m| m.to == "oncall@pola.lk").collect();
    assert_eq!(mails.len(), 2, "{mails:#?}");
    assert_eq!(shop.sms.received().iter().filter(|s| s["to"] == "+94771234599").count(), 2);
    // Each event is handled on its own: the two may arrive in either order.
    let fired = mails
        .iter()
        .find(|m| m.subject == "ALERT: replica at dr is 45 s behind")
        .expect("the alert");
    assert!(fired.text.contains("replication lag 45 s"), "{}", fired.text);
    assert!(
        mails.iter().any(|m| m.subject == "Resolved: replica at dr is 45 s behind"),
        "{mails:#?}"
    );
    let said: Vec<&str> = texts.iter().filter_map(|t| t["message"].as_str()).collect();
    assert!(said.contains(&"Pola ALERT: replica at dr is 45 s behind"), "{said:?}");
    assert!(said.contains(&"Pola resolved: replica at dr is 45 s behind"), "{said:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_managers_get_a_days_summary_once_with_the_figures_of_its_orders_and_nothing_personal() {
    let shop = shop_with(test_amqp_url(), |c| {
        c.notifications.manager_emails = vec!["manager@pola.lk".into()];
        // The test's database is a primary: no replica to read.
        c.reporting.allow_primary = true;
    })
    .await;
    let staff = shop.app.staff(&[Role::Catalog]).await;
    let tea = shop.app.tea(&staff, "Dimbula", 87_500, 100).await;
    let (email, token) = customer(&shop.app, "en", "0771234577").await;
    let mut totals = 0;
    for quantity in [1, 3] {
        let request = json!({"lines": [{"variant_id": tea.variant, "quantity": quantity}], "cash_on_delivery": true,
            "delivery": {"recipient": "Nimal Perera", "phone": "077 123 4567", "line1": "12 Galle Road", "city": "Colombo 03"}});
        let order = shop.app.checkout(&token, request).await.expect(201);
        totals += order.get("total")["amount_minor"].as_i64().expect("a total");
        shop.app.confirm_cod(&token, uuid(order.get("id"))).await;
    }
    // One left unpaid is not a sale.
    shop.app.buy_now(&token, tea.variant, 2).await.expect(201);

    // Sent twice (a retry, or a worker on each site): one email.
    let today = chrono::Utc::now().with_timezone(&pola_core::clock::colombo()).date_naive();
    for _ in 0..2 {
        pola::summary::send(&shop.app.config, today).await.expect("sent");
    }
    eventually("the summary", || {
        messages(&shop.mail).iter().any(|m| m.to == "manager@pola.lk").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mails: Vec<Mail> = messages(&shop.mail)
        .into_iter()
        .filter(|m| m.to == "manager@pola.lk")
        .collect();
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let summary = &mails[0];
    assert_eq!(summary.subject, format!("Pola daily summary for {today}"));
    let revenue = format!("Revenue: Rs. {}", pola_core::money::grouped(totals));
    for line in ["Orders: 2", revenue.as_str(), "Low stock", "Cash on delivery", "Could not"] {
        assert_eq!(
            summary.text.contains(line),
            line != "Could not",
            "`{line}` in the summary:\n{}",
            summary.text
        );
    }
    for personal in [email.as_str(), "771234577", "Customer en", "Nimal", "Galle Road", "771234567"] {
        assert!(!summary.text.contains(personal), "{personal} in {}", summary.text);
    }
}

//! The support desk: customers' tickets about their own orders, staff replies and notes, the
//! states, sealed text, and deadlines on a clock the test moves.

use std::sync::Arc;

use chrono::Duration;
use pola_core::{auth::Role, clock::ManualClock};
use pola_support::model::{Category, NewTicket, State};
use serde_json::json;
use uuid::Uuid;

use crate::harness::{TestApp, spawn_app, uuid};

/// A customer's order, placed and waiting for payment.
async fn an_order(app: &TestApp, token: &str) -> Uuid {
    let catalog = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&catalog, "Kandy", 90_000, 5).await;
    uuid(app.buy_for_delivery(token, tea.variant, 1).await.expect(201).get("id"))
}

async fn outbox(app: &TestApp, kind: &str) -> Vec<serde_json::Value> {
    let rows: Vec<sqlx::types::Json<serde_json::Value>> =
        sqlx::query_scalar("SELECT data FROM outbox WHERE type = ? ORDER BY occurred_at, id")
            .bind(kind)
            .fetch_all(app.support.pool())
            .await
            .expect("the outbox");
    rows.into_iter().map(|r| r.0).collect()
}

#[tokio::test]
async fn a_customer_writes_about_their_order_and_support_answers_with_notes_kept_inside() {
    let app = spawn_app().await;
    let kamala = app.shopper().await;
    let nimal = app.shopper().await;
    let order = an_order(&app, &kamala.access).await;
    let open = |token: String, body: serde_json::Value| {
        let app = &app;
        async move { app.api.post("/api/v1/support/tickets", Some(&token), body).await }
    };
    let ticket = json!({"category": "late_delivery", "order_id": order, "subject": "Where is my tea?",
                        "message": "Ordered a week ago, still nothing. I live at 12 Galle Road."});
    // Another customer's order is refused; a delivery question without an order too.
    open(nimal.access.clone(), ticket.clone()).await.expect_problem(422);
    open(
        kamala.access.clone(),
        json!({"category": "late_delivery", "subject": "x", "message": "y"}),
    )
    .await
    .expect_problem(422);
    let opened = open(kamala.access.clone(), ticket).await.expect(201);
    let id = uuid(opened.get("id"));
    assert_eq!(opened.get("state"), "new");
    assert!(opened.get("number").as_str().expect("a number").starts_with("T-"));
    app.api
        .get(&format!("/api/v1/support/tickets/{id}"), Some(&nimal.access))
        .await
        .expect_problem(404);

    // Sealed: the text is nowhere in the database in clear.
    let dump: Vec<Vec<u8>> = sqlx::query_scalar("SELECT body_sealed FROM ticket_messages")
        .fetch_all(app.support.pool())
        .await
        .expect("rows");
    assert!(dump.iter().all(|b| !String::from_utf8_lossy(b).contains("Galle")));

    let support = app.staff(&[Role::Support]).await;
    let fulfilment = app.staff(&[Role::Fulfilment]).await;
    let desk = app
        .api
        .get("/api/v1/support/staff/tickets?state=new", Some(&support))
        .await
        .expect(200);
    assert!(
        desk.body
            .as_array()
            .expect("tickets")
            .iter()
            .any(|t| t["id"] == id.to_string())
    );
    app.api
        .get("/api/v1/support/staff/tickets", Some(&fulfilment))
        .await
        .expect_problem(403);
    let reply = |body: serde_json::Value| {
        let (app, support) = (&app, support.clone());
        async move {
            app.api
                .post(&format!("/api/v1/support/staff/tickets/{id}/messages"), Some(&support), body)
                .await
        }
    };
    reply(json!({"message": "Courier says Tuesday; customer sounds upset.", "internal": true}))
        .await
        .expect(200);
    assert!(
        outbox(&app, "support.replied").await.is_empty(),
        "a note tells the customer nothing"
    );
    let answered = reply(json!({"message": "Sorry for the wait: it arrives on Tuesday."}))
        .await
        .expect(200);
    assert_eq!(answered.get("state"), "open");
    assert_eq!(answered.get("deadlines")["first_response_due"], serde_json::Value::Null);
    let told = outbox(&app, "support.replied").await;
    assert_eq!(told.len(), 1);
    assert_eq!(told[0]["ticket_id"], id.to_string());
    assert!(!told[0].to_string().contains("Tuesday"), "no text in the event: {}", told[0]);

    // The customer sees the answer, not the note.
    let mine = app
        .api
        .get(&format!("/api/v1/support/tickets/{id}"), Some(&kamala.access))
        .await
        .expect(200);
    let bodies: Vec<&str> = mine
        .get("messages")
        .as_array()
        .expect("a thread")
        .iter()
        .map(|m| m["body"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert!(bodies.iter().all(|b| !b.contains("upset")), "{bodies:?}");

    // Waiting, answered, resolved, reopened by the customer, resolved and closed for good.
    let state = |to: &str| {
        let (app, support) = (&app, support.clone());
        let to = to.to_owned();
        async move {
            app.api
                .post(
                    &format!("/api/v1/support/staff/tickets/{id}/state"),
                    Some(&support),
                    json!({"state": to}),
                )
                .await
        }
    };
    state("waiting").await.expect(200);
    let customer_says = |text: &str| {
        let (app, token) = (&app, kamala.access.clone());
        let text = text.to_owned();
        async move {
            app.api
                .post(
                    &format!("/api/v1/support/tickets/{id}/messages"),
                    Some(&token),
                    json!({"message": text}),
                )
                .await
        }
    };
    assert_eq!(customer_says("Tuesday is fine.").await.expect(200).get("state"), "open");
    state("resolved").await.expect(200);
    assert_eq!(customer_says("It did not come.").await.expect(200).get("state"), "open");
    state("closed").await.expect_problem(409);
    state("resolved").await.expect(200);
    state("closed").await.expect(200);
    customer_says("Hello?").await.expect_problem(409);

    let admin = app.staff(&[Role::Admin]).await;
    let trail = app
        .api
        .get(&format!("/api/v1/audit?entity=ticket&entity_id={id}"), Some(&admin))
        .await
        .expect(200);
    let actions: Vec<&str> = trail
        .body
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        actions,
        [
            "ticket.state",
            "ticket.state",
            "ticket.state",
            "ticket.state",
            "ticket.reply",
            "ticket.note"
        ],
        "newest first"
    );
}

#[tokio::test]
async fn deadlines_stop_while_waiting_on_the_customer_and_each_is_reported_overdue_once() {
    let app = spawn_app().await;
    let start = chrono::Utc::now();
    let clock = Arc::new(ManualClock::at(start));
    let desk = app.support.with_clock(clock.clone());
    let customer = app.shopper().await;
    let me = uuid(
        app.api
            .get("/api/v1/identity/me", Some(&customer.access))
            .await
            .expect(200)
            .get("id"),
    );
    let ticket = desk
        .open(
            me,
            NewTicket {
                category: Category::PaymentTakenNoOrder,
                order_id: None,
                subject: "Paid but no order".into(),
                message: "My card was charged Rs. 4,500 at 10:02 but I see no order.".into(),
            },
        )
        .await
        .expect("opened");
    let overdue = || async { outbox(&app, "support.overdue").await };
    // One hour to answer money taken without an order.
    clock.advance(Duration::minutes(59));
    assert_eq!(desk.raise_overdue().await.expect("checked"), 0);
    clock.advance(Duration::minutes(2));
    assert_eq!(desk.raise_overdue().await.expect("checked"), 1);
    assert_eq!(desk.raise_overdue().await.expect("checked"), 0, "told once");
    let told = overdue().await;
    assert_eq!(told.len(), 1);
    assert_eq!(told[0]["deadline"], "first_response");
    assert!(!told[0].to_string().contains("4,500"), "no text in the event");

    let support = pola_core::auth::Staff {
        id: Uuid::now_v7(),
        roles: vec![Role::Support],
        client_ip: "127.0.0.1".into(),
    };
    desk.staff_reply(&support, ticket.id, "Which card, and the last four digits?", false)
        .await
        .expect("answered");
    desk.change_state(&support, ticket.id, State::Waiting).await.expect("waiting");
    // A week waiting on the customer: the 8-hour resolution clock stands still.
    clock.advance(Duration::days(7));
    assert_eq!(desk.raise_overdue().await.expect("checked"), 0);
    let waiting = desk.staff_ticket(&support, ticket.id).await.expect("read");
    assert!(waiting.deadlines.paused && !waiting.deadlines.overdue);
    desk.customer_reply(me, ticket.id, "Visa ending 4242.")
        .await
        .expect("resumed");
    // 8 h from the start, less the 1 h 1 min before the wait: 6 h 59 min of clock are left.
    clock.advance(Duration::hours(6) + Duration::minutes(58));
    assert_eq!(desk.raise_overdue().await.expect("checked"), 0);
    clock.advance(Duration::minutes(2));
    assert_eq!(desk.raise_overdue().await.expect("checked"), 1);
    assert_eq!(overdue().await.last().expect("told")["deadline"], "resolution");

    // Resolved, then reopened by the customer: the lead hears again when it runs over again.
    desk.change_state(&support, ticket.id, State::Resolved)
        .await
        .expect("resolved");
    clock.advance(Duration::days(2));
    assert_eq!(desk.raise_overdue().await.expect("checked"), 0, "resolved: nothing runs");
    desk.customer_reply(me, ticket.id, "The money is still not back.")
        .await
        .expect("reopened");
    assert_eq!(
        desk.raise_overdue().await.expect("checked"),
        1,
        "its resolution is overdue again"
    );
    assert_eq!(desk.raise_overdue().await.expect("checked"), 0);
}

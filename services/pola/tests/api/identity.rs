//! Accounts, tokens and realms.

use pola_core::auth::Role;
use serde_json::json;

use crate::harness::{SendReply, email, spawn_app};

#[tokio::test]
async fn a_refresh_token_works_once_and_its_reuse_revokes_the_whole_sign_in() {
    let app = spawn_app().await;
    let shopper = app.shopper().await;
    let refresh = |token: String| {
        let api = app.api.clone();
        async move {
            api.post(
                "/api/v1/identity/token",
                None,
                json!({"grant_type": "refresh_token", "refresh_token": token}),
            )
            .await
        }
    };
    let second = refresh(shopper.refresh.clone()).await.expect(200);
    let second = second.get("refresh_token").as_str().expect("token").to_owned();
    assert_ne!(second, shopper.refresh);

    // Someone replays the first token: refused, and the family is revoked.
    let replay = refresh(shopper.refresh.clone()).await.expect_problem(400);
    assert_eq!(replay.body["error"], "invalid_grant");
    refresh(second).await.expect_problem(400);

    // A fresh password login still works.
    app.login(&shopper.email, &shopper.password).await;
}

#[tokio::test]
async fn wrong_passwords_and_bad_grants_get_oauth_errors() {
    let app = spawn_app().await;
    let shopper = app.shopper().await;
    let cases = [
        (
            json!({"grant_type": "password", "username": shopper.email, "password": "not the password"}),
            "invalid_grant",
        ),
        (
            json!({"grant_type": "password", "username": "nobody@example.lk", "password": "whatever it is"}),
            "invalid_grant",
        ),
        (
            json!({"grant_type": "password", "username": shopper.email}),
            "invalid_request",
        ),
        (json!({"grant_type": "client_credentials"}), "unsupported_grant_type"),
        (
            json!({"grant_type": "refresh_token", "refresh_token": "rt_forged"}),
            "invalid_grant",
        ),
    ];
    for (body, error) in cases {
        let reply = app
            .api
            .post("/api/v1/identity/token", None, body.clone())
            .await
            .expect_problem(400);
        assert_eq!(reply.body["error"], error, "{body}");
    }
}

#[tokio::test]
async fn an_email_registers_once_whatever_its_case() {
    let app = spawn_app().await;
    let address = email();
    let body = |e: String| json!({"email": e, "password": "a long passphrase", "name": "Kamala"});
    app.api
        .post("/api/v1/identity/register", None, body(address.clone()))
        .await
        .expect(201);
    let again = app
        .api
        .post("/api/v1/identity/register", None, body(address.to_uppercase()))
        .await
        .expect_problem(409);
    assert_eq!(again.body["type"], "https://pola.lk/problems/email-taken");
}

#[tokio::test]
async fn invalid_registrations_list_every_bad_field_and_store_nothing() {
    let app = spawn_app().await;
    let before = app.count(app.identity.pool(), "customers").await;
    let reply = app
        .api
        .post(
            "/api/v1/identity/register",
            None,
            json!({"email": "not-an-email", "password": "short", "name": "", "phone": "12345"}),
        )
        .await
        .expect_problem(422);
    let fields: Vec<&str> = reply
        .get("errors")
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    assert_eq!(fields, ["email", "password", "name", "phone"]);
    assert_eq!(app.count(app.identity.pool(), "customers").await, before);
}

#[tokio::test]
async fn customers_and_staff_are_separate_realms_and_roles_are_enforced() {
    let app = spawn_app().await;
    let shopper = app.shopper().await;
    let support = app.staff(&[Role::Support]).await;
    let variant = uuid::Uuid::now_v7();
    let body = json!({"location": "colombo", "on_hand": 5, "reason": "count"});
    let path = format!("/api/v1/inventory/variants/{variant}/stock");
    // A customer's token on a staff route: from where customers are, there is no such route;
    // through the staff entrance, the token is of the wrong realm.
    app.api
        .put(&path, Some(&shopper.access), body.clone())
        .await
        .expect_problem(404);
    app.ops
        .request(reqwest::Method::PUT, &path)
        .bearer_auth(&shopper.access)
        .header(pola_core::auth::LISTENER_HEADER, "staff")
        .json(&body)
        .send_reply()
        .await
        .expect_problem(401);
    app.api.put(&path, Some(&support), body.clone()).await.expect_problem(403);
    app.api.get("/api/v1/identity/me", Some(&support)).await.expect_problem(401);
    // A customer's password does not open the staff realm.
    app.api
        .post(
            "/api/v1/identity/staff/token",
            None,
            json!({"grant_type": "password", "username": shopper.email, "password": shopper.password}),
        )
        .await
        .expect_problem(400);
}

#[tokio::test]
async fn the_jwks_publishes_the_key_that_signs_access_tokens() {
    let app = spawn_app().await;
    let shopper = app.shopper().await;
    let jwks = app.api.get("/api/v1/identity/jwks.json", None).await.expect(200);
    let key = &jwks.get("keys")[0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    let header = jsonwebtoken::decode_header(&shopper.access).expect("a JWT");
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    assert_eq!(format!("{:?}", header.alg), "EdDSA");
}

#[tokio::test]
async fn a_customers_personal_data_is_sealed_in_the_database_and_opens_for_them() {
    let app = spawn_app().await;
    let (email, name, phone) = (email(), "Kumari Jayawardena", "+94 71 555 0199");
    let reply = app
        .api
        .post(
            "/api/v1/identity/register",
            None,
            json!({"email": email, "password": "a long passphrase", "name": name, "phone": phone}),
        )
        .await
        .expect(201);
    assert_eq!(reply.get("phone"), "+94715550199");

    let row = sqlx::query("SELECT * FROM customers")
        .fetch_one(app.identity.pool())
        .await
        .expect("a row");
    let mut stored = vec![];
    for i in 0..sqlx::Row::len(&row) {
        // Every column as its raw bytes, whatever its type, so that a clear column added later is
        // caught too.
        let bytes: Option<Vec<u8>> = sqlx::Row::try_get_unchecked(&row, i).expect("every column reads as bytes");
        stored.extend(bytes.unwrap_or_default());
        stored.push(0);
    }
    let stored_lower = String::from_utf8_lossy(&stored).to_lowercase();
    for secret in [email.as_str(), name, "+94715550199", "715550199", "kumari", "jayawardena"] {
        let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
        assert!(!stored_lower.contains(&secret.to_lowercase()), "{secret} is stored in clear");
        assert!(!stored_lower.contains(&hex), "{secret} is stored as hex");
    }

    let tokens = app.login(&email, "a long passphrase").await;
    let me = app
        .api
        .get("/api/v1/identity/me", tokens.get("access_token").as_str())
        .await
        .expect(200);
    assert_eq!(
        (me.get("email"), me.get("name"), me.get("phone")),
        (&json!(email), &json!(name), &json!("+94715550199"))
    );
    for spelling in ["0715550199", "+94 71 555 0199", "94715550199"] {
        app.login(spelling, "a long passphrase").await;
    }
}

//! Staff sign-in with two factors, back-office sessions, staff accounts and the audit trail.

use pola_core::{
    auth::Role,
    testing::{Reply, SendReply},
};
use pola_identity::model::staff::{SESSION_HEADER, TotpSecret};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{STAFF_PASSWORD, TestApp, spawn_app, spawn_app_with};

/// An enrolled staff member with a fresh email, and their authenticator.
async fn enrolled(app: &TestApp, roles: &[Role]) -> (String, TotpSecret) {
    let email = format!("desk-{}@pola.lk", uuid::Uuid::now_v7().simple());
    app.identity
        .create_staff(&email, "Desk Staff", roles, STAFF_PASSWORD.into())
        .await
        .expect("created");
    let secret = app.enrol(&email).await;
    (email, secret)
}

fn now_code(secret: &TotpSecret) -> String {
    secret.code_at(chrono::Utc::now())
}

async fn sign_in(app: &TestApp, email: &str, password: &str, code: Option<&str>) -> Reply {
    app.api
        .post(
            "/api/v1/identity/staff/sessions",
            None,
            json!({"email": email, "password": password, "code": code}),
        )
        .await
}

async fn with_session(app: &TestApp, method: Method, path: &str, session: &str) -> Reply {
    app.api
        .request_as(method, path, None)
        .header(SESSION_HEADER, session)
        .json(&json!({}))
        .send_reply()
        .await
}

async fn token_of(app: &TestApp, session: &str) -> Reply {
    with_session(app, Method::POST, "/api/v1/identity/staff/sessions/current/token", session).await
}

#[tokio::test]
async fn a_session_needs_password_and_a_fresh_code_and_ends_at_sign_out() {
    let app = spawn_app().await;
    let (email, secret) = enrolled(&app, &[Role::Fulfilment]).await;
    // The previous step's code was used to enrol; the current one is fresh.
    sign_in(&app, &email, STAFF_PASSWORD, None).await.expect_problem(401);
    sign_in(&app, &email, STAFF_PASSWORD, Some("000000"))
        .await
        .expect_problem(401);
    sign_in(&app, &email, "not the password", Some(&now_code(&secret)))
        .await
        .expect_problem(401);
    let code = now_code(&secret);
    let started = sign_in(&app, &email, STAFF_PASSWORD, Some(&code)).await.expect(201);
    assert_eq!(started.get("state"), "active");
    let session = started.get("session").as_str().expect("an id").to_owned();
    // The same code again is refused, even with the right password.
    sign_in(&app, &email, STAFF_PASSWORD, Some(&code)).await.expect_problem(401);

    let live = token_of(&app, &session).await.expect(200);
    assert_eq!(live.get("staff")["email"], email.as_str());
    assert_eq!(live.get("staff")["roles"], json!(["fulfilment"]));
    let token = live.get("access_token").as_str().expect("a token").to_owned();
    app.api
        .get("/api/v1/payments/staff/exceptions", Some(&token))
        .await
        .expect_problem(403);

    with_session(&app, Method::DELETE, "/api/v1/identity/staff/sessions/current", &session)
        .await
        .expect(204);
    // The session id replayed after sign-out opens nothing.
    token_of(&app, &session).await.expect_problem(401);
    token_of(&app, "ss_made-up").await.expect_problem(401);
    // Not through the staff listener, the sign-in is not there at all.
    app.api
        .request(Method::POST, "/api/v1/identity/staff/sessions")
        .json(&json!({"email": email, "password": STAFF_PASSWORD}))
        .send()
        .await
        .map(|r| assert_eq!(r.status(), 404))
        .expect("an answer");
}

#[tokio::test]
async fn a_session_times_out_when_idle_and_after_its_working_day() {
    let app = spawn_app().await;
    let (email, secret) = enrolled(&app, &[Role::Support]).await;
    let started = sign_in(&app, &email, STAFF_PASSWORD, Some(&now_code(&secret)))
        .await
        .expect(201);
    let session = started.get("session").as_str().expect("an id").to_owned();
    token_of(&app, &session).await.expect(200);
    // The clock, moved by ageing the session: 29 idle minutes keep it, 31 end it.
    let age = |column: &'static str, minutes: i64| {
        let pool = app.identity.pool().clone();
        async move {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE staff_sessions SET {column} = {column} - INTERVAL {minutes} MINUTE"
            )))
            .execute(&pool)
            .await
            .expect("aged");
        }
    };
    age("last_seen_at", 29).await;
    token_of(&app, &session).await.expect(200);
    age("last_seen_at", 31).await;
    token_of(&app, &session).await.expect_problem(401);

    // A session in use all day still ends ten hours after it began.
    let (email, secret) = enrolled(&app, &[Role::Support]).await;
    let started = sign_in(&app, &email, STAFF_PASSWORD, Some(&now_code(&secret)))
        .await
        .expect(201);
    let session = started.get("session").as_str().expect("an id").to_owned();
    age("created_at", 9 * 60 + 59).await;
    token_of(&app, &session).await.expect(200);
    age("created_at", 2).await;
    token_of(&app, &session).await.expect_problem(401);
}

#[tokio::test]
async fn an_account_locks_after_five_failures_until_an_admin_lifts_it() {
    let app = spawn_app().await;
    let admin = app.staff(&[Role::Admin]).await;
    let (email, secret) = enrolled(&app, &[Role::Catalog]).await;
    for _ in 0..5 {
        sign_in(&app, &email, STAFF_PASSWORD, Some("123456"))
            .await
            .expect_problem(401);
    }
    // Locked: even everything right is refused, with the same answer.
    let code = now_code(&secret);
    let refused = sign_in(&app, &email, STAFF_PASSWORD, Some(&code)).await.expect_problem(401);
    let wrong = sign_in(&app, "nobody@pola.lk", STAFF_PASSWORD, Some("123456"))
        .await
        .expect_problem(401);
    assert_eq!(refused.body["detail"], wrong.body["detail"]);
    let id = app
        .api
        .get("/api/v1/identity/staff/accounts", Some(&admin))
        .await
        .expect(200)
        .body
        .as_array()
        .expect("accounts")
        .iter()
        .find(|a| a["email"] == email.as_str())
        .map(|a| a["id"].as_str().expect("an id").to_owned())
        .expect("listed");
    app.api
        .patch(&format!("/api/v1/identity/staff/accounts/{id}"), Some(&admin), json!({}))
        .await
        .expect(200);
    // The code refused while locked was not used up.
    sign_in(&app, &email, STAFF_PASSWORD, Some(&code)).await.expect(201);
    // A recovery code opens it too, once.
    let (_, codes) = enrol_again(&app, &admin, &id, &email).await;
    let recovery = codes[0].as_str().expect("a code").to_uppercase();
    sign_in(&app, &email, STAFF_PASSWORD, Some(&recovery)).await.expect(201);
    sign_in(&app, &email, STAFF_PASSWORD, Some(&recovery))
        .await
        .expect_problem(401);
}

/// An admin resets `id`'s two factors; they sign in (enrolling) and enrol a new app.
async fn enrol_again(app: &TestApp, admin: &str, id: &str, email: &str) -> (TotpSecret, Vec<Value>) {
    let reset = app
        .api
        .post(
            &format!("/api/v1/identity/staff/accounts/{id}/reset-two-factor"),
            Some(admin),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(reset.get("enrolled"), false);
    let started = sign_in(app, email, STAFF_PASSWORD, None).await.expect(201);
    assert_eq!(started.get("state"), "enrolling");
    let session = started.get("session").as_str().expect("an id").to_owned();
    let enrolling = token_of(app, &session).await.expect(200);
    assert!(enrolling.get("access_token").is_null(), "an enrolling session gets no token");
    let offered = with_session(app, Method::POST, "/api/v1/identity/staff/sessions/current/totp", &session)
        .await
        .expect(200);
    assert!(
        offered
            .get("otpauth_uri")
            .as_str()
            .expect("a uri")
            .starts_with("otpauth://totp/")
    );
    let secret = TotpSecret::from_base32(offered.get("secret").as_str().expect("base32")).expect("a secret");
    let confirm = |code: String| {
        app.api
            .request_as(Method::POST, "/api/v1/identity/staff/sessions/current/totp/confirm", None)
            .header(SESSION_HEADER, &session)
            .json(&json!({"code": code}))
            .send_reply()
    };
    confirm("000000".into()).await.expect_problem(422);
    let confirmed = confirm(now_code(&secret)).await.expect(200);
    let codes = confirmed.get("recovery_codes").as_array().expect("codes").clone();
    assert_eq!(codes.len(), 10);
    assert!(token_of(app, &session).await.expect(200).get("access_token").is_string());
    (secret, codes)
}

#[tokio::test]
async fn admins_manage_staff_accounts_and_every_change_is_in_the_append_only_trail() {
    let app = spawn_app().await;
    let admin = app.staff(&[Role::Admin]).await;
    let catalog = app.staff(&[Role::Catalog]).await;
    let new = json!({"email": "Packer@Pola.lk", "name": "Ruwan Packer", "roles": ["fulfilment"], "password": "first password 1"});
    app.api
        .post("/api/v1/identity/staff/accounts", Some(&catalog), new.clone())
        .await
        .expect_problem(403);
    let created = app
        .api
        .post("/api/v1/identity/staff/accounts", Some(&admin), new.clone())
        .await
        .expect(201);
    assert_eq!(created.get("email"), "packer@pola.lk");
    assert_eq!(created.get("enrolled"), false);
    app.api
        .post("/api/v1/identity/staff/accounts", Some(&admin), new)
        .await
        .expect_problem(409);
    let id = created.get("id").as_str().expect("an id").to_owned();
    // Without an authenticator, the API grant is refused; the back-office makes them enrol.
    app.api
        .post(
            "/api/v1/identity/staff/token",
            None,
            json!({"grant_type": "password", "username": "packer@pola.lk", "password": "first password 1"}),
        )
        .await
        .expect_problem(400);
    let started = sign_in(&app, "packer@pola.lk", "first password 1", None).await.expect(201);
    let session = started.get("session").as_str().expect("an id").to_owned();
    app.api
        .patch(
            &format!("/api/v1/identity/staff/accounts/{id}"),
            Some(&catalog),
            json!({"disabled": true}),
        )
        .await
        .expect_problem(403);
    let disabled = app
        .api
        .patch(
            &format!("/api/v1/identity/staff/accounts/{id}"),
            Some(&admin),
            json!({"disabled": true, "roles": ["fulfilment", "support"]}),
        )
        .await
        .expect(200);
    assert!(disabled.get("disabled_at").is_string());
    token_of(&app, &session).await.expect_problem(401);
    sign_in(&app, "packer@pola.lk", "first password 1", None)
        .await
        .expect_problem(401);

    let trail = app.api.get("/api/v1/audit?entity=staff", Some(&admin)).await.expect(200);
    let rows = trail.body.as_array().expect("rows");
    let actions: Vec<&str> = rows
        .iter()
        .filter(|r| r["entity_id"] == id.as_str())
        .map(|r| r["action"].as_str().expect("an action"))
        .collect();
    assert_eq!(actions, ["staff.update", "staff.create"], "newest first: {rows:?}");
    let update = &rows[0];
    assert_eq!(update["before_state"]["disabled_at"], Value::Null);
    assert!(update["after_state"]["disabled_at"].is_string());
    assert_eq!(update["after_state"]["roles"], json!(["fulfilment", "support"]));
    assert_eq!(update["service"], "identity");
    assert!(update["request_id"].as_str().is_some_and(|r| !r.is_empty()));
    assert!(!trail.body.to_string().contains("password"), "no hash in the trail");
    app.api.get("/api/v1/audit", Some(&catalog)).await.expect_problem(403);

    // Append-only, for the service's own database user too.
    for statement in ["UPDATE staff_audit SET action = 'x'", "DELETE FROM staff_audit"] {
        let refused = sqlx::query(statement).execute(app.identity.pool()).await;
        let message = refused.expect_err("refused").to_string();
        assert!(message.contains("append-only"), "{statement}: {message}");
    }
}

#[tokio::test]
async fn without_the_code_requirement_the_api_grant_takes_a_password_alone() {
    let app = spawn_app_with(|config| config.auth.staff_totp_required = false).await;
    app.identity
        .create_staff("ops@pola.lk", "Ops", &[Role::Admin], STAFF_PASSWORD.into())
        .await
        .expect("created");
    app.api
        .post(
            "/api/v1/identity/staff/token",
            None,
            json!({"grant_type": "password", "username": "ops@pola.lk", "password": STAFF_PASSWORD}),
        )
        .await
        .expect(200);
    // The back-office still makes them enrol before anything else.
    let started = sign_in(&app, "ops@pola.lk", STAFF_PASSWORD, None).await.expect(201);
    assert_eq!(started.get("state"), "enrolling");
}

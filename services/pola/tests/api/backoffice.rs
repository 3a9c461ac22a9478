//! The back-office in a real Chromium, through the edge's staff listener: staff sign in with two
//! factors, admins manage accounts, every role sees only its own pages.

use pola_core::auth::Role;
use pola_identity::model::staff::TotpSecret;

use crate::{
    browser::{Browser, Screen},
    harness::{STAFF_PASSWORD, TestApp, spawn_app_behind_edge},
};

/// The staff listener's address (the test app is behind an edge).
fn staff_base(app: &TestApp) -> String {
    app.api.staff_base.clone().expect("the app is behind an edge")
}

/// A staff member enrolled with an authenticator app, as an admin would have made them.
async fn colleague(app: &TestApp, name: &str, roles: &[Role]) -> (String, TotpSecret) {
    let email = format!("{}-{}@pola.lk", name.to_lowercase(), uuid::Uuid::now_v7().simple());
    app.identity
        .create_staff(&email, name, roles, STAFF_PASSWORD.into())
        .await
        .expect("created");
    let secret = app.enrol(&email).await;
    (email, secret)
}

/// Signs in on the sign-in page the browser shows now.
async fn sign_in(browser: &Browser, email: &str, password: &str, code: &str) {
    browser.fill("#f-email", email).await;
    browser.fill("#f-password", password).await;
    browser.fill("#f-code", code).await;
    browser.click("form[action='/backoffice/sign-in'] button").await;
}

#[tokio::test]
async fn an_admin_creates_a_fulfilment_user_who_enrols_an_authenticator_and_signs_in() {
    let app = spawn_app_behind_edge().await;
    let (admin, admin_app) = colleague(&app, "Anoma", &[Role::Admin]).await;
    let browser = Browser::start(&staff_base(&app), Screen::Desktop, true).await;

    // A page asked for before signing in leads to the sign-in, and back after it.
    browser.open("/backoffice/staff").await;
    assert!(
        browser.path().await.starts_with("/backoffice/sign-in?next="),
        "{}",
        browser.path().await
    );
    browser.screenshot("backoffice-sign-in").await;
    sign_in(&browser, &admin, STAFF_PASSWORD, "000000").await;
    assert!(browser.page_text().await.contains("wrong"), "a wrong code is refused");
    sign_in(&browser, &admin, STAFF_PASSWORD, &admin_app.code_at(chrono::Utc::now())).await;
    assert_eq!(browser.path().await, "/backoffice/staff");
    let menu = browser.text(".menu").await;
    assert!(menu.contains("Staff") && menu.contains("Audit trail"), "{menu}");

    // A new fulfilment account.
    let packer = format!("packer-{}@pola.lk", uuid::Uuid::now_v7().simple());
    browser.fill("#new-staff #f-name", "Ruwan Perera").await;
    browser.fill("#new-staff #f-email", &packer).await;
    browser.fill("#new-staff #f-password", "first password 77").await;
    browser.tick("#new-staff input[value='fulfilment']").await;
    browser.click("#new-staff button").await;
    assert!(browser.page_text().await.contains("Account created"));
    assert!(browser.page_text().await.contains(&packer));
    browser.screenshot("backoffice-staff").await;

    // The audit trail names the admin and the new account.
    browser.open("/backoffice/audit?entity=staff").await;
    let trail = browser.text("table.audit").await;
    assert!(trail.contains("staff.create") && trail.contains("Anoma"), "{trail}");
    browser.screenshot("backoffice-audit").await;
    browser.click(".who button").await;
    assert!(browser.page_text().await.contains("You are signed out"));

    // Their first sign-in: password only, then the authenticator is set up.
    sign_in(&browser, &packer, "first password 77", "").await;
    assert_eq!(browser.path().await, "/backoffice/enrol");
    browser.screenshot("backoffice-enrol").await;
    let secret = browser
        .find("input[name='secret']")
        .await
        .prop("value")
        .await
        .expect("a value")
        .expect("the secret");
    let app_on_phone = TotpSecret::from_base32(&secret).expect("base32");
    browser.fill("#f-code", "123456").await;
    browser.click("form[action='/backoffice/enrol'] button").await;
    assert!(
        browser.page_text().await.contains("not the code"),
        "a wrong first code is refused"
    );
    browser.fill("#f-code", &app_on_phone.code_at(chrono::Utc::now())).await;
    browser.click("form[action='/backoffice/enrol'] button").await;
    let codes = browser.text("#recovery-codes").await;
    assert_eq!(codes.lines().count(), 10, "{codes}");
    browser.click("a.button.primary").await;
    assert_eq!(browser.path().await, "/backoffice/");
    let menu = browser.text(".menu").await;
    assert!(!menu.contains("Staff") && !menu.contains("Audit"), "a packer's menu: {menu}");
    browser.screenshot("backoffice-dashboard-fulfilment").await;

    // Typed in, an admin page is refused and says so.
    browser.open("/backoffice/staff").await;
    assert!(browser.text("h1").await.contains("Not for your role"));
    browser.close().await;

    // At phone width the same pages read, the menu above the page.
    let (second, second_app) = colleague(&app, "Bhagya", &[Role::Admin]).await;
    let phone = Browser::start(&staff_base(&app), Screen::Phone, true).await;
    phone.open("/backoffice/").await;
    phone.screenshot("backoffice-sign-in").await;
    sign_in(&phone, &second, STAFF_PASSWORD, &second_app.code_at(chrono::Utc::now())).await;
    phone.open("/backoffice/staff").await;
    assert!(phone.page_text().await.contains(&packer));
    phone.screenshot("backoffice-staff").await;
    phone.open("/backoffice/audit").await;
    phone.screenshot("backoffice-audit").await;
    phone.close().await;
}

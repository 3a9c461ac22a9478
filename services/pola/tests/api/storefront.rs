//! The web shop in a real browser (Chromium over WebDriver), as customers use it: through the
//! edge and its WAF when the suite runs behind one (any WAF match on a page or form fails the
//! test), on a phone's screen, in each language, with JavaScript and without.

use pola_core::auth::Role;
use serde_json::json;
use uuid::Uuid;

use crate::{
    browser::{Browser, Screen},
    harness::{OnSale, SendReply, TestApp, spawn_app, uuid},
};

/// What the shop sells in these tests: a batik shirt in two colours and sizes, and a Nuwara
/// Eliya tea, each described in English, Sinhala and Tamil as a Sri Lankan shop writes them.
struct Products {
    shirt: Uuid,
    tea: Uuid,
}

async fn stock(app: &TestApp) -> Products {
    let staff = app.staff(&[Role::Catalog]).await;
    app.basics(&staff).await;
    let shirt = app
        .api
        .post(
            "/api/v1/catalog/products",
            Some(&staff),
            json!({"name": "Kandy batik shirt", "kind": "product", "category": "batik", "product_type": "shirt",
                   "description": "Hand-drawn batik on cotton, made in Kandy. බතික් කමිසය, මහනුවර අතින් සාදන ලදී. பத்திக் சட்டை, கண்டியில் கையால் செய்யப்பட்டது.",
                   "variants": [
                       {"sku": format!("BS-{}-IM", short()), "price_minor": 450_000, "attributes": {"size": "M", "colour": "Indigo"}},
                       {"sku": format!("BS-{}-ML", short()), "price_minor": 475_000, "attributes": {"size": "L", "colour": "Maroon"}}]}),
        )
        .await
        .expect(201);
    let tea = app
        .api
        .post(
            "/api/v1/catalog/products",
            Some(&staff),
            json!({"name": "Nuwara Eliya high-grown tea", "kind": "product", "category": "tea", "product_type": "tea",
                   "description": "Single-estate BOPF from Nuwara Eliya. නුවරඑළිය තේ කොළ. நுவரெலியா தேயிலை.",
                   "variants": [{"sku": format!("TEA-{}", short()), "price_minor": 95_000, "attributes": {"flavour": "Pure Ceylon", "weight": 200}}]}),
        )
        .await
        .expect(201);
    // The shirt's picture, drawn as the demo seed draws them, with its alt text in three languages.
    let picture = pola::pictures::draw(pola::pictures::Motif::Batik, pola::pictures::colour("Maroon"));
    let uploaded = app
        .api
        .request_as(reqwest::Method::POST, "/api/v1/catalog/images", Some(&staff))
        .header("content-type", "image/png")
        .body(picture)
        .send_reply()
        .await
        .expect(201);
    app.api
        .post(
            &format!("/api/v1/catalog/products/{}/images", uuid(shirt.get("id"))),
            Some(&staff),
            json!({"image": uploaded.get("hash"), "alt": {"en": "Maroon batik with waves", "si": "තැඹිලි-රතු බතික් රටාව", "ta": "அரக்கு நிறப் பத்திக்"}}),
        )
        .await
        .expect(201);
    let variants = shirt.get("variants").as_array().expect("variants").iter();
    for variant in variants.chain(tea.get("variants").as_array().expect("variants")) {
        app.set_stock(&staff, uuid(&variant["id"]), 20).await;
    }
    Products {
        shirt: uuid(shirt.get("id")),
        tea: uuid(tea.get("id")),
    }
}

/// Two earlier customers bought the shirt with the tea, and "customers also bought" was rebuilt
/// from orders.
async fn bought_together(app: &TestApp, products: &Products) {
    let mut basket = vec![];
    for product in [products.shirt, products.tea] {
        let variant = products_variant(app, product).await;
        basket.push(OnSale { product, variant });
    }
    for _ in 0..2 {
        let shopper = app.shopper().await;
        crate::recommendations::buy(app, &shopper, &basket).await;
    }
    let rebuilt = app
        .recommendations
        .rebuild(app.orders_client.as_ref(), |_| {})
        .await
        .expect("rebuilt");
    assert_eq!(rebuilt.purchases, 2);
}

fn short() -> String {
    Uuid::now_v7().simple().to_string()[20..].to_uppercase()
}

/// The main pages have no serious or critical accessibility problem (axe-core runs in the page,
/// so only with JavaScript).
async fn assert_accessible(browser: &Browser, page: &str) {
    if !browser.javascript {
        return;
    }
    let violations = browser.accessibility_violations().await;
    assert!(violations.is_empty(), "{page}:\n{}", violations.join("\n"));
}

/// Chooses a district in a form that JavaScript sends on change; without JavaScript the
/// customer presses the form's button.
async fn choose_district(browser: &Browser, form: &str, district: &str) {
    if browser.javascript {
        browser.choose_and_wait(&format!("{form} #f-district"), district).await;
    } else {
        browser.choose(&format!("{form} #f-district"), district).await;
        browser.click(&format!("{form} button")).await;
    }
}

/// The order page the browser was sent to.
async fn order_shown(browser: &Browser) -> Uuid {
    let path = browser.path().await;
    let id = path
        .strip_prefix("/account/orders/")
        .unwrap_or_else(|| panic!("not an order page: {path}"));
    id.split('?').next().unwrap_or_default().parse().expect("an order id")
}

/// Signs a customer in on the sign-in page the browser shows.
async fn sign_in(browser: &Browser, email: &str, password: &str) {
    browser.fill("#f-email", email).await;
    browser.fill("#f-password", password).await;
    browser.click("main form button.primary").await;
}

#[tokio::test]
async fn a_guest_browses_in_sinhala_signs_up_with_the_cart_kept_and_pays_cash_on_delivery() {
    guest_in_sinhala_pays_cash_on_delivery(true).await;
}

#[tokio::test]
async fn the_cash_on_delivery_journey_works_without_javascript() {
    guest_in_sinhala_pays_cash_on_delivery(false).await;
}

async fn guest_in_sinhala_pays_cash_on_delivery(javascript: bool) {
    let app = spawn_app().await;
    let products = stock(&app).await;
    bought_together(&app, &products).await;
    let fulfilment = app.staff(&[Role::Fulfilment]).await;
    let browser = Browser::start(&app.api.base, Screen::Phone, javascript).await;
    let shot = |name: &str| format!("{name}-si{}", if javascript { "" } else { "-nojs" });

    // The home page, in Sinhala once asked for, and remembered.
    browser.open("/?lang=si").await;
    assert_eq!(
        browser.find("html").await.attr("lang").await.expect("lang"),
        Some("si".into())
    );
    assert!(browser.text("h1").await.contains("ශ්‍රී ලංකාවේ"), "a Sinhala heading");
    browser.screenshot(&shot("home")).await;
    assert_accessible(&browser, "home").await;

    // A search in Sinhala finds the shirt by its Sinhala description.
    browser.fill("#q", "බතික්").await;
    browser.click(".search button").await;
    assert!(browser.path().await.starts_with("/search?q="), "{}", browser.path().await);
    assert!(
        browser.page_text().await.contains("Kandy batik shirt"),
        "the search finds the shirt"
    );
    assert!(!browser.page_text().await.contains("Nuwara Eliya"), "and not the tea");
    browser.screenshot(&shot("search")).await;
    assert_accessible(&browser, "search results").await;

    // The category, filtered by colour: only what comes in maroon.
    browser.open("/categories/batik").await;
    browser.choose("#attr-colour", "colour:Maroon").await;
    browser.click(".filters button").await;
    assert!(
        browser.path().await.contains("attr=colour%3AMaroon"),
        "{}",
        browser.path().await
    );
    assert!(browser.page_text().await.contains("Kandy batik shirt"));
    browser.open("/categories/batik?attr=colour%3AGreen").await;
    assert!(!browser.page_text().await.contains("Kandy batik shirt"), "no green shirt");

    // The product: its picture sized for the screen, described in Sinhala; the maroon L, into
    // the cart.
    browser.open(&format!("/products/{}", products.shirt)).await;
    let picture = browser.find(".gallery img").await;
    assert_eq!(picture.attr("alt").await.expect("alt"), Some("තැඹිලි-රතු බතික් රටාව".into()));
    let srcset = picture.attr("srcset").await.expect("srcset").unwrap_or_default();
    assert!(
        srcset.contains("/320.jpg 320w") && srcset.contains("/640.jpg 640w"),
        "{srcset}"
    );
    assert!(
        browser.text(".also").await.contains("Nuwara Eliya high-grown tea"),
        "the tea bought with the shirt is suggested: {}",
        browser.text(".also h2").await
    );
    assert!(browser.text(".also h2").await.contains("පාරිභෝගිකයන්"));
    browser.screenshot(&shot("product")).await;
    assert_accessible(&browser, "product").await;
    let radios = browser
        .client
        .find_all(fantoccini::Locator::Css(".variant input"))
        .await
        .expect("variants");
    radios[1].click().await.expect("picked");
    browser.fill("#quantity", "2").await;
    browser.click(".add button.primary").await;
    assert_eq!(browser.path().await, "/cart");
    assert!(browser.text(".flash").await.contains("කරත්තයට"), "added, in Sinhala");
    assert!(browser.text(".lines").await.contains("Kandy batik shirt"));
    assert!(
        browser.text(".also").await.contains("Nuwara Eliya"),
        "suggested beside the cart too"
    );
    choose_district(&browser, ".summary form.estimate", "Kandy").await;
    assert!(
        browser.text(".summary").await.contains("මහනුවර"),
        "the delivery charge to Kandy, named in Sinhala"
    );
    browser.screenshot(&shot("cart")).await;
    assert_accessible(&browser, "cart").await;

    // Checkout asks to sign in; a new customer signs up, and the cart comes along.
    browser.click(".summary a.primary").await;
    assert!(
        browser.path().await.starts_with("/account/sign-in"),
        "{}",
        browser.path().await
    );
    browser.click("main a[href^='/account/sign-up']").await;
    let email = crate::harness::email();
    browser.fill("#f-name", "Nimal D'Silva").await;
    browser.fill("#f-email", &email).await;
    browser.fill("#f-phone", "077 123 4567").await;
    browser.fill("#f-password", "kottu roti at midnight").await;
    browser.click("form button.primary").await;
    assert!(browser.path().await.starts_with("/checkout"), "{}", browser.path().await);
    assert!(
        browser.text(".summary").await.contains("2 × Kandy batik shirt"),
        "the guest cart was merged"
    );

    // Cash on delivery to a long Sri Lankan address.
    browser.fill("#f-recipient", "Nimal D'Silva").await;
    browser.fill("#f-phone", "0771234567").await;
    browser
        .fill(
            "#f-line1",
            "No. 221/B, Sri Dalada Veediya, opposite the People's Bank, behind the temple's north gate",
        )
        .await;
    browser.fill("#f-city", "Kandy").await;
    browser.choose("#f-district", "Kandy").await;
    browser.fill("#f-postal_code", "20000").await;
    browser.tick("#pay-cod").await;
    browser.screenshot(&shot("checkout")).await;
    assert_accessible(&browser, "checkout").await;
    browser.click("form.address button.primary").await;
    let order = order_shown(&browser).await;
    assert!(browser.text(".flash").await.contains("ස්තූතියි"), "thanked, in Sinhala");
    assert!(
        browser.text(".status").await.contains("තහවුරු"),
        "confirmed, to be paid on delivery"
    );
    assert!(browser.page_text().await.contains("Sri Dalada Veediya"));

    // Staff pack and ship it; the customer follows it with the courier's waybill.
    for (step, body) in [
        ("pack", json!({})),
        ("ship", json!({"courier": "manual", "waybill": "WB-KANDY-1"})),
    ] {
        app.api
            .post(&format!("/api/v1/fulfilment/orders/{order}/{step}"), Some(&fulfilment), body)
            .await
            .expect(200);
    }
    browser.open("/account").await;
    assert!(browser.page_text().await.contains("යවා ඇත"), "the history shows it on its way");
    browser.click(&format!("a[href='/account/orders/{order}']")).await;
    assert!(
        browser.text(".tracking").await.contains("WB-KANDY-1"),
        "the waybill to follow"
    );
    browser.screenshot(&shot("order")).await;
    assert_accessible(&browser, "order").await;
    browser.close().await;
}

#[tokio::test]
async fn a_customer_in_tamil_signs_in_on_a_desktop_and_pays_by_bank_transfer() {
    customer_in_tamil_pays_by_bank_transfer(true).await;
}

#[tokio::test]
async fn the_bank_transfer_journey_works_without_javascript() {
    customer_in_tamil_pays_by_bank_transfer(false).await;
}

async fn customer_in_tamil_pays_by_bank_transfer(javascript: bool) {
    let app = spawn_app().await;
    let products = stock(&app).await;
    let shopper = app.shopper().await;
    let browser = Browser::start(&app.api.base, Screen::Desktop, javascript).await;
    let shot = |name: &str| format!("{name}-ta{}", if javascript { "" } else { "-nojs" });

    // English at first (the browser asks for it); the customer switches to Tamil in the footer.
    browser.open("/").await;
    assert_eq!(
        browser.find("html").await.attr("lang").await.expect("lang"),
        Some("en".into())
    );
    browser.click(".languages button[value='ta']").await;
    assert_eq!(browser.path().await, "/");
    assert_eq!(
        browser.find("html").await.attr("lang").await.expect("lang"),
        Some("ta".into())
    );
    browser.screenshot(&shot("home")).await;
    assert_accessible(&browser, "home").await;

    // A Tamil search, then the tea.
    browser.fill("#q", "நுவரெலியா").await;
    browser.click(".search button").await;
    assert!(
        browser.page_text().await.contains("Nuwara Eliya high-grown tea"),
        "found by its Tamil description"
    );
    browser.click(&format!("a[href='/products/{}']", products.tea)).await;
    assert!(browser.page_text().await.contains("கையிருப்பில் உள்ளது"), "in stock, in Tamil");
    choose_district(&browser, "form.estimate", "Jaffna").await;
    assert!(
        browser.text(".estimate [role=status]").await.contains("3–5"),
        "days to Jaffna"
    );
    browser.screenshot(&shot("product")).await;
    browser.fill("#quantity", "3").await;
    browser.click(".add button.primary").await;
    choose_district(&browser, ".summary form.estimate", "Jaffna").await;
    assert!(browser.text(".summary").await.contains("யாழ்ப்பாணம்"), "Jaffna, named in Tamil");
    browser.screenshot(&shot("cart")).await;

    // Signing in keeps the guest's cart.
    browser.click(".summary a.primary").await;
    sign_in(&browser, &shopper.email, &shopper.password).await;
    assert!(browser.path().await.starts_with("/checkout"), "{}", browser.path().await);
    assert!(
        browser.text(".summary").await.contains("3 × Nuwara Eliya"),
        "the guest cart was merged"
    );

    // A wrong phone number is pointed out in Tamil, and what was typed stays.
    browser.fill("#f-recipient", "Selvi Tharmalingam").await;
    browser.fill("#f-phone", "12345").await;
    browser.fill("#f-line1", "14/2 Stanley Road").await;
    browser.fill("#f-city", "Jaffna").await;
    browser.choose("#f-district", "Jaffna").await;
    browser.tick("#pay-bank").await;
    browser.click("form.address button.primary").await;
    assert_eq!(browser.path().await, "/checkout");
    assert!(
        browser.text("#e-phone").await.contains("077 123 4567"),
        "the phone is pointed out"
    );
    assert_eq!(
        browser.find("#f-line1").await.prop("value").await.expect("value"),
        Some("14/2 Stanley Road".into())
    );
    browser.screenshot(&shot("checkout-error")).await;
    assert_accessible(&browser, "checkout with an error").await;
    browser.fill("#f-phone", "+94 21 222 3344").await;
    browser.click("form.address button.primary").await;
    let order = order_shown(&browser).await;
    assert!(
        browser.text(".status").await.contains("கட்டணத்துக்குக் காத்திருக்கிறது"),
        "waiting for payment"
    );
    let note = browser.text(".note").await;
    assert!(
        note.contains(&pola_payments::model::bank_reference(order)),
        "the reference to write: {note}"
    );
    browser.screenshot(&shot("order")).await;
    assert_accessible(&browser, "order").await;

    // Another customer's order is not there for them.
    let other = app.shopper().await;
    let theirs = uuid(
        app.buy_for_delivery(&other.access, products_variant(&app, products.tea).await, 1)
            .await
            .expect(201)
            .get("id"),
    );
    browser.open(&format!("/account/orders/{theirs}")).await;
    assert!(browser.page_text().await.contains("கிடைக்கவில்லை"), "not found, in Tamil");
    browser.close().await;
}

async fn products_variant(app: &TestApp, product: Uuid) -> Uuid {
    let reply = app
        .api
        .get(&format!("/api/v1/catalog/products/{product}"), None)
        .await
        .expect(200);
    uuid(&reply.get("variants")[0]["id"])
}

#[tokio::test]
async fn a_customer_pays_with_payhere_and_comes_back_to_a_paid_order() {
    pays_with_payhere(true).await;
}

#[tokio::test]
async fn the_payhere_journey_works_without_javascript() {
    pays_with_payhere(false).await;
}

async fn pays_with_payhere(javascript: bool) {
    let shop = crate::payments::paying_shop().await;
    let app = &shop.app;
    let products = stock(app).await;
    let shopper = app.shopper().await;
    let browser = Browser::start(&app.api.base, Screen::Phone, javascript).await;
    let shot = |name: &str| format!("{name}-en{}", if javascript { "" } else { "-nojs" });

    browser.open("/account/sign-in").await;
    sign_in(&browser, &shopper.email, &shopper.password).await;
    assert_eq!(browser.path().await, "/account");
    browser.open(&format!("/products/{}", products.tea)).await;
    browser.click(".add button.primary").await;
    browser.click(".summary a.primary").await;
    browser.fill("#f-recipient", "Kamala Wijesinghe").await;
    browser.fill("#f-phone", "0712345678").await;
    browser.fill("#f-line1", "7 Lotus Lane").await;
    browser.fill("#f-city", "Colombo 07").await;
    browser.choose("#f-district", "Colombo").await;
    browser.tick("#pay-payhere").await;
    browser.click("form.address button.primary").await;
    if !javascript {
        // Without JavaScript the customer presses the button to go on to PayHere.
        assert!(browser.page_text().await.contains("PayHere"));
        browser.screenshot(&shot("payhere")).await;
        browser.click("#payhere button").await;
    }
    // payhere-sim's own pages: pay, then back to the shop.
    let path = browser.path().await;
    assert!(path.starts_with("/pay/"), "on payhere-sim's page: {path}");
    browser.click("button[value='success']").await;
    browser.click("a.btn.primary").await;
    let order = order_shown(&browser).await;
    assert!(
        browser.text(".status").await.contains("Paid"),
        "paid, as PayHere's notification said"
    );
    assert!(browser.text(".note").await.contains("Thank you"));
    browser.screenshot(&shot("order-paid")).await;
    assert_accessible(&browser, "order").await;
    let status = app
        .api
        .get(&format!("/api/v1/orders/{order}"), Some(&shopper.access))
        .await
        .expect(200);
    assert_eq!(status.get("status"), "paid");
    browser.close().await;
}

#[tokio::test]
async fn a_customer_resets_a_password_by_sms_code_in_tamil() {
    let shop = crate::notifications::shop().await;
    let app = &shop.app;
    let email = crate::harness::email();
    app.api
        .post(
            "/api/v1/identity/register",
            None,
            json!({"email": email, "password": "old password of mine", "name": "Kumar", "phone": "0779876543", "language": "ta"}),
        )
        .await
        .expect(201);
    let browser = Browser::start(&app.api.base, Screen::Phone, true).await;
    browser.open("/account/sign-in?lang=ta").await;
    browser.click("a[href='/account/forgot-password']").await;
    browser.fill("#f-username", "077 987 6543").await;
    browser.tick("#by-sms").await;
    browser.click("main form button.primary").await;
    assert!(
        browser.text("[role=status]").await.contains("ஆறு இலக்க"),
        "told, in Tamil, a code is coming"
    );
    let text = crate::notifications::eventually("the reset code", || {
        shop.sms.received().into_iter().find(|t| t["to"] == "+94779876543")
    })
    .await;
    let message = text["message"].as_str().expect("text");
    assert!(message.contains("குறியீடு"), "the SMS is in Tamil: {message}");
    let code = message
        .split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == 6)
        .unwrap_or_else(|| panic!("a six-digit code in {message}"));
    browser.screenshot("reset-code-ta").await;
    assert_accessible(&browser, "reset by code").await;
    // A wrong code first: refused, nothing changed.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    browser.fill("#f-code", wrong).await;
    browser.fill("#f-password", "a new passphrase at last").await;
    browser.click("main form button.primary").await;
    assert!(browser.find(".alert").await.text().await.expect("text").contains("குறியீடு"));
    browser.fill("#f-code", code).await;
    browser.fill("#f-password", "a new passphrase at last").await;
    browser.click("main form button.primary").await;
    assert_eq!(browser.path().await, "/account/sign-in");
    assert!(browser.text(".flash").await.contains("கடவுச்சொல் மாற்றப்பட்டது"));
    sign_in(&browser, &email, "a new passphrase at last").await;
    assert_eq!(browser.path().await, "/account");
    browser.close().await;
}

#[tokio::test]
async fn a_customer_exports_their_data_then_erases_it() {
    let app = spawn_app().await;
    let shopper = app.shopper().await;
    let browser = Browser::start(&app.api.base, Screen::Desktop, true).await;
    browser.open("/account/sign-in").await;
    sign_in(&browser, &shopper.email, &shopper.password).await;
    assert_eq!(browser.client.title().await.expect("a title"), "My account · Pola");
    browser.screenshot("account-en").await;
    assert_accessible(&browser, "account").await;

    // The export: the browser downloads what the API exports, as JSON.
    let cookie = browser.client.get_named_cookie("pola_session").await.expect("a session");
    let export = reqwest::Client::new()
        .get(format!("{}/account/data.json", app.api.base))
        .header("cookie", format!("pola_session={}", cookie.value()))
        .send()
        .await
        .expect("an answer");
    assert_eq!(export.status(), 200);
    assert!(
        export.headers()["content-disposition"]
            .to_str()
            .expect("text")
            .contains("attachment")
    );
    let body: serde_json::Value = export.json().await.expect("JSON");
    assert_eq!(body["profile"]["email"], shopper.email.as_str(), "{body}");

    // Erasing asks for the password; a wrong one erases nothing.
    browser.fill(".erase #f-password", "not my password").await;
    browser.tick("#confirm-erase").await;
    browser.click(".erase button").await;
    assert!(browser.text(".erase .alert").await.contains("nothing was erased"));
    app.login(&shopper.email, &shopper.password).await;
    browser.fill(".erase #f-password", &shopper.password).await;
    browser.tick("#confirm-erase").await;
    browser.click(".erase button").await;
    assert_eq!(browser.path().await, "/");
    assert!(browser.text(".flash").await.contains("erased"));
    assert!(browser.text(".tools").await.contains("Sign in"), "signed out");
    app.api
        .post(
            "/api/v1/identity/token",
            None,
            json!({"grant_type": "password", "username": shopper.email, "password": shopper.password}),
        )
        .await
        .expect_problem(400);
    browser.close().await;
}

/// The cookies a browser would keep from `response`, as a `Cookie` header.
fn cookies_from(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

/// A page's CSRF token, as its forms carry it.
fn csrf_of(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a form with a CSRF token")
        .to_owned()
}

#[tokio::test]
async fn a_form_without_its_sessions_csrf_token_changes_nothing_and_pages_carry_a_strict_policy() {
    let app = spawn_app().await;
    let products = stock(&app).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let base = &app.api.base;

    // A first visit gets its session: HttpOnly, SameSite=Lax, and a strict policy on the page.
    let page = http
        .get(format!("{base}/products/{}", products.tea))
        .send()
        .await
        .expect("a page");
    assert_eq!(page.status(), 200);
    let set_cookie = page.headers()["set-cookie"].to_str().expect("text").to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    let csp = page.headers()["content-security-policy"].to_str().expect("text").to_owned();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    let cookies = cookies_from(&page);
    let html = page.text().await.expect("HTML");
    assert!(
        !html.contains("<script>") && !html.contains("style=\""),
        "no inline script or style"
    );
    assert!(
        html.contains("\"@type\": \"Product\"") && html.contains("\"priceCurrency\": \"LKR\""),
        "schema.org data"
    );
    assert!(html.contains(&format!("<link rel=\"canonical\" href=\"{base}/products/{}\">", products.tea).replace('/', "&#x2f;")));
    let token = csrf_of(&html);
    let variant = products_variant(&app, products.tea).await;

    // Without the token, with another session's, or from no session: 403, nothing in the cart.
    let other = http.get(format!("{base}/")).send().await.expect("a page");
    let other_token = csrf_of(&other.text().await.expect("HTML"));
    for (cookie, csrf) in [
        (cookies.as_str(), ""),
        (cookies.as_str(), other_token.as_str()),
        ("", token.as_str()),
    ] {
        let refused = http
            .post(format!("{base}/cart/lines"))
            .header("cookie", cookie)
            .form(&[("csrf", csrf), ("variant", &variant.to_string()), ("quantity", "1")])
            .send()
            .await
            .expect("an answer");
        assert_eq!(refused.status(), 403);
        assert!(
            refused.headers()["content-type"]
                .to_str()
                .expect("text")
                .starts_with("text/html")
        );
    }
    let cart = http
        .get(format!("{base}/cart"))
        .header("cookie", &cookies)
        .send()
        .await
        .expect("a page");
    assert!(
        cart.text().await.expect("HTML").contains("class=\"empty\""),
        "the cart is still empty"
    );

    // With it: added.
    let added = http
        .post(format!("{base}/cart/lines"))
        .header("cookie", &cookies)
        .form(&[("csrf", token.as_str()), ("variant", &variant.to_string()), ("quantity", "2")])
        .send()
        .await
        .expect("an answer");
    assert_eq!(added.status(), 303);
    let cookies = cookies_from(&added);
    let cart = http
        .get(format!("{base}/cart"))
        .header("cookie", &cookies)
        .send()
        .await
        .expect("a page");
    assert!(cart.text().await.expect("HTML").contains("Nuwara Eliya high-grown tea"));

    // Search engines: robots.txt keeps them out of carts and accounts; the sitemap lists the
    // product in each language; an unknown page is a page, in the customer's language.
    let robots = http
        .get(format!("{base}/robots.txt"))
        .send()
        .await
        .expect("robots")
        .text()
        .await
        .expect("text");
    assert!(
        robots.contains("Disallow: /checkout") && robots.contains("Sitemap: "),
        "{robots}"
    );
    let sitemap = http
        .get(format!("{base}/sitemap.xml"))
        .send()
        .await
        .expect("a sitemap")
        .text()
        .await
        .expect("XML");
    for lang in ["en", "si", "ta"] {
        assert!(
            sitemap.contains(&format!("/products/{}?lang={lang}", products.tea).replace('/', "&#x2f;")),
            "{sitemap}"
        );
    }
    let missing = http
        .get(format!("{base}/products/{}", Uuid::now_v7()))
        .header("accept-language", "ta")
        .send()
        .await
        .expect("an answer");
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.expect("HTML").contains("பக்கம் கிடைக்கவில்லை"));
}

#[tokio::test]
async fn the_home_page_shows_the_offers_running_and_a_product_its_promotion_price_and_why() {
    let app = spawn_app().await;
    let products = stock(&app).await;
    let staff = app.staff(&[Role::Catalog]).await;
    let categories = app.api.get("/api/v1/catalog/categories", None).await.expect(200);
    let tea = categories
        .body
        .as_array()
        .expect("categories")
        .iter()
        .find(|c| c["slug"] == "tea")
        .map(|c| c["id"].clone())
        .expect("the tea category");
    let ends = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    crate::promotions::promotion(
        &app,
        &staff,
        json!({"name": "Avurudu tea festival", "kind": "percent_off", "value": 10, "applies_to": "item",
               "ends_at": ends, "eligibility": {"category_ids": [tea]}}),
    )
    .await;
    crate::promotions::promotion(
        &app,
        &staff,
        json!({"name": "Handed out only", "code": "SECRET10", "kind": "percent_off", "value": 10, "applies_to": "order"}),
    )
    .await;

    // The API: what runs by itself is listed (not what needs a code), and a unit's price says
    // which promotion lowers it and by how much.
    let current = app.api.get("/api/v1/promotions/current", None).await.expect(200);
    let names: Vec<&str> = current
        .body
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["Avurudu tea festival"]);
    let (tea_variant, shirt_variant) = (
        products_variant(&app, products.tea).await,
        products_variant(&app, products.shirt).await,
    );
    let prices = app
        .api
        .get(&format!("/api/v1/cart/prices?variants={tea_variant},{shirt_variant}"), None)
        .await
        .expect(200);
    assert_eq!(prices.body[0]["pays"]["amount_minor"], 85_500, "{}", prices.body);
    assert_eq!(
        prices.body[0]["because"],
        json!([{"promotion": "Avurudu tea festival", "amount": {"amount_minor": -9_500, "currency": "LKR"}}])
    );
    assert_eq!(prices.body[1]["pays"]["amount_minor"], 450_000, "the shirt is not on offer");
    app.api
        .get("/api/v1/cart/prices?variants=tea", None)
        .await
        .expect_problem(422);

    // The pages, in Tamil: the offer on the home page, the struck price and why on the tea's.
    let page = |path: String| {
        let api = &app.api;
        async move {
            let reply = api
                .request(reqwest::Method::GET, &path)
                .header("cookie", "pola_lang=ta")
                .send()
                .await
                .expect("a page");
            assert_eq!(reply.status(), 200, "{path}");
            // Amounts keep their symbol with a no-break space.
            reply.text().await.expect("HTML").replace('\u{a0}', " ")
        }
    };
    let home = page("/?lang=ta".into()).await;
    assert!(
        home.contains("Avurudu tea festival") && home.contains("10% தள்ளுபடி"),
        "the offer on the home page"
    );
    assert!(!home.contains("Handed out only"), "codes are not advertised");
    let product = page(format!("/products/{}?lang=ta", products.tea)).await;
    assert!(
        product.contains("<s>ரூ. 950.00</s> <strong>ரூ. 855.00</strong>"),
        "the promotion price"
    );
    assert!(product.contains("Avurudu tea festival: நீங்கள் சேமிப்பது ரூ. 95.00"), "and why");
    let shirt = page(format!("/products/{}?lang=ta", products.shirt)).await;
    assert!(!shirt.contains("<s>"), "no promotion on the shirt");
}

//! The back-office in a real Chromium, through the edge's staff listener: staff sign in with two
//! factors, admins manage accounts, every role sees only its own pages.

use pola_core::auth::Role;
use pola_identity::model::staff::TotpSecret;

use crate::{
    browser::{Browser, Screen},
    harness::{STAFF_PASSWORD, TestApp, spawn_app_behind_edge},
    payments::paying_shop_behind_edge,
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
    open_sign_in(&phone).await;
    phone.screenshot("backoffice-sign-in").await;
    sign_in(&phone, &second, STAFF_PASSWORD, &second_app.code_at(chrono::Utc::now())).await;
    phone.open("/backoffice/staff").await;
    assert!(phone.page_text().await.contains(&packer));
    phone.screenshot("backoffice-staff").await;
    phone.open("/backoffice/audit").await;
    phone.screenshot("backoffice-audit").await;
    phone.close().await;
}

/// Opens the back-office, which shows a signed-out browser its sign-in form. A page shown while
/// the edge in front of a freshly started app does not yet reach it is read again, for a while;
/// any other page fails the test with what it says.
async fn open_sign_in(browser: &Browser) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        browser.open("/backoffice/").await;
        if browser.shows("#f-email").await {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no sign-in form at {}: {}",
            browser.path().await,
            browser.page_text().await
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// Signs `email` in on a fresh browser at the back-office's dashboard.
async fn desk_for(app: &TestApp, email: &str, secret: &TotpSecret, screen: Screen) -> Browser {
    let browser = Browser::start(&staff_base(app), screen, true).await;
    open_sign_in(&browser).await;
    sign_in(&browser, email, STAFF_PASSWORD, &secret.code_at(chrono::Utc::now())).await;
    assert_eq!(browser.path().await, "/backoffice/", "signed in");
    browser
}

/// The audit trail's actions on `order`, newest first, as an admin reads them.
async fn audited(app: &TestApp, order: uuid::Uuid) -> Vec<String> {
    let admin = app.staff(&[Role::Admin]).await;
    app.api
        .get(&format!("/api/v1/audit?entity=order&entity_id={order}"), Some(&admin))
        .await
        .expect(200)
        .body
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["action"].as_str().expect("an action").to_owned())
        .collect()
}

#[tokio::test]
async fn a_cash_on_delivery_order_is_picked_packed_shipped_and_delivered_from_the_back_office() {
    let shop = paying_shop_behind_edge().await;
    let app = &shop.app;
    let tea = app.tea(&shop.catalog, "Uva", 150_000, 10).await;
    let shopper = app.shopper().await;
    let order = shop.order_cod(&shopper, tea, 2).await;
    app.confirm_cod(&shopper.access, order).await;
    assert_eq!(shop.status(order).await, "confirmed");
    let number = pola_orders::model::order_number(order);
    let (packer, packer_app) = colleague(app, "Kasun", &[Role::Fulfilment]).await;
    let desk = desk_for(app, &packer, &packer_app, Screen::Desktop).await;
    assert!(desk.text("#to-pack").await.parse::<i64>().expect("a count") >= 1);
    desk.screenshot("backoffice-dashboard").await;

    // Orders to pack; this one, by its number.
    desk.click("a.tile[href*='paid%2Cconfirmed']").await;
    assert!(desk.page_text().await.contains(&number));
    desk.screenshot("backoffice-orders").await;
    desk.fill("input[name='q']", &number.to_lowercase()).await;
    desk.click("form.filters button").await;
    desk.click(&format!("a[href='/backoffice/orders/{order}']")).await;
    assert!(desk.text("h1").await.contains(&number));
    assert!(!desk.page_text().await.contains("12 Galle Road"), "the address is masked");

    // The full address for packing, with a reason.
    desk.fill("#f-reason", "Packing the parcel").await;
    desk.click("form[action$='/address'] button").await;
    assert!(desk.text("#address").await.contains("12 Galle Road"));
    desk.screenshot("backoffice-order-revealed").await;

    // The pick list, then packed, shipped with a waybill, delivered.
    desk.click("a[href$='/pick-list']").await;
    assert!(desk.page_text().await.contains("Uva"));
    desk.screenshot("backoffice-pick-list").await;
    desk.open(&format!("/backoffice/orders/{order}")).await;
    desk.click("#pack").await;
    assert_eq!(shop.status(order).await, "packed");
    desk.fill("#ship #f-waybill", "WB-77120045").await;
    desk.click("#ship button").await;
    assert_eq!(shop.status(order).await, "shipped");
    assert_eq!(desk.text("#waybill").await, "WB-77120045");
    desk.screenshot("backoffice-order-shipped").await;
    desk.click("#delivered").await;
    assert_eq!(shop.status(order).await, "delivered");
    assert!(desk.page_text().await.contains("Nothing for your roles to do"));
    // Found by how it is paid, and not among the card payments.
    desk.open("/backoffice/orders?method=cod").await;
    assert!(desk.text("table.orders").await.contains(&number));
    desk.open("/backoffice/orders?method=payhere").await;
    assert!(!desk.page_text().await.contains(&number));
    desk.close().await;

    let trail = audited(app, order).await;
    for action in ["order.reveal-address", "order.pack", "order.ship", "order.delivered"] {
        assert!(trail.iter().any(|a| a == action), "{action} in {trail:?}");
    }
}

#[tokio::test]
async fn finance_confirms_a_bank_transfer_and_refunds_part_of_a_payhere_order_from_the_back_office() {
    let shop = paying_shop_behind_edge().await;
    let app = &shop.app;
    let tea = app.tea(&shop.catalog, "Ruhuna", 100_000, 10).await;
    let shopper = app.shopper().await;
    let by_transfer = shop.order(&shopper, tea, 1).await;
    app.api
        .post(
            &format!("/api/v1/payments/orders/{by_transfer}/bank-transfer"),
            Some(&shopper.access),
            serde_json::json!({}),
        )
        .await
        .expect(200);
    let by_card = shop.order(&shopper, tea, 2).await;
    shop.payhere(&shopper, by_card).await;
    shop.merchant.take_payment(&by_card.to_string(), "320055550777", 200_000);
    let paid = pola_payments::testing::signed(
        crate::payments::MERCHANT_ID,
        crate::payments::SECRET,
        &by_card.to_string(),
        "2000.00",
        &[("payment_id", "'320055550777'")],
    );
    shop.notify(&paid).await.expect(200);
    assert_eq!(shop.status(by_card).await, "paid");

    let (cashier, cashier_app) = colleague(app, "Dilini", &[Role::Finance]).await;
    let desk = desk_for(app, &cashier, &cashier_app, Screen::Phone).await;
    desk.open(&format!(
        "/backoffice/orders?q={}",
        pola_orders::model::order_number(by_transfer)
    ))
    .await;
    desk.click(&format!("a[href='/backoffice/orders/{by_transfer}']")).await;
    // The wrong amount is refused with the reason; the right one pays the order.
    desk.fill("#bank-transfer #f-amount", "900").await;
    desk.fill("#bank-transfer #f-reference", "CMB-20261202-1").await;
    desk.click("#bank-transfer button").await;
    assert!(desk.text(".alert").await.contains("total"), "{}", desk.text(".alert").await);
    assert_eq!(shop.status(by_transfer).await, "pending_payment");
    desk.fill("#bank-transfer #f-amount", "1,000.00").await;
    desk.fill("#bank-transfer #f-reference", "CMB-20261202-1").await;
    desk.click("#bank-transfer button").await;
    assert_eq!(shop.status(by_transfer).await, "paid");
    desk.screenshot("backoffice-transfer-confirmed").await;

    // Part of the card order back: Rs. 250.00 of Rs. 2,000.00.
    desk.open(&format!("/backoffice/orders/{by_card}")).await;
    desk.fill("#refund #f-amount", "250").await;
    desk.fill("#refund #f-reason", "One packet arrived torn").await;
    desk.click("#refund button").await;
    let text = desk.page_text().await.replace('\u{a0}', " ");
    assert!(text.contains("Refund Rs. 250.00 · done"), "{text}");
    desk.screenshot("backoffice-refunded").await;
    desk.close().await;
    let view = app
        .api
        .get(&format!("/api/v1/payments/staff/orders/{by_card}"), Some(&shop.finance))
        .await
        .expect(200);
    assert_eq!(view.get("payment")["refunds"][0]["amount"]["amount_minor"], 25_000);
    assert!(
        audited(app, by_transfer)
            .await
            .iter()
            .any(|a| a == "order.confirm-bank-transfer")
    );
    assert!(audited(app, by_card).await.iter().any(|a| a == "order.refund"));
}

#[tokio::test]
async fn a_catalogue_sheet_with_two_bad_rows_changes_nothing_until_it_is_fixed() {
    let app = spawn_app_behind_edge().await;
    let catalog = app.staff(&[Role::Catalog]).await;
    let dimbula = app.tea(&catalog, "Dimbula estate tea", 120_000, 5).await;
    let exported = app
        .api
        .request_as(reqwest::Method::GET, "/api/v1/catalog/export.csv", Some(&catalog))
        .send()
        .await
        .expect("an answer");
    assert_eq!(exported.status(), 200);
    let exported = exported.text().await.expect("CSV");
    let mut lines: Vec<String> = exported.lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "{exported}");
    // The tea's price changes; a new gift box comes in two variants.
    lines[1] = lines[1].replace(",1200.00,", ",1350.00,");
    assert!(lines[1].contains(",1350.00,"), "{}", lines[1]);
    let gift = |sku: &str, price: &str, attributes: &str| {
        format!(",Avurudu sweets box,gifts,tea,product,Kavum and kokis,{sku},{price},active,900,{attributes}")
    };
    let bad = [
        lines[0].clone(),
        lines[1].clone(),
        gift("AVU-BOX-S", "\"2,50.x\"", "flavour=Pure Ceylon;weight=500"),
        gift("AVU-BOX-L", "4200", "flavour=Chocolate;weight=900"),
    ];
    let file = std::env::temp_dir().join(format!("pola-sheet-{}.csv", uuid::Uuid::now_v7().simple()));
    std::fs::write(&file, bad.join("\n")).expect("written");

    let (clerk, clerk_app) = colleague(&app, "Nadeesha", &[Role::Catalog]).await;
    let desk = desk_for(&app, &clerk, &clerk_app, Screen::Desktop).await;
    desk.open("/backoffice/catalogue").await;
    desk.upload("#f-file", &file).await;
    desk.click("button[value='import']").await;
    let refused = desk.text("#import-refused").await;
    assert!(refused.contains("Nothing was changed"), "{refused}");
    assert!(refused.contains("row 3: price"), "{refused}");
    assert!(
        refused.contains("row 4: attributes") && refused.contains("flavour"),
        "{refused}"
    );
    assert!(!refused.contains("row 2"), "the good rows are not named: {refused}");
    desk.screenshot("backoffice-import-refused").await;
    let tea = app
        .api
        .get(&format!("/api/v1/catalog/products/{}", dimbula.product), None)
        .await
        .expect(200);
    assert_eq!(tea.get("price")["amount_minor"], 120_000, "nothing changed");
    let listed = app.api.get("/api/v1/catalog/products?q=Avurudu", None).await.expect(200);
    assert!(
        listed.get("items").as_array().expect("items").is_empty(),
        "no product was made"
    );

    // Fixed, checked, imported.
    let good = [
        lines[0].clone(),
        lines[1].clone(),
        gift("AVU-BOX-S", "2500", "flavour=Pure Ceylon;weight=500"),
        gift("AVU-BOX-L", "4200", "flavour=Cinnamon;weight=900"),
    ];
    std::fs::write(&file, good.join("\n")).expect("written");
    desk.upload("#f-file", &file).await;
    desk.click("button[value='check']").await;
    let checked = desk.text("#import-report").await;
    assert!(
        checked.contains("would") && checked.contains("1 new products, 2 new variants"),
        "{checked}"
    );
    assert_eq!(
        app.api
            .get(&format!("/api/v1/catalog/products/{}", dimbula.product), None)
            .await
            .get("price")["amount_minor"],
        120_000
    );
    desk.upload("#f-file", &file).await;
    desk.click("button[value='import']").await;
    let imported = desk.text("#import-report").await;
    assert!(
        imported.contains("Imported") && imported.contains("1 variants and 0 products changed"),
        "{imported}"
    );
    desk.screenshot("backoffice-import-done").await;
    desk.close().await;
    std::fs::remove_file(&file).expect("removed");
    let tea = app
        .api
        .get(&format!("/api/v1/catalog/products/{}", dimbula.product), None)
        .await
        .expect(200);
    assert_eq!(tea.get("price")["amount_minor"], 135_000);
    let listed = app.api.get("/api/v1/catalog/products?q=Avurudu", None).await.expect(200);
    assert_eq!(listed.get("items").as_array().expect("items").len(), 1);

    let admin = app.staff(&[Role::Admin]).await;
    let trail = app
        .api
        .get("/api/v1/audit?action=catalog.import", Some(&admin))
        .await
        .expect(200);
    assert_eq!(
        trail.body.as_array().expect("rows").len(),
        1,
        "one import, audited once: {}",
        trail.body
    );
    let price = app
        .api
        .get(
            &format!("/api/v1/audit?entity=variant&entity_id={}", dimbula.variant),
            Some(&admin),
        )
        .await
        .expect(200);
    assert_eq!(price.body[0]["before_state"]["price_minor"], 120_000);
    assert_eq!(price.body[0]["after_state"]["price_minor"], 135_000);
}

#[tokio::test]
async fn a_customer_asks_about_an_order_and_support_answers_from_the_back_office() {
    let shop = crate::notifications::shop_behind_edge().await;
    let app = &*shop.app;
    let catalog = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&catalog, "Nuwara Eliya", 110_000, 5).await;
    let customer = app.shopper().await;
    let order = crate::harness::uuid(
        app.buy_for_delivery(&customer.access, tea.variant, 1)
            .await
            .expect(201)
            .get("id"),
    );

    // The customer writes from their account, on the shop's public side.
    let browser = Browser::start(&app.api.base, Screen::Phone, true).await;
    browser.open("/account/support").await;
    browser.fill("#f-email", &customer.email).await;
    browser.fill("#f-password", &customer.password).await;
    browser.click("main form button.primary").await;
    assert_eq!(browser.path().await, "/account/support");
    browser.choose("#f-category", "damaged_or_wrong_item").await;
    browser.choose("#f-order_id", &order.to_string()).await;
    browser.fill("#f-subject", "Torn packet").await;
    browser
        .fill("#f-message", "The tea packet arrived torn and half empty.")
        .await;
    browser.click("#new-ticket button").await;
    assert!(
        browser.path().await.starts_with("/account/support/"),
        "{}",
        browser.path().await
    );
    let number = browser.text("h1 .mono").await;
    assert!(number.starts_with("T-"), "{number}");
    browser.screenshot("support-ticket-opened").await;
    browser.close().await;

    // Support answers from the back-office, with a note kept inside.
    let (agent, agent_app) = colleague(app, "Sanduni", &[Role::Support]).await;
    let desk = desk_for(app, &agent, &agent_app, Screen::Desktop).await;
    assert!(desk.text("#tickets-open").await.parse::<i64>().expect("a count") >= 1);
    desk.click("a.tile[href='/backoffice/support']").await;
    desk.click("table.tickets a.mono").await;
    assert!(
        desk.page_text().await.contains("half empty"),
        "the staff read the customer's words"
    );
    desk.fill("#f-message", "Customer sounds reasonable; refund half if asked.")
        .await;
    desk.click("#reply button[value='note']").await;
    assert!(desk.page_text().await.contains("Note kept"));
    desk.fill("#f-message", "Sorry about that! A new packet goes out today at no cost.")
        .await;
    desk.click("#reply button[value='reply']").await;
    assert!(desk.page_text().await.contains("Reply sent"));
    desk.click("#states button[value='waiting']").await;
    assert!(desk.page_text().await.contains("clock stopped"));
    desk.screenshot("backoffice-ticket").await;
    desk.close().await;

    // The customer is told by email, with the ticket's number and where to read the answer.
    let mail = crate::notifications::eventually("the reply's email", || {
        shop.mails()
            .into_iter()
            .find(|m| m.to == customer.email && m.subject.contains(&number))
    })
    .await;
    assert!(mail.text.contains("/account/support/"), "{}", mail.text);
    assert!(
        !mail.text.contains("new packet"),
        "the email points to the answer, it does not carry it"
    );
    let browser = Browser::start(&app.api.base, Screen::Phone, true).await;
    browser.open("/account/sign-in").await;
    browser.fill("#f-email", &customer.email).await;
    browser.fill("#f-password", &customer.password).await;
    browser.click("main form button.primary").await;
    let link = mail
        .text
        .split_whitespace()
        .find(|w| w.contains("/account/support/"))
        .expect("a link")
        .to_owned();
    browser.open(&link[link.find("/account/").expect("a path")..]).await;
    let thread = browser.text(".thread").await;
    assert!(thread.contains("A new packet goes out today"), "{thread}");
    assert!(!thread.contains("refund half"), "the internal note stays inside: {thread}");
    browser.screenshot("support-ticket-answered").await;
    browser.close().await;
}

#[tokio::test]
async fn stock_is_counted_with_a_reason_a_remittance_settles_cod_and_a_promotion_is_made_and_paused() {
    let shop = paying_shop_behind_edge().await;
    let app = &shop.app;
    let tea = app.tea(&shop.catalog, "Kandy", 150_000, 10).await;

    // A catalogue clerk counts four on the shelf: the ledger says why, the list says it runs low.
    let (clerk, clerk_app) = colleague(app, "Ruwan", &[Role::Catalog]).await;
    let desk = desk_for(app, &clerk, &clerk_app, Screen::Desktop).await;
    desk.open(&format!("/backoffice/stock/variants/{}", tea.variant)).await;
    desk.fill("#f-on_hand", "four").await;
    desk.fill("#f-reason", "Shelf count").await;
    desk.click("#count-form button").await;
    assert!(
        desk.text(".alert").await.contains("not a whole number"),
        "a bad count is refused"
    );
    desk.fill("#f-on_hand", "4").await;
    desk.fill("#f-reason", "Shelf count, two packets water-damaged").await;
    desk.click("#count-form button").await;
    assert!(desk.text(".flash").await.contains("Count saved"));
    let ledger = desk.text("#ledger").await;
    assert!(
        ledger.contains("Shelf count, two packets water-damaged") && ledger.contains("-6"),
        "{ledger}"
    );
    desk.screenshot("backoffice-stock-variant").await;
    desk.open("/backoffice/").await;
    assert!(desk.text("#low-stock").await.parse::<i64>().expect("a count") >= 1);
    assert!(
        desk.text("#sites").await.contains("primary"),
        "the dashboard names the primary site"
    );
    desk.open("/backoffice/stock?low=1").await;
    assert!(desk.text("#stock").await.contains("Kandy"));
    desk.screenshot("backoffice-stock-low").await;
    desk.open("/backoffice/stock/ledger?kind=adjustment").await;
    assert!(desk.page_text().await.contains("water-damaged"));

    // Two pictures for the product, the second moved first, the first taken off.
    desk.open(&format!("/backoffice/catalogue/products/{}", tea.product)).await;
    for (colour, words) in [
        ([40, 120, 60], "A green tin of Kandy tea"),
        ([150, 60, 40], "The tea brewed in a glass"),
    ] {
        let file = std::env::temp_dir().join(format!("pola-picture-{}.png", uuid::Uuid::now_v7().simple()));
        std::fs::write(&file, crate::catalog::png(400, 300, colour)).expect("written");
        desk.upload("#f-picture", &file).await;
        desk.fill("#picture-form #f-alt_en", words).await;
        desk.fill("#picture-form #f-alt_si", "තේ").await;
        desk.fill("#picture-form #f-alt_ta", "தேநீர்").await;
        desk.click("#picture-form button").await;
        assert!(desk.text(".flash").await.contains("Saved"), "{}", desk.page_text().await);
        let _ = std::fs::remove_file(file);
    }
    desk.fill(".pictures li:nth-child(2) #f-position", "0").await;
    desk.click(".pictures li:nth-child(2) button[value='save']").await;
    assert_eq!(
        desk.find(".pictures li:first-child img")
            .await
            .attr("alt")
            .await
            .expect("an attribute")
            .as_deref(),
        Some("The tea brewed in a glass")
    );
    desk.click(".pictures li:nth-child(2) button[value='remove']").await;
    assert_eq!(desk.text("#pictures").await.matches("Take it off").count(), 1);
    desk.screenshot("backoffice-pictures").await;
    let shown = app
        .api
        .get(&format!("/api/v1/catalog/products/{}", tea.product), None)
        .await
        .expect(200);
    assert_eq!(shown.get("images")[0]["alt"]["en"], "The tea brewed in a glass");
    assert_eq!(shown.get("images").as_array().expect("pictures").len(), 1);

    // Archived, it leaves the shop but not the back-office; set on sale again, it is back.
    desk.choose("#f-status", "archived").await;
    desk.click("#product-form button").await;
    app.api
        .get(&format!("/api/v1/catalog/products/{}", tea.product), None)
        .await
        .expect(404);
    desk.open("/backoffice/catalogue").await;
    desk.click("#archived-link").await;
    desk.click(&format!("#archived a[href='/backoffice/catalogue/products/{}']", tea.product))
        .await;
    desk.choose("#f-status", "active").await;
    desk.click("#product-form button").await;
    app.api
        .get(&format!("/api/v1/catalog/products/{}", tea.product), None)
        .await
        .expect(200);

    // A second variant from the form: a weight that is not a number is refused, then it is made.
    desk.fill("#variant-form #f-sku", "KANDY-CIN-200").await;
    desk.fill("#variant-form #f-price", "1,750").await;
    desk.choose("#f-attr-flavour", "Cinnamon").await;
    desk.fill("#f-attr-weight", "heavy").await;
    desk.click("#variant-form button").await;
    assert!(desk.text(".alert").await.contains("weight"), "{}", desk.text(".alert").await);
    desk.fill("#variant-form #f-sku", "KANDY-CIN-200").await;
    desk.fill("#variant-form #f-price", "1,750").await;
    desk.choose("#f-attr-flavour", "Cinnamon").await;
    desk.fill("#f-attr-weight", "200").await;
    desk.click("#variant-form button").await;
    let shown = app
        .api
        .get(&format!("/api/v1/catalog/products/{}", tea.product), None)
        .await
        .expect(200);
    let added = shown
        .get("variants")
        .as_array()
        .expect("variants")
        .iter()
        .find(|v| v["sku"] == "KANDY-CIN-200")
        .cloned()
        .expect("the new variant");
    assert_eq!(added["attributes"], serde_json::json!({"flavour": "Cinnamon", "weight": 200}));
    assert_eq!(added["price"]["amount_minor"], 175_000);

    // A promotion with a code, made from the form, then paused.
    desk.open("/backoffice/promotions").await;
    let code = format!("KANDY{}", &uuid::Uuid::now_v7().simple().to_string()[26..]).to_uppercase();
    desk.fill("#f-name", "Kandy Perahera 10% off").await;
    desk.fill("#f-code", &code).await;
    desk.choose("#f-kind", "percent_off").await;
    desk.fill("#f-value", "150").await;
    desk.click("#promotion-form button").await;
    assert!(desk.text("#refused").await.contains("value"), "a 150% discount is refused");
    desk.fill("#f-value", "10").await;
    desk.fill("#f-usage_limit", "200").await;
    desk.click("#promotion-form button").await;
    assert!(desk.text(".flash").await.contains("Promotion created"));
    assert!(desk.text("#promotions").await.contains(&code));
    desk.screenshot("backoffice-promotions").await;
    desk.click("#promotions a").await;
    desk.click("button[value='pause']").await;
    assert!(desk.text(".flash").await.contains("Paused"));
    assert!(desk.text("#usage").await.contains("of 200"));
    desk.screenshot("backoffice-promotion").await;
    desk.close().await;

    // A cash-on-delivery parcel delivered; finance imports the courier's remittance for it.
    let shopper = app.shopper().await;
    let order = shop.order_cod(&shopper, tea, 2).await;
    let step = |action: &str| format!("/api/v1/fulfilment/orders/{order}/{action}");
    app.confirm_cod(&shopper.access, order).await;
    app.api
        .post(&step("pack"), Some(&shop.fulfilment), serde_json::json!({}))
        .await
        .expect(200);
    let waybill = format!("M-{}", &order.simple().to_string()[20..]);
    app.api
        .post(
            &step("ship"),
            Some(&shop.fulfilment),
            serde_json::json!({"courier": "manual", "waybill": waybill}),
        )
        .await
        .expect(200);
    app.api
        .post(&step("delivered"), Some(&shop.fulfilment), serde_json::json!({}))
        .await
        .expect(200);
    let (cashier, cashier_app) = colleague(app, "Anoma", &[Role::Finance]).await;
    let desk = desk_for(app, &cashier, &cashier_app, Screen::Phone).await;
    desk.open("/backoffice/payments").await;
    assert_eq!(desk.text("h1").await, "Payments", "{}", desk.page_text().await);
    let owed = desk.text("#cod").await.replace('\u{a0}', " ");
    assert!(owed.contains("manual owes") && owed.contains("Rs. 3,000.00"), "{owed}");
    let file = std::env::temp_dir().join(format!("pola-remittance-{}.csv", uuid::Uuid::now_v7().simple()));
    std::fs::write(&file, format!("waybill,amount\n{waybill},3000.00\nM-NOSUCH,10.00\n")).expect("written");
    desk.fill("#f-courier", "manual").await;
    desk.upload("#f-remittance", &file).await;
    desk.click("#remittance-form button").await;
    let report = desk.text("#remittance-report").await.replace('\u{a0}', " ");
    assert!(report.contains("Imported 2 lines from manual"), "{report}");
    assert!(report.contains("Rs. 3,000.00 against parcels delivered"), "{report}");
    assert!(report.contains("M-NOSUCH") && report.contains("no such waybill"), "{report}");
    assert!(!desk.text("#cod").await.contains("manual owes"), "nothing owed now");
    desk.screenshot("backoffice-payments").await;
    // The same file again is refused, and says so.
    desk.fill("#f-courier", "manual").await;
    desk.upload("#f-remittance", &file).await;
    desk.click("#remittance-form button").await;
    assert!(desk.text("#remittance-refused").await.contains("Nothing was imported"));
    desk.open("/backoffice/payments?method=cod").await;
    assert!(desk.text("#payments").await.contains(&waybill));
    desk.close().await;
    let _ = std::fs::remove_file(file);
}

#[tokio::test]
async fn finance_reads_sales_by_month_with_a_chart_and_a_packer_sees_only_the_stock_report() {
    // One database here, so reports are allowed on it (the end-to-end tests read the replica).
    let app = crate::harness::spawn_app_behind_edge_with(|c| c.reporting.allow_primary = true).await;
    let services = pola::Services::connect(&app.config, app.keys.clone(), false)
        .await
        .expect("the services");
    let (catalog, inventory) = (services.catalog.as_deref(), services.inventory.as_deref());
    pola::seed::demo(catalog.expect("catalog"), inventory.expect("inventory"), &app.config, 40)
        .await
        .expect("a demo catalogue");
    let written = pola::history::seed(&services, 1_500).await.expect("a year of orders");
    assert_eq!(written.orders, 1_500);

    let (finance, finance_app) = colleague(&app, "Dilani", &[Role::Finance]).await;
    let desk = desk_for(&app, &finance, &finance_app, Screen::Desktop).await;
    desk.click(".menu a[href='/backoffice/reports']").await;
    let offered = desk.text(".tiles").await;
    assert!(
        offered.contains("Sales") && offered.contains("PayHere reconciliation"),
        "{offered}"
    );
    assert!(
        !offered.contains("Support response"),
        "finance is not offered support's report"
    );
    desk.click("a[href='/backoffice/reports/sales']").await;
    assert!(
        desk.text("#freshness").await.contains("PRIMARY"),
        "the page says it read the primary"
    );
    let from = (chrono::Utc::now() - chrono::Duration::days(400))
        .format("%Y-%m-%d")
        .to_string();
    // A date typed into a date field depends on the browser's locale: the address sets it.
    desk.open(&format!("/backoffice/reports/sales?from={from}")).await;
    desk.choose("select[name=by]", "month").await;
    desk.click("form.filters button").await;
    assert!(desk.path().await.contains("by=month"), "{}", desk.path().await);

    // The page shows what the reporting API says, money in rupees, with a chart.
    let token = app.staff(&[Role::Finance]).await;
    let api = app
        .api
        .get(&format!("/api/v1/reports/sales?by=month&from={from}"), Some(&token))
        .await
        .expect(200);
    let months = api.get("rows").as_array().expect("rows").clone();
    assert!(months.len() >= 12, "a year of months: {}", months.len());
    let table = desk.text("#report tbody").await;
    assert_eq!(table.lines().count(), months.len(), "{table}");
    let first = &months[0];
    let rupees = pola_core::money::grouped(first["revenue_minor"].as_i64().expect("revenue"));
    assert!(
        table
            .lines()
            .next()
            .is_some_and(|l| l.contains(first["month"].as_str().expect("a month")) && l.contains(&rupees)),
        "{table} against {first}"
    );
    assert!(desk.find("figure.chart svg").await.is_displayed().await.expect("shown"));
    let csv_link = desk
        .find("a[download]")
        .await
        .attr("href")
        .await
        .expect("an attribute")
        .expect("a link");
    assert!(
        csv_link.starts_with("/backoffice/reports/sales/csv?") && csv_link.contains("by=month"),
        "{csv_link}"
    );
    desk.screenshot("backoffice-report-sales").await;
    desk.close().await;
    // A colleague on a phone (a code signs in once).
    let (other, other_app) = colleague(&app, "Shehan", &[Role::Finance]).await;
    let phone = desk_for(&app, &other, &other_app, Screen::Phone).await;
    phone.open(&format!("/backoffice/reports/sales?by=month&from={from}")).await;
    phone.screenshot("backoffice-report-sales").await;
    phone.open(&format!("/backoffice/reports/payments?from={from}")).await;
    assert!(phone.text("#summary").await.contains("Mismatches"));
    phone.screenshot("backoffice-report-payments").await;
    phone.close().await;

    // A packer runs low stock and nothing about money.
    let (packer, packer_app) = colleague(&app, "Kasun", &[Role::Fulfilment]).await;
    let desk = desk_for(&app, &packer, &packer_app, Screen::Desktop).await;
    desk.open("/backoffice/reports").await;
    let offered = desk.text(".tiles").await;
    assert!(offered.contains("Low stock"), "{offered}");
    for other in ["Sales", "Stock value", "PayHere", "Top products", "Support"] {
        assert!(!offered.contains(other), "a packer is offered {other}: {offered}");
    }
    desk.open("/backoffice/reports/sales").await;
    assert!(
        desk.page_text().await.contains("Not for your role"),
        "{}",
        desk.page_text().await
    );
    desk.close().await;

    // The API says the same, and refuses what makes no sense.
    let packer_token = app.staff(&[Role::Fulfilment]).await;
    app.api
        .get("/api/v1/reports/sales", Some(&packer_token))
        .await
        .expect_problem(403);
    app.api
        .get("/api/v1/reports/sales?by=colour", Some(&token))
        .await
        .expect_problem(400);
    app.api
        .get("/api/v1/reports/everything", Some(&token))
        .await
        .expect_problem(404);
}

/// Indexes `documents` (`(index, document)`) into the test's OpenSearch, searchable at once.
async fn index_telemetry(url: &str, documents: &[(String, serde_json::Value)]) {
    let mut body = String::new();
    for (index, document) in documents {
        body.push_str(&serde_json::json!({"create": {"_index": index}}).to_string());
        body.push('\n');
        body.push_str(&document.to_string());
        body.push('\n');
    }
    let reply = reqwest::Client::new()
        .post(format!("{url}/_bulk?refresh=true"))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .expect("OpenSearch answers");
    let answer: serde_json::Value = reply.json().await.expect("a bulk answer");
    assert_eq!(answer["errors"], false, "{answer:#}");
}

#[tokio::test]
async fn an_sre_reads_latency_by_route_a_slow_requests_waterfall_its_log_lines_and_what_is_firing() {
    // Telemetry as the shippers write it (the end-to-end test ships it for real), in indices of
    // this test's own. The OpenSearch client wants the process's TLS provider, which the app
    // would install only later.
    pola_core::install_crypto_provider();
    let url = pola_core::testing::test_opensearch_url();
    let apm = pola_apm::ApmConfig {
        url: Some(url.clone()),
        index_prefix: format!("sre-{}", uuid::Uuid::now_v7().simple()),
        ..Default::default()
    };
    pola_apm::setup::setup(&apm).await.expect("the templates");
    let prefix = apm.index_prefix.clone();
    let day = chrono::Utc::now().format("%Y.%m.%d");
    let (traces, logs) = (format!("{prefix}-traces-{day}"), format!("{prefix}-logs-{day}"));
    // One clock reading for every document: offsets between spans are exactly as written, however
    // slowly a busy machine builds them.
    let now = chrono::Utc::now();
    let at = |ms_ago: i64| (now - chrono::Duration::milliseconds(ms_ago)).to_rfc3339();
    let trace = format!("{:032x}", rand::random::<u128>());
    let request = format!("req-{}", uuid::Uuid::now_v7().simple());
    let span = |id: &str, parent: Option<&str>, ms_ago: i64, extra: serde_json::Value| {
        let mut span = serde_json::json!({"@timestamp": at(ms_ago), "trace.id": trace, "span.id": id,
                                          "request_id": request, "site": "dc"});
        if let Some(parent) = parent {
            span["parent.id"] = parent.into();
        }
        span.as_object_mut()
            .expect("an object")
            .extend(extra.as_object().expect("an object").clone());
        (traces.clone(), span)
    };
    let mut documents = vec![
        span(
            "e000000000000001",
            None,
            60_000,
            serde_json::json!({"service": "pola-edge", "name": "edge.request", "kind": "server",
              "http.method": "GET", "http.path": "/api/v1/orders", "http.status": 200, "duration_ms": 420.0}),
        ),
        span(
            "a000000000000002",
            Some("e000000000000001"),
            59_990,
            serde_json::json!({"service": "pola-serve", "name": "http.request",
              "kind": "server", "http.method": "GET", "http.route": "/api/v1/orders", "http.status": 200, "duration_ms": 400.0}),
        ),
        span(
            "d000000000000003",
            Some("a000000000000002"),
            59_980,
            serde_json::json!({"service": "pola-serve", "name": "db.query",
              "kind": "db", "db.statement": "SELECT id, status FROM orders WHERE customer_id = ?", "duration_ms": 150.0}),
        ),
        span(
            "d000000000000004",
            Some("a000000000000002"),
            59_800,
            serde_json::json!({"service": "pola-serve", "name": "db.query",
              "kind": "db", "db.statement": "SELECT * FROM order_lines WHERE order_id IN (?)", "duration_ms": 200.0}),
        ),
        (
            logs.clone(),
            serde_json::json!({"@timestamp": at(59_700), "service": "pola-serve", "site": "dc", "level": "WARN",
              "target": "pola_orders", "message": "slow order listing", "request_id": request, "trace.id": trace,
              "fields": {"orders": 310}}),
        ),
        (
            logs.clone(),
            serde_json::json!({"@timestamp": at(59_580), "service": "pola-edge", "level": "INFO",
              "target": "pola_edge", "message": "request finished", "request_id": request, "trace.id": trace,
              "fields": {"status": 200}}),
        ),
    ];
    // Twenty listings over the last hour, the 7th and 14th failing: 10% server errors.
    for i in 1..=20_i64 {
        let status = if i % 7 == 0 { 503 } else { 200 };
        documents.push(span(
            &format!("{i:016x}"),
            None,
            i * 150_000,
            serde_json::json!({"service": "pola-serve", "name": "http.request", "kind": "server", "trace.id": format!("{i:032x}"),
                               "http.method": "GET", "http.route": "/api/v1/catalog/products", "http.status": status,
                               "duration_ms": i as f64, "request_id": format!("list-{i}")}),
        ));
    }
    documents.push((
        format!("{prefix}-alerts"),
        serde_json::json!({"@timestamp": at(30_000), "state": "fired", "rule": "errors", "at": at(30_000),
            "alert": {"key": "errors:pola-serve", "title": "pola-serve answers 10.0% with server errors",
                      "detail": "2 of 20 requests in 5 min (threshold 5%)"}}),
    ));
    index_telemetry(&url, &documents).await;

    let app = crate::harness::spawn_app_behind_edge_with(move |c| c.apm = apm).await;
    let (sre, sre_app) = colleague(&app, "Tharindu", &[Role::Admin]).await;
    let desk = desk_for(&app, &sre, &sre_app, Screen::Desktop).await;
    desk.click(".menu a[href='/backoffice/system']").await;
    assert_eq!(desk.text("h1").await, "System");
    let firing = desk.text("#firing").await;
    assert!(firing.contains("pola-serve answers 10.0% with server errors"), "{firing}");
    // The routes as the ops API computes them: requests and errors counted here.
    let admin = app.staff(&[Role::Admin]).await;
    let overview = app.api.get("/api/v1/ops/overview", Some(&admin)).await.expect(200).body;
    let listing = overview["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .find(|r| r["route"] == "/api/v1/catalog/products")
        .cloned()
        .expect("the listing's route");
    assert_eq!(
        (listing["requests"].as_u64(), listing["errors"].as_u64()),
        (Some(20), Some(2))
    );
    let row = desk
        .text("#routes tbody")
        .await
        .lines()
        .find(|l| l.contains("/api/v1/catalog/products"))
        .map(str::to_owned)
        .expect("the listing's row");
    let p99 = format!("{:.1}", listing["p99_ms"].as_f64().expect("a p99"));
    assert!(
        row.contains("20") && row.contains("2 (10.0%)") && row.contains(p99.trim_end_matches(".0")),
        "{row} against {listing}"
    );
    // The slowest request first.
    let slowest = desk.text("#slowest tbody").await;
    assert!(
        slowest
            .lines()
            .next()
            .is_some_and(|l| l.contains("GET /api/v1/orders") && l.contains("420")),
        "{slowest}"
    );
    desk.screenshot("backoffice-system").await;

    // Its waterfall: the edge, the service under it, its two queries under that.
    desk.click(&format!("#slowest a[href='/backoffice/system/traces/{trace}']"))
        .await;
    let spans: Vec<String> = desk.text("#spans tbody").await.lines().map(str::to_owned).collect();
    assert_eq!(spans.len(), 4, "{spans:#?}");
    for (row, (what, starts)) in spans.iter().zip([
        ("pola-edge edge.request /api/v1/orders", "0"),
        ("pola-serve http.request /api/v1/orders", "10"),
        ("pola-serve db.query SELECT id, status FROM orders", "20"),
        ("pola-serve db.query SELECT * FROM order_lines", "200"),
    ]) {
        assert!(
            row.contains(what) && row.contains(starts),
            "{row} is not {what} at {starts} ms"
        );
    }
    assert!(desk.find("figure.chart svg").await.is_displayed().await.expect("shown"));
    desk.screenshot("backoffice-system-trace").await;

    // Its log lines, from both processes, in order.
    desk.click("a[href^='/backoffice/system/logs']").await;
    let lines = desk.text("#logs tbody").await;
    let (warned, finished) = (lines.find("slow order listing"), lines.find("request finished"));
    assert!(warned.is_some() && warned < finished, "{lines}");
    assert!(lines.contains("orders=310") && lines.contains("pola-edge"), "{lines}");
    // The route over time.
    desk.open("/backoffice/system/route?route=%2Fapi%2Fv1%2Fcatalog%2Fproducts")
        .await;
    assert!(desk.find("figure.chart svg").await.is_displayed().await.expect("shown"));
    let steps = desk.text("#series tbody").await;
    let counted: u64 = steps
        .lines()
        .filter_map(|l| l.split_whitespace().rev().nth(3)?.parse::<u64>().ok())
        .sum();
    assert_eq!(counted, 20, "{steps}");
    desk.screenshot("backoffice-system-route").await;
    desk.close().await;
    let (other, other_app) = colleague(&app, "Ishara", &[Role::Admin]).await;
    let phone = desk_for(&app, &other, &other_app, Screen::Phone).await;
    phone.open("/backoffice/system").await;
    phone.screenshot("backoffice-system").await;
    phone.open(&format!("/backoffice/system/traces/{trace}")).await;
    phone.screenshot("backoffice-system-trace").await;
    phone.close().await;

    // Traces and logs are the whole system's: for admins only.
    let (cashier, cashier_app) = colleague(&app, "Nadeesha", &[Role::Finance]).await;
    let desk = desk_for(&app, &cashier, &cashier_app, Screen::Desktop).await;
    assert!(!desk.text(".menu").await.contains("System"));
    desk.open(&format!("/backoffice/system/logs?request_id={request}")).await;
    assert!(
        desk.page_text().await.contains("Not for your role"),
        "{}",
        desk.page_text().await
    );
    desk.close().await;
    let finance = app.staff(&[Role::Finance]).await;
    app.api
        .get(&format!("/api/v1/ops/traces/{trace}"), Some(&finance))
        .await
        .expect_problem(403);
    app.api
        .get("/api/v1/ops/traces/not-a-trace", Some(&admin))
        .await
        .expect_problem(400);
}

//! Every back-office page and action, for every role, through the edge's staff listener: what
//! a role may use works, anything else answers 403 and changes nothing (the audit trail, which
//! every staff write fills, does not grow, and the record stays as it was). The same addresses
//! answer nothing on the public listener or without the edge.

use pola_core::auth::Role;
use pola_identity::model::staff::TotpSecret;
use reqwest::{Client, redirect::Policy};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{OnSale, STAFF_PASSWORD, Shopper, TestApp, spawn_app_behind_edge, spawn_app_behind_edge_with, uuid};

/// A staff member's browser, without the browser: the session cookie and the form token.
struct Desk {
    base: String,
    http: Client,
    cookie: String,
    csrf: String,
}

fn csrf_in(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().expect("a token").to_owned()
}

fn cookie_in(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("pola_staff="))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
}

impl Desk {
    async fn sign_in(base: &str, email: &str, secret: &TotpSecret) -> Self {
        let http = Client::builder().redirect(Policy::none()).build().expect("a client");
        let page = http
            .get(format!("{base}/backoffice/sign-in"))
            .send()
            .await
            .expect("an answer");
        let cookie = cookie_in(&page).expect("a cookie for the form");
        let csrf = csrf_in(&page.text().await.expect("a page"));
        let code = secret.code_at(chrono::Utc::now());
        let signed = http
            .post(format!("{base}/backoffice/sign-in"))
            .header("cookie", &cookie)
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", email),
                ("password", STAFF_PASSWORD),
                ("code", &code),
                ("next", "/backoffice/"),
            ])
            .send()
            .await
            .expect("an answer");
        assert_eq!(signed.status(), 303, "{email} signs in");
        let cookie = cookie_in(&signed).expect("a session cookie");
        let mut desk = Self {
            base: base.to_owned(),
            http,
            cookie,
            csrf: String::new(),
        };
        let (status, home) = desk.get("/backoffice/").await;
        assert_eq!(status, 200);
        desk.csrf = csrf_in(&home);
        desk
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .expect("an answer");
        (response.status().as_u16(), response.text().await.unwrap_or_default())
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> u16 {
        let mut form = vec![("csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        self.http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(&form)
            .send()
            .await
            .expect("an answer")
            .status()
            .as_u16()
    }
}

impl Desk {
    /// Posts `fields` as `multipart/form-data` (with the form's token), as a file upload does.
    async fn post_multipart(&self, path: &str, fields: &[(&str, &str)]) -> u16 {
        const BOUNDARY: &str = "pola-walk-7f3a";
        let mut body = String::new();
        for (name, value) in [("csrf", self.csrf.as_str())].iter().chain(fields) {
            body.push_str(&format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
        body.push_str(&format!("--{BOUNDARY}--\r\n"));
        self.http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
            .body(body)
            .send()
            .await
            .expect("an answer")
            .status()
            .as_u16()
    }
}

/// Every form the back-office takes: where it posts, whether as a file upload, and the roles
/// it is for (an admin's too). A form a role is not for answers 403 whatever it holds.
fn forms(shop: &Shop, order: Uuid, ticket: Uuid, promotion: Uuid) -> Vec<(String, bool, &'static [Role])> {
    const FULFILMENT: &[Role] = &[Role::Fulfilment];
    const FINANCE: &[Role] = &[Role::Finance];
    const SUPPORT: &[Role] = &[Role::Support];
    const CATALOG: &[Role] = &[Role::Catalog];
    const PROMOTERS: &[Role] = &[Role::Catalog, Role::Finance];
    let (product, variant) = (shop.tea.product, shop.tea.variant);
    let mut forms: Vec<(String, bool, &'static [Role])> = ["pack", "ship", "delivered", "delivery-failed", "returned"]
        .into_iter()
        .map(|action| (format!("/backoffice/orders/{order}/{action}"), false, FULFILMENT))
        .collect();
    forms.extend([
        (format!("/backoffice/orders/{order}/bank-transfer"), false, FINANCE),
        (format!("/backoffice/orders/{order}/refund"), false, FINANCE),
        (format!("/backoffice/orders/{order}/cancel"), false, SUPPORT),
        (
            format!("/backoffice/orders/{order}/address"),
            false,
            &[Role::Fulfilment, Role::Support],
        ),
        ("/backoffice/catalogue/import".into(), true, CATALOG),
        (format!("/backoffice/catalogue/products/{product}"), false, CATALOG),
        (format!("/backoffice/catalogue/variants/{variant}"), false, CATALOG),
        (format!("/backoffice/catalogue/products/{product}/variants"), false, CATALOG),
        (format!("/backoffice/catalogue/products/{product}/pictures"), true, CATALOG),
        (
            format!("/backoffice/catalogue/products/{product}/pictures/{}", Uuid::now_v7()),
            false,
            CATALOG,
        ),
        (format!("/backoffice/stock/variants/{variant}"), false, CATALOG),
        ("/backoffice/payments/remittances".into(), true, FINANCE),
        ("/backoffice/promotions".into(), false, PROMOTERS),
        ("/backoffice/promotions/plans".into(), false, PROMOTERS),
        (format!("/backoffice/promotions/{promotion}"), false, PROMOTERS),
        (format!("/backoffice/customers/{}/reveal", shop.customer), false, SUPPORT),
        (format!("/backoffice/support/{ticket}/messages"), false, SUPPORT),
        (format!("/backoffice/support/{ticket}/state"), false, SUPPORT),
        ("/backoffice/staff".into(), false, &[]),
        (format!("/backoffice/staff/{}", Uuid::now_v7()), false, &[]),
        (format!("/backoffice/staff/{}/reset-two-factor", Uuid::now_v7()), false, &[]),
    ]);
    forms
}

/// Every field any form reads, filled as a real one would be.
const ANY_FORM: [(&str, &str); 28] = [
    ("reason", "Walking the forms"),
    ("amount", "10.00"),
    ("reference", "CMB-WALK-1"),
    ("courier", "manual"),
    ("waybill", "WB-WALK-1"),
    ("file", "waybill,amount\nWB-WALK-1,10.00\n"),
    ("name", "Walk"),
    ("description", "Walk"),
    ("category", "tea"),
    ("status", "active"),
    ("product", "00000000-0000-0000-0000-000000000000"),
    ("price", "10.00"),
    ("location", "colombo"),
    ("on_hand", "1"),
    ("action", "pause"),
    ("kind", "percent_off"),
    ("value", "5"),
    ("slug", "walk"),
    ("variant_id", "00000000-0000-0000-0000-000000000000"),
    ("months", "12"),
    ("field", "phone"),
    ("message", "Walk"),
    ("state", "resolved"),
    ("email", "walk@pola.lk"),
    ("password", "a first password"),
    ("position", "0"),
    ("sku", "WALK-1"),
    ("attr.flavour", "Cinnamon"),
];

/// What the walk works on.
struct Shop {
    app: TestApp,
    admin: String,
    shopper: Shopper,
    customer: Uuid,
    tea: OnSale,
    /// A running promotion for each role to pause (made before the walk: a fixture's audit
    /// row must not count as the walk's).
    pausable: Vec<Uuid>,
}

impl Shop {
    async fn order(&self) -> Uuid {
        uuid(
            self.app
                .buy_for_delivery(&self.shopper.access, self.tea.variant, 1)
                .await
                .expect(201)
                .get("id"),
        )
    }

    /// An order to be paid on delivery, confirmed.
    async fn cod_order(&self) -> Uuid {
        let request = json!({"lines": [{"variant_id": self.tea.variant, "quantity": 1}], "cash_on_delivery": true,
            "delivery": {"recipient": "Nimal Perera", "phone": "077 123 4567", "line1": "12 Galle Road", "city": "Colombo 03"}});
        let order = uuid(self.app.checkout(&self.shopper.access, request).await.expect(201).get("id"));
        self.app.confirm_cod(&self.shopper.access, order).await;
        order
    }

    async fn view(&self, order: Uuid) -> Value {
        self.app
            .api
            .get(&format!("/api/v1/orders/staff/orders/{order}"), Some(&self.admin))
            .await
            .expect(200)
            .body
    }

    async fn status(&self, order: Uuid) -> String {
        self.view(order).await["status"].as_str().expect("a status").to_owned()
    }

    /// Rows in every service's audit trail.
    async fn trail(&self) -> usize {
        let rows = self
            .app
            .api
            .get("/api/v1/audit?limit=500", Some(&self.admin))
            .await
            .expect(200);
        rows.body.as_array().expect("rows").len()
    }
}

/// One staff action: where it posts, with what, and what shows it was done (or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Pack,
    ConfirmTransfer,
    Cancel,
    RevealAddress,
    RevealCustomer,
    Reprice,
    CountStock,
    PausePromotion,
    AnswerTicket,
    AddStaff,
}

impl Action {
    const ALL: [Action; 10] = [
        Action::Pack,
        Action::ConfirmTransfer,
        Action::Cancel,
        Action::RevealAddress,
        Action::RevealCustomer,
        Action::Reprice,
        Action::CountStock,
        Action::PausePromotion,
        Action::AnswerTicket,
        Action::AddStaff,
    ];

    fn allowed(self) -> &'static [Role] {
        match self {
            Action::Pack => &[Role::Fulfilment],
            Action::ConfirmTransfer => &[Role::Finance],
            Action::Cancel | Action::AnswerTicket | Action::RevealCustomer => &[Role::Support],
            Action::RevealAddress => &[Role::Fulfilment, Role::Support],
            Action::Reprice | Action::CountStock => &[Role::Catalog],
            Action::PausePromotion => &[Role::Catalog, Role::Finance],
            Action::AddStaff => &[],
        }
    }

    /// Does it as `desk`; whether it took effect, by the record it changes.
    async fn run(self, shop: &mut Shop, desk: &Desk) -> (u16, bool) {
        match self {
            Action::Pack => {
                let order = shop.cod_order().await;
                let status = desk.post(&format!("/backoffice/orders/{order}/pack"), &[]).await;
                (status, shop.status(order).await == "packed")
            }
            Action::ConfirmTransfer => {
                let order = shop.order().await;
                let path = format!("/api/v1/payments/orders/{order}/bank-transfer");
                shop.app
                    .api
                    .post(&path, Some(&shop.shopper.access), json!({}))
                    .await
                    .expect(200);
                let total = shop.view(order).await["total"]["amount_minor"].as_i64().expect("a total");
                let amount = format!("{}.{:02}", total / 100, total % 100);
                let reference = format!("CMB-{}", &order.simple().to_string()[24..]);
                let form = [("amount", amount.as_str()), ("reference", reference.as_str())];
                let status = desk.post(&format!("/backoffice/orders/{order}/bank-transfer"), &form).await;
                (status, shop.status(order).await == "paid")
            }
            Action::Cancel => {
                let order = shop.order().await;
                let status = desk
                    .post(
                        &format!("/backoffice/orders/{order}/cancel"),
                        &[("reason", "Customer asked by phone")],
                    )
                    .await;
                (status, shop.status(order).await == "cancelled")
            }
            Action::RevealAddress => {
                let order = shop.order().await;
                let before = shop.trail().await;
                let status = desk
                    .post(
                        &format!("/backoffice/orders/{order}/address"),
                        &[("reason", "Packing the parcel")],
                    )
                    .await;
                (status, shop.trail().await > before)
            }
            Action::RevealCustomer => {
                let before = shop.trail().await;
                let form = [("field", "phone"), ("reason", "Calling back about a late parcel")];
                let status = desk
                    .post(&format!("/backoffice/customers/{}/reveal", shop.customer), &form)
                    .await;
                (status, shop.trail().await > before)
            }
            Action::Reprice => {
                let form = [
                    ("product", shop.tea.product.to_string()),
                    ("price", "950.00".into()),
                    ("status", "active".into()),
                ];
                let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let before = shop.trail().await;
                let status = desk
                    .post(&format!("/backoffice/catalogue/variants/{}", shop.tea.variant), &form)
                    .await;
                (status, shop.trail().await > before)
            }
            Action::CountStock => {
                let before = shop.trail().await;
                let counted = (before % 97 + 1).to_string();
                let form = [
                    ("location", "colombo"),
                    ("on_hand", counted.as_str()),
                    ("reason", "Walk count"),
                ];
                let status = desk
                    .post(&format!("/backoffice/stock/variants/{}", shop.tea.variant), &form)
                    .await;
                let stock = shop
                    .app
                    .api
                    .get(
                        &format!("/api/v1/inventory/variants/{}/stock", shop.tea.variant),
                        Some(&shop.admin),
                    )
                    .await
                    .expect(200);
                (
                    status,
                    stock.get("ledger")[0]["reason"] == "Walk count" && shop.trail().await > before,
                )
            }
            Action::PausePromotion => {
                let promotion = shop.pausable.pop().expect("a promotion for each role");
                let before = shop.trail().await;
                let status = desk
                    .post(&format!("/backoffice/promotions/{promotion}"), &[("action", "pause")])
                    .await;
                let seen = shop
                    .app
                    .api
                    .get(&format!("/api/v1/promotions/{promotion}"), Some(&shop.admin))
                    .await
                    .expect(200);
                (status, seen.get("active") == &json!(false) && shop.trail().await > before)
            }
            Action::AnswerTicket => {
                let ticket = shop
                    .app
                    .api
                    .post(
                        "/api/v1/support/tickets",
                        Some(&shop.shopper.access),
                        json!({"category": "account", "subject": "Name", "message": "Please fix my name."}),
                    )
                    .await
                    .expect(201);
                let id = uuid(ticket.get("id"));
                let status = desk
                    .post(
                        &format!("/backoffice/support/{id}/messages"),
                        &[("message", "Done."), ("kind", "reply")],
                    )
                    .await;
                let seen = shop
                    .app
                    .api
                    .get(&format!("/api/v1/support/tickets/{id}"), Some(&shop.shopper.access))
                    .await
                    .expect(200);
                (status, seen.get("messages").as_array().expect("a thread").len() == 2)
            }
            Action::AddStaff => {
                let email = format!("walk-{}@pola.lk", Uuid::now_v7().simple());
                let form = [
                    ("name", "Walker"),
                    ("email", email.as_str()),
                    ("password", "a first password"),
                    ("role", "support"),
                ];
                let status = desk.post("/backoffice/staff", &form).await;
                let accounts = shop
                    .app
                    .api
                    .get("/api/v1/identity/staff/accounts", Some(&shop.admin))
                    .await
                    .expect(200);
                (status, accounts.body.to_string().contains(&email))
            }
        }
    }
}

/// Pages: the path and the roles that open it (an admin opens all).
fn pages(shop: &Shop, order: Uuid, ticket: Uuid, promotion: Uuid) -> Vec<(String, &'static [Role])> {
    const ORDERS: &[Role] = &[Role::Fulfilment, Role::Finance, Role::Support];
    const ALL: &[Role] = &[Role::Catalog, Role::Fulfilment, Role::Finance, Role::Support];
    vec![
        ("/backoffice/".into(), ALL),
        ("/backoffice/orders".into(), ORDERS),
        (format!("/backoffice/orders/{order}"), ORDERS),
        (format!("/backoffice/orders/{order}/pick-list"), &[Role::Fulfilment]),
        ("/backoffice/catalogue".into(), &[Role::Catalog]),
        ("/backoffice/catalogue/export.csv".into(), &[Role::Catalog]),
        (
            format!("/backoffice/catalogue/products/{}", shop.tea.product),
            &[Role::Catalog],
        ),
        ("/backoffice/stock".into(), &[Role::Catalog, Role::Fulfilment]),
        ("/backoffice/stock?low=1".into(), &[Role::Catalog, Role::Fulfilment]),
        ("/backoffice/stock/ledger".into(), &[Role::Catalog, Role::Fulfilment]),
        (
            format!("/backoffice/stock/variants/{}", shop.tea.variant),
            &[Role::Catalog, Role::Fulfilment],
        ),
        ("/backoffice/payments".into(), &[Role::Finance]),
        ("/backoffice/promotions".into(), &[Role::Catalog, Role::Finance]),
        (format!("/backoffice/promotions/{promotion}"), &[Role::Catalog, Role::Finance]),
        ("/backoffice/customers?q=nobody%40example.lk".into(), &[Role::Support]),
        (format!("/backoffice/customers/{}", shop.customer), &[Role::Support]),
        ("/backoffice/support".into(), &[Role::Support]),
        (format!("/backoffice/support/{ticket}"), &[Role::Support]),
        ("/backoffice/reports".into(), ALL),
        ("/backoffice/reports/payments".into(), &[Role::Finance]),
        ("/backoffice/reports/payments/csv".into(), &[Role::Finance]),
        ("/backoffice/reports/low-stock".into(), &[Role::Catalog, Role::Fulfilment]),
        ("/backoffice/reports/support".into(), &[Role::Support]),
        ("/backoffice/staff".into(), &[]),
        ("/backoffice/audit".into(), &[]),
        // The System pages read APM, which this app has not: the log search's empty form.
        ("/backoffice/system/logs".into(), &[]),
    ]
}

#[tokio::test]
async fn every_role_opens_only_its_pages_and_actions_and_the_rest_answer_403_and_change_nothing() {
    // One database here: reports may read it (the end-to-end tests read the replica).
    let app = spawn_app_behind_edge_with(|c| c.reporting.allow_primary = true).await;
    let admin = app.staff(&[Role::Admin]).await;
    let tea = app.tea(&admin, "Walk tea", 90_000, 200).await;
    let shopper = app.shopper().await;
    let customer = uuid(
        app.api
            .get("/api/v1/identity/me", Some(&shopper.access))
            .await
            .expect(200)
            .get("id"),
    );
    let mut pausable = vec![];
    for _ in Role::ALL {
        let made = app
            .api
            .post(
                "/api/v1/promotions",
                Some(&admin),
                json!({"name": "Pause me", "kind": "free_delivery", "automatic": false}),
            )
            .await
            .expect(201);
        pausable.push(uuid(made.get("id")));
    }
    let mut shop = Shop {
        app,
        admin,
        shopper,
        customer,
        tea,
        pausable,
    };
    let order = shop.order().await;
    let ticket = uuid(
        shop.app
            .api
            .post(
                "/api/v1/support/tickets",
                Some(&shop.shopper.access),
                json!({"category": "late_delivery", "order_id": order, "subject": "Late", "message": "Where is it?"}),
            )
            .await
            .expect(201)
            .get("id"),
    );
    let promotion = uuid(
        shop.app
            .api
            .post(
                "/api/v1/promotions",
                Some(&shop.admin),
                json!({"name": "Walk 5% off", "code": "WALK5", "kind": "percent_off", "value": 5}),
            )
            .await
            .expect(201)
            .get("id"),
    );
    let base = shop.app.api.staff_base.clone().expect("behind an edge");
    for role in Role::ALL {
        let email = format!("{}-{}@pola.lk", role.as_str(), Uuid::now_v7().simple());
        shop.app
            .identity
            .create_staff(&email, "Walker", &[role], STAFF_PASSWORD.into())
            .await
            .expect("created");
        let secret = shop.app.enrol(&email).await;
        let desk = Desk::sign_in(&base, &email, &secret).await;
        let may = |roles: &[Role]| role == Role::Admin || roles.contains(&role);
        for (path, roles) in pages(&shop, order, ticket, promotion) {
            let (status, body) = desk.get(&path).await;
            let expected = if may(roles) { 200 } else { 403 };
            assert_eq!(status, expected, "{role} GET {path}: {}", &body[..body.len().min(300)]);
        }
        for (path, multipart, roles) in forms(&shop, order, ticket, promotion) {
            if may(roles) {
                continue;
            }
            let before = shop.trail().await;
            let status = match multipart {
                true => desk.post_multipart(&path, &ANY_FORM).await,
                false => desk.post(&path, &ANY_FORM).await,
            };
            assert_eq!(status, 403, "{role} POST {path}");
            assert_eq!(shop.trail().await, before, "{role} POST {path} left no audit row");
        }
        for action in Action::ALL {
            let before = shop.trail().await;
            let (status, done) = action.run(&mut shop, &desk).await;
            if may(action.allowed()) {
                assert!(matches!(status, 200 | 303), "{role} may {action:?}: {status}");
                assert!(done, "{role} {action:?} took effect");
            } else {
                assert_eq!(status, 403, "{role} may not {action:?}");
                assert!(!done, "{role} {action:?} changed nothing");
                // Fixtures write no staff rows; an action refused writes none either.
                assert_eq!(shop.trail().await, before, "{role} {action:?} left no audit row");
            }
        }
    }
}

#[tokio::test]
async fn nothing_of_the_back_office_answers_on_the_public_listener_or_past_the_edge() {
    let app = spawn_app_behind_edge().await;
    let paths = [
        "/backoffice/",
        "/backoffice/sign-in",
        "/backoffice/orders",
        "/backoffice/staff",
        "/backoffice/assets/desk.css",
    ];
    let http = Client::builder().redirect(Policy::none()).build().expect("a client");
    for path in paths {
        // The public listener does not route it.
        let public = http.get(format!("{}{path}", app.api.base)).send().await.expect("an answer");
        assert_eq!(public.status(), 404, "public {path}");
        // Straight to the app, without the staff listener's mark, it is not there either.
        let direct = http.get(format!("{}{path}", app.ops.base)).send().await.expect("an answer");
        assert_eq!(direct.status(), 404, "direct {path}");
        let forged = http
            .post(format!("{}{path}", app.api.base))
            .header("x-pola-listener", "staff")
            .form(&[("email", "a@b.lk")])
            .send()
            .await
            .expect("an answer");
        assert_eq!(forged.status(), 404, "a forged listener mark on the public side: {path}");
    }
    let sign_in: Value = json!({"email": "x@pola.lk", "password": "whatever"});
    let direct = http
        .post(format!("{}/api/v1/identity/staff/sessions", app.ops.base))
        .json(&sign_in)
        .send()
        .await
        .expect("an answer");
    assert_eq!(direct.status(), 404, "the session API is staff-listener only");
}

#[tokio::test]
async fn a_back_office_form_without_its_sessions_token_changes_nothing() {
    let app = spawn_app_behind_edge().await;
    let base = app.api.staff_base.clone().expect("behind an edge");
    let admin = app.staff(&[Role::Admin]).await;
    let email = format!("csrf-{}@pola.lk", Uuid::now_v7().simple());
    app.identity
        .create_staff(&email, "Csrf Admin", &[Role::Admin], STAFF_PASSWORD.into())
        .await
        .expect("created");
    let secret = app.enrol(&email).await;
    let desk = Desk::sign_in(&base, &email, &secret).await;
    let count = || async {
        let rows = app.api.get("/api/v1/identity/staff/accounts", Some(&admin)).await.expect(200);
        rows.body.as_array().expect("accounts").len()
    };
    // Another staff member's session, whose token must not open this one's forms.
    let other_email = format!("csrf-other-{}@pola.lk", Uuid::now_v7().simple());
    app.identity
        .create_staff(&other_email, "Other Admin", &[Role::Admin], STAFF_PASSWORD.into())
        .await
        .expect("created");
    let other_secret = app.enrol(&other_email).await;
    let other = Desk::sign_in(&base, &other_email, &other_secret).await;
    let before = count().await;
    let new = |csrf: &str| {
        vec![
            ("csrf".to_owned(), csrf.to_owned()),
            ("name".into(), "Forged".into()),
            ("email".into(), format!("forged-{}@pola.lk", Uuid::now_v7().simple())),
            ("password".into(), "a forged password".into()),
            ("role".into(), "admin".into()),
        ]
    };
    // No token, another staff member's session's token, a made-up one: each refused.
    for token in ["", other.csrf.as_str(), "AAAA"] {
        let refused = desk
            .http
            .post(format!("{base}/backoffice/staff"))
            .header("cookie", &desk.cookie)
            .form(&new(token))
            .send()
            .await
            .expect("an answer");
        assert_eq!(refused.status(), 403, "token {token:?}");
    }
    assert_eq!(count().await, before, "no account was made");
    // The session's own token works.
    assert_eq!(
        desk.post(
            "/backoffice/staff",
            &[
                ("name", "Real"),
                ("email", "real@pola.lk"),
                ("password", "a real password"),
                ("role", "support")
            ]
        )
        .await,
        303
    );
    assert_eq!(count().await, before + 1);
}

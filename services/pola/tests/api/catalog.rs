//! Browsing, filters, search, paging, staff changes and bundles.

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use pola::ServiceName;
use pola_core::{auth::Role, testing::test_amqp_url};
use serde_json::{Value, json};

use crate::harness::{SendReply, TestApp, spawn_app, spawn_app_with, uuid, with_events};

async fn shirt(app: &TestApp, staff: &str, name: &str, price_minor: i64, colours: &[&str]) -> Value {
    let code = uuid::Uuid::now_v7().simple().to_string().to_uppercase();
    let variants: Vec<Value> = colours
        .iter()
        .flat_map(|c| ["S", "M"].map(|s| (c, s)))
        .map(|(c, s)| json!({"sku": format!("SH-{code}-{s}-{}", &c[..3].to_uppercase()), "price_minor": price_minor, "attributes": {"size": s, "colour": c}}))
        .collect();
    app.api
        .post("/api/v1/catalog/products", Some(staff),
            json!({"name": name, "description": "Hand-waxed cotton", "kind": "product", "category": "batik", "product_type": "shirt", "variants": variants}))
        .await
        .expect(201)
        .body
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn filters_search_and_keyset_paging_find_the_right_products() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    app.basics(&staff).await;
    let peacock = shirt(&app, &staff, "Peacock batik shirt", 450_000, &["Indigo"]).await;
    let lotus = shirt(&app, &staff, "Lotus batik shirt", 650_000, &["Maroon", "Indigo"]).await;
    let tea = app.tea(&staff, "Cinnamon-scented Ceylon tea", 90_000, 4).await;
    for v in lotus["variants"].as_array().expect("variants") {
        app.set_stock(&staff, uuid(&v["id"]), 2).await;
    }

    let get = |query: &str| {
        let path = format!("/api/v1/catalog/products?{query}");
        let api = app.api.clone();
        async move { api.get(&path, None).await }
    };
    let all = get("").await.expect(200);
    assert_eq!(ids(&all.body).len(), 3);
    assert_eq!(
        ids(&get("category=clothing").await.expect(200).body).len(),
        2,
        "a parent category includes its children"
    );
    assert_eq!(ids(&get("category=tea").await.expect(200).body), [tea.product.to_string()]);
    assert_eq!(
        ids(&get("min_price=500000").await.expect(200).body),
        [lotus["id"].as_str().expect("id")]
    );
    assert_eq!(
        ids(&get("max_price=100000").await.expect(200).body),
        [tea.product.to_string()]
    );
    assert_eq!(
        ids(&get("attr=colour:Maroon").await.expect(200).body),
        [lotus["id"].as_str().expect("id")]
    );
    assert_eq!(ids(&get("attr=colour:Indigo,size:M").await.expect(200).body).len(), 2);
    assert!(
        ids(&get("attr=fabric:Silk").await.expect(200).body).is_empty(),
        "no type declares fabric"
    );
    assert_eq!(
        ids(&get("attr=flavour:Pure%20Ceylon&category=tea").await.expect(200).body),
        [tea.product.to_string()]
    );
    assert_eq!(
        ids(&get("q=peacock").await.expect(200).body),
        [peacock["id"].as_str().expect("id")]
    );
    assert_eq!(ids(&get("q=batik").await.expect(200).body).len(), 2);
    let in_stock: HashSet<String> = ids(&get("in_stock=true").await.expect(200).body).into_iter().collect();
    assert_eq!(
        in_stock,
        HashSet::from([lotus["id"].as_str().expect("id").to_owned(), tea.product.to_string()])
    );
    let lotus_summary = all.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|p| p["id"] == lotus["id"])
        .expect("lotus")
        .clone();
    assert_eq!(lotus_summary["stock_available"], 8);
    assert_eq!(lotus_summary["price"]["amount_minor"], 650_000);

    // Paging: newest first, every product once.
    let mut seen = vec![];
    let mut cursor = String::new();
    loop {
        let page = get(&format!("limit=1&cursor={cursor}")).await.expect(200);
        seen.extend(ids(&page.body));
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, ids(&all.body));
    assert_eq!(seen[0], tea.product.to_string());
}

#[tokio::test]
async fn staff_update_and_archive_products_and_reprice_variants() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Old name", 50_000, 5).await;
    let path = format!("/api/v1/catalog/products/{}", tea.product);
    let updated = app
        .api
        .patch(&path, Some(&staff), json!({"name": "New name", "category": "gifts"}))
        .await
        .expect(200);
    assert_eq!(updated.get("name"), "New name");
    assert_eq!(updated.get("category"), "gifts");
    app.api
        .patch(
            &format!("/api/v1/catalog/variants/{}", tea.variant),
            Some(&staff),
            json!({"price_minor": 55_000}),
        )
        .await
        .expect(200);
    assert_eq!(
        app.api.get(&path, None).await.expect(200).get("price")["amount_minor"],
        55_000
    );
    app.api
        .patch(
            &format!("/api/v1/catalog/variants/{}", tea.variant),
            Some(&staff),
            json!({"price_minor": -1}),
        )
        .await
        .expect_problem(422);

    app.api
        .post(&format!("{path}/archive"), Some(&staff), json!({}))
        .await
        .expect(200);
    app.api.get(&path, None).await.expect_problem(404);
    let list = app.api.get("/api/v1/catalog/products", None).await.expect(200);
    assert!(ids(&list.body).is_empty());
    app.api
        .patch(
            &format!("/api/v1/catalog/products/{}", uuid::Uuid::now_v7()),
            Some(&staff),
            json!({"name": "x"}),
        )
        .await
        .expect_problem(404);
}

#[tokio::test]
async fn new_kinds_of_product_are_data_and_their_attributes_are_checked() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    app.basics(&staff).await;
    app.api
        .post("/api/v1/catalog/product-types", Some(&staff), json!({"code": "hat", "name": "Hat", "attributes": [{"code": "colour", "name": "Colour", "kind": "enum", "values": ["Red", "Blue"]}]}))
        .await
        .expect(201);
    let hat = |sku: &str, colour: Value| {
        json!({"name": "Straw hat", "kind": "product", "category": "clothing", "product_type": "hat",
               "variants": [{"sku": sku, "price_minor": 150_000, "attributes": {"colour": colour}}]})
    };
    app.api
        .post("/api/v1/catalog/products", Some(&staff), hat("HAT-RED", json!("Red")))
        .await
        .expect(201);
    let wrong = app
        .api
        .post("/api/v1/catalog/products", Some(&staff), hat("HAT-GRN", json!("Green")))
        .await
        .expect_problem(422);
    assert_eq!(wrong.body["errors"][0]["field"], "variants[0].attributes.colour");
    app.api
        .post("/api/v1/catalog/products", Some(&staff), hat("HAT-RED", json!("Blue")))
        .await
        .expect_problem(409);
    let types = app.api.get("/api/v1/catalog/product-types", None).await.expect(200);
    assert!(types.body.as_array().expect("types").iter().any(|t| t["code"] == "hat"));
    let support = app.staff(&[Role::Support]).await;
    app.api
        .post("/api/v1/catalog/products", Some(&support), hat("HAT-BLU", json!("Blue")))
        .await
        .expect_problem(403);
    // Without a staff token the request goes where customers go: no such endpoint there.
    app.api
        .post("/api/v1/catalog/products", None, hat("HAT-BLU", json!("Blue")))
        .await
        .expect_problem(404);
}

#[tokio::test]
async fn a_bundle_is_stocked_by_its_components_and_selling_it_sells_them() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let black = app.tea(&staff, "Black tea", 60_000, 10).await;
    let green = app.tea(&staff, "Green tea", 70_000, 3).await;
    let bundle = app
        .api
        .post(
            "/api/v1/catalog/products",
            Some(&staff),
            json!({"name": "Tea gift box", "kind": "bundle", "category": "gifts", "product_type": "gift_box",
            "variants": [{"sku": "GIFT-BOX-1", "price_minor": 150_000, "components": [
                {"variant_id": black.variant, "quantity": 2}, {"variant_id": green.variant, "quantity": 1}]}]}),
        )
        .await
        .expect(201);
    let box_variant = uuid(&bundle.get("variants")[0]["id"]);
    assert_eq!(bundle.get("stock_available"), 3);

    let shopper = app.shopper().await;
    app.buy_now(&shopper.access, box_variant, 2).await.expect(201);
    assert_eq!(app.available(black.product, black.variant).await, 6);
    assert_eq!(app.available(green.product, green.variant).await, 1);
    let short = app.buy_now(&shopper.access, box_variant, 2).await.expect_problem(409);
    assert!(short.body["shortages"].is_array());
    app.api
        .post(
            "/api/v1/catalog/products",
            Some(&staff),
            json!({"name": "Box of boxes", "kind": "bundle", "category": "gifts", "product_type": "gift_box",
            "variants": [{"sku": "GIFT-BOX-2", "price_minor": 1, "components": [{"variant_id": box_variant, "quantity": 1}]}]}),
        )
        .await
        .expect_problem(422);
}

/// A PNG of `width`×`height` in one colour.
pub(crate) fn png(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_pixel(width, height, image::Rgb(rgb))
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("a PNG");
    out.into_inner()
}

#[tokio::test]
async fn staff_upload_pictures_once_and_customers_get_them_resized_with_long_cache_lives() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    app.basics(&staff).await;
    let product = shirt(&app, &staff, "Peacock batik shirt", 450_000, &["Indigo", "Maroon"]).await;
    let id = uuid(&product["id"]);
    let maroon = uuid(&product["variants"][1]["id"]);
    let upload = |bytes: Vec<u8>, token: Option<String>| {
        let api = &app.api;
        async move {
            api.request_as(reqwest::Method::POST, "/api/v1/catalog/images", token.as_deref())
                .header("content-type", "image/png")
                .body(bytes)
                .send_reply()
                .await
        }
    };

    // Only staff upload (customers do not even see the route); what is not a picture is refused.
    let picture = png(900, 600, [59, 63, 143]);
    upload(picture.clone(), Some(app.customer_token(uuid::Uuid::now_v7())))
        .await
        .expect_problem(404);
    upload(b"<svg onload=alert(1)>".to_vec(), Some(staff.clone()))
        .await
        .expect_problem(415);
    let first = upload(picture.clone(), Some(staff.clone())).await.expect(201);
    let again = upload(picture, Some(staff.clone())).await.expect(201);
    assert_eq!(first.get("hash"), again.get("hash"), "the same file is one picture");
    assert_eq!(first.get("widths"), &json!([320, 640]), "never enlarged past 900 pixels");
    let hash = first.get("hash").as_str().expect("a hash").to_owned();

    // Shown on the product and on the maroon variant, with alt text in three languages.
    let alt = json!({"en": "Indigo batik shirt", "si": "නිල් බතික් කමිසය", "ta": "நீல பத்திக் சட்டை"});
    let path = format!("/api/v1/catalog/products/{id}/images");
    app.api
        .post(&path, Some(&staff), json!({"image": hash, "alt": alt}))
        .await
        .expect(201);
    app.api
        .post(
            &path,
            Some(&staff),
            json!({"image": hash, "alt": {"en": "", "si": "x", "ta": "y"}}),
        )
        .await
        .expect_problem(422);
    app.api
        .post(&path, Some(&staff), json!({"image": "0".repeat(64), "alt": alt}))
        .await
        .expect_problem(422);
    let stranger = uuid::Uuid::now_v7();
    app.api
        .post(
            &path,
            Some(&staff),
            json!({"image": hash, "alt": alt, "variant_id": stranger}),
        )
        .await
        .expect_problem(422);
    let on_variant = app
        .api
        .post(&path, Some(&staff), json!({"image": hash, "alt": alt, "variant_id": maroon}))
        .await
        .expect(201);

    let detail = app.api.get(&format!("/api/v1/catalog/products/{id}"), None).await.expect(200);
    let images = detail.get("images").as_array().expect("images");
    assert_eq!(images.len(), 2);
    assert_eq!(images[0]["url"], format!("/images/{hash}"));
    assert_eq!(images[0]["alt"]["si"], "නිල් බතික් කමිසය");
    assert_eq!(images[1]["variant_id"], maroon.to_string());
    let listed = app.api.get("/api/v1/catalog/products?category=batik", None).await.expect(200);
    assert_eq!(
        listed.get("items")[0]["image"]["url"],
        format!("/images/{hash}"),
        "a listing shows the first"
    );

    // Served resized, for a year; unknown widths and names are 404.
    let served = app
        .api
        .request(reqwest::Method::GET, &format!("/images/{hash}/320.jpg"))
        .send()
        .await
        .expect("served");
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["cache-control"], "public, max-age=31536000, immutable");
    let bytes = served.bytes().await.expect("bytes");
    let small = image::load_from_memory(&bytes).expect("a JPEG");
    assert_eq!((small.width(), small.height()), (320, 213));
    for missing in [
        format!("/images/{hash}/1280.jpg"),
        format!("/images/{hash}/321.jpg"),
        "/images/nothing/320.jpg".into(),
    ] {
        let status = app
            .api
            .request(reqwest::Method::GET, &missing)
            .send()
            .await
            .expect("an answer")
            .status();
        assert_eq!(status, 404, "{missing}");
    }

    // Taken off the variant, it stays on the product.
    let image_id = on_variant.get("id").as_str().expect("an id").to_owned();
    let remove = format!("/api/v1/catalog/products/{id}/images/{image_id}");
    app.api
        .request_as(reqwest::Method::DELETE, &remove, Some(&staff))
        .send_reply()
        .await
        .expect(204);
    app.api
        .request_as(reqwest::Method::DELETE, &remove, Some(&staff))
        .send_reply()
        .await
        .expect_problem(404);
    let detail = app.api.get(&format!("/api/v1/catalog/products/{id}"), None).await.expect(200);
    assert_eq!(detail.get("images").as_array().expect("images").len(), 1);
}

/// Every product of a listing, a page of two at a time.
async fn every_page(app: &TestApp, query: &str) -> Vec<String> {
    let mut seen = vec![];
    let mut cursor = String::new();
    loop {
        let page = app
            .api
            .get(&format!("/api/v1/catalog/products?limit=2&{query}&cursor={cursor}"), None)
            .await
            .expect(200);
        seen.extend(
            page.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|p| p["name"].as_str().expect("a name").to_owned()),
        );
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => return seen,
        }
    }
}

#[tokio::test]
async fn listings_sort_by_price_either_way_across_pages_and_follow_a_price_change() {
    let app = spawn_app().await;
    let staff = app.staff(&[Role::Catalog]).await;
    let mut teas = vec![];
    // Two at the same price, either side of a page's end: the older first going up, the newer
    // first going down.
    for (name, price) in [
        ("Uva", 60_000),
        ("Dimbula", 30_000),
        ("Ruhuna", 90_000),
        ("Kandy", 60_000),
        ("Nuwara Eliya", 120_000),
    ] {
        teas.push(app.tea(&staff, name, price, 5).await);
    }
    let up = ["Dimbula", "Uva", "Kandy", "Ruhuna", "Nuwara Eliya"];
    assert_eq!(every_page(&app, "sort=price_asc").await, up);
    assert_eq!(every_page(&app, "sort=price_asc&category=tea").await, up);
    let mut down = up;
    down.reverse();
    assert_eq!(every_page(&app, "sort=price_desc&category=tea").await, down);
    assert_eq!(
        every_page(&app, "sort=price_asc&min_price=50000&in_stock=true").await,
        ["Uva", "Kandy", "Ruhuna", "Nuwara Eliya"]
    );

    // Uva becomes the dearest: lists sort by the price it has now.
    app.api
        .patch(
            &format!("/api/v1/catalog/variants/{}", teas[0].variant),
            Some(&staff),
            json!({"price_minor": 150_000}),
        )
        .await
        .expect(200);
    assert_eq!(
        every_page(&app, "sort=price_asc").await,
        ["Dimbula", "Kandy", "Ruhuna", "Nuwara Eliya", "Uva"]
    );
    let refused = app
        .api
        .get("/api/v1/catalog/products?sort=cheapest", None)
        .await
        .expect_problem(422);
    assert_eq!(refused.get("errors")[0]["field"], "sort");
}

/// How soon a change the read model is told of shows on every process's pages (the README's
/// bound, "while RabbitMQ is up").
const TOLD_WITHIN: Duration = Duration::from_secs(5);

/// The listing entry of `product` as `api` shows it now, if it is listed.
async fn listed(api: &pola_core::testing::Api, product: uuid::Uuid) -> Option<Value> {
    let page = api.get("/api/v1/catalog/products?category=tea", None).await.expect(200).body;
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|p| uuid(&p["id"]) == product)
        .cloned()
}

/// Asks `api` for `product`'s listing entry until `shows` holds of it, for at most
/// [`TOLD_WITHIN`]; returns how long that took.
async fn until_listed(
    api: &pola_core::testing::Api,
    product: uuid::Uuid,
    what: &str,
    shows: impl Fn(Option<&Value>) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let entry = listed(api, product).await;
        if shows(entry.as_ref()) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < TOLD_WITHIN,
            "{what} did not show within {TOLD_WITHIN:?}: {entry:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn another_process_s_kept_pages_follow_a_price_change_an_archive_and_a_sell_out() {
    // Pages kept ten minutes: in this test only events clear another process's pages.
    let app = spawn_app_with(|config| {
        with_events(test_amqp_url())(config);
        config.catalog.read_model_ttl_ms = 600_000;
    })
    .await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Dimbula estate tea", 90_000, 3).await;
    let other = app.tea(&staff, "Ruhuna estate tea", 60_000, 10).await;
    // A second `pola serve` with its own read model, reaching inventory in the first.
    let front = app.front(&[ServiceName::Catalog], &[ServiceName::Inventory]).await;
    let reprice = |price: i64| {
        let api = app.api.clone();
        let path = format!("/api/v1/catalog/variants/{}", tea.variant);
        let staff = staff.clone();
        async move {
            api.patch(&path, Some(&staff), json!({ "price_minor": price }))
                .await
                .expect(200)
        }
    };
    let price = |entry: Option<&Value>| entry.and_then(|e| e["price"]["amount_minor"].as_i64());

    // Once the front shows a change it did not make on a page it kept, it follows the events.
    let front_price = || async { price(listed(&front.api, tea.product).await.as_ref()) };
    assert_eq!(front_price().await, Some(90_000));
    reprice(95_000).await;
    until_listed(&front.api, tea.product, "the first price change", |e| {
        price(e) == Some(95_000)
    })
    .await;

    // From here the front's kept pages change only when an event clears them.
    assert_eq!(front_price().await, Some(95_000));
    reprice(120_000).await;
    let repriced = until_listed(&front.api, tea.product, "a price change", |e| price(e) == Some(120_000)).await;

    assert!(listed(&front.api, other.product).await.is_some());
    let archive = format!("/api/v1/catalog/products/{}/archive", other.product);
    app.api.post(&archive, Some(&staff), json!({})).await.expect(200);
    let archived = until_listed(&front.api, other.product, "an archive", |e| e.is_none()).await;

    assert_eq!(listed(&front.api, tea.product).await.expect("listed")["stock_available"], 3);
    let shopper = app.shopper().await;
    app.buy_now(&shopper.access, tea.variant, 3).await.expect(201);
    let sold_out = until_listed(&front.api, tea.product, "a sell-out", |e| {
        e.is_some_and(|e| e["stock_available"] == 0)
    })
    .await;
    let page = front
        .api
        .get(&format!("/api/v1/catalog/products/{}", tea.product), None)
        .await
        .expect(200);
    assert_eq!(page.get("stock_available"), 0, "the product page too");
    eprintln!("shown on the other process after: price {repriced:?}, archive {archived:?}, sell-out {sold_out:?}");
}

#[tokio::test]
async fn without_events_kept_pages_expire_after_their_time() {
    let app = spawn_app_with(|config| config.catalog.read_model_ttl_ms = 500).await;
    let staff = app.staff(&[Role::Catalog]).await;
    let tea = app.tea(&staff, "Uva estate tea", 80_000, 7).await;
    assert_eq!(listed(&app.api, tea.product).await.expect("listed")["stock_available"], 7);
    app.set_stock(&staff, tea.variant, 4).await;
    until_listed(&app.api, tea.product, "a new count", |e| {
        e.is_some_and(|e| e["stock_available"] == 4)
    })
    .await;
}

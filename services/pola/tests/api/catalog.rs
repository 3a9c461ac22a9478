//! Browsing, filters, search, paging, staff changes and bundles.

use std::collections::HashSet;

use pola_core::auth::Role;
use serde_json::{Value, json};

use crate::harness::{TestApp, spawn_app, uuid};

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

//! The API description: served, browsable, and pinned by a snapshot so that a change to the API
//! is a deliberate one (`cargo insta review` after an intended change).

use crate::harness::spawn_app;

#[tokio::test]
async fn the_openapi_document_is_served_and_matches_its_snapshot() {
    let app = spawn_app().await;
    let doc = app.api.get("/api/v1/openapi.json", None).await.expect(200);
    assert_eq!(doc.get("openapi"), "3.1.0");
    let paths = doc.get("paths").as_object().expect("paths");
    for path in [
        "/api/v1/identity/register",
        "/api/v1/identity/token",
        "/api/v1/identity/logout",
        "/api/v1/identity/staff/token",
        "/api/v1/catalog/products",
        "/api/v1/catalog/products/{id}",
        "/api/v1/catalog/categories",
        "/api/v1/cart",
        "/api/v1/cart/lines",
        "/api/v1/cart/lines/{id}",
        "/api/v1/orders",
        "/api/v1/orders/{id}",
        "/api/v1/orders/{id}/cancel",
        "/api/v1/inventory/variants/{id}/stock",
    ] {
        assert!(paths.contains_key(path), "{path} is not documented");
    }
    insta::assert_json_snapshot!("openapi", doc.body);
}

#[tokio::test]
async fn the_api_can_be_browsed() {
    let app = spawn_app().await;
    let page = app.api.get("/api/v1/docs/", None).await.expect(200);
    assert!(
        page.body.as_str().is_some_and(|html| html.contains("swagger")),
        "{:?}",
        page.body
    );
}

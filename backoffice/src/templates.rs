//! The back-office's templates (minijinja, compiled in, HTML auto-escaped), with the form pieces
//! the storefront's pages use (`forms.html`) and its way of writing rupees. Staff pages are in
//! English: `t("key")` gives the storefront's English string for a key it knows, and any other
//! text as it is.

use std::sync::Arc;

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value, value::Serde};
use pola_core::Language;
use pola_storefront::{assets::Assets, i18n};

const SOURCES: [(&str, &str); 30] = [
    ("layout.html", include_str!("../templates/layout.html")),
    ("sign_in.html", include_str!("../templates/sign_in.html")),
    ("enrol.html", include_str!("../templates/enrol.html")),
    ("recovery.html", include_str!("../templates/recovery.html")),
    ("dashboard.html", include_str!("../templates/dashboard.html")),
    ("staff.html", include_str!("../templates/staff.html")),
    ("audit.html", include_str!("../templates/audit.html")),
    ("orders.html", include_str!("../templates/orders.html")),
    ("order.html", include_str!("../templates/order.html")),
    ("pick_list.html", include_str!("../templates/pick_list.html")),
    ("catalogue.html", include_str!("../templates/catalogue.html")),
    ("product.html", include_str!("../templates/product.html")),
    ("tickets.html", include_str!("../templates/tickets.html")),
    ("customers.html", include_str!("../templates/customers.html")),
    ("customer.html", include_str!("../templates/customer.html")),
    ("ticket.html", include_str!("../templates/ticket.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("stock.html", include_str!("../templates/stock.html")),
    ("ledger.html", include_str!("../templates/ledger.html")),
    ("ledger_table.html", include_str!("../templates/ledger_table.html")),
    ("stock_variant.html", include_str!("../templates/stock_variant.html")),
    ("payments.html", include_str!("../templates/payments.html")),
    ("promotions.html", include_str!("../templates/promotions.html")),
    ("promotion.html", include_str!("../templates/promotion.html")),
    ("reports.html", include_str!("../templates/reports.html")),
    ("report.html", include_str!("../templates/report.html")),
    ("system.html", include_str!("../templates/system.html")),
    ("system_route.html", include_str!("../templates/system_route.html")),
    ("system_trace.html", include_str!("../templates/system_trace.html")),
    ("system_logs.html", include_str!("../templates/system_logs.html")),
];

pub fn environment(assets: Arc<Assets>) -> anyhow::Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_auto_escape_callback(|name| match name.ends_with(".html") {
        true => AutoEscape::Html,
        false => AutoEscape::None,
    });
    let shared = pola_storefront::templates::SOURCES
        .into_iter()
        .filter(|(name, _)| *name == "forms.html");
    for (name, source) in SOURCES.into_iter().chain(shared) {
        env.add_template(name, source)
            .map_err(|e| anyhow::anyhow!("template {name}: {e:#}"))?;
    }
    env.add_function("t", |key: &str| match i18n::has(key) {
        true => i18n::text(Language::En, key).to_owned(),
        false => key.to_owned(),
    });
    env.add_filter("rupees", |minor: i64| i18n::rupees(Language::En, minor));
    env.add_filter("when", |at: &str| pola_storefront::templates::when(at));
    // Cents as a form's field shows rupees: `1250.00`.
    env.add_filter("amount", pola_core::money::decimal);
    env.add_function("asset", move |name: &str| assets.url(name));
    // How payments are named on every page.
    env.add_global(
        "methods",
        Value::from(std::collections::BTreeMap::from([
            ("payhere", "PayHere"),
            ("bank_transfer", "Bank transfer"),
            ("cod", "Cash on delivery"),
        ])),
    );
    env.add_global(
        "statuses",
        Value::from(std::collections::BTreeMap::from([
            ("pending", "Pending"),
            ("succeeded", "Received"),
            ("failed", "Failed"),
            ("cancelled", "Cancelled"),
            ("charged_back", "Charged back"),
        ])),
    );
    Ok(env)
}

/// Any serialisable value, for a template.
pub fn value(x: &impl serde::Serialize) -> Value {
    Value::from(Serde(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        environment(Arc::new(Assets::under("/backoffice/assets"))).expect("templates compile");
    }
}

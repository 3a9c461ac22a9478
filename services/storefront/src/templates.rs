//! The pages' templates (minijinja, compiled in, HTML auto-escaped) and the helpers they call:
//! `t("key")` for a string in the page's language, `rupees(cents)`, `asset("site.css")` for a
//! static file's content-hashed address.

use std::sync::Arc;

use minijinja::{AutoEscape, Environment, State, UndefinedBehavior, Value};
use pola_core::Language;

use crate::{assets::Assets, i18n};

/// Every template, by name.
pub const SOURCES: [(&str, &str); 20] = [
    ("layout.html", include_str!("../templates/layout.html")),
    ("forms.html", include_str!("../templates/forms.html")),
    ("cards.html", include_str!("../templates/cards.html")),
    ("home.html", include_str!("../templates/home.html")),
    ("listing.html", include_str!("../templates/listing.html")),
    ("product.html", include_str!("../templates/product.html")),
    ("cart.html", include_str!("../templates/cart.html")),
    ("checkout.html", include_str!("../templates/checkout.html")),
    ("payhere.html", include_str!("../templates/payhere.html")),
    ("order.html", include_str!("../templates/order.html")),
    ("account.html", include_str!("../templates/account.html")),
    ("sign_in.html", include_str!("../templates/sign_in.html")),
    ("sign_up.html", include_str!("../templates/sign_up.html")),
    ("forgot.html", include_str!("../templates/forgot.html")),
    ("reset.html", include_str!("../templates/reset.html")),
    ("help.html", include_str!("../templates/help.html")),
    ("support.html", include_str!("../templates/support.html")),
    ("ticket.html", include_str!("../templates/ticket.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("sitemap.xml", include_str!("../templates/sitemap.xml")),
];

/// The compiled templates.
pub fn environment(assets: Arc<Assets>) -> anyhow::Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_auto_escape_callback(|name| match name.ends_with(".html") || name.ends_with(".xml") {
        true => AutoEscape::Html,
        false => AutoEscape::None,
    });
    for (name, source) in SOURCES {
        env.add_template(name, source)
            .map_err(|e| anyhow::anyhow!("template {name}: {e:#}"))?;
    }
    env.add_function("t", |state: &State, key: &str| i18n::text(language(state), key).to_owned());
    env.add_filter("rupees", |state: &State, minor: i64| i18n::rupees(language(state), minor));
    env.add_function("asset", move |name: &str| assets.url(name));
    env.add_filter("localised", |state: &State, value: Value| localised(language(state), value));
    env.add_filter("when", |at: &str| when(at));
    Ok(env)
}

/// An RFC 3339 time as Colombo reads it (`2026-12-02 14:05`, UTC+05:30).
pub fn when(at: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(at)
        .map(|t| {
            let colombo = chrono::FixedOffset::east_opt(5 * 3600 + 1800).expect("a valid offset");
            t.with_timezone(&colombo).format("%Y-%m-%d %H:%M").to_string()
        })
        .unwrap_or_else(|_| at.to_owned())
}

/// The page's language, from its `lang` variable.
fn language(state: &State) -> Language {
    state
        .lookup("lang")
        .and_then(|v| v.as_str().and_then(i18n::parse_code))
        .unwrap_or_default()
}

/// A value the catalogue holds in each language (`{"en": …, "si": …, "ta": …}`) in the page's
/// language, falling back to English; any other value as it is.
fn localised(language: Language, value: Value) -> Value {
    if value.kind() != minijinja::value::ValueKind::Map {
        return value;
    }
    match value.get_attr(language.code()) {
        Ok(text) if !text.is_undefined() && !text.is_none() => text,
        _ => value.get_attr("en").unwrap_or(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_in_colombo() {
        assert_eq!(when("2026-12-02T08:35:00.123Z"), "2026-12-02 14:05");
        assert_eq!(when("not a time"), "not a time");
    }

    #[test]
    fn every_template_compiles() {
        environment(Arc::new(Assets::load(None))).expect("templates compile");
    }
}

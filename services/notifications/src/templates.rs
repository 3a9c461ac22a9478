//! Messages in the customer's language: English, Sinhala and Tamil templates (`templates/*.toml`,
//! compiled in), each event's subject, text and SMS; a template missing in one language falls
//! back to English. The HTML part of an email is its text in the shop's layout, escaped.

use std::collections::HashMap;

use minijinja::{AutoEscape, Environment};
use pola_core::Language;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Source {
    subject: String,
    text: String,
    sms: Option<String>,
}

/// One message, rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// None: this event sends no SMS.
    pub sms: Option<String>,
}

pub struct Templates {
    env: Environment<'static>,
    /// (language, event type) for which a template exists.
    known: HashMap<(Language, String), bool>,
}

const SOURCES: [(Language, &str); 3] = [
    (Language::En, include_str!("../templates/en.toml")),
    (Language::Si, include_str!("../templates/si.toml")),
    (Language::Ta, include_str!("../templates/ta.toml")),
];

impl Templates {
    /// Compiles every template; an error names the language, event and part.
    pub fn load() -> anyhow::Result<Self> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| match name.ends_with(".html") {
            true => AutoEscape::Html,
            false => AutoEscape::None,
        });
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.add_template("layout.html", include_str!("../templates/layout.html"))?;
        let mut known = HashMap::new();
        for (language, source) in SOURCES {
            let events: HashMap<String, Source> =
                toml::from_str(source).map_err(|e| anyhow::anyhow!("templates/{}.toml: {e}", language.code()))?;
            for (event, source) in events {
                for (part, template) in [
                    ("subject", Some(source.subject)),
                    ("text", Some(source.text)),
                    ("sms", source.sms),
                ] {
                    if let Some(template) = template {
                        env.add_template_owned(format!("{}/{event}.{part}", language.code()), template)
                            .map_err(|e| anyhow::anyhow!("templates/{}.toml [{event}] {part}: {e}", language.code()))?;
                    }
                }
                known.insert((language, event), true);
            }
        }
        Ok(Self { env, known })
    }

    /// Whether any language has a message for this event type.
    pub fn handles(&self, kind: &str) -> bool {
        self.known.contains_key(&(Language::En, kind.to_owned()))
    }

    /// The message for `kind` in `language` (or English), rendered with `context`.
    pub fn render(&self, language: Language, kind: &str, context: &impl Serialize) -> anyhow::Result<Rendered> {
        let language = match self.known.contains_key(&(language, kind.to_owned())) {
            true => language,
            false => Language::En,
        };
        let context = minijinja::Value::from(minijinja::value::Serde(context));
        let part = |part: &str| -> anyhow::Result<Option<String>> {
            let name = format!("{}/{kind}.{part}", language.code());
            match self.env.get_template(&name) {
                Ok(template) => Ok(Some(template.render(&context)?.trim().to_owned())),
                Err(e) if e.kind() == minijinja::ErrorKind::TemplateNotFound => Ok(None),
                Err(e) => Err(e.into()),
            }
        };
        let subject = part("subject")?.ok_or_else(|| anyhow::anyhow!("no template for {kind}"))?;
        let text = part("text")?.unwrap_or_default();
        let paragraphs: Vec<Vec<String>> = text
            .split("\n\n")
            .map(|p| {
                p.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .filter(|p| !p.is_empty())
            .collect();
        let shop_url = context.get_attr("shop_url")?;
        let html = self.env.get_template("layout.html")?.render(minijinja::context! {
            lang => language.code(),
            subject => &subject,
            paragraphs => paragraphs,
            shop_url => shop_url,
        })?;
        Ok(Rendered {
            subject,
            sms: part("sms")?,
            text,
            html,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> serde_json::Value {
        serde_json::json!({
            "name": "Nimal <b>Perera</b>",
            "shop_url": "https://pola.lk",
            "order": "0193A6C2",
            "total": "Rs. 950.00",
            "items": [{"title": "Dilmah tea", "quantity": 2}],
            "city": "Kandy",
            "courier": "koombiyo",
            "waybill": "KB10023401",
            "tracking_url": "https://koombiyodelivery.lk/Track/track_id?id=KB10023401",
            "cod": true,
            "amount": "Rs. 300.00",
            "savings": "Rs. 95.00",
            "delivery": "Rs. 350.00",
            "vat": "Rs. 144.92",
        })
    }

    #[test]
    fn every_language_renders_every_order_message_and_falls_back_to_english() {
        let templates = Templates::load().expect("the templates compile");
        for language in [Language::En, Language::Si, Language::Ta] {
            for kind in [
                "order.placed",
                "order.paid",
                "order.confirmed",
                "order.packed",
                "order.shipped",
                "order.delivered",
                "order.delivery_failed",
                "order.returned",
                "order.cancelled",
                "order.refunded",
                "payment.refunded",
                "customer.registered",
            ] {
                let rendered = templates.render(language, kind, &context()).expect("rendered");
                assert!(
                    rendered.text.contains("0193A6C2") || kind == "customer.registered",
                    "{language:?} {kind}"
                );
            }
        }
        for language in [Language::En, Language::Si, Language::Ta] {
            let answered = serde_json::json!({"name": "Nimal", "shop_url": "https://pola.lk", "ticket": "T-5F6A7B", "ticket_url": "https://pola.lk/account/support/1"});
            let rendered = templates.render(language, "support.replied", &answered).expect("rendered");
            assert!(
                rendered.text.contains("T-5F6A7B") && rendered.text.contains("/account/support/1"),
                "{language:?}"
            );
            assert!(rendered.sms.is_some_and(|s| s.contains("T-5F6A7B")), "{language:?}");
        }
        for language in [Language::En, Language::Si, Language::Ta] {
            let shipped = templates.render(language, "order.shipped", &context()).expect("rendered");
            let sms = shipped.sms.expect("an SMS");
            assert!(
                sms.contains("KB10023401") && sms.contains("Rs. 950.00"),
                "{language:?}: {sms}"
            );
            assert!(shipped.text.contains("KB10023401"), "{language:?}");
        }
        // What was saved, the delivery charge and the VAT inside the total, when there are any.
        for language in [Language::En, Language::Si, Language::Ta] {
            let placed = templates.render(language, "order.placed", &context()).expect("rendered");
            for figure in ["Rs. 95.00", "Rs. 350.00", "Rs. 144.92", "Rs. 950.00"] {
                assert!(placed.text.contains(figure), "{language:?}: {figure} in {}", placed.text);
            }
            let mut plain = context();
            for field in ["savings", "delivery", "vat"] {
                plain[field] = serde_json::Value::Null;
            }
            let placed = templates.render(language, "order.placed", &plain).expect("rendered");
            assert!(
                !placed.text.contains("Rs. 95.00") && !placed.text.contains("VAT"),
                "{language:?}: {}",
                placed.text
            );
        }
        let sinhala = templates.render(Language::Si, "order.placed", &context()).expect("rendered");
        assert!(sinhala.subject.starts_with("ඔබගේ Pola ඇණවුම"));
        assert!(sinhala.text.contains("Dilmah tea × 2") && sinhala.text.contains("Kandy"));
        assert!(
            sinhala.html.contains("Nimal &lt;b&gt;Perera") && !sinhala.html.contains("<b>"),
            "HTML is escaped: {}",
            sinhala.html
        );
        assert!(
            templates
                .render(Language::Ta, "order.packed", &context())
                .expect("rendered")
                .sms
                .is_none()
        );
        // Staff messages exist only in English.
        let staff = serde_json::json!({"shop_url": "x", "variant": "0193", "location": "colombo", "available": 3});
        let low = templates.render(Language::Ta, "stock.low", &staff).expect("English");
        assert_eq!(low.subject, "Low stock at colombo");
        let chargeback = serde_json::json!({"shop_url": "x", "order": "0193A6C2", "order_id": "0193…", "amount": "Rs. 950.00"});
        let flagged = templates
            .render(Language::Si, "payment.charged_back", &chargeback)
            .expect("English");
        assert_eq!(flagged.subject, "Chargeback on order 0193A6C2: Rs. 950.00");
    }
}

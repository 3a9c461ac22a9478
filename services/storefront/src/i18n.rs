//! Every string of the web shop in English, Sinhala and Tamil, from one catalogue
//! (`strings.toml`, compiled in), and money written for each language.

use std::{collections::HashMap, sync::LazyLock};

use pola_core::Language;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    en: String,
    si: String,
    ta: String,
}

/// The catalogue: key → the string in each language. A missing language is a build-time test
/// failure, never a blank on a page.
static CATALOGUE: LazyLock<HashMap<String, Entry>> = LazyLock::new(|| {
    toml::from_str(include_str!("../strings.toml")).expect("strings.toml is a catalogue of en, si and ta strings")
});

/// `key` in `language`; an unknown key shows as itself (and fails the catalogue's test).
pub fn text(language: Language, key: &str) -> &str {
    match CATALOGUE.get(key) {
        Some(entry) => match language {
            Language::En => &entry.en,
            Language::Si => &entry.si,
            Language::Ta => &entry.ta,
        },
        None => key,
    }
}

/// Whether the catalogue has `key`.
pub fn has(key: &str) -> bool {
    CATALOGUE.contains_key(key)
}

/// Rupees for a customer reading `language`: `Rs. 1,250.00`, `රු. 1,250.00`, `ரூ. 1,250.00`.
pub fn rupees(language: Language, amount_minor: i64) -> String {
    let symbol = match language {
        Language::En => "Rs.",
        Language::Si => "රු.",
        Language::Ta => "ரூ.",
    };
    // A page keeps the symbol with its figure, and sets a true minus sign.
    let written = pola_core::money::Written {
        symbol,
        space: "\u{a0}",
        minus: "−",
    };
    written.amount(amount_minor)
}

/// The language a browser asked for in `Accept-Language`, if it is one the shop speaks.
pub fn from_accept_language(header: &str) -> Option<Language> {
    let mut best: Option<(f32, Language)> = None;
    for part in header.split(',') {
        let mut pieces = part.trim().split(';');
        let tag = pieces.next().unwrap_or_default().trim().to_ascii_lowercase();
        let quality = pieces
            .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()))
            .unwrap_or(1.0);
        let language = match tag.split('-').next().unwrap_or_default() {
            "si" => Language::Si,
            "ta" => Language::Ta,
            "en" => Language::En,
            _ => continue,
        };
        if best.is_none_or(|(q, _)| quality > q) {
            best = Some((quality, language));
        }
    }
    best.map(|(_, language)| language)
}

/// A language code the customer picked (`en`, `si`, `ta`), if it is one.
pub fn parse_code(code: &str) -> Option<Language> {
    Language::ALL.into_iter().find(|l| l.code() == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_string_is_in_all_three_languages() {
        // Parsing checks that each entry has en, si and ta; none may be blank either.
        for (key, entry) in CATALOGUE.iter() {
            for (language, value) in [("en", &entry.en), ("si", &entry.si), ("ta", &entry.ta)] {
                assert!(!value.trim().is_empty(), "{key} is blank in {language}");
            }
        }
        assert!(CATALOGUE.len() > 100, "the catalogue loaded");
    }

    #[test]
    fn every_key_a_template_uses_is_in_the_catalogue() {
        let mut missing = vec![];
        for (name, source) in crate::templates::SOURCES {
            let mut rest = source;
            while let Some(at) = rest.find("t(\"") {
                // `t("…")` itself, not the end of another function's name (`asset("…")`).
                let called = rest[..at]
                    .chars()
                    .next_back()
                    .is_none_or(|c| !c.is_alphanumeric() && c != '_');
                rest = &rest[at + 3..];
                let key = rest.split('"').next().unwrap_or_default();
                // A key a page completes (`district.` ~ name) needs at least one completion.
                let known = match key.strip_suffix('.') {
                    Some(_) => CATALOGUE.keys().any(|k| k.starts_with(key)),
                    None => has(key),
                };
                if called && !known {
                    missing.push(format!("{name}: {key}"));
                }
            }
        }
        assert!(missing.is_empty(), "keys missing from strings.toml:\n{}", missing.join("\n"));
    }

    #[test]
    fn every_district_has_its_name_in_the_catalogue() {
        for district in pola_core::districts::DISTRICTS {
            assert!(has(&format!("district.{district}")), "{district}");
        }
    }

    #[test]
    fn rupees_read_naturally_in_each_language() {
        assert_eq!(rupees(Language::En, 125_000), "Rs.\u{a0}1,250.00");
        assert_eq!(rupees(Language::Si, 5), "රු.\u{a0}0.05");
        assert_eq!(rupees(Language::Ta, -250), "−ரூ.\u{a0}2.50");
    }

    #[test]
    fn the_browsers_language_is_taken_when_the_shop_speaks_it() {
        assert_eq!(from_accept_language("si-LK,si;q=0.9,en;q=0.8"), Some(Language::Si));
        assert_eq!(from_accept_language("fr-FR, ta;q=0.5, en;q=0.4"), Some(Language::Ta));
        assert_eq!(from_accept_language("de"), None);
        assert_eq!(parse_code("ta"), Some(Language::Ta));
        assert_eq!(parse_code("xx"), None);
    }
}

//! The languages the shop speaks: its pages, emails and SMS.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The languages the shop writes to customers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    En,
    /// සිංහල
    Si,
    /// தமிழ்
    Ta,
}

impl Language {
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Si => "si",
            Language::Ta => "ta",
        }
    }

    /// A stored code; anything unknown reads as English.
    pub fn from_code(code: &str) -> Self {
        match code {
            "si" => Language::Si,
            "ta" => Language::Ta,
            _ => Language::En,
        }
    }

    /// Every language, English first.
    pub const ALL: [Language; 3] = [Language::En, Language::Si, Language::Ta];
}

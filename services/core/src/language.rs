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

    /// Every language, English first.
    pub const ALL: [Language; 3] = [Language::En, Language::Si, Language::Ta];
}

/// A stored code; an unknown one is an error.
impl TryFrom<String> for Language {
    type Error = String;

    fn try_from(stored: String) -> Result<Self, String> {
        Language::ALL
            .into_iter()
            .find(|l| l.code() == stored)
            .ok_or_else(|| format!("unknown language code `{stored}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_code_reads_back_and_an_unknown_one_is_an_error() {
        for language in Language::ALL {
            assert_eq!(Language::try_from(language.code().to_owned()), Ok(language));
        }
        assert_eq!(
            Language::try_from("fr".to_owned()),
            Err("unknown language code `fr`".to_owned())
        );
    }
}

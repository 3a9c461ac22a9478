//! SMS through an HTTP gateway, and how many segments a message costs.
//!
//! A message in the GSM 03.38 alphabet travels 7 bits a character: 160 in one SMS, 153 a part
//! when concatenated (the extension characters `^{}\[~]|€` count twice). Anything else —
//! Sinhala, Tamil — goes as UCS-2: 70 UTF-16 units in one SMS, 67 a part.

use std::time::Duration;

use pola_core::config::{SmsConfig, SmsFormat};
use secrecy::ExposeSecret;

use crate::SendError;

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENSION: &str = "^{}\\[~]|€\u{c}";

/// How a message is encoded, and in how many segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segments {
    pub ucs2: bool,
    pub count: u32,
}

pub fn segments(message: &str) -> Segments {
    let septets: Option<usize> = message.chars().try_fold(0, |n, c| {
        if GSM7_BASIC.contains(c) {
            Some(n + 1)
        } else if GSM7_EXTENSION.contains(c) {
            Some(n + 2)
        } else {
            None
        }
    });
    let (units, single, part, ucs2) = match septets {
        Some(septets) => (septets, 160, 153, false),
        None => (message.encode_utf16().count(), 70, 67, true),
    };
    let count = match units {
        0 => 1,
        n if n <= single => 1,
        n => n.div_ceil(part),
    };
    Segments {
        ucs2,
        count: u32::try_from(count).unwrap_or(u32::MAX),
    }
}

pub struct SmsGateway {
    config: SmsConfig,
    client: reqwest::Client,
}

impl SmsGateway {
    pub fn new(config: SmsConfig) -> anyhow::Result<Self> {
        pola_core::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .build()?;
        Ok(Self { config, client })
    }

    pub fn configured(&self) -> bool {
        self.config.url.is_some()
    }

    /// Sends `message` to `to` (E.164). Longer than `sms.max_segments`, or refused by the
    /// gateway (4xx): refused; the gateway down or slow (5xx, 429, timeouts): unavailable.
    pub async fn send(&self, to: &str, message: &str) -> Result<Segments, SendError> {
        let Some(url) = &self.config.url else {
            return Err(SendError::Refused("no SMS gateway is configured".into()));
        };
        let segments = segments(message);
        if segments.count > self.config.max_segments {
            return Err(SendError::Refused(format!(
                "{} segments, more than sms.max_segments ({})",
                segments.count, self.config.max_segments
            )));
        }
        if !(to.starts_with('+') && to.len() > 8 && to[1..].bytes().all(|b| b.is_ascii_digit())) {
            return Err(SendError::Refused("not an E.164 number".into()));
        }
        let config = &self.config;
        let fields = [
            (config.to_field.as_str(), to),
            (config.message_field.as_str(), message),
            (config.sender_field.as_str(), config.sender.as_str()),
        ];
        let mut request = self.client.post(url);
        request = match config.format {
            SmsFormat::Json => request.json(&fields.iter().copied().collect::<std::collections::HashMap<_, _>>()),
            SmsFormat::Form => request.form(&fields),
        };
        if let Some(authorization) = &config.authorization {
            request = request.header(reqwest::header::AUTHORIZATION, authorization.expose_secret());
        }
        let response = request
            .send()
            .await
            .map_err(|e| SendError::Unavailable(format!("the SMS gateway did not answer: {e}")))?;
        let status = response.status();
        if status.is_success() {
            metrics::counter!("notifications_sms_segments_total").increment(u64::from(segments.count));
            Ok(segments)
        } else if status.is_client_error() && status != reqwest::StatusCode::TOO_MANY_REQUESTS {
            Err(SendError::Refused(format!("the SMS gateway refused the message ({status})")))
        } else {
            Err(SendError::Unavailable(format!("the SMS gateway answered {status}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm7_and_ucs2_messages_are_counted_in_segments() {
        assert_eq!(segments("Pola: order 0193A6C2 received."), Segments { ucs2: false, count: 1 });
        assert_eq!(segments(&"a".repeat(160)).count, 1);
        assert_eq!(segments(&"a".repeat(161)).count, 2);
        assert_eq!(segments(&"a".repeat(306)).count, 2);
        assert_eq!(segments(&"a".repeat(307)).count, 3);
        // Extension characters take two septets.
        assert_eq!(segments(&"€".repeat(80)).count, 1);
        assert_eq!(segments(&"€".repeat(81)).count, 2);
        let sinhala = "Pola: ඇණවුම ලැබුණා";
        assert_eq!(segments(sinhala), Segments { ucs2: true, count: 1 });
        assert_eq!(segments(&"ඇ".repeat(70)).count, 1);
        assert_eq!(segments(&"ඇ".repeat(71)).count, 2);
        assert_eq!(segments(&"த".repeat(135)).count, 3);
        assert_eq!(segments("").count, 1);
    }
}

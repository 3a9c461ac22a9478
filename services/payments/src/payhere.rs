//! PayHere (payhere.lk): the hosted checkout's form and `hash`, notifications' `md5sig`, and the
//! merchant API (OAuth client credentials, Retrieval, Refund).
//!
//! Checkout `hash` = UPPER(MD5(merchant_id + order_id + amount `%.2f` + currency +
//! UPPER(MD5(merchant_secret)))); notification `md5sig` = UPPER(MD5(merchant_id + order_id +
//! payhere_amount + payhere_currency + status_code + UPPER(MD5(merchant_secret)))), with the
//! amount exactly as sent. Status codes: 2 success, 0 pending, -1 cancelled, -2 failed,
//! -3 chargeback.

use std::{collections::HashMap, time::Duration};

use async_trait::async_trait;
use base64::{Engine, engine::general_purpose::STANDARD};
use md5::{Digest, Md5};
use pola_core::{Money, config::PayHereConfig};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::{
    model::{CheckoutFields, HostedCheckout, Method, Payer, PaymentStatus, json_text, parse_amount},
    provider::{Found, GatewayError, Notification, PaymentProvider, Refusal},
};

fn md5_upper(text: &str) -> String {
    Md5::digest(text.as_bytes()).iter().map(|b| format!("{b:02X}")).collect()
}

/// A PayHere merchant.
pub struct PayHere {
    merchant_id: String,
    /// UPPER(MD5(merchant_secret)): all that signing needs of the secret.
    secret_md5: SecretString,
    checkout_url: String,
    notify_url: String,
    return_url: String,
    cancel_url: String,
    api: Option<MerchantApi>,
}

/// The merchant API, signed in to with the business app's credentials.
struct MerchantApi {
    base: String,
    /// `Basic base64(app_id:app_secret)`.
    authorization: SecretString,
    http: reqwest::Client,
    /// The access token and when to stop using it.
    token: Mutex<Option<(SecretString, tokio::time::Instant)>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: u64,
}

/// PayHere's answer envelope: `status` 1 is success.
#[derive(Deserialize)]
struct Answer<T> {
    status: i32,
    #[serde(default)]
    msg: String,
    data: Option<T>,
}

#[derive(Deserialize)]
struct RetrievedPayment {
    payment_id: serde_json::Value,
    status: String,
    currency: String,
    amount: serde_json::Value,
    #[serde(default)]
    payment_method: Option<RetrievedMethod>,
}

#[derive(Deserialize)]
struct RetrievedMethod {
    method: Option<String>,
}

/// `VISA`, `EZCASH`: short upper-case words only (never anything that could be a card number).
fn instrument(value: Option<&str>) -> Option<String> {
    value
        .filter(|m| (1..=20).contains(&m.len()) && m.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
        .map(str::to_owned)
}

impl PayHere {
    pub fn new(config: &PayHereConfig) -> anyhow::Result<Self> {
        let secret = config
            .merchant_secret
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("payments.payhere.merchant_secret is not set"))?;
        let api = match (&config.api_url, &config.app_id, &config.app_secret) {
            (Some(base), Some(id), Some(secret)) => Some(MerchantApi {
                base: base.trim_end_matches('/').to_owned(),
                authorization: SecretString::from(format!(
                    "Basic {}",
                    STANDARD.encode(format!("{id}:{}", secret.expose_secret()))
                )),
                http: {
                    pola_core::install_crypto_provider();
                    reqwest::Client::builder()
                        .timeout(Duration::from_millis(config.timeout_ms))
                        .build()?
                },
                token: Mutex::new(None),
            }),
            _ => None,
        };
        Ok(Self {
            merchant_id: config.merchant_id.clone(),
            secret_md5: SecretString::from(md5_upper(secret.expose_secret())),
            checkout_url: config.checkout_url.clone(),
            notify_url: config.notify_url.clone(),
            return_url: config.return_url.clone(),
            cancel_url: config.cancel_url.clone(),
            api,
        })
    }

    /// The checkout form's `hash`.
    pub fn checkout_hash(&self, order_id: &str, amount: &str, currency: &str) -> String {
        md5_upper(&format!(
            "{}{order_id}{amount}{currency}{}",
            self.merchant_id,
            self.secret_md5.expose_secret()
        ))
    }

    /// A notification's `md5sig`, over the fields exactly as sent.
    fn notification_sig(&self, merchant_id: &str, order_id: &str, amount: &str, currency: &str, status_code: &str) -> String {
        md5_upper(&format!(
            "{merchant_id}{order_id}{amount}{currency}{status_code}{}",
            self.secret_md5.expose_secret()
        ))
    }
}

impl MerchantApi {
    /// A valid access token: the cached one, or a new one when `fresh` or it runs out.
    async fn token(&self, fresh: bool) -> Result<SecretString, GatewayError> {
        let mut slot = self.token.lock().await;
        if !fresh
            && let Some((token, until)) = &*slot
            && tokio::time::Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let response = self
            .http
            .post(format!("{}/oauth/token", self.base))
            .header(reqwest::header::AUTHORIZATION, self.authorization.expose_secret())
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .map_err(|e| GatewayError::Unavailable(format!("token: {e}")))?;
        if !response.status().is_success() {
            return Err(GatewayError::Unavailable(format!(
                "token: PayHere answered {} (check payments.payhere.app_id and app_secret)",
                response.status()
            )));
        }
        let token: TokenResponse = response
            .json()
            .await
            .map_err(|e| GatewayError::Unavailable(format!("token: {e}")))?;
        // A little before PayHere stops taking it.
        let lifetime = Duration::from_secs(token.expires_in.saturating_sub(30).max(10));
        let secret = SecretString::from(token.access_token);
        *slot = Some((secret.clone(), tokio::time::Instant::now() + lifetime));
        Ok(secret)
    }

    /// Sends a request with the access token; a refused token is renewed once.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<Answer<T>, GatewayError> {
        let mut fresh = false;
        loop {
            let token = self.token(fresh).await?;
            let response = request(token.expose_secret())
                .send()
                .await
                .map_err(|e| GatewayError::Unavailable(e.to_string()))?;
            let status = response.status();
            if status == reqwest::StatusCode::UNAUTHORIZED && !fresh {
                fresh = true;
                continue;
            }
            if status.is_server_error() || status == reqwest::StatusCode::UNAUTHORIZED {
                return Err(GatewayError::Unavailable(format!("PayHere answered {status}")));
            }
            let body = response.text().await.map_err(|e| GatewayError::Unavailable(e.to_string()))?;
            return serde_json::from_str(&body).map_err(|_| {
                if status.is_success() {
                    GatewayError::Unavailable(format!("PayHere answered {status} with an unreadable body"))
                } else {
                    GatewayError::Refused(format!("PayHere answered {status}"))
                }
            });
        }
    }
}

#[async_trait]
impl PaymentProvider for PayHere {
    fn method(&self) -> Method {
        Method::Payhere
    }

    fn checkout(&self, payer: &Payer) -> HostedCheckout {
        let order_id = payer.order.to_string();
        let amount = pola_core::money::decimal(payer.amount.amount_minor);
        let currency = payer.amount.currency.code().to_owned();
        let url = |template: &str| template.replace("{order_id}", &order_id);
        HostedCheckout {
            action: self.checkout_url.clone(),
            fields: CheckoutFields {
                merchant_id: self.merchant_id.clone(),
                return_url: url(&self.return_url),
                cancel_url: url(&self.cancel_url),
                notify_url: self.notify_url.clone(),
                hash: self.checkout_hash(&order_id, &amount, &currency),
                order_id,
                items: payer.items.clone(),
                currency,
                amount,
                first_name: payer.first_name.clone(),
                last_name: payer.last_name.clone(),
                email: payer.email.clone(),
                phone: payer.phone.clone(),
                address: payer.address.clone(),
                city: payer.city.clone(),
                country: "Sri Lanka".into(),
            },
        }
    }

    fn verify(&self, fields: &[(String, String)]) -> Result<Notification, Refusal> {
        let mut map = HashMap::new();
        for (name, value) in fields {
            if map.insert(name.as_str(), value.as_str()).is_some() {
                return Err(Refusal::Malformed("a field is repeated"));
            }
        }
        let field = |name: &'static str| {
            map.get(name)
                .copied()
                .filter(|v| !v.is_empty() && v.len() <= 100)
                .ok_or(Refusal::Malformed(name))
        };
        let (merchant, order_ref, reference) = (field("merchant_id")?, field("order_id")?, field("payment_id")?);
        let (amount_text, currency, code, sig) = (
            field("payhere_amount")?,
            field("payhere_currency")?,
            field("status_code")?,
            field("md5sig")?,
        );
        let expected = self.notification_sig(merchant, order_ref, amount_text, currency, code);
        if !bool::from(expected.as_bytes().ct_eq(sig.as_bytes())) {
            return Err(Refusal::BadSignature);
        }
        if merchant != self.merchant_id {
            return Err(Refusal::WrongMerchant);
        }
        let status = match code {
            "2" => PaymentStatus::Succeeded,
            "0" => PaymentStatus::Pending,
            "-1" => PaymentStatus::Cancelled,
            "-2" => PaymentStatus::Failed,
            "-3" => PaymentStatus::ChargedBack,
            _ => return Err(Refusal::Malformed("status_code")),
        };
        let amount_minor = parse_amount(amount_text).ok_or(Refusal::Malformed("payhere_amount"))?;
        if !reference.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Refusal::Malformed("payment_id"));
        }
        Ok(Notification {
            reference: reference.to_owned(),
            order_ref: order_ref.to_owned(),
            status,
            amount_text: amount_text.to_owned(),
            amount_minor,
            currency: currency.to_owned(),
            instrument: instrument(map.get("method").copied()),
        })
    }

    async fn lookup(&self, order: Uuid) -> Result<Vec<Found>, GatewayError> {
        let api = self.api.as_ref().ok_or(GatewayError::NotConfigured)?;
        let url = format!("{}/payment/search", api.base);
        let order_id = order.to_string();
        let answer: Answer<Vec<RetrievedPayment>> = api
            .call(|token| api.http.get(&url).bearer_auth(token).query(&[("order_id", &order_id)]))
            .await?;
        // PayHere answers -1 with no data when it has no payment for the order.
        let Some(payments) = answer.data.filter(|_| answer.status == 1) else {
            return Ok(vec![]);
        };
        Ok(payments
            .into_iter()
            .filter_map(|p| {
                let (status, refunded) = match p.status.to_ascii_uppercase().as_str() {
                    "RECEIVED" | "SUCCESS" => (PaymentStatus::Succeeded, false),
                    "REFUNDED" | "PARTIALLY REFUNDED" | "PARTIALLY_REFUNDED" => (PaymentStatus::Succeeded, true),
                    "CHARGEBACK" | "CHARGEBACKED" | "CHARGEDBACK" => (PaymentStatus::ChargedBack, false),
                    "FAILED" | "DECLINED" => (PaymentStatus::Failed, false),
                    "PENDING" => (PaymentStatus::Pending, false),
                    _ => return None,
                };
                Some(Found {
                    reference: json_text(&p.payment_id),
                    status,
                    amount_minor: parse_amount(&json_text(&p.amount))?,
                    currency: p.currency,
                    instrument: instrument(p.payment_method.and_then(|m| m.method).as_deref()),
                    refunded,
                })
            })
            .collect())
    }

    async fn refund(&self, reference: &str, amount: Option<Money>, reason: &str) -> Result<String, GatewayError> {
        let api = self.api.as_ref().ok_or(GatewayError::NotConfigured)?;
        let url = format!("{}/payment/refund", api.base);
        let mut body = serde_json::json!({"payment_id": reference, "description": reason});
        if let Some(amount) = amount {
            body["amount"] = serde_json::json!(
                pola_core::money::decimal(amount.amount_minor)
                    .parse::<f64>()
                    .unwrap_or_default()
            );
        }
        let answer: Answer<serde_json::Value> = api.call(|token| api.http.post(&url).bearer_auth(token).json(&body)).await?;
        match (answer.status, answer.data) {
            (1, Some(id)) => Ok(json_text(&id)),
            (1, None) => Ok(String::new()),
            _ => Err(GatewayError::Refused(answer.msg.chars().take(200).collect())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payhere() -> PayHere {
        PayHere::new(&PayHereConfig {
            merchant_id: "1211149".into(),
            merchant_secret: Some(SecretString::from("MzY0ODk0NTc3MzkxMjc0NzE4NTQyNzE3NjYwMzQ0MjU5MTY0NDgx")),
            checkout_url: "https://sandbox.payhere.lk/pay/checkout".into(),
            api_url: None,
            app_id: None,
            app_secret: None,
            vault_path: None,
            notify_url: "https://pola.lk/api/v1/payments/payhere/notify".into(),
            return_url: "https://pola.lk/account/orders/{order_id}".into(),
            cancel_url: "https://pola.lk/account/orders/{order_id}".into(),
            timeout_ms: 1000,
        })
        .expect("a merchant")
    }

    fn notification(sig: &str) -> Vec<(String, String)> {
        [
            ("merchant_id", "1211149"),
            ("order_id", "ItemNo12345"),
            ("payment_id", "320025071278"),
            ("payhere_amount", "1000.00"),
            ("payhere_currency", "LKR"),
            ("status_code", "2"),
            ("md5sig", sig),
            ("method", "VISA"),
            ("card_no", "************4564"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn the_checkout_hash_follows_payhere_s_formula() {
        let p = payhere();
        let secret_md5 = md5_upper("MzY0ODk0NTc3MzkxMjc0NzE4NTQyNzE3NjYwMzQ0MjU5MTY0NDgx");
        let expected = md5_upper(&format!("1211149ItemNo123451000.00LKR{secret_md5}"));
        assert_eq!(p.checkout_hash("ItemNo12345", "1000.00", "LKR"), expected);
        assert_eq!(expected.len(), 32);
        assert!(expected.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()));
    }

    #[test]
    fn a_notification_is_believed_only_with_its_signature_and_our_merchant() {
        let p = payhere();
        let sig = p.notification_sig("1211149", "ItemNo12345", "1000.00", "LKR", "2");
        let n = p.verify(&notification(&sig)).expect("verified");
        assert_eq!(
            (n.status, n.amount_minor, n.instrument.as_deref()),
            (PaymentStatus::Succeeded, 100_000, Some("VISA"))
        );
        assert_eq!(p.verify(&notification(&sig.to_lowercase())), Err(Refusal::BadSignature));
        assert_eq!(p.verify(&notification("")), Err(Refusal::Malformed("md5sig")));
        let mut other = notification(&sig);
        other[0].1 = "9999999".into();
        assert_eq!(
            p.verify(&other),
            Err(Refusal::BadSignature),
            "the merchant is part of the signature"
        );
        let mut signed_for_another = notification(&p.notification_sig("9999999", "ItemNo12345", "1000.00", "LKR", "2"));
        signed_for_another[0].1 = "9999999".into();
        assert_eq!(p.verify(&signed_for_another), Err(Refusal::WrongMerchant));
        let mut amount = notification(&sig);
        amount[3].1 = "10.00".into();
        assert_eq!(p.verify(&amount), Err(Refusal::BadSignature));
        let mut twice = notification(&sig);
        twice.push(("status_code".into(), "2".into()));
        assert_eq!(p.verify(&twice), Err(Refusal::Malformed("a field is repeated")));
    }
}

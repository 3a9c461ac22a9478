//! Couriers: who carries a parcel, its waybill, and whether it arrived. Koombiyo has a merchant
//! API (form POSTs with an `apikey`: take a waybill number, add an order with its COD amount,
//! read an order's history); most others (Domex, Prompt Xpress, Pronto) publish tracking pages
//! only, and are `manual`: staff type the waybill and mark the delivery.

use std::time::Duration;

use async_trait::async_trait;
use pola_core::{
    Money,
    config::{CourierConfig, CourierKind},
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::model::json_text;

/// What the courier needs to carry a parcel. Personal data: handed to the courier, never logged.
#[derive(Debug, Clone)]
pub struct Parcel {
    /// The order's number, on the label.
    pub number: String,
    pub recipient: String,
    pub phone: String,
    pub street: String,
    pub city: String,
    pub description: String,
    /// Cash to collect on delivery (zero when paid).
    pub cod: Money,
}

/// Where a parcel is, as the courier says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tracked {
    /// On its way; the courier's words.
    InTransit(String),
    Delivered,
    /// The courier gave up on delivering it; the courier's words.
    Failed(String),
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum CourierError {
    /// Try again later.
    #[error("the courier is unavailable: {0}")]
    Unavailable(String),
    /// The courier said no, or the request cannot be made.
    #[error("{0}")]
    Refused(String),
}

/// A courier.
#[async_trait]
pub trait Courier: Send + Sync {
    fn code(&self) -> &str;
    /// Whether it books parcels and reports deliveries by API; else staff type the waybill and
    /// mark deliveries by hand.
    fn has_api(&self) -> bool;
    /// The customer's tracking page for a waybill.
    fn tracking_url(&self, waybill: &str) -> Option<String>;
    /// Books the parcel; its waybill (the one staff typed, for couriers without an API).
    async fn book(&self, parcel: &Parcel, waybill: Option<&str>) -> Result<String, CourierError>;
    /// Where the parcel is.
    async fn track(&self, waybill: &str) -> Result<Tracked, CourierError>;
}

/// Makes the courier a configuration describes.
pub fn from_config(config: &CourierConfig) -> anyhow::Result<Box<dyn Courier>> {
    Ok(match config.kind {
        CourierKind::Manual => Box::new(Manual {
            code: config.code.clone(),
            tracking_url: config.tracking_url.clone(),
        }),
        CourierKind::Koombiyo => Box::new(Koombiyo::new(config)?),
    })
}

/// A courier without an API.
pub struct Manual {
    code: String,
    tracking_url: Option<String>,
}

fn fill(template: &Option<String>, waybill: &str) -> Option<String> {
    template.as_ref().map(|t| t.replace("{waybill}", waybill))
}

#[async_trait]
impl Courier for Manual {
    fn code(&self) -> &str {
        &self.code
    }

    fn has_api(&self) -> bool {
        false
    }

    fn tracking_url(&self, waybill: &str) -> Option<String> {
        fill(&self.tracking_url, waybill)
    }

    async fn book(&self, _: &Parcel, waybill: Option<&str>) -> Result<String, CourierError> {
        waybill
            .map(str::to_owned)
            .ok_or_else(|| CourierError::Refused("This courier has no API: type the waybill number from its label.".into()))
    }

    async fn track(&self, _: &str) -> Result<Tracked, CourierError> {
        Err(CourierError::Refused(
            "This courier has no API: mark the delivery by hand.".into(),
        ))
    }
}

/// Koombiyo's merchant API.
pub struct Koombiyo {
    code: String,
    base: String,
    api_key: SecretString,
    tracking_url: Option<String>,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Status {
    status: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct Waybills {
    waybills: Vec<WaybillId>,
}

#[derive(Deserialize)]
struct WaybillId {
    waybill_id: serde_json::Value,
}

#[derive(Deserialize)]
struct History {
    order_history: Vec<HistoryEntry>,
}

#[derive(Deserialize)]
struct HistoryEntry {
    #[serde(default)]
    status_id: serde_json::Value,
    status: String,
}

impl Koombiyo {
    fn new(config: &CourierConfig) -> anyhow::Result<Self> {
        pola_core::install_crypto_provider();
        Ok(Self {
            code: config.code.clone(),
            base: config
                .api_url
                .clone()
                .ok_or_else(|| anyhow::anyhow!("koombiyo needs api_url"))?
                .trim_end_matches('/')
                .to_owned(),
            api_key: config
                .api_key
                .clone()
                .ok_or_else(|| anyhow::anyhow!("koombiyo needs api_key"))?,
            tracking_url: config.tracking_url.clone(),
            http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?,
        })
    }

    async fn post<T: serde::de::DeserializeOwned>(&self, endpoint: &str, form: &[(&str, String)]) -> Result<T, CourierError> {
        let mut fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        fields.push(("apikey", self.api_key.expose_secret()));
        let response = self
            .http
            .post(format!("{}/{endpoint}", self.base))
            .form(&fields)
            .send()
            .await
            .map_err(|e| CourierError::Unavailable(e.to_string()))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(CourierError::Unavailable(format!("Koombiyo answered {status}")));
        }
        if !status.is_success() {
            return Err(CourierError::Refused(format!("Koombiyo answered {status}")));
        }
        response
            .json()
            .await
            .map_err(|e| CourierError::Unavailable(format!("Koombiyo's answer: {e}")))
    }
}

#[async_trait]
impl Courier for Koombiyo {
    fn code(&self) -> &str {
        &self.code
    }

    fn has_api(&self) -> bool {
        true
    }

    fn tracking_url(&self, waybill: &str) -> Option<String> {
        fill(&self.tracking_url, waybill)
    }

    async fn book(&self, parcel: &Parcel, waybill: Option<&str>) -> Result<String, CourierError> {
        let waybill = match waybill {
            Some(w) => w.to_owned(),
            None => {
                let taken: Waybills = self.post("Waybils/users", &[("limit", "1".into())]).await?;
                let id = taken
                    .waybills
                    .first()
                    .ok_or_else(|| CourierError::Refused("Koombiyo has no waybill numbers left for this account.".into()))?;
                json_text(&id.waybill_id)
            }
        };
        let added: Status = self
            .post(
                "Addorders/users",
                &[
                    ("orderWaybillid", waybill.clone()),
                    ("orderNo", parcel.number.clone()),
                    ("receiverName", parcel.recipient.clone()),
                    ("receiverStreet", parcel.street.clone()),
                    // Koombiyo numbers its districts and cities; until addresses carry those
                    // codes, the city goes by name.
                    ("receiverDistrict", String::new()),
                    ("receiverCity", parcel.city.clone()),
                    ("receiverPhone", parcel.phone.clone()),
                    ("description", parcel.description.clone()),
                    ("spclNote", String::new()),
                    ("getCod", pola_core::money::decimal(parcel.cod.amount_minor)),
                ],
            )
            .await?;
        if added.status != "success" {
            return Err(CourierError::Refused(format!(
                "Koombiyo refused the parcel: {}",
                added.message.chars().take(200).collect::<String>()
            )));
        }
        Ok(waybill)
    }

    async fn track(&self, waybill: &str) -> Result<Tracked, CourierError> {
        let history: History = self.post("Orderhistory/users", &[("waybillid", waybill.to_owned())]).await?;
        let Some(last) = history.order_history.last() else {
            return Ok(Tracked::InTransit("Processing".into()));
        };
        let id = json_text(&last.status_id);
        let words = last.status.trim().to_owned();
        let lower = words.to_ascii_lowercase();
        Ok(if id == "6" || lower == "delivered" {
            Tracked::Delivered
        } else if lower.contains("return") || lower.contains("fail") || lower.contains("reject") {
            Tracked::Failed(words)
        } else {
            Tracked::InTransit(words)
        })
    }
}

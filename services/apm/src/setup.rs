//! `pola apm setup`: the indices' templates and their retention, made idempotently; and the
//! pruning that deletes indices past their retention where OpenSearch has no index state
//! management plugin to do it.

use std::time::Duration;

use chrono::{NaiveDate, Utc};
use opensearch::{
    OpenSearch,
    cat::CatIndicesParts,
    http::{
        Method, StatusCode, Url,
        headers::HeaderMap,
        transport::{SingleNodeConnectionPool, TransportBuilder},
    },
    indices::{IndicesDeleteParts, IndicesPutIndexTemplateParts},
};
use serde_json::{Value, json};

use crate::{ApmConfig, Kind};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("apm.url is not set: there is no OpenSearch to set up")]
    NoUrl,
    #[error("OpenSearch: {0}")]
    OpenSearch(#[from] opensearch::Error),
    #[error("OpenSearch answered {status} to {what}: {body}")]
    Refused { what: String, status: StatusCode, body: String },
    #[error("{0}")]
    Config(String),
}

/// A client for `config.url`.
pub fn client(config: &ApmConfig) -> Result<OpenSearch, Error> {
    let url = config.url.as_deref().ok_or(Error::NoUrl)?;
    let url = Url::parse(url).map_err(|e| Error::Config(format!("apm.url: {e}")))?;
    let transport = TransportBuilder::new(SingleNodeConnectionPool::new(url))
        .disable_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| Error::Config(e.to_string()))?;
    Ok(OpenSearch::new(transport))
}

/// Every string not mapped otherwise is a keyword (exact, aggregatable), never analysed text.
fn strings_as_keywords() -> Value {
    json!([{"strings": {"match_mapping_type": "string", "mapping": {"type": "keyword", "ignore_above": 2048}}}])
}

fn mappings(kind: Kind) -> Value {
    let common = json!({
        "@timestamp": {"type": "date"},
        "service": {"type": "keyword"},
        "site": {"type": "keyword"},
        "request_id": {"type": "keyword"},
        "trace.id": {"type": "keyword"},
        "span.id": {"type": "keyword"},
    });
    let own = match kind {
        Kind::Traces => json!({
            "parent.id": {"type": "keyword"},
            "name": {"type": "keyword"},
            "kind": {"type": "keyword"},
            "duration_ms": {"type": "double"},
            "http.route": {"type": "keyword"},
            "http.method": {"type": "keyword"},
            "http.status": {"type": "integer"},
            "db.statement": {"type": "keyword", "ignore_above": 2048},
        }),
        Kind::Logs => json!({
            "level": {"type": "keyword"},
            "target": {"type": "keyword"},
            "message": {"type": "text"},
            // Each line's own fields, of any shape, searchable without a mapping each.
            "fields": {"type": "flat_object"},
        }),
        Kind::Metrics => json!({
            "metric": {"type": "keyword"},
            "labels": {"type": "flat_object"},
            "value": {"type": "double"},
        }),
    };
    let mut properties = common;
    if let (Some(all), Some(more)) = (properties.as_object_mut(), own.as_object()) {
        all.extend(more.clone());
    }
    json!({"dynamic_templates": strings_as_keywords(), "properties": properties})
}

/// What `setup` did.
#[derive(Debug, Default)]
pub struct Report {
    pub templates: Vec<String>,
    /// The ISM policy's name when OpenSearch has the plugin; None: `prune` keeps the retention.
    pub policy: Option<String>,
}

async fn checked(response: opensearch::http::response::Response, what: &str) -> Result<Value, Error> {
    let status = response.status_code();
    if status.is_success() {
        return Ok(response.json().await.unwrap_or(Value::Null));
    }
    let body = response.text().await.unwrap_or_default();
    Err(Error::Refused {
        what: what.to_owned(),
        status,
        body: body.chars().take(500).collect(),
    })
}

/// Index templates for the three kinds of document and, where the index state management plugin
/// is there, a policy that deletes indices after `retention_days`. Safe to run again.
pub async fn setup(config: &ApmConfig) -> Result<Report, Error> {
    install(&client(config)?, config).await
}

/// [`setup`] with a client at hand (the shipper runs it before its first batch, and again after
/// OpenSearch was away, so that no document lands in an index without its mappings).
pub(crate) async fn install(client: &OpenSearch, config: &ApmConfig) -> Result<Report, Error> {
    let mut report = Report::default();
    let policy = format!("{}-retention", config.index_prefix);
    let ism = ism_available(client).await?;
    for kind in Kind::ALL {
        let name = format!("{}-{}", config.index_prefix, kind.as_str());
        let mut settings = json!({"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"});
        if ism {
            settings["plugins.index_state_management.policy_id"] = json!(policy);
        }
        let body = json!({
            "index_patterns": [format!("{name}-*")],
            "priority": 100,
            "template": {"settings": settings, "mappings": mappings(kind)},
            "_meta": {"managed_by": "pola apm setup"},
        });
        let response = client
            .indices()
            .put_index_template(IndicesPutIndexTemplateParts::Name(&name))
            .body(body)
            .send()
            .await?;
        checked(response, &format!("the index template {name}")).await?;
        report.templates.push(name);
    }
    if ism {
        let body = json!({"policy": {
            "description": format!("Pola's APM indices: deleted after {} days", config.retention_days),
            "default_state": "hot",
            "states": [
                {"name": "hot", "actions": [],
                 "transitions": [{"state_name": "delete", "conditions": {"min_index_age": format!("{}d", config.retention_days)}}]},
                {"name": "delete", "actions": [{"delete": {}}], "transitions": []}
            ],
            "ism_template": [{"index_patterns": [format!("{}-*", config.index_prefix)], "priority": 100}]
        }});
        let path = format!("/_plugins/_ism/policies/{policy}");
        let response = client
            .send(
                Method::Put,
                &path,
                HeaderMap::new(),
                None::<&()>,
                Some(opensearch::http::request::JsonBody::new(body)),
                None,
            )
            .await?;
        // An existing policy answers 409: it stays as it is.
        if response.status_code() != StatusCode::CONFLICT {
            checked(response, "the retention policy").await?;
        }
        report.policy = Some(policy);
    }
    Ok(report)
}

/// Whether OpenSearch has the index state management plugin.
async fn ism_available(client: &OpenSearch) -> Result<bool, Error> {
    let response = client
        .send(
            Method::Get,
            "/_plugins/_ism/policies",
            HeaderMap::new(),
            None::<&()>,
            None::<()>,
            None,
        )
        .await?;
    Ok(response.status_code().is_success())
}

/// The day an APM index holds (`pola-logs-2026.12.03` → 2026-12-03).
fn index_day(prefix: &str, index: &str) -> Option<NaiveDate> {
    let rest = index.strip_prefix(prefix)?.strip_prefix('-')?;
    let (kind, day) = rest.split_once('-')?;
    Kind::ALL.iter().any(|k| k.as_str() == kind).then_some(())?;
    NaiveDate::parse_from_str(day, "%Y.%m.%d").ok()
}

/// Deletes the APM indices older than `retention_days`; returns their names.
pub async fn prune(config: &ApmConfig) -> Result<Vec<String>, Error> {
    let client = client(config)?;
    let pattern = format!("{}-*", config.index_prefix);
    let response = client
        .cat()
        .indices(CatIndicesParts::Index(&[&pattern]))
        .format("json")
        .h(&["index"])
        .send()
        .await?;
    let listed = checked(response, "the list of indices").await?;
    let oldest_kept = Utc::now().date_naive() - chrono::Duration::days(i64::from(config.retention_days));
    let old: Vec<String> = listed
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|row| row["index"].as_str())
        .filter(|index| index_day(&config.index_prefix, index).is_some_and(|day| day < oldest_kept))
        .map(str::to_owned)
        .collect();
    for index in &old {
        let response = client.indices().delete(IndicesDeleteParts::Index(&[index])).send().await?;
        checked(response, &format!("deleting {index}")).await?;
    }
    Ok(old)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_apm_indices_have_a_day() {
        let day = |i: &str| index_day("pola", i);
        assert_eq!(day("pola-logs-2026.12.03"), NaiveDate::from_ymd_opt(2026, 12, 3));
        assert_eq!(day("pola-traces-2025.01.31"), NaiveDate::from_ymd_opt(2025, 1, 31));
        assert_eq!(day("pola-other-2026.12.03"), None);
        assert_eq!(day("polar-logs-2026.12.03"), None);
        assert_eq!(day("pola-logs-latest"), None);
    }
}

//! Configuration: one TOML file plus `POLA_…` environment overrides (`POLA_DATABASE__URL`,
//! `POLA_HTTP__ADDR`, …), read once at start into one typed struct per concern and validated.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Everything `pola` reads at start.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct Config {
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub catalog: CatalogConfig,
    pub inventory: InventoryConfig,
    pub cart: CartConfig,
    pub services: ServicesConfig,
    pub pii: PiiConfig,
    pub events: EventsConfig,
    pub notifications: NotificationsConfig,
    pub payments: PaymentsConfig,
    pub tax: TaxConfig,
    pub storefront: StorefrontConfig,
    pub backoffice: BackofficeConfig,
    pub reporting: ReportingConfig,
    /// `[apm]`: traces, logs and metrics to OpenSearch (pola-apm documents every key).
    pub apm: pola_apm::ApmConfig,
    pub alerts: AlertsConfig,
    pub recommendations: RecommendationsConfig,
    pub log: LogConfig,
}

/// `[recommendations]`: "customers also bought".
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecommendationsConfig {
    /// The worker's queue, which order events reach. Default `recommendations`.
    pub queue: String,
    /// Orders two products must share before one is suggested for the other. Default 2.
    pub min_support: u32,
}

impl Default for RecommendationsConfig {
    fn default() -> Self {
        Self {
            queue: "recommendations".into(),
            min_support: 2,
        }
    }
}

/// `[storefront]`: the customers' web pages.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorefrontConfig {
    /// The folder with the Sinhala and Tamil fonts (`NotoSansSinhala-Regular.woff2`, or Debian's
    /// `.ttf`). Default Debian's Noto folder, `/usr/share/fonts/truetype/noto`.
    pub fonts_dir: Option<std::path::PathBuf>,
    /// Cookies travel only over TLS (`Secure`). Default false; true wherever the edge serves
    /// the shop over HTTPS.
    pub secure_cookies: bool,
}

impl Default for StorefrontConfig {
    fn default() -> Self {
        Self {
            fonts_dir: Some("/usr/share/fonts/truetype/noto".into()),
            secure_cookies: false,
        }
    }
}

/// `[backoffice]`: the staff's web app, on the edge's staff listener.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackofficeConfig {
    /// The session cookie travels only over TLS (`Secure`). Default false; true wherever the
    /// staff listener serves HTTPS.
    pub secure_cookies: bool,
    /// Each site's database, by site name (`dc = "mysql://monitor:…@10.0.1.10:3306"`, a user
    /// with `SLAVE MONITOR`): the dashboard shows which takes writes and how far the other
    /// lags, and `pola status` looks at them when given no `--site`. Empty (the default): this
    /// process's database alone. Secret: the URLs may hold passwords.
    #[serde(serialize_with = "redact_map")]
    pub sites: std::collections::BTreeMap<String, SecretString>,
}

/// `[reporting]`: staff reports, read straight from the standby site's databases so that they
/// never load the primary.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportingConfig {
    /// Each site's database as the read-only reporting user sees it, by site name (`dr =
    /// "mysql://reporting:…@10.0.2.10:3306"`, a user with `SELECT` on the shop's databases and
    /// `SLAVE MONITOR`). Reports run on whichever of them is a replica. Empty (the default):
    /// `database.url` alone. Secret: the URLs may hold passwords.
    #[serde(serialize_with = "redact_map")]
    pub sites: std::collections::BTreeMap<String, SecretString>,
    /// Run reports on the primary when no replica answers. Default false: a report on the
    /// primary is refused (the command line's `--allow-primary` allows it once).
    pub allow_primary: bool,
    /// The longest a report's query may run, in seconds (MariaDB's `max_statement_time`).
    /// Default 30.
    pub statement_timeout_secs: u64,
    /// The most rows a report may have; a larger one is refused, with a hint to narrow it.
    /// Default 10000.
    pub row_cap: usize,
    /// When `pola worker summary` sends yesterday's summary to the managers
    /// (`notifications.manager_emails`), Colombo time `HH:MM`. Default 07:30.
    pub summary_at: String,
}

impl ReportingConfig {
    /// `summary_at` as a time of day.
    pub fn summary_time(&self) -> Result<chrono::NaiveTime, String> {
        chrono::NaiveTime::parse_from_str(&self.summary_at, "%H:%M")
            .map_err(|e| format!("reporting.summary_at `{}`: {e} (write HH:MM, Colombo time)", self.summary_at))
    }
}

impl Default for ReportingConfig {
    fn default() -> Self {
        Self {
            sites: Default::default(),
            allow_primary: false,
            statement_timeout_secs: 30,
            row_cap: 10_000,
            summary_at: "07:30".into(),
        }
    }
}

/// `[alerts]`: what `pola worker alerts` watches (through APM in OpenSearch, RabbitMQ and the
/// disks it can see) and when it tells the on-call staff (`notifications.oncall_*`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// How often every rule is checked, in seconds. Default 30.
    pub interval_secs: u64,
    /// The window request rates and latencies are judged over, in minutes. Default 5.
    pub window_minutes: u64,
    /// An alert whose cause is gone resolves only once it has stayed gone this long, in seconds,
    /// so that a rate hovering at its threshold is told once, not at every check. Default 90.
    pub resolve_after_secs: u64,
    /// Fewer requests than this in the window are not judged (one failure of two is noise).
    /// Default 20.
    pub min_requests: u64,
    /// The share of a service's requests answered 5xx that fires, in percent. Default 5.
    pub error_rate_percent: f64,
    /// A route's 99th percentile latency that fires, in milliseconds. Default 2000.
    pub p99_ms: f64,
    /// A replica this far behind its primary fires, in seconds. Default 30.
    pub replication_lag_secs: f64,
    /// The oldest event waiting in an outbox this long fires, in seconds. Default 120.
    pub outbox_age_secs: f64,
    /// The queues whose parked (dead-lettered) events are watched. Default `notifications`,
    /// `recommendations`.
    pub queues: Vec<String>,
    /// This many parked events in a queue fire. Default 1.
    pub parked_events: u64,
    /// This many requests stopped by the edge's WAF within a minute fire. Default 30.
    pub waf_blocks_per_minute: u64,
    /// The site the edge serves from when all is well; serving from the other fires. Default `dc`.
    pub home_site: String,
    /// Folders on the databases' disks, as this worker sees them. Default none.
    pub disks: Vec<PathBuf>,
    /// Less free space than this on one of them fires, in percent. Default 10.
    pub disk_free_percent: f64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            interval_secs: 30,
            window_minutes: 5,
            resolve_after_secs: 90,
            min_requests: 20,
            error_rate_percent: 5.0,
            p99_ms: 2_000.0,
            replication_lag_secs: 30.0,
            outbox_age_secs: 120.0,
            queues: vec!["notifications".into(), "recommendations".into()],
            parked_events: 1,
            waf_blocks_per_minute: 30,
            home_site: "dc".into(),
            disks: vec![],
            disk_free_percent: 10.0,
        }
    }
}

/// `[tax]`: the shop as its tax invoices name it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaxConfig {
    pub seller_name: String,
    /// The shop's VAT registration number (`123456789-7000`).
    pub seller_vat_number: String,
    pub seller_address: String,
}

impl Default for TaxConfig {
    fn default() -> Self {
        Self {
            seller_name: "Pola (Private) Limited".into(),
            seller_vat_number: "114567890-7000".into(),
            seller_address: "No. 42, Galle Road, Colombo 03".into(),
        }
    }
}

/// Payments and fulfilment: PayHere, cash on delivery, bank transfer, couriers.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaymentsConfig {
    /// Minutes an order waiting for an online payment holds its stock; then it cancels itself and
    /// its stock goes back on sale. Default 30.
    pub window_minutes: u64,
    /// Days a customer has to make a bank transfer; then the order cancels itself. Default 3.
    pub bank_transfer_days: u64,
    /// Largest order total, in cents, that may be paid on delivery. Default 5000000 (Rs. 50,000).
    pub cod_max_minor: i64,
    /// A customer with this many orders the courier could not deliver may no longer pay on
    /// delivery. Default 2.
    pub cod_max_failed_deliveries: i64,
    /// PayHere is asked (Retrieval API) about a checkout that has had no final answer for this
    /// long. Default 5 minutes.
    pub reconcile_after_minutes: u64,
    /// How often the payment window, reconciliation, refunds and courier tracking run. Default
    /// 30 s.
    pub jobs_interval_secs: u64,
    /// PayHere's hosted checkout. None: customers cannot pay online.
    pub payhere: Option<PayHereConfig>,
    /// The account customers pay bank transfers into.
    pub bank: BankAccountConfig,
    /// Couriers the shop hands parcels to. Default: one without an API (`manual`).
    pub couriers: Vec<CourierConfig>,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        Self {
            window_minutes: 30,
            bank_transfer_days: 3,
            cod_max_minor: 5_000_000,
            cod_max_failed_deliveries: 2,
            reconcile_after_minutes: 5,
            jobs_interval_secs: 30,
            payhere: None,
            bank: BankAccountConfig::default(),
            couriers: vec![CourierConfig::default()],
        }
    }
}

/// `[payments.payhere]`: a PayHere merchant.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PayHereConfig {
    /// PayHere's merchant ids are numbers: `1221149` and `"1221149"` both read.
    #[serde(deserialize_with = "string_or_number")]
    pub merchant_id: String,
    /// Signs checkouts and verifies notifications. Secret: never printed; in production read
    /// from Vault (`vault_path`).
    #[serde(serialize_with = "redact_option", default)]
    pub merchant_secret: Option<SecretString>,
    /// Where the customer's browser posts the checkout form. Default PayHere's sandbox,
    /// `https://sandbox.payhere.lk/pay/checkout`; live: `https://www.payhere.lk/pay/checkout`.
    #[serde(default = "payhere_checkout_url")]
    pub checkout_url: String,
    /// The merchant API (OAuth, Retrieval, Refund), e.g. `https://sandbox.payhere.lk/merchant/v1`.
    /// None: no reconciliation with PayHere and no automatic refunds (finance refunds by hand).
    #[serde(default)]
    pub api_url: Option<String>,
    /// The business app's id and secret for the merchant API.
    #[serde(default)]
    pub app_id: Option<String>,
    #[serde(serialize_with = "redact_option", default)]
    pub app_secret: Option<SecretString>,
    /// Read `merchant_secret` and `app_secret` from this KV v2 path (under `pii.vault.kv_mount`,
    /// signed in as `pii.vault` says) instead of this file.
    #[serde(default)]
    pub vault_path: Option<String>,
    /// The public URL PayHere posts notifications to: the edge's public listener plus
    /// `/api/v1/payments/payhere/notify`.
    pub notify_url: String,
    /// Where the customer's browser comes back to; `{order_id}` is replaced.
    pub return_url: String,
    pub cancel_url: String,
    /// Time one call to the merchant API may take. Default 10000 ms.
    #[serde(default = "payhere_timeout_ms")]
    pub timeout_ms: u64,
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Number(u64),
    }
    Ok(match Id::deserialize(d)? {
        Id::Text(text) => text,
        Id::Number(number) => number.to_string(),
    })
}

fn payhere_checkout_url() -> String {
    "https://sandbox.payhere.lk/pay/checkout".into()
}

fn payhere_timeout_ms() -> u64 {
    10_000
}

/// `[payments.bank]`: where bank transfers go.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BankAccountConfig {
    pub bank: String,
    pub branch: String,
    pub account_name: String,
    pub account_number: String,
}

impl Default for BankAccountConfig {
    fn default() -> Self {
        Self {
            bank: "Commercial Bank of Ceylon".into(),
            branch: "Colombo 03".into(),
            account_name: "Pola (Private) Limited".into(),
            account_number: "1000 2345 6789".into(),
        }
    }
}

/// `[[payments.couriers]]`: a courier.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CourierConfig {
    /// How staff and remittance imports name it (`koombiyo`, `domex`, …). Default `manual`.
    pub code: String,
    /// Default `Own delivery`.
    pub name: String,
    /// `manual` (staff type the waybill; delivery is marked by hand) or `koombiyo` (waybills,
    /// COD amounts and tracking through Koombiyo's merchant API).
    pub kind: CourierKind,
    /// The courier's API base (`https://application.koombiyodelivery.lk/api`).
    pub api_url: Option<String>,
    #[serde(serialize_with = "redact_option")]
    pub api_key: Option<SecretString>,
    /// The customer's tracking page; `{waybill}` is replaced.
    pub tracking_url: Option<String>,
}

impl Default for CourierConfig {
    fn default() -> Self {
        Self {
            code: "manual".into(),
            name: "Own delivery".into(),
            kind: CourierKind::Manual,
            api_url: None,
            api_key: None,
            tracking_url: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CourierKind {
    Manual,
    Koombiyo,
}

/// The notification worker: email over SMTP, SMS through an HTTP gateway.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationsConfig {
    /// The worker's queue. Default `notifications`.
    pub queue: String,
    pub smtp: SmtpConfig,
    pub sms: SmsConfig,
    /// Who hears about low stock and chargebacks.
    pub staff_emails: Vec<String>,
    /// The support lead(s): who hears about overdue tickets (the staff addresses when empty).
    pub support_emails: Vec<String>,
    /// Who is on call: alerts go to these addresses (the staff addresses when empty)…
    pub oncall_emails: Vec<String>,
    /// …and by SMS to these numbers (E.164), at any hour.
    pub oncall_phones: Vec<String>,
    /// Who reads the daily summary (`pola worker summary`); the staff addresses when empty.
    pub manager_emails: Vec<String>,
    /// Links in messages start here. Default `http://127.0.0.1:8080`.
    pub shop_url: String,
    /// SMS wait while it is this late or this early in Sri Lanka (`HH:MM`, local time):
    /// default 21:00 to 08:00. Password-reset codes go at once.
    pub quiet_from: String,
    pub quiet_until: String,
    /// The customers' clock, in minutes east of UTC. Default 330 (Asia/Colombo, no DST).
    pub utc_offset_minutes: i32,
    /// After the mail server or the SMS gateway fails, that channel pauses this long before
    /// trying again (doubling to 30 s while it stays away). Default 1000 ms.
    pub pause_ms: u64,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            queue: "notifications".into(),
            smtp: SmtpConfig::default(),
            sms: SmsConfig::default(),
            staff_emails: vec![],
            support_emails: vec![],
            oncall_emails: vec![],
            oncall_phones: vec![],
            manager_emails: vec![],
            shop_url: "http://127.0.0.1:8080".into(),
            quiet_from: "21:00".into(),
            quiet_until: "08:00".into(),
            utc_offset_minutes: 330,
            pause_ms: 1000,
        }
    }
}

/// `notifications.smtp.tls`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain SMTP (a local relay or sink only).
    None,
    /// Upgrade with STARTTLS; refuse a server that cannot.
    Starttls,
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// Default `127.0.0.1` (`make run`'s sink).
    pub host: String,
    /// Default 2525.
    pub port: u16,
    /// Default `none`.
    pub tls: SmtpTls,
    pub username: Option<String>,
    #[serde(serialize_with = "redact_option")]
    pub password: Option<SecretString>,
    /// Default `Pola <orders@pola.lk>`.
    pub from: String,
    /// Connections kept open to the server. Default 4.
    pub pool_size: u32,
    /// Default 10000 ms.
    pub timeout_ms: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 2525,
            tls: SmtpTls::None,
            username: None,
            password: None,
            from: "Pola <orders@pola.lk>".into(),
            pool_size: 4,
            timeout_ms: 10_000,
        }
    }
}

/// An SMS gateway's HTTP API: one POST per message, as JSON or a form.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsConfig {
    /// The gateway's send URL. None: no SMS are sent (they are recorded as skipped).
    pub url: Option<String>,
    /// `json` (default) or `form`.
    pub format: SmsFormat,
    /// Field names the provider expects. Defaults `to`, `message`, `sender`.
    pub to_field: String,
    pub message_field: String,
    pub sender_field: String,
    /// The sender id (mask) the provider registered for the shop. Default `POLA`.
    pub sender: String,
    /// An `Authorization` header value (`Bearer …`, `Basic …`), if the provider wants one.
    #[serde(serialize_with = "redact_option")]
    pub authorization: Option<SecretString>,
    /// Longest message in segments (160 GSM-7 or 70 UCS-2 characters each, fewer when
    /// concatenated); longer ones are refused. Default 3.
    pub max_segments: u32,
    /// Default 10000 ms.
    pub timeout_ms: u64,
}

/// `notifications.sms.format`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsFormat {
    Json,
    Form,
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            url: None,
            format: SmsFormat::Json,
            to_field: "to".into(),
            message_field: "message".into(),
            sender_field: "sender".into(),
            sender: "POLA".into(),
            authorization: None,
            max_segments: 3,
            timeout_ms: 10_000,
        }
    }
}

/// Events: each service's outbox, RabbitMQ, and how consumers retry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// RabbitMQ (`amqp://user:password@host:5673/%2f`). None: events wait in the outboxes.
    #[serde(serialize_with = "redact_option")]
    pub amqp_url: Option<SecretString>,
    /// The topic exchange events are published to, by type. Default `pola.events`.
    pub exchange: String,
    /// Whether this process relays the outboxes of the services it runs (only while their
    /// database is writable). Default true.
    pub relay: bool,
    /// Events published per round trip. Default 500.
    pub relay_batch: u32,
    /// How often an empty outbox is looked at again. Default 100 ms.
    pub relay_idle_ms: u64,
    /// Deliveries a consumer works on at once. Default 64.
    pub prefetch: u16,
    /// Waits before each retry of a failed delivery; after the last, it is parked. Default
    /// 1 s, 10 s, 1 min, 5 min, 30 min.
    pub retry_delays_ms: Vec<u64>,
    /// Sent events are deleted from the outbox after this long. Default 72 h.
    pub outbox_retention_hours: u64,
    /// `pola events republish` (failover.yml runs it on the new primary) sends again the
    /// events relayed this recently. Default 15 minutes: longer than any worker falls behind.
    pub republish_window_minutes: u64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            amqp_url: None,
            exchange: "pola.events".into(),
            relay: true,
            relay_batch: 500,
            relay_idle_ms: 100,
            prefetch: 64,
            retry_delays_ms: vec![1_000, 10_000, 60_000, 300_000, 1_800_000],
            outbox_retention_hours: 72,
            republish_window_minutes: 15,
        }
    }
}

/// The public HTTP listener.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to listen on. Default `127.0.0.1:8080`; port 0 picks a free port.
    pub addr: SocketAddr,
    /// Largest request body accepted, in bytes. Default 262144 (256 KiB); larger bodies get 413.
    pub body_limit_bytes: usize,
    /// Time a handler may take before the client gets 503. Default 30 s.
    pub request_timeout_secs: u64,
    /// On SIGTERM or SIGINT, how long the server keeps serving while `/readyz` answers 503, so
    /// that every edge takes it out of its pool before it stops accepting: at least two of the
    /// edge's check intervals plus a check's timeout. Default 2500 ms.
    pub drain_ms: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            body_limit_bytes: 256 * 1024,
            request_timeout_secs: 30,
            drain_ms: 2_500,
        }
    }
}

/// The MariaDB server. Each service gets its own database on it, named `<prefix>_<service>`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Server URL without a database name. Default `mysql://root@127.0.0.1:3307` (the private
    /// instance `make run` starts). Secret: it may hold a password, and is never printed.
    #[serde(serialize_with = "redact")]
    pub url: SecretString,
    /// Database name prefix. Default `pola`, giving `pola_identity`, `pola_catalog`, ….
    pub prefix: String,
    /// Connections per service pool. Default 10.
    pub max_connections: u32,
    /// How long a request waits for a free connection before it fails with 503. Default 5 s.
    pub acquire_timeout_secs: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: SecretString::from("mysql://root@127.0.0.1:3307"),
            prefix: "pola".into(),
            max_connections: 10,
            acquire_timeout_secs: 5,
        }
    }
}

/// Tokens and passwords.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// PKCS#8 PEM file with the Ed25519 key that signs access tokens. Default
    /// `var/jwt-signing-key.pem`; `pola serve` creates it when it does not exist.
    pub signing_key_file: PathBuf,
    /// `iss` claim of issued tokens. Default `pola`.
    pub issuer: String,
    /// Access token lifetime in seconds. Default 300 (5 minutes); 30 to 3600.
    pub access_token_ttl_secs: u64,
    /// Refresh token lifetime in seconds. Default 2592000 (30 days).
    pub refresh_token_ttl_secs: u64,
    /// Argon2id memory cost in KiB. Default 19456 (OWASP's recommendation).
    pub argon2_memory_kib: u32,
    /// Argon2id iterations. Default 2.
    pub argon2_iterations: u32,
    /// Password hashes computed at once (each holds `argon2_memory_kib` and a core). Default
    /// 0: one per core.
    pub hashing_slots: usize,
    /// Sign-ins, registrations and password changes that may wait for a slot; one more is
    /// answered 503 with Retry-After at once. Default 64.
    pub hashing_queue: usize,
    /// Longest wait for a slot, in milliseconds, before 503. Default 3000.
    pub hashing_wait_ms: u64,
    /// A staff password grant on the API needs a TOTP code (and an account without one is told
    /// to enrol in the back-office first). Default true; the back-office always asks for one.
    pub staff_totp_required: bool,
    /// A back-office session ends after this many seconds without a request. Default 1800.
    pub staff_session_idle_secs: u64,
    /// A back-office session ends this many seconds after sign-in, used or not. Default 36000
    /// (a ten-hour working day).
    pub staff_session_absolute_secs: u64,
    /// Failed staff sign-ins in a row (password or code) that lock the account. Default 5.
    pub staff_lockout_failures: u32,
    /// How long a locked staff account stays locked, in seconds. Default 900.
    pub staff_lockout_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            signing_key_file: PathBuf::from("var/jwt-signing-key.pem"),
            issuer: "pola".into(),
            access_token_ttl_secs: 300,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            hashing_slots: 0,
            hashing_queue: 64,
            hashing_wait_ms: 3000,
            staff_totp_required: true,
            staff_session_idle_secs: 1800,
            staff_session_absolute_secs: 36_000,
            staff_lockout_failures: 5,
            staff_lockout_secs: 900,
        }
    }
}

/// How much stock carts may hold. An item in a cart holds its stock until checkout or until the
/// hold runs out, so that nobody sells it from under the shopper; unbounded, that is a way to
/// make a product look sold out to everyone else. Guests get less than signed-in customers, and
/// every guest cart from one client address counts against one limit (a keyed hash of the
/// address is stored with the hold, never the address).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CartConfig {
    /// Most units of one variant in a guest's cart. Default 10.
    pub guest_max_per_variant: u32,
    /// Most units in a guest's cart, in all. Default 30.
    pub guest_max_units: u32,
    /// Most units of one variant in a signed-in customer's cart. Default 50.
    pub customer_max_per_variant: u32,
    /// Most units in a signed-in customer's cart, in all. Default 200.
    pub customer_max_units: u32,
    /// Most units of one variant that all guest carts from one client address hold at once.
    /// Default 20.
    pub address_max_per_variant: u32,
    /// Most units that all guest carts from one client address hold at once. Default 60.
    pub address_max_units: u32,
    /// A line of more units than this holds them for `short_hold_secs` only, not for
    /// `inventory.reservation_ttl_secs`. Default 5.
    pub short_hold_above: u32,
    /// Default 120.
    pub short_hold_secs: u64,
}

impl Default for CartConfig {
    fn default() -> Self {
        Self {
            guest_max_per_variant: 10,
            guest_max_units: 30,
            customer_max_per_variant: 50,
            customer_max_units: 200,
            address_max_per_variant: 20,
            address_max_units: 60,
            short_hold_above: 5,
            short_hold_secs: 120,
        }
    }
}

/// `[catalog]`: the read model that answers listings and product pages from memory.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    /// How long a listing or product page is answered from memory at most: the bound on a
    /// stock level's age, and on everything else while the events that clear pages cannot
    /// arrive (RabbitMQ away). 0 turns the read model off. Default 5000 ms.
    pub read_model_ttl_ms: u64,
    /// Memory for cached pages, in bytes of their JSON; the least used go first. Default 64 MiB.
    pub read_model_max_bytes: u64,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            read_model_ttl_ms: 5_000,
            read_model_max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Stock reservations.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct InventoryConfig {
    /// How long an item in a cart holds its stock, in seconds. Default 900 (15 minutes).
    pub reservation_ttl_secs: u64,
    /// How often the sweeper returns expired reservations to stock, in seconds. Default 10.
    pub sweep_interval_secs: u64,
    /// Location that staff adjustments and the demo seed use when none is named. Default `colombo`.
    pub default_location: String,
    /// Most sales one transaction takes (sales that queue up together share a commit). Default
    /// 64; 1 sells every order in its own transaction.
    pub sale_batch_max: usize,
    /// A sale that leaves a stock row with this many units available or fewer tells staff
    /// (`stock.low`). Default 5.
    pub low_stock_threshold: i64,
}

impl Default for InventoryConfig {
    fn default() -> Self {
        Self {
            reservation_ttl_secs: 900,
            sweep_interval_secs: 10,
            default_location: "colombo".into(),
            sale_batch_max: 64,
            low_stock_threshold: 5,
        }
    }
}

impl InventoryConfig {
    pub fn reservation_ttl(&self) -> Duration {
        Duration::from_secs(self.reservation_ttl_secs)
    }
}

/// Where the services this process does not run are (`pola serve --only …`), and the token that
/// admits calls between services.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServicesConfig {
    /// Base URL of the catalog service when it runs elsewhere (`http://10.1.0.5:8080`). Default
    /// none: the catalog runs in this process.
    pub catalog_url: Option<String>,
    /// Base URL of the inventory service when it runs elsewhere. Default none.
    pub inventory_url: Option<String>,
    /// Base URL of the cart service when it runs elsewhere. Default none.
    pub cart_url: Option<String>,
    /// Base URL of the orders service when it runs elsewhere (identity asks it for a customer's
    /// orders in their data export, payments moves orders along). Default none.
    pub orders_url: Option<String>,
    /// Base URL of the identity service when it runs elsewhere (payments asks it for the name
    /// and email a payment gateway's checkout wants). Default none.
    pub identity_url: Option<String>,
    /// Base URL of the promotions service when it runs elsewhere (cart and orders price with
    /// it). Default none.
    pub promotions_url: Option<String>,
    /// Shared secret on calls between services (`/internal/v1/…`). Default none: this process
    /// serves no internal endpoints and calls none. Secret: never printed.
    #[serde(serialize_with = "redact_option")]
    pub internal_token: Option<SecretString>,
    /// Time limit of one call to another service, in milliseconds. Default 2000.
    pub timeout_ms: u64,
}

impl Default for ServicesConfig {
    fn default() -> Self {
        Self {
            catalog_url: None,
            inventory_url: None,
            cart_url: None,
            orders_url: None,
            identity_url: None,
            promotions_url: None,
            internal_token: None,
            timeout_ms: 2000,
        }
    }
}

impl ServicesConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// Personal data: where its keys come from.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PiiConfig {
    /// `keyring` (a local folder of keys, the default) or `vault` (HashiCorp Vault: transit for
    /// the key-encryption and blind-index keys, KV v2 for the wrapped data keys).
    pub backend: PiiBackend,
    /// The local keyring's folder: `keyring.json` (versioned key-encryption and blind-index
    /// keys) and `data-keys/` (one wrapped data key per customer), mode 0600/0700, created when
    /// missing. Default `var/pii`.
    pub keyring_dir: PathBuf,
    /// How long an unwrapped data key or the blind-index keys stay in memory. Default 300 s.
    /// While the key service is unreachable, what is cached still opens for this long.
    pub cache_ttl_secs: u64,
    /// Largest number of unwrapped data keys kept in memory. Default 100000.
    pub cache_max_keys: usize,
    pub vault: VaultConfig,
}

impl Default for PiiConfig {
    fn default() -> Self {
        Self {
            backend: PiiBackend::Keyring,
            keyring_dir: PathBuf::from("var/pii"),
            cache_ttl_secs: 300,
            cache_max_keys: 100_000,
            vault: VaultConfig::default(),
        }
    }
}

impl PiiConfig {
    pub fn cache_ttl(&self) -> Duration {
        Duration::from_secs(self.cache_ttl_secs)
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PiiBackend {
    Keyring,
    Vault,
}

/// HashiCorp Vault, signed in to with AppRole.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct VaultConfig {
    /// Vault's address. Default `http://127.0.0.1:8200`.
    pub addr: String,
    /// A PEM file of CA certificates to trust for Vault's TLS certificate, if not the system's.
    pub ca_cert: Option<PathBuf>,
    /// Mount of the transit engine. Default `transit`.
    pub transit_mount: String,
    /// Transit key that wraps data keys (the key-encryption key). Default `pola-pii`.
    pub key: String,
    /// Exportable transit key whose HMAC keys are the blind-index keys. Default `pola-blind-index`.
    pub blind_index_key: String,
    /// Mount of the KV v2 engine holding the wrapped data keys. Default `secret`.
    pub kv_mount: String,
    /// Path under `kv_mount` for the wrapped data keys. Default `pola/data-keys`.
    pub kv_prefix: String,
    /// Mount of the AppRole auth method. Default `approle`.
    pub approle_mount: String,
    pub role_id: String,
    /// Secret: never printed.
    #[serde(serialize_with = "redact")]
    pub secret_id: SecretString,
    /// Time one call to Vault may take. Default 2000 ms.
    pub timeout_ms: u64,
}

impl Default for VaultConfig {
    fn default() -> Self {
        Self {
            addr: "http://127.0.0.1:8200".into(),
            ca_cert: None,
            transit_mount: "transit".into(),
            key: "pola-pii".into(),
            blind_index_key: "pola-blind-index".into(),
            kv_mount: "secret".into(),
            kv_prefix: "pola/data-keys".into(),
            approle_mount: "approle".into(),
            role_id: String::new(),
            secret_id: SecretString::from(""),
            timeout_ms: 2000,
        }
    }
}

/// Logs.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `json` (one object a line, the default) or `pretty` (for a terminal).
    pub format: LogFormat,
    /// A `tracing` filter. Default `info,sqlx=warn`. `RUST_LOG` wins when set.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Json,
            filter: "info,sqlx=warn".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

fn redact<S: serde::Serializer>(_: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("[redacted]")
}

fn redact_map<S: serde::Serializer>(secrets: &std::collections::BTreeMap<String, SecretString>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(secrets.keys().map(|name| (name, "[redacted]")))
}

fn redact_option<S: serde::Serializer>(secret: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => s.serialize_str("[redacted]"),
        None => s.serialize_none(),
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration: {0}")]
    Read(#[from] Box<figment::Error>),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads the defaults, then `file` if given, then `POLA_…` environment variables
    /// (`__` separates levels: `POLA_AUTH__ACCESS_TOKEN_TTL_SECS=60`).
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        let config: Config = figment
            .merge(Env::prefixed("POLA_").split("__").ignore(&["config"]))
            .extract()
            .map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        self.apm.validate().map_err(ConfigError::Invalid)?;
        self.reporting.summary_time().map_err(ConfigError::Invalid)?;
        let prefix = &self.database.prefix;
        if prefix.is_empty()
            || prefix.len() > 40
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return invalid("database.prefix must be 1-40 characters of a-z, 0-9 and _");
        }
        if !(1..=3600).contains(&self.reporting.statement_timeout_secs) || self.reporting.row_cap == 0 {
            return invalid("reporting.statement_timeout_secs must be 1 to 3600 and reporting.row_cap at least 1");
        }
        if self.database.max_connections == 0 {
            return invalid("database.max_connections must be at least 1");
        }
        if !(30..=3600).contains(&self.auth.access_token_ttl_secs) {
            return invalid("auth.access_token_ttl_secs must be between 30 and 3600");
        }
        if self.auth.refresh_token_ttl_secs < self.auth.access_token_ttl_secs {
            return invalid("auth.refresh_token_ttl_secs must not be shorter than the access token's");
        }
        if self.auth.staff_session_idle_secs == 0 || self.auth.staff_session_absolute_secs < self.auth.staff_session_idle_secs {
            return invalid("auth.staff_session_idle_secs must be positive and no longer than staff_session_absolute_secs");
        }
        if self.auth.staff_lockout_failures == 0 {
            return invalid("auth.staff_lockout_failures must be at least 1");
        }
        if self.auth.argon2_memory_kib < 8 || self.auth.argon2_iterations == 0 {
            return invalid("auth.argon2_memory_kib must be at least 8 and argon2_iterations at least 1");
        }
        let cart = &self.cart;
        let limits = [
            cart.guest_max_per_variant,
            cart.guest_max_units,
            cart.customer_max_per_variant,
            cart.customer_max_units,
            cart.address_max_per_variant,
            cart.address_max_units,
        ];
        if limits.contains(&0) || cart.short_hold_secs == 0 {
            return invalid("cart limits and cart.short_hold_secs must be positive");
        }
        if cart.guest_max_per_variant > cart.guest_max_units || cart.customer_max_per_variant > cart.customer_max_units {
            return invalid("a cart's limit per variant must not be above its limit in all");
        }
        if self.events.relay_batch == 0 || self.events.prefetch == 0 || self.events.relay_idle_ms == 0 {
            return invalid("events.relay_batch, events.prefetch and events.relay_idle_ms must be positive");
        }
        if self.inventory.reservation_ttl_secs == 0 || self.inventory.sweep_interval_secs == 0 {
            return invalid("inventory.reservation_ttl_secs and sweep_interval_secs must be positive");
        }
        let services = &self.services;
        let urls = [
            &services.catalog_url,
            &services.inventory_url,
            &services.cart_url,
            &services.orders_url,
            &services.identity_url,
            &services.promotions_url,
        ];
        if urls.iter().any(|u| u.is_some()) && services.internal_token.is_none() {
            return invalid("services.internal_token is required when another service's URL is set");
        }
        if urls
            .iter()
            .flat_map(|u| u.as_deref())
            .any(|u| !(u.starts_with("http://") || u.starts_with("https://")))
        {
            return invalid("services.*_url must be http:// or https:// URLs");
        }
        if services.timeout_ms == 0 {
            return invalid("services.timeout_ms must be positive");
        }
        if self.pii.cache_ttl_secs > 3600 || self.pii.cache_max_keys == 0 {
            return invalid("pii.cache_ttl_secs must be at most 3600 and pii.cache_max_keys positive");
        }
        if self.pii.backend == PiiBackend::Vault {
            use secrecy::ExposeSecret;
            let vault = &self.pii.vault;
            if vault.role_id.is_empty() || vault.secret_id.expose_secret().is_empty() {
                return invalid("pii.vault.role_id and pii.vault.secret_id are required with the vault backend");
            }
            if !(vault.addr.starts_with("http://") || vault.addr.starts_with("https://")) || vault.timeout_ms == 0 {
                return invalid("pii.vault.addr must be an http(s) URL and pii.vault.timeout_ms positive");
            }
        }
        if !(1..=1000).contains(&self.inventory.sale_batch_max) {
            return invalid("inventory.sale_batch_max must be between 1 and 1000");
        }
        if self.http.body_limit_bytes < 1024 {
            return invalid("http.body_limit_bytes must be at least 1024");
        }
        self.payments.validate().map_err(ConfigError::Invalid)
    }
}

impl PaymentsConfig {
    fn validate(&self) -> Result<(), String> {
        if self.window_minutes == 0 || self.bank_transfer_days == 0 || self.jobs_interval_secs == 0 {
            return Err("payments.window_minutes, bank_transfer_days and jobs_interval_secs must be positive".into());
        }
        if self.cod_max_minor < 0 {
            return Err("payments.cod_max_minor must not be negative".into());
        }
        let url = |u: &str| u.starts_with("http://") || u.starts_with("https://");
        if let Some(payhere) = &self.payhere {
            if payhere.merchant_id.is_empty() || !payhere.merchant_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err("payments.payhere.merchant_id must be the merchant's id".into());
            }
            if payhere.merchant_secret.is_none() && payhere.vault_path.is_none() {
                return Err("payments.payhere needs merchant_secret, or vault_path to read it from".into());
            }
            let urls = [
                &payhere.checkout_url,
                &payhere.notify_url,
                &payhere.return_url,
                &payhere.cancel_url,
            ];
            if !urls.iter().all(|u| url(u)) || payhere.api_url.as_deref().is_some_and(|u| !url(u)) {
                return Err("payments.payhere's URLs must be http(s) URLs".into());
            }
            if payhere.api_url.is_some()
                && (payhere.app_id.is_none() || (payhere.app_secret.is_none() && payhere.vault_path.is_none()))
            {
                return Err("payments.payhere.api_url needs app_id and app_secret (or vault_path)".into());
            }
        }
        let mut codes = std::collections::HashSet::new();
        for courier in &self.couriers {
            if courier.code.is_empty() || !codes.insert(courier.code.as_str()) {
                return Err(format!("payments.couriers: `{}` is empty or named twice", courier.code));
            }
            if courier.kind == CourierKind::Koombiyo
                && (courier.api_url.as_deref().is_none_or(|u| !url(u)) || courier.api_key.is_none())
            {
                return Err(format!(
                    "payments.couriers `{}`: koombiyo needs api_url and api_key",
                    courier.code
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn defaults_are_valid_and_the_database_url_never_prints() {
        let config = Config::default();
        config.validate().expect("defaults validate");
        assert!(!format!("{config:?}").contains("mysql://"));
        let toml = serde_json::to_string(&config).expect("serialises");
        assert!(!toml.contains("mysql://"), "{toml}");
        assert_eq!(config.database.url.expose_secret(), "mysql://root@127.0.0.1:3307");
    }

    #[test]
    fn a_bad_prefix_is_refused() {
        let mut config = Config::default();
        config.database.prefix = "pola; DROP".into();
        assert!(config.validate().is_err());
    }

    #[test]
    #[expect(clippy::result_large_err, reason = "figment's Jail closure returns figment::Error")]
    fn environment_overrides_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("pola.toml", "[http]\naddr = \"127.0.0.1:9000\"\n")?;
            jail.set_env("POLA_AUTH__ACCESS_TOKEN_TTL_SECS", "60");
            let config = Config::load(Some(std::path::Path::new("pola.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(config.http.addr.port(), 9000);
            assert_eq!(config.auth.access_token_ttl_secs, 60);
            Ok(())
        });
    }
}

//! Email over SMTP with lettre: a pool of connections, STARTTLS or TLS and a login when
//! configured, every message multipart (text and HTML).

use std::time::Duration;

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::MultiPart,
    transport::smtp::{PoolConfig, authentication::Credentials},
};
use pola_core::config::{SmtpConfig, SmtpTls};
use secrecy::ExposeSecret;

use crate::{SendError, templates::Rendered};

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl Mailer {
    pub fn new(config: &SmtpConfig) -> anyhow::Result<Self> {
        pola_core::install_crypto_provider();
        let builder = match config.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host),
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)?,
        };
        let mut builder = builder
            .port(config.port)
            .timeout(Some(Duration::from_millis(config.timeout_ms)))
            .pool_config(PoolConfig::new().max_size(config.pool_size));
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.expose_secret().to_owned()));
        }
        Ok(Self {
            transport: builder.build(),
            from: config
                .from
                .parse()
                .map_err(|e| anyhow::anyhow!("notifications.smtp.from: {e}"))?,
        })
    }

    /// Sends `message` to `to`; `id` becomes its Message-ID, so a copy sent twice is one message
    /// to mail clients.
    pub async fn send(&self, to: &str, id: &str, message: &Rendered) -> Result<(), SendError> {
        let to = to.parse().map_err(|e| SendError::Refused(format!("not an address: {e}")))?;
        let email = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&message.subject)
            .message_id(Some(format!("<{id}@pola.lk>")))
            .multipart(MultiPart::alternative_plain_html(message.text.clone(), message.html.clone()))
            .map_err(|e| SendError::Refused(e.to_string()))?;
        match self.transport.send(email).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Refused(format!("the mail server refused it: {e}"))),
            Err(e) => Err(SendError::Unavailable(format!("the mail server is unavailable: {e}"))),
        }
    }
}

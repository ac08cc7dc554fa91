//! Where messages go: an SMTP relay through lettre (pooled connections, STARTTLS or TLS, authentication, all from
//! one URL), or, in the embedded default, one .eml file per message under `data_dir/mail`. The dispatcher is the same
//! for both.

use std::path::{Path, PathBuf};

use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::config::Config;

/// A configured transport.
#[derive(Clone)]
pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// Writes `<message id>.eml` files into the folder (a resend overwrites the same file).
    Files(PathBuf),
}

/// Why a message was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth another try later: the relay was unreachable, busy, or answered 4xx.
    #[error("{0}")]
    Transient(String),
    /// Another try would fail the same way: the relay refused the message (5xx).
    #[error("{0}")]
    Permanent(String),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Smtp(_) => f.write_str("Transport::Smtp"),
            Self::Files(dir) => write!(f, "Transport::Files({})", dir.display()),
        }
    }
}

impl Transport {
    /// The transport the configuration names.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        match &config.mail.smtp_url {
            Some(url) => {
                // One pooled connection for each message the dispatcher sends at once.
                let connections = u32::try_from(config.mail.concurrency.max(1)).unwrap_or(u32::MAX);
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    .map_err(|e| anyhow::anyhow!("mail.smtp_url is not a usable SMTP URL: {e}"))?
                    .pool_config(lettre::transport::smtp::PoolConfig::new().max_size(connections))
                    .build();
                Ok(Self::Smtp(transport))
            }
            None => Ok(Self::Files(config.data_dir.join("mail"))),
        }
    }

    /// Delivers one message; for the file transport, says where it was written.
    pub async fn send(&self, id: Uuid, message: Message) -> Result<Option<PathBuf>, SendError> {
        match self {
            Self::Smtp(transport) => match transport.send(message).await {
                Ok(_) => Ok(None),
                Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
                Err(e) => Err(SendError::Transient(e.to_string())),
            },
            Self::Files(dir) => write_file(dir, id, &message.formatted())
                .await
                .map(Some)
                .map_err(|e| SendError::Transient(format!("cannot write the message file: {e}"))),
        }
    }
}

/// Writes the message atomically (a temporary file renamed into place), so a reader never sees half a message.
async fn write_file(dir: &Path, id: Uuid, bytes: &[u8]) -> std::io::Result<PathBuf> {
    // Messages name people and carry sign-in links: the owner's alone.
    crate::config::create_private_dir(dir)?;
    let path = dir.join(format!("{id}.eml"));
    let partial = dir.join(format!(".{id}.eml.partial"));
    tokio::fs::write(&partial, bytes).await?;
    tokio::fs::rename(&partial, &path).await?;
    Ok(path)
}

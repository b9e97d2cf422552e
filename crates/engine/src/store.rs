//! The two databases: how to connect, and the names of TempleSync's own collections.

use std::time::Duration;

use bson::Document;
use std::sync::Arc;

use mongodb::options::{ClientOptions, ConnectionString, WriteConcern};
use mongodb::{Client, Collection, Database};

use crate::error::{Error, Result, Side};
use crate::settings::{Settings, host_of, redact_url, scrub, secrets_of};

/// Settings (local).
pub const SYNC_CONFIG: &str = "sync_config";
/// One entry per run (local).
pub const SYNC_LOGS: &str = "sync_logs";
/// One entry per conflict (local).
pub const CONFLICT_LOGS: &str = "conflict_logs";
/// The run lock and per-collection checkpoints (local).
pub const SYNC_STATE: &str = "sync_state";
/// Ids to look at on the next run whatever the change feeds say (local).
pub const SYNC_DIRTY: &str = "sync_dirty";
/// Documents a side refused, set aside so that the rest of a run goes on (local).
pub const SYNC_QUARANTINE: &str = "sync_quarantine";
/// Every version of a document a sync on this computer overwrote or deleted, on either side
/// ([`crate::history`]).
pub const SYNC_HISTORY: &str = "sync_history";
/// In the *cloud* database: the cloud's identity and generation ([`crate::identity`]).
pub const CLOUD_IDENTITY: &str = "sync_identity";
/// `sync_base.<collection>`: the last-synced version of each document (local).
pub const BASE_PREFIX: &str = "sync_base.";

/// Whether a collection is TempleSync's own (or MongoDB's) and so never synced.
pub fn is_bookkeeping(name: &str) -> bool {
    matches!(
        name,
        SYNC_CONFIG
            | SYNC_LOGS
            | CONFLICT_LOGS
            | SYNC_STATE
            | SYNC_DIRTY
            | SYNC_QUARANTINE
            | SYNC_HISTORY
            | CLOUD_IDENTITY
    ) || name.starts_with(BASE_PREFIX)
        || name.starts_with("system.")
}

/// How long to wait for a server before calling it unreachable. Keeps "the cloud is down"
/// reports within the 10 s a person is willing to wait.
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The cloud connection, made on first use: an Atlas `mongodb+srv://` address needs a DNS
/// lookup, which fails while offline, and offline is when TempleSync must still start.
pub(crate) struct RemoteConn {
    url: String,
    database: String,
    db: tokio::sync::OnceCell<Database>,
}

/// Both databases, connected lazily by the driver.
#[derive(Clone)]
pub(crate) struct Databases {
    pub local: Database,
    pub remote: Option<Arc<RemoteConn>>,
    pub local_host: String,
    pub remote_host: Option<String>,
}

impl Databases {
    pub async fn connect(settings: &Settings) -> Result<Databases> {
        settings.validate()?;
        let local_client = client_for("local", &settings.local_url).await?;
        let local = local_client.database(&settings.database);
        let remote = match &settings.remote_url {
            Some(url) => {
                // Check the form now; connect (and resolve) later.
                ConnectionString::parse(url).map_err(|e| Error::InvalidConnectionString {
                    which: "cloud",
                    url: redact_url(url),
                    reason: scrub(&crate::error::describe_driver_error(&e), &secrets_of(url)),
                })?;
                Some(Arc::new(RemoteConn {
                    url: url.clone(),
                    database: settings.database.clone(),
                    db: tokio::sync::OnceCell::new(),
                }))
            }
            None => None,
        };
        Ok(Databases {
            local,
            remote,
            local_host: host_of(&settings.local_url),
            remote_host: settings.remote_url.as_deref().map(host_of),
        })
    }

    /// The cloud database; connects on first use. A failed DNS lookup is "unreachable" and
    /// is tried again next time; a connection string the driver refuses is a setting to fix.
    pub async fn remote(&self) -> Result<&Database> {
        let conn = self.remote.as_ref().ok_or(Error::RemoteNotConfigured)?;
        conn.db
            .get_or_try_init(|| async {
                let client = client_for("cloud", &conn.url).await?;
                let opts = mongodb::options::DatabaseOptions::builder()
                    .write_concern(WriteConcern::majority())
                    .build();
                Ok(client.database_with_options(&conn.database, opts))
            })
            .await
    }

    /// Closes both connections cleanly (the driver's background tasks end before the runtime).
    pub async fn shutdown(&self) {
        if let Some(remote) = self.remote.as_ref().and_then(|r| r.db.get()) {
            remote.client().clone().shutdown().await;
        }
        self.local.client().clone().shutdown().await;
    }

    pub fn local_coll(&self, name: &str) -> Collection<Document> {
        self.local.collection(name)
    }

    pub fn base_coll(&self, name: &str) -> Collection<Document> {
        self.local.collection(&format!("{BASE_PREFIX}{name}"))
    }

    /// Maps a driver error to "unreachable" when the server could not be reached at all, so
    /// callers can tell "the cloud is offline" from "the cloud said no".
    pub fn classify(&self, side: Side, context: &str, err: &mongodb::error::Error) -> Error {
        use mongodb::error::ErrorKind;
        if crate::error::is_auth_error(err) {
            return Error::AuthenticationFailed {
                side,
                host: match side {
                    Side::Remote => self.remote_host.clone().unwrap_or_default(),
                    Side::Local => self.local_host.clone(),
                },
                setting: match side {
                    Side::Remote => "MONGODB_CLOUD_URL",
                    Side::Local => "MONGODB_LOCAL_URL",
                },
            };
        }
        if let Some(reason) = crate::error::certificate_problem(err) {
            return Error::CertificateRejected {
                side,
                host: match side {
                    Side::Remote => self.remote_host.clone().unwrap_or_default(),
                    Side::Local => self.local_host.clone(),
                },
                reason,
                setting: match side {
                    Side::Remote => "MONGODB_CLOUD_URL",
                    Side::Local => "MONGODB_LOCAL_URL",
                },
            };
        }
        let unreachable = matches!(*err.kind, ErrorKind::ServerSelection { .. })
            || (crate::error::is_network_error(err) && !matches!(*err.kind, ErrorKind::Command(_)));
        if unreachable {
            let reason = crate::error::describe_driver_error(err);
            return match side {
                Side::Remote => Error::RemoteUnreachable {
                    host: self.remote_host.clone().unwrap_or_default(),
                    reason,
                },
                Side::Local => Error::LocalUnreachable {
                    host: self.local_host.clone(),
                    reason,
                },
            };
        }
        Error::db(side, context, err)
    }
}

async fn client_for(which: &'static str, url: &str) -> Result<Client> {
    let refused = |e: mongodb::error::Error| connection_problem(which, url, &e);
    let mut opts = ClientOptions::parse(url).await.map_err(refused)?;
    opts.app_name = Some("TempleSync".to_string());
    opts.server_selection_timeout
        .get_or_insert(SERVER_SELECTION_TIMEOUT);
    opts.connect_timeout.get_or_insert(CONNECT_TIMEOUT);
    Client::with_options(opts).map_err(refused)
}

/// Why a client could not be made from a connection string. Only a failed look-up of the
/// cloud's address (DNS, as for `mongodb+srv://` while offline) is "cannot reach": it may work
/// later. Everything else the driver refuses (several hosts with `directConnection=true`, a
/// `tlsCAFile` that does not exist) never will: it is a setting to fix.
fn connection_problem(which: &'static str, url: &str, e: &mongodb::error::Error) -> Error {
    use mongodb::error::ErrorKind;
    let reason = scrub(&crate::error::describe_driver_error(e), &secrets_of(url));
    let lookup = matches!(*e.kind, ErrorKind::DnsResolve { .. } | ErrorKind::Io(_));
    if lookup && which == "cloud" {
        return Error::RemoteUnreachable {
            host: host_of(url),
            reason,
        };
    }
    Error::InvalidConnectionString {
        which,
        url: redact_url(url),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bookkeeping_collections_are_recognised() {
        for n in [
            "sync_config",
            "sync_logs",
            "conflict_logs",
            "sync_state",
            "sync_dirty",
            "sync_quarantine",
            "sync_history",
            "sync_base.admins",
            "system.views",
        ] {
            assert!(is_bookkeeping(n), "{n}");
        }
        for n in ["admins", "bookings", "sync_base", "events"] {
            assert!(!is_bookkeeping(n), "{n}");
        }
    }
}

//! What the app manages: the engine and its monitor for the connection in use, restarted
//! when the connection settings change, and the forwarding of the monitor's events to the
//! window and the tray.

use std::time::Duration;

use tauri::{AppHandle, Manager};
use tauri_specta::Event;
use templesync_engine::{App, Engine, Error, Monitor, MonitorEvent, MonitorOptions, Overview};
use tokio::sync::RwLock;
use tokio::sync::broadcast::error::RecvError;

use crate::connection::Connection;
use crate::error::ErrorDto;
use crate::events::{OverviewChanged, SyncActivity};
use crate::tray;

pub struct Backend {
    options: MonitorOptions,
    inner: RwLock<Inner>,
}

struct Inner {
    connection: Connection,
    /// The application layer over the running monitor.
    app: Option<App>,
    /// Why the databases could not be opened (e.g. a malformed connection string).
    problem: Option<ErrorDto>,
    forwarder: Option<tauri::async_runtime::JoinHandle<()>>,
    /// The first start has not finished: "checking", not "not configured", so the window
    /// does not flash the setup screen while the databases open.
    starting: bool,
}

impl Backend {
    pub fn new(options: MonitorOptions, connection: Connection) -> Backend {
        Backend {
            options,
            inner: RwLock::new(Inner {
                connection,
                app: None,
                problem: None,
                forwarder: None,
                starting: true,
            }),
        }
    }

    /// Opens the databases and starts monitoring (when a cloud database is set), replacing
    /// whatever ran before.
    pub async fn start(&self, app: &AppHandle, connection: Option<Connection>) {
        {
            let mut inner = self.inner.write().await;
            stop(&mut inner).await;
            if let Some(c) = connection {
                inner.connection = c;
            }
            if inner.connection.configured() {
                match Engine::open(inner.connection.settings.clone()).await {
                    Ok(engine) => {
                        let monitor = Monitor::start(engine, self.options.clone());
                        inner.forwarder = Some(forward(app.clone(), &monitor));
                        inner.app = Some(App::with_monitor(monitor));
                        tracing::info!(settings = ?inner.connection.settings, "monitoring started");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the databases could not be opened");
                        inner.problem = Some(e.into());
                    }
                }
            }
            inner.starting = false;
        }
        publish(app).await;
    }

    /// Stops monitoring, letting a run in progress finish (it is recorded as it ends).
    pub async fn shutdown(&self) {
        stop(&mut *self.inner.write().await).await;
    }

    /// The application layer over the running monitor, or why there is none.
    pub async fn app(&self) -> Result<App, ErrorDto> {
        let inner = self.inner.read().await;
        match (&inner.app, &inner.problem) {
            (Some(a), _) => Ok(a.clone()),
            (None, Some(p)) => Err(p.clone()),
            (None, None) => Err(Error::RemoteNotConfigured.into()),
        }
    }

    pub async fn monitor(&self) -> Result<Monitor, ErrorDto> {
        let app = self.app().await?;
        Ok(app.monitor().expect("the app runs over a monitor").clone())
    }

    pub async fn engine(&self) -> Result<Engine, ErrorDto> {
        Ok(self.app().await?.engine().clone())
    }

    pub async fn connection(&self) -> Connection {
        self.inner.read().await.connection.clone()
    }

    pub async fn overview(&self) -> Overview {
        let (app, problem, starting) = {
            let inner = self.inner.read().await;
            (inner.app.clone(), inner.problem.clone(), inner.starting)
        };
        match app {
            Some(app) => app.overview().await,
            None => Overview::without_engine(starting, problem),
        }
    }
}

async fn stop(inner: &mut Inner) {
    if let Some(f) = inner.forwarder.take() {
        f.abort();
    }
    if let Some(m) = inner.app.take().as_ref().and_then(App::monitor) {
        m.shutdown().await;
    }
    inner.problem = None;
}

/// Sends the monitor's events to the window, and refreshes the status bar and the tray when
/// the state may have changed.
fn forward(app: AppHandle, monitor: &Monitor) -> tauri::async_runtime::JoinHandle<()> {
    let mut events = monitor.subscribe();
    tauri::async_runtime::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => {
                    let progress_only = matches!(event, MonitorEvent::Progress { .. });
                    let _ = SyncActivity(event).emit(&app);
                    if !progress_only {
                        publish(&app).await;
                    }
                }
                Err(RecvError::Lagged(_)) => publish(&app).await,
                Err(RecvError::Closed) => return,
            }
        }
    })
}

/// Reads the overview and shows it in the tray and the window.
pub async fn publish(app: &AppHandle) {
    let overview = app.state::<Backend>().overview().await;
    tray::show(app, &tray::look_of(&overview));
    crate::notify::after(app, &overview).await;
    let _ = OverviewChanged(overview).emit(app);
}

/// Keeps relative times ("5 minutes ago") and changes made by other programs (a sync from
/// the command line) fresh.
pub async fn refresh_every(app: AppHandle, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        publish(&app).await;
    }
}

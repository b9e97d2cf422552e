//! Always-on sync: the [`Monitor`] checks that the cloud answers, syncs when it comes back,
//! on a schedule, and at start-up, and tells front ends what happens as it happens.
//!
//! Runs are made one at a time by a single runner task. A trigger that arrives while a run is
//! in progress is remembered as *one* follow-up run, never queued: five reconnects during a
//! run give one more run, not five. Connectivity that flaps (up, down, up...) delays the
//! reconnect sync by a settle time that doubles with each flap, and says so in the status.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{Notify, broadcast};

use crate::engine::{Engine, SyncRequest};
use crate::error::{Error, Result};
use crate::logs::{SyncRun, Trigger};
use crate::run::Progress;

/// What the monitor knows about the cloud, for `GET /api/sync/network-status` and the app.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// In the OpenAPI document `NetworkStatus` is the REST answer, which adds snake_case keys.
#[cfg_attr(feature = "openapi", schema(as = MonitorStatus))]
#[serde(rename_all = "camelCase")]
pub struct NetworkStatus {
    pub is_running: bool,
    pub is_online: bool,
    /// None (null) before the first check.
    pub last_check: Option<DateTime<Utc>>,
    /// When `is_online` last changed.
    pub last_change: Option<DateTime<Utc>>,
    pub check_interval_seconds: u64,
    /// Why the last check failed (no passwords in it).
    pub last_error: Option<String>,
    /// What kind of trouble that was: `unavailable` waits for the network, `config` and
    /// `credentials` for a person to fix a setting.
    pub last_error_kind: Option<crate::error::ErrorKind>,
    /// Online/offline changes in the last hour.
    pub changes_last_hour: u32,
    /// Connectivity keeps coming and going: reconnect syncs wait until it has settled.
    pub flapping: bool,
    /// How long the connection must stay up before a reconnect sync starts.
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub reconnect_settle_seconds: f64,
    pub is_syncing: bool,
    /// A follow-up run is waiting for the current one.
    pub follow_up_pending: bool,
}

/// What happens, as it happens.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum MonitorEvent {
    /// The network status changed (online/offline, flapping, a run started or ended).
    Status {
        status: NetworkStatus,
    },
    RunStarted {
        trigger: Trigger,
    },
    Progress {
        progress: Progress,
    },
    RunFinished {
        run: Box<SyncRun>,
    },
    /// A run could not start (offline, already running elsewhere, not configured).
    RunRefused {
        trigger: Trigger,
        code: String,
        message: String,
    },
}

/// Timing knobs. The defaults follow `sync_config`; tests shorten them.
#[derive(Debug, Clone, Default)]
pub struct MonitorOptions {
    /// Instead of `checkIntervalSeconds`.
    pub check_interval: Option<Duration>,
    /// Instead of `syncIntervalMinutes` (still only when that is set).
    pub periodic_interval: Option<Duration>,
    /// How long one check may take (default: the smaller of 5 s and the check interval).
    pub check_timeout: Option<Duration>,
}

struct State {
    status: NetworkStatus,
    /// Times of recent online/offline changes (for flapping).
    changes: Vec<DateTime<Utc>>,
    /// When the current online stretch began.
    online_since: Option<DateTime<Utc>>,
    /// A reconnect sync is owed once the connection has settled.
    reconnect_owed: bool,
    pending: Option<Trigger>,
    last_run_end: Option<DateTime<Utc>>,
}

struct Inner {
    engine: Engine,
    opts: MonitorOptions,
    state: Mutex<State>,
    events: broadcast::Sender<MonitorEvent>,
    wake_checker: Notify,
    wake_runner: Notify,
    stop: tokio_util_like::Stop,
}

/// The running monitor. Cheap to clone.
#[derive(Clone)]
pub struct Monitor {
    inner: Arc<Inner>,
}

/// A flap window and the longest settle time.
const FLAP_WINDOW_MINUTES: i64 = 10;
const FLAP_THRESHOLD: usize = 4;
const MAX_SETTLE: Duration = Duration::from_secs(600);

/// Clears `is_syncing` when a run's caller goes away, however it goes.
struct SyncingFlag<'a>(&'a Monitor);

impl Drop for SyncingFlag<'_> {
    fn drop(&mut self) {
        if let Ok(mut st) = self.0.inner.state.lock() {
            st.status.is_syncing = false;
        }
    }
}

impl Monitor {
    /// Starts checking and syncing in the background.
    pub fn start(engine: Engine, opts: MonitorOptions) -> Monitor {
        let (events, _) = broadcast::channel(256);
        let inner = Arc::new(Inner {
            engine,
            opts,
            state: Mutex::new(State::new()),
            events,
            wake_checker: Notify::new(),
            wake_runner: Notify::new(),
            stop: tokio_util_like::Stop::default(),
        });
        let m = Monitor { inner };
        tokio::spawn(m.clone().check_loop());
        tokio::spawn(m.clone().run_loop());
        m
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub fn status(&self) -> NetworkStatus {
        self.inner
            .state
            .lock()
            .expect("monitor state")
            .status
            .clone()
    }

    /// The engine's status, with the cloud's reachability as last checked (no new check).
    pub async fn sync_status(&self) -> Result<crate::SyncStatus> {
        let st = self.status();
        let known = if st.last_check.is_some() {
            Some((st.is_online, st.last_error.clone()))
        } else {
            None
        };
        let mut s = self.inner.engine.status_knowing(known).await?;
        s.is_syncing = s.is_syncing || st.is_syncing;
        Ok(s)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<MonitorEvent> {
        self.inner.events.subscribe()
    }

    /// Settings changed: re-read them now rather than at the next check.
    pub fn config_changed(&self) {
        self.inner.wake_checker.notify_one();
    }

    /// Asks for a run; coalesced with any run in progress into at most one follow-up.
    pub fn request_sync(&self, trigger: Trigger) {
        {
            let mut st = self.inner.state.lock().expect("monitor state");
            st.pending = Some(match st.pending {
                // A person's request outranks an automatic one in the log.
                Some(Trigger::Manual) => Trigger::Manual,
                _ => trigger,
            });
            st.status.follow_up_pending = st.status.is_syncing;
        }
        self.inner.wake_runner.notify_one();
    }

    /// Runs a sync now and waits for it (a person pressed "Sync now"). Refused with
    /// `SyncInProgress` while another run is going: the caller says so; nothing is queued.
    pub async fn sync_now(&self, collections: Option<Vec<String>>) -> Result<SyncRun> {
        let req = SyncRequest {
            trigger: Trigger::Manual,
            collections,
        };
        self.execute(req).await
    }

    /// Stops checking and scheduling, and waits for a run in progress to finish (it is
    /// recorded as it ends; a run cut by the process ending is recorded as interrupted by the
    /// next run).
    pub async fn shutdown(&self) {
        self.inner.stop.stop();
        self.inner.wake_checker.notify_one();
        self.inner.wake_runner.notify_one();
        {
            let mut st = self.inner.state.lock().expect("monitor state");
            st.status.is_running = false;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        while self.status().is_syncing && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn emit(&self, e: MonitorEvent) {
        // Nobody listening is fine.
        let _ = self.inner.events.send(e);
    }

    fn emit_status(&self) {
        let status = self.status();
        self.emit(MonitorEvent::Status { status });
    }

    async fn execute(&self, req: SyncRequest) -> Result<SyncRun> {
        let trigger = req.trigger;
        {
            let mut st = self.inner.state.lock().expect("monitor state");
            if st.status.is_syncing {
                return Err(Error::SyncInProgress {
                    holder: String::new(),
                });
            }
            st.status.is_syncing = true;
        }
        // Should the caller stop waiting (its future dropped), the monitor must not stay
        // "syncing" for ever.
        let _syncing = SyncingFlag(self);
        self.emit(MonitorEvent::RunStarted { trigger });
        self.emit_status();
        let me = self.clone();
        let progress: crate::run::ProgressFn =
            Arc::new(move |p| me.emit(MonitorEvent::Progress { progress: p }));
        let result = self
            .inner
            .engine
            .sync_with_progress(req, Some(progress))
            .await;
        let now = Utc::now();
        {
            let mut st = self.inner.state.lock().expect("monitor state");
            st.status.is_syncing = false;
            st.last_run_end = Some(now);
        }
        match &result {
            Ok(run) => self.emit(MonitorEvent::RunFinished {
                run: Box::new(run.clone()),
            }),
            Err(e) => self.emit(MonitorEvent::RunRefused {
                trigger,
                code: e.code().to_string(),
                message: e.to_string(),
            }),
        }
        self.emit_status();
        result
    }

    async fn run_loop(self) {
        loop {
            if self.inner.stop.is_stopped() {
                return;
            }
            let next = {
                let mut st = self.inner.state.lock().expect("monitor state");
                if st.status.is_syncing {
                    None
                } else {
                    let t = st.pending.take();
                    st.status.follow_up_pending = false;
                    t
                }
            };
            match next {
                Some(trigger) => {
                    let r = self
                        .execute(SyncRequest {
                            trigger,
                            collections: None,
                        })
                        .await;
                    if let Err(Error::SyncInProgress { .. }) = r {
                        // Another process (or a person's "Sync now") is running: one follow-up.
                        {
                            let mut st = self.inner.state.lock().expect("monitor state");
                            st.pending.get_or_insert(trigger);
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                None => {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(1),
                        self.inner.wake_runner.notified(),
                    )
                    .await;
                }
            }
        }
    }

    async fn check_loop(self) {
        let mut first = true;
        loop {
            if self.inner.stop.is_stopped() {
                return;
            }
            let cfg = self.inner.engine.config().await.ok();
            let interval = self
                .inner
                .opts
                .check_interval
                .or(cfg
                    .as_ref()
                    .map(|c| Duration::from_secs(c.check_interval_seconds as u64)))
                .unwrap_or(Duration::from_secs(30));
            let timeout = self
                .inner
                .opts
                .check_timeout
                .unwrap_or(interval.min(Duration::from_secs(5)));
            let result = self.inner.engine.ping_remote(timeout).await;
            let periodic = cfg
                .as_ref()
                .and_then(|c| c.sync_interval_minutes)
                .map(|minutes| {
                    self.inner
                        .opts
                        .periodic_interval
                        .unwrap_or(Duration::from_secs(minutes as u64 * 60))
                });
            let check = Check {
                online: result.is_ok(),
                error: result.as_ref().err().map(|e| e.to_string()),
                error_kind: result.as_ref().err().map(Error::kind),
                now: Utc::now(),
                first,
                auto: cfg.as_ref().is_some_and(|c| c.auto_sync_enabled),
                interval,
                periodic,
            };
            let (changed, wake_runner) = {
                let mut st = self.inner.state.lock().expect("monitor state");
                st.observe(check)
            };
            if changed {
                tracing::info!(online = result.is_ok(), "cloud connection changed");
            }
            if first || changed {
                self.emit_status();
            }
            if wake_runner {
                self.inner.wake_runner.notify_one();
            }
            first = false;
            // The next check: after the interval, or at once when settings change. A periodic
            // interval shorter than the check interval needs more frequent looks.
            let wait = self
                .inner
                .opts
                .periodic_interval
                .filter(|_| {
                    cfg.as_ref()
                        .is_some_and(|c| c.sync_interval_minutes.is_some())
                })
                .map_or(interval, |p| p.min(interval));
            let _ = tokio::time::timeout(wait, self.inner.wake_checker.notified()).await;
        }
    }
}

impl State {
    fn new() -> State {
        State {
            status: NetworkStatus {
                is_running: true,
                is_online: false,
                last_check: None,
                last_change: None,
                check_interval_seconds: 30,
                last_error: None,
                last_error_kind: None,
                changes_last_hour: 0,
                flapping: false,
                reconnect_settle_seconds: 0.0,
                is_syncing: false,
                follow_up_pending: false,
            },
            changes: Vec::new(),
            online_since: None,
            reconnect_owed: false,
            pending: None,
            last_run_end: None,
        }
    }
}

/// One look at the cloud connection, with what the settings said at the time.
struct Check {
    online: bool,
    error: Option<String>,
    error_kind: Option<crate::error::ErrorKind>,
    now: DateTime<Utc>,
    first: bool,
    auto: bool,
    interval: Duration,
    /// How often a periodic run is due, when periodic runs are on.
    periodic: Option<Duration>,
}

impl State {
    /// Takes in one look at the connection: the status people see, flapping, and which run
    /// is owed (startup, reconnect once the connection has settled, periodic). Returns
    /// whether the connection changed and whether the runner must wake.
    fn observe(&mut self, c: Check) -> (bool, bool) {
        let now = c.now;
        let changed = !c.first && c.online != self.status.is_online;
        self.status.check_interval_seconds = c.interval.as_secs().max(1);
        self.status.last_check = Some(now);
        self.status.last_error = c.error.clone();
        self.status.last_error_kind = c.error_kind;
        if c.first || changed {
            self.status.last_change = Some(now);
        }
        if changed {
            self.changes.push(now);
        }
        let hour_ago = now - chrono::Duration::hours(1);
        self.changes.retain(|t| *t > hour_ago);
        self.status.changes_last_hour = self.changes.len() as u32;
        let window = now - chrono::Duration::minutes(FLAP_WINDOW_MINUTES);
        let recent = self.changes.iter().filter(|t| **t > window).count();
        self.status.flapping = recent >= FLAP_THRESHOLD;
        let settle = settle_time(recent, c.interval);
        self.status.reconnect_settle_seconds = settle.as_secs_f64();
        self.status.is_online = c.online;
        match c.online {
            true if self.online_since.is_none() || changed => self.online_since = Some(now),
            true => {}
            false => self.online_since = None,
        }
        let wake = self.owed_run(&c, changed, settle);
        self.status.follow_up_pending = self.status.is_syncing && self.pending.is_some();
        (changed, wake)
    }

    /// Which run the look makes due, if any; whether the runner must wake.
    fn owed_run(&mut self, c: &Check, changed: bool, settle: Duration) -> bool {
        let mut wake = false;
        if c.first && c.auto {
            self.pending.get_or_insert(Trigger::Startup);
            wake = true;
        }
        if changed && c.online && c.auto {
            self.reconnect_owed = true;
        }
        if !c.online || !c.auto {
            self.reconnect_owed = false;
        }
        let settled = self.online_since.is_some_and(|since| {
            c.now - since >= chrono::Duration::from_std(settle).unwrap_or_default()
        });
        if self.reconnect_owed && settled {
            self.reconnect_owed = false;
            self.pending.get_or_insert(Trigger::Reconnect);
            wake = true;
        }
        // Periodic runs, while online.
        if let Some(every) = c.periodic {
            let due = self.last_run_end.is_none_or(|end| {
                c.now - end >= chrono::Duration::from_std(every).unwrap_or_default()
            });
            if c.online && due && !self.status.is_syncing && self.pending.is_none() {
                self.pending = Some(Trigger::Periodic);
                wake = true;
            }
        }
        wake
    }
}

/// How long the connection must stay up before a reconnect sync, given the recent number of
/// changes: at once normally; doubling per change beyond the flap threshold.
pub fn settle_time(recent_changes: usize, check_interval: Duration) -> Duration {
    if recent_changes < FLAP_THRESHOLD {
        return Duration::ZERO;
    }
    let doublings = (recent_changes - FLAP_THRESHOLD).min(10) as u32;
    (check_interval * 2u32.pow(doublings)).min(MAX_SETTLE)
}

/// A stop flag (what tokio-util's CancellationToken does, without the dependency).
mod tokio_util_like {
    use std::sync::atomic::{AtomicBool, Ordering};

    #[derive(Default)]
    pub struct Stop(AtomicBool);

    impl Stop {
        pub fn stop(&self) {
            self.0.store(true, Ordering::SeqCst);
        }
        pub fn is_stopped(&self) -> bool {
            self.0.load(Ordering::SeqCst)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn look(st: &mut State, online: bool, secs: i64) -> (bool, bool) {
        let t0 = DateTime::<Utc>::from_timestamp(1_000_000, 0).unwrap();
        st.observe(Check {
            online,
            error: (!online).then(|| "offline".to_string()),
            error_kind: None,
            now: t0 + chrono::Duration::seconds(secs),
            first: secs == 0,
            auto: true,
            interval: Duration::from_secs(30),
            periodic: None,
        })
    }

    #[test]
    fn a_reconnect_sync_is_owed_once_and_only_while_online() {
        let mut st = State::new();
        assert_eq!(look(&mut st, true, 0), (false, true), "the startup run");
        assert_eq!(st.pending.take(), Some(Trigger::Startup));
        assert_eq!(
            look(&mut st, false, 30),
            (true, false),
            "gone offline: nothing to run"
        );
        assert_eq!(
            look(&mut st, true, 60),
            (true, true),
            "back: one reconnect run"
        );
        assert_eq!(st.pending.take(), Some(Trigger::Reconnect));
        assert_eq!(
            look(&mut st, true, 90),
            (false, false),
            "still online: nothing more"
        );
        assert_eq!(st.status.changes_last_hour, 2);
    }

    #[test]
    fn a_flapping_connection_waits_to_settle_before_its_reconnect_sync() {
        let mut st = State::new();
        look(&mut st, true, 0);
        st.pending = None;
        let mut t = 0;
        for _ in 0..3 {
            t += 30;
            look(&mut st, false, t);
            t += 30;
            look(&mut st, true, t);
            st.pending = None;
        }
        assert!(st.status.flapping, "six changes in a few minutes");
        t += 30;
        look(&mut st, false, t);
        t += 30;
        assert_eq!(
            look(&mut st, true, t),
            (true, false),
            "back, but not settled yet"
        );
        assert!(st.reconnect_owed);
        let settle = st.status.reconnect_settle_seconds as i64;
        assert!(settle > 0);
        assert!(look(&mut st, true, t + settle).1, "settled: the owed run");
        assert_eq!(st.pending, Some(Trigger::Reconnect));
    }

    #[test]
    fn steady_connections_sync_at_once_and_flapping_ones_wait_longer_each_time() {
        let i = Duration::from_secs(30);
        assert_eq!(settle_time(0, i), Duration::ZERO);
        assert_eq!(settle_time(3, i), Duration::ZERO);
        assert_eq!(settle_time(4, i), Duration::from_secs(30));
        assert_eq!(settle_time(5, i), Duration::from_secs(60));
        assert_eq!(settle_time(6, i), Duration::from_secs(120));
        assert_eq!(
            settle_time(40, i),
            MAX_SETTLE,
            "never more than ten minutes"
        );
    }
}

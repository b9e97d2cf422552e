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
use crate::this_pc::{Pause, ThisPc};

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
    /// Syncing is paused on this computer (not on the others): nothing runs by itself until
    /// it ends or someone resumes; "Sync now" still works.
    pub paused_here: Option<Pause>,
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
    /// This computer's settings file, with its pause (default: this user's,
    /// [`ThisPc::of_this_user`]).
    pub this_pc: Option<ThisPc>,
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
    /// Where the pause is kept; none when this computer has no settings folder (then it
    /// cannot be paused, and says so when asked).
    this_pc: Option<ThisPc>,
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
        let this_pc = opts
            .this_pc
            .clone()
            .or_else(|| match ThisPc::of_this_user() {
                Ok(pc) => Some(pc),
                Err(e) => {
                    tracing::warn!(error = %e, "no settings folder: syncing cannot be paused here");
                    None
                }
            });
        let inner = Arc::new(Inner {
            engine,
            opts,
            this_pc,
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

    /// This computer's settings file.
    fn this_pc(&self) -> Result<&ThisPc> {
        self.inner.this_pc.as_ref().ok_or_else(|| Error::InvalidConfig {
            field: crate::places::HOME_VAR.to_string(),
            reason: "this computer does not say where its settings folder is, so a pause could not be kept: set TEMPLESYNC_HOME".to_string(),
        })
    }

    /// The pause in force here, as the file says now (another program may have set it).
    fn pause_now(&self) -> Option<Pause> {
        let pc = self.inner.this_pc.as_ref()?;
        match pc.pause_at(Utc::now()) {
            Ok(p) => p,
            Err(e) => {
                // A damaged file pauses nothing; the person sees why when pausing again.
                tracing::warn!(error = %e, "the pause of this computer could not be read");
                None
            }
        }
    }

    /// Pauses syncing on this computer for `minutes` (none: until someone resumes). Nothing
    /// runs by itself meanwhile; a run in progress finishes.
    pub fn pause_here(&self, minutes: Option<u32>) -> Result<Pause> {
        let pause = self.this_pc()?.pause(minutes, Utc::now())?;
        tracing::info!(until = ?pause.until, "syncing paused on this computer");
        {
            let mut st = self.inner.state.lock().expect("monitor state");
            st.status.paused_here = Some(pause);
            st.pending = st.pending.filter(|t| *t == Trigger::Manual);
        }
        self.emit_status();
        self.inner.wake_checker.notify_one();
        Ok(pause)
    }

    /// Ends this computer's pause: a run starts at once (when the cloud answers), and the
    /// schedule and reconnect runs go on.
    pub fn resume_here(&self) -> Result<()> {
        self.this_pc()?.resume()?;
        tracing::info!("syncing resumed on this computer");
        self.inner.wake_checker.notify_one();
        Ok(())
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
            let next = match next {
                // Paused by another program since the last look: nothing by itself.
                Some(t) if t != Trigger::Manual && self.pause_now().is_some() => {
                    tracing::info!(trigger = t.as_str(), "paused on this computer: no run");
                    None
                }
                other => other,
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
            let paused = self.pause_now();
            let check = Check {
                online: result.is_ok(),
                error: result.as_ref().err().map(|e| e.to_string()),
                error_kind: result.as_ref().err().map(Error::kind),
                now: Utc::now(),
                first,
                auto: cfg.as_ref().is_some_and(|c| c.auto_sync_enabled),
                interval,
                periodic,
                paused,
            };
            let (changed, wake_runner, pause_changed) = {
                let mut st = self.inner.state.lock().expect("monitor state");
                let before = st.status.paused_here;
                let (changed, wake) = st.observe(check);
                (changed, wake, st.status.paused_here != before)
            };
            if changed {
                tracing::info!(online = result.is_ok(), "cloud connection changed");
            }
            if first || changed || pause_changed {
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
            // A timed pause ends on time, not at the next check.
            let wait = paused
                .and_then(|p| p.until)
                .and_then(|until| (until - Utc::now()).to_std().ok())
                .map_or(wait, |left| left.min(wait) + Duration::from_millis(20));
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
                paused_here: None,
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
    /// This computer's pause, when one holds.
    paused: Option<Pause>,
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
        let resumed = self.status.paused_here.is_some() && c.paused.is_none();
        self.status.paused_here = c.paused;
        let wake = self.owed_run(&c, changed, settle, resumed);
        self.status.follow_up_pending = self.status.is_syncing && self.pending.is_some();
        (changed, wake)
    }

    /// Which run the look makes due, if any; whether the runner must wake.
    fn owed_run(&mut self, c: &Check, changed: bool, settle: Duration, resumed: bool) -> bool {
        if c.paused.is_some() {
            // Nothing by itself while paused here; what was owed is caught up on resuming.
            self.reconnect_owed = false;
            return false;
        }
        let mut wake = false;
        if resumed && c.online && c.auto {
            self.pending.get_or_insert(Trigger::Automatic);
            wake = true;
        }
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
            paused: None,
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
    fn paused_here_nothing_runs_by_itself_and_resuming_runs_once() {
        let t0 = DateTime::<Utc>::from_timestamp(1_000_000, 0).unwrap();
        let pause = Pause {
            since: t0,
            until: None,
        };
        let check = |secs: i64, online: bool, paused: Option<Pause>| Check {
            online,
            error: None,
            error_kind: None,
            now: t0 + chrono::Duration::seconds(secs),
            first: secs == 0,
            auto: true,
            interval: Duration::from_secs(30),
            periodic: Some(Duration::from_secs(60)),
            paused,
        };
        let mut st = State::new();
        assert_eq!(st.observe(check(0, true, Some(pause))), (false, false));
        assert_eq!(st.pending, None, "no start-up run while paused");
        st.observe(check(30, false, Some(pause)));
        assert_eq!(st.observe(check(60, true, Some(pause))), (true, false));
        assert!(!st.observe(check(600, true, Some(pause))).1);
        assert_eq!(
            st.pending, None,
            "no reconnect or periodic run while paused"
        );
        assert_eq!(st.status.paused_here, Some(pause));
        assert_eq!(st.observe(check(630, true, None)), (false, true));
        assert_eq!(
            st.pending.take(),
            Some(Trigger::Automatic),
            "one run on resuming"
        );
        assert_eq!(st.status.paused_here, None);
        st.last_run_end = Some(t0 + chrono::Duration::seconds(631));
        assert!(!st.observe(check(640, true, None)).1);
        assert!(st.observe(check(700, true, None)).1, "the schedule goes on");
        assert_eq!(st.pending, Some(Trigger::Periodic));
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

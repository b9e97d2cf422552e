//! Network partitions mid-run, through a TCP proxy the tests own ([`Proxy`]) between the
//! engine and one of its servers: the link is cut, stalled (connections stay open, nothing gets
//! through) or slowed the moment the second batch has been pushed, and stays so until the run
//! ends. Every run must end within [`RUN_BOUND`], with a clear status (in `sync_logs`, or —
//! when it is the local database that cannot be reached, where `sync_logs` lives — in the error
//! the run returns, the record then being closed as `interrupted` by the next run), and the
//! first sync after the link heals must converge with nothing lost or doubled.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bson::doc;
use futures::FutureExt;
use mongodb::Database;
use templesync_engine::clock::SkewedClock;
use templesync_engine::{Engine, RunStatus, Settings, Step, StepHook, SyncRequest, SyncRun};
use templesync_tests::fixture::*;
use templesync_tests::proxy::{Link, Proxy};

const COLL: &str = "bookings";

/// How long a run may take while a link is cut, stalled or slowed, and why that is enough:
///
/// - the driver notices a dead or silent server through its monitor: a heartbeat every 10 s
///   (the driver's default), each answer awaited for the connect timeout (5 s,
///   `store::CONNECT_TIMEOUT`) plus, while the server streams its answers, one heartbeat
///   period: at most 10 + 5 + 10 = 25 s; it then fails every operation on that server,
///   including ones waiting on a stalled connection;
/// - the engine retries a transient error up to `maxRetries` (3) times, after 0.5, 1 and 2 s,
///   and each attempt waits at most the server selection timeout (5 s) for the server: 18.5 s;
/// - the run's final bookkeeping (the `sync_logs` record, the lock) is a handful of writes,
///   each again bounded by the monitor (25 s) when the local link is the one down.
///
/// 25 + 18.5 + 25 = 68.5 s; 90 s leaves room for a loaded CI machine.
const RUN_BOUND: Duration = Duration::from_secs(90);

/// The slow link's delay per 1 KiB chunk: a batch of 10 small documents takes a few chunks.
const SLOW: Duration = Duration::from_millis(100);

struct Net {
    o: Office,
    cloud: Proxy,
    local: Proxy,
}

impl Net {
    async fn start() -> Net {
        let o = Office::start().await;
        let cloud = Proxy::start(o.cloud.port()).await.unwrap();
        let local = Proxy::start(o.pcs[0].port()).await.unwrap();
        Net { o, cloud, local }
    }

    fn settings(&self, db: &str) -> Settings {
        Settings {
            local_url: self.local.url(),
            remote_url: Some(self.cloud.url()),
            database: db.to_string(),
        }
    }

    fn proxy(&self, side: Side) -> &Proxy {
        match side {
            Side::Cloud => &self.cloud,
            Side::Local => &self.local,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Cloud,
    Local,
}

/// A hook that switches `proxy`'s link to `link` the second time a batch was pushed.
fn partition_at_second_push(proxy: &Proxy, link: Link, switched: Arc<AtomicU32>) -> StepHook {
    let mode = proxy.switch();
    Arc::new(move |step, _| {
        if step == Step::PushedBatch && switched.fetch_add(1, Ordering::SeqCst) == 1 {
            mode(link);
        }
        async { Ok(()) }.boxed()
    })
}

async fn prepare(l: &Database, r: &Database) {
    coll(l, COLL)
        .insert_many((0..40).map(|i| tms_doc(i, doc! { "n": i })))
        .await
        .unwrap();
    coll(r, COLL)
        .insert_many((100..130).map(|i| tms_doc(i, doc! { "n": i })))
        .await
        .unwrap();
}

/// One partition: returns what the cut run ended as, and how long it took.
async fn partition(net: &Net, side: Side, link: Link) -> (String, Duration) {
    let db = format!("p_{side:?}_{}", link_name(link)).to_lowercase();
    let label = format!("{side:?} link {link:?}");
    let (l, r) = (
        net.o.pcs[0].client().await.database(&db),
        net.o.cloud.client().await.database(&db),
    );
    prepare(&l, &r).await;
    let switched = Arc::new(AtomicU32::new(0));
    let hook = partition_at_second_push(net.proxy(side), link, switched.clone());
    let e = Office::engine_with(net.settings(&db), Some(hook)).await;
    set_config(&e, &["batchSize=10"]).await;

    let started = Instant::now();
    let run = tokio::time::timeout(RUN_BOUND * 3, e.sync(SyncRequest::manual()))
        .await
        .unwrap_or_else(|_| panic!("{label}: the run hangs ({:?} and counting)", RUN_BOUND * 3));
    let took = started.elapsed();
    assert!(
        switched.load(Ordering::SeqCst) >= 2,
        "{label}: the run never pushed a second batch, so the link was never switched"
    );
    net.proxy(side).set(Link::Pass);
    e.shutdown().await;
    assert!(
        took <= RUN_BOUND,
        "{label}: the run took {took:?}, more than {RUN_BOUND:?}: {run:?}"
    );
    let outcome = match (&run, link) {
        (Ok(run), Link::Slow(_)) => {
            assert_eq!(
                run.status,
                RunStatus::Completed,
                "{label}: a slow link is no failure: {run:#?}"
            );
            "completed".to_string()
        }
        (Ok(run), _) => {
            // The cloud link: the run ends failed, and says so in the history.
            assert_eq!(run.status, RunStatus::Failed, "{label}: {run:#?}");
            let code = run.error_code.clone().unwrap_or_default();
            let error = run.error.clone().unwrap_or_default();
            assert!(
                !error.is_empty()
                    && ["remote_unreachable", "database_error"].contains(&code.as_str()),
                "{label}: a clear error: {run:#?}"
            );
            format!("failed ({code})")
        }
        (Err(err), _) => {
            // The local link: the history lives there, so the run's error is the record.
            assert_eq!(
                side,
                Side::Local,
                "{label}: only a lost local database refuses to record the run: {err}"
            );
            assert!(
                ["local_unreachable", "database_error"].contains(&err.code()),
                "{label}: a clear error: {err}"
            );
            format!("error ({})", err.code())
        }
    };

    // Healed: the next syncs converge.
    let mut e = Office::engine_with(net.settings(&db), None).await;
    let mut outcome = outcome;
    if let Err(err) = e.sync(SyncRequest::manual()).await {
        // A run that lost the local link could not release the run lock there; it expires
        // after its 60 s lease (lock.rs). Rather than wait a minute, look at it from a minute
        // later: the lease is judged by the engine's clock.
        assert_eq!(err.code(), "sync_in_progress", "{label}: {err}");
        assert_eq!(
            side,
            Side::Local,
            "{label}: only the local link keeps the lock: {err}"
        );
        outcome.push_str(", lock kept until its lease ends");
        e.shutdown().await;
        let later = Arc::new(SkewedClock(chrono::Duration::seconds(61)));
        e = Engine::open_with_clock(net.settings(&db), later)
            .await
            .unwrap();
    }
    let mut runs = 0;
    loop {
        runs += 1;
        let run = tokio::time::timeout(RUN_BOUND, e.sync(SyncRequest::manual()))
            .await
            .unwrap_or_else(|_| panic!("{label}: a run after healing took over {RUN_BOUND:?}"))
            .unwrap_or_else(|err| panic!("{label}: a run after healing failed: {err}"));
        assert_eq!(run.status, RunStatus::Completed, "{label}: {run:#?}");
        if SyncRun::total(&run.local_to_remote) + SyncRun::total(&run.remote_to_local) == 0 {
            break;
        }
        assert!(runs < 4, "{label}: still moving after {runs} runs");
    }
    assert_same(&l, &r, COLL).await;
    assert_eq!(
        all(&r, COLL).await.len(),
        70,
        "{label}: nothing lost or doubled"
    );
    let logs = e.logs(20).await.unwrap();
    assert!(
        logs.iter().all(|x| x.status != RunStatus::Running),
        "{label}: no run left running: {logs:#?}"
    );
    assert!(
        logs.iter().any(
            |x| matches!(x.status, RunStatus::Failed | RunStatus::Interrupted)
                || link != Link::Cut && link != Link::Stall
        ),
        "{label}: the partitioned run is in the history as failed or interrupted: {logs:#?}"
    );
    e.shutdown().await;
    eprintln!("{label}: {outcome} after {took:.1?}; converged in {runs} run(s)");
    (outcome, took)
}

fn link_name(link: Link) -> &'static str {
    match link {
        Link::Pass => "pass",
        Link::Cut => "cut",
        Link::Stall => "stall",
        Link::Slow(_) => "slow",
    }
}

async fn partitions_of(side: Side) {
    let net = Net::start().await;
    let mut lines = Vec::new();
    for link in [Link::Cut, Link::Stall, Link::Slow(SLOW)] {
        let (outcome, took) = partition(&net, side, link).await;
        lines.push(format!(
            "{side:?} {:<6} {outcome:<28} {took:>6.1?}",
            link_name(link)
        ));
    }
    println!("\n{}", lines.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_stalled_or_slow_cloud_link_ends_the_run_in_bounded_time_and_heals() {
    partitions_of(Side::Cloud).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_stalled_or_slow_local_link_ends_the_run_in_bounded_time_and_heals() {
    partitions_of(Side::Local).await;
}

/// The proxy itself: passes, cuts and stalls what the driver sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_passes_cuts_and_stalls() {
    let o = Office::start().await;
    let proxy = Proxy::start(o.cloud.port()).await.unwrap();
    let mut opts = mongodb::options::ClientOptions::parse(proxy.url())
        .await
        .unwrap();
    opts.server_selection_timeout = Some(Duration::from_secs(2));
    opts.connect_timeout = Some(Duration::from_secs(2));
    opts.retry_reads = Some(false);
    let client = mongodb::Client::with_options(opts).unwrap();
    let db = client.database("proxy_test");
    db.run_command(doc! { "ping": 1 }).await.expect("passes");
    proxy.set(Link::Cut);
    assert!(db.run_command(doc! { "ping": 1 }).await.is_err(), "cut");
    proxy.set(Link::Stall);
    let stalled =
        tokio::time::timeout(Duration::from_secs(1), db.run_command(doc! { "ping": 1 })).await;
    assert!(
        stalled.is_err() || stalled.unwrap().is_err(),
        "stalled: no answer"
    );
    proxy.set(Link::Pass);
    let deadline = Instant::now() + Duration::from_secs(30);
    while db.run_command(doc! { "ping": 1 }).await.is_err() {
        assert!(Instant::now() < deadline, "passes again after healing");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(proxy.connections_accepted() >= 2);
    client.shutdown().immediate(true).await;
}

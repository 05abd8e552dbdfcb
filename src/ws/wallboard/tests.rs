//! Wallboard sessions over channels, against a real floor feed.

use std::collections::HashMap;

use futures_util::sink;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use tokio::sync::mpsc;

use super::*;
use crate::config::Config;
use crate::domain::{TaskId, TaskKind, UserId};
use crate::rules::figures::{Figures, FloorEvent};
use crate::runtime::figures::{self, FloorTx, Sources};
use crate::testing::TestDb;

const SECOND: Duration = Duration::from_secs(1);

struct Floor {
    tx: FloorTx,
    feed: FloorFeed,
    auth: Arc<Auth>,
    stop: CancellationToken,
    _db: TestDb,
}

async fn floor() -> Floor {
    let db = TestDb::sqlite();
    let store = db.store().await;
    let config = Config::default();
    let rules = config.rules().unwrap();
    let now = Timestamp::now();
    let figures = Figures::new(config.figures.clone(), rules.calendar.start_of_day(now));
    let sources = Sources {
        store,
        calendar: rules.calendar.clone(),
        queues: rules.queues.clone(),
        checkpoints: Arc::new(config.checkpoints().unwrap()),
        live: None,
        metrics: Default::default(),
        satisfaction_target: 0.98,
        lists: config.cases.lists(),
        planning: None,
    };
    let stop = CancellationToken::new();
    let (tx, feed, _task) = figures::spawn(figures, HashMap::new(), sources, stop.clone());
    let auth = Arc::new(Auth::new(&"k".repeat(32), SignedDuration::from_mins(5), SignedDuration::from_secs(30)));
    Floor { tx, feed, auth, stop, _db: db }
}

impl Floor {
    fn env(&self, send_timeout: Duration) -> WallboardEnv {
        WallboardEnv {
            auth: self.auth.clone(),
            auth_timeout: Duration::from_secs(5),
            max_message_bytes: 4096,
            send_timeout,
            shutdown: self.stop.clone(),
            feed: self.feed.clone(),
            messages: crate::limits::Rate::new(20.0, 40.0),
            max_per_user: 4,
            metrics: Arc::default(),
        }
    }

    fn hello(&self, role: Role) -> Frame {
        let ticket = self.auth.ticket_for_tests(UserId::new(), role);
        Frame::Text(serde_json::json!({"type": "auth", "ticket": ticket}).to_string())
    }

    fn call_enters(&self) {
        let at = Timestamp::now();
        let queue = "hotline".to_owned();
        self.tx.event(FloorEvent::Entered {
            task: TaskId::new(),
            kind: TaskKind::InboundCall,
            queue,
            deadline: None,
            at,
        });
    }
}

/// A client whose frames land in a channel; its incoming side stays open.
fn client(
    first: Frame,
) -> (
    mpsc::UnboundedSender<Frame>,
    impl Stream<Item = Frame> + Unpin,
    impl Sink<Out> + Unpin,
    mpsc::UnboundedReceiver<Out>,
) {
    let (in_tx, in_rx) = mpsc::unbounded_channel();
    in_tx.send(first).unwrap();
    let incoming = tokio_stream_like(in_rx);
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let outgoing = Box::pin(sink::unfold(out_tx, |tx, o: Out| async move {
        tx.send(o).map_err(|_| ())?;
        Ok::<_, ()>(tx)
    }));
    (in_tx, incoming, outgoing, out_rx)
}

fn tokio_stream_like(rx: mpsc::UnboundedReceiver<Frame>) -> impl Stream<Item = Frame> + Unpin {
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) }))
}

async fn next_json(out: &mut mpsc::UnboundedReceiver<Out>) -> Value {
    match tokio::time::timeout(Duration::from_secs(5), out.recv()).await.expect("a frame within 5 s") {
        Some(Out::Text(t)) => serde_json::from_str(&t).unwrap(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

fn waiting(board: &Value) -> u64 {
    board["queues"]["hotline/inbound_call"]["waiting"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn a_supervisor_gets_the_board_then_patches_that_rebuild_it() {
    let f = floor().await;
    let (_keep, incoming, outgoing, mut out) = client(f.hello(Role::Supervisor));
    let session = tokio::spawn(run(incoming, outgoing, f.env(SECOND)));
    let first = next_json(&mut out).await;
    assert_eq!(first["type"], "figures");
    let mut board = first["board"].clone();
    assert_eq!(waiting(&board), 0);
    f.call_enters();
    f.call_enters();
    let mut seq = first["seq"].as_u64().unwrap();
    while waiting(&board) < 2 {
        let patch = next_json(&mut out).await;
        assert_eq!(patch["type"], "patch");
        assert!(patch["seq"].as_u64().unwrap() > seq, "patches come in order");
        seq = patch["seq"].as_u64().unwrap();
        crate::rules::figures::wire::apply_patch(&mut board, &patch["patch"]);
    }
    // The patched board is the board a newcomer gets.
    let fresh: Value = serde_json::from_str(&f.feed.latest().full()).unwrap();
    assert_eq!(waiting(&fresh["board"]), 2);
    assert_eq!(board, fresh["board"], "a follower of the patches holds exactly the newcomer's board");
    f.stop.cancel();
    session.await.unwrap();
}

#[tokio::test]
async fn an_agent_ticket_is_refused() {
    let f = floor().await;
    let (_keep, incoming, outgoing, mut out) = client(f.hello(Role::Agent));
    run(incoming, outgoing, f.env(SECOND)).await;
    let refusal = next_json(&mut out).await;
    assert_eq!(refusal["type"], "error");
    assert_eq!(refusal["code"], "role_not_allowed");
    assert!(matches!(out.recv().await, Some(Out::Close(close::POLICY, _))));
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_the_others_keep_their_updates() {
    let f = floor().await;
    // A sink that takes one frame and then never again: a screen whose
    // network went quiet.
    let stuck = Box::pin(sink::unfold(0u32, |taken, _o: Out| async move {
        if taken >= 2 {
            std::future::pending::<()>().await;
        }
        Ok::<_, ()>(taken + 1)
    }));
    let (_keep_stuck, stuck_in, _, _) = client(f.hello(Role::Supervisor));
    let stuck_session = tokio::spawn(run(stuck_in, stuck, f.env(3 * SECOND)));
    let (_keep, incoming, outgoing, mut out) = client(f.hello(Role::Admin));
    let good_session = tokio::spawn(run(incoming, outgoing, f.env(SECOND)));
    let mut board = next_json(&mut out).await["board"].clone();
    for expected in 1..=5u64 {
        f.call_enters();
        let started = tokio::time::Instant::now();
        while waiting(&board) < expected {
            let patch = next_json(&mut out).await;
            crate::rules::figures::wire::apply_patch(&mut board, &patch["patch"]);
        }
        // Each well before the stuck one's 3 s send timeout: nobody waits for it.
        assert!(started.elapsed() < SECOND, "update {expected} took {:?}", started.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ended = tokio::time::timeout(Duration::from_secs(5), stuck_session).await;
    assert!(ended.is_ok(), "the stuck wallboard is disconnected");
    assert!(!good_session.is_finished(), "the good wallboard stays");
    f.stop.cancel();
    good_session.await.unwrap();
}

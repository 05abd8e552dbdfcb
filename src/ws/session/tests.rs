//! An agent's session over channels, against a real hub and store.

use futures_util::{sink, stream};
use jiff::SignedDuration;

use super::*;
use crate::auth::accounts::{self, NewAccount};
use crate::config::Config;
use crate::domain::{Phone, TaskKind};
use crate::rules::dispatch::Dispatcher;
use crate::rules::dispatch::TaskDraft;
use crate::testing::TestDb;

#[tokio::test]
async fn a_console_that_stops_reading_is_let_go_and_its_offer_goes_elsewhere() {
    let db = TestDb::sqlite();
    let store = db.store().await;
    let config = Config::default();
    let rules = config.rules().unwrap();
    let shutdown = CancellationToken::new();
    let writer = crate::runtime::record_writer::Writer::spawn(store.clone()).0;
    let (hub, _hub_task) =
        crate::runtime::hub::spawn(Dispatcher::new(rules.clone()), writer, None, None, None, shutdown.clone());
    let account = NewAccount {
        username: "li".into(),
        password: "agent-password".into(),
        role: Role::Agent,
        display_name: None,
        work_number: None,
        sip_uri: None,
        skills: vec!["callbacks".into()],
        levels: Default::default(),
        voice_capacity: None,
        back_office_capacity: None,
    };
    let user = accounts::create(&store, &rules, 2, account).await.unwrap();
    hub.command(Command::UpsertAgent(user.agent_profile(&rules))).await.unwrap();
    let auth = Arc::new(Auth::new(&"k".repeat(32), SignedDuration::from_mins(5), SignedDuration::from_secs(30)));
    let ticket = auth.ticket_for_tests(user.id, Role::Agent);
    let hello = Frame::Text(serde_json::json!({"type": "auth", "ticket": ticket}).to_string());
    // The console sends its ticket, takes the hello, then reads nothing more.
    let incoming = Box::pin(stream::iter([hello]).chain(stream::pending()));
    let outgoing = Box::pin(sink::unfold(0u32, |taken, _: Out| async move {
        if taken >= 1 {
            std::future::pending::<()>().await;
        }
        Ok::<_, ()>(taken + 1)
    }));
    let env = SessionEnv {
        hub: hub.clone(),
        store: store.clone(),
        auth,
        auth_timeout: Duration::from_secs(5),
        max_message_bytes: 4096,
        send_timeout: Duration::from_millis(300),
        shutdown: shutdown.clone(),
        conn: 1,
        board: watch::channel(None).1,
        messages: Rate::new(20.0, 40.0),
        status_limits: Arc::new(std::sync::Mutex::new(KeyedBuckets::new(Rate::per_minute(12), 100))),
        metrics: Arc::default(),
        shifts: (rules.calendar.clone(), jiff::SignedDuration::ZERO),
        greetings: Arc::new(Greeter::new(config.greetings.clone(), Arc::new(rules.clone()))),
        placer: None,
    };
    let session = tokio::spawn(run(incoming, outgoing, env));
    let connected = || async { hub.query(|d, _| d.agents_view()[0].connected).await.unwrap() };
    let started = tokio::time::Instant::now();
    while !connected().await {
        assert!(started.elapsed() < Duration::from_secs(5), "the console connects");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // A callback for li: its screen-pop cannot leave.
    let now = Timestamp::now();
    let plan = rules.plan(TaskKind::NewSignupCallback, now, None, None);
    let phone = Phone::parse("13800138000").unwrap();
    let row = TaskDraft::new(&rules, TaskKind::NewSignupCallback, plan, phone, None, now, None);
    store.insert_task(&row).await.unwrap();
    hub.command(Command::AddTask(row.to_new_task(&rules))).await.unwrap();

    tokio::time::timeout(Duration::from_secs(5), session).await.expect("the stuck console is let go").unwrap();
    assert!(!connected().await, "the dispatcher no longer counts on that console");
    let task = row.id;
    let status = hub.query(move |d, _| d.live_task(task).map(|t| t.status)).await.unwrap();
    assert_eq!(status, Some(crate::domain::TaskStatus::Waiting), "the offer came back to the queue at once");
    shutdown.cancel();
}

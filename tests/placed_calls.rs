//! Calls Switchboard places (RFC 3725), over real SIP: SIPp plays the
//! agent's phone and the customer behind the PBX; the dialler joins them,
//! and reports how the call went.

mod common;

use std::time::Duration;

use common::sipp::{Sipp, assert_passed};
use switchboard::rules::dialling::DialOutcome;
use switchboard::sip::call::{CallEnd, CallSettings, HungUp};
use switchboard::sip::dialler::{CallReport, Order, PlaceCall, run};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn settings(agent_port: u16, max_call_ms: i64) -> CallSettings {
    CallSettings {
        local: "127.0.0.1:0".parse().unwrap(),
        transport: "UDP",
        agent_uri: format!("sip:1001@127.0.0.1:{agent_port}"),
        customer_uri: "sip:13800138000@pbx.invalid".into(),
        caller_id_uri: "sip:4008001234@pbx.invalid".into(),
        caller_id_name: Some("客服中心".into()),
        agent_ring_ms: 5000,
        customer_ring_ms: 10_000,
        max_call_ms,
    }
}

/// The requests a SIPp trace shows received: seconds of the day, method.
fn received(trace: &str) -> Vec<(f64, String)> {
    let mut out = Vec::new();
    let mut stamp = None;
    let mut lines = trace.lines();
    while let Some(line) = lines.next() {
        if let Some(rest) = line.strip_prefix("-----") {
            let time = rest.trim_start_matches('-').trim().split(' ').nth(1).unwrap_or_default();
            let secs = time.split(':').fold(0.0, |acc, part| acc * 60.0 + part.parse::<f64>().unwrap_or(0.0));
            stamp = Some(secs);
        } else if line.starts_with("UDP message received") {
            let start = lines.by_ref().find(|l| !l.trim().is_empty()).unwrap_or_default();
            if !start.starts_with("SIP/2.0") {
                out.push((stamp.unwrap_or(0.0), start.split(' ').next().unwrap_or_default().to_owned()));
            }
        }
    }
    out
}

/// Places one call with the dialler on its own socket, the customer's leg
/// sent to `pbx`; returns every report up to the call's end.
async fn place(pbx: u16, mut call: CallSettings) -> Vec<CallReport> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    call.local = socket.local_addr().unwrap();
    let (place_tx, place_rx) = mpsc::channel(4);
    let (report_tx, mut reports) = mpsc::channel(16);
    let stop = CancellationToken::new();
    let pbx = format!("127.0.0.1:{pbx}").parse().unwrap();
    let dialler = tokio::spawn(run(socket, pbx, place_rx, report_tx, None, stop.clone()));
    place_tx.send(Order::Place(PlaceCall { id: "att1".into(), settings: call, stored_at_start: false })).await.unwrap();
    let mut seen = Vec::new();
    while let Ok(Some(r)) = tokio::time::timeout(Duration::from_secs(20), reports.recv()).await {
        let ended = matches!(r, CallReport::Ended { .. });
        seen.push(r);
        if ended {
            break;
        }
    }
    // Let the last BYEs be answered before the socket closes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    dialler.await.unwrap();
    seen
}

#[tokio::test]
async fn a_placed_call_joins_the_agents_phone_and_the_customer() {
    let Some(agent) = Sipp::start(None, "placed_agent", 1, &[]) else { return };
    let customer = Sipp::start(None, "placed_customer", 1, &[]).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The longest call allowed ends it after 1.5 s of talk.
    let reports = place(customer.port, settings(agent.port, 1500)).await;
    let steps: Vec<&str> = reports
        .iter()
        .map(|r| match r {
            CallReport::AgentRinging { .. } => "agent ringing",
            CallReport::AgentAnswered { .. } => "agent answered",
            CallReport::CustomerRinging { .. } => "customer ringing",
            CallReport::Connected { .. } => "connected",
            CallReport::Ended { .. } => "ended",
        })
        .collect();
    assert_eq!(steps, ["agent ringing", "agent answered", "customer ringing", "connected", "ended"], "{reports:?}");
    let CallReport::Ended { end: CallEnd::Attempt { outcome, ringing_ms, talk_ms, hung_up, code }, .. } = &reports[4]
    else {
        panic!("{reports:?}")
    };
    assert_eq!((*outcome, *hung_up, *code), (DialOutcome::Reached, Some(HungUp::Switchboard), Some(200)));
    assert!(ringing_ms.is_some_and(|r| (400..2000).contains(&r)), "rang about 0.5 s: {ringing_ms:?}");
    assert!(talk_ms.is_some_and(|t| (1500..2500).contains(&t)), "{talk_ms:?}");
    let agent = agent.finish().await;
    assert_passed(&agent);
    // The phone's side: offered, held silent, re-offered, joined, and hung
    // up only when the longest call ran out.
    let got = received(&agent.1);
    let methods: Vec<&str> = got.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(methods, ["INVITE", "ACK", "INVITE", "ACK", "BYE"], "{}", agent.1);
    assert!(got[4].0 - got[3].0 >= 1.4, "the BYE came {} s after the join", got[4].0 - got[3].0);
    assert_passed(&customer.finish().await);
}

#[tokio::test]
async fn a_busy_customer_is_busy_and_the_agents_phone_is_hung_up() {
    let Some(agent) = Sipp::start(None, "placed_agent_short", 1, &[]) else { return };
    let customer = Sipp::start(None, "placed_customer_busy", 1, &[]).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reports = place(customer.port, settings(agent.port, 60_000)).await;
    assert!(
        matches!(
            reports.last(),
            Some(CallReport::Ended { end: CallEnd::Attempt { outcome: DialOutcome::Busy, talk_ms: None, .. }, .. })
        ),
        "{reports:?}"
    );
    assert_passed(&agent.finish().await);
    assert_passed(&customer.finish().await);
}

#[tokio::test]
async fn a_customer_who_never_answers_is_cancelled_and_counted_no_answer() {
    let Some(agent) = Sipp::start(None, "placed_agent_short", 1, &[]) else { return };
    let customer = Sipp::start(None, "placed_customer_no_answer", 1, &[]).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut call = settings(agent.port, 60_000);
    call.customer_ring_ms = 1500;
    let reports = place(customer.port, call).await;
    let Some(CallReport::Ended { end: CallEnd::Attempt { outcome, ringing_ms, talk_ms, .. }, .. }) = reports.last()
    else {
        panic!("{reports:?}")
    };
    assert_eq!((*outcome, *talk_ms), (DialOutcome::NoAnswer, None));
    assert!(ringing_ms.is_some_and(|r| (1000..3000).contains(&r)), "{ringing_ms:?}");
    assert_passed(&agent.finish().await);
    assert_passed(&customer.finish().await);
}

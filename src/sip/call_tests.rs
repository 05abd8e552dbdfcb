//! A placed call on a virtual clock: each answer of the two phones, and
//! what Switchboard sends and concludes.

use super::*;
use crate::sip::message::{Message, Method};
use crate::sip::parse::{Transport, parse};

fn settings() -> CallSettings {
    CallSettings {
        local: "10.0.0.2:5060".parse().unwrap(),
        transport: "UDP",
        agent_uri: "sip:1001@10.0.0.5:5062".into(),
        customer_uri: "sip:13800138000@10.0.0.1".into(),
        caller_id_uri: "sip:4008001234@10.0.0.1".into(),
        caller_id_name: Some("客服中心".into()),
        agent_ring_ms: 20_000,
        customer_ring_ms: 30_000,
        max_call_ms: 300_000,
    }
}

const PHONE_SDP: &str =
    "v=0\r\no=1001 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\nm=audio 40000 RTP/AVP 8 101\r\n";
const CUSTOMER_SDP: &str =
    "v=0\r\no=gw 9 9 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 50000 RTP/AVP 8\r\n";

/// The response a phone gives to `req`.
fn answer(req: &Request, code: u16, tag: &str, sdp: &str) -> Response {
    let to = req.headers.get("To").unwrap();
    let to = if to.contains("tag=") { to.to_owned() } else { format!("{to};tag={tag}") };
    let text = format!(
        "SIP/2.0 {code} X\r\nVia: {}\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <sip:{tag}@10.0.0.9>\r\n{}Content-Length: {}\r\n\r\n{sdp}",
        req.headers.get("Via").unwrap(),
        req.headers.get("From").unwrap(),
        req.headers.get("Call-ID").unwrap(),
        req.headers.get("CSeq").unwrap(),
        if sdp.is_empty() { "" } else { "Content-Type: application/sdp\r\n" },
        sdp.len()
    );
    match parse(text.as_bytes(), Transport::Datagram, 65536).unwrap().0 {
        Message::Response(r) => r,
        Message::Request(_) => unreachable!(),
    }
}

/// The requests among `actions`, as (leg, method, in a transaction).
fn sent(actions: &[Action]) -> Vec<(Leg, Method, bool)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { leg, request, transaction } => Some((*leg, request.method.clone(), *transaction)),
            _ => None,
        })
        .collect()
}

fn request_to(actions: &[Action], leg: Leg, method: Method) -> Request {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Send { leg: l, request, .. } if *l == leg && request.method == method => Some(request.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {method} to {leg:?} in {actions:?}"))
}

/// A call up to the customer's INVITE: the agent's phone answered at 2 s.
fn agent_answers() -> (Call, Request, Request) {
    let (mut call, actions) = Call::start(settings(), "t1", 0);
    let invite_agent = request_to(&actions, Leg::Agent, Method::Invite);
    assert!(invite_agent.body.is_empty(), "the agent's phone offers first");
    assert_eq!(call.on_response(500, Leg::Agent, &answer(&invite_agent, 180, "ph", "")), [Action::AgentRinging]);
    let actions = call.on_response(2000, Leg::Agent, &answer(&invite_agent, 200, "ph", PHONE_SDP));
    assert_eq!(sent(&actions), [(Leg::Agent, Method::Ack, false), (Leg::Customer, Method::Invite, true)]);
    assert!(actions.contains(&Action::AgentAnswered));
    let hold = String::from_utf8(request_to(&actions, Leg::Agent, Method::Ack).body).unwrap();
    assert!(hold.contains("c=IN IP4 0.0.0.0") && hold.contains("a=inactive"), "held silent: {hold}");
    let invite_customer = request_to(&actions, Leg::Customer, Method::Invite);
    let offer = String::from_utf8(invite_customer.body.clone()).unwrap();
    assert!(
        offer.contains("c=IN IP4 10.0.0.5") && offer.contains("o=switchboard"),
        "the phone's media, our origin: {offer}"
    );
    assert_eq!(invite_customer.uri, "sip:13800138000@10.0.0.1");
    (call, invite_agent, invite_customer)
}

#[test]
fn a_call_is_joined_talked_and_hung_up_by_the_customer() {
    let (mut call, _, invite_customer) = agent_answers();
    assert_eq!(
        call.on_response(3000, Leg::Customer, &answer(&invite_customer, 180, "cu", "")),
        [Action::CustomerRinging]
    );
    let actions = call.on_response(7000, Leg::Customer, &answer(&invite_customer, 200, "cu", CUSTOMER_SDP));
    let reinvite = request_to(&actions, Leg::Agent, Method::Invite);
    assert_eq!(reinvite.headers.get("CSeq"), Some("2 INVITE"));
    assert!(String::from_utf8(reinvite.body.clone()).unwrap().contains("c=IN IP4 10.0.0.1"), "the customer's media");
    let actions = call.on_response(7050, Leg::Agent, &answer(&reinvite, 200, "ph", PHONE_SDP));
    assert_eq!(sent(&actions), [(Leg::Agent, Method::Ack, false), (Leg::Customer, Method::Ack, false)]);
    assert!(actions.contains(&Action::Connected));
    let ack_customer = request_to(&actions, Leg::Customer, Method::Ack);
    assert!(String::from_utf8(ack_customer.body).unwrap().contains("c=IN IP4 10.0.0.5"), "the phone's answer");
    assert_eq!(call.deadline(), Some(7000 + 300_000), "the longest call");

    // The customer hangs up after a minute.
    let bye = Request {
        method: Method::Bye,
        uri: "sip:switchboard@10.0.0.2:5060".into(),
        headers: {
            let mut h = crate::sip::message::Headers::default();
            h.push("Call-ID".into(), invite_customer.headers.get("Call-ID").unwrap().into());
            h.push("From".into(), "<sip:13800138000@10.0.0.1>;tag=cu".into());
            h.push("To".into(), invite_customer.headers.get("From").unwrap().into());
            h
        },
        body: vec![],
    };
    let actions = call.on_request(67_000, &bye).unwrap();
    assert_eq!(sent(&actions), [(Leg::Agent, Method::Bye, true)]);
    assert!(matches!(actions[0], Action::Answer { code: 200, .. }));
    assert_eq!(
        actions.last(),
        Some(&Action::Ended(CallEnd::Attempt {
            outcome: DialOutcome::Reached,
            code: Some(200),
            ringing_ms: Some(4000),
            talk_ms: Some(60_000),
            hung_up: Some(HungUp::Customer),
        }))
    );
    assert!(call.is_over());
}

#[test]
fn a_busy_customer_ends_the_agents_leg_with_busy() {
    let (mut call, _, invite_customer) = agent_answers();
    let actions = call.on_response(4000, Leg::Customer, &answer(&invite_customer, 486, "cu", ""));
    assert_eq!(sent(&actions), [(Leg::Agent, Method::Bye, true)]);
    assert!(matches!(actions.last(), Some(Action::Ended(CallEnd::Attempt { outcome: DialOutcome::Busy, .. }))));
}

#[test]
fn a_customer_who_never_answers_is_cancelled_at_the_ring_time() {
    let (mut call, _, invite_customer) = agent_answers();
    call.on_response(2500, Leg::Customer, &answer(&invite_customer, 180, "cu", ""));
    assert!(call.on_tick(31_999).is_empty());
    let actions = call.on_tick(32_000);
    assert_eq!(sent(&actions), [(Leg::Customer, Method::Cancel, true)]);
    let actions = call.on_response(32_010, Leg::Customer, &answer(&invite_customer, 487, "cu", ""));
    assert_eq!(sent(&actions), [(Leg::Agent, Method::Bye, true)]);
    assert!(matches!(
        actions.last(),
        Some(Action::Ended(CallEnd::Attempt { outcome: DialOutcome::NoAnswer, ringing_ms: Some(29_510), .. }))
    ));
}

#[test]
fn the_agents_phone_not_answering_is_no_attempt() {
    let (mut call, _) = Call::start(settings(), "t2", 0);
    assert!(call.on_tick(19_999).is_empty());
    let actions = call.on_tick(20_000);
    assert_eq!(sent(&actions), [(Leg::Agent, Method::Cancel, true)]);
    assert_eq!(actions.last(), Some(&Action::Ended(CallEnd::AgentUnreachable { code: None })));
    let (mut call, actions) = Call::start(settings(), "t3", 0);
    let invite = request_to(&actions, Leg::Agent, Method::Invite);
    let actions = call.on_response(100, Leg::Agent, &answer(&invite, 486, "ph", ""));
    assert_eq!(actions, [Action::Ended(CallEnd::AgentUnreachable { code: Some(486) })]);
}

#[test]
fn a_call_past_the_longest_allowed_is_ended_on_both_legs() {
    let (mut call, _, invite_customer) = agent_answers();
    let actions = call.on_response(5000, Leg::Customer, &answer(&invite_customer, 200, "cu", CUSTOMER_SDP));
    let reinvite = request_to(&actions, Leg::Agent, Method::Invite);
    call.on_response(5010, Leg::Agent, &answer(&reinvite, 200, "ph", PHONE_SDP));
    let actions = call.on_tick(305_000);
    assert_eq!(sent(&actions), [(Leg::Agent, Method::Bye, true), (Leg::Customer, Method::Bye, true)]);
    assert!(matches!(
        actions.last(),
        Some(Action::Ended(CallEnd::Attempt { hung_up: Some(HungUp::Switchboard), talk_ms: Some(300_000), .. }))
    ));
}

#[test]
fn a_2xx_again_is_acked_again_and_one_after_the_end_is_hung_up() {
    let (mut call, invite_agent, invite_customer) = agent_answers();
    // The phone's 2xx again (our ACK was lost): the same ACK, nothing else.
    let actions = call.on_response(2600, Leg::Agent, &answer(&invite_agent, 200, "ph", PHONE_SDP));
    assert_eq!(sent(&actions), [(Leg::Agent, Method::Ack, false)]);
    assert!(String::from_utf8(request_to(&actions, Leg::Agent, Method::Ack).body).unwrap().contains("a=inactive"));
    // The customer is busy: the call ends; then a 2xx of a forked branch
    // comes: ACKed and hung up at once.
    call.on_response(3000, Leg::Customer, &answer(&invite_customer, 486, "cu", ""));
    assert!(call.is_over());
    let actions = call.on_response(3100, Leg::Customer, &answer(&invite_customer, 200, "fork", CUSTOMER_SDP));
    assert_eq!(sent(&actions), [(Leg::Customer, Method::Ack, false), (Leg::Customer, Method::Bye, true)]);
    assert!(!actions.iter().any(|a| matches!(a, Action::Ended(_))), "ended once");
}

#[test]
fn what_a_call_stores_at_its_start_is_known_before_it_starts() {
    // The caller records it with the call; the first INVITE then waits
    // for no journal write. Equal, or the dialler would write it again.
    let (call, actions) = Call::start(settings(), "c1", 1000);
    assert_eq!(Call::stored_at_start(&settings(), "c1"), call.stored());
    let Some(crate::sip::stored::StoredLeg::Ringing { invite }) = call.stored().agent else { panic!() };
    assert_eq!(invite.as_bytes(), request_to(&actions, Leg::Agent, Method::Invite).to_bytes());
}

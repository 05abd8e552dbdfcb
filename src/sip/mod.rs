//! SIP: the only module that knows SIP bytes. The PBX connector answers
//! the hotline as a queueing redirect server (see [`connector`]); the
//! client transactions (`client`), the client's dialogs (`dialog`), the SDP
//! a controller needs (`sdp`) and a placed call's state machine (`call`)
//! and their shell on a UDP socket (`dialler`) place calls; what a call
//! must leave behind to be ended after a crash is in `stored`; `placer`
//! drives the dialler for agents' tasks, as `connector` drives the
//! redirect server for the dispatcher.

pub mod call;
pub mod check;
pub mod client;
pub mod connector;
pub mod dialler;
pub mod dialog;
pub mod message;
pub mod parse;
pub mod placer;
pub mod respond;
pub mod sdp;
pub mod settings;
pub mod stored;
#[cfg(test)]
mod tests;
pub mod transaction;
pub mod transport;
pub mod uri;

/// What the fuzz targets and the corpus replay test run on arbitrary bytes:
/// parse them as a datagram and as a stream, check any request, build the
/// response the connector would send, and parse that back; a response
/// goes through what the client side reads of it (`exercise_client`). Panics only if
/// an invariant breaks: the server's own output must always parse.
#[doc(hidden)]
pub fn exercise(data: &[u8]) {
    use message::Message;
    use parse::{Transport, parse};
    let source = std::net::SocketAddr::from(([127, 0, 0, 1], 5060));
    for transport in [Transport::Datagram, Transport::Stream] {
        let parsed = parse(data, transport, 65536);
        if let Ok((Message::Response(resp), _)) = &parsed {
            exercise_client(resp);
        }
        let Ok((Message::Request(req), used)) = parsed else {
            let _ = parse::salvage(data);
            continue;
        };
        assert!(used <= data.len(), "the parser consumed more than it was given");
        let code = match check::check_request(&req) {
            Ok(()) => 200,
            Err(r) => r.code,
        };
        let response = respond::response(&req, code, "Reason", source, "seed").to_bytes();
        match parse(&response, Transport::Stream, 1 << 20) {
            Ok((Message::Response(r), n)) => {
                assert!(r.code == code && n == response.len(), "response did not round-trip")
            }
            other => panic!("the server's own response does not parse: {other:?}"),
        }
    }
}

/// What the client side does with a response it did not expect: match it
/// to a transaction, and, as the answer to an INVITE of ours, make a
/// dialog and the requests inside it, which must parse again.
fn exercise_client(resp: &message::Response) {
    use message::Message;
    use parse::{Transport, parse};
    let _ = client::ClientKey::of(resp);
    let local = std::net::SocketAddr::from(([127, 0, 0, 1], 5060));
    let invite = dialog::invite(&dialog::NewLeg {
        request_uri: "sip:1001@127.0.0.1",
        to_uri: "sip:1001@127.0.0.1",
        from_uri: "sip:centre@127.0.0.1",
        from_display: None,
        call_id: "fuzz",
        local_tag: "f",
        branch: "z9hG4bKfuzz",
        local,
        transport: "UDP",
        sdp: None,
    });
    let _ = dialog::ack_of_failure(&invite, resp);
    let _ = sdp::black_hole(&resp.body, &sdp::Origin { session_id: 1, address: "127.0.0.1".into() }, 1);
    // A dialog from an answer, from a stray answer (after a restart), and
    // stored and read back (a crash): what it sends must be sendable.
    let dialogs = [
        dialog::Dialog::from_success(&invite, resp, local, "UDP").ok(),
        dialog::Dialog::from_stray_success(resp, local),
    ];
    for mut d in dialogs.into_iter().flatten() {
        let stored = stored::StoredCall { agent: Some(stored::StoredLeg::Up { dialog: d.clone() }), customer: None };
        let back = stored::StoredCall::from_text(&stored.to_text()).expect("a stored dialog reads back");
        assert_eq!(back, stored, "a stored dialog changed on its way through the store");
        let ending = back.ending_requests("fuzz").expect("a stored dialog ends");
        for req in [d.ack("z9hG4bKa", None), d.bye("z9hG4bKb")].into_iter().chain(ending.into_iter().map(|(_, r)| r)) {
            let bytes = req.to_bytes();
            // A far end's Contact or Record-Route may be anything: what we
            // send must still be one message, or nothing we could parse.
            if let Ok((Message::Request(back), n)) = parse(&bytes, Transport::Stream, 1 << 20) {
                assert!(n == bytes.len() && back.method == req.method, "a request of ours did not round-trip");
            }
        }
    }
}

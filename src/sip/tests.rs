//! Every RFC 4475 torture message, handled as the RFC says.

use std::path::Path;

use super::check::check_request;
use super::message::Message;
use super::parse::{Transport, parse};

/// What the server must do with a message.
#[derive(Debug, PartialEq, Eq)]
enum Handling {
    /// A well-formed request: served normally.
    Serve,
    /// A request refused with this status code.
    Refuse(u16),
    /// A response, or garbage: nothing is sent back.
    Drop,
}

fn handle(bytes: &[u8]) -> Handling {
    match parse(bytes, Transport::Datagram, 65536) {
        Ok((Message::Request(req), _)) => match check_request(&req) {
            Ok(()) => Handling::Serve,
            Err(r) => Handling::Refuse(r.code),
        },
        Ok((Message::Response(_), _)) => Handling::Drop,
        Err(e) if bytes.starts_with(b"SIP/") => {
            let _ = e;
            Handling::Drop
        }
        Err(e) => Handling::Refuse(super::check::Rejection::from(e).code),
    }
}

/// (file, RFC 4475 section, expected handling).
const CASES: &[(&str, &str, Handling)] = &[
    ("wsinv", "3.1.1.1", Handling::Serve),
    ("intmeth", "3.1.1.2", Handling::Serve),
    ("esc01", "3.1.1.3", Handling::Serve),
    ("escnull", "3.1.1.4", Handling::Serve),
    ("esc02", "3.1.1.5", Handling::Serve),
    ("lwsdisp", "3.1.1.6", Handling::Serve),
    ("longreq", "3.1.1.7", Handling::Serve),
    ("dblreq", "3.1.1.8", Handling::Serve),
    ("semiuri", "3.1.1.9", Handling::Serve),
    ("transports", "3.1.1.10", Handling::Serve),
    ("mpart01", "3.1.1.11", Handling::Serve),
    ("unreason", "3.1.1.12", Handling::Drop),
    ("noreason", "3.1.1.13", Handling::Drop),
    ("badinv01", "3.1.2.1", Handling::Refuse(400)),
    ("clerr", "3.1.2.2", Handling::Refuse(400)),
    ("ncl", "3.1.2.3", Handling::Refuse(400)),
    ("scalar02", "3.1.2.4", Handling::Refuse(400)),
    ("scalarlg", "3.1.2.5", Handling::Drop),
    ("quotbal", "3.1.2.6", Handling::Refuse(400)),
    ("ltgtruri", "3.1.2.7", Handling::Refuse(400)),
    ("lwsruri", "3.1.2.8", Handling::Refuse(400)),
    ("lwsstart", "3.1.2.9", Handling::Refuse(400)),
    ("trws", "3.1.2.10", Handling::Refuse(400)),
    // Headers are not allowed in a Request-URI (RFC 3261 19.1.1).
    ("escruri", "3.1.2.11", Handling::Refuse(400)),
    // A bad Date is ignored; the request is otherwise fine.
    ("baddate", "3.1.2.12", Handling::Serve),
    // Parameters after an unbracketed URI belong to the header: valid.
    ("regbadct", "3.1.2.13", Handling::Serve),
    // Spaces inside < >: the RFC allows a liberal parser to accept them.
    ("badaspec", "3.1.2.14", Handling::Serve),
    ("baddn", "3.1.2.15", Handling::Serve),
    ("badvers", "3.1.2.16", Handling::Refuse(505)),
    ("mismatch01", "3.1.2.17", Handling::Refuse(400)),
    ("mismatch02", "3.1.2.18", Handling::Refuse(400)),
    ("bigcode", "3.1.2.19", Handling::Drop),
    // No magic cookie: an RFC 2543 branch, still a valid request.
    ("badbranch", "3.2.1", Handling::Serve),
    ("insuf", "3.3.1", Handling::Refuse(400)),
    ("unkscm", "3.3.2", Handling::Refuse(416)),
    ("novelsc", "3.3.3", Handling::Refuse(416)),
    ("unksm2", "3.3.4", Handling::Serve),
    ("bext01", "3.3.5", Handling::Refuse(420)),
    // Unknown body type: a redirect server does not read the body.
    ("invut", "3.3.6", Handling::Serve),
    ("regaut01", "3.3.7", Handling::Serve),
    ("multi01", "3.3.8", Handling::Refuse(400)),
    ("mcl01", "3.3.9", Handling::Refuse(400)),
    ("bcast", "3.3.10", Handling::Drop),
    // Max-Forwards 0 only stops proxies; a redirect server answers.
    ("zeromf", "3.3.11", Handling::Serve),
    ("cparam01", "3.3.12", Handling::Serve),
    ("cparam02", "3.3.13", Handling::Serve),
    ("regescrt", "3.3.14", Handling::Serve),
    ("sdp01", "3.3.15", Handling::Serve),
    // RFC 2543 syntax: RFC 4475 3.4.1 asks 3261 elements to accept it for
    // backward compatibility (no branch, no From tag, no Content-Length).
    ("inv2543", "3.4.1", Handling::Serve),
];

#[test]
fn every_torture_message_is_handled_as_rfc_4475_says() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sip/torture");
    let mut wrong = Vec::new();
    for (file, section, expected) in CASES {
        let bytes = std::fs::read(dir.join(format!("{file}.dat"))).unwrap();
        let got = handle(&bytes);
        if got != *expected {
            wrong.push(format!("{section} {file}: expected {expected:?}, got {got:?}"));
        }
    }
    let files = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "dat"))
        .count();
    assert_eq!(files, CASES.len(), "every torture file has an expected handling");
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn trailing_octets_in_a_datagram_are_ignored() {
    let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("sip/torture/dblreq.dat")).unwrap();
    let (Message::Request(req), used) = parse(&bytes, Transport::Datagram, 65536).unwrap() else { panic!() };
    assert_eq!(req.method.as_str(), "REGISTER");
    assert!(used < bytes.len());
}

#[test]
fn truncated_messages_never_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sip/torture");
    for (file, _, _) in CASES {
        let bytes = std::fs::read(dir.join(format!("{file}.dat"))).unwrap();
        for cut in 0..bytes.len() {
            for transport in [Transport::Datagram, Transport::Stream] {
                if let Ok((Message::Request(req), _)) = parse(&bytes[..cut], transport, 65536) {
                    let _ = check_request(&req);
                }
            }
        }
    }
}

mod properties {
    use proptest::prelude::*;

    use super::super::message::{Headers, Response};
    use super::*;

    proptest! {
        /// Random bytes, and torture messages with random bytes spliced in,
        /// give a message or an error, never a panic.
        #[test]
        fn parsing_never_panics(noise in proptest::collection::vec(any::<u8>(), 0..600), at in 0usize..2000, which in 0usize..49) {
            let _ = handle(&noise);
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sip/torture");
            let mut bytes = std::fs::read(dir.join(format!("{}.dat", CASES[which].0))).unwrap();
            let at = at.min(bytes.len());
            bytes.splice(at..at, noise);
            let _ = handle(&bytes);
            let _ = parse(&bytes, Transport::Stream, 65536);
        }

        /// What the server writes, it can read back.
        #[test]
        fn responses_round_trip(code in 100u16..700, reason in "[A-Za-z ]{0,20}", value in "[ -~]{0,40}", body in proptest::collection::vec(any::<u8>(), 0..100)) {
            let mut headers = Headers::default();
            headers.push("Via".into(), "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1".into());
            headers.push("Subject".into(), value.trim().to_owned());
            let response = Response { code, reason: reason.clone(), headers, body };
            let bytes = response.to_bytes();
            let (Message::Response(back), used) = parse(&bytes, Transport::Stream, 65536).unwrap() else { panic!() };
            prop_assert_eq!(used, bytes.len());
            prop_assert_eq!(back.code, code);
            prop_assert_eq!(back.headers.get("Subject"), Some(value.trim()));
            prop_assert_eq!(back.body, response.body);
        }
    }
}

#[test]
fn the_fuzz_seed_corpus_replays_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        super::exercise(&bytes);
        count += 1;
    }
    assert!(count >= 49, "the seed corpus holds at least the torture messages");
}

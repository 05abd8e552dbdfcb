//! SIP: the only module that knows SIP bytes. The PBX connector answers
//! the hotline as a queueing redirect server (see [`connector`]).

pub mod check;
pub mod connector;
pub mod message;
pub mod parse;
pub mod respond;
pub mod settings;
#[cfg(test)]
mod tests;
pub mod transaction;
pub mod transport;
pub mod uri;

/// What the fuzz targets and the corpus replay test run on arbitrary bytes:
/// parse them as a datagram and as a stream, check any request, build the
/// response the connector would send, and parse that back. Panics only if
/// an invariant breaks: the server's own output must always parse.
#[doc(hidden)]
pub fn exercise(data: &[u8]) {
    use message::Message;
    use parse::{Transport, parse};
    let source = std::net::SocketAddr::from(([127, 0, 0, 1], 5060));
    for transport in [Transport::Datagram, Transport::Stream] {
        let Ok((Message::Request(req), used)) = parse(data, transport, 65536) else {
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

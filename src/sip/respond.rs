//! Building responses to a request (RFC 3261 8.2.6): Via, From, To, Call-ID
//! and CSeq copied, the top Via marked with where the request really came
//! from, and a To tag on everything but 100.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;

use super::message::{Headers, Request, Response};

/// Methods the connector serves, for `Allow`.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, OPTIONS";

/// A response to `req`. `tag_seed` makes the To tag stable across the
/// responses of one transaction (182 and then 302 carry the same tag).
pub fn response(req: &Request, code: u16, reason: &str, source: SocketAddr, tag_seed: &str) -> Response {
    let mut headers = Headers::default();
    for (i, via) in req.headers.all("Via").enumerate() {
        headers.push("Via".into(), if i == 0 { mark_received(via, source) } else { via.to_owned() });
    }
    for name in ["From", "Call-ID", "CSeq"] {
        if let Some(v) = req.headers.get(name) {
            headers.push(name.into(), v.to_owned());
        }
    }
    let to = req.headers.get("To").unwrap_or_default();
    let has_tag = to.split(';').skip(1).any(|p| p.trim().to_ascii_lowercase().starts_with("tag="));
    let to = if code > 100 && !has_tag { format!("{to};tag={}", tag(tag_seed)) } else { to.to_owned() };
    headers.push("To".into(), to);
    Response { code, reason: reason.to_owned(), headers, body: Vec::new() }
}

/// The most a refusal to an untrusted source may weigh, in bytes.
pub const SHORT_RESPONSE_MAX: usize = 512;

/// A response that carries only what a client needs to match it (the top
/// Via, From, To, Call-ID, CSeq), or nothing when even that would exceed
/// [`SHORT_RESPONSE_MAX`]: an answer to an unwelcome source is never larger
/// than a few hundred bytes, however much it sent.
pub fn short_response(req: &Request, code: u16, reason: &str, source: SocketAddr) -> Option<Response> {
    let mut headers = Headers::default();
    headers.push("Via".into(), mark_received(req.headers.get("Via")?, source));
    for name in ["From", "Call-ID", "CSeq"] {
        headers.push(name.into(), req.headers.get(name)?.to_owned());
    }
    headers.push("To".into(), req.headers.get("To")?.to_owned());
    let resp = Response { code, reason: reason.to_owned(), headers, body: Vec::new() };
    (resp.to_bytes().len() <= SHORT_RESPONSE_MAX).then_some(resp)
}

/// Adds `received` when the sent-by host is not the source address, and
/// fills an empty `rport` (RFC 3581), so responses can be routed back.
fn mark_received(via: &str, source: SocketAddr) -> String {
    let mut parts: Vec<String> = via.split(';').map(|p| p.trim().to_owned()).collect();
    let sent_by = parts[0].split_whitespace().last().unwrap_or_default().to_owned();
    let host = if let Some(v6) = sent_by.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default().to_owned()
    } else {
        sent_by.split(':').next().unwrap_or_default().to_owned()
    };
    let mut add_received = host.parse::<std::net::IpAddr>().ok() != Some(source.ip());
    for p in parts.iter_mut().skip(1) {
        if p.eq_ignore_ascii_case("rport") {
            *p = format!("rport={}", source.port());
            add_received = true;
        }
    }
    if add_received && !parts.iter().skip(1).any(|p| p.to_ascii_lowercase().starts_with("received=")) {
        parts.push(format!("received={}", source.ip()));
    }
    parts.join(";")
}

fn tag(seed: &str) -> String {
    let mut h = DefaultHasher::new();
    seed.hash(&mut h);
    format!("sb{:012x}", h.finish() & 0xffff_ffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::Message;
    use crate::sip::parse::{Transport, parse};

    fn invite() -> Request {
        let text = "INVITE sip:4000@pbx SIP/2.0\r\nVia: SIP/2.0/UDP pbx.example:5060;branch=z9hG4bK1;rport\r\n\
                    Via: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK0\r\nFrom: <sip:1001@pbx>;tag=a\r\nTo: <sip:4000@pbx>\r\n\
                    Call-ID: c1\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n";
        match parse(text.as_bytes(), Transport::Datagram, 65536).unwrap().0 {
            Message::Request(r) => r,
            Message::Response(_) => unreachable!(),
        }
    }

    #[test]
    fn responses_copy_the_dialog_headers_and_mark_the_source() {
        let source: SocketAddr = "192.0.2.7:5099".parse().unwrap();
        let r = response(&invite(), 182, "Queued", source, "k");
        let vias: Vec<&str> = r.headers.all("Via").collect();
        assert_eq!(vias[0], "SIP/2.0/UDP pbx.example:5060;branch=z9hG4bK1;rport=5099;received=192.0.2.7");
        assert_eq!(vias[1], "SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK0");
        assert_eq!(r.headers.get("CSeq"), Some("7 INVITE"));
        let to = r.headers.get("To").unwrap();
        assert!(to.starts_with("<sip:4000@pbx>;tag=sb"));
        let again = response(&invite(), 302, "Moved Temporarily", source, "k");
        assert_eq!(again.headers.get("To"), Some(to), "one tag per transaction");
        let trying = response(&invite(), 100, "Trying", source, "k");
        assert_eq!(trying.headers.get("To"), Some("<sip:4000@pbx>"));
    }

    #[test]
    fn a_short_response_carries_one_via_and_never_much() {
        let source: SocketAddr = "192.0.2.7:5099".parse().unwrap();
        let r = short_response(&invite(), 403, "Forbidden", source).unwrap();
        assert_eq!(r.headers.all("Via").count(), 1, "only the top Via");
        assert_eq!(r.headers.get("Call-ID"), Some("c1"));
        assert!(r.to_bytes().len() <= SHORT_RESPONSE_MAX);
        let padded = format!(
            "OPTIONS sip:4000@pbx SIP/2.0\r\nVia: SIP/2.0/UDP pbx;branch=z9hG4bK{}\r\nFrom: <sip:a@b>;tag=1\r\n\
             To: <sip:4000@pbx>\r\nCall-ID: c2\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
            "x".repeat(2000)
        );
        let Message::Request(big) = parse(padded.as_bytes(), Transport::Datagram, 65536).unwrap().0 else {
            unreachable!()
        };
        assert!(short_response(&big, 403, "Forbidden", source).is_none(), "too big to answer at all");
    }
}

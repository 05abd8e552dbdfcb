//! The little SDP (RFC 4566, RFC 3264) a call controller needs to join two
//! phones without carrying their media (RFC 3725): a "black hole" answer
//! that holds a leg silent until the other side is known, and a far end's
//! description passed on as our own offer, under our origin line with a
//! version that rises with each change (RFC 3264 8: the origin stays, the
//! version goes up by one).

/// Our `o=` line's fixed parts for one leg.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub session_id: u64,
    /// Our address, as the `o=` line's unicast address.
    pub address: String,
}

fn lines(sdp: &[u8]) -> impl Iterator<Item = &str> {
    std::str::from_utf8(sdp).unwrap_or_default().split('\n').map(|l| l.trim_end_matches('\r')).filter(|l| !l.is_empty())
}

fn join(lines: Vec<String>) -> Vec<u8> {
    let mut out = lines.join("\r\n");
    out.push_str("\r\n");
    out.into_bytes()
}

fn origin_line(o: &Origin, version: u64) -> String {
    format!("o=switchboard {} {version} IN IP4 {}", o.session_id, o.address)
}

/// Whether a body is a session description at all (`v=0` first).
pub fn is_sdp(body: &[u8]) -> bool {
    lines(body).next() == Some("v=0")
}

/// An answer to `offer` that accepts each of its media streams with its
/// first format but sends and receives nothing (connection 0.0.0.0 and
/// `a=inactive`): the first leg waits on it, silent, while the second is
/// called.
pub fn black_hole(offer: &[u8], origin: &Origin, version: u64) -> Vec<u8> {
    let mut out = vec!["v=0".to_owned(), origin_line(origin, version), "s=-".to_owned(), "c=IN IP4 0.0.0.0".to_owned()];
    out.push("t=0 0".to_owned());
    for line in lines(offer).filter(|l| l.starts_with("m=")) {
        let mut parts = line.split_whitespace();
        let (media, port, proto) = (parts.next().unwrap_or("m=audio"), parts.next().unwrap_or("9"), parts.next());
        let first = parts.next();
        match (proto, first) {
            (Some(proto), Some(fmt)) => {
                out.push(format!("{media} {port} {proto} {fmt}"));
                out.push("a=inactive".to_owned());
            }
            // A stream we cannot read is refused (port 0).
            _ => out.push(format!("{media} 0 RTP/AVP 0")),
        }
    }
    join(out)
}

/// `sdp` (a far end's) as our own description: its `o=` line replaced by
/// ours at `version`; everything else as it came.
pub fn as_ours(sdp: &[u8], origin: &Origin, version: u64) -> Vec<u8> {
    join(lines(sdp).map(|l| if l.starts_with("o=") { origin_line(origin, version) } else { l.to_owned() }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHONE: &[u8] = b"v=0\r\no=1001 3344 3344 IN IP4 10.0.0.5\r\ns=call\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n\
m=audio 40000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

    fn origin() -> Origin {
        Origin { session_id: 77, address: "10.0.0.2".into() }
    }

    #[test]
    fn the_black_hole_answer_keeps_the_streams_and_sends_nothing() {
        let bh = String::from_utf8(black_hole(PHONE, &origin(), 1)).unwrap();
        assert_eq!(
            bh,
            "v=0\r\no=switchboard 77 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
m=audio 40000 RTP/AVP 8\r\na=inactive\r\n"
        );
        assert!(is_sdp(bh.as_bytes()));
        assert!(!is_sdp(b"hello"));
    }

    #[test]
    fn a_far_ends_description_goes_on_under_our_origin() {
        let ours = String::from_utf8(as_ours(PHONE, &origin(), 2)).unwrap();
        assert!(
            ours.starts_with("v=0\r\no=switchboard 77 2 IN IP4 10.0.0.2\r\ns=call\r\nc=IN IP4 10.0.0.5\r\n"),
            "{ours}"
        );
        assert!(ours.contains("m=audio 40000 RTP/AVP 8 0 101\r\n"));
        assert_eq!(ours.matches("o=").count(), 1);
    }
}

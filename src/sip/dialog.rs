//! The user-agent client side of a call Switchboard places (RFC 3261 8.1,
//! 12): the INVITE that starts a leg, its CANCEL and the ACK of a failure
//! (hop by hop, in the INVITE's transaction), and, once a 2xx makes a
//! dialog, the requests inside it: the ACK of the 2xx, a re-INVITE, a BYE,
//! each sent to the route set and remote target the 2xx gave. Pure: the
//! caller gives the identifiers (Call-ID, tags, branches), so tests and
//! replays are deterministic.

use std::net::SocketAddr;

use super::message::{Headers, Method, Request, Response};

/// The fields of a new leg.
#[derive(Clone, Debug)]
pub struct NewLeg<'a> {
    /// Where the INVITE is addressed (`sip:1001@10.0.0.5`, or the PBX's
    /// template filled with the customer's number).
    pub request_uri: &'a str,
    /// Who the leg is to (usually the Request-URI).
    pub to_uri: &'a str,
    /// The centre, as the leg's far end sees the caller.
    pub from_uri: &'a str,
    pub from_display: Option<&'a str>,
    pub call_id: &'a str,
    pub local_tag: &'a str,
    pub branch: &'a str,
    /// Our address: the Via's sent-by and the Contact.
    pub local: SocketAddr,
    /// `UDP` or `TCP`.
    pub transport: &'a str,
    /// An SDP offer, or none (the far end offers in its 2xx).
    pub sdp: Option<&'a [u8]>,
}

fn via(transport: &str, local: SocketAddr, branch: &str) -> String {
    format!("SIP/2.0/{transport} {local};branch={branch};rport")
}

fn with_body(headers: &mut Headers, sdp: Option<&[u8]>) -> Vec<u8> {
    match sdp {
        Some(body) => {
            headers.push("Content-Type".into(), "application/sdp".into());
            body.to_vec()
        }
        None => Vec::new(),
    }
}

/// The INVITE that starts a leg.
pub fn invite(leg: &NewLeg) -> Request {
    let mut h = Headers::default();
    h.push("Via".into(), via(leg.transport, leg.local, leg.branch));
    h.push("Max-Forwards".into(), "70".into());
    let from = match leg.from_display {
        Some(name) => format!("\"{}\" <{}>;tag={}", name.replace(['"', '\\'], ""), leg.from_uri, leg.local_tag),
        None => format!("<{}>;tag={}", leg.from_uri, leg.local_tag),
    };
    h.push("From".into(), from);
    h.push("To".into(), format!("<{}>", leg.to_uri));
    h.push("Call-ID".into(), leg.call_id.to_owned());
    h.push("CSeq".into(), "1 INVITE".into());
    h.push("Contact".into(), format!("<sip:switchboard@{}>", leg.local));
    h.push("Allow".into(), "INVITE, ACK, CANCEL, BYE, OPTIONS".into());
    let body = with_body(&mut h, leg.sdp);
    Request { method: Method::Invite, uri: leg.request_uri.to_owned(), headers: h, body }
}

/// The CANCEL of an INVITE still ringing (RFC 3261 9.1): same Request-URI,
/// top Via, Call-ID, From, To and CSeq number.
pub fn cancel(invite: &Request) -> Request {
    let mut h = Headers::default();
    for name in ["Via", "From", "To", "Call-ID"] {
        if let Some(v) = invite.headers.get(name) {
            let v = if name == "Via" { v.split(',').next().unwrap_or(v).trim() } else { v };
            h.push(name.into(), v.to_owned());
        }
    }
    for route in invite.headers.all("Route") {
        h.push("Route".into(), route.to_owned());
    }
    h.push("Max-Forwards".into(), "70".into());
    h.push("CSeq".into(), format!("{} CANCEL", cseq_number(invite)));
    Request { method: Method::Cancel, uri: invite.uri.clone(), headers: h, body: Vec::new() }
}

/// The ACK of a 300-699 answer to `invite` (RFC 3261 17.1.1.3): in the
/// INVITE's transaction, with the answer's To (and its tag).
pub fn ack_of_failure(invite: &Request, resp: &Response) -> Request {
    let mut ack = cancel(invite);
    ack.method = Method::Ack;
    let mut headers = Headers::default();
    for (name, value) in ack.headers.iter() {
        match name {
            "To" => headers.push("To".into(), resp.headers.get("To").unwrap_or(value).to_owned()),
            "CSeq" => headers.push("CSeq".into(), format!("{} ACK", cseq_number(invite))),
            _ => headers.push(name.into(), value.to_owned()),
        }
    }
    ack.headers = headers;
    ack
}

fn cseq_number(req: &Request) -> u32 {
    req.headers.get("CSeq").and_then(|c| c.split_whitespace().next()?.parse().ok()).unwrap_or(1)
}

/// Splits a header value at commas outside `<...>` and quotes.
fn split_list(value: &str) -> Vec<String> {
    let (mut out, mut cur, mut angle, mut quoted) = (Vec::new(), String::new(), false, false);
    for c in value.chars() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !angle && !quoted => {
                out.push(cur.trim().to_owned());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_owned());
    }
    out
}

/// The URI inside a name-addr (`"A" <sip:a@h>;tag=1` → `sip:a@h`).
fn uri_of(name_addr: &str) -> Option<String> {
    match (name_addr.find('<'), name_addr.find('>')) {
        (Some(a), Some(b)) if a < b => Some(name_addr[a + 1..b].to_owned()),
        _ => name_addr.split(';').next().map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()),
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    #[error("the 2xx has no {0}")]
    Missing(&'static str),
    #[error("the 2xx's To has no tag")]
    NoRemoteTag,
    #[error("the 2xx's Contact is not a SIP URI we can send to")]
    BadContact,
}

/// A dialog made by a 2xx to our INVITE (RFC 3261 12.1.2). Serialisable:
/// a placed call's dialogs are stored so that the next leader can end them
/// after a crash (`stored.rs`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Dialog {
    pub call_id: String,
    /// Our From, with our tag.
    pub local: String,
    /// Their To, with their tag.
    pub remote: String,
    /// Where requests go: their Contact.
    pub remote_target: String,
    /// The Record-Route, reversed: our requests' Route.
    pub route_set: Vec<String>,
    /// The last CSeq number we used.
    pub local_cseq: u32,
    invite_cseq: u32,
    local_addr: SocketAddr,
    transport: String,
}

impl Dialog {
    /// The dialog a 2xx to `invite` makes.
    pub fn from_success(
        invite: &Request,
        resp: &Response,
        local_addr: SocketAddr,
        transport: &str,
    ) -> Result<Dialog, DialogError> {
        let remote = resp.headers.get("To").ok_or(DialogError::Missing("To"))?.to_owned();
        if !remote.split(';').skip(1).any(|p| p.trim().to_ascii_lowercase().starts_with("tag=")) {
            return Err(DialogError::NoRemoteTag);
        }
        let contact = resp.headers.get("Contact").ok_or(DialogError::Missing("Contact"))?;
        let remote_target = uri_of(contact).ok_or(DialogError::Missing("Contact URI"))?;
        let sendable = (remote_target.starts_with("sip:") || remote_target.starts_with("sips:"))
            && !remote_target.chars().any(|c| c.is_whitespace() || c.is_control());
        if !sendable {
            return Err(DialogError::BadContact);
        }
        let mut route_set: Vec<String> = resp.headers.all("Record-Route").flat_map(split_list).collect();
        route_set.reverse();
        Ok(Dialog {
            call_id: invite.headers.get("Call-ID").ok_or(DialogError::Missing("Call-ID"))?.to_owned(),
            local: invite.headers.get("From").ok_or(DialogError::Missing("From"))?.to_owned(),
            remote,
            remote_target,
            route_set,
            local_cseq: cseq_number(invite),
            invite_cseq: cseq_number(invite),
            local_addr,
            transport: transport.to_owned(),
        })
    }

    /// The dialog of a 2xx to an INVITE this process no longer knows (sent
    /// before a restart, or crossing its CANCEL): everything needed is in
    /// the response, whose From is ours. Only to ACK and hang it up.
    pub fn from_stray_success(resp: &Response, local_addr: SocketAddr) -> Option<Dialog> {
        let mut invite =
            Request { method: Method::Invite, uri: String::new(), headers: Headers::default(), body: vec![] };
        for name in ["From", "Call-ID", "CSeq"] {
            invite.headers.push(name.into(), resp.headers.get(name)?.to_owned());
        }
        Dialog::from_success(&invite, resp, local_addr, "UDP").ok()
    }

    /// Where a request inside the dialog goes first: the first route
    /// (loose routing) or the remote target.
    pub fn next_hop(&self) -> String {
        self.route_set.first().and_then(|r| uri_of(r)).unwrap_or_else(|| self.remote_target.clone())
    }

    fn request(&self, method: Method, cseq: u32, branch: &str, sdp: Option<&[u8]>) -> Request {
        let mut h = Headers::default();
        h.push("Via".into(), via(&self.transport, self.local_addr, branch));
        h.push("Max-Forwards".into(), "70".into());
        for route in &self.route_set {
            h.push("Route".into(), route.clone());
        }
        h.push("From".into(), self.local.clone());
        h.push("To".into(), self.remote.clone());
        h.push("Call-ID".into(), self.call_id.clone());
        h.push("CSeq".into(), format!("{cseq} {method}"));
        if method == Method::Invite {
            h.push("Contact".into(), format!("<sip:switchboard@{}>", self.local_addr));
        }
        let body = with_body(&mut h, sdp);
        Request { method, uri: self.remote_target.clone(), headers: h, body }
    }

    /// The ACK of the INVITE's 2xx (end to end, a new branch), with the
    /// answer when the 2xx carried the offer.
    pub fn ack(&self, branch: &str, sdp: Option<&[u8]>) -> Request {
        self.request(Method::Ack, self.invite_cseq, branch, sdp)
    }

    /// A re-INVITE with a new offer (RFC 3725's re-offer to the first leg).
    pub fn reinvite(&mut self, branch: &str, sdp: &[u8]) -> Request {
        self.local_cseq += 1;
        self.invite_cseq = self.local_cseq;
        self.request(Method::Invite, self.local_cseq, branch, Some(sdp))
    }

    /// The BYE that ends the dialog.
    pub fn bye(&mut self, branch: &str) -> Request {
        self.local_cseq += 1;
        self.request(Method::Bye, self.local_cseq, branch, None)
    }

    /// Whether a request from the far end belongs to this dialog (its
    /// Call-ID, and our tag in its To).
    pub fn owns(&self, req: &Request) -> bool {
        let tag_of = |v: &str| v.split(';').skip(1).find_map(|p| p.trim().strip_prefix("tag=").map(str::to_owned));
        req.headers.get("Call-ID") == Some(self.call_id.as_str())
            && req.headers.get("To").and_then(tag_of).is_some_and(|t| Some(t) == tag_of(&self.local))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::Message;
    use crate::sip::parse::{Transport, parse};

    const LOCAL: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)), 5060);

    fn leg(sdp: Option<&[u8]>) -> Request {
        invite(&NewLeg {
            request_uri: "sip:1001@10.0.0.5",
            to_uri: "sip:1001@10.0.0.5",
            from_uri: "sip:4008001234@centre",
            from_display: Some("客服中心"),
            call_id: "c-1",
            local_tag: "sb1",
            branch: "z9hG4bKsb1",
            local: LOCAL,
            transport: "UDP",
            sdp,
        })
    }

    fn reparse(req: &Request) -> Request {
        match parse(&req.to_bytes(), Transport::Datagram, 65536).unwrap().0 {
            Message::Request(r) => r,
            Message::Response(_) => panic!("a request"),
        }
    }

    fn response(text: &str) -> Response {
        match parse(text.as_bytes(), Transport::Datagram, 65536).unwrap().0 {
            Message::Response(r) => r,
            Message::Request(_) => panic!("a response"),
        }
    }

    fn ok(record_route: &str) -> Response {
        response(&format!(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKsb1;rport=5060\r\n{record_route}\
             From: \"客服中心\" <sip:4008001234@centre>;tag=sb1\r\nTo: <sip:1001@10.0.0.5>;tag=ph9\r\n\
             Call-ID: c-1\r\nCSeq: 1 INVITE\r\nContact: <sip:1001@10.0.0.5:5062;transport=udp>\r\nContent-Length: 0\r\n\r\n"
        ))
    }

    #[test]
    fn an_invite_without_an_offer_parses_back() {
        let r = reparse(&leg(None));
        assert_eq!((r.method.clone(), r.uri.as_str()), (Method::Invite, "sip:1001@10.0.0.5"));
        assert_eq!(r.headers.get("CSeq"), Some("1 INVITE"));
        assert_eq!(r.headers.get("From"), Some("\"客服中心\" <sip:4008001234@centre>;tag=sb1"));
        assert!(r.body.is_empty() && r.headers.get("Content-Type").is_none());
        let with = reparse(&leg(Some(b"v=0\r\n")));
        assert_eq!(
            (with.headers.get("Content-Type"), with.body.as_slice()),
            (Some("application/sdp"), b"v=0\r\n".as_slice())
        );
    }

    #[test]
    fn cancel_and_the_ack_of_a_failure_stay_in_the_invites_transaction() {
        let inv = leg(None);
        let c = reparse(&cancel(&inv));
        assert_eq!((c.method.clone(), c.uri.as_str()), (Method::Cancel, inv.uri.as_str()));
        assert_eq!(c.headers.get("Via"), inv.headers.get("Via"));
        assert_eq!(c.headers.get("CSeq"), Some("1 CANCEL"));
        let busy = response(
            "SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKsb1\r\n\
             From: <sip:4008001234@centre>;tag=sb1\r\nTo: <sip:1001@10.0.0.5>;tag=busy7\r\nCall-ID: c-1\r\nCSeq: 1 INVITE\r\n\r\n",
        );
        let a = reparse(&ack_of_failure(&inv, &busy));
        assert_eq!(a.method, Method::Ack);
        assert_eq!(a.headers.get("To"), Some("<sip:1001@10.0.0.5>;tag=busy7"));
        assert_eq!((a.headers.get("CSeq"), a.headers.get("Via")), (Some("1 ACK"), inv.headers.get("Via")));
    }

    #[test]
    fn a_2xx_makes_a_dialog_whose_requests_follow_its_routes() {
        let inv = leg(None);
        let resp = ok("Record-Route: <sip:10.0.0.1;lr>, <sip:10.0.0.3;lr>\r\n");
        let mut d = Dialog::from_success(&inv, &resp, LOCAL, "UDP").unwrap();
        assert_eq!(d.remote_target, "sip:1001@10.0.0.5:5062;transport=udp");
        assert_eq!(d.route_set, ["<sip:10.0.0.3;lr>", "<sip:10.0.0.1;lr>"], "reversed");
        assert_eq!(d.next_hop(), "sip:10.0.0.3;lr");
        let ack = reparse(&d.ack("z9hG4bKack1", Some(b"v=0\r\n")));
        assert_eq!(
            (ack.uri.as_str(), ack.headers.get("CSeq")),
            ("sip:1001@10.0.0.5:5062;transport=udp", Some("1 ACK"))
        );
        assert_eq!(ack.headers.all("Route").collect::<Vec<_>>(), ["<sip:10.0.0.3;lr>", "<sip:10.0.0.1;lr>"]);
        assert_eq!(ack.headers.get("To"), Some("<sip:1001@10.0.0.5>;tag=ph9"));
        let re = reparse(&d.reinvite("z9hG4bKre1", b"v=0\r\n"));
        assert_eq!(re.headers.get("CSeq"), Some("2 INVITE"));
        assert_eq!(reparse(&d.ack("z9hG4bKack2", None)).headers.get("CSeq"), Some("2 ACK"), "the re-INVITE's ACK");
        let bye = reparse(&d.bye("z9hG4bKbye1"));
        assert_eq!((bye.method.clone(), bye.headers.get("CSeq")), (Method::Bye, Some("3 BYE")));
    }

    #[test]
    fn a_2xx_without_a_tag_or_contact_makes_no_dialog() {
        let inv = leg(None);
        let no_tag = ok("").to_bytes();
        let text = String::from_utf8(no_tag).unwrap().replace(";tag=ph9", "");
        assert_eq!(Dialog::from_success(&inv, &response(&text), LOCAL, "UDP"), Err(DialogError::NoRemoteTag));
        let text = String::from_utf8(ok("").to_bytes())
            .unwrap()
            .replace("Contact: <sip:1001@10.0.0.5:5062;transport=udp>\r\n", "");
        assert_eq!(Dialog::from_success(&inv, &response(&text), LOCAL, "UDP"), Err(DialogError::Missing("Contact")));
        let text = String::from_utf8(ok("").to_bytes())
            .unwrap()
            .replace("<sip:1001@10.0.0.5:5062;transport=udp>", "<tel:1001 x>");
        assert_eq!(Dialog::from_success(&inv, &response(&text), LOCAL, "UDP"), Err(DialogError::BadContact));
    }

    #[test]
    fn a_bye_from_the_far_end_is_recognised() {
        let inv = leg(None);
        let d = Dialog::from_success(&inv, &ok(""), LOCAL, "UDP").unwrap();
        let bye = |to_tag: &str, call_id: &str| {
            match parse(
            format!(
                "BYE sip:switchboard@10.0.0.2:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKp1\r\n\
                 From: <sip:1001@10.0.0.5>;tag=ph9\r\nTo: <sip:4008001234@centre>;tag={to_tag}\r\nCall-ID: {call_id}\r\n\
                 CSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n"
            )
            .as_bytes(),
            Transport::Datagram,
            65536,
        )
        .unwrap()
        .0
        {
            Message::Request(r) => r,
            Message::Response(_) => unreachable!(),
        }
        };
        assert!(d.owns(&bye("sb1", "c-1")));
        assert!(!d.owns(&bye("other", "c-1")));
        assert!(!d.owns(&bye("sb1", "c-2")));
    }
}

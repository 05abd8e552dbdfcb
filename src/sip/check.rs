//! What a parsed request must satisfy before it is served (RFC 3261 8.2 and
//! the cases of RFC 4475), and the response code when it does not.

use super::message::{Method, Request};
use super::parse::{MAX_CSEQ, ParseError, parse_decimal, single_value};

/// Why a request is refused, and with what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub code: u16,
    pub reason: &'static str,
    /// For 420: the option tags that are not supported.
    pub unsupported: Vec<String>,
}

impl Rejection {
    fn bad(reason: &'static str) -> Rejection {
        Rejection { code: 400, reason, unsupported: Vec::new() }
    }
}

impl From<ParseError> for Rejection {
    fn from(e: ParseError) -> Self {
        match e {
            ParseError::Version => Rejection { code: 505, reason: "Version Not Supported", unsupported: Vec::new() },
            ParseError::TooLarge => Rejection { code: 513, reason: "Message Too Large", unsupported: Vec::new() },
            ParseError::Malformed(reason) => Rejection::bad(reason),
            ParseError::Incomplete => Rejection::bad("incomplete message"),
        }
    }
}

/// URI schemes this server can route on.
const SCHEMES: &[&str] = &["sip", "sips", "tel"];

/// Checks a request. `Ok` means it is well formed and may be served.
pub fn check_request(req: &Request) -> Result<(), Rejection> {
    for name in ["To", "From", "Call-ID", "CSeq", "Via"] {
        if req.headers.get(name).is_none() {
            return Err(Rejection::bad("missing required header field"));
        }
    }
    for name in ["To", "From", "Call-ID", "CSeq", "Max-Forwards", "Content-Type"] {
        single_value(&req.headers, name)?;
    }
    let cseq = req.headers.get("CSeq").unwrap_or_default();
    let (number, method) = cseq.split_once([' ', '\t']).ok_or(Rejection::bad("malformed CSeq"))?;
    parse_decimal(number, MAX_CSEQ).ok_or(Rejection::bad("CSeq number out of range"))?;
    if method.trim() != req.method.as_str() {
        return Err(Rejection::bad("CSeq method does not match the request method"));
    }
    if let Some(mf) = req.headers.get("Max-Forwards") {
        parse_decimal(mf, 255).ok_or(Rejection::bad("Max-Forwards out of range"))?;
    }
    for via in req.headers.all("Via") {
        check_via(via)?;
    }
    for name in ["To", "From"] {
        check_name_addr(req.headers.get(name).unwrap_or_default())?;
    }
    for contact in req.headers.all("Contact") {
        if contact.trim() != "*" {
            check_name_addr(contact)?;
        }
    }
    check_request_uri(&req.uri)?;
    if !matches!(req.method, Method::Ack | Method::Cancel) {
        let unsupported: Vec<String> = req
            .headers
            .all("Require")
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect();
        if !unsupported.is_empty() {
            return Err(Rejection { code: 420, reason: "Bad Extension", unsupported });
        }
    }
    Ok(())
}

/// `SIP/2.0/TRANSPORT sent-by *(;param)`: every element present, no empty parameters.
fn check_via(value: &str) -> Result<(), Rejection> {
    for hop in split_outside_quotes(value, ',') {
        // sent-protocol allows whitespace around each `/` (RFC 3261 25.1).
        let mut parts = hop.splitn(3, '/').map(str::trim);
        let (Some(name), Some(version), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Rejection::bad("malformed Via"));
        };
        let transport_len = rest.bytes().take_while(|&b| super::message::is_token_char(b)).count();
        let (transport, rest) = rest.split_at(transport_len);
        let ok = name.eq_ignore_ascii_case("SIP")
            && version == "2.0"
            && !transport.is_empty()
            && rest.starts_with([' ', '\t']);
        let mut params = rest.split(';');
        let sent_by = params.next().unwrap_or_default().trim();
        if !ok || sent_by.is_empty() || params.any(|p| p.trim().is_empty()) {
            return Err(Rejection::bad("malformed Via"));
        }
    }
    Ok(())
}

/// A name-addr or addr-spec with parameters: quotes balanced, a URI with a
/// scheme, no empty parameters. Spaces inside `< >` are tolerated, as RFC
/// 4475 3.1.2.14 allows a liberal parser to.
fn check_name_addr(value: &str) -> Result<(), Rejection> {
    let mut in_quotes = false;
    let mut escaped = false;
    for c in value.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            _ => {}
        }
    }
    if in_quotes {
        return Err(Rejection::bad("unterminated quoted string"));
    }
    let params = match (value.find('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close => {
            if !value[open + 1..close].contains(':') {
                return Err(Rejection::bad("address without a URI scheme"));
            }
            &value[close + 1..]
        }
        (None, None) => {
            if !value.contains(':') {
                return Err(Rejection::bad("address without a URI scheme"));
            }
            value.split_once(';').map_or("", |(_, p)| p)
        }
        _ => return Err(Rejection::bad("unbalanced angle brackets")),
    };
    let params = params.trim();
    if !params.is_empty() && params.trim_start_matches(';').split(';').any(|p| p.trim().is_empty()) {
        return Err(Rejection::bad("empty header parameter"));
    }
    Ok(())
}

/// The Request-URI: a scheme this server routes on (else 416), and no
/// header component, which RFC 3261 19.1.1 forbids in a Request-URI.
fn check_request_uri(uri: &str) -> Result<(), Rejection> {
    let (scheme, rest) = uri.split_once(':').ok_or(Rejection::bad("Request-URI without a scheme"))?;
    let scheme_ok = scheme.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !scheme_ok || rest.is_empty() {
        return Err(Rejection::bad("malformed Request-URI"));
    }
    if !SCHEMES.iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
        return Err(Rejection { code: 416, reason: "Unsupported URI Scheme", unsupported: Vec::new() });
    }
    // A `?` in the user part is just a character (RFC 4475 3.1.1.2); the
    // header component comes after the host.
    let host_part = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    if host_part.contains('?') {
        return Err(Rejection::bad("headers are not allowed in a Request-URI"));
    }
    Ok(())
}

/// Splits on `sep` where it is not inside double quotes.
fn split_outside_quotes(value: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut in_quotes) = (0, false);
    for (i, c) in value.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            c if c == sep && !in_quotes => {
                parts.push(&value[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
}

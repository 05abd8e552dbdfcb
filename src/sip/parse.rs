//! Bytes to [`Message`]: start line, header fields (unfolded, compact names
//! expanded), and the body framed by Content-Length. Never panics: any
//! input gives a message or an error that says what to answer.
//!
//! Datagrams (UDP) may omit Content-Length (the body is the rest of the
//! datagram) and may carry trailing octets after the declared body, which
//! are ignored (RFC 4475 3.1.1.8). Streams (TCP) need Content-Length to
//! find where one message ends and the next begins.

use super::message::{Headers, Message, Method, Request, Response, canonical_name, is_token_char};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Datagram,
    Stream,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A stream holds only part of a message so far.
    #[error("incomplete message")]
    Incomplete,
    /// Malformed; a request gets 400 with this reason, a response is dropped.
    #[error("{0}")]
    Malformed(&'static str),
    /// A SIP version other than 2.0: a request gets 505.
    #[error("unsupported SIP version")]
    Version,
    /// Over the configured size: a request gets 513, a stream is closed.
    #[error("message too large")]
    TooLarge,
}

/// The largest value a CSeq number may have (RFC 3261 8.1.1.5).
pub const MAX_CSEQ: u64 = (1 << 31) - 1;

/// Parses one message from the start of `buf`; returns it and how many
/// bytes it used (for a stream, where the next message starts).
pub fn parse(buf: &[u8], transport: Transport, max_size: usize) -> Result<(Message, usize), ParseError> {
    // CRLFs between messages are keep-alives (RFC 5626 3.5.1).
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len());
    let buf_rest = &buf[start..];
    let Some(head_len) = find_blank_line(buf_rest) else {
        if buf_rest.len() > max_size {
            return Err(ParseError::TooLarge);
        }
        return Err(match transport {
            Transport::Stream => ParseError::Incomplete,
            Transport::Datagram => ParseError::Malformed("no blank line after the header fields"),
        });
    };
    let (head, body_start) = (&buf_rest[..head_len.0], head_len.1);
    let head = std::str::from_utf8(head).map_err(|_| ParseError::Malformed("header section is not UTF-8"))?;
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let start_line = lines.next().unwrap_or_default();
    let headers = parse_headers(lines)?;
    let rest = &buf_rest[body_start..];
    let body_len = match single_value(&headers, "Content-Length")? {
        Some(v) => parse_decimal(v, u32::MAX as u64).ok_or(ParseError::Malformed("bad Content-Length"))? as usize,
        None if transport == Transport::Datagram => rest.len(),
        None => return Err(ParseError::Malformed("Content-Length is required on a stream")),
    };
    if body_start + body_len > max_size {
        return Err(ParseError::TooLarge);
    }
    if rest.len() < body_len {
        return Err(match transport {
            Transport::Stream => ParseError::Incomplete,
            Transport::Datagram => ParseError::Malformed("Content-Length is larger than the message"),
        });
    }
    let body = rest[..body_len].to_vec();
    let used = start + body_start + body_len;
    let message = if let Some(status) = start_line.strip_prefix("SIP/") {
        let (code, reason) = parse_status_line(status)?;
        Message::Response(Response { code, reason, headers, body })
    } else {
        let (method, uri) = parse_request_line(start_line)?;
        Message::Request(Request { method, uri, headers, body })
    };
    Ok((message, used))
}

/// Where the header section ends: (its length, where the body starts).
/// Accepts bare LF line ends as well as CRLF.
fn find_blank_line(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < buf.len() {
        if buf[i] == b'\n' {
            if buf.get(i + 1) == Some(&b'\n') {
                return Some((i, i + 2));
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some((i, i + 3));
            }
        }
        i += 1;
    }
    None
}

/// `SIP/2.0 SP Status-Code SP Reason-Phrase` (after the `SIP/` prefix).
fn parse_status_line(rest: &str) -> Result<(u16, String), ParseError> {
    let (version, rest) = rest.split_once(' ').ok_or(ParseError::Malformed("bad status line"))?;
    if !version.eq_ignore_ascii_case("2.0") {
        return Err(ParseError::Version);
    }
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    let code = match code.as_bytes() {
        [a, b, c] if [a, b, c].iter().all(|d| d.is_ascii_digit()) => code.parse::<u16>().unwrap_or(0),
        _ => return Err(ParseError::Malformed("status code is not three digits")),
    };
    if !(100..=699).contains(&code) {
        return Err(ParseError::Malformed("status code out of range"));
    }
    if reason.chars().any(|c| c.is_control() && c != '\t') {
        return Err(ParseError::Malformed("control character in reason phrase"));
    }
    Ok((code, reason.to_owned()))
}

/// `Method SP Request-URI SP SIP-Version`, single spaces, nothing after.
fn parse_request_line(line: &str) -> Result<(Method, String), ParseError> {
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::Malformed("request line must be `METHOD URI SIP/2.0` with single spaces"));
    };
    if method.is_empty() || !method.bytes().all(is_token_char) {
        return Err(ParseError::Malformed("method is not a token"));
    }
    if uri.is_empty() || uri.starts_with('<') || uri.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
        return Err(ParseError::Malformed("malformed Request-URI"));
    }
    match version.strip_prefix("SIP/") {
        Some(v) if v.eq_ignore_ascii_case("2.0") => {}
        Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.') => {
            return Err(ParseError::Version);
        }
        _ => return Err(ParseError::Malformed("bad SIP version")),
    }
    Ok((Method::from_token(method), uri.to_owned()))
}

/// Header lines with folded continuations joined by one space.
fn parse_headers<'a>(lines: impl Iterator<Item = &'a str>) -> Result<Headers, ParseError> {
    let mut headers = Headers::default();
    let mut current: Option<(String, String)> = None;
    for line in lines {
        if line.starts_with([' ', '\t']) {
            let Some((_, value)) = current.as_mut() else {
                return Err(ParseError::Malformed("continuation line before any header"));
            };
            value.push(' ');
            value.push_str(line.trim());
            continue;
        }
        if let Some((name, value)) = current.take() {
            headers.push(name, value);
        }
        let (name, value) = line.split_once(':').ok_or(ParseError::Malformed("header line without a colon"))?;
        let name = name.trim_end_matches([' ', '\t']);
        if name.is_empty() || !name.bytes().all(is_token_char) {
            return Err(ParseError::Malformed("header name is not a token"));
        }
        current = Some((canonical_name(name), value.trim().to_owned()));
    }
    if let Some((name, value)) = current {
        headers.push(name, value);
    }
    Ok(headers)
}

/// A header that may appear once; two lines or a comma list are an error.
pub fn single_value<'a>(headers: &'a Headers, name: &'static str) -> Result<Option<&'a str>, ParseError> {
    match headers.count(name) {
        0 => Ok(None),
        1 => Ok(headers.get(name)),
        _ => Err(ParseError::Malformed(match name {
            "Content-Length" => "more than one Content-Length",
            _ => "a single-valued header appears more than once",
        })),
    }
}

/// Digits only, at most `max`; `None` for anything else (signs, spaces,
/// overflow).
pub fn parse_decimal(text: &str, max: u64) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u64>().ok().filter(|&n| n <= max)
}

/// Best effort for a request that failed to parse: the method and whatever
/// header lines can be read, so a 400 (or 505) can still reach the sender.
/// `None` when not even that much is there.
pub fn salvage(buf: &[u8]) -> Option<Request> {
    let text = String::from_utf8_lossy(&buf[..buf.len().min(16 * 1024)]);
    let mut lines = text.split('\n').map(|l| l.trim_end_matches('\r'));
    let start = lines.next()?;
    let method = start.split(' ').next().filter(|m| !m.is_empty() && m.bytes().all(is_token_char))?;
    if method.starts_with("SIP/") {
        return None;
    }
    let mut headers = Headers::default();
    for line in lines.take_while(|l| !l.is_empty()) {
        if let Some((name, value)) = line.split_once(':')
            && !name.trim().is_empty()
            && name.trim().bytes().all(is_token_char)
        {
            headers.push(canonical_name(name.trim()), value.trim().to_owned());
        }
    }
    for required in ["Via", "From", "To", "Call-ID", "CSeq"] {
        headers.get(required)?;
    }
    Some(Request { method: Method::from_token(method), uri: String::new(), headers, body: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:4000@pbx SIP/2.0\r\nv: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n\
        f: <sip:a@b>;tag=1\r\nt: <sip:4000@pbx>\r\ni: abc\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n";

    #[test]
    fn compact_names_are_expanded_and_framing_uses_them() {
        let mut two = OPTIONS.to_vec();
        two.extend_from_slice(OPTIONS);
        let (msg, used) = parse(&two, Transport::Stream, 65536).unwrap();
        assert_eq!(used, OPTIONS.len());
        let Message::Request(req) = msg else { panic!() };
        assert_eq!(req.method, Method::Options);
        assert_eq!(req.headers.get("Call-ID"), Some("abc"));
        assert_eq!(req.headers.get("Via"), Some("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1"));
    }

    #[test]
    fn streams_wait_for_the_whole_message_and_refuse_oversized_ones() {
        assert_eq!(parse(&OPTIONS[..40], Transport::Stream, 65536), Err(ParseError::Incomplete));
        assert_eq!(parse(OPTIONS, Transport::Stream, 50), Err(ParseError::TooLarge));
        let no_length = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n";
        assert!(matches!(parse(no_length, Transport::Stream, 65536), Err(ParseError::Malformed(_))));
        assert!(parse(no_length, Transport::Datagram, 65536).is_ok());
    }

    #[test]
    fn folded_lines_are_joined() {
        let msg = b"OPTIONS sip:a@b SIP/2.0\r\nSubject: one\r\n  two\r\n\tthree\r\nl: 0\r\n\r\n";
        let (Message::Request(req), _) = parse(msg, Transport::Datagram, 65536).unwrap() else { panic!() };
        assert_eq!(req.headers.get("Subject"), Some("one two three"));
    }

    #[test]
    fn status_lines_are_checked() {
        let ok = b"SIP/2.0 180 Ringing\r\nl: 0\r\n\r\n";
        assert!(matches!(
            parse(ok, Transport::Datagram, 65536),
            Ok((Message::Response(Response { code: 180, .. }), _))
        ));
        assert!(parse(b"SIP/2.0 99 Low\r\n\r\n", Transport::Datagram, 65536).is_err());
        assert!(parse(b"SIP/2.0 1000 Big\r\n\r\n", Transport::Datagram, 65536).is_err());
    }

    #[test]
    fn decimals_refuse_signs_and_overflow() {
        assert_eq!(parse_decimal("42", 100), Some(42));
        assert_eq!(parse_decimal("-1", 100), None);
        assert_eq!(parse_decimal("101", 100), None);
        assert_eq!(parse_decimal("99999999999999999999999", u64::MAX), None);
    }
}

//! SIP messages as the connector sees them: a start line, header fields in
//! their original order (names canonicalised, compact forms expanded), and
//! the body. Values stay as text; the few fields the connector needs are
//! read by the accessors and checks that use them.

use std::fmt;

/// A request method. Extension methods are kept by name (RFC 3261 7.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Cancel,
    Bye,
    Options,
    Register,
    Info,
    Other(String),
}

impl Method {
    pub fn from_token(token: &str) -> Method {
        match token {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "CANCEL" => Method::Cancel,
            "BYE" => Method::Bye,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "INFO" => Method::Info,
            other => Method::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Cancel => "CANCEL",
            Method::Bye => "BYE",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Info => "INFO",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Header fields in arrival order. Names are stored in canonical form
/// (`Call-ID`, `Via`, ...) so lookups need no case folding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    fields: Vec<(String, String)>,
}

impl Headers {
    pub fn push(&mut self, name: String, value: String) {
        self.fields.push((name, value));
    }

    /// The first value of a header (names are canonical, see [`canonical_name`]).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Every line of a header, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields.iter().filter(move |(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn count(&self, name: &str) -> usize {
        self.all(name).count()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub uri: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub code: u16,
    pub reason: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Request(Request),
    Response(Response),
}

/// Known header names in their canonical spelling, with compact forms
/// (RFC 3261 7.3.3 and the registry). Unknown names keep their spelling.
const KNOWN: &[(&str, Option<&str>)] = &[
    ("Accept", None),
    ("Accept-Contact", Some("a")),
    ("Accept-Encoding", None),
    ("Accept-Language", None),
    ("Alert-Info", None),
    ("Allow", None),
    ("Allow-Events", Some("u")),
    ("Authorization", None),
    ("Call-ID", Some("i")),
    ("Call-Info", None),
    ("Contact", Some("m")),
    ("Content-Disposition", None),
    ("Content-Encoding", Some("e")),
    ("Content-Language", None),
    ("Content-Length", Some("l")),
    ("Content-Type", Some("c")),
    ("CSeq", None),
    ("Date", None),
    ("Event", Some("o")),
    ("Expires", None),
    ("From", Some("f")),
    ("Max-Forwards", None),
    ("Proxy-Require", None),
    ("Record-Route", None),
    ("Refer-To", Some("r")),
    ("Referred-By", Some("b")),
    ("Reject-Contact", Some("j")),
    ("Require", None),
    ("Retry-After", None),
    ("Route", None),
    ("Server", None),
    ("Session-Expires", Some("x")),
    ("Subject", Some("s")),
    ("Supported", Some("k")),
    ("Timestamp", None),
    ("To", Some("t")),
    ("Unsupported", None),
    ("User-Agent", None),
    ("Via", Some("v")),
    ("Warning", None),
];

/// The canonical spelling of a header name: compact forms expanded, known
/// names in their registered case, unknown names as given.
pub fn canonical_name(name: &str) -> String {
    for (full, compact) in KNOWN {
        if full.eq_ignore_ascii_case(name) || compact.is_some_and(|c| c.eq_ignore_ascii_case(name)) {
            return (*full).to_owned();
        }
    }
    name.to_owned()
}

/// RFC 3261 `token` characters.
pub fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// A message's bytes: its start line, the headers with `Content-Length`
/// always last and from the body, so it can never disagree with it.
fn serialise(start_line: String, headers: &Headers, body: &[u8]) -> Vec<u8> {
    let mut out = start_line;
    for (name, value) in headers.iter().filter(|(n, _)| *n != "Content-Length") {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

impl Response {
    pub fn to_bytes(&self) -> Vec<u8> {
        serialise(format!("SIP/2.0 {} {}\r\n", self.code, self.reason), &self.headers, &self.body)
    }
}

impl Request {
    pub fn to_bytes(&self) -> Vec<u8> {
        serialise(format!("{} {} SIP/2.0\r\n", self.method.as_str(), self.uri), &self.headers, &self.body)
    }
}

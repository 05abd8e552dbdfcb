//! Reading users out of SIP and tel URIs.

/// The user part of a SIP or tel URI: `sip:4000@pbx` → `4000`.
pub fn uri_user(uri: &str) -> Option<&str> {
    let (scheme, rest) = uri.split_once(':')?;
    let rest = if scheme.eq_ignore_ascii_case("tel") { rest } else { rest.split_once('@')?.0 };
    let user = rest.split([';', '?', '>']).next()?;
    (!user.is_empty()).then_some(user)
}

/// The user part of the URI in a name-addr (`"Li" <sip:1001@pbx>;tag=1`).
pub fn address_user(value: &str) -> Option<&str> {
    let uri = match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value.split(';').next()?,
    };
    uri_user(uri.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_read_from_uris_and_addresses() {
        assert_eq!(uri_user("sip:4000@pbx.example;user=phone"), Some("4000"));
        assert_eq!(uri_user("tel:+861084000;phone-context=x"), Some("+861084000"));
        assert_eq!(uri_user("sip:pbx.example"), None);
        assert_eq!(address_user("\"Li\" <sip:13800138000@pbx>;tag=9"), Some("13800138000"));
        assert_eq!(address_user("sip:1001@pbx;tag=9"), Some("1001"));
        assert_eq!(address_user("<sip:anonymous@anonymous.invalid>"), Some("anonymous"));
    }
}

//! Arbitrary bytes into the SIP parser, the request checks and the response
//! the connector would send back (which must parse again).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    switchboard::sip::exercise(data);
});

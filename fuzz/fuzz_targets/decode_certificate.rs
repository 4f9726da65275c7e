//! Decoding arbitrary bytes as a certificate never panics, and what decodes re-encodes to
//! something that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synod_types::wire::{self, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::new(16);
    if let Ok(value) = wire::decode_certificate(data, &limits) {
        let again = wire::encode_certificate(&value);
        assert_eq!(wire::decode_certificate(&again, &limits).ok(), Some(value));
    }
});

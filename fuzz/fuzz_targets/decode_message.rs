//! Decoding arbitrary bytes as a consensus message (votes, proposals, timeouts, sync)
//! never panics, and what decodes round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synod_types::wire::{self, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::new(16);
    if let Ok(message) = wire::decode_message(data, &limits) {
        let again = wire::encode_message(&message);
        assert_eq!(wire::decode_message(&again, &limits).ok(), Some(message));
    }
});

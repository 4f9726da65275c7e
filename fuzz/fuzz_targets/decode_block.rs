//! Decoding arbitrary bytes as a block never panics, and what decodes re-encodes to
//! something that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synod_types::wire::{self, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::new(16);
    if let Ok(value) = wire::decode_block(data, &limits) {
        let again = wire::encode_block(&value);
        assert_eq!(wire::decode_block(&again, &limits).ok(), Some(value));
    }
});

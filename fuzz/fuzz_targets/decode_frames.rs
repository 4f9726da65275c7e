//! The p2p layer's decoders (direct request and response frames, every gossip topic)
//! never panic on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synod_p2p::{Gossip, Request, Response, Topic};
use synod_types::wire::Limits;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::new(16);
    let _ = Request::decode(data, &limits);
    let _ = Response::decode(data, &limits);
    for topic in Topic::ALL {
        if let Ok(g) = Gossip::decode(topic, data, &limits) {
            assert_eq!(Gossip::decode(topic, &g.encode(), &limits).ok(), Some(g));
        }
    }
});

//! (link type, bytes) through `link::decode` and `ip::decode`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pcapframe_fuzz::decode_packet(data));

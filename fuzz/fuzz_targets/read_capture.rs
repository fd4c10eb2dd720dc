//! Arbitrary bytes as a capture file through `PacketReader`, every batch drained.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pcapframe_fuzz::read_capture(data));

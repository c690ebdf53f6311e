#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mocket_core::fuzzing::mocks_file(data));

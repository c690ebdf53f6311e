#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mocket_config::fuzzing::mocks_file(data));

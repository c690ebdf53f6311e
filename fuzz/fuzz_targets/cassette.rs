#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mocket_recordings::fuzzing::cassette_text(data));

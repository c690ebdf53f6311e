#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mocket_protocols::fuzzing::lua_cmsgpack(data));

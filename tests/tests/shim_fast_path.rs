//! What the shim adds to a client's new connection (issue 15), counted in system calls with
//! strace on a C client (`tests/c/shim_fast_path.c`): a copy of the caller's address checked
//! by the kernel (`process_vm_readv`) only when it is not on the caller's stack, one
//! `getsockopt` per connect, none for getpeername; and a connect in the wrong address family
//! fails as it does without mocket.

use mocket_tests::*;

const MOCKS: &str =
    r#"{"entries": [{ "http": "GET http://api.test/ok", "response": { "body": "fine" } }]}"#;

/// Connections per phase: more than the shim's checked copies before a thread learns its
/// stack (`shim/src/stack.rs`, 32), which the heap phase makes.
const PER_PHASE: usize = 40;

/// System calls of one phase of the trace.
#[derive(Debug, PartialEq)]
struct Calls {
    checked_copies: usize,
    socket_options: usize,
}

/// The trace's phases, as the client marks them with getppid().
fn phases(trace: &str) -> Vec<Calls> {
    trace
        .split("getppid(")
        .map(|phase| Calls {
            checked_copies: phase.matches("process_vm_readv(").count(),
            socket_options: phase.matches("getsockopt(").count(),
        })
        .collect()
}

#[test]
fn a_new_connection_costs_one_getsockopt_and_no_checked_copy_of_stack_memory() {
    assert!(
        have("strace"),
        "strace is missing: apt-get install strace (.ci/run installs it)"
    );
    let client = compile_test_c("shim_fast_path", &[]);
    let mocks = mocks_file(MOCKS);
    let trace = scratch_dir("fast-path").join("trace");
    let per_phase = PER_PHASE.to_string();
    let cmd = [
        "strace",
        "-f",
        "-qq",
        "-e",
        "trace=process_vm_readv,getsockopt,getppid",
        "-o",
        trace.to_str().unwrap(),
        client.to_str().unwrap(),
        "api.test",
        "count",
        &per_phase,
    ];
    // Under `mocket run` the engine is another process: the trace is the client's alone.
    let run = mocket_run(&mocks, &[], &cmd);
    run.success();
    assert_eq!(
        run.stdout,
        format!("heap {PER_PHASE}\nstack {PER_PHASE}\n"),
        "{}",
        run.stderr
    );
    let traced = std::fs::read_to_string(&trace).expect("strace output");
    let phases = phases(&traced);
    assert_eq!(phases.len(), 3, "warm-up, heap, stack:\n{traced}");
    // On the heap: the address of each connect and the length of each getpeername of a
    // redirected socket are copied with the kernel's check, once each.
    let heap = Calls {
        checked_copies: 2 * PER_PHASE,
        socket_options: PER_PHASE,
    };
    let stack = Calls {
        checked_copies: 0,
        socket_options: PER_PHASE,
    };
    assert_eq!(phases[1], heap, "the heap phase:\n{traced}");
    assert_eq!(phases[2], stack, "the stack phase:\n{traced}");
}

/// An IPv4 address on an IPv6 socket, and the reverse: the kernel refuses both, with or without
/// mocket, with the same errno (the shim encodes its replacement in the caller's family).
#[test]
fn a_connect_in_the_wrong_address_family_fails_as_without_mocket() {
    let client = compile_test_c("shim_fast_path", &[]);
    let mocks = mocks_file(MOCKS);
    let expected = "ipv4 address on an ipv6 socket: EINVAL\n\
                    ipv6 address on an ipv4 socket: EAFNOSUPPORT\n";
    let plain = run(netns_command(&[
        client.to_str().unwrap(),
        "198.18.0.1",
        "families",
    ]));
    plain.success();
    assert_eq!(plain.stdout, expected, "without mocket: {}", plain.stderr);
    for placement in PLACEMENTS {
        let run = placement.run(&mocks, &[client.to_str().unwrap(), "api.test", "families"]);
        run.success();
        assert_eq!(run.stdout, expected, "{placement:?}: {}", run.stderr);
    }
}

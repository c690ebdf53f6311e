use super::*;
use crate::redis::command::Command;
use crate::redis::emulator::run_line;
use crate::redis::entry::Seed;

fn load(em: &mut Emulator, conn: &mut Connection, code: &str) -> Reply {
    em.execute(conn, &Command::new(["FUNCTION", "LOAD", code]))
}

const COUNTER: &str = "#!lua name=counter\n\
    redis.register_function('incr_twice', function(keys, args)\n\
      redis.call('incrby', keys[1], args[1])\n\
      return redis.call('incrby', keys[1], args[1])\n\
    end)\n\
    redis.register_function{function_name='peek', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}}\n\
    redis.register_function{function_name='sneaky', callback=function(keys) return redis.call('set', keys[1], 'x') end, flags={'no-writes'}}\n";

#[test]
fn a_loaded_function_runs_on_the_shared_data_with_keys_and_args() {
    let mut em = Emulator::new(&Seed::new());
    let mut a = Connection::new(1);
    let mut b = Connection::new(2);
    assert_eq!(load(&mut em, &mut a, COUNTER), Reply::bulk("counter"));
    assert_eq!(
        run_line(&mut em, &mut a, "fcall incr_twice 1 n 5"),
        Reply::Int(10)
    );
    // Function names are case-insensitive, as in Redis.
    assert_eq!(
        run_line(&mut em, &mut b, "FCALL INCR_TWICE 1 n 1"),
        Reply::Int(12)
    );
    assert_eq!(
        run_line(&mut em, &mut b, "fcall_ro peek 1 n"),
        Reply::bulk("12")
    );
}

#[test]
fn no_writes_is_enforced_with_redis_errors() {
    let mut em = Emulator::new(&Seed::new());
    let mut conn = Connection::new(1);
    load(&mut em, &mut conn, COUNTER);
    assert_eq!(
        run_line(&mut em, &mut conn, "fcall_ro incr_twice 1 n 1"),
        Reply::error("ERR Can not execute a script with write flag using *_ro command.")
    );
    assert_eq!(
        run_line(&mut em, &mut conn, "fcall sneaky 1 k"),
        Reply::error(
            "ERR Write commands are not allowed from read-only scripts. script: sneaky, on @user_function:7."
        )
    );
    assert_eq!(run_line(&mut em, &mut conn, "exists k"), Reply::Int(0));
}

#[test]
fn loading_checks_metadata_names_and_collisions() {
    let mut em = Emulator::new(&Seed::new());
    let mut conn = Connection::new(1);
    let cases = [
        ("return 1", "ERR Missing library metadata"),
        ("#!lua name=x", "ERR Invalid library metadata"),
        ("#!lua2 name=x\nreturn 1", "ERR Engine 'lua2' not found"),
        ("#!lua\nreturn 1", "ERR Library name was not given"),
        (
            "#!lua name=x foo=bar\n",
            "ERR Invalid metadata value given: foo=bar",
        ),
        ("#!lua name=x\nreturn 1", "ERR No functions registered"),
        (
            "#!lua name=x\nredis.call('set', 'a', 1)",
            "ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'call'",
        ),
        (
            "#!lua name=x\nlocal s = string",
            "ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'string'",
        ),
        (
            "#!lua name=x\nredis.register_function('f')",
            "ERR Error registering functions: ERR calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).",
        ),
        (
            "#!lua name=x\nredis.register_function{function_name='f', callback=function() end, flags={'bad'}}",
            "ERR Error registering functions: ERR unknown flag given",
        ),
        (
            "#!lua name=x\nlocal x = (",
            "ERR Error compiling function: user_function:2: unexpected symbol near '<eof>'",
        ),
    ];
    for (code, error) in cases {
        assert_eq!(
            load(&mut em, &mut conn, code),
            Reply::error(error),
            "{code}"
        );
    }
    load(&mut em, &mut conn, COUNTER);
    assert_eq!(
        load(&mut em, &mut conn, COUNTER),
        Reply::error("ERR Library 'counter' already exists")
    );
    let clash = "#!lua name=other\nredis.register_function('PEEK', function() end)";
    assert_eq!(
        load(&mut em, &mut conn, clash),
        Reply::error("ERR Function PEEK already exists")
    );
    let replaced = "#!lua name=counter\nredis.register_function('peek', function() return 7 end)";
    let reply = em.execute(
        &mut conn,
        &Command::new(["FUNCTION", "LOAD", "REPLACE", replaced]),
    );
    assert_eq!(reply, Reply::bulk("counter"));
    assert_eq!(run_line(&mut em, &mut conn, "fcall peek 0"), Reply::Int(7));
    assert_eq!(
        run_line(&mut em, &mut conn, "fcall incr_twice 0"),
        Reply::error("ERR Function not found")
    );
}

#[test]
fn a_library_that_loops_at_load_time_is_stopped() {
    let mut em = Emulator::new(&Seed::new());
    let mut conn = Connection::new(1);
    let reply = load(&mut em, &mut conn, "#!lua name=x\nwhile true do end");
    assert_eq!(reply, Reply::error("ERR FUNCTION LOAD timeout"));
}

#[test]
fn dump_restore_delete_and_flush() {
    let mut em = Emulator::new(&Seed::new());
    let mut conn = Connection::new(1);
    load(&mut em, &mut conn, COUNTER);
    let Reply::Bulk(payload) = run_line(&mut em, &mut conn, "function dump") else {
        panic!("a bulk payload")
    };
    let restore = |em: &mut Emulator, conn: &mut Connection, policy: &[&[u8]]| {
        let mut words: Vec<&[u8]> = vec![b"FUNCTION", b"RESTORE", &payload];
        words.extend_from_slice(policy);
        em.execute(conn, &Command::new(words))
    };
    assert_eq!(
        restore(&mut em, &mut conn, &[]),
        Reply::error("ERR Library counter already exists")
    );
    assert_eq!(restore(&mut em, &mut conn, &[b"REPLACE"]), Reply::ok());
    assert_eq!(
        run_line(&mut em, &mut conn, "function delete counter"),
        Reply::ok()
    );
    assert_eq!(
        run_line(&mut em, &mut conn, "function delete counter"),
        Reply::error("ERR Library not found")
    );
    assert_eq!(restore(&mut em, &mut conn, &[]), Reply::ok());
    assert_eq!(
        run_line(&mut em, &mut conn, "fcall incr_twice 1 n 2"),
        Reply::Int(4)
    );
    assert_eq!(run_line(&mut em, &mut conn, "function flush"), Reply::ok());
    assert_eq!(restore(&mut em, &mut conn, &[b"FLUSH"]), Reply::ok());
    assert_eq!(
        restore(&mut em, &mut conn, &[b"bogus"]),
        Reply::error(
            "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."
        )
    );
    assert_eq!(
        run_line(&mut em, &mut conn, "function restore xx"),
        Reply::error("ERR DUMP payload version or checksum are wrong")
    );
}

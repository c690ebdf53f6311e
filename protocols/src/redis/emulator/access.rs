//! Key access times as Redis keeps them, for `OBJECT IDLETIME` and `OBJECT FREQ`: each key
//! holds Redis's 24-bit `lru` field, read as an LRU clock in seconds, or under an LFU
//! `maxmemory-policy` as minutes (16 bits) and a logarithmic access counter (8 bits). A
//! lookup by a command updates it, except for the commands Redis looks keys up without
//! touching (`TYPE`, `TTL`, `EXISTS`, `OBJECT`, ...). No allocation: one `u32` per key.

/// Redis's `LRU_CLOCK_MAX`: the clock wraps at 24 bits.
const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;
/// Redis's `LFU_INIT_VAL`: the counter of a new key.
const LFU_INIT_VAL: u32 = 5;

use super::Emulator;

impl Emulator {
    /// Reads the clock and policy for the command `name` (upper case) about to run.
    pub(super) fn begin_access(&mut self, name: &str) {
        let config = &self.admin.config;
        let lfu = || (config.int("lfu-log-factor"), config.int("lfu-decay-time"));
        let policy = config.get("maxmemory-policy");
        self.access = Access::of(name, self.clock.now_ms(), policy, lfu);
        self.commands_run = self.commands_run.wrapping_add(1);
    }
}

/// The commands that look keys up without touching them (Redis's `LOOKUP_NOTOUCH`).
const NO_TOUCH: &[&str] = &[
    "TYPE",
    "TTL",
    "PTTL",
    "EXPIRETIME",
    "PEXPIRETIME",
    "EXISTS",
    "OBJECT",
    "MEMORY",
    "SCAN",
    "KEYS",
    "RANDOMKEY",
    "DBSIZE",
    "DEBUG",
];

/// How the command being run ages the keys it looks up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Access {
    /// Whether a lookup updates the key.
    pub touch: bool,
    pub clock: Clock,
}

/// The reading of the `lru` field, by `maxmemory-policy`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Clock {
    /// Seconds, modulo 2^24.
    Lru { now: u32 },
    /// Minutes modulo 2^16, `lfu-log-factor`, `lfu-decay-time` (minutes per decrement).
    Lfu {
        minutes: u32,
        log_factor: i64,
        decay: i64,
    },
}

impl Default for Access {
    fn default() -> Access {
        Access {
            touch: false,
            clock: Clock::Lru { now: 0 },
        }
    }
}

impl Access {
    /// The access of command `name` (upper case) at `now_ms`, under `policy`; `lfu` reads
    /// `lfu-log-factor` and `lfu-decay-time` when the policy needs them.
    pub fn of(name: &str, now_ms: u64, policy: &str, lfu: impl FnOnce() -> (i64, i64)) -> Access {
        let clock = if policy.contains("lfu") {
            let (log_factor, decay) = lfu();
            Clock::Lfu {
                minutes: ((now_ms / 60_000) & 0xffff) as u32,
                log_factor,
                decay,
            }
        } else {
            Clock::Lru {
                now: ((now_ms / 1000) as u32) & LRU_CLOCK_MAX,
            }
        };
        Access {
            touch: !NO_TOUCH.contains(&name),
            clock,
        }
    }

    /// The field of a key created now.
    pub fn created(&self) -> u32 {
        match self.clock {
            Clock::Lru { now } => now,
            Clock::Lfu { minutes, .. } => (minutes << 8) | LFU_INIT_VAL,
        }
    }

    /// The field after a lookup; `random` draws in [0, 1] (Redis's `rand()/RAND_MAX`).
    pub fn touched(&self, lru: u32, random: impl FnOnce() -> f64) -> u32 {
        match self.clock {
            Clock::Lru { now } => now,
            Clock::Lfu {
                minutes,
                log_factor,
                ..
            } => {
                let counter = log_increment(self.frequency(lru), log_factor, random);
                (minutes << 8) | counter
            }
        }
    }

    /// `OBJECT IDLETIME`: seconds since the last access (Redis's `estimateObjectIdleTime`).
    pub fn idle_seconds(&self, lru: u32) -> u64 {
        let now = match self.clock {
            Clock::Lru { now } => now,
            Clock::Lfu { .. } => return 0,
        };
        let ticks = if now >= lru {
            now - lru
        } else {
            now + (LRU_CLOCK_MAX - lru)
        };
        u64::from(ticks)
    }

    /// `OBJECT FREQ`: the counter, decayed by the minutes since the last access (Redis's
    /// `LFUDecrAndReturn`).
    pub fn frequency(&self, lru: u32) -> u32 {
        let Clock::Lfu { minutes, decay, .. } = self.clock else {
            return 0;
        };
        let (last, counter) = (lru >> 8, lru & 0xff);
        let elapsed = if minutes >= last {
            minutes - last
        } else {
            0xffff - last + minutes
        };
        let periods = match u32::try_from(decay) {
            Ok(decay) if decay > 0 => elapsed / decay,
            _ => 0,
        };
        counter.saturating_sub(periods)
    }

    pub fn is_lfu(&self) -> bool {
        matches!(self.clock, Clock::Lfu { .. })
    }
}

/// Redis's `LFULogIncr`: the counter grows with probability 1 / ((counter - 5) * factor + 1).
fn log_increment(counter: u32, log_factor: i64, random: impl FnOnce() -> f64) -> u32 {
    if counter >= 255 {
        return 255;
    }
    let base = f64::from(counter.saturating_sub(LFU_INIT_VAL));
    let p = 1.0 / (base * log_factor as f64 + 1.0);
    if random() < p { counter + 1 } else { counter }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lru(name: &str, now_ms: u64) -> Access {
        Access::of(name, now_ms, "noeviction", || unreachable!("not LFU"))
    }

    fn lfu(now_ms: u64) -> Access {
        Access::of("GET", now_ms, "allkeys-lfu", || (10, 1))
    }

    #[test]
    fn lru_counts_whole_seconds_and_wraps_at_24_bits() {
        let created = lru("SET", 10_999).created();
        assert_eq!(lru("OBJECT", 12_000).idle_seconds(created), 2);
        assert_eq!(lru("OBJECT", 12_999).idle_seconds(created), 2);
        // Across the wrap Redis's estimate counts one tick less (its formula, kept).
        let late = lru("GET", u64::from(LRU_CLOCK_MAX) * 1000 - 1000).created();
        assert_eq!(
            lru("OBJECT", u64::from(LRU_CLOCK_MAX) * 1000 + 1000).idle_seconds(late),
            1
        );
        assert!(!lru("TYPE", 0).touch && !lru("OBJECT", 0).touch && lru("GET", 0).touch);
    }

    #[test]
    fn lfu_starts_at_5_always_counts_the_first_access_then_logarithmically() {
        let access = lfu(0);
        let created = access.created();
        assert_eq!(access.frequency(created), 5);
        let once = access.touched(created, || 0.99);
        assert_eq!(access.frequency(once), 6);
        assert_eq!(access.frequency(access.touched(once, || 0.5)), 6);
        assert_eq!(access.frequency(access.touched(once, || 0.05)), 7);
        assert_eq!(access.frequency(access.touched(255, || 0.0)), 255);
    }

    #[test]
    fn lfu_decays_one_per_decay_time_minutes_since_the_last_access() {
        let created = lfu(0).created();
        assert_eq!(lfu(3 * 60_000).frequency(created), 2);
        assert_eq!(lfu(30 * 60_000).frequency(created), 0);
        let no_decay = Access::of("GET", 30 * 60_000, "volatile-lfu", || (10, 0));
        assert_eq!(no_decay.frequency(created), 5);
    }
}

#[cfg(test)]
mod emulator_tests {
    use crate::redis::Seed;
    use crate::redis::command::Command;
    use crate::redis::conn::Connection;
    use crate::redis::emulator::{Emulator, ManualClock, Reply};

    fn run(em: &mut Emulator, line: &[&str]) -> Reply {
        em.execute(&mut Connection::new(1), &Command::new(line))
    }

    #[test]
    fn idletime_counts_from_the_last_touching_command() {
        let clock = ManualClock::new(1_700_000_000_000);
        let mut em = Emulator::with_clock(&Seed::new(), clock.clone());
        run(&mut em, &["SET", "k", "v"]);
        clock.advance(2_500);
        for not_touching in [
            &["TYPE", "k"][..],
            &["TTL", "k"],
            &["EXISTS", "k"],
            &["OBJECT", "IDLETIME", "k"],
        ] {
            run(&mut em, not_touching);
        }
        assert_eq!(run(&mut em, &["OBJECT", "IDLETIME", "k"]), Reply::Int(2));
        run(&mut em, &["STRLEN", "k"]);
        assert_eq!(run(&mut em, &["OBJECT", "IDLETIME", "k"]), Reply::Int(0));
        clock.advance(3_000);
        run(&mut em, &["TOUCH", "k"]);
        assert_eq!(run(&mut em, &["OBJECT", "IDLETIME", "k"]), Reply::Int(0));
        assert_eq!(run(&mut em, &["OBJECT", "IDLETIME", "nosuch"]), Reply::Nil);
        let Reply::Error(e) = run(&mut em, &["OBJECT", "FREQ", "k"]) else {
            panic!()
        };
        assert!(
            e.starts_with("ERR An LFU maxmemory policy is not selected"),
            "{e}"
        );
    }

    #[test]
    fn freq_counts_accesses_once_per_command_under_an_lfu_policy() {
        let clock = ManualClock::new(1_700_000_000_000);
        let mut em = Emulator::with_clock(&Seed::new(), clock.clone());
        run(
            &mut em,
            &["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"],
        );
        run(&mut em, &["SET", "m", "abc"]);
        assert_eq!(run(&mut em, &["OBJECT", "FREQ", "m"]), Reply::Int(5));
        run(&mut em, &["TYPE", "m"]);
        assert_eq!(run(&mut em, &["OBJECT", "FREQ", "m"]), Reply::Int(5));
        // GET looks the key up twice (statistics, then the command): one touch.
        run(&mut em, &["GET", "m"]);
        assert_eq!(run(&mut em, &["OBJECT", "FREQ", "m"]), Reply::Int(6));
        clock.advance(3 * 60_000);
        assert_eq!(run(&mut em, &["OBJECT", "FREQ", "m"]), Reply::Int(3));
        let Reply::Error(e) = run(&mut em, &["OBJECT", "IDLETIME", "m"]) else {
            panic!()
        };
        assert!(
            e.starts_with("ERR An LFU maxmemory policy is selected, idle time"),
            "{e}"
        );
    }
}

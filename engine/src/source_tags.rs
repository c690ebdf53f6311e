//! The source tags this engine handed out with its redirects: which process and destination
//! each stands for (see [`mocket_control::source_tag`] for why a connection is introduced by
//! the address it comes from).
//!
//! A process gets one tag per destination: the shim keeps lasting redirects, and a forked child
//! (another pid) asks again and gets its own. The table is bounded; when [`MAX_TAGS`] are
//! issued, the tags of processes that have exited are reclaimed, and when none has exited the
//! redirect carries no tag and its connections a preamble.
//!
//! When a tag may be given again (a long `mocket run` spawns far more processes than the table
//! holds):
//! - Only once its process no longer exists: `kill(pid, 0)` says there is no such process (a
//!   zombie still counts; its tags go once it is reaped). A process that exited has closed its
//!   sockets and its lasting redirects died with it, so nothing of it still connects from the
//!   tag's address, except a connection it made that the engine has not accepted yet (held by
//!   `TCP_DEFER_ACCEPT` until its first bytes, in a socket a child inherited): reclaimed tags
//!   are therefore given again oldest first, after every other reclaimed one.
//! - A pid can be reused by a new process. Tags are looked up by (pid, destination), so the new
//!   process finds only a tag naming the destination it asked for: its connections from it
//!   are introduced exactly as a preamble would introduce them. A tag never changes what it
//!   names while it is issued; it is reclaimed from a pid that no longer exists, and the pid's
//!   next process asking for the destination gets another tag.
//! - Pids are the asking process's own, as `getpid` says in its pid namespace. A process in a
//!   nested pid namespace (`unshare --pid`, a sandbox) asking the daemon names a pid that
//!   `kill` in the engine's namespace would judge wrongly, and a tag reclaimed from a live
//!   process would introduce its next connection as another's: once the control socket has
//!   seen a process ask under a pid that is not the one the kernel gives it
//!   ([`SourceTags::stop_reclaiming`]), no tag is reclaimed again.
//! - Reclaiming is amortised: a full table is swept [`RECLAIM_BATCH`] tags at a time, round
//!   robin, when a new pair asks and nothing reclaimed is left; a sweep that frees nothing
//!   stops the next ones for [`RECLAIM_BATCH`] requests, so a table of live processes costs at
//!   most one `kill` per request on average.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use mocket_control::source_tag::SourceTag;
use mocket_control::sync::lock;

/// How many (process, destination) pairs hold a tag at once: far more than a test run's live
/// processes times their destinations, and a bound on the table's memory (about 50 bytes a
/// pair).
pub(crate) const MAX_TAGS: usize = 1 << 18;

/// How many issued tags a sweep of a full table checks.
pub(crate) const RECLAIM_BATCH: usize = 4096;

/// Who a tag stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tagged {
    pub pid: u32,
    /// The address and port the process connected to (a fake or real address).
    pub dest: SocketAddr,
}

#[derive(Default)]
pub(crate) struct SourceTags {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    by_pair: HashMap<(u32, SocketAddr), SourceTag>,
    /// Tag number `n` stands for `issued[n]`; `None` while it is reclaimed.
    issued: Vec<Option<Tagged>>,
    /// Reclaimed tags, given again oldest first.
    reclaimed: VecDeque<SourceTag>,
    /// Where the next sweep starts in `issued`.
    cursor: usize,
    /// Requests to turn away before the next sweep (after one that freed nothing).
    backoff: usize,
    /// Some process's pid could not be checked: nothing is reclaimed any more.
    never_reclaim: bool,
}

impl SourceTags {
    /// The tag of `pid`'s connections to `dest`, issued now if it has none; `None` when the
    /// table is full of processes that still exist.
    pub fn tag(&self, pid: u32, dest: SocketAddr) -> Option<SourceTag> {
        let mut inner = lock(&self.inner);
        if let Some(tag) = inner.by_pair.get(&(pid, dest)) {
            return Some(*tag);
        }
        let tag = match inner.reclaimed.pop_front() {
            Some(tag) => tag,
            None if inner.issued.len() < MAX_TAGS => {
                let tag = SourceTag::new(u32::try_from(inner.issued.len()).ok()?)?;
                inner.issued.push(None);
                tag
            }
            None => inner.reclaim()?,
        };
        inner.issued[tag.get() as usize] = Some(Tagged { pid, dest });
        inner.by_pair.insert((pid, dest), tag);
        Some(tag)
    }

    /// Who a connection from `peer` is, when `peer` is a tag's address this engine issued.
    pub fn tagged(&self, peer: IpAddr) -> Option<Tagged> {
        let tag = tag_of(peer)?;
        lock(&self.inner)
            .issued
            .get(tag.get() as usize)
            .copied()
            .flatten()
    }

    /// From now on, no tag is reclaimed: some process asks under a pid that `kill` cannot
    /// check. `true` the first time.
    pub fn stop_reclaiming(&self) -> bool {
        !std::mem::replace(&mut lock(&self.inner).never_reclaim, true)
    }

    /// Whether `peer` carries a tag (issued or not): such a connection has no preamble.
    pub fn is_tag_address(peer: IpAddr) -> bool {
        tag_of(peer).is_some()
    }
}

impl Inner {
    /// Sweeps the next [`RECLAIM_BATCH`] issued tags for processes that no longer exist and
    /// returns the oldest tag reclaimed; `None` when the sweep is backing off or found none.
    fn reclaim(&mut self) -> Option<SourceTag> {
        if self.never_reclaim {
            return None;
        }
        if self.backoff > 0 {
            self.backoff -= 1;
            return None;
        }
        let mut exists: HashMap<u32, bool> = HashMap::new();
        for _ in 0..RECLAIM_BATCH.min(self.issued.len()) {
            let n = self.cursor;
            self.cursor = (n + 1) % self.issued.len();
            let Some(who) = self.issued[n] else { continue };
            if *exists
                .entry(who.pid)
                .or_insert_with(|| process_exists(who.pid))
            {
                continue;
            }
            self.issued[n] = None;
            self.by_pair.remove(&(who.pid, who.dest));
            self.reclaimed.extend(SourceTag::new(n as u32));
        }
        if self.reclaimed.is_empty() {
            self.backoff = RECLAIM_BATCH;
        }
        self.reclaimed.pop_front()
    }
}

/// Whether process `pid` exists (as a zombie too), as `kill(pid, 0)` sees it. A pid that is
/// not a process id (0, or above `i32::MAX`, which `kill` reads as a process group) counts
/// as existing: its tags are never reclaimed.
fn process_exists(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return true;
    };
    rustix::process::test_kill_process(pid) != Err(rustix::io::Errno::SRCH)
}

/// The tag of a connection from `peer` (an IPv4 or IPv4-mapped address), issued or not.
fn tag_of(peer: IpAddr) -> Option<SourceTag> {
    SourceTag::of_address(mocket_control::fake_range::as_v4(peer)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn one_tag_per_process_and_destination() {
        let tags = SourceTags::default();
        let a = tags.tag(10, dest("198.18.0.1:80")).unwrap();
        assert_eq!(tags.tag(10, dest("198.18.0.1:80")), Some(a));
        let b = tags.tag(11, dest("198.18.0.1:80")).unwrap();
        let c = tags.tag(10, dest("198.18.0.1:443")).unwrap();
        assert!(a != b && b != c && a != c);
        let found = tags.tagged(IpAddr::V4(c.address())).unwrap();
        assert_eq!(
            found,
            Tagged {
                pid: 10,
                dest: dest("198.18.0.1:443")
            }
        );
        // Seen through an IPv4-mapped IPv6 peer address too.
        let mapped = IpAddr::V6(b.address().to_ipv6_mapped());
        assert_eq!(tags.tagged(mapped).unwrap().pid, 11);
    }

    #[test]
    fn unknown_and_untagged_addresses_are_told_apart() {
        let tags = SourceTags::default();
        tags.tag(1, dest("198.18.0.1:80")).unwrap();
        let never_issued = SourceTag::new(5).unwrap().address();
        assert_eq!(tags.tagged(IpAddr::V4(never_issued)), None);
        assert!(SourceTags::is_tag_address(IpAddr::V4(never_issued)));
        assert!(!SourceTags::is_tag_address("127.0.0.1".parse().unwrap()));
        assert_eq!(tags.tagged("127.0.0.1".parse().unwrap()), None);
    }

    /// The `n`th of many destinations.
    fn nth_dest(n: usize) -> SocketAddr {
        let ip = std::net::Ipv4Addr::from(0xc612_0000 + n as u32);
        SocketAddr::new(IpAddr::V4(ip), 80)
    }

    /// A pid no process can have: above the kernel's largest (`PID_MAX_LIMIT`, 2^22).
    fn exited_pid(n: usize) -> u32 {
        (1 << 30) + n as u32
    }

    #[test]
    fn a_full_table_of_live_processes_issues_no_more_tags() {
        let tags = SourceTags::default();
        let me = std::process::id();
        for n in 0..MAX_TAGS {
            assert!(tags.tag(me, nth_dest(n)).is_some());
        }
        assert_eq!(tags.tag(me, nth_dest(MAX_TAGS)), None);
        assert_eq!(tags.tag(exited_pid(0), nth_dest(0)), None);
        // Pairs already tagged keep their tag.
        assert!(tags.tag(me, nth_dest(7)).is_some());
    }

    #[test]
    fn a_full_table_of_exited_processes_is_reclaimed() {
        let tags = SourceTags::default();
        let mut first = Vec::new();
        for n in 0..MAX_TAGS {
            first.push(tags.tag(exited_pid(n % 16), nth_dest(n)).unwrap());
        }
        // Every tag is given again, each once, naming what its new holder asked for.
        let me = std::process::id();
        let mut again = std::collections::HashSet::new();
        for n in 0..MAX_TAGS {
            let dest = nth_dest(MAX_TAGS + n);
            let tag = tags.tag(me, dest).expect("a reclaimed tag");
            assert!(again.insert(tag), "{tag:?} given twice");
            assert_eq!(
                tags.tagged(IpAddr::V4(tag.address())),
                Some(Tagged { pid: me, dest })
            );
        }
        assert_eq!(again.len(), first.len());
        assert!(first.iter().all(|tag| again.contains(tag)));
        assert_eq!(tags.tag(me, nth_dest(2 * MAX_TAGS)), None, "full again");
    }

    #[test]
    fn nothing_is_reclaimed_once_a_pid_cannot_be_checked() {
        let tags = SourceTags::default();
        for n in 0..MAX_TAGS {
            tags.tag(exited_pid(n % 16), nth_dest(n)).unwrap();
        }
        assert!(tags.stop_reclaiming());
        assert!(!tags.stop_reclaiming(), "said once");
        assert_eq!(tags.tag(std::process::id(), nth_dest(MAX_TAGS)), None);
        assert_eq!(
            tags.tagged(IpAddr::V4(SourceTag::new(0).unwrap().address())),
            Some(Tagged {
                pid: exited_pid(0),
                dest: nth_dest(0)
            })
        );
    }

    #[test]
    fn live_processes_keep_their_tags_while_exited_ones_are_reclaimed() {
        let tags = SourceTags::default();
        let me = std::process::id();
        // Every other pair is a live process's.
        let pid_of = |n: usize| {
            if n.is_multiple_of(2) {
                me
            } else {
                exited_pid(n % 7)
            }
        };
        let first: Vec<SourceTag> = (0..MAX_TAGS)
            .map(|n| tags.tag(pid_of(n), nth_dest(n)).unwrap())
            .collect();
        for n in 0..MAX_TAGS / 2 {
            assert!(tags.tag(me, nth_dest(MAX_TAGS + n)).is_some(), "{n}");
        }
        assert_eq!(tags.tag(me, nth_dest(2 * MAX_TAGS)), None);
        for (n, tag) in first
            .iter()
            .enumerate()
            .filter(|(n, _)| n.is_multiple_of(2))
        {
            assert_eq!(tags.tag(me, nth_dest(n)), Some(*tag));
            assert_eq!(
                tags.tagged(IpAddr::V4(tag.address())),
                Some(Tagged {
                    pid: me,
                    dest: nth_dest(n)
                })
            );
        }
    }

    #[test]
    fn a_reused_pid_only_gets_tags_naming_what_it_asks_for() {
        let tags = SourceTags::default();
        let pid = exited_pid(0);
        let first: Vec<SourceTag> = (0..MAX_TAGS)
            .map(|n| tags.tag(pid, nth_dest(n)).unwrap())
            .collect();
        // A new process with the pid (the table still names the old one's pairs), then the
        // same pid asking again once its tags were reclaimed.
        for dest in [nth_dest(5), nth_dest(MAX_TAGS), nth_dest(5), nth_dest(6)] {
            let tag = tags.tag(pid, dest).unwrap();
            assert_eq!(
                tags.tagged(IpAddr::V4(tag.address())),
                Some(Tagged { pid, dest })
            );
        }
        let last = MAX_TAGS - 1;
        assert_eq!(
            tags.tag(pid, nth_dest(last)),
            Some(first[last]),
            "not swept yet"
        );
    }

    #[test]
    fn only_process_ids_that_kill_denies_count_as_exited() {
        assert!(process_exists(std::process::id()));
        assert!(process_exists(1), "init");
        assert!(!process_exists(exited_pid(0)));
        // Not process ids: kept, never reclaimed.
        assert!(process_exists(0));
        assert!(process_exists(u32::MAX));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!process_exists(pid), "a reaped child");
    }
}

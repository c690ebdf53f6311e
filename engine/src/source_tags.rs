//! The source tags this engine handed out with its redirects: which process and destination
//! each stands for (see [`mocket_control::source_tag`] for why a connection is introduced by
//! the address it comes from).
//!
//! A process gets one tag per destination, for the life of the engine: the shim keeps lasting
//! redirects, and a forked child (another pid) asks again and gets its own. The table is
//! bounded; past [`MAX_TAGS`] redirects carry no tag and their connections a preamble.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use mocket_control::source_tag::SourceTag;
use mocket_control::sync::lock;

/// How many (process, destination) pairs get a tag: far more than a test run's processes times
/// their destinations, and a bound on the table's memory (about 50 bytes a pair).
pub(crate) const MAX_TAGS: usize = 1 << 18;

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
    /// Tag number `n` stands for `issued[n]`.
    issued: Vec<Tagged>,
}

impl SourceTags {
    /// The tag of `pid`'s connections to `dest`, issued now if it has none; `None` when the
    /// table is full.
    pub fn tag(&self, pid: u32, dest: SocketAddr) -> Option<SourceTag> {
        let mut inner = lock(&self.inner);
        if let Some(tag) = inner.by_pair.get(&(pid, dest)) {
            return Some(*tag);
        }
        if inner.issued.len() >= MAX_TAGS {
            return None;
        }
        let tag = SourceTag::new(u32::try_from(inner.issued.len()).ok()?)?;
        inner.issued.push(Tagged { pid, dest });
        inner.by_pair.insert((pid, dest), tag);
        Some(tag)
    }

    /// Who a connection from `peer` is, when `peer` is a tag's address this engine issued.
    pub fn tagged(&self, peer: IpAddr) -> Option<Tagged> {
        let tag = tag_of(peer)?;
        lock(&self.inner).issued.get(tag.get() as usize).copied()
    }

    /// Whether `peer` carries a tag (issued or not): such a connection has no preamble.
    pub fn is_tag_address(peer: IpAddr) -> bool {
        tag_of(peer).is_some()
    }
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

    #[test]
    fn a_full_table_issues_no_more_tags() {
        let tags = SourceTags::default();
        for pid in 0..MAX_TAGS as u32 {
            assert!(tags.tag(pid, dest("198.18.0.1:80")).is_some());
        }
        assert_eq!(tags.tag(u32::MAX, dest("198.18.0.1:80")), None);
        // Pairs already tagged keep their tag.
        assert!(tags.tag(7, dest("198.18.0.1:80")).is_some());
    }
}

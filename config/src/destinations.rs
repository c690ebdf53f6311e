//! Which entries serve a destination (DESIGN.md sections 3 and 7): entries of its exact host
//! first, then those of the host patterns that cover it, nearest domain first, each in file
//! order (an exact host wins over a pattern).
//!
//! Exact hosts are one hash lookup; patterns add one lookup per parent domain of the host, and
//! nothing at all when the file has none, so patterns never slow exact-host entries down.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use mocket_protocols::field::Destination;
use mocket_protocols::host_pattern;

use crate::Entry;

#[derive(Debug, Clone, Default)]
pub struct DestinationIndex {
    /// Entries of exact hosts, in file order.
    exact: HashMap<Destination, Vec<usize>>,
    /// The hosts of `exact`, on any port.
    exact_hosts: HashSet<String>,
    /// Entries of `*.domain` patterns, by (domain, port), in file order.
    patterns: HashMap<(String, u16), Vec<usize>>,
    /// The domains of `patterns`, on any port.
    pattern_domains: HashSet<String>,
}

impl DestinationIndex {
    pub fn new(entries: &[Entry]) -> Self {
        let mut index = DestinationIndex::default();
        for (i, e) in entries.iter().enumerate() {
            let dest = e.destination();
            match host_pattern::pattern_domain(&dest.host) {
                Some(domain) => {
                    index.pattern_domains.insert(domain.to_string());
                    index
                        .patterns
                        .entry((domain.to_string(), dest.port))
                        .or_default()
                        .push(i);
                }
                None => {
                    index.exact_hosts.insert(dest.host.clone());
                    index.exact.entry(dest.clone()).or_default().push(i);
                }
            }
        }
        index
    }

    /// The entries for `dest`. `skip_patterns` is asked only when a pattern covers the host:
    /// true leaves the pattern's entries out (an exact allow rule names the host).
    pub fn entries_for(
        &self,
        dest: &Destination,
        skip_patterns: impl FnOnce() -> bool,
    ) -> Cow<'_, [usize]> {
        let exact = self.exact.get(dest).map_or(&[][..], Vec::as_slice);
        if self.patterns.is_empty() {
            return Cow::Borrowed(exact);
        }
        let mut found = host_pattern::parent_domains(&dest.host)
            .filter_map(|d| self.patterns.get(&(d.to_string(), dest.port)))
            .peekable();
        if found.peek().is_none() || skip_patterns() {
            return Cow::Borrowed(exact);
        }
        let mut all = exact.to_vec();
        for list in found {
            all.extend_from_slice(list);
        }
        Cow::Owned(all)
    }

    /// Whether an entry names `host` exactly, on any port.
    pub fn names_exactly(&self, host: &str) -> bool {
        self.exact_hosts.contains(host)
    }

    /// Whether a pattern of an entry covers `host`, on any port.
    pub fn pattern_covers(&self, host: &str) -> bool {
        !self.pattern_domains.is_empty()
            && host_pattern::parent_domains(host).any(|d| self.pattern_domains.contains(d))
    }
}

//! Unit tests of the stream model: what the differential tests cannot show (the clock,
//! blocking, the radix tree model on its own).

use super::*;

#[test]
fn radix_tree_nodes_as_redis_counts_them() {
    let id = |ms, seq| StreamId { ms, seq };
    let mut s = Stream::default();
    assert_eq!(s.rax_nodes(), 1);
    s.append(id(1, 1), vec![b"f".to_vec(), b"v".to_vec()]);
    assert_eq!(s.rax_nodes(), 2);
    for ms in 2..=101 {
        s.append(id(ms, 1), vec![b"f".to_vec(), b"v".to_vec()]);
    }
    // Two listpacks (100 entries, then 1), keyed 1-1 and 101-1: what redis-server reports.
    assert_eq!(s.nodes.len(), 2);
    assert_eq!(s.rax_nodes(), 6);
}

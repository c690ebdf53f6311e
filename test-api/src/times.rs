//! How many requests an entry expects: `.expect(1)`, `.expect(1..)`, `.expect(..=3)`,
//! `.expect(1..=3)`, `.expect(0)` (never).

use std::ops::{RangeFrom, RangeInclusive, RangeToInclusive};

/// A count of requests: at least `min`, at most `max` (`None`: unbounded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    pub min: Option<u64>,
    pub max: Option<u64>,
}

/// Counts given as signed literals (`expect(1)` infers `i32`) must not be negative.
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_else(|_| panic!("mocket: expect({n}): a count cannot be negative"))
}

macro_rules! times_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Times {
            fn from(n: $t) -> Times {
                let n = count(n as i64);
                Times { min: Some(n), max: Some(n) }
            }
        }
        impl From<RangeFrom<$t>> for Times {
            fn from(r: RangeFrom<$t>) -> Times {
                Times { min: Some(count(r.start as i64)), max: None }
            }
        }
        impl From<RangeToInclusive<$t>> for Times {
            fn from(r: RangeToInclusive<$t>) -> Times {
                Times { min: None, max: Some(count(r.end as i64)) }
            }
        }
        impl From<RangeInclusive<$t>> for Times {
            fn from(r: RangeInclusive<$t>) -> Times {
                Times { min: Some(count(*r.start() as i64)), max: Some(count(*r.end() as i64)) }
            }
        }
    )*};
}

times_from!(i32, u32, u64, usize);

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: impl Into<Times>) -> Times {
        n.into()
    }

    #[test]
    fn literals_and_ranges() {
        let exactly = |n| Times {
            min: Some(n),
            max: Some(n),
        };
        assert_eq!(t(1), exactly(1));
        assert_eq!(t(0), exactly(0));
        assert_eq!(t(3usize), exactly(3));
        assert_eq!(
            t(2u64..),
            Times {
                min: Some(2),
                max: None
            }
        );
        assert_eq!(
            t(..=3),
            Times {
                min: None,
                max: Some(3)
            }
        );
        assert_eq!(
            t(1..=3),
            Times {
                min: Some(1),
                max: Some(3)
            }
        );
    }

    #[test]
    #[should_panic(expected = "expect(-1): a count cannot be negative")]
    fn negative_counts_panic() {
        t(-1);
    }
}

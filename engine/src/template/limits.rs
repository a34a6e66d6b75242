//! Output caps for kplay's own filters, in the spirit of minijinja's own limits (its `range`
//! stops at 100,000 items): a template that would build millions of values or a string of
//! gigabytes fails with a clear template error instead of taking the controller's memory
//! (`range(12) | permutations | list` asked for 479 million tuples).

use super::op_err;
use minijinja::Error;

/// Most values (list items, or the items of all tuples together) one filter call may make.
pub const MAX_ITEMS: u128 = 1_000_000;

/// Longest string (in bytes) one filter call may make by padding or repeating.
pub const MAX_STRING: u128 = 64 * 1024 * 1024;

/// Refuse a result of `n` values.
pub fn items(filter: &str, n: u128) -> Result<(), Error> {
    if n > MAX_ITEMS {
        return Err(op_err(format!(
            "{filter}: the result would hold {n} values, more than kplay's limit of {MAX_ITEMS}"
        )));
    }
    Ok(())
}

/// Refuse a string result of `n` bytes.
pub fn string(filter: &str, n: u128) -> Result<(), Error> {
    if n > MAX_STRING {
        return Err(op_err(format!(
            "{filter}: the result would be {n} bytes long, more than kplay's limit of {MAX_STRING}"
        )));
    }
    Ok(())
}

/// `n! / (n-r)!`, saturating (enough to compare with a limit).
pub fn permutations(n: u128, r: u128) -> u128 {
    (n.saturating_sub(r) + 1..=n).fold(1u128, |acc, k| acc.saturating_mul(k))
}

/// `n choose r`, saturating.
pub fn combinations(n: u128, r: u128) -> u128 {
    if r > n {
        return 0;
    }
    let r = r.min(n - r);
    let mut acc: u128 = 1;
    for i in 0..r {
        acc = acc.saturating_mul(n - i) / (i + 1);
        if acc == u128::MAX {
            break;
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_match_itertools() {
        assert_eq!(permutations(12, 12), 479_001_600);
        assert_eq!(permutations(5, 2), 20);
        assert_eq!(combinations(5, 2), 10);
        assert_eq!(combinations(3, 5), 0);
        assert!(items("x", permutations(12, 12)).is_err());
        assert!(items("x", permutations(5, 5)).is_ok());
    }
}

//! Bucket-link resolution shared by every store: follow a chain of links to the real bucket,
//! with a visited set so a loop is reported as [`Error::LinkLoop`] instead of spinning, and a
//! missing bucket anywhere in the chain (a dangling link) as [`Error::NoSuchBucket`] naming the
//! bucket the caller asked for.

use crate::error::{Error, Result};
use crate::namespace::BucketPath;
use std::collections::HashSet;

/// What a store holds under a bucket name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketKind {
    /// A real bucket with a key space.
    Real,
    /// A link to another bucket (which may be a link itself, or missing).
    Link(BucketPath),
}

/// Follow links from `start`. `lookup` returns the record under a name, or `None` when there is
/// none.
pub fn resolve(
    start: &BucketPath,
    mut lookup: impl FnMut(&BucketPath) -> Result<Option<BucketKind>>,
) -> Result<BucketPath> {
    let mut seen: HashSet<BucketPath> = HashSet::new();
    let mut cur = start.clone();
    loop {
        if !seen.insert(cur.clone()) {
            return Err(Error::LinkLoop(cur.to_string()));
        }
        match lookup(&cur)? {
            None => return Err(Error::NoSuchBucket(start.bucket.clone())),
            Some(BucketKind::Real) => return Ok(cur),
            Some(BucketKind::Link(next)) => cur = next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn bp(b: &str) -> BucketPath {
        BucketPath::new("v", b)
    }

    #[test]
    fn chains_dangling_and_loops() {
        let mut m: HashMap<BucketPath, BucketKind> = HashMap::new();
        m.insert(bp("real"), BucketKind::Real);
        m.insert(bp("l1"), BucketKind::Link(bp("real")));
        m.insert(bp("l2"), BucketKind::Link(bp("l1")));
        m.insert(bp("dang"), BucketKind::Link(bp("gone")));
        m.insert(bp("x"), BucketKind::Link(bp("y")));
        m.insert(bp("y"), BucketKind::Link(bp("x")));
        let look = |p: &BucketPath| Ok(m.get(p).cloned());
        assert_eq!(resolve(&bp("l2"), look).unwrap(), bp("real"));
        assert!(matches!(resolve(&bp("dang"), look), Err(Error::NoSuchBucket(b)) if b == "dang"));
        assert!(matches!(resolve(&bp("x"), look), Err(Error::LinkLoop(_))));
        assert!(matches!(resolve(&bp("none"), look), Err(Error::NoSuchBucket(_))));
    }

    proptest! {
        /// Model: walk at most n+1 steps; a real bucket within n steps resolves, a missing one is
        /// NoSuchBucket, and a walk longer than the number of records must be a loop.
        #[test]
        fn matches_bounded_walk_model(
            targets in proptest::collection::vec(proptest::option::of(0usize..8), 0..8),
            real in proptest::collection::vec(any::<bool>(), 8),
            start in 0usize..8,
        ) {
            let mut m: HashMap<BucketPath, BucketKind> = HashMap::new();
            for (i, t) in targets.iter().enumerate() {
                let kind = match t {
                    Some(j) if !real[i] => BucketKind::Link(bp(&format!("b{j:02}"))),
                    _ => BucketKind::Real,
                };
                m.insert(bp(&format!("b{i:02}")), kind);
            }
            let mut cur = bp(&format!("b{start:02}"));
            let mut expected: Option<std::result::Result<BucketPath, &str>> = None;
            for _ in 0..=m.len() {
                match m.get(&cur) {
                    None => { expected = Some(Err("missing")); break; }
                    Some(BucketKind::Real) => { expected = Some(Ok(cur.clone())); break; }
                    Some(BucketKind::Link(n)) => cur = n.clone(),
                }
            }
            let got = resolve(&bp(&format!("b{start:02}")), |p| Ok(m.get(p).cloned()));
            match (expected, got) {
                (Some(Ok(a)), Ok(b)) => prop_assert_eq!(a, b),
                (Some(Err(_)), Err(Error::NoSuchBucket(_))) => {}
                (None, Err(Error::LinkLoop(_))) => {}
                (e, g) => prop_assert!(false, "model {:?} got {:?}", e, g),
            }
        }
    }
}

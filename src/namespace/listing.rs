//! The listing engine shared by every store: prefix, delimiter, start-after (with the rule that a
//! start-after which is itself a common prefix skips every key under it), `max_keys` counting
//! objects and common prefixes together, byte order, and `next_start_after`.
//!
//! The engine does not own the keys. It drives a *seek* function supplied by the store: "give me
//! the first key at or after (or strictly after) this byte string". A `BTreeMap` range or a redb
//! range scan answers that in O(log n), so skipping a whole common prefix (a sub-directory with a
//! million keys) costs one seek, and a page costs O(page) seeks.

use crate::error::Result;
use std::ops::Bound;

/// A page produced by [`list_page`], generic over what the store keeps per key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing<T> {
    pub objects: Vec<(String, T)>,
    pub common_prefixes: Vec<String>,
    /// Directory markers: for a common prefix whose own key is stored (the object `dir/` behind
    /// the common prefix `dir/`), that key and its value, in the order of `common_prefixes`.
    /// Seen for free: the marker is the first key under its prefix.
    pub markers: Vec<(String, T)>,
    pub is_truncated: bool,
    pub next_start_after: Option<String>,
}

impl<T> Default for Listing<T> {
    fn default() -> Self {
        Listing {
            objects: Vec::new(),
            common_prefixes: Vec::new(),
            markers: Vec::new(),
            is_truncated: false,
            next_start_after: None,
        }
    }
}

/// The smallest byte string greater than every string that starts with `p`, or `None` when no
/// such string exists (`p` is empty or all `0xff`).
pub fn prefix_successor(p: &[u8]) -> Option<Vec<u8>> {
    let mut v = p.to_vec();
    while let Some(last) = v.pop() {
        if last < 0xff {
            v.push(last + 1);
            return Some(v);
        }
    }
    None
}

/// If `key` (which must start with `prefix`) falls under a common prefix of a listing with this
/// prefix and delimiter, return the length of that common prefix.
pub fn common_prefix_len(key: &str, prefix: &str, delimiter: &str) -> Option<usize> {
    if delimiter.is_empty() || !key.starts_with(prefix) {
        return None;
    }
    let rest = &key[prefix.len()..];
    rest.find(delimiter).map(|i| prefix.len() + i + delimiter.len())
}

/// List one page. `seek(bound)` returns the first stored key satisfying the lower `bound` (in byte
/// order) with its value, or `None` past the last key of the bucket.
pub fn list_page<T>(
    prefix: &str,
    delimiter: Option<&str>,
    start_after: Option<&str>,
    max_keys: usize,
    mut seek: impl FnMut(Bound<&[u8]>) -> Result<Option<(String, T)>>,
) -> Result<Listing<T>> {
    let delimiter = delimiter.filter(|d| !d.is_empty());
    let mut page = Listing::default();
    // Where to start: the later of the prefix and start-after.
    let mut bound: Bound<Vec<u8>> = Bound::Included(prefix.as_bytes().to_vec());
    if let Some(sa) = start_after {
        let skip_len = delimiter.and_then(|d| common_prefix_len(sa, prefix, d));
        let sa_bound = match skip_len {
            // start-after is exactly a common prefix: skip everything under it.
            Some(n) if n == sa.len() => match prefix_successor(sa.as_bytes()) {
                Some(s) => Bound::Included(s),
                None => return Ok(page),
            },
            _ => Bound::Excluded(sa.as_bytes().to_vec()),
        };
        let later = match (&bound, &sa_bound) {
            (Bound::Included(p), Bound::Included(s) | Bound::Excluded(s)) => s.as_slice() >= p.as_slice(),
            _ => true,
        };
        if later {
            bound = sa_bound;
        }
    }
    if max_keys == 0 {
        return Ok(page);
    }
    let mut count = 0usize;
    loop {
        let b = match &bound {
            Bound::Included(v) => Bound::Included(v.as_slice()),
            Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
            Bound::Unbounded => Bound::Unbounded,
        };
        let Some((key, value)) = seek(b)? else { break };
        if !key.starts_with(prefix) {
            break;
        }
        if count == max_keys {
            page.is_truncated = true;
            break;
        }
        count += 1;
        if let Some(n) = delimiter.and_then(|d| common_prefix_len(&key, prefix, d)) {
            let cp = key[..n].to_string();
            if key.len() == n {
                page.markers.push((key.clone(), value));
            }
            match prefix_successor(cp.as_bytes()) {
                Some(s) => bound = Bound::Included(s),
                None => {
                    page.common_prefixes.push(cp);
                    break;
                }
            }
            page.next_start_after = Some(cp.clone());
            page.common_prefixes.push(cp);
        } else {
            bound = Bound::Excluded(key.as_bytes().to_vec());
            page.next_start_after = Some(key.clone());
            page.objects.push((key, value));
        }
    }
    if !page.is_truncated {
        page.next_start_after = None;
    }
    Ok(page)
}

/// Seek over a `BTreeMap<Vec<u8>, T>` (the in-memory store and tests).
pub fn seek_btree<'a, T: Clone>(
    map: &'a std::collections::BTreeMap<Vec<u8>, T>,
) -> impl FnMut(Bound<&[u8]>) -> Result<Option<(String, T)>> + 'a {
    move |b| {
        Ok(map
            .range::<[u8], _>((b, Bound::Unbounded))
            .next()
            .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), v.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn map(keys: &[&str]) -> BTreeMap<Vec<u8>, ()> {
        keys.iter().map(|k| (k.as_bytes().to_vec(), ())).collect()
    }

    fn names(l: &Listing<()>) -> (Vec<String>, Vec<String>) {
        (
            l.objects.iter().map(|(k, _)| k.clone()).collect(),
            l.common_prefixes.clone(),
        )
    }

    #[test]
    fn delimiter_and_prefix() {
        let m = map(&["a", "b/1", "b/2", "c/x/y", "d"]);
        let l = list_page("", Some("/"), None, 1000, seek_btree(&m)).unwrap();
        assert_eq!(
            names(&l),
            (vec!["a".into(), "d".into()], vec!["b/".into(), "c/".into()])
        );
        assert!(!l.is_truncated);
        let l = list_page("c/", Some("/"), None, 1000, seek_btree(&m)).unwrap();
        assert_eq!(names(&l), (vec![], vec!["c/x/".into()]));
    }

    #[test]
    fn start_after_common_prefix_skips_it() {
        let m = map(&["a", "b/1", "b/2", "c"]);
        let l = list_page("", Some("/"), None, 2, seek_btree(&m)).unwrap();
        assert_eq!(names(&l), (vec!["a".into()], vec!["b/".into()]));
        assert!(l.is_truncated);
        assert_eq!(l.next_start_after.as_deref(), Some("b/"));
        let l = list_page("", Some("/"), Some("b/"), 2, seek_btree(&m)).unwrap();
        assert_eq!(names(&l), (vec!["c".into()], vec![]));
        assert!(!l.is_truncated);
        // Without a delimiter, "b/" is just a key bound.
        let l = list_page("", None, Some("b/"), 10, seek_btree(&m)).unwrap();
        assert_eq!(l.objects.len(), 3);
    }

    #[test]
    fn markers_of_common_prefixes_are_reported() {
        let m = map(&["a", "b/", "b/1", "c/x", "d/", "e"]);
        let l = list_page("", Some("/"), None, 1000, seek_btree(&m)).unwrap();
        assert_eq!(
            names(&l),
            (
                vec!["a".into(), "e".into()],
                vec!["b/".into(), "c/".into(), "d/".into()]
            )
        );
        let markers: Vec<&str> = l.markers.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(markers, ["b/", "d/"], "c/ has no marker");
        // Resumed inside b/: its marker is not seen, so not reported.
        let l = list_page("", Some("/"), Some("b/0"), 1000, seek_btree(&m)).unwrap();
        assert_eq!(l.common_prefixes.first().map(String::as_str), Some("b/"));
        assert_eq!(l.markers.first().map(|(k, _)| k.as_str()), Some("d/"));
    }

    #[test]
    fn exact_fit_is_not_truncated() {
        let m = map(&["a", "b"]);
        let l = list_page("", None, None, 2, seek_btree(&m)).unwrap();
        assert!(!l.is_truncated);
        assert_eq!(l.next_start_after, None);
    }

    #[test]
    fn successor() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[b'a', 0xff]), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(&[0xff]), None);
    }

    /// The model: the whole listing computed naively.
    fn model(keys: &BTreeSet<String>, prefix: &str, delim: Option<&str>) -> Vec<(bool, String)> {
        let mut out: Vec<(bool, String)> = Vec::new();
        for k in keys.iter().filter(|k| k.starts_with(prefix)) {
            match delim.and_then(|d| common_prefix_len(k, prefix, d)) {
                Some(n) => {
                    let cp = k[..n].to_string();
                    if !out.iter().any(|(is_cp, e)| *is_cp && *e == cp) {
                        out.push((true, cp));
                    }
                }
                None => out.push((false, k.clone())),
            }
        }
        out.sort_by(|a, b| a.1.cmp(&b.1));
        out
    }

    proptest! {
        #[test]
        fn pagination_equals_model(
            keys in proptest::collection::btree_set("[ab/]{1,5}", 0..40),
            prefix in "[ab/]{0,2}",
            use_delim in any::<bool>(),
            max in 1usize..6,
        ) {
            let m: BTreeMap<Vec<u8>, ()> = keys.iter().map(|k| (k.as_bytes().to_vec(), ())).collect();
            let delim = if use_delim { Some("/") } else { None };
            let mut got: Vec<(bool, String)> = Vec::new();
            let mut start: Option<String> = None;
            for _ in 0..100 {
                let l = list_page(&prefix, delim, start.as_deref(), max, seek_btree(&m)).unwrap();
                prop_assert!(l.objects.len() + l.common_prefixes.len() <= max);
                let mut page: Vec<(bool, String)> = l.objects.iter().map(|(k, _)| (false, k.clone())).collect();
                page.extend(l.common_prefixes.iter().map(|p| (true, p.clone())));
                page.sort_by(|a, b| a.1.cmp(&b.1));
                got.extend(page);
                if !l.is_truncated {
                    break;
                }
                start = l.next_start_after.clone();
                prop_assert!(start.is_some());
            }
            prop_assert_eq!(got, model(&keys, &prefix, delim));
        }

        /// Any start-after with a delimiter: a key is listed when it is after start-after; a common
        /// prefix when one of its keys is, unless start-after is that common prefix itself.
        #[test]
        fn start_after_with_delimiter_like_model(
            keys in proptest::collection::btree_set("[ab/]{1,5}", 0..30),
            prefix in "[ab/]{0,1}",
            sa in "[ab/]{0,4}",
        ) {
            let m: BTreeMap<Vec<u8>, ()> = keys.iter().map(|k| (k.as_bytes().to_vec(), ())).collect();
            let l = list_page(&prefix, Some("/"), Some(&sa), 1000, seek_btree(&m)).unwrap();
            let mut want_keys = Vec::new();
            let mut want_cps: Vec<String> = Vec::new();
            for k in keys.iter().filter(|k| k.starts_with(prefix.as_str()) && k.as_str() > sa.as_str()) {
                match common_prefix_len(k, &prefix, "/") {
                    Some(n) => {
                        let cp = k[..n].to_string();
                        if cp != sa && !want_cps.contains(&cp) {
                            want_cps.push(cp);
                        }
                    }
                    None => want_keys.push(k.clone()),
                }
            }
            let (got_keys, got_cps) = names(&l);
            prop_assert_eq!(got_keys, want_keys);
            prop_assert_eq!(got_cps, want_cps);
        }

        #[test]
        fn start_after_filters_like_model(
            keys in proptest::collection::btree_set("[ab/]{1,5}", 0..30),
            sa in "[ab/]{1,4}",
        ) {
            let m: BTreeMap<Vec<u8>, ()> = keys.iter().map(|k| (k.as_bytes().to_vec(), ())).collect();
            let l = list_page("", None, Some(&sa), 1000, seek_btree(&m)).unwrap();
            let want: Vec<String> = keys.iter().filter(|k| k.as_str() > sa.as_str()).cloned().collect();
            let got: Vec<String> = l.objects.into_iter().map(|(k, _)| k).collect();
            prop_assert_eq!(got, want);
        }
    }
}

//! Multipart rules shared by every store: validation of a CompleteMultipartUpload part list
//! (order first, then each part's existence and ETag, then the minimum size of every part but
//! the last) and the AWS multipart ETag (MD5 of the concatenated binary part MD5s, `-N`).

use crate::error::{Error, Result};
use crate::store::{CompletedPart, PartInfo, UploadInfo, UploadsPage, MAX_PART_NUMBER, MIN_PART_SIZE};
use md5::{Digest, Md5};
use std::collections::BTreeMap;

/// Check a part number of UploadPart (1..=10000).
pub fn check_part_number(n: u32) -> Result<()> {
    if (1..=MAX_PART_NUMBER).contains(&n) {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "part number {n} must be an integer between 1 and {MAX_PART_NUMBER}"
        )))
    }
}

/// Strip the quotes a client may have kept around an ETag.
pub fn unquote(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

/// Validate the parts named by a complete request. `uploaded(n)` returns the stored ETag (hex
/// MD5) and size of part `n`. Returns the multipart ETag (`hex-N`).
pub fn validate_complete(
    requested: &[CompletedPart],
    mut uploaded: impl FnMut(u32) -> Option<(String, u64)>,
) -> Result<String> {
    if requested.is_empty() {
        return Err(Error::InvalidArgument("at least one part must be specified".into()));
    }
    if requested.windows(2).any(|w| w[0].part_number >= w[1].part_number) {
        return Err(Error::InvalidPartOrder);
    }
    let mut found = Vec::with_capacity(requested.len());
    for p in requested {
        match uploaded(p.part_number) {
            Some((etag, size)) if etag.eq_ignore_ascii_case(unquote(&p.etag)) => {
                found.push((p.part_number, etag, size))
            }
            Some(_) => {
                return Err(Error::InvalidPart(format!(
                    "part {} has another ETag than {}",
                    p.part_number, p.etag
                )))
            }
            None => return Err(Error::InvalidPart(format!("part {} was not uploaded", p.part_number))),
        }
    }
    let last = found.len() - 1;
    for (i, (n, _, size)) in found.iter().enumerate() {
        if i != last && *size < MIN_PART_SIZE {
            return Err(Error::EntityTooSmall { part: *n });
        }
    }
    multipart_etag(found.iter().map(|(_, e, _)| e.as_str()))
}

/// AWS's multipart ETag from the parts' hex MD5s.
pub fn multipart_etag<'a>(part_etags: impl IntoIterator<Item = &'a str>) -> Result<String> {
    let mut h = Md5::new();
    let mut n = 0usize;
    for e in part_etags {
        let bin = hex::decode(e).map_err(|_| Error::InvalidPart(format!("stored part ETag {e:?} is not hex")))?;
        h.update(&bin);
        n += 1;
    }
    Ok(format!("{}-{n}", hex::encode(h.finalize())))
}

/// The composite checksums of a completed upload: for each algorithm every named part carries,
/// the checksum of the parts' binary checksums, `-N` (S3's COMPOSITE type). `parts` are the named
/// parts' checksum maps in order.
pub fn composite_checksums(parts: &[&BTreeMap<String, String>]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(first) = parts.first() else { return out };
    for name in first.keys() {
        let Some(alg) = crate::checksum::Algorithm::from_name(name) else {
            continue;
        };
        let values: Option<Vec<&str>> = parts.iter().map(|p| p.get(name).map(String::as_str)).collect();
        if let Some(Ok(c)) = values.map(|v| crate::checksum::composite(alg, &v)) {
            out.insert(name.clone(), c);
        }
    }
    out
}

/// One page of ListParts from the parts in ascending order: parts after `marker`, at most `max`.
/// Returns the page, whether more follow, and the next marker when they do.
pub fn page_parts(
    parts: impl IntoIterator<Item = PartInfo>,
    marker: u32,
    max: usize,
) -> (Vec<PartInfo>, bool, Option<u32>) {
    let mut out = Vec::new();
    let mut truncated = false;
    for p in parts.into_iter().filter(|p| p.part_number > marker) {
        if out.len() == max {
            truncated = true;
            break;
        }
        out.push(p);
    }
    let next = if truncated {
        out.last().map(|p| p.part_number)
    } else {
        None
    };
    (out, truncated, next)
}

/// One page of ListMultipartUploads from uploads ordered by (key, upload id), where upload ids
/// sort in initiation order. Without an upload-id marker the key marker excludes its own key.
pub fn page_uploads(
    uploads: impl IntoIterator<Item = UploadInfo>,
    prefix: &str,
    key_marker: Option<&str>,
    upload_id_marker: Option<&str>,
    max: usize,
) -> UploadsPage {
    let after = |u: &UploadInfo| match (key_marker, upload_id_marker) {
        (None, _) => true,
        (Some(k), None) => u.key.as_str() > k,
        (Some(k), Some(id)) => u.key.as_str() > k || (u.key == k && u.upload_id.as_str() > id),
    };
    let mut page = UploadsPage::default();
    for u in uploads.into_iter().filter(|u| u.key.starts_with(prefix) && after(u)) {
        if page.uploads.len() == max {
            page.is_truncated = true;
            break;
        }
        page.uploads.push(u);
    }
    if page.is_truncated {
        if let Some(last) = page.uploads.last() {
            page.next_key_marker = Some(last.key.clone());
            page.next_upload_id_marker = Some(last.upload_id.clone());
        }
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(n: u32, e: &str) -> CompletedPart {
        CompletedPart {
            part_number: n,
            etag: e.to_string(),
        }
    }

    #[test]
    fn rules_in_order() {
        let big = MIN_PART_SIZE;
        let parts: BTreeMap<u32, (String, u64)> = [
            (1, ("0cc175b9c0f1b6a831c399e269772661".to_string(), big)),
            (2, ("92eb5ffee6ae2fec3ad71c777531578f".to_string(), 10)),
            (3, ("4a8a08f09d37b73795649038408b5f33".to_string(), 10)),
        ]
        .into();
        let up = |n| parts.get(&n).cloned();
        // Order is checked before ETags.
        assert!(matches!(
            validate_complete(&[cp(2, "x"), cp(1, "y")], up),
            Err(Error::InvalidPartOrder)
        ));
        assert!(matches!(
            validate_complete(&[cp(1, "0cc175b9c0f1b6a831c399e269772661"), cp(4, "x")], up),
            Err(Error::InvalidPart(_))
        ));
        assert!(matches!(
            validate_complete(&[cp(1, "bad")], up),
            Err(Error::InvalidPart(_))
        ));
        assert!(matches!(
            validate_complete(
                &[
                    cp(2, "92eb5ffee6ae2fec3ad71c777531578f"),
                    cp(3, "4a8a08f09d37b73795649038408b5f33")
                ],
                up
            ),
            Err(Error::EntityTooSmall { part: 2 })
        ));
        let etag = validate_complete(
            &[
                cp(1, "\"0cc175b9c0f1b6a831c399e269772661\""),
                cp(3, "4a8a08f09d37b73795649038408b5f33"),
            ],
            up,
        )
        .unwrap();
        assert!(etag.ends_with("-2"));
        assert!(check_part_number(0).is_err());
        assert!(check_part_number(10_001).is_err());
        assert!(check_part_number(10_000).is_ok());
    }

    #[test]
    fn etag_is_md5_of_binary_digests() {
        // md5("a") and md5("b"); the expected value is md5 of their 32 binary bytes.
        let a = "0cc175b9c0f1b6a831c399e269772661";
        let b = "92eb5ffee6ae2fec3ad71c777531578f";
        let mut bin = hex::decode(a).unwrap();
        bin.extend(hex::decode(b).unwrap());
        let want = format!("{}-2", hex::encode(Md5::digest(&bin)));
        assert_eq!(multipart_etag([a, b]).unwrap(), want);
    }
}

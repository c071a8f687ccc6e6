//! The byte encoding of the embedded store's metadata records. The workspace has no serde, and
//! the records are few and flat, so each has a hand-written length-prefixed little-endian
//! encoding. Decoding never panics: a short or malformed record is [`Error::Storage`].

use crate::error::{Error, Result};
use crate::namespace::BucketPath;
use crate::store::{BucketLayout, Grant, ObjectAttrs};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Appends fields to a record.
#[derive(Default)]
pub struct Enc(pub Vec<u8>);

impl Enc {
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.u32(s.len() as u32);
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    pub fn opt_str(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            Some(s) => self.u8(1).str(s),
            None => self.u8(0),
        }
    }
    pub fn time(&mut self, t: SystemTime) -> &mut Self {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        self.u64(d.as_secs()).u32(d.subsec_nanos())
    }
    pub fn map(&mut self, m: &BTreeMap<String, String>) -> &mut Self {
        self.u32(m.len() as u32);
        for (k, v) in m {
            self.str(k).str(v);
        }
        self
    }
    pub fn attrs(&mut self, a: &ObjectAttrs) -> &mut Self {
        self.opt_str(a.content_type.as_deref())
            .map(&a.headers)
            .map(&a.user)
            .map(&a.tags)
            .opt_str(a.storage_class.as_deref())
            .map(&a.checksums)
    }
    /// ACL grants. (The object records write their attributes' grants at the end, where older
    /// records simply stop.)
    pub fn grants(&mut self, g: &[Grant]) -> &mut Self {
        self.u32(g.len() as u32);
        for g in g {
            self.str(&g.grantee).str(&g.permission);
        }
        self
    }
}

/// Reads fields of a record in the order they were written.
pub struct Dec<'a>(pub &'a [u8]);

fn short() -> Error {
    Error::storage("metadata record is truncated")
}

impl<'a> Dec<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(short());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes(b.try_into().map_err(|_| short())?))
    }
    pub fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().map_err(|_| short())?))
    }
    pub fn str(&mut self) -> Result<String> {
        let n = self.u32()? as usize;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| Error::storage("metadata string is not UTF-8"))
    }
    pub fn opt_str(&mut self) -> Result<Option<String>> {
        match self.u8()? {
            0 => Ok(None),
            _ => self.str().map(Some),
        }
    }
    pub fn time(&mut self) -> Result<SystemTime> {
        let s = self.u64()?;
        let n = self.u32()?;
        Ok(UNIX_EPOCH + Duration::new(s, n.min(999_999_999)))
    }
    pub fn map(&mut self) -> Result<BTreeMap<String, String>> {
        let n = self.u32()?;
        let mut m = BTreeMap::new();
        for _ in 0..n {
            let k = self.str()?;
            let v = self.str()?;
            m.insert(k, v);
        }
        Ok(m)
    }
    pub fn attrs(&mut self) -> Result<ObjectAttrs> {
        Ok(ObjectAttrs {
            content_type: self.opt_str()?,
            headers: self.map()?,
            user: self.map()?,
            tags: self.map()?,
            storage_class: self.opt_str()?,
            checksums: self.map()?,
            acl: Vec::new(),
        })
    }
    pub fn grants(&mut self) -> Result<Vec<Grant>> {
        let n = self.u32()?;
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(Grant {
                grantee: self.str()?,
                permission: self.str()?,
            });
        }
        Ok(out)
    }
    /// Grants written at the end of a record; none when the record predates them.
    pub fn trailing_grants(&mut self) -> Result<Vec<Grant>> {
        if self.0.is_empty() {
            Ok(Vec::new())
        } else {
            self.grants()
        }
    }
}

/// A volume record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeRec {
    pub owner: String,
    pub created: SystemTime,
}

impl VolumeRec {
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc::default();
        e.str(&self.owner).time(self.created);
        e.0
    }
    pub fn decode(b: &[u8]) -> Result<Self> {
        let mut d = Dec(b);
        Ok(VolumeRec {
            owner: d.str()?,
            created: d.time()?,
        })
    }
}

/// A bucket or link record. `id` names the key space of a real bucket (0 for a link).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketRec {
    pub id: u64,
    pub owner: String,
    pub created: SystemTime,
    pub link_target: Option<BucketPath>,
    pub acl: Vec<Grant>,
    pub tags: BTreeMap<String, String>,
    pub lifecycle: Option<String>,
    pub layout: BucketLayout,
}

impl BucketRec {
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc::default();
        e.u64(self.id).str(&self.owner).time(self.created);
        match &self.link_target {
            Some(t) => e.u8(1).str(&t.volume).str(&t.bucket),
            None => e.u8(0),
        };
        e.grants(&self.acl);
        // Added after the first release: read as absent from older records.
        e.map(&self.tags)
            .opt_str(self.lifecycle.as_deref())
            .str(self.layout.as_str());
        e.0
    }
    pub fn decode(b: &[u8]) -> Result<Self> {
        let mut d = Dec(b);
        let id = d.u64()?;
        let owner = d.str()?;
        let created = d.time()?;
        let link_target = match d.u8()? {
            0 => None,
            _ => Some(BucketPath::new(d.str()?, d.str()?)),
        };
        let acl = d.grants()?;
        let (tags, lifecycle, layout) = if d.0.is_empty() {
            (BTreeMap::new(), None, BucketLayout::default())
        } else {
            (d.map()?, d.opt_str()?, d.str()?.parse()?)
        };
        Ok(BucketRec {
            id,
            owner,
            created,
            link_target,
            acl,
            tags,
            lifecycle,
            layout,
        })
    }
}

/// One data file of an object: its file id (a version number) and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub file: u64,
    pub size: u64,
}

/// An object record: the object's info and the data files its bytes are in, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRec {
    pub size: u64,
    pub etag: String,
    pub last_modified: SystemTime,
    pub version: u64,
    pub owner: String,
    pub attrs: ObjectAttrs,
    /// Made by a multipart upload: each segment is a part.
    pub multipart: bool,
    pub segments: Vec<Segment>,
    /// The bytes are kept in the `inline` table under `version` (a small object), not in files.
    pub inline: bool,
    /// A multipart object's part numbers as uploaded, one per segment (a trailing field: empty
    /// in older records, meaning `1..=N`).
    pub part_numbers: Vec<u32>,
}

impl ObjectRec {
    /// A single-part object, version `version`, of the body digested as `d`, written now:
    /// stored `inline` (in the inline table), or in the data file numbered like the version.
    pub fn single(
        version: u64,
        d: crate::namespace::rules::Digests,
        owner: String,
        mut attrs: ObjectAttrs,
        inline: bool,
    ) -> ObjectRec {
        attrs.checksums = d.checksums;
        ObjectRec {
            size: d.len,
            etag: d.etag,
            last_modified: SystemTime::now(),
            version,
            owner,
            attrs,
            multipart: false,
            segments: if inline {
                Vec::new()
            } else {
                vec![Segment {
                    file: version,
                    size: d.len,
                }]
            },
            inline,
            part_numbers: Vec::new(),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc::default();
        e.u64(self.size)
            .str(&self.etag)
            .time(self.last_modified)
            .u64(self.version)
            .str(&self.owner)
            .attrs(&self.attrs)
            .u8(self.multipart as u8)
            .u32(self.segments.len() as u32);
        for s in &self.segments {
            e.u64(s.file).u64(s.size);
        }
        e.u8(self.inline as u8);
        e.grants(&self.attrs.acl);
        if !self.part_numbers.is_empty() {
            e.u32(self.part_numbers.len() as u32);
            for n in &self.part_numbers {
                e.u32(*n);
            }
        }
        e.0
    }
    pub fn decode(b: &[u8]) -> Result<Self> {
        let mut d = Dec(b);
        let size = d.u64()?;
        let etag = d.str()?;
        let last_modified = d.time()?;
        let version = d.u64()?;
        let owner = d.str()?;
        let mut attrs = d.attrs()?;
        let multipart = d.u8()? != 0;
        let n = d.u32()?;
        let mut segments = Vec::new();
        for _ in 0..n {
            segments.push(Segment {
                file: d.u64()?,
                size: d.u64()?,
            });
        }
        let inline = d.u8()? != 0;
        attrs.acl = d.trailing_grants()?;
        let mut part_numbers = Vec::new();
        if !d.0.is_empty() {
            let n = d.u32()?;
            for _ in 0..n {
                part_numbers.push(d.u32()?);
            }
        }
        Ok(ObjectRec {
            size,
            etag,
            last_modified,
            version,
            owner,
            attrs,
            multipart,
            segments,
            inline,
            part_numbers,
        })
    }
}

/// An unfinished multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRec {
    pub initiated: SystemTime,
    pub owner: String,
    pub attrs: ObjectAttrs,
}

impl UploadRec {
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc::default();
        e.time(self.initiated)
            .str(&self.owner)
            .attrs(&self.attrs)
            .grants(&self.attrs.acl);
        e.0
    }
    pub fn decode(b: &[u8]) -> Result<Self> {
        let mut d = Dec(b);
        let initiated = d.time()?;
        let owner = d.str()?;
        let mut attrs = d.attrs()?;
        attrs.acl = d.trailing_grants()?;
        Ok(UploadRec {
            initiated,
            owner,
            attrs,
        })
    }
}

/// An uploaded part and its data file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRec {
    pub etag: String,
    pub size: u64,
    pub last_modified: SystemTime,
    pub checksums: BTreeMap<String, String>,
    pub file: u64,
}

impl PartRec {
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc::default();
        e.str(&self.etag)
            .u64(self.size)
            .time(self.last_modified)
            .map(&self.checksums)
            .u64(self.file);
        e.0
    }
    pub fn decode(b: &[u8]) -> Result<Self> {
        let mut d = Dec(b);
        Ok(PartRec {
            etag: d.str()?,
            size: d.u64()?,
            last_modified: d.time()?,
            checksums: d.map()?,
            file: d.u64()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let mut attrs = ObjectAttrs {
            content_type: Some("text/plain".into()),
            storage_class: Some("STANDARD".into()),
            ..Default::default()
        };
        attrs.user.insert("a".into(), "b".into());
        attrs.tags.insert("t".into(), "".into());
        attrs.acl.push(Grant {
            grantee: "AllUsers".into(),
            permission: "READ".into(),
        });
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123);
        let o = ObjectRec {
            size: 10,
            etag: "e".into(),
            last_modified: t,
            version: 7,
            owner: "o".into(),
            attrs: attrs.clone(),
            multipart: true,
            segments: vec![Segment { file: 1, size: 4 }, Segment { file: 2, size: 6 }],
            inline: false,
            part_numbers: vec![1, 3],
        };
        assert_eq!(ObjectRec::decode(&o.encode()).unwrap(), o);
        let b = BucketRec {
            id: 3,
            owner: "x".into(),
            created: t,
            link_target: Some(BucketPath::new("v", "b")),
            acl: vec![Grant {
                grantee: "g".into(),
                permission: "READ".into(),
            }],
            tags: BTreeMap::from([("k".to_string(), "v".to_string())]),
            lifecycle: Some("<LifecycleConfiguration/>".into()),
            layout: BucketLayout::FileSystemOptimized,
        };
        assert_eq!(BucketRec::decode(&b.encode()).unwrap(), b);
        let p = PartRec {
            etag: "e".into(),
            size: 1,
            last_modified: t,
            checksums: BTreeMap::new(),
            file: 9,
        };
        assert_eq!(PartRec::decode(&p.encode()).unwrap(), p);
        let u = UploadRec {
            initiated: t,
            owner: "o".into(),
            attrs,
        };
        assert_eq!(UploadRec::decode(&u.encode()).unwrap(), u);
        assert!(ObjectRec::decode(&o.encode()[..5]).is_err());
        // Records written before the trailing fields existed still decode.
        let mut old = o.clone();
        old.attrs.acl.clear();
        old.part_numbers.clear();
        let enc = old.encode();
        assert_eq!(ObjectRec::decode(&enc[..enc.len() - 4]).unwrap(), old);
        // ... and records with grants but without part numbers.
        let mut no_numbers = o.clone();
        no_numbers.part_numbers.clear();
        let enc = o.encode();
        assert_eq!(ObjectRec::decode(&enc[..enc.len() - 12]).unwrap(), no_numbers);
    }
}

//! Bucket lifecycle configuration: the rule model, its parser and canonical rendering, and the
//! pure decisions the expiration sweep makes ("is this object expired at time T", "is this
//! upload to be aborted at time T").
//!
//! The S3 endpoint validates a PutBucketLifecycleConfiguration document with [`parse`] and
//! stores [`Configuration::to_xml`] of the result (so IDs it had to generate are kept); GET
//! parses the stored document and renders it again. The store itself only keeps the text
//! ([`crate::BucketUpdate::Lifecycle`]). [`sweep`] applies the rules to a store.
//!
//! Validation follows AWS: at most 1000 rules with unique IDs of at most 255 characters; Status
//! `Enabled` or `Disabled`; a rule selects keys with either the legacy top-level `Prefix` or a
//! `Filter` holding exactly one of `Prefix`, `Tag`, `ObjectSizeGreaterThan`,
//! `ObjectSizeLessThan` or `And` (or nothing: every key); every rule has an action. Expiration
//! is exactly one of `Days` (> 0), `Date` (midnight UTC) or `ExpiredObjectDeleteMarker`.
//! `AbortIncompleteMultipartUpload` needs `DaysAfterInitiation` > 0 and no tag filter.
//! `NoncurrentVersionExpiration` is accepted and kept (there are no noncurrent versions here, so
//! it never acts); `Transition` and `NoncurrentVersionTransition` are refused (one storage tier).

pub mod sweep;

use crate::xml::{self, Element};
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Most rules in one configuration (AWS's limit).
pub const MAX_RULES: usize = 1000;
/// Longest rule ID.
pub const MAX_ID_LEN: usize = 255;

/// Why a document was refused; the S3 edge maps each kind to AWS's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleError {
    /// Not the expected XML shape (MalformedXML).
    Malformed(String),
    /// Well-formed but an invalid value (InvalidArgument).
    InvalidArgument(String),
    /// A valid action this server does not perform (NotImplemented).
    NotImplemented(String),
}

impl std::fmt::Display for LifecycleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LifecycleError::Malformed(m) | LifecycleError::InvalidArgument(m) | LifecycleError::NotImplemented(m) => {
                f.write_str(m)
            }
        }
    }
}

type Res<T> = Result<T, LifecycleError>;

fn malformed<T>(m: impl Into<String>) -> Res<T> {
    Err(LifecycleError::Malformed(m.into()))
}
fn invalid<T>(m: impl Into<String>) -> Res<T> {
    Err(LifecycleError::InvalidArgument(m.into()))
}

/// Which keys a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// The legacy `<Prefix>` directly in the rule.
    LegacyPrefix(String),
    /// `<Filter/>` or `<Filter></Filter>`: every key.
    All,
    Prefix(String),
    Tag(String, String),
    SizeGreaterThan(u64),
    SizeLessThan(u64),
    /// `<And>`: every condition given must hold.
    And {
        prefix: Option<String>,
        tags: Vec<(String, String)>,
        size_greater_than: Option<u64>,
        size_less_than: Option<u64>,
    },
}

impl Filter {
    /// The key prefix the filter requires ("" for none).
    pub fn prefix(&self) -> &str {
        match self {
            Filter::LegacyPrefix(p) | Filter::Prefix(p) => p,
            Filter::And { prefix: Some(p), .. } => p,
            _ => "",
        }
    }

    fn has_tags(&self) -> bool {
        matches!(self, Filter::Tag(..)) || matches!(self, Filter::And { tags, .. } if !tags.is_empty())
    }

    /// Does an object with this key, size and tags match?
    pub fn matches(&self, key: &str, size: u64, tags: &std::collections::BTreeMap<String, String>) -> bool {
        let tag_ok = |k: &String, v: &String| tags.get(k) == Some(v);
        match self {
            Filter::LegacyPrefix(p) | Filter::Prefix(p) => key.starts_with(p.as_str()),
            Filter::All => true,
            Filter::Tag(k, v) => tag_ok(k, v),
            Filter::SizeGreaterThan(n) => size > *n,
            Filter::SizeLessThan(n) => size < *n,
            Filter::And {
                prefix,
                tags: want,
                size_greater_than,
                size_less_than,
            } => {
                prefix.as_deref().is_none_or(|p| key.starts_with(p))
                    && want.iter().all(|(k, v)| tag_ok(k, v))
                    && size_greater_than.is_none_or(|n| size > n)
                    && size_less_than.is_none_or(|n| size < n)
            }
        }
    }
}

/// The `Expiration` action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiration {
    /// Days after the object's last modification, rounded up to the next midnight UTC.
    Days(u32),
    /// From this date (days since 1970-01-01, midnight UTC) on.
    Date(i64),
    /// Remove expired delete markers (there are none without versioning: never acts).
    ExpiredObjectDeleteMarker(bool),
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    pub enabled: bool,
    pub filter: Filter,
    pub expiration: Option<Expiration>,
    /// `AbortIncompleteMultipartUpload/DaysAfterInitiation`.
    pub abort_incomplete_days: Option<u32>,
    /// `NoncurrentVersionExpiration/NoncurrentDays` (kept, never acts).
    pub noncurrent_days: Option<u32>,
}

/// A whole configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configuration {
    pub rules: Vec<Rule>,
}

const DAY: u64 = 86_400;

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The first midnight UTC at or after `t` (AWS rounds expiry times up to midnight).
fn next_midnight(t: u64) -> u64 {
    t.div_ceil(DAY) * DAY
}

impl Rule {
    /// When an object last modified at `modified` expires under this rule, if it does.
    fn expires_at(&self, modified: SystemTime) -> Option<u64> {
        match self.expiration? {
            Expiration::Days(d) => Some(next_midnight(secs(modified).saturating_add(u64::from(d) * DAY))),
            Expiration::Date(day) => Some((day.max(0) as u64).saturating_mul(DAY)),
            Expiration::ExpiredObjectDeleteMarker(_) => None,
        }
    }
}

impl Configuration {
    /// The enabled rule under which this object is expired at `now`, if any.
    pub fn expired(
        &self,
        key: &str,
        size: u64,
        tags: &std::collections::BTreeMap<String, String>,
        modified: SystemTime,
        now: SystemTime,
    ) -> Option<&Rule> {
        let now = secs(now);
        self.rules.iter().find(|r| {
            r.enabled && r.filter.matches(key, size, tags) && r.expires_at(modified).is_some_and(|t| now >= t)
        })
    }

    /// The enabled rule under which an unfinished upload of `key` started at `initiated` is to
    /// be aborted at `now`, if any (only the prefix of the filter applies to uploads).
    pub fn upload_to_abort(&self, key: &str, initiated: SystemTime, now: SystemTime) -> Option<&Rule> {
        let now = secs(now);
        self.rules.iter().find(|r| {
            r.enabled
                && key.starts_with(r.filter.prefix())
                && r.abort_incomplete_days
                    .is_some_and(|d| now >= next_midnight(secs(initiated).saturating_add(u64::from(d) * DAY)))
        })
    }

    /// Does any enabled rule need object tags to decide?
    pub fn needs_tags(&self) -> bool {
        self.rules
            .iter()
            .any(|r| r.enabled && r.expiration.is_some() && r.filter.has_tags())
    }

    /// Does any enabled rule expire objects / abort uploads?
    pub fn expires_objects(&self) -> bool {
        self.rules
            .iter()
            .any(|r| r.enabled && matches!(r.expiration, Some(Expiration::Days(_) | Expiration::Date(_))))
    }
    pub fn aborts_uploads(&self) -> bool {
        self.rules
            .iter()
            .any(|r| r.enabled && r.abort_incomplete_days.is_some())
    }

    /// The canonical document (namespace, rules in order, every rule with its ID).
    pub fn to_xml(&self) -> String {
        let mut o = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LifecycleConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">",
        );
        let el = |o: &mut String, name: &str, text: &str| {
            o.push_str(&format!("<{name}>{}</{name}>", xml::escape(text)));
        };
        let tag = |o: &mut String, k: &str, v: &str| {
            o.push_str("<Tag>");
            el(o, "Key", k);
            el(o, "Value", v);
            o.push_str("</Tag>");
        };
        for r in &self.rules {
            o.push_str("<Rule>");
            el(&mut o, "ID", &r.id);
            match &r.filter {
                Filter::LegacyPrefix(p) => el(&mut o, "Prefix", p),
                Filter::All => o.push_str("<Filter></Filter>"),
                Filter::Prefix(p) => {
                    o.push_str("<Filter>");
                    el(&mut o, "Prefix", p);
                    o.push_str("</Filter>");
                }
                Filter::Tag(k, v) => {
                    o.push_str("<Filter>");
                    tag(&mut o, k, v);
                    o.push_str("</Filter>");
                }
                Filter::SizeGreaterThan(n) => {
                    o.push_str("<Filter>");
                    el(&mut o, "ObjectSizeGreaterThan", &n.to_string());
                    o.push_str("</Filter>");
                }
                Filter::SizeLessThan(n) => {
                    o.push_str("<Filter>");
                    el(&mut o, "ObjectSizeLessThan", &n.to_string());
                    o.push_str("</Filter>");
                }
                Filter::And {
                    prefix,
                    tags,
                    size_greater_than,
                    size_less_than,
                } => {
                    o.push_str("<Filter><And>");
                    if let Some(p) = prefix {
                        el(&mut o, "Prefix", p);
                    }
                    for (k, v) in tags {
                        tag(&mut o, k, v);
                    }
                    if let Some(n) = size_greater_than {
                        el(&mut o, "ObjectSizeGreaterThan", &n.to_string());
                    }
                    if let Some(n) = size_less_than {
                        el(&mut o, "ObjectSizeLessThan", &n.to_string());
                    }
                    o.push_str("</And></Filter>");
                }
            }
            el(&mut o, "Status", if r.enabled { "Enabled" } else { "Disabled" });
            if let Some(e) = r.expiration {
                o.push_str("<Expiration>");
                match e {
                    Expiration::Days(d) => el(&mut o, "Days", &d.to_string()),
                    Expiration::Date(day) => el(
                        &mut o,
                        "Date",
                        &crate::time::iso8601(UNIX_EPOCH + Duration::from_secs((day.max(0) as u64) * DAY)),
                    ),
                    Expiration::ExpiredObjectDeleteMarker(b) => {
                        el(&mut o, "ExpiredObjectDeleteMarker", if b { "true" } else { "false" })
                    }
                }
                o.push_str("</Expiration>");
            }
            if let Some(d) = r.noncurrent_days {
                o.push_str("<NoncurrentVersionExpiration>");
                el(&mut o, "NoncurrentDays", &d.to_string());
                o.push_str("</NoncurrentVersionExpiration>");
            }
            if let Some(d) = r.abort_incomplete_days {
                o.push_str("<AbortIncompleteMultipartUpload>");
                el(&mut o, "DaysAfterInitiation", &d.to_string());
                o.push_str("</AbortIncompleteMultipartUpload>");
            }
            o.push_str("</Rule>");
        }
        o.push_str("</LifecycleConfiguration>");
        o
    }
}

/// A positive day count (`what` names the field in the message).
fn positive_days(text: &str, what: &str) -> Res<u32> {
    match text.trim().parse::<i64>() {
        Ok(n) if n > 0 && n <= i64::from(i32::MAX) => Ok(n as u32),
        Ok(_) => invalid(format!("'{what}' must be a positive integer")),
        Err(_) => malformed(format!("'{what}' is not an integer")),
    }
}

fn size_value(text: &str, what: &str) -> Res<u64> {
    match text.trim().parse::<i64>() {
        Ok(n) if n >= 0 => Ok(n as u64),
        Ok(_) => invalid(format!("'{what}' must be a non-negative integer")),
        Err(_) => malformed(format!("'{what}' is not an integer")),
    }
}

/// `Date`: ISO 8601 at midnight UTC (`2030-01-01T00:00:00Z`, `…T00:00:00.000Z`,
/// `…T00:00:00+00:00`). Returns days since the epoch.
pub fn parse_date(text: &str) -> Res<i64> {
    let s = text.trim();
    let b = s.as_bytes();
    let bad = || LifecycleError::InvalidArgument(format!("'Date' {s:?} is not a valid ISO 8601 date"));
    if b.len() < 19 || !s.is_char_boundary(19) {
        return Err(bad());
    }
    let t = crate::time::parse_iso8601(s).ok_or_else(bad)?;
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 || frac[..digits].chars().any(|c| c != '0') {
            return invalid("'Date' must be at midnight GMT");
        }
        rest = &frac[digits..];
    }
    if !matches!(rest, "Z" | "+00:00" | "-00:00" | "+0000") {
        return Err(bad());
    }
    let total = secs(t);
    if !total.is_multiple_of(DAY) || t < UNIX_EPOCH {
        return invalid("'Date' must be at midnight GMT");
    }
    Ok((total / DAY) as i64)
}

fn parse_tag(t: &Element) -> Res<(String, String)> {
    let (Some(k), Some(v)) = (t.child("Key"), t.child("Value")) else {
        return malformed("a Tag needs a Key and a Value");
    };
    if k.text.is_empty() || k.text.chars().count() > 128 {
        return invalid("The TagKey you have provided is invalid");
    }
    if v.text.chars().count() > 256 {
        return invalid("The TagValue you have provided is invalid");
    }
    Ok((k.text.clone(), v.text.clone()))
}

fn only_children(e: &Element, allowed: &[&str]) -> Res<()> {
    match e.children.iter().find(|c| !allowed.contains(&c.name.as_str())) {
        Some(c) => malformed(format!("unexpected element {} in {}", c.name, e.name)),
        None => Ok(()),
    }
}

fn single<'a>(e: &'a Element, name: &'a str) -> Res<Option<&'a Element>> {
    let mut it = e.children_named(name);
    let first = it.next();
    if it.next().is_some() {
        return malformed(format!("{} has more than one {name}", e.name));
    }
    Ok(first)
}

fn parse_filter(f: &Element) -> Res<Filter> {
    only_children(
        f,
        &["Prefix", "Tag", "And", "ObjectSizeGreaterThan", "ObjectSizeLessThan"],
    )?;
    if f.children.len() > 1 {
        return malformed(
            "Filter must have exactly one of Prefix, Tag, And, ObjectSizeGreaterThan, ObjectSizeLessThan",
        );
    }
    let Some(c) = f.children.first() else {
        return Ok(Filter::All);
    };
    Ok(match c.name.as_str() {
        "Prefix" => Filter::Prefix(c.text.clone()),
        "Tag" => {
            let (k, v) = parse_tag(c)?;
            Filter::Tag(k, v)
        }
        "ObjectSizeGreaterThan" => Filter::SizeGreaterThan(size_value(&c.text, "ObjectSizeGreaterThan")?),
        "ObjectSizeLessThan" => Filter::SizeLessThan(size_value(&c.text, "ObjectSizeLessThan")?),
        _ => {
            only_children(c, &["Prefix", "Tag", "ObjectSizeGreaterThan", "ObjectSizeLessThan"])?;
            let prefix = single(c, "Prefix")?.map(|p| p.text.clone());
            let mut tags = Vec::new();
            let mut seen = BTreeSet::new();
            for t in c.children_named("Tag") {
                let (k, v) = parse_tag(t)?;
                if !seen.insert(k.clone()) {
                    return invalid("Duplicate Tag Keys are not allowed");
                }
                tags.push((k, v));
            }
            let gt = single(c, "ObjectSizeGreaterThan")?
                .map(|e| size_value(&e.text, "ObjectSizeGreaterThan"))
                .transpose()?;
            let lt = single(c, "ObjectSizeLessThan")?
                .map(|e| size_value(&e.text, "ObjectSizeLessThan"))
                .transpose()?;
            if c.children.is_empty() {
                return malformed("And needs at least one condition");
            }
            if let (Some(g), Some(l)) = (gt, lt) {
                if l <= g {
                    return invalid("ObjectSizeLessThan must be greater than ObjectSizeGreaterThan");
                }
            }
            Filter::And {
                prefix,
                tags,
                size_greater_than: gt,
                size_less_than: lt,
            }
        }
    })
}

fn parse_rule(r: &Element, index: usize) -> Res<Rule> {
    only_children(
        r,
        &[
            "ID",
            "Prefix",
            "Filter",
            "Status",
            "Expiration",
            "AbortIncompleteMultipartUpload",
            "NoncurrentVersionExpiration",
            "Transition",
            "NoncurrentVersionTransition",
        ],
    )?;
    for name in [
        "ID",
        "Prefix",
        "Filter",
        "Status",
        "Expiration",
        "AbortIncompleteMultipartUpload",
    ] {
        single(r, name)?;
    }
    let id = match r.child("ID") {
        Some(e) if e.text.chars().count() > MAX_ID_LEN => {
            return invalid("ID length should not exceed allowed limit of 255")
        }
        Some(e) if !e.text.is_empty() => e.text.clone(),
        // AWS makes up an ID for a rule without one; ours is stable and readable.
        _ => format!("rule-{}", index + 1),
    };
    let enabled = match r.child("Status").map(|s| s.text.as_str()) {
        Some("Enabled") => true,
        Some("Disabled") => false,
        Some(_) => return malformed("Status must be Enabled or Disabled"),
        None => return malformed("a Rule needs a Status"),
    };
    let filter = match (r.child("Prefix"), r.child("Filter")) {
        (Some(_), Some(_)) => return malformed("a Rule has either Prefix or Filter, not both"),
        (Some(p), None) => Filter::LegacyPrefix(p.text.clone()),
        (None, Some(f)) => parse_filter(f)?,
        (None, None) => return malformed("a Rule needs a Filter or a Prefix"),
    };
    if r.child("Transition").is_some() || r.child("NoncurrentVersionTransition").is_some() {
        return Err(LifecycleError::NotImplemented(
            "Transition actions are not supported: there is one storage tier".into(),
        ));
    }
    let expiration = match r.child("Expiration") {
        None => None,
        Some(e) => {
            only_children(e, &["Days", "Date", "ExpiredObjectDeleteMarker"])?;
            if e.children.len() != 1 {
                return malformed("Expiration must have exactly one of Days, Date, ExpiredObjectDeleteMarker");
            }
            let c = &e.children[0];
            Some(match c.name.as_str() {
                "Days" => Expiration::Days(positive_days(&c.text, "Days")?),
                "Date" => Expiration::Date(parse_date(&c.text)?),
                _ => match c.text.trim() {
                    "true" => Expiration::ExpiredObjectDeleteMarker(true),
                    "false" => Expiration::ExpiredObjectDeleteMarker(false),
                    _ => return malformed("ExpiredObjectDeleteMarker must be true or false"),
                },
            })
        }
    };
    if matches!(expiration, Some(Expiration::ExpiredObjectDeleteMarker(_))) && filter.has_tags() {
        return invalid("ExpiredObjectDeleteMarker cannot be specified with a Tag filter");
    }
    let abort_incomplete_days = match r.child("AbortIncompleteMultipartUpload") {
        None => None,
        Some(a) => {
            only_children(a, &["DaysAfterInitiation"])?;
            let d = a.child("DaysAfterInitiation").ok_or_else(|| {
                LifecycleError::Malformed("AbortIncompleteMultipartUpload needs DaysAfterInitiation".into())
            })?;
            if filter.has_tags() {
                return invalid("AbortIncompleteMultipartUpload cannot be specified with Tags");
            }
            Some(positive_days(&d.text, "DaysAfterInitiation")?)
        }
    };
    let noncurrent_days = match r.child("NoncurrentVersionExpiration") {
        None => None,
        Some(n) => {
            let d = n
                .child("NoncurrentDays")
                .ok_or_else(|| LifecycleError::Malformed("NoncurrentVersionExpiration needs NoncurrentDays".into()))?;
            Some(positive_days(&d.text, "NoncurrentDays")?)
        }
    };
    if expiration.is_none() && abort_incomplete_days.is_none() && noncurrent_days.is_none() {
        return invalid("At least one action needs to be specified in a rule");
    }
    Ok(Rule {
        id,
        enabled,
        filter,
        expiration,
        abort_incomplete_days,
        noncurrent_days,
    })
}

/// Parse and validate a `LifecycleConfiguration` document.
pub fn parse(doc: &[u8]) -> Res<Configuration> {
    let root = xml::parse(doc).map_err(|_| LifecycleError::Malformed("not a well-formed XML document".into()))?;
    if root.name != "LifecycleConfiguration" {
        return malformed("the root element must be LifecycleConfiguration");
    }
    only_children(&root, &["Rule"])?;
    if root.children.is_empty() {
        return malformed("a configuration needs at least one Rule");
    }
    if root.children.len() > MAX_RULES {
        return invalid("Configuration exceeds the limit of 1000 rules");
    }
    let mut rules = Vec::with_capacity(root.children.len());
    let mut ids = BTreeSet::new();
    for (i, r) in root.children.iter().enumerate() {
        let rule = parse_rule(r, i)?;
        if !ids.insert(rule.id.clone()) {
            return invalid("Rule ID must be unique. Found same ID for more than one rule");
        }
        rules.push(rule);
    }
    Ok(Configuration { rules })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn doc(rules: &str) -> Vec<u8> {
        format!("<LifecycleConfiguration>{rules}</LifecycleConfiguration>").into_bytes()
    }
    fn err(rules: &str) -> LifecycleError {
        parse(&doc(rules)).unwrap_err()
    }
    fn at(s: &str) -> SystemTime {
        crate::time::parse_iso8601(s).unwrap()
    }

    #[test]
    fn accepts_aws_shapes() {
        let c = parse(&doc(
            "<Rule><ID>a</ID><Filter><Prefix>logs/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>3</Days></Expiration></Rule>\
             <Rule><Prefix>tmp/</Prefix><Status>Disabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>\
             <Rule><ID>c</ID><Filter><And><Prefix>x</Prefix><Tag><Key>k</Key><Value>v</Value></Tag><ObjectSizeGreaterThan>5</ObjectSizeGreaterThan></And></Filter><Status>Enabled</Status><Expiration><Date>2020-01-01T00:00:00.000Z</Date></Expiration></Rule>",
        ))
        .unwrap();
        assert_eq!(c.rules.len(), 3);
        assert_eq!(c.rules[1].id, "rule-2");
        assert_eq!(c.rules[1].filter, Filter::LegacyPrefix("tmp/".into()));
        assert_eq!(c.rules[2].expiration, Some(Expiration::Date(18262)));
        assert_eq!(parse(c.to_xml().as_bytes()).unwrap(), c);
    }

    #[test]
    fn refuses_bad_rules() {
        let exp = "<Expiration><Days>1</Days></Expiration>";
        let ok_filter = "<Filter><Prefix>a</Prefix></Filter>";
        assert!(matches!(parse(b"<Foo/>"), Err(LifecycleError::Malformed(_))));
        assert!(matches!(
            parse(b"<LifecycleConfiguration>"),
            Err(LifecycleError::Malformed(_))
        ));
        assert!(matches!(err(""), LifecycleError::Malformed(_)));
        // the shared reader's bounds hold here too: nesting, and nothing after the root
        let deep = format!("<Rule>{}{}</Rule>", "<Filter>".repeat(40), "</Filter>".repeat(40));
        assert!(matches!(err(&deep), LifecycleError::Malformed(_)));
        let one = doc(&format!("<Rule>{ok_filter}<Status>Enabled</Status>{exp}</Rule>"));
        assert!(parse(&one).is_ok());
        let trailing = [one.as_slice(), b"<Rule/>"].concat();
        assert!(matches!(parse(&trailing), Err(LifecycleError::Malformed(_))));
        assert!(matches!(
            err(&format!("<Rule>{ok_filter}<Status>On</Status>{exp}</Rule>")),
            LifecycleError::Malformed(_)
        ));
        assert!(matches!(
            err(&format!("<Rule><Status>Enabled</Status>{exp}</Rule>")),
            LifecycleError::Malformed(_)
        ));
        assert!(matches!(
            err(&format!(
                "<Rule><Prefix/>{ok_filter}<Status>Enabled</Status>{exp}</Rule>"
            )),
            LifecycleError::Malformed(_)
        ));
        let long = "i".repeat(256);
        assert!(matches!(
            err(&format!(
                "<Rule><ID>{long}</ID>{ok_filter}<Status>Enabled</Status>{exp}</Rule>"
            )),
            LifecycleError::InvalidArgument(_)
        ));
        let twice = format!("<Rule><ID>x</ID>{ok_filter}<Status>Enabled</Status>{exp}</Rule>");
        assert!(matches!(err(&twice.repeat(2)), LifecycleError::InvalidArgument(_)));
        for e in [
            "<Days>0</Days>",
            "<Days>-2</Days>",
            "<Date>2020-01-01T10:00:00Z</Date>",
            "<Date>2020-01-01</Date>",
        ] {
            assert!(
                matches!(
                    err(&format!(
                        "<Rule>{ok_filter}<Status>Enabled</Status><Expiration>{e}</Expiration></Rule>"
                    )),
                    LifecycleError::InvalidArgument(_)
                ),
                "{e}"
            );
        }
        assert!(matches!(
            err(&format!("<Rule>{ok_filter}<Status>Enabled</Status><Expiration><Days>1</Days><Date>2020-01-01T00:00:00Z</Date></Expiration></Rule>")),
            LifecycleError::Malformed(_)
        ));
        assert!(matches!(
            err(&format!("<Rule>{ok_filter}<Status>Enabled</Status></Rule>")),
            LifecycleError::InvalidArgument(_)
        ));
        assert!(matches!(
            err("<Rule><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>"),
            LifecycleError::InvalidArgument(_)
        ));
        assert!(matches!(
            err(&format!("<Rule><Filter><Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status>{exp}</Rule>")),
            LifecycleError::Malformed(_)
        ));
        assert!(matches!(
            err(&format!("<Rule>{ok_filter}<Status>Enabled</Status><Transition><Days>1</Days><StorageClass>GLACIER</StorageClass></Transition></Rule>")),
            LifecycleError::NotImplemented(_)
        ));
        let many = format!("<Rule>{ok_filter}<Status>Enabled</Status>{exp}</Rule>").repeat(MAX_RULES + 1);
        assert!(matches!(err(&many), LifecycleError::InvalidArgument(_)));
    }

    #[test]
    fn expiry_decisions() {
        let c = parse(&doc(
            "<Rule><ID>d</ID><Filter><Prefix>logs/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>2</Days></Expiration>\
             <AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>\
             <Rule><ID>off</ID><Filter></Filter><Status>Disabled</Status><Expiration><Days>1</Days></Expiration></Rule>\
             <Rule><ID>big</ID><Filter><ObjectSizeGreaterThan>100</ObjectSizeGreaterThan></Filter><Status>Enabled</Status><Expiration><Date>2030-01-01T00:00:00Z</Date></Expiration></Rule>",
        ))
        .unwrap();
        let none = BTreeMap::new();
        let m = at("2026-03-01T15:00:00Z");
        // Days=2 from 2026-03-01T15:00 → 2026-03-03T15:00, rounded up to 2026-03-04T00:00.
        assert!(c.expired("logs/a", 1, &none, m, at("2026-03-03T23:59:59Z")).is_none());
        assert_eq!(
            c.expired("logs/a", 1, &none, m, at("2026-03-04T00:00:00Z"))
                .map(|r| r.id.as_str()),
            Some("d")
        );
        assert!(c.expired("other", 1, &none, m, at("2029-01-01T00:00:00Z")).is_none());
        assert!(c.expired("other", 101, &none, m, at("2029-12-31T23:59:59Z")).is_none());
        assert_eq!(
            c.expired("other", 101, &none, m, at("2030-01-01T00:00:00Z"))
                .map(|r| r.id.as_str()),
            Some("big")
        );
        assert!(c.upload_to_abort("logs/u", m, at("2026-03-02T23:00:00Z")).is_none());
        assert!(c.upload_to_abort("logs/u", m, at("2026-03-03T00:00:00Z")).is_some());
        assert!(c.upload_to_abort("other", m, at("2030-03-03T00:00:00Z")).is_none());
        let mut tags = BTreeMap::new();
        tags.insert("k".to_string(), "v".to_string());
        let f = Filter::And {
            prefix: Some("p".into()),
            tags: vec![("k".into(), "v".into())],
            size_greater_than: Some(1),
            size_less_than: Some(10),
        };
        assert!(f.matches("px", 5, &tags));
        assert!(!f.matches("px", 5, &none));
        assert!(!f.matches("px", 10, &tags));
        assert!(!f.matches("x", 5, &tags));
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-02T00:00:00Z").unwrap(), 1);
        assert_eq!(parse_date("2020-01-01T00:00:00+00:00").unwrap(), 18262);
        assert!(parse_date("2020-01-01T00:00:00.001Z").is_err());
        assert!(parse_date("2020-01-01T00:00:00").is_err());
        assert!(parse_date("2020-01-01T00:00:00ZZ").is_err());
        assert!(parse_date("2020-13-01T00:00:00Z").is_err());
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9/_.&<> -]{0,12}"
    }

    fn filter() -> impl Strategy<Value = Filter> {
        prop_oneof![
            text().prop_map(Filter::LegacyPrefix),
            Just(Filter::All),
            text().prop_map(Filter::Prefix),
            ("[a-z]{1,6}", text()).prop_map(|(k, v)| Filter::Tag(k, v)),
            (0u64..1 << 40).prop_map(Filter::SizeGreaterThan),
            (0u64..1 << 40).prop_map(Filter::SizeLessThan),
            (
                proptest::option::of(text()),
                proptest::collection::btree_map("[a-z]{1,6}", text(), 0..3),
                proptest::option::of(0u64..1000),
                proptest::option::of(1000u64..2000)
            )
                .prop_filter("And needs a condition", |(p, t, g, l)| {
                    p.is_some() || !t.is_empty() || g.is_some() || l.is_some()
                })
                .prop_map(|(prefix, tags, g, l)| Filter::And {
                    prefix,
                    tags: tags.into_iter().collect(),
                    size_greater_than: g,
                    size_less_than: l,
                }),
        ]
    }

    fn rule() -> impl Strategy<Value = Rule> {
        (
            "[a-zA-Z0-9 _-]{1,20}",
            any::<bool>(),
            filter(),
            proptest::option::of(prop_oneof![
                (1u32..100_000).prop_map(Expiration::Days),
                (0i64..100_000).prop_map(Expiration::Date),
            ]),
            proptest::option::of(1u32..1000),
            proptest::option::of(1u32..1000),
        )
            .prop_filter("a rule needs an action", |r| {
                r.3.is_some() || r.4.is_some() || r.5.is_some()
            })
            .prop_map(|(id, enabled, filter, expiration, abort, noncurrent)| Rule {
                id,
                enabled,
                abort_incomplete_days: if filter.has_tags() { None } else { abort },
                filter,
                expiration,
                noncurrent_days: noncurrent,
            })
            .prop_filter("a rule needs an action", |r| {
                r.expiration.is_some() || r.abort_incomplete_days.is_some() || r.noncurrent_days.is_some()
            })
    }

    proptest! {
        /// Every valid configuration survives rendering and parsing unchanged (what GET returns
        /// after PUT is what was accepted).
        #[test]
        fn render_parse_round_trip(rules in proptest::collection::vec(rule(), 1..6)) {
            let mut seen = BTreeSet::new();
            let rules: Vec<Rule> = rules.into_iter().filter(|r| seen.insert(r.id.clone())).collect();
            let c = Configuration { rules };
            prop_assert_eq!(parse(c.to_xml().as_bytes()).unwrap(), c);
        }

        /// Arbitrary bytes, and arbitrary text in every leaf, give Ok or an error, never a panic.
        #[test]
        fn parser_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..200), t in "\\PC{0,30}") {
            let _ = parse(&raw);
            for leaf in ["ID", "Status", "Days", "Date", "ObjectSizeGreaterThan", "DaysAfterInitiation", "Prefix"] {
                let doc = format!(
                    "<LifecycleConfiguration><Rule><{leaf}>{t}</{leaf}><Filter><And><{leaf}>{t}</{leaf}></And></Filter>\
                     <Status>{t}</Status><Expiration><{leaf}>{t}</{leaf}></Expiration>\
                     <AbortIncompleteMultipartUpload><{leaf}>{t}</{leaf}></AbortIncompleteMultipartUpload></Rule></LifecycleConfiguration>"
                );
                let _ = parse(doc.as_bytes());
            }
        }
    }
}

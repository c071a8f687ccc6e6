//! The one XML element reader of ozfs, over quick-xml: S3 request bodies read by the gateway
//! (DeleteObjects, CompleteMultipartUpload, Tagging, AccessControlPolicy, lifecycle
//! configurations) and S3 answers read by [`RemoteStore`](crate::RemoteStore) (listings,
//! multipart results, `<Error>` documents) go through [`parse`] into a small tree of
//! [`Element`]s.
//!
//! - Names are local names: a document with or without the S3 namespace (or a prefix) reads
//!   the same, as Ozone and AWS accept both.
//! - Text is kept verbatim (keys may begin or end with blanks); the predefined entities and
//!   character references are unescaped; any other entity (a DOCTYPE's own) is an error, so
//!   nothing expands.
//! - Bounds, checked while reading, so a hostile document costs little: at most
//!   [`MAX_DOCUMENT`] bytes, [`MAX_DEPTH`] levels of nesting and [`MAX_ELEMENTS`] elements.
//!   Callers bound what they read before that with their own, smaller limits.
//! - Strict: one root element; text or elements after it, an unclosed element, invalid UTF-8
//!   are errors ([`XmlError`]). Each caller turns an error into its own (the gateway answers
//!   MalformedXML, RemoteStore reports a 502 from the backend).
//!
//! Writing is the caller's: [`escape`] is the text escaping both sides use.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// Deepest nesting accepted (the deepest S3 document, an AccessControlPolicy, has 5 levels).
pub const MAX_DEPTH: usize = 16;
/// Largest document accepted (a remote's listing page is read up to this size).
pub const MAX_DOCUMENT: usize = 32 * 1024 * 1024;
/// Most elements in one document (a CompleteMultipartUpload of 10,000 parts has 30,001).
pub const MAX_ELEMENTS: usize = 100_000;

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("document larger than {MAX_DOCUMENT} bytes")]
    TooLarge,
    #[error("document nested deeper than {MAX_DEPTH} elements")]
    TooDeep,
    #[error("document has more than {MAX_ELEMENTS} elements")]
    TooManyElements,
    /// Not well-formed XML, or not one root element.
    #[error("{0}")]
    Malformed(String),
}

fn malformed(e: impl std::fmt::Display) -> XmlError {
    XmlError::Malformed(e.to_string())
}

/// A parsed element: local name, text content (concatenated), children in document order and
/// attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    /// The element's own text. For an element with children it also holds the blanks between
    /// them, which nobody reads.
    pub text: String,
    pub children: Vec<Element>,
    /// Attributes by local name (e.g. `type` of `xsi:type`).
    pub attrs: Vec<(String, String)>,
}

impl Element {
    /// First child with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child with this local name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Text of the first child with this local name.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }
}

/// Parse a document into its root element (see the module docs for what is refused).
pub fn parse(input: &[u8]) -> Result<Element, XmlError> {
    if input.len() > MAX_DOCUMENT {
        return Err(XmlError::TooLarge);
    }
    let mut r = Reader::from_reader(input);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    let mut buf = Vec::new();
    loop {
        let ev = r.read_event_into(&mut buf).map_err(malformed)?;
        match ev {
            Event::Start(s) | Event::Empty(s) if root.is_some() => {
                return Err(malformed(format_args!(
                    "content after the root element: {}",
                    String::from_utf8_lossy(s.local_name().as_ref())
                )));
            }
            Event::Start(s) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                stack.push(element_of(&s, &mut elements)?);
            }
            Event::Empty(s) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                let el = element_of(&s, &mut elements)?;
                match stack.last_mut() {
                    Some(p) => p.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or_else(|| malformed("unbalanced end tag"))?;
                match stack.last_mut() {
                    Some(p) => p.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                let s = t.unescape().map_err(malformed)?;
                match stack.last_mut() {
                    Some(p) => p.text.push_str(&s),
                    None if s.trim().is_empty() => {}
                    None => return Err(malformed("text outside the root element")),
                }
            }
            Event::CData(c) => {
                let s = std::str::from_utf8(&c).map_err(malformed)?;
                match stack.last_mut() {
                    Some(p) => p.text.push_str(s),
                    None => return Err(malformed("CDATA outside the root element")),
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
        buf.clear();
    }
    if !stack.is_empty() {
        return Err(malformed("unclosed element"));
    }
    root.ok_or_else(|| malformed("empty document"))
}

fn element_of(s: &BytesStart<'_>, elements: &mut usize) -> Result<Element, XmlError> {
    *elements += 1;
    if *elements > MAX_ELEMENTS {
        return Err(XmlError::TooManyElements);
    }
    let name = std::str::from_utf8(s.local_name().as_ref())
        .map_err(malformed)?
        .to_string();
    let mut attrs = Vec::new();
    for a in s.attributes() {
        let a = a.map_err(malformed)?;
        let k = std::str::from_utf8(a.key.local_name().as_ref())
            .map_err(malformed)?
            .to_string();
        let v = a.unescape_value().map_err(malformed)?.into_owned();
        attrs.push((k, v));
    }
    Ok(Element {
        name,
        text: String::new(),
        children: Vec::new(),
        attrs,
    })
}

/// Escape text for an element body or an attribute value: `<>&'"`, and a carriage return as
/// `&#13;` (as S3 does). XML parsers turn a raw CR (and CRLF) into LF, so a key or tag value
/// such as `a\rb` would otherwise be read back as `a\nb`.
pub fn escape(text: &str) -> String {
    let escaped = quick_xml::escape::escape(text);
    if text.contains('\r') {
        escaped.replace('\r', "&#13;")
    } else {
        escaped.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn nested(depth: usize) -> String {
        format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth))
    }

    #[test]
    fn reads_namespaced_documents_by_local_name() {
        let doc = br#"<?xml version="1.0"?>
            <Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>
              <Object><Key>a&amp;b</Key></Object><Object><Key> c </Key><VersionId>null</VersionId></Object>
              <s3:Object xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/"><s3:Key>d</s3:Key></s3:Object>
            </Delete>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "Delete");
        assert_eq!(root.child_text("Quiet"), Some("true"));
        let keys: Vec<_> = root
            .children_named("Object")
            .filter_map(|o| o.child_text("Key"))
            .collect();
        assert_eq!(keys, vec!["a&b", " c ", "d"]);
        assert!(root.child("Missing").is_none());
    }

    #[test]
    fn reads_attributes_cdata_and_empty_elements() {
        let doc = br#"<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID><![CDATA[x<y]]></ID></Grantee><Empty/></Grant>"#;
        let root = parse(doc).unwrap();
        let grantee = root.child("Grantee").unwrap();
        assert!(grantee
            .attrs
            .contains(&("type".to_string(), "CanonicalUser".to_string())));
        assert_eq!(grantee.child_text("ID"), Some("x<y"));
        assert_eq!(root.child_text("Empty"), Some(""));
    }

    #[test]
    fn refuses_what_is_not_one_well_formed_root() {
        for doc in [
            &b""[..],
            b"   ",
            b"<a><b></a>",
            b"<a></a><b/>",
            b"<a/>text",
            b"<a>",
            b"<a><b>x</b>",
            b"junk",
            b"\xff\xfe",
            b"<a>\xff</a>",
            b"<a>&nope;</a>",
        ] {
            assert!(
                matches!(parse(doc), Err(XmlError::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(doc)
            );
        }
        // blanks around the root are fine
        assert_eq!(parse(b"\n <a/>\n").unwrap().name, "a");
    }

    #[test]
    fn entities_of_a_doctype_never_expand() {
        let laughs =
            br#"<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><d>&b;</d>"#;
        assert!(matches!(parse(laughs), Err(XmlError::Malformed(_))));
    }

    #[test]
    fn bounds_depth_size_and_element_count() {
        assert!(parse(nested(MAX_DEPTH).as_bytes()).is_ok());
        assert_eq!(parse(nested(MAX_DEPTH + 1).as_bytes()), Err(XmlError::TooDeep));
        let empty_too_deep = format!("{}<b/>{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert_eq!(parse(empty_too_deep.as_bytes()), Err(XmlError::TooDeep));
        assert_eq!(parse(nested(50_000).as_bytes()), Err(XmlError::TooDeep));
        let many = format!("<a>{}</a>", "<b/>".repeat(MAX_ELEMENTS - 1));
        assert_eq!(parse(many.as_bytes()).unwrap().children.len(), MAX_ELEMENTS - 1);
        let too_many = format!("<a>{}</a>", "<b/>".repeat(MAX_ELEMENTS));
        assert_eq!(parse(too_many.as_bytes()), Err(XmlError::TooManyElements));
        let large = format!("<a>{}</a>", "x".repeat(MAX_DOCUMENT));
        assert_eq!(parse(large.as_bytes()), Err(XmlError::TooLarge));
    }

    #[test]
    fn escape_keeps_carriage_returns() {
        let s = "a<b>&\"c'\rd\r\ne";
        let doc = format!("<x>{}</x>", escape(s));
        assert!(!doc.contains('\r'), "a raw CR is normalised away by XML parsers");
        assert_eq!(parse(doc.as_bytes()).unwrap().text, s);
        assert_eq!(escape("plain"), "plain");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&input);
        }

        #[test]
        fn arbitrary_markup_never_panics(input in "[<>/a-c=\"'&;! ?\\[\\]-]{0,200}") {
            let _ = parse(input.as_bytes());
        }

        #[test]
        fn depth_bound_holds(depth in 1usize..64) {
            let r = parse(nested(depth).as_bytes());
            if depth <= MAX_DEPTH {
                let mut el = r.unwrap();
                let mut seen = 1;
                while let Some(c) = el.children.pop() {
                    el = c;
                    seen += 1;
                }
                prop_assert_eq!(seen, depth);
            } else {
                prop_assert_eq!(r, Err(XmlError::TooDeep));
            }
        }

        #[test]
        fn escaped_text_round_trips(text in "[^\u{0}-\u{8}\u{b}\u{c}\u{e}-\u{1f}\u{fffe}\u{ffff}]{0,64}") {
            let doc = format!("<Root><Key>{}</Key></Root>", escape(&text));
            let root = parse(doc.as_bytes()).unwrap();
            prop_assert_eq!(root.child_text("Key").unwrap_or(""), text.as_str());
        }
    }
}

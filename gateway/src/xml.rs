//! XML helpers over quick-xml.
//!
//! Responses are written with [`XmlWriter`], a thin builder over `quick_xml::Writer` that keeps
//! the stack of open elements, so handlers read like the document they produce. Request bodies
//! (DeleteObjects, CompleteMultipartUpload, Tagging, AccessControlPolicy) are small and parsed
//! into a tiny element tree ([`Element`]) by [`parse`]; names are compared by local name, so
//! documents with or without the S3 namespace (or a prefix) are accepted, as Ozone does.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer};

/// The S3 response namespace.
pub const S3_NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// Builds an XML document. Writing into a `Vec` cannot fail, so the builder methods do not
/// return errors.
pub struct XmlWriter {
    w: Writer<Vec<u8>>,
    stack: Vec<String>,
}

impl Default for XmlWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl XmlWriter {
    /// A document with the XML declaration already written.
    pub fn new() -> Self {
        let mut w = Writer::new(Vec::with_capacity(512));
        let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
        XmlWriter { w, stack: Vec::new() }
    }

    /// Open an element.
    pub fn start(&mut self, name: &str) -> &mut Self {
        self.start_attrs(name, &[])
    }

    /// Open the root element in the S3 namespace.
    pub fn start_ns(&mut self, name: &str) -> &mut Self {
        self.start_attrs(name, &[("xmlns", S3_NS)])
    }

    /// Open an element with attributes.
    pub fn start_attrs(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        let mut s = BytesStart::new(name);
        for (k, v) in attrs {
            s.push_attribute((*k, *v));
        }
        let _ = self.w.write_event(Event::Start(s));
        self.stack.push(name.to_string());
        self
    }

    /// Close the innermost open element.
    pub fn end(&mut self) -> &mut Self {
        if let Some(name) = self.stack.pop() {
            let _ = self.w.write_event(Event::End(BytesEnd::new(name)));
        }
        self
    }

    /// `<name>text</name>` (text escaped).
    pub fn elem(&mut self, name: &str, text: &str) -> &mut Self {
        let _ = self.w.write_event(Event::Start(BytesStart::new(name)));
        let _ = self.w.write_event(Event::Text(text_event(text)));
        let _ = self.w.write_event(Event::End(BytesEnd::new(name)));
        self
    }

    /// Text inside the innermost open element.
    pub fn elem_text(&mut self, text: &str) -> &mut Self {
        let _ = self.w.write_event(Event::Text(text_event(text)));
        self
    }

    /// Close every open element and return the bytes.
    pub fn finish(mut self) -> Vec<u8> {
        while !self.stack.is_empty() {
            self.end();
        }
        self.w.into_inner()
    }
}

/// Escaped text. Besides `<>&'"`, a carriage return is written as `&#13;` (as S3 does): XML
/// parsers turn a raw CR (and CRLF) into LF, so a key such as `a\rb` would be listed as `a\nb`
/// and could not be fetched with the name a client read from the listing.
fn text_event(text: &str) -> BytesText<'_> {
    if text.contains('\r') {
        BytesText::from_escaped(quick_xml::escape::escape(text).replace('\r', "&#13;"))
    } else {
        BytesText::new(text)
    }
}

/// A parsed element: local name, text content (concatenated) and children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
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
    /// Text of the first child with this name.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }
}

/// Deepest nesting accepted in a request document.
const MAX_DEPTH: usize = 16;

/// Parse a request document into its root element. Any syntax error, a missing root, text
/// outside the root or excessive nesting is an error (the caller answers MalformedXML).
pub fn parse(input: &[u8]) -> Result<Element, String> {
    // Text is kept verbatim (keys may begin or end with spaces); whitespace between elements
    // only lands in the `text` of elements that have children, where nobody reads it.
    let mut r = Reader::from_reader(input);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut buf = Vec::new();
    loop {
        let ev = r.read_event_into(&mut buf).map_err(|e| e.to_string())?;
        match ev {
            Event::Start(s) | Event::Empty(s) if root.is_some() => {
                return Err(format!("content after the root element: {:?}", s.local_name()));
            }
            Event::Start(s) => {
                if stack.len() >= MAX_DEPTH {
                    return Err("document nested too deeply".into());
                }
                stack.push(element_of(&s)?);
            }
            Event::Empty(s) => {
                let el = element_of(&s)?;
                match stack.last_mut() {
                    Some(p) => p.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or("unbalanced end tag")?;
                match stack.last_mut() {
                    Some(p) => p.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                let s = t.unescape().map_err(|e| e.to_string())?;
                match stack.last_mut() {
                    Some(p) => p.text.push_str(&s),
                    None if s.trim().is_empty() => {}
                    None => return Err("text outside the root element".into()),
                }
            }
            Event::CData(c) => {
                let s = std::str::from_utf8(&c).map_err(|e| e.to_string())?;
                match stack.last_mut() {
                    Some(p) => p.text.push_str(s),
                    None => return Err("CDATA outside the root element".into()),
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
        buf.clear();
    }
    if !stack.is_empty() {
        return Err("unclosed element".into());
    }
    root.ok_or_else(|| "empty document".into())
}

fn element_of(s: &BytesStart<'_>) -> Result<Element, String> {
    let name = std::str::from_utf8(s.local_name().as_ref())
        .map_err(|e| e.to_string())?
        .to_string();
    let mut attrs = Vec::new();
    for a in s.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        let k = std::str::from_utf8(a.key.local_name().as_ref())
            .map_err(|e| e.to_string())?
            .to_string();
        let v = a.unescape_value().map_err(|e| e.to_string())?.into_owned();
        attrs.push((k, v));
    }
    Ok(Element {
        name,
        text: String::new(),
        children: Vec::new(),
        attrs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carriage_returns_survive_a_listing() {
        let key = "a\rb\r\nc<&>";
        let mut w = XmlWriter::new();
        w.start("ListBucketResult").start("Contents").elem("Key", key).end();
        let out = w.finish();
        assert!(!out.contains(&b'\r'), "a raw CR is normalised away by XML parsers");
        let root = parse(&out).unwrap();
        assert_eq!(root.child("Contents").and_then(|c| c.child_text("Key")), Some(key));
    }
    use proptest::prelude::*;

    #[test]
    fn writes_nested_document() {
        let mut w = XmlWriter::new();
        w.start_ns("ListAllMyBucketsResult")
            .start("Buckets")
            .start("Bucket")
            .elem("Name", "a<b")
            .end()
            .end();
        let s = String::from_utf8(w.finish()).unwrap();
        assert_eq!(
            s,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListAllMyBucketsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Buckets><Bucket><Name>a&lt;b</Name></Bucket></Buckets></ListAllMyBucketsResult>"
        );
    }

    #[test]
    fn parses_namespaced_delete() {
        let doc = br#"<?xml version="1.0"?>
            <Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>
              <Object><Key>a&amp;b</Key></Object><Object><Key>c</Key><VersionId>null</VersionId></Object>
            </Delete>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "Delete");
        assert_eq!(root.child_text("Quiet"), Some("true"));
        let keys: Vec<_> = root
            .children_named("Object")
            .filter_map(|o| o.child_text("Key"))
            .collect();
        assert_eq!(keys, vec!["a&b", "c"]);
    }

    #[test]
    fn rejects_malformed() {
        assert!(parse(b"").is_err());
        assert!(parse(b"<a><b></a>").is_err());
        assert!(parse(b"<a></a><b/>").is_err());
        assert!(parse(b"<a>").is_err());
        assert!(parse(b"junk").is_err());
    }

    proptest! {
        #[test]
        fn text_round_trips(text in "[^\u{0}-\u{8}\u{b}\u{c}\u{e}-\u{1f}\u{fffe}\u{ffff}]{0,64}") {
            let mut w = XmlWriter::new();
            w.start("Root").elem("Key", &text);
            let bytes = w.finish();
            let root = parse(&bytes).unwrap();
            prop_assert_eq!(root.child_text("Key").unwrap_or(""), text.as_str());
        }

        #[test]
        fn parser_never_panics(input in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse(&input);
        }
    }
}

//! Writing S3 XML responses with [`XmlWriter`], a thin builder over `quick_xml::Writer` that
//! keeps the stack of open elements, so handlers read like the document they produce.
//!
//! Request bodies (DeleteObjects, CompleteMultipartUpload, Tagging, AccessControlPolicy) are
//! read with the core's element reader, [`ozfs::xml::parse`] (depth, size and element-count
//! bounds; local names, so documents with or without the S3 namespace are accepted, as Ozone
//! does); handlers answer MalformedXML when it refuses a document.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

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

/// Escaped text (see [`ozfs::xml::escape`]: a carriage return is written as `&#13;`, as S3
/// does, so a key such as `a\rb` is listed with the name a client can fetch it by).
fn text_event(text: &str) -> BytesText<'static> {
    BytesText::from_escaped(ozfs::xml::escape(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ozfs::xml::parse;
    use proptest::prelude::*;

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

    proptest! {
        #[test]
        fn text_round_trips(text in "[^\u{0}-\u{8}\u{b}\u{c}\u{e}-\u{1f}\u{fffe}\u{ffff}]{0,64}") {
            let mut w = XmlWriter::new();
            w.start("Root").elem("Key", &text);
            let bytes = w.finish();
            let root = parse(&bytes).unwrap();
            prop_assert_eq!(root.child_text("Key").unwrap_or(""), text.as_str());
        }
    }
}

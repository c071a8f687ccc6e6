//! A minimal XML tree for S3 response bodies (errors, listings, multipart results), read with
//! quick-xml, plus escaping for the request bodies we write. Response bodies are small and
//! bounded (a listing page is at most 1000 entries), so a tree is simpler than a streaming
//! decoder and cannot be confused by element order. Namespaces are ignored (local names only).

use crate::error::{Error, Result};
use quick_xml::events::Event;
use quick_xml::Reader;

/// One element: local name, concatenated text, child elements in order.
#[derive(Debug, Default, Clone)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// First child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children named `name`.
    pub fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Text of the first child named `name`.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }
}

fn bad(msg: impl std::fmt::Display) -> Error {
    Error::Backend {
        status: 502,
        code: "MalformedXML".into(),
        message: format!("remote sent unreadable XML: {msg}"),
    }
}

/// Parse a document and return its root element.
pub fn parse(doc: &[u8]) -> Result<Element> {
    let text = std::str::from_utf8(doc).map_err(bad)?;
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    loop {
        match reader.read_event().map_err(bad)? {
            Event::Start(s) => stack.push(Element {
                name: String::from_utf8_lossy(s.local_name().as_ref()).into_owned(),
                ..Element::default()
            }),
            Event::Empty(s) => {
                let el = Element {
                    name: String::from_utf8_lossy(s.local_name().as_ref()).into_owned(),
                    ..Element::default()
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => return Ok(el),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.unescape().map_err(bad)?);
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&c));
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or_else(|| bad("unbalanced end tag"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => return Ok(el),
                }
            }
            Event::Eof => return Err(bad("document ended early")),
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
}

/// Escape text for an XML element body.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_elements_with_namespace_and_entities() {
        let doc = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>
<Contents><Key>a&amp;b</Key><Size>3</Size></Contents><Contents><Key>c</Key></Contents><Empty/></ListBucketResult>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "ListBucketResult");
        assert_eq!(root.text_of("Name"), Some("b"));
        let keys: Vec<_> = root.children("Contents").map(|c| c.text_of("Key").unwrap()).collect();
        assert_eq!(keys, ["a&b", "c"]);
        assert!(root.child("Empty").is_some());
    }

    #[test]
    fn rejects_truncated_documents() {
        assert!(parse(b"<a><b>x</b>").is_err());
        assert!(parse(b"\xff\xfe").is_err());
    }

    #[test]
    fn escape_round_trips() {
        let s = "a<b>&\"c'";
        let doc = format!("<x>{}</x>", escape(s));
        assert_eq!(parse(doc.as_bytes()).unwrap().text, s);
    }
}

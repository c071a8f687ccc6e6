//! `aws-chunked` request bodies, decoded incrementally, and the SHA-256 check of signed
//! single-chunk bodies.
//!
//! Wire format (`Content-Encoding: aws-chunked`):
//! ```text
//! signed:    <hex size>;chunk-signature=<sig>\r\n<data>\r\n ... 0;chunk-signature=<sig>\r\n
//!            [<trailer>:<value>\r\n ... x-amz-trailer-signature:<sig>\r\n]   (-TRAILER variant)
//!            \r\n
//! unsigned:  <hex size>\r\n<data>\r\n ... 0\r\n<trailer>:<value>\r\n ... \r\n
//! ```
//! Chunk `n`'s signature is `HMAC(key, "AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n<sig n-1>\n
//! <sha256("")>\n<sha256(data n)>")` with the request signature as `sig 0`; the trailer
//! signature is `HMAC(key, "AWS4-HMAC-SHA256-TRAILER\n<date>\n<scope>\n<final chunk sig>\n
//! <sha256 of the trailer lines as "name:value\n">")`.
//!
//! Design: [`AwsChunkedDecoder`] is a `Stream` state machine over any
//! `Stream<Item = Result<Bytes, E>>`. It holds at most one partial header/trailer line (bounded)
//! and hands data out as zero-copy slices of the input buffers as soon as they arrive, so memory
//! does not grow with the chunk or body size and chunk headers split across reads are fine.
//! A chunk's signature is checked when its last byte has arrived; on a mismatch the stream
//! yields an error before it could end, so a consumer that commits only at the end of the
//! stream (every `Objects::put_object`) never commits unverified bytes. Trailers are
//! handed to the caller (callback, [`AwsChunkedDecoder::fill_checksum`]) as they are parsed,
//! and the stream only ends after the whole trailer was read and checked and the decoded length
//! matched `x-amz-decoded-content-length`.

use super::auth::StreamingSigned;
use super::canonical::{self, SigningKey};
use super::EMPTY_SHA256;
use crate::checksum::Algorithm;
use bytes::{Buf, Bytes};
use futures_util::Stream;
use sha2::{Digest, Sha256};
use std::error::Error as StdError;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

/// Longest chunk header or trailer line accepted.
pub const MAX_LINE: usize = 8 * 1024;

/// Why a request body was refused. Travels inside `crate::Error::Body` (see the `From` impl) and
/// can be downcast back by the gateway.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Bad aws-chunked framing (chunk size not hex, missing CRLF, line too long, trailer line
    /// without `:`, trailer in a mode that has none). → 400 InvalidArgument.
    #[error("malformed aws-chunked body: {0}")]
    Framing(String),
    /// The body ended before the final chunk (or inside a chunk). → 400 IncompleteBody.
    #[error("the request body ended before the final aws-chunked chunk")]
    Truncated,
    /// The decoded length differs from `x-amz-decoded-content-length`. → 400 IncompleteBody.
    #[error("decoded body length {got} does not match x-amz-decoded-content-length {expected}")]
    LengthMismatch { expected: u64, got: u64 },
    /// A chunk has no `chunk-signature` while signatures are checked. → 403
    /// SignatureDoesNotMatch.
    #[error("chunk {chunk} has no chunk-signature")]
    MissingChunkSignature { chunk: u64 },
    /// A chunk signature is wrong. → 403 SignatureDoesNotMatch.
    #[error("the signature of chunk {chunk} does not match")]
    ChunkSignatureMismatch { chunk: u64 },
    /// The signed trailer has no `x-amz-trailer-signature`. → 403 SignatureDoesNotMatch.
    #[error("the trailer has no x-amz-trailer-signature")]
    MissingTrailerSignature,
    /// The trailer signature is wrong. → 403 SignatureDoesNotMatch.
    #[error("the trailer signature does not match")]
    TrailerSignatureMismatch,
    /// The body's SHA-256 differs from `x-amz-content-sha256`. → 400 XAmzContentSHA256Mismatch.
    #[error("the provided x-amz-content-sha256 {expected} does not match what was computed ({computed})")]
    ContentSha256Mismatch { expected: String, computed: String },
    /// The underlying body stream failed (client went away...). → 400 IncompleteBody (or just
    /// drop the connection).
    #[error("reading the request body failed: {0}")]
    Transport(#[source] Box<dyn StdError + Send + Sync>),
}

impl From<BodyError> for crate::Error {
    fn from(e: BodyError) -> crate::Error {
        crate::Error::Body(Box::new(e))
    }
}

/// A callback receiving each trailer `(lower-case name, trimmed value)` as it is parsed.
pub type TrailerCallback = Box<dyn FnMut(&str, &str) + Send>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Data { remaining: u64 },
    DataEnd,
    Trailer,
    Done,
    Failed,
}

enum Step {
    Yield(Bytes),
    NeedInput,
    Finished,
}

struct Verify {
    key: SigningKey,
    amz_date: String,
    scope: String,
    prev: String,
}

/// Decodes an `aws-chunked` body; see the module documentation.
pub struct AwsChunkedDecoder<S> {
    inner: S,
    input: Bytes,
    line: Vec<u8>,
    state: State,
    eof: bool,
    /// Signed framing (chunk-signature extensions, signed trailer in the -TRAILER variant).
    signed: bool,
    /// A trailer may follow the final chunk.
    trailer_allowed: bool,
    verify: Option<Verify>,
    chunk_signature: Option<String>,
    chunk_hash: Option<Sha256>,
    chunks: u64,
    decoded: u64,
    expected_len: Option<u64>,
    trailers: Vec<(String, String)>,
    trailer_signature: Option<String>,
    callbacks: Vec<TrailerCallback>,
}

impl<S> std::fmt::Debug for AwsChunkedDecoder<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsChunkedDecoder")
            .field("state", &self.state)
            .field("signed", &self.signed)
            .field("verifying", &self.verify.is_some())
            .field("decoded", &self.decoded)
            .field("expected_len", &self.expected_len)
            .finish()
    }
}

impl<S> AwsChunkedDecoder<S> {
    fn new(inner: S, signed: bool, trailer_allowed: bool, verify: Option<Verify>, expected_len: Option<u64>) -> Self {
        AwsChunkedDecoder {
            inner,
            input: Bytes::new(),
            line: Vec::new(),
            state: State::Header,
            eof: false,
            signed,
            trailer_allowed,
            verify,
            chunk_signature: None,
            chunk_hash: None,
            chunks: 0,
            decoded: 0,
            expected_len,
            trailers: Vec::new(),
            trailer_signature: None,
            callbacks: Vec::new(),
        }
    }

    /// Decode a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]` body. Chunk (and trailer)
    /// signatures are verified when `ctx.signing_key` is `Some`; with `None` (security off)
    /// only the framing is decoded. `decoded_length` is `x-amz-decoded-content-length`.
    pub fn signed(inner: S, ctx: &StreamingSigned, decoded_length: Option<u64>) -> Self {
        let verify = ctx.signing_key.clone().map(|key| Verify {
            key,
            amz_date: ctx.amz_date.clone(),
            scope: ctx.scope.clone(),
            prev: ctx.seed_signature.to_ascii_lowercase(),
        });
        Self::new(inner, true, ctx.trailer, verify, decoded_length)
    }

    /// Decode a `STREAMING-UNSIGNED-PAYLOAD-TRAILER` body. `decoded_length` is
    /// `x-amz-decoded-content-length`.
    pub fn unsigned(inner: S, decoded_length: Option<u64>) -> Self {
        Self::new(inner, false, true, None, decoded_length)
    }

    /// Call `f(name, value)` for every trailer (name lower-case, value trimmed; the
    /// `x-amz-trailer-signature` line excluded) as soon as it is parsed, before the stream ends.
    pub fn on_trailer(mut self, f: impl FnMut(&str, &str) + Send + 'static) -> Self {
        self.callbacks.push(Box::new(f));
        self
    }

    /// Set `expected` (e.g. `ChecksumSpec.expected`) from the `algorithm.header_name()` trailer
    /// when it arrives, so the store can verify the checksum when the body ends.
    pub fn fill_checksum(self, algorithm: Algorithm, expected: Arc<OnceLock<String>>) -> Self {
        self.on_trailer(move |name, value| {
            if name == algorithm.header_name() {
                let _ = expected.set(value.to_string());
            }
        })
    }

    /// Bytes of payload decoded so far.
    pub fn decoded_len(&self) -> u64 {
        self.decoded
    }

    /// The trailers parsed so far (complete once the stream has ended).
    pub fn trailers(&self) -> &[(String, String)] {
        &self.trailers
    }

    /// Take a complete line (without CRLF) from the input, or `None` when more input is needed.
    fn read_line(&mut self) -> Result<Option<Vec<u8>>, BodyError> {
        match self.input.iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.line.extend_from_slice(&self.input[..i]);
                self.input.advance(i + 1);
                let mut line = std::mem::take(&mut self.line);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.len() > MAX_LINE {
                    return Err(BodyError::Framing("line too long".into()));
                }
                Ok(Some(line))
            }
            None => {
                self.line.extend_from_slice(&self.input);
                self.input.clear();
                if self.line.len() > MAX_LINE {
                    return Err(BodyError::Framing("line too long".into()));
                }
                Ok(None)
            }
        }
    }

    fn chunk_string_to_sign(v: &Verify, hash_hex: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{hash_hex}",
            v.amz_date, v.scope, v.prev
        )
    }

    /// Check the signature of the chunk just completed (data hash in `self.chunk_hash`).
    fn check_chunk(&mut self) -> Result<(), BodyError> {
        let chunk = self.chunks;
        let hash = self.chunk_hash.take();
        let given = self.chunk_signature.take();
        let Some(v) = self.verify.as_mut() else { return Ok(()) };
        let given = given.ok_or(BodyError::MissingChunkSignature { chunk })?;
        let hash_hex = match hash {
            Some(h) => hex::encode(h.finalize()),
            None => EMPTY_SHA256.to_string(),
        };
        let expected = v.key.sign(&Self::chunk_string_to_sign(v, &hash_hex));
        if !canonical::constant_time_eq(expected.as_bytes(), given.as_bytes()) {
            return Err(BodyError::ChunkSignatureMismatch { chunk });
        }
        v.prev = expected;
        Ok(())
    }

    fn parse_header(&mut self, line: &[u8]) -> Result<(), BodyError> {
        let text = std::str::from_utf8(line).map_err(|_| BodyError::Framing("chunk header is not ASCII".into()))?;
        let mut parts = text.split(';');
        let size_text = parts.next().unwrap_or("").trim();
        if size_text.is_empty() || size_text.len() > 16 {
            return Err(BodyError::Framing(format!("bad chunk size {size_text:?}")));
        }
        let size = u64::from_str_radix(size_text, 16)
            .map_err(|_| BodyError::Framing(format!("bad chunk size {size_text:?}")))?;
        self.chunk_signature = None;
        for ext in parts {
            if let Some((k, v)) = ext.split_once('=') {
                if k.trim() == "chunk-signature" {
                    self.chunk_signature = Some(v.trim().to_ascii_lowercase());
                }
            }
        }
        self.chunks += 1;
        if size == 0 {
            // The final chunk: its signature covers the empty payload.
            if self.signed {
                self.check_chunk()?;
            }
            self.state = State::Trailer;
        } else {
            if let Some(expected) = self.expected_len {
                let got = self.decoded.saturating_add(size);
                if got > expected {
                    return Err(BodyError::LengthMismatch { expected, got });
                }
            }
            if self.verify.is_some() {
                self.chunk_hash = Some(Sha256::new());
            }
            self.state = State::Data { remaining: size };
        }
        Ok(())
    }

    fn parse_trailer_line(&mut self, line: &[u8]) -> Result<(), BodyError> {
        let text = String::from_utf8_lossy(line);
        let (name, value) = text
            .split_once(':')
            .ok_or_else(|| BodyError::Framing(format!("trailer line {text:?} has no ':'")))?;
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim().to_string();
        if !self.trailer_allowed {
            return Err(BodyError::Framing(format!("unexpected trailer {name:?}")));
        }
        if name == "x-amz-trailer-signature" {
            self.trailer_signature = Some(value.to_ascii_lowercase());
            return Ok(());
        }
        for cb in &mut self.callbacks {
            cb(&name, &value);
        }
        self.trailers.push((name, value));
        Ok(())
    }

    /// The end of the trailer section: check the trailer signature and the length.
    fn finish(&mut self) -> Result<(), BodyError> {
        if self.signed && self.trailer_allowed {
            if let Some(v) = &self.verify {
                let given = self
                    .trailer_signature
                    .take()
                    .ok_or(BodyError::MissingTrailerSignature)?;
                let mut canonical_trailers = String::new();
                for (n, val) in &self.trailers {
                    canonical_trailers.push_str(n);
                    canonical_trailers.push(':');
                    canonical_trailers.push_str(val);
                    canonical_trailers.push('\n');
                }
                let sts = format!(
                    "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
                    v.amz_date,
                    v.scope,
                    v.prev,
                    canonical::sha256_hex(canonical_trailers.as_bytes())
                );
                let expected = v.key.sign(&sts);
                if !canonical::constant_time_eq(expected.as_bytes(), given.as_bytes()) {
                    return Err(BodyError::TrailerSignatureMismatch);
                }
            }
        }
        if let Some(expected) = self.expected_len {
            if self.decoded != expected {
                return Err(BodyError::LengthMismatch {
                    expected,
                    got: self.decoded,
                });
            }
        }
        self.state = State::Done;
        Ok(())
    }

    /// Advance over the buffered input.
    fn step(&mut self) -> Result<Step, BodyError> {
        loop {
            match self.state {
                State::Done | State::Failed => return Ok(Step::Finished),
                State::Header => match self.read_line()? {
                    Some(line) => self.parse_header(&line)?,
                    None => return Ok(Step::NeedInput),
                },
                State::Data { remaining } => {
                    if self.input.is_empty() {
                        return Ok(Step::NeedInput);
                    }
                    let n = remaining.min(self.input.len() as u64);
                    let out = self.input.split_to(n as usize);
                    if let Some(h) = self.chunk_hash.as_mut() {
                        h.update(&out);
                    }
                    self.decoded += n;
                    let remaining = remaining - n;
                    self.state = if remaining == 0 {
                        State::DataEnd
                    } else {
                        State::Data { remaining }
                    };
                    return Ok(Step::Yield(out));
                }
                State::DataEnd => {
                    while self.line.len() < 2 && !self.input.is_empty() {
                        self.line.push(self.input[0]);
                        self.input.advance(1);
                    }
                    if self.line.len() < 2 {
                        return Ok(Step::NeedInput);
                    }
                    if self.line != b"\r\n" {
                        return Err(BodyError::Framing("chunk data is not followed by CRLF".into()));
                    }
                    self.line.clear();
                    if self.signed {
                        self.check_chunk()?;
                    }
                    self.state = State::Header;
                }
                State::Trailer => match self.read_line()? {
                    Some(line) if line.is_empty() => {
                        self.finish()?;
                        return Ok(Step::Finished);
                    }
                    Some(line) => self.parse_trailer_line(&line)?,
                    None => return Ok(Step::NeedInput),
                },
            }
        }
    }

    /// The input ended.
    fn step_eof(&mut self) -> Result<Step, BodyError> {
        match self.state {
            State::Done | State::Failed => Ok(Step::Finished),
            // Tolerate a missing final CRLF (and a last trailer line without its CRLF).
            State::Trailer => {
                let line = std::mem::take(&mut self.line);
                let line = line.strip_suffix(b"\r").unwrap_or(&line);
                if !line.is_empty() {
                    self.parse_trailer_line(line)?;
                }
                self.finish()?;
                Ok(Step::Finished)
            }
            State::Header | State::Data { .. } | State::DataEnd => Err(BodyError::Truncated),
        }
    }
}

impl<S, E> Stream for AwsChunkedDecoder<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<Box<dyn StdError + Send + Sync>>,
{
    type Item = Result<Bytes, BodyError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            let step = if this.eof && this.input.is_empty() {
                this.step_eof()
            } else {
                this.step()
            };
            match step {
                Ok(Step::Yield(b)) => return Poll::Ready(Some(Ok(b))),
                Ok(Step::Finished) => return Poll::Ready(None),
                Ok(Step::NeedInput) => {}
                Err(e) => {
                    this.state = State::Failed;
                    return Poll::Ready(Some(Err(e)));
                }
            }
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(b))) => this.input = b,
                Poll::Ready(Some(Err(e))) => {
                    this.state = State::Failed;
                    return Poll::Ready(Some(Err(BodyError::Transport(e.into()))));
                }
                Poll::Ready(None) => this.eof = true,
            }
        }
    }
}

/// A stream that passes a body through and fails (instead of ending) when its SHA-256 differs
/// from `x-amz-content-sha256` ([`super::PayloadMode::SignedPayload`]).
pub struct Sha256Verified<S> {
    inner: S,
    expected: String,
    hasher: Option<Sha256>,
}

impl<S> std::fmt::Debug for Sha256Verified<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sha256Verified")
            .field("expected", &self.expected)
            .finish()
    }
}

/// Wrap `inner` so that it ends with [`BodyError::ContentSha256Mismatch`] if the body's SHA-256
/// is not `expected_hex`.
pub fn verify_sha256<S>(inner: S, expected_hex: &str) -> Sha256Verified<S> {
    Sha256Verified {
        inner,
        expected: expected_hex.to_ascii_lowercase(),
        hasher: Some(Sha256::new()),
    }
}

impl<S, E> Stream for Sha256Verified<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<Box<dyn StdError + Send + Sync>>,
{
    type Item = Result<Bytes, BodyError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.hasher.is_none() {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(b))) => {
                if let Some(h) = this.hasher.as_mut() {
                    h.update(&b);
                }
                Poll::Ready(Some(Ok(b)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.hasher = None;
                Poll::Ready(Some(Err(BodyError::Transport(e.into()))))
            }
            Poll::Ready(None) => {
                let computed = this
                    .hasher
                    .take()
                    .map(|h| hex::encode(h.finalize()))
                    .unwrap_or_default();
                if computed == this.expected {
                    Poll::Ready(None)
                } else {
                    Poll::Ready(Some(Err(BodyError::ContentSha256Mismatch {
                        expected: this.expected.clone(),
                        computed,
                    })))
                }
            }
        }
    }
}

/// Client side (and tests): produce a signed aws-chunked body, chunk by chunk.
#[derive(Debug, Clone)]
pub struct ChunkSigner {
    key: SigningKey,
    amz_date: String,
    scope: String,
    prev: String,
}

impl ChunkSigner {
    /// Start from the request's signing output (its signature is the seed).
    pub fn new(out: &super::SigningOutput) -> ChunkSigner {
        ChunkSigner {
            key: out.signing_key.clone(),
            amz_date: out.amz_date.clone(),
            scope: out.scope.clone(),
            prev: out.signature.clone(),
        }
    }

    /// Start from explicit values.
    pub fn from_parts(key: SigningKey, amz_date: &str, scope: &str, seed_signature: &str) -> ChunkSigner {
        ChunkSigner {
            key,
            amz_date: amz_date.to_string(),
            scope: scope.to_string(),
            prev: seed_signature.to_string(),
        }
    }

    /// The signature of the next chunk (advances the chain).
    pub fn sign_chunk(&mut self, data: &[u8]) -> String {
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{}",
            self.amz_date,
            self.scope,
            self.prev,
            canonical::sha256_hex(data)
        );
        self.prev = self.key.sign(&sts);
        self.prev.clone()
    }

    /// `<hex size>;chunk-signature=<sig>\r\n<data>\r\n` (an empty `data` is the final chunk
    /// header `0;chunk-signature=<sig>\r\n` followed by the closing CRLF).
    pub fn encode_chunk(&mut self, data: &[u8]) -> Vec<u8> {
        let sig = self.sign_chunk(data);
        let mut out = format!("{:x};chunk-signature={sig}\r\n", data.len()).into_bytes();
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
        out
    }

    /// The end of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER` body: the final chunk, the
    /// trailer lines, the trailer signature and the closing CRLF.
    pub fn encode_final_with_trailer(&mut self, trailers: &[(&str, &str)]) -> Vec<u8> {
        let sig = self.sign_chunk(b"");
        let mut out = format!("0;chunk-signature={sig}\r\n").into_bytes();
        let mut canonical_trailers = String::new();
        for (n, v) in trailers {
            canonical_trailers.push_str(&format!("{n}:{v}\n"));
            out.extend_from_slice(format!("{n}:{v}\r\n").as_bytes());
        }
        let sts = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            self.prev,
            canonical::sha256_hex(canonical_trailers.as_bytes())
        );
        out.extend_from_slice(format!("x-amz-trailer-signature:{}\r\n\r\n", self.key.sign(&sts)).as_bytes());
        out
    }
}

/// An unsigned chunk: `<hex size>\r\n<data>\r\n`.
pub fn encode_unsigned_chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// The end of a `STREAMING-UNSIGNED-PAYLOAD-TRAILER` body: `0\r\n<name>:<value>\r\n...\r\n`.
pub fn encode_unsigned_final(trailers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = b"0\r\n".to_vec();
    for (n, v) in trailers {
        out.extend_from_slice(format!("{n}:{v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests;

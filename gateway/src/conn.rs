//! The connection layer under hyper: what a client can make the endpoint spend per connection,
//! and S3 XML instead of hyper's bare answers.
//!
//! * [`MAX_CONNECTIONS`] connections are served at once; one more gets `503 SlowDown` (S3 XML,
//!   `Connection: close`) at once instead of queueing unbounded state.
//! * [`MAX_BUF`] bounds hyper's read and write buffers, so a connection holds at most about that
//!   much memory besides the request being served (bodies stream in bounded chunks).
//! * When hyper cannot parse a request (a control character or a raw non-ASCII byte in the
//!   request line or a header, a garbage request line, more than the allowed headers, a header
//!   section larger than its buffer) it writes a bare status line with no body and closes.
//!   [`S3Io`] recognises that answer — a status ≥ 400 without the `x-amz-request-id` our
//!   service stamps on every response — and sends an S3 XML error in its place, with the code
//!   AWS uses where there is one. It looks only before the first response of ours on the
//!   connection: after that a write may be object bytes, which are never inspected, so a
//!   request that cannot be parsed after another on a kept-alive connection still gets hyper's
//!   bare answer.

use crate::error::{S3Error, S3ErrorCode};
use http::StatusCode;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 1024;
/// hyper's per-connection buffer bound (read and write).
pub const MAX_BUF: usize = 256 * 1024;

/// A stream whose hyper-made error answers are rewritten as S3 XML.
pub struct S3Io<T> {
    inner: T,
    /// A rewritten answer still being written, and how much of it went out.
    pending: Option<(Vec<u8>, usize)>,
    /// A response of ours started: later writes may be body bytes and are passed through.
    passthrough: bool,
}

impl<T> S3Io<T> {
    pub fn new(inner: T) -> Self {
        S3Io {
            inner,
            pending: None,
            passthrough: false,
        }
    }
}

/// The S3 error for a bare answer hyper made, if `head` is one.
fn rewrite(head: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(head.get(..head.len().min(512))?).ok()?;
    let rest = text.strip_prefix("HTTP/1.1 ")?;
    let status: u16 = rest.get(..3)?.parse().ok()?;
    let lower = text.to_ascii_lowercase();
    if status < 400 || lower.contains("x-amz-request-id") || !lower.contains("content-length: 0\r\n") {
        return None;
    }
    let e = match status {
        431 => S3Error::new(S3ErrorCode::RequestHeaderSectionTooLarge, "Your request header section is too large (too many header lines or too many bytes).",
        ),
        408 => S3Error::new(S3ErrorCode::RequestTimeout, "Your socket connection to the server was not read from or written to within the timeout period.",
        ),
        414 => S3Error::new(S3ErrorCode::InvalidURI, "The request URI is too long.",
        ),
        505 => S3Error::new(S3ErrorCode::HttpVersionNotSupported, "The HTTP version specified is not supported.",
        ),
        _ => S3Error::new(
            S3ErrorCode::InvalidRequest,
            "The request could not be parsed as HTTP/1.1: a control character or a raw non-ASCII byte in the request line or a header (percent-encode key names), or a malformed request line.",
        )
        .with_status(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST)),
    };
    Some(render(&e))
}

/// A whole `Connection: close` response carrying `e` as S3 XML.
pub fn render(e: &S3Error) -> Vec<u8> {
    let rid = format!("{:016X}", rand::random::<u64>());
    let body = e.to_xml("", &rid);
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/xml\r\nx-amz-request-id: {rid}\r\nserver: ozfs\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        e.status.as_u16(),
        e.status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

/// Answer a connection over [`MAX_CONNECTIONS`] with `503 SlowDown` and close it.
pub async fn refuse(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    let e = S3Error::new(
        S3ErrorCode::SlowDown,
        format!("Too many connections (more than {MAX_CONNECTIONS}); reduce your request rate."),
    );
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        let _ = stream.write_all(&render(&e)).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

impl<T: AsyncWrite + Unpin> S3Io<T> {
    /// The rewritten answer if `first` (the start of a write) is hyper's own error answer;
    /// otherwise notes when our first response begins.
    fn inspect(&mut self, first: &[u8]) -> Option<Vec<u8>> {
        if self.passthrough {
            return None;
        }
        let r = rewrite(first);
        if r.is_none() && !first.starts_with(b"HTTP/1.1 1") {
            self.passthrough = true;
        }
        r
    }

    /// Write out a pending rewritten answer.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while let Some((buf, done)) = &mut self.pending {
            if *done == buf.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &buf[*done..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            *done += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for S3Io<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for S3Io<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        ready!(self.drain(cx))?;
        if let Some(r) = self.inspect(buf) {
            self.pending = Some((r, 0));
            ready!(self.drain(cx))?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        ready!(self.drain(cx))?;
        if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
            if let Some(r) = self.inspect(first) {
                // hyper's own answers have no body: the whole write is the head.
                let total = bufs.iter().map(|b| b.len()).sum();
                self.pending = Some((r, 0));
                ready!(self.drain(cx))?;
                return Poll::Ready(Ok(total));
            }
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hyper_answers_are_rewritten() {
        let bare = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let out = String::from_utf8(rewrite(bare).unwrap()).unwrap();
        assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
        assert!(out.contains("<Code>InvalidRequest</Code>"), "{out}");
        let big = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        let out = String::from_utf8(rewrite(big).unwrap()).unwrap();
        assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
        assert!(out.contains("<Code>RequestHeaderSectionTooLarge</Code>"), "{out}");
        // Ours (request id stamped), successes and bodies are left alone.
        let ours = b"HTTP/1.1 404 Not Found\r\nx-amz-request-id: 1\r\ncontent-length: 0\r\n\r\n";
        assert!(rewrite(ours).is_none());
        assert!(rewrite(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(rewrite(b"<?xml version=\"1.0\"?><Error/>").is_none());
        assert!(rewrite(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n").is_none());
    }
}

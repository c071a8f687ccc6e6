//! Progress of `ozfs sh key put/get`: a bar on standard error when it is a terminal, nothing at
//! all otherwise (a pipe, a file, a test harness), so scripted output stays exactly what it was.
//!
//! indicatif draws the bar (rate-limited redraws, byte units, ETA); we only decide whether to
//! show one and count the bytes of the body stream as it passes.

use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ozfs::ByteStream;
use std::io::IsTerminal;

/// Transfers smaller than this finish before a bar is worth drawing.
pub const MIN_BYTES: u64 = 4 * 1024 * 1024;

/// A bar for a transfer of `len` bytes (`None`: unknown, e.g. standard input), or a hidden one
/// when standard error is not a terminal or the transfer is small.
pub fn bar(verb: &str, name: &str, len: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() || len.is_some_and(|n| n < MIN_BYTES) {
        return ProgressBar::hidden();
    }
    let pb = match len {
        Some(n) => {
            let pb = ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr());
            pb.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            pb
        }
        None => {
            let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            pb.set_style(
                ProgressStyle::with_template("{msg} {binary_bytes} {binary_bytes_per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            pb
        }
    };
    pb.set_message(format!("{verb} {name}"));
    pb
}

/// `body`, counting each chunk on `pb` as it passes.
pub fn counted(body: ByteStream, pb: &ProgressBar) -> ByteStream {
    let pb = pb.clone();
    Box::pin(body.inspect(move |c| {
        if let Ok(b) = c {
            pb.inc(b.len() as u64);
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_every_byte_of_the_stream() {
        let pb = ProgressBar::hidden();
        pb.set_length(10);
        let chunks: Vec<ozfs::Result<bytes::Bytes>> = vec![
            Ok(bytes::Bytes::from_static(b"abcd")),
            Ok(bytes::Bytes::from_static(b"efghij")),
        ];
        let s: ByteStream = Box::pin(futures_util::stream::iter(chunks));
        let mut s = counted(s, &pb);
        while s.next().await.is_some() {}
        assert_eq!(pb.position(), 10);
    }

    #[test]
    fn small_or_piped_transfers_get_a_hidden_bar() {
        assert!(bar("put", "x", Some(MIN_BYTES - 1)).is_hidden());
    }
}

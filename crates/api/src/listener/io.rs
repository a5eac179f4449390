//! A connection's byte stream as hyper sees it, with the two things hyper offers no hook
//! for:
//!
//! - **hyper's own refusals.** A request hyper cannot parse (a bad `Content-Length`, an
//!   obs-fold header line, a TLS ClientHello on the plain port, a head over the limit) is
//!   answered by hyper itself, with an empty 400 or 431, before any service sees it. Here
//!   the responses hyper writes are followed: the service announces each response it
//!   produces, with the length of the body hyper will write for it ([`Responses`]), so a
//!   response head that nobody announced is hyper's, and it is held back
//!   ([`EdgeIo::refused`]). The connection then answers in AWS's shape instead
//!   (`super::Connection`), after hyper has returned the parse error that says why.
//! - **bytes hyper read but did not use.** When a connection is stopped between requests,
//!   hyper hands back what it had read of the next request (`Parts::read_buf`); those
//!   bytes are read again first ([`EdgeIo::restart`]), so that request is still answered.
//!
//! Reads also tell the connection's registry entry that the client is active (a stalled
//! upload then ages like an idle connection, see `super::registry`).
//!
//! Everything else passes through unchanged. The follower needs only where each response
//! head ends (its blank line) and how long its body is, and gives up (passes everything
//! through) on anything it does not expect, so it can never alter an answer of the
//! service. This module knows HTTP/1.1 framing only, nothing of AWS.

use super::registry::Activity;
use axum::body::Bytes;
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The responses the service produced on one connection, for the follower of the bytes
/// hyper writes.
#[derive(Default)]
pub(super) struct Responses {
    /// Body length of each produced response not yet begun on the wire, in order (`None`:
    /// not known in advance, so the follower gives up at that response).
    queue: Mutex<VecDeque<Option<u64>>>,
    /// A produced response is partly written.
    writing: AtomicBool,
}

impl Responses {
    /// The service produced a response whose body hyper will write as `body_len` bytes.
    pub(super) fn produced(&self, body_len: Option<u64>) {
        if let Ok(mut q) = self.queue.lock() {
            q.push_back(body_len);
        }
    }

    /// Every produced response is entirely written (hyper holds none of it).
    pub(super) fn all_written(&self) -> bool {
        !self.writing.load(Ordering::Acquire) && self.queue.lock().is_ok_and(|q| q.is_empty())
    }

    fn next(&self) -> Option<Option<u64>> {
        self.queue.lock().ok()?.pop_front()
    }

    fn clear(&self) {
        if let Ok(mut q) = self.queue.lock() {
            q.clear();
        }
        self.writing.store(false, Ordering::Release);
    }
}

/// Where the follower is in the bytes hyper writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    /// At the start of a response.
    Boundary,
    /// In a response head passed through; `matched` bytes of its closing `\r\n\r\n` seen;
    /// then `body` bytes of body (`None`: unknown, give up after the head).
    Head { matched: u8, body: Option<u64> },
    /// In a response body passed through, this many bytes left.
    Body(u64),
    /// Holding back hyper's own answer (this status) to a request it could not parse.
    Refused(u16),
    /// Lost track: everything passes through.
    Unframed,
}

/// A connection's stream, between the socket (or TLS) and hyper.
pub(super) struct EdgeIo<I> {
    inner: I,
    /// Read before `inner`: bytes hyper read and handed back.
    unread: Bytes,
    out: Out,
    responses: Arc<Responses>,
    /// Told of every read that brings bytes.
    activity: Option<Arc<Activity>>,
}

impl<I> EdgeIo<I> {
    pub(super) fn new(
        inner: I,
        responses: Arc<Responses>,
        activity: Option<Arc<Activity>>,
    ) -> Self {
        EdgeIo {
            inner,
            unread: Bytes::new(),
            out: Out::Boundary,
            responses,
            activity,
        }
    }

    /// Ready for a new hyper connection on this stream: at a response boundary, nothing
    /// announced, and `read_back` (what the previous one read and did not use) to be read
    /// first.
    pub(super) fn restart(&mut self, read_back: Bytes) {
        if !read_back.is_empty() {
            // hyper read `read_back` before what is still unread here.
            let mut joined = Vec::with_capacity(read_back.len() + self.unread.len());
            joined.extend_from_slice(&read_back);
            joined.extend_from_slice(&self.unread);
            self.unread = Bytes::from(joined);
        }
        self.out = Out::Boundary;
        self.responses.clear();
    }

    /// The status of hyper's own answer to a request it could not parse, held back.
    pub(super) fn refused(&self) -> Option<u16> {
        match self.out {
            Out::Refused(status) => Some(status),
            _ => None,
        }
    }

    /// The stream itself, past the follower (to write what hyper did not).
    pub(super) fn inner_mut(&mut self) -> &mut I {
        &mut self.inner
    }
}

impl<I: AsyncRead + Unpin> EdgeIo<I> {
    /// Whether the client has sent bytes that nobody has handled yet: some handed back by
    /// hyper, or some readable at once (read now, and kept to be read first).
    pub(super) fn has_unread(&mut self) -> bool {
        if !self.unread.is_empty() {
            return true;
        }
        let mut buf = vec![0u8; 16 * 1024];
        let read = tokio::io::AsyncReadExt::read(&mut self.inner, &mut buf);
        match futures_util::FutureExt::now_or_never(read) {
            Some(Ok(n)) if n > 0 => {
                buf.truncate(n);
                self.unread = Bytes::from(buf);
                true
            }
            _ => false,
        }
    }
}

/// The status code of a response that starts `buf` (`HTTP/1.x NNN`).
fn status_code(buf: &[u8]) -> Option<u16> {
    let code = buf.strip_prefix(b"HTTP/1.")?.get(1..5)?;
    let [b' ', digits @ ..] = code else {
        return None;
    };
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Feed `bytes` of a response head to the matcher of its closing `\r\n\r\n` (`matched`
/// bytes of it seen so far); the index just past it, if it ends within `bytes`.
fn head_end(matched: &mut u8, bytes: &[u8]) -> Option<usize> {
    const END: &[u8; 4] = b"\r\n\r\n";
    for (i, &b) in bytes.iter().enumerate() {
        *matched = if b == END[usize::from(*matched)] {
            *matched + 1
        } else if b == b'\r' {
            1
        } else {
            0
        };
        if *matched == 4 {
            return Some(i + 1);
        }
    }
    None
}

impl<I: AsyncRead + Unpin> AsyncRead for EdgeIo<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.unread.is_empty() {
            let n = buf.remaining().min(this.unread.len());
            buf.put_slice(&this.unread.split_to(n));
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before
            && let Some(activity) = &this.activity
        {
            activity.touch();
        }
        read
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for EdgeIo<I> {
    /// Writes at most up to the next response boundary, so that each call is about one
    /// response. Not vectored (the default), so hyper flattens a response into one buffer
    /// and a head always arrives whole, with its body.
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            match &mut this.out {
                Out::Unframed => return Pin::new(&mut this.inner).poll_write(cx, buf),
                // hyper writes nothing after its refusal but flushes and stops.
                Out::Refused(_) => return Poll::Ready(Ok(buf.len())),
                Out::Boundary => {
                    if buf.is_empty() {
                        return Pin::new(&mut this.inner).poll_write(cx, buf);
                    }
                    this.out = match status_code(buf) {
                        // `100 Continue`: hyper's, with no body.
                        Some(status) if status < 200 => Out::Head {
                            matched: 0,
                            body: Some(0),
                        },
                        Some(status) => match this.responses.next() {
                            Some(body) => {
                                this.responses.writing.store(true, Ordering::Release);
                                Out::Head { matched: 0, body }
                            }
                            // Nobody produced it: hyper refusing an unparsable request.
                            None if status >= 400 => Out::Refused(status),
                            None => Out::Unframed,
                        },
                        None => Out::Unframed,
                    };
                }
                Out::Head { matched, body } => {
                    let body = *body;
                    let mut probe = *matched;
                    let end = head_end(&mut probe, buf);
                    // Through the end of this response, head and body in one write (one
                    // segment, as hyper's own write would be), and never beyond it.
                    let limit = match (end, body) {
                        (Some(end), Some(len)) => usize::try_from(len)
                            .map_or(buf.len(), |len| end.saturating_add(len).min(buf.len())),
                        _ => buf.len(),
                    };
                    let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &buf[..limit]))?;
                    match end {
                        Some(end) if n >= end => {
                            this.out = match body {
                                Some(len) if len > (n - end) as u64 => {
                                    Out::Body(len - (n - end) as u64)
                                }
                                Some(_) => {
                                    this.responses.writing.store(false, Ordering::Release);
                                    Out::Boundary
                                }
                                None => Out::Unframed,
                            };
                        }
                        _ => {
                            head_end(matched, &buf[..n]);
                        }
                    }
                    return Poll::Ready(Ok(n));
                }
                Out::Body(left) => {
                    let limit = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
                    let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &buf[..limit]))?;
                    *left -= n as u64;
                    if *left == 0 {
                        this.out = Out::Boundary;
                        this.responses.writing.store(false, Ordering::Release);
                    }
                    return Poll::Ready(Ok(n));
                }
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A sink that takes at most `chunk` bytes per write, to split writes anywhere.
    struct Trickle {
        written: Vec<u8>,
        chunk: usize,
        writes: usize,
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            let n = buf.len().min(this.chunk);
            this.written.extend_from_slice(&buf[..n]);
            this.writes += 1;
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    const OURS: &[u8] =
        b"HTTP/1.1 404 Not Found\r\nx-amzn-requestid: r\r\ncontent-length: 13\r\n\r\n{\"message\":1}";
    const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
    const HYPERS: &[u8] = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: x\r\n\r\n";

    /// What reaches the socket, and the refusal held back, when `announced` bodies were
    /// produced and hyper writes `stream` in one buffer, taken `chunk` bytes at a time.
    async fn follow(
        announced: &[Option<u64>],
        stream: &[u8],
        chunk: usize,
    ) -> (Vec<u8>, Option<u16>) {
        let (written, refused, _) = follow_counting(announced, stream, chunk).await;
        (written, refused)
    }

    /// [`follow`], with the number of writes that reached the socket.
    async fn follow_counting(
        announced: &[Option<u64>],
        stream: &[u8],
        chunk: usize,
    ) -> (Vec<u8>, Option<u16>, usize) {
        let responses = Arc::new(Responses::default());
        for a in announced {
            responses.produced(*a);
        }
        let mut io = EdgeIo::new(
            Trickle {
                written: Vec::new(),
                chunk,
                writes: 0,
            },
            responses.clone(),
            None,
        );
        io.write_all(stream).await.unwrap();
        let refused = io.refused();
        if refused.is_none() {
            assert!(responses.all_written() || announced.contains(&None));
        }
        (io.inner.written, refused, io.inner.writes)
    }

    #[tokio::test]
    async fn each_response_goes_out_in_one_write() {
        // Head and body together (one segment, as hyper would write them), and one
        // response per write.
        let (written, _, writes) = follow_counting(&[Some(13)], OURS, 4096).await;
        assert_eq!((written.as_slice(), writes), (OURS, 1));
        let two = [OURS, OURS].concat();
        let (_, _, writes) = follow_counting(&[Some(13), Some(13)], &two, 4096).await;
        assert_eq!(writes, 2);
    }

    #[tokio::test]
    async fn the_service_answers_pass_and_hypers_own_refusal_is_held_back() {
        let mut stream = [OURS, CONTINUE, OURS].concat();
        stream.extend_from_slice(HYPERS);
        for chunk in [1, 2, 5, 13, 64, 4096] {
            let (written, refused) = follow(&[Some(13), Some(13)], &stream, chunk).await;
            assert_eq!(written, [OURS, CONTINUE, OURS].concat(), "chunk {chunk}");
            assert_eq!(refused, Some(400), "chunk {chunk}");
        }
    }

    #[tokio::test]
    async fn a_body_that_looks_like_a_head_is_still_body() {
        // An announced body holding a refusal-like text, and a HEAD answer (no body).
        let tricky = b"HTTP/1.1 400 Bad Request\r\n\r\n";
        let mut stream = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
            tricky.len()
        )
        .into_bytes();
        stream.extend_from_slice(tricky);
        stream.extend_from_slice(b"HTTP/1.1 404 Not Found\r\ncontent-length: 13\r\n\r\n");
        for chunk in [1, 3, 4096] {
            let (written, refused) =
                follow(&[Some(tricky.len() as u64), Some(0)], &stream, chunk).await;
            assert_eq!(written, stream, "chunk {chunk}");
            assert_eq!(refused, None);
        }
    }

    #[tokio::test]
    async fn an_unknown_length_or_unexpected_bytes_pass_through() {
        let mut stream = OURS.to_vec();
        stream.extend_from_slice(HYPERS);
        let (written, refused) = follow(&[None], &stream, 4096).await;
        assert_eq!((written, refused), (stream.clone(), None));
        let (written, refused) = follow(&[], b"garbage", 4096).await;
        assert_eq!((written, refused), (b"garbage".to_vec(), None));
    }

    #[tokio::test]
    async fn bytes_handed_back_are_read_first() {
        let responses = Arc::new(Responses::default());
        let (client, server) = tokio::io::duplex(64);
        let mut io = EdgeIo::new(server, responses, None);
        let mut client = client;
        client.write_all(b" world").await.unwrap();
        drop(client);
        io.restart(Bytes::from_static(b"hello"));
        assert!(io.has_unread());
        let mut all = String::new();
        io.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "hello world");
    }

    #[test]
    fn head_end_finds_the_blank_line_across_pieces() {
        let head = b"HTTP/1.1 200 OK\r\na: b\r\n\r\r\n\r\nrest";
        let whole = head_end(&mut 0, head);
        assert_eq!(whole, Some(head.len() - 4));
        for split in 0..head.len() {
            let mut m = 0;
            let found = match head_end(&mut m, &head[..split]) {
                Some(i) => Some(i),
                None => head_end(&mut m, &head[split..]).map(|i| i + split),
            };
            assert_eq!(found, whole, "split at {split}");
        }
        assert_eq!(status_code(b"HTTP/1.1 431 Request"), Some(431));
        assert_eq!(status_code(b"HTTP/1.1 43"), None);
    }
}

//! Slow clients, and requests that are not HTTP. Pingora times out each read of a request's
//! headers on its own (60 s), so a client that sends a header byte every 59 s keeps its
//! connection for ever. Every connection here is read through a [`HeaderClock`]: from the first
//! byte of a request to the blank line that ends its headers it has
//! `limits.header_read_timeout_ms`, or the connection is closed. (A body has
//! `limits.body_read_timeout_ms` per read, set on the session; an idle keep-alive connection,
//! Pingora's keep-alive timeout.)
//!
//! HTTP/2 connections (over TLS, by ALPN) are not read through the clock: their headers come in
//! frames, bounded by the h2 codec's own limits, and a connection with no stream open closes after
//! `tls.http2_idle_timeout_ms`.
//!
//! A request whose head does not parse (a bad request line, a malformed header, conflicting
//! lengths) Pingora refuses itself, before any hook of the proxy runs, with a bare `400` (and
//! `CONNECT` with a bare `405`). The clock writes those as every other refusal is written: an
//! RFC 9457 problem with a request id, logged. Pingora closes the connection after them.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Duration,
};

use async_trait::async_trait;
use pingora::{
    apps::ServerApp,
    protocols::{GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, Ssl, Stream, UniqueID, UniqueIDType},
    server::ShutdownWatch,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Where a connection is in its current request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Between requests: nothing of the next one has arrived.
    Idle,
    /// Reading headers; `matched` bytes of the `\r\n\r\n` that ends them seen so far.
    Head { matched: usize },
    /// The headers are in; the body (if any) and the response follow.
    Rest,
}

/// A connection whose request headers must arrive whole within a deadline.
pub struct HeaderClock {
    inner: Stream,
    timeout: Duration,
    phase: Phase,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// A refusal of Pingora's being written in our words: the bytes, and how many went out.
    rewritten: Option<(Vec<u8>, usize)>,
}

/// The status of a refusal Pingora wrote itself (an empty answer from `Server: Pingora`), if
/// `head` is one.
fn pingora_refusal(head: &[u8]) -> Option<u16> {
    // Every write of every answer comes through here: bodies and other heads go on after a
    // look at their first bytes.
    if !head.starts_with(b"HTTP/1.") || head.get(9) != Some(&b'4') || !head.ends_with(b"\r\n\r\n") {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    let status: u16 = text.get(9..12)?.parse().ok()?;
    let lower = text.to_ascii_lowercase();
    let canned = lower.contains("\r\nserver: pingora\r\n") && lower.contains("\r\ncontent-length: 0\r\n");
    (canned && (400..500).contains(&status)).then_some(status)
}

/// The problem that stands for Pingora's bare refusal `status`, as a whole HTTP/1.1 answer.
fn refusal(status: u16) -> Vec<u8> {
    let request_id = uuid::Uuid::now_v7().to_string();
    let detail = match status {
        405 => "This method is not served here.",
        _ => "The request is not valid HTTP: its request line or a header could not be read.",
    };
    let code = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_REQUEST);
    metrics::counter!("edge_unparsable_requests_total", "status" => status.to_string()).increment(1);
    tracing::info!(http.status = status, request_id = %request_id, "refused a request that is not valid HTTP");
    let problem = pola_core::error::Problem::new(
        code,
        crate::proxy::kind_of(status),
        Some(detail.to_owned()),
        Some(request_id.clone()),
    );
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let mut answer = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\n\
         cache-control: no-store\r\nx-content-type-options: nosniff\r\nx-request-id: {request_id}\r\n\
         connection: close\r\n\r\n",
        code.canonical_reason().unwrap_or("Bad Request"),
        body.len(),
    )
    .into_bytes();
    answer.extend_from_slice(&body);
    answer
}

impl std::fmt::Debug for HeaderClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderClock")
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

impl HeaderClock {
    fn new(inner: Stream, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            phase: Phase::Idle,
            deadline: None,
            rewritten: None,
        }
    }

    /// Follows the request through bytes just read.
    fn saw(&mut self, bytes: &[u8]) {
        const END: &[u8] = b"\r\n\r\n";
        for &byte in bytes {
            self.phase = match self.phase {
                Phase::Idle => {
                    self.deadline = Some(Box::pin(tokio::time::sleep(self.timeout)));
                    Phase::Head {
                        matched: usize::from(byte == END[0]),
                    }
                }
                Phase::Head { matched } if byte == END[matched] => match matched + 1 {
                    4 => {
                        self.deadline = None;
                        Phase::Rest
                    }
                    matched => Phase::Head { matched },
                },
                Phase::Head { .. } => Phase::Head {
                    matched: usize::from(byte == END[0]),
                },
                Phase::Rest => return,
            };
        }
    }
}

impl AsyncRead for HeaderClock {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if let Some(deadline) = &mut self.deadline
            && deadline.as_mut().poll(cx).is_ready()
        {
            metrics::counter!("edge_header_timeouts_total").increment(1);
            tracing::info!(
                timeout_ms = self.timeout.as_millis(),
                "closed a connection whose request headers did not arrive in time"
            );
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "request headers did not arrive in time",
            )));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        // A body (or the response's time) needs no look: the clock is off until the next write.
        if self.phase != Phase::Rest {
            self.saw(&buf.filled()[before..]);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for HeaderClock {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        // A response is going out: the next bytes in are the next request's.
        self.phase = Phase::Idle;
        self.deadline = None;
        let this = &mut *self;
        if this.rewritten.is_none()
            && let Some(status) = pingora_refusal(data)
        {
            this.rewritten = Some((refusal(status), 0));
        }
        let Some((answer, sent)) = &mut this.rewritten else {
            return Pin::new(&mut this.inner).poll_write(cx, data);
        };
        // Pingora's bytes count as written once ours all are.
        while *sent < answer.len() {
            match ready!(Pin::new(&mut this.inner).poll_write(cx, &answer[*sent..]))? {
                0 => return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into())),
                n => *sent += n,
            }
        }
        this.rewritten = None;
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[async_trait]
impl Shutdown for HeaderClock {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await;
    }
}

impl UniqueID for HeaderClock {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for HeaderClock {
    fn get_ssl(&self) -> Option<&pingora::protocols::tls::TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<pingora::protocols::tls::SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<pingora::protocols::ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for HeaderClock {
    fn get_timing_digest(&self) -> Vec<Option<pingora::protocols::TimingDigest>> {
        self.inner.get_timing_digest()
    }
}

impl GetProxyDigest for HeaderClock {
    fn get_proxy_digest(&self) -> Option<Arc<pingora::protocols::raw_connect::ProxyDigest>> {
        self.inner.get_proxy_digest()
    }
}

impl GetSocketDigest for HeaderClock {
    fn get_socket_digest(&self) -> Option<Arc<pingora::protocols::SocketDigest>> {
        self.inner.get_socket_digest()
    }
}

#[async_trait]
impl Peek for HeaderClock {
    async fn try_peek(&mut self, buf: &mut [u8]) -> std::io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}

/// An app whose connections are read through a [`HeaderClock`].
pub struct SlowClients<A> {
    pub inner: Arc<A>,
    pub header_timeout: Duration,
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for SlowClients<A> {
    async fn process_new(self: &Arc<Self>, session: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        // A kept-alive connection comes back already on the clock. HTTP/2 frames its headers
        // itself (and has no blank line to wait for): its connections are not clocked.
        let session: Stream =
            match session.as_any().is::<HeaderClock>() || session.selected_alpn_proto() == Some(pingora::protocols::ALPN::H2) {
                true => session,
                false => Box::new(HeaderClock::new(session, self.header_timeout)),
            };
        self.inner.process_new(session, shutdown).await
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_runs_from_a_requests_first_byte_to_the_end_of_its_headers() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let (client, _server) = tokio::io::duplex(64);
            let mut clock = HeaderClock::new(Box::new(client), Duration::from_secs(5));
            clock.saw(b"GET / HTTP/1.1\r\nHost: x\r\n");
            assert!(matches!(clock.phase, Phase::Head { matched: 2 }) && clock.deadline.is_some());
            clock.saw(b"\r");
            clock.saw(b"\nbody");
            assert_eq!(clock.phase, Phase::Rest);
            assert!(clock.deadline.is_none());
            clock.phase = Phase::Idle;
            clock.saw(b"\r\n\r");
            assert!(matches!(clock.phase, Phase::Head { matched: 3 }));
        });
    }

    #[test]
    fn only_pingora_s_own_empty_refusals_are_rewritten() {
        let canned = b"HTTP/1.1 400 Bad Request\r\nServer: Pingora\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 0\r\nCache-Control: private, no-store\r\n\r\n";
        assert_eq!(pingora_refusal(canned), Some(400));
        let proxied = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ncontent-length: 120\r\n\r\n";
        assert_eq!(pingora_refusal(proxied), None);
        let ok = b"HTTP/1.1 200 OK\r\nServer: Pingora\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(pingora_refusal(ok), None);
        assert_eq!(pingora_refusal(b"\x00\x01 not text"), None);
        let answer = String::from_utf8(refusal(400)).expect("text");
        let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n") && head.contains("content-type: application/problem+json"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let problem: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(problem["type"], "https://pola.lk/problems/bad-request");
        assert!(head.contains(&format!("x-request-id: {}", problem["request_id"].as_str().expect("an id"))));
    }
}

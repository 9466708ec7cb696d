//! A minimal HTTP/1.1 POST client for aria2's JSON-RPC on 127.0.0.1: one
//! request per connection, `Content-Length` framing both ways, a deadline
//! over the whole exchange. No TLS, no redirects: aria2 needs none of that.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::error::Aria2Error;

/// Answers larger than this are refused (a poll answer is a few KiB).
const MAX_BODY: usize = 32 * 1024 * 1024;
/// Longest status or header line accepted.
const MAX_LINE: usize = 16 * 1024;

/// POSTs `body` as `application/json` to `http://addr{path}`; returns the
/// status code and the body. Any HTTP status is returned as is: aria2 answers
/// RPC errors with 400 and a JSON body the caller wants to read.
pub async fn post_json(
    addr: SocketAddr,
    path: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<(u16, Vec<u8>), Aria2Error> {
    match tokio::time::timeout(timeout, exchange(addr, path, body)).await {
        Ok(result) => result,
        Err(_elapsed) => Err(Aria2Error::Timeout { addr, timeout }),
    }
}

async fn exchange(addr: SocketAddr, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), Aria2Error> {
    let connect = |source| Aria2Error::Connect { addr, source };
    let mut stream = TcpStream::connect(addr).await.map_err(connect)?;
    let _ = stream.set_nodelay(true);
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Accept: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut request = Vec::with_capacity(head.len() + body.len());
    request.extend_from_slice(head.as_bytes());
    request.extend_from_slice(body);
    stream.write_all(&request).await.map_err(connect)?;

    let mut reader = BufReader::new(stream);
    let bad = |detail: String| Aria2Error::Http { addr, detail };
    let status_line = read_line(&mut reader).await.map_err(connect)?;
    let status = parse_status(&status_line)
        .ok_or_else(|| bad(format!("status line {:?}", truncate(&status_line))))?;

    let mut content_length = None;
    let mut chunked = false;
    loop {
        let line = read_line(&mut reader).await.map_err(connect)?;
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                let n: usize = value
                    .parse()
                    .map_err(|_| bad(format!("Content-Length {value:?}")))?;
                content_length = Some(n);
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                && !value.eq_ignore_ascii_case("identity")
            {
                chunked = true;
            }
        }
    }
    if chunked {
        return Err(bad("chunked transfer encoding is not supported".into()));
    }
    let body = match content_length {
        Some(n) if n > MAX_BODY => return Err(bad(format!("body of {n} bytes is too large"))),
        Some(n) => {
            let mut buf = vec![0; n];
            reader.read_exact(&mut buf).await.map_err(connect)?;
            buf
        }
        // No length: the body runs to the end of the connection (we sent `Connection: close`).
        None => {
            let mut buf = Vec::new();
            (&mut reader)
                .take(MAX_BODY as u64 + 1)
                .read_to_end(&mut buf)
                .await
                .map_err(connect)?;
            if buf.len() > MAX_BODY {
                return Err(bad("body is too large".into()));
            }
            buf
        }
    };
    Ok((status, body))
}

/// Reads one CRLF- (or LF-) terminated line without the terminator; EOF before any byte is an error.
async fn read_line<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> std::io::Result<String> {
    let mut buf = Vec::new();
    let n = reader
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut buf)
        .await?;
    if n == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed before the answer",
        ));
    }
    if buf.last() != Some(&b'\n') {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "header line too long or cut off",
        ));
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// `HTTP/1.1 200 OK` → 200.
fn parse_status(line: &str) -> Option<u16> {
    let mut parts = line.split_ascii_whitespace();
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    parts.next()?.parse().ok()
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn serve_once(answer: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = vec![0; 4096];
            let _ = sock.read(&mut buf).await.unwrap();
            sock.write_all(answer).await.unwrap();
        });
        addr
    }

    #[test]
    fn status_lines() {
        assert_eq!(parse_status("HTTP/1.1 200 OK"), Some(200));
        assert_eq!(parse_status("HTTP/1.0 400 Bad Request"), Some(400));
        assert_eq!(parse_status("SSH-2.0-OpenSSH"), None);
    }

    #[tokio::test]
    async fn reads_a_content_length_body() {
        let addr =
            serve_once(b"HTTP/1.1 400 Bad Request\r\nContent-length: 5\r\n\r\nhelloEXTRA").await;
        let (status, body) = post_json(addr, "/jsonrpc", b"{}", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(status, 400);
        assert_eq!(body, b"hello");
    }

    #[tokio::test]
    async fn reads_to_eof_without_a_length() {
        let addr = serve_once(b"HTTP/1.1 200 OK\r\n\r\nall of it").await;
        let (_, body) = post_json(addr, "/", b"{}", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(body, b"all of it");
    }

    #[tokio::test]
    async fn garbage_and_silence_are_clear_errors() {
        let addr = serve_once(b"SSH-2.0-OpenSSH_9.6\r\n").await;
        let err = post_json(addr, "/", b"{}", Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(err, Aria2Error::Http { .. }), "{err}");

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let err = post_json(addr, "/", b"{}", Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(matches!(err, Aria2Error::Timeout { .. }), "{err}");
        drop(listener);

        let err = post_json(addr, "/", b"{}", Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(err.is_unreachable(), "{err}");
    }
}

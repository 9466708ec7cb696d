//! Newline-delimited JSON frames with a bound: a reader never holds more
//! than its limit of one line, whatever the peer sends.

use std::io;

use serde::Serialize;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

/// Why no frame was read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("a frame longer than {limit} bytes")]
    TooLong { limit: usize },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Reads one line (without its newline) of at most `limit` bytes. `None` at a
/// clean end of stream; a last line without a newline still counts. Once a
/// line is too long the stream is out of step: the caller closes it.
pub async fn read_frame<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    limit: usize,
) -> Result<Option<Vec<u8>>, FrameError> {
    let mut line = Vec::new();
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok((!line.is_empty()).then_some(line));
        }
        let (chunk, found) = match memchr(available) {
            Some(at) => (&available[..at], Some(at)),
            None => (available, None),
        };
        if line.len() + chunk.len() > limit {
            return Err(FrameError::TooLong { limit });
        }
        line.extend_from_slice(chunk);
        match found {
            Some(at) => {
                reader.consume(at + 1);
                return Ok(Some(line));
            }
            None => {
                let used = available.len();
                reader.consume(used);
            }
        }
    }
}

fn memchr(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|b| *b == b'\n')
}

/// `value` as one frame: its JSON and a newline.
pub fn encode(value: &impl Serialize) -> Vec<u8> {
    // Serializing plain data into a Vec cannot fail: no map has non-string
    // keys in the wire types, and a Vec never refuses a write.
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// Writes one already-encoded frame (ending in a newline).
pub async fn write_frame<W: AsyncWrite + Unpin>(writer: &mut W, frame: &[u8]) -> io::Result<()> {
    writer.write_all(frame).await?;
    writer.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::BufReader;

    #[tokio::test]
    async fn lines_come_one_by_one_and_a_long_one_is_refused() {
        let data = b"one\ntwo\nthree".to_vec();
        let mut reader = BufReader::with_capacity(2, &data[..]);
        assert_eq!(
            read_frame(&mut reader, 10).await.unwrap(),
            Some(b"one".to_vec())
        );
        assert_eq!(
            read_frame(&mut reader, 10).await.unwrap(),
            Some(b"two".to_vec())
        );
        assert_eq!(
            read_frame(&mut reader, 10).await.unwrap(),
            Some(b"three".to_vec())
        );
        assert_eq!(read_frame(&mut reader, 10).await.unwrap(), None);

        let long = [b'x'; 100];
        let mut reader = BufReader::with_capacity(8, &long[..]);
        assert!(matches!(
            read_frame(&mut reader, 10).await,
            Err(FrameError::TooLong { limit: 10 })
        ));
    }
}

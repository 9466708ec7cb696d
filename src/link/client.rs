//! A client of a running instance's control socket: connect, say hello,
//! then ask (one reply per request) or follow a subscription.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::io::BufReader;
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use super::frames::{FrameError, encode, read_frame, write_frame};
use crate::model::{Ask, Hello, PROTOCOL_VERSION, Request, Role, ServerFrame, Welcome};

/// The longest frame a client takes: a snapshot of a very large fleet.
pub const SERVER_FRAME_LIMIT: usize = 256 * 1024 * 1024;
/// How long connecting and the hello may take before the instance counts as hung.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why talking to the instance failed. Display is one line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// No socket, or nobody listening on it (a killed instance's leftover).
    #[error("no instance running on {}", dir.display())]
    NotRunning { dir: PathBuf },
    #[error("the instance on {} did not answer within {}s", dir.display(), CONNECT_TIMEOUT.as_secs())]
    Timeout { dir: PathBuf },
    /// The instance said no (another user, another protocol version, ...).
    #[error("the instance refused: {0}")]
    Refused(String),
    #[error(
        "the instance speaks protocol {theirs}, this steward {PROTOCOL_VERSION} (run the same steward version)"
    )]
    Version { theirs: u32 },
    /// The connection ended before the reply.
    #[error("the instance closed the connection")]
    Closed,
    #[error("unreadable frame from the instance: {0}")]
    Garbled(String),
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("control socket {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

/// One request's outcome as the instance sent it.
#[derive(Debug)]
pub struct Reply {
    pub ok: bool,
    pub text: String,
    pub value: Option<Box<RawValue>>,
}

/// A connection past its hello.
pub struct Client {
    pub welcome: Welcome,
    frames: Frames,
    requests: Requests,
}

impl Client {
    /// Connects to `socket` (the instance of data dir `dir`) as `role`;
    /// `who` names this client in the instance's log.
    pub async fn connect(
        dir: &Path,
        socket: &Path,
        role: Role,
        who: &str,
    ) -> Result<Client, LinkError> {
        let timeout = |_| LinkError::Timeout {
            dir: dir.to_path_buf(),
        };
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, UnixStream::connect(socket))
            .await
            .map_err(timeout)?
            .map_err(|source| match source.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                    LinkError::NotRunning {
                        dir: dir.to_path_buf(),
                    }
                }
                _ => LinkError::Io {
                    path: socket.to_path_buf(),
                    source,
                },
            })?;
        let (read, write) = stream.into_split();
        let mut frames = Frames {
            reader: BufReader::new(read),
        };
        let mut requests = Requests {
            writer: write,
            next_id: 1,
        };
        let hello = Hello {
            protocol: PROTOCOL_VERSION,
            role,
            client: who.to_string(),
        };
        let welcome = tokio::time::timeout(CONNECT_TIMEOUT, async {
            requests.write(&encode(&hello)).await?;
            match frames.next().await? {
                Some(ServerFrame::Welcome(w)) if w.protocol == PROTOCOL_VERSION => Ok(w),
                Some(ServerFrame::Welcome(w)) => Err(LinkError::Version { theirs: w.protocol }),
                Some(ServerFrame::Error { text }) => Err(LinkError::Refused(text)),
                Some(other) => Err(LinkError::Garbled(format!("{other:?} before the welcome"))),
                None => Err(LinkError::Closed),
            }
        })
        .await
        .map_err(timeout)??;
        Ok(Client {
            welcome,
            frames,
            requests,
        })
    }

    /// Sends `ask` and waits for its reply; snapshot and log frames that
    /// arrive meanwhile are skipped.
    pub async fn ask(&mut self, ask: Ask) -> Result<Reply, LinkError> {
        let id = self.requests.send(ask).await?;
        loop {
            match self.frames.next().await? {
                Some(ServerFrame::Reply {
                    id: got,
                    ok,
                    text,
                    value,
                }) if got == id => return Ok(Reply { ok, text, value }),
                Some(ServerFrame::Error { text }) => return Err(LinkError::Refused(text)),
                Some(_) => continue,
                None => return Err(LinkError::Closed),
            }
        }
    }

    /// Sends `ask` without waiting for the reply; returns its id.
    pub async fn send(&mut self, ask: Ask) -> Result<u64, LinkError> {
        self.requests.send(ask).await
    }

    /// The next frame from the instance; `None` once it closed the connection.
    pub async fn next(&mut self) -> Result<Option<ServerFrame>, LinkError> {
        self.frames.next().await
    }

    /// The two directions apart: frames read on one task while requests
    /// are sent from another (an attached dashboard).
    pub fn split(self) -> (Frames, Requests) {
        (self.frames, self.requests)
    }
}

/// The reading half of a client.
pub struct Frames {
    reader: BufReader<OwnedReadHalf>,
}

impl Frames {
    /// The next frame; `None` once the instance closed the connection.
    pub async fn next(&mut self) -> Result<Option<ServerFrame>, LinkError> {
        let Some(line) = read_frame(&mut self.reader, SERVER_FRAME_LIMIT).await? else {
            return Ok(None);
        };
        ServerFrame::parse(&line)
            .map(Some)
            .map_err(|e| LinkError::Garbled(e.to_string()))
    }
}

/// The writing half of a client.
pub struct Requests {
    writer: OwnedWriteHalf,
    next_id: u64,
}

impl Requests {
    /// Sends `ask`; returns its id.
    pub async fn send(&mut self, ask: Ask) -> Result<u64, LinkError> {
        let id = self.next_id;
        self.next_id += 1;
        self.write(&encode(&Request { id, ask })).await?;
        Ok(id)
    }

    async fn write(&mut self, frame: &[u8]) -> Result<(), LinkError> {
        write_frame(&mut self.writer, frame)
            .await
            .map_err(|_| LinkError::Closed)
    }
}

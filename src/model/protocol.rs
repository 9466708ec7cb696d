//! The control socket's frames: newline-delimited JSON, one frame a line.
//! A client opens with a `Hello` (protocol version and role); the instance
//! answers `Welcome` or an `Error` and closes. Then each `Request` gets
//! exactly one `Reply` with its id; a subscription streams `Snapshot` and
//! `Log` frames between replies. A client that closes its sending side ends
//! the connection, subscription included, once its replies are sent; one
//! that has not subscribed and stays silent for a minute is closed.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::Command;

/// Bumped on any change a peer of the previous version would misread.
pub const PROTOCOL_VERSION: u32 = 1;

/// What a connection may do: `control` sends commands; `view` only reads
/// (an attached `--read-only` dashboard): its commands are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Control,
    View,
}

/// The client's first frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: u32,
    pub role: Role,
    /// Who is asking, for the instance's log (`steward attach`, `steward stop`).
    #[serde(default)]
    pub client: String,
}

/// Every frame after the hello.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub id: u64,
    #[serde(flatten)]
    pub ask: Ask,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "ask", rename_all = "snake_case")]
pub enum Ask {
    /// Carry out a command; the reply says how it went.
    Command { command: Command },
    /// The latest snapshot, as the reply's value.
    Status,
    /// Stream snapshots (the latest one at once, then each new one) and,
    /// with `logs`, the instance's log lines, until the connection closes.
    Subscribe {
        #[serde(default)]
        logs: bool,
    },
}

/// How one request ended: `ok` with a line to show (and a value, for
/// `--json`), or not, with a line saying why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub ok: bool,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
}

impl Answer {
    pub fn ok(text: impl Into<String>) -> Answer {
        Answer {
            ok: true,
            text: text.into(),
            value: None,
        }
    }

    pub fn error(text: impl Into<String>) -> Answer {
        Answer {
            ok: false,
            text: text.into(),
            value: None,
        }
    }

    pub fn with_value(mut self, value: serde_json::Value) -> Answer {
        self.value = Some(value);
        self
    }
}

/// What the instance sends. `Snapshot` and `Reply`'s value are written
/// from already-encoded JSON (one encoding per snapshot, whatever the
/// number of clients), so they are read as `RawValue` (see [`ServerFrame::parse`]).
#[derive(Debug)]
pub enum ServerFrame {
    Welcome(Welcome),
    Reply {
        id: u64,
        ok: bool,
        text: String,
        value: Option<Box<RawValue>>,
    },
    Snapshot {
        snapshot: Box<RawValue>,
    },
    Log(LogLine),
    /// The connection is refused or broken (bad hello, a frame too long,
    /// another user); the instance closes it after this line.
    Error {
        text: String,
    },
}

/// A frame's fields as read in one pass: serde's tagged enums buffer their
/// content, which a `RawValue` cannot be read from.
#[derive(Deserialize)]
struct FrameFields {
    frame: String,
    #[serde(default)]
    id: u64,
    #[serde(default)]
    ok: bool,
    #[serde(default)]
    text: String,
    #[serde(default)]
    value: Option<Box<RawValue>>,
    #[serde(default)]
    snapshot: Option<Box<RawValue>>,
}

impl ServerFrame {
    /// One line from the instance.
    pub fn parse(line: &[u8]) -> Result<ServerFrame, serde_json::Error> {
        let fields: FrameFields = serde_json::from_slice(line)?;
        Ok(match fields.frame.as_str() {
            "welcome" => ServerFrame::Welcome(serde_json::from_slice(line)?),
            "log" => ServerFrame::Log(serde_json::from_slice(line)?),
            "reply" => ServerFrame::Reply {
                id: fields.id,
                ok: fields.ok,
                text: fields.text,
                value: fields.value,
            },
            "snapshot" => ServerFrame::Snapshot {
                snapshot: fields
                    .snapshot
                    .ok_or_else(|| serde::de::Error::missing_field("snapshot"))?,
            },
            "error" => ServerFrame::Error { text: fields.text },
            other => {
                return Err(serde::de::Error::unknown_variant(
                    other,
                    &["welcome", "log", "reply", "snapshot", "error"],
                ));
            }
        })
    }
}

/// The instance's answer to a good hello.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    pub protocol: u32,
    pub pid: i32,
    pub version: String,
    pub data_dir: PathBuf,
    pub role: Role,
}

/// One line of the instance's log, as its log pane shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub at_ms: i64,
    pub level: LogLevel,
    pub target: String,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_read_flat() {
        let request = Request {
            id: 7,
            ask: Ask::Command {
                command: Command::SetEnabled {
                    id: "alice".into(),
                    enabled: false,
                },
            },
        };
        let text = serde_json::to_string(&request).unwrap();
        assert_eq!(
            text,
            r#"{"id":7,"ask":"command","command":{"command":"set_enabled","id":"alice","enabled":false}}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), request);
        let subscribe: Request = serde_json::from_str(r#"{"id":1,"ask":"subscribe"}"#).unwrap();
        assert_eq!(subscribe.ask, Ask::Subscribe { logs: false });
    }

    #[test]
    fn server_frames_read_raw_values() {
        let frame = ServerFrame::parse(
            br#"{"frame":"reply","id":3,"ok":true,"text":"fine","value":{"gid":"ab"}}"#,
        )
        .unwrap();
        match frame {
            ServerFrame::Reply { id, ok, value, .. } => {
                assert_eq!((id, ok), (3, true));
                assert_eq!(value.unwrap().get(), r#"{"gid":"ab"}"#);
            }
            other => panic!("{other:?}"),
        }
        let snapshot = ServerFrame::parse(br#"{"frame":"snapshot","snapshot":{"seq":4}}"#).unwrap();
        assert!(
            matches!(snapshot, ServerFrame::Snapshot { snapshot } if snapshot.get() == r#"{"seq":4}"#)
        );
        let log = ServerFrame::parse(
            br#"{"frame":"log","at_ms":1,"level":"warn","target":"t","text":"x"}"#,
        )
        .unwrap();
        assert!(matches!(
            log,
            ServerFrame::Log(LogLine {
                level: LogLevel::Warn,
                ..
            })
        ));
        assert!(ServerFrame::parse(br#"{"frame":"fly"}"#).is_err());
    }
}

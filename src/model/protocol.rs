//! The control socket's frames: newline-delimited JSON, one frame a line.
//! A client opens with a `Hello` (protocol version and role); the instance
//! answers `Welcome` or an `Error` and closes. Then each `Request` gets
//! exactly one `Reply` with its id; a subscription streams `Snapshot` and
//! `Log` frames between replies.

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
/// number of clients), so they are read as `RawValue`. (Read by hand, see
/// [`FlatFrame`]: serde's internally tagged enums buffer their content,
/// and a `RawValue` cannot be read from that buffer.)
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

/// Every field any server frame has, read in one pass with the raw values
/// kept raw; `frame` then says which of them make the frame.
#[derive(Deserialize)]
struct FlatFrame {
    frame: String,
    id: Option<u64>,
    ok: Option<bool>,
    text: Option<String>,
    value: Option<Box<RawValue>>,
    snapshot: Option<Box<RawValue>>,
    protocol: Option<u32>,
    pid: Option<i32>,
    version: Option<String>,
    data_dir: Option<PathBuf>,
    role: Option<Role>,
    at_ms: Option<i64>,
    level: Option<LogLevel>,
    target: Option<String>,
}

impl<'de> Deserialize<'de> for ServerFrame {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let f = FlatFrame::deserialize(deserializer)?;
        fn need<T, E: Error>(field: Option<T>, name: &'static str) -> Result<T, E> {
            field.ok_or_else(|| E::missing_field(name))
        }
        Ok(match f.frame.as_str() {
            "welcome" => ServerFrame::Welcome(Welcome {
                protocol: need(f.protocol, "protocol")?,
                pid: need(f.pid, "pid")?,
                version: need(f.version, "version")?,
                data_dir: need(f.data_dir, "data_dir")?,
                role: need(f.role, "role")?,
            }),
            "reply" => ServerFrame::Reply {
                id: need(f.id, "id")?,
                ok: need(f.ok, "ok")?,
                text: need(f.text, "text")?,
                value: f.value,
            },
            "snapshot" => ServerFrame::Snapshot {
                snapshot: need(f.snapshot, "snapshot")?,
            },
            "log" => ServerFrame::Log(LogLine {
                at_ms: need(f.at_ms, "at_ms")?,
                level: need(f.level, "level")?,
                target: need(f.target, "target")?,
                text: need(f.text, "text")?,
            }),
            "error" => ServerFrame::Error {
                text: need(f.text, "text")?,
            },
            other => {
                return Err(D::Error::unknown_variant(
                    other,
                    &["welcome", "reply", "snapshot", "log", "error"],
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
        let frame: ServerFrame = serde_json::from_str(
            r#"{"frame":"reply","id":3,"ok":true,"text":"fine","value":{"gid":"ab"}}"#,
        )
        .unwrap();
        match frame {
            ServerFrame::Reply { id, ok, value, .. } => {
                assert_eq!((id, ok), (3, true));
                assert_eq!(value.unwrap().get(), r#"{"gid":"ab"}"#);
            }
            other => panic!("{other:?}"),
        }
        let frame: ServerFrame =
            serde_json::from_str(r#"{"frame":"snapshot","snapshot":{"accounts":[]}}"#).unwrap();
        assert!(
            matches!(frame, ServerFrame::Snapshot { snapshot } if snapshot.get() == r#"{"accounts":[]}"#)
        );
        let frame: ServerFrame = serde_json::from_str(
            r#"{"frame":"welcome","protocol":1,"pid":9,"version":"0","data_dir":"/d","role":"control"}"#,
        )
        .unwrap();
        assert!(matches!(
            frame,
            ServerFrame::Welcome(Welcome { pid: 9, .. })
        ));
        assert!(serde_json::from_str::<ServerFrame>(r#"{"frame":"fly"}"#).is_err());
        assert!(serde_json::from_str::<ServerFrame>(r#"{"frame":"reply","id":1}"#).is_err());
    }
}

//! The dashboard in a detached tmux session: keys in with `send-keys`, the
//! screen out with `capture-pane`, polled with a deadline. The session is
//! killed on drop.

use std::process::Command;
use std::time::Duration;

use super::wait_for;

pub struct Tmux {
    name: String,
}

impl Tmux {
    /// Runs `command` in a new `width`x`height` session called `name`.
    pub fn start(name: &str, width: u16, height: u16, command: &str) -> Tmux {
        let ok = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
                "-s",
                name,
                command,
            ])
            .env_remove("TMUX")
            .status()
            .expect("tmux installed (apt-get install tmux)")
            .success();
        assert!(ok, "tmux new-session failed");
        Tmux {
            name: name.to_string(),
        }
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut cmd = Command::new("tmux");
        cmd.args(["send-keys", "-t", &self.name]).args(keys);
        assert!(cmd.status().unwrap().success());
    }

    pub fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen satisfies `check`; panics with the screen otherwise.
    pub fn wait_screen(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        wait_for(Duration::from_secs(20), || {
            Some(self.screen()).filter(|s| check(s))
        })
        .unwrap_or_else(|| panic!("screen never showed {what}:\n{}", self.screen()))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

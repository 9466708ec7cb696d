//! The `meta` table: small named values (shutdown report, aria2 RPC info, ...).

use rusqlite::{OptionalExtension, params};

use super::{Ctx, Store, StoreError};

impl Store {
    pub fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .ctx(&self.path)
    }

    /// Inserts or replaces `key`.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .ctx(&self.path)?;
        Ok(())
    }

    /// Removes `key`; false if it was not set.
    pub fn delete_meta(&self, key: &str) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute("DELETE FROM meta WHERE key = ?1", [key])
            .ctx(&self.path)?;
        Ok(n > 0)
    }
}

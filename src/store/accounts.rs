//! The `accounts` table: id, display name, enabled flag, optional secret.

use rusqlite::{ErrorCode, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::{Ctx, Store, StoreError};

/// One account. The secret is never serialised and never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRow {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    /// Passed to the worker as `STEWARD_SECRET`; left out of serde output.
    #[serde(skip_serializing, default)]
    pub secret: Option<String>,
    pub created_ms: i64,
}

impl AccountRow {
    /// `Some(••••, len 12)` / `None`: the only way a secret is ever shown.
    pub fn secret_display(&self) -> String {
        match &self.secret {
            Some(s) => format!("Some(••••, len {})", s.chars().count()),
            None => "None".to_owned(),
        }
    }
}

impl std::fmt::Debug for AccountRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        struct Raw(String);
        impl std::fmt::Debug for Raw {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
        f.debug_struct("AccountRow")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("enabled", &self.enabled)
            .field("secret", &Raw(self.secret_display()))
            .field("created_ms", &self.created_ms)
            .finish()
    }
}

const COLUMNS: &str = "id, name, enabled, secret, created_ms";

fn from_row(r: &Row<'_>) -> rusqlite::Result<AccountRow> {
    Ok(AccountRow {
        id: r.get(0)?,
        name: r.get(1)?,
        enabled: r.get(2)?,
        secret: r.get(3)?,
        created_ms: r.get(4)?,
    })
}

impl Store {
    /// Inserts a new account; [`StoreError::AccountExists`] if the id is taken.
    pub fn add_account(&self, a: &AccountRow) -> Result<(), StoreError> {
        let res = self.conn.execute(
            "INSERT INTO accounts (id, name, enabled, secret, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![a.id, a.name, a.enabled, a.secret, a.created_ms],
        );
        match res {
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                Err(StoreError::AccountExists(a.id.clone()))
            }
            other => other.map(drop).ctx(&self.path),
        }
    }

    /// Deletes the account row; false if there was none.
    pub fn remove_account(&self, id: &str) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute("DELETE FROM accounts WHERE id = ?1", [id])
            .ctx(&self.path)?;
        Ok(n > 0)
    }

    /// Sets the enabled flag; false if there is no such account.
    pub fn set_enabled(&self, id: &str, enabled: bool) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE accounts SET enabled = ?2 WHERE id = ?1",
                params![id, enabled],
            )
            .ctx(&self.path)?;
        Ok(n > 0)
    }

    /// Sets or clears the secret; false if there is no such account.
    pub fn set_secret(&self, id: &str, secret: Option<&str>) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE accounts SET secret = ?2 WHERE id = ?1",
                params![id, secret],
            )
            .ctx(&self.path)?;
        Ok(n > 0)
    }

    /// Every account, ordered by id.
    pub fn accounts(&self) -> Result<Vec<AccountRow>, StoreError> {
        self.all_rows(
            &format!("SELECT {COLUMNS} FROM accounts ORDER BY id"),
            [],
            from_row,
        )
    }

    /// One account by id.
    pub fn account(&self, id: &str) -> Result<Option<AccountRow>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM accounts WHERE id = ?1"),
                [id],
                from_row,
            )
            .optional()
            .ctx(&self.path)
    }
}

//! [`Columns`]: how a database-backed store turns values into its text columns and back (JSON
//! documents, enum names, counts), with errors that name the store, the record and the column.
//! One copy for SQLite and PostgreSQL, which keep the same columns.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::StoreError;

/// The column codec of the store named `store` (`"sqlite"`, `"postgres"`): its errors start
/// with that name, then what is being read or written (`run `…``), then the column.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Columns {
    store: &'static str,
}

impl Columns {
    pub(crate) const fn of(store: &'static str) -> Self {
        Columns { store }
    }

    /// `value` as a JSON document.
    pub(crate) fn write_json<T: Serialize + ?Sized>(
        self,
        value: &T,
        what: impl Fn() -> String,
        column: &str,
    ) -> Result<String, StoreError> {
        serde_json::to_string(value).map_err(|e| {
            StoreError::backend_with(format_args!("{}: {}: cannot encode `{column}` as JSON", self.store, what()), e)
        })
    }

    /// A JSON document read back.
    pub(crate) fn read_json<T: DeserializeOwned>(
        self,
        text: &str,
        what: impl Fn() -> String,
        column: &str,
    ) -> Result<T, StoreError> {
        serde_json::from_str(text).map_err(|e| {
            StoreError::backend_with(format_args!("{}: {}: `{column}` holds invalid JSON", self.store, what()), e)
        })
    }

    /// A unit enum variant as its serde name (`"running"`).
    pub(crate) fn write_enum<T: Serialize>(
        self,
        value: &T,
        what: impl Fn() -> String,
        column: &str,
    ) -> Result<String, StoreError> {
        match serde_json::to_value(value) {
            Ok(Value::String(text)) => Ok(text),
            _ => Err(StoreError::backend(format!("{}: {}: cannot encode `{column}` as text", self.store, what()))),
        }
    }

    /// A unit enum variant read back from its serde name.
    pub(crate) fn read_enum<T: DeserializeOwned>(
        self,
        text: &str,
        what: impl Fn() -> String,
        column: &str,
    ) -> Result<T, StoreError> {
        serde_json::from_value(Value::String(text.to_owned()))
            .map_err(|_| StoreError::backend(format!("{}: {}: unknown `{column}` {text:?}", self.store, what())))
    }

    /// A count kept as a 64-bit integer, read back as the `u32` the model holds.
    pub(crate) fn read_count(self, value: i64, what: impl Fn() -> String, column: &str) -> Result<u32, StoreError> {
        u32::try_from(value).map_err(|_| {
            StoreError::backend(format!("{}: {}: `{column}` is out of range: {value}", self.store, what()))
        })
    }
}

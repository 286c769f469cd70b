//! Per-test SQLite databases: a file in a fresh temporary directory, removed with the value.
//!
//! A real file, not `sqlite::memory:`, so WAL, `synchronous=FULL`, several pooled connections
//! and busy handling behave as in production.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// A SQLite database file that exists for one test.
#[derive(Debug)]
pub struct SqliteTestDb {
    path: PathBuf,
    // Dropped last: removes the directory and the database with it.
    _dir: TempDir,
}

impl SqliteTestDb {
    /// The database URL, for `Store::connect`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }

    /// The database file (created on first connect).
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A new, empty database location in its own temporary directory. The file itself is created
/// by the first `Store::connect` (which also creates missing parent directories, so the path
/// includes one to prove it).
///
/// # Panics
/// When no temporary directory can be created (a test harness failure).
#[must_use]
pub fn fresh_database() -> SqliteTestDb {
    let dir = tempfile::Builder::new()
        .prefix("vigil-test-")
        .tempdir()
        .unwrap_or_else(|e| {
            panic!("creating a temporary directory for a SQLite test database: {e}")
        });
    let path = dir.path().join("data").join("vigil.db");
    SqliteTestDb { path, _dir: dir }
}

//! Storage backends for iotjobs, each an implementation of [`iotjobs_core::Store`].
//!
//! Backends persist what the core decides; they never decide a rule themselves (no
//! status checks, no counter arithmetic here: both come from `iotjobs-core`). Every
//! backend must pass the one [`conformance`] suite unchanged.
//!
//! - [`sqlite`]: the embedded default. One writer thread with group commit (many
//!   requests share one durable fsync), a pool of reader connections.
//! - [`postgres`]: for several stateless nodes sharing one database. Row locks make
//!   racing commands on one execution have exactly one winner.

pub mod conformance;
pub mod postgres;
pub mod sqlite;

pub use postgres::PgStore;
pub use sqlite::{SqliteOptions, SqliteStore, Synchronous};

use iotjobs_core::Store;

/// Open the backend a `--database` URL names. Returns a description of what was
/// opened (for the start-up log) alongside the store.
///
/// Kept as one function so that the binary has a single place that knows URL schemes.
pub fn open_sqlite_url(url: &str) -> Result<SqliteStore, String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| format!("unsupported database URL {url:?}: expected sqlite://PATH"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() {
        return Err("sqlite:// URL needs a file path".into());
    }
    let mut options = SqliteOptions::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("synchronous", v)) => {
                options.synchronous = Synchronous::parse(v)
                    .ok_or_else(|| format!("synchronous must be full or normal, not {v:?}"))?
            }
            _ => return Err(format!("unknown sqlite URL parameter {pair:?}")),
        }
    }
    SqliteStore::open(std::path::Path::new(path), options).map_err(|e| e.to_string())
}

/// Compile-time check that both backends implement the port.
const _: fn() = || {
    fn assert_store<S: Store>() {}
    assert_store::<SqliteStore>();
    assert_store::<PgStore>();
};

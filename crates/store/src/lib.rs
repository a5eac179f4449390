//! Storage backends for iotjobs, each an implementation of [`iotjobs_core::Store`].
//!
//! Backends persist what the core decides; they never decide a rule themselves (no
//! status checks, no counter arithmetic here: both come from `iotjobs-core`). Every
//! backend must pass the one [`conformance`] suite unchanged.
//!
//! The `Store` logic is written once: [`ops`] (what one transaction loads, which core
//! function decides, what is written back) over [`tx::Tx`] (the statements a backend
//! offers), and `store_impl` (how many transactions each `Store` method takes), which
//! each backend instantiates with its own way of running a transaction.
//!
//! - [`sqlite`]: the embedded default. One writer thread with group commit (many
//!   requests share one durable fsync), a pool of reader connections.
//! - [`postgres`]: for several stateless nodes sharing one database. Row locks make
//!   racing commands on one execution have exactly one winner.

pub mod conformance;
mod ops;
mod policy_codec;
pub mod postgres;
pub mod sqlite;
mod store_impl;
mod tx;

pub use postgres::PgStore;
pub use sqlite::{SqliteOptions, SqliteStore, Synchronous};

use iotjobs_core::Store;

/// Open the SQLite database a `sqlite://PATH[?synchronous=full|normal]` URL names.
/// (The binary picks the backend from the URL's scheme; this parses the SQLite form.)
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

/// What one transaction changed, recorded as it runs ([`tx::Tx::touched`],
/// [`tx::Tx::announce`]) and handed to the [`ChangeFeed`] only after its COMMIT.
#[derive(Debug, Default)]
pub(crate) struct Changed {
    /// Things whose executions changed, and how (repeats allowed; the feed announces
    /// each thing once, see [`things_changed`]).
    pub(crate) things: Vec<tx::Touched>,
    pub(crate) events: Vec<iotjobs_core::JobsEvent>,
    /// Audit records to write before COMMIT ([`tx::Tx::audit`]).
    pub(crate) audit: Vec<(iotjobs_core::Timestamp, iotjobs_core::audit::AuditChange)>,
}

/// Where a backend announces committed changes (see [`iotjobs_core::ChangeListener`]).
#[derive(Clone, Default)]
pub(crate) struct ChangeFeed(
    std::sync::Arc<std::sync::RwLock<Option<iotjobs_core::ChangeListener>>>,
);

impl ChangeFeed {
    fn set(&self, listener: iotjobs_core::ChangeListener) {
        if let Ok(mut l) = self.0.write() {
            *l = Some(listener);
        }
    }

    fn listener(&self) -> Option<iotjobs_core::ChangeListener> {
        self.0.read().ok().and_then(|l| l.clone())
    }

    /// Announce changes another node committed (already one name each; nothing known
    /// about them but the thing, and their events stay with that node).
    pub(crate) fn emit_remote(&self, touched: Vec<String>) {
        self.emit(Changed {
            things: touched
                .into_iter()
                .filter(|t| !t.is_empty())
                .map(|t| (t, None))
                .collect(),
            ..Changed::default()
        });
    }

    /// Announce that changes may have been missed
    /// ([`iotjobs_core::ChangeNotice::Resync`]).
    pub(crate) fn resync(&self) {
        if let Some(listener) = self.listener() {
            listener(iotjobs_core::ChangeNotice::Resync);
        }
    }

    /// Announce what a committed transaction changed: each thing once (with the
    /// executions that left its pending list when that is all that changed for it,
    /// [`iotjobs_core::ThingChanged`]), and its events.
    pub(crate) fn emit(&self, changed: Changed) {
        let Changed { things, events, .. } = changed;
        if things.is_empty() && events.is_empty() {
            return;
        }
        let Some(listener) = self.listener() else {
            return;
        };
        listener(iotjobs_core::ChangeNotice::Committed {
            things: &things_changed(things),
            events: &events,
        });
    }
}

/// Who the current write is for ([`iotjobs_core::audit::current_actor`]); work that no
/// caller attributed is the service's own.
pub(crate) fn actor() -> iotjobs_core::audit::Actor {
    iotjobs_core::audit::current_actor()
        .unwrap_or_else(|| iotjobs_core::audit::Actor::service("Background"))
}

/// The `seq` to continue after (`nextToken`: the last one's decimal number).
pub(crate) fn audit_cursor(page: &iotjobs_core::PageRequest) -> iotjobs_core::StoreResult<i64> {
    match page.after.as_deref() {
        None => Ok(0),
        Some(s) => s
            .parse()
            .map_err(|_| iotjobs_core::JobsError::invalid_next_token()),
    }
}

/// One [`iotjobs_core::ThingChanged`] per thing, sorted by thing: `left_pending` holds
/// the executions that left the pending list when every change of the thing did.
fn things_changed(mut touched: Vec<tx::Touched>) -> Vec<iotjobs_core::ThingChanged> {
    touched.sort_unstable();
    touched.dedup();
    let mut out: Vec<iotjobs_core::ThingChanged> = Vec::new();
    for (thing, left) in touched {
        match out.last_mut() {
            Some(last) if last.thing == thing => {
                last.left_pending = match (last.left_pending.take(), left) {
                    (Some(mut all), Some(one)) => {
                        all.push(one);
                        Some(all)
                    }
                    _ => None,
                };
            }
            _ => out.push(iotjobs_core::ThingChanged {
                thing,
                left_pending: left.map(|one| vec![one]),
            }),
        }
    }
    out
}

/// A keyset listing that runs either way: the SQL comparison and order both backends
/// use, and the cursor to continue after (`iotjobs_core::PageRequest::compound_cursor`).
pub(crate) fn keyset(
    page: &iotjobs_core::PageRequest,
    ascending: bool,
) -> iotjobs_core::StoreResult<(&'static str, &'static str, String, i64)> {
    let (cmp, order) = if ascending {
        (">", "ASC")
    } else {
        ("<", "DESC")
    };
    let (after, n) = page.compound_cursor(ascending)?;
    Ok((cmp, order, after, n))
}

/// Run a future that never suspends to completion on this thread: SQLite's
/// [`tx::Tx`] implementation does no I/O that waits (rusqlite is synchronous), so the
/// writer thread drives [`ops`] futures with this instead of an async runtime. A future
/// that does suspend is a bug, reported as such rather than blocking the writer.
pub(crate) fn block_on<T>(
    fut: impl std::future::Future<Output = iotjobs_core::StoreResult<T>>,
) -> iotjobs_core::StoreResult<T> {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => Err(iotjobs_core::JobsError::bug(
            "a SQLite statement future suspended",
        )),
    }
}

/// Compile-time check that both backends implement the port.
const _: fn() = || {
    fn assert_store<S: Store>() {}
    assert_store::<SqliteStore>();
    assert_store::<PgStore>();
};

/// The SQLite URL of `account`'s database, next to the main one: `sqlite://DIR/NAME.EXT`
/// becomes `sqlite://DIR/NAME-ACCOUNT.EXT` (query parameters kept). Each account other
/// than the server's own (`--account-id`, which keeps the main file) has its own file,
/// so accounts share nothing and the Store port needs no account parameter.
pub fn sqlite_account_url(url: &str, account: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let slash = head.rfind('/').map_or(0, |i| i + 1);
    let (dir, file) = head.split_at(slash);
    let file = match file.rfind('.') {
        Some(dot) if dot > 0 => format!("{}-{account}{}", &file[..dot], &file[dot..]),
        _ => format!("{file}-{account}"),
    };
    match query {
        Some(q) => format!("{dir}{file}?{q}"),
        None => format!("{dir}{file}"),
    }
}

#[cfg(test)]
mod account_url_tests {
    #[test]
    fn account_files_sit_next_to_the_main_one() {
        use super::sqlite_account_url as f;
        assert_eq!(
            f("sqlite://data/iotjobs.sqlite", "111111111111"),
            "sqlite://data/iotjobs-111111111111.sqlite"
        );
        assert_eq!(
            f("sqlite:///tmp/x/db?synchronous=normal", "2"),
            "sqlite:///tmp/x/db-2?synchronous=normal"
        );
        assert_eq!(f("sqlite://a.b/c.db", "3"), "sqlite://a.b/c-3.db");
    }
}

#[cfg(test)]
mod change_feed_tests {
    use iotjobs_core::ThingChanged;

    #[test]
    fn a_thing_left_pending_only_when_every_change_of_it_did() {
        let touched = vec![
            ("t2".to_string(), Some(("j1".to_string(), 1))),
            ("t1".to_string(), Some(("j2".to_string(), 3))),
            ("t3".to_string(), Some(("j1".to_string(), 1))),
            ("t1".to_string(), Some(("j1".to_string(), 1))),
            ("t3".to_string(), None),
            ("t2".to_string(), Some(("j1".to_string(), 1))),
        ];
        assert_eq!(
            super::things_changed(touched),
            vec![
                ThingChanged {
                    thing: "t1".into(),
                    left_pending: Some(vec![("j1".into(), 1), ("j2".into(), 3)]),
                },
                ThingChanged {
                    thing: "t2".into(),
                    left_pending: Some(vec![("j1".into(), 1)]),
                },
                ThingChanged::unknown("t3"),
            ]
        );
    }
}

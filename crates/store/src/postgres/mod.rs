//! The PostgreSQL backend, for several stateless iotjobs nodes sharing one database.
//!
//! Every transaction runs on a pooled connection (an operation takes one, except
//! CancelJob and the sweep, which take bounded ones). Concurrency across nodes: a change
//! locks the execution row (`SELECT … FOR UPDATE`) and then its job's row (the full
//! order, groups and things first, is in ARCHITECTURE.md), runs the core's state machine on what it read, and writes the
//! result; a racing change on another node waits for the lock and then sees the new
//! state, so exactly one of two conflicting commands wins and the other gets the error
//! AWS would give (InvalidStateTransition or a version mismatch). Background work takes
//! rows with `FOR UPDATE SKIP LOCKED`, so two nodes' sweeps never do the same work.
//! Deadlocks and serialization failures are retried a few times.
//!
//! A lost connection (the server restarted, an administrator ended the session) is
//! [`JobsError::connection_lost`]: the idle pooled connections are dropped, and a read is
//! run once more on a new connection; so is a write that failed before its first
//! statement. A write that failed later is not: it may have committed, and only the
//! caller can tell whether running it again is right. A full disk (SQLSTATE 53100) is
//! [`JobsError::storage_full`]. Every error carries PostgreSQL's own message, detail and
//! hint ([`describe`]), which the driver's short texts ("db error") leave out.
//!
//! Like the SQLite backend, this module decides no rule and sequences no operation: the
//! `Store` logic is `crate::ops`, written once; here is only how a transaction runs
//! (and how it is retried), and `rows.rs` has the statements.

mod rows;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use iotjobs_core::JobsError;
use iotjobs_core::store::StoreResult;
use rows::PgTx;
/// How often a transaction that hit a deadlock or serialization failure is retried.
const MAX_RETRIES: usize = 8;
/// Advisory lock key that serializes migrations when several nodes start at once.
pub(crate) const MIGRATION_LOCK: i64 = 0x0069_6f74_6a6f_6273; // "iotjobs" in ASCII

/// How often a node checks whether another node LISTENs for its changes.
const PEER_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// Migrations in order; `iotjobs_schema_version` records how many were applied.
const MIGRATIONS: &[&str] = &[
    include_str!("schema.sql"),
    include_str!("schema_v2.sql"),
    include_str!("schema_v3.sql"),
    include_str!("schema_v4.sql"),
    include_str!("schema_v5.sql"),
    include_str!("schema_v6.sql"),
];

/// How often a held lead role's connection is checked ([`PgStore::lead`]).
const LEASE_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// The advisory-lock key of a lead role in one schema (`channel` names the schema): a
/// stable hash (FNV-1a), so that every node computes the same key.
fn lease_key(channel: &str, role: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in channel.bytes().chain([0]).chain(role.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h as i64
}

/// A lead role held through a dedicated connection's advisory lock.
struct PgLease {
    held: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The keeper (owns the client) and the connection driver: aborted on drop, which
    /// closes the connection and so releases the lock.
    tasks: [tokio::task::JoinHandle<()>; 2],
}

impl iotjobs_core::Lease for PgLease {
    fn is_held(&self) -> bool {
        self.held.load(std::sync::atomic::Ordering::SeqCst)
            && !self.tasks.iter().any(|t| t.is_finished())
    }
}

impl Drop for PgLease {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    changes: crate::ChangeFeed,
    /// CancelJobs in progress on this node, which its sweep leaves alone
    /// ([`crate::ops::CancelingJobs`]).
    canceling: crate::ops::CancelingJobs,
    /// For the LISTEN connection, which is not pooled.
    config: tokio_postgres::Config,
    /// The NOTIFY channel of this store's schema ([`change_channel`]).
    channel: String,
    /// This store's id in NOTIFY payloads (process id and start time), so that its own
    /// changes are not announced twice.
    node: String,
    /// Whether another node LISTENs on this schema's channel (checked every
    /// [`PEER_CHECK`]): without one, commits send no NOTIFY, which costs PostgreSQL a
    /// commit-serializing lock (measured: -38 % of CancelJobExecution throughput).
    peers: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The backend pid of this node's own LISTEN connection (0: none), not a peer.
    own_listener: std::sync::Arc<std::sync::atomic::AtomicI32>,
    /// Whether the LISTEN task runs (started with the first change listener).
    listening: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Write transactions this node committed ([`iotjobs_core::Store::stats`]).
    commits: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// The NOTIFY channel of a schema: `iotjobs_changes_<schema>`, with characters other than
/// `[a-z0-9_]` replaced, at most 63 bytes (PostgreSQL truncates longer identifiers).
fn change_channel(schema: &str) -> String {
    let clean: String = schema
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let mut channel = format!("iotjobs_changes_{clean}");
    channel.truncate(63);
    channel
}

/// An error with its causes, e.g. `db error: FATAL: database "x" does not exist`: the
/// driver's own text names only its kind ("db error", "error connecting to server");
/// PostgreSQL's message, detail and hint, or the I/O error, are its sources.
pub(crate) fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Whether `e` means that the connection is gone: the driver saw it close or fail at
/// the socket, or the server said it is ending the session (class 08, connection
/// exception; 57P01-57P03, administrator or crash shutdown, or not accepting
/// connections yet).
fn is_connection_loss(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(c) => {
            c.code().starts_with("08")
                || *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
        }
        None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
    }
}

pub(crate) fn pg_err(e: tokio_postgres::Error) -> JobsError {
    use tokio_postgres::error::SqlState;
    let detail = describe(&e);
    match e.code() {
        Some(c)
            if *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::T_R_SERIALIZATION_FAILURE =>
        {
            JobsError::transaction_conflict(detail)
        }
        Some(c) if *c == SqlState::DISK_FULL => JobsError::storage_full("postgres", detail),
        Some(c) if *c == SqlState::TOO_MANY_CONNECTIONS => {
            JobsError::storage_unavailable(format_args!("postgres: {detail}"))
        }
        _ if is_connection_loss(&e) => JobsError::connection_lost("postgres", detail),
        _ => JobsError::storage("postgres", detail),
    }
}

/// Run `$body` (which uses `$tx: &Tx`) in a transaction; commit on `Ok`, roll back on
/// `Err`, and retry the whole transaction after a deadlock or serialization failure.
/// After a commit, the things whose executions changed go to the change listener.
///
/// `$read_only` says whether the body only reads: after a lost connection it is then run
/// once more on a new connection. A write is run again only if the connection was lost
/// before its first statement (at BEGIN), when nothing of it can have committed.
macro_rules! transaction {
    ($store:expr, $read_only:expr, |$tx:ident| $body:block) => {{
        let mut attempt = 0;
        let mut reconnected = false;
        // Who asks (read on the caller's task), for the audit records.
        let actor = crate::actor();
        loop {
            let mut client = $store.client().await;
            if matches!(&client, Err(e) if e.is_connection_lost()) && !reconnected {
                reconnected = true;
                $store.forget_idle_connections();
                client = $store.client().await;
            }
            let client = client?;
            // BEGIN goes out with the first statement (see `PgTx`).
            let (outcome, begun) = {
                let owned = PgTx::new(&client);
                let result: StoreResult<_> = {
                    let $tx = &owned;
                    async { $body }.await
                };
                let outcome = match result {
                    Ok(v) => owned
                        .commit(&$store.channel, &$store.node, $store.peers_listen(), &actor)
                        .await
                        .map(|changed| {
                            $store
                                .commits
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            $store.changes.emit(changed);
                            v
                        }),
                    // Dropping the transaction rolls it back.
                    Err(e) => Err(e),
                };
                let begun = owned.begun();
                (outcome, begun)
            };
            let lost = matches!(&outcome, Err(e) if e.is_connection_lost());
            if lost {
                // Not back into the pool: the connection is dead.
                drop(deadpool_postgres::Object::take(client));
                $store.forget_idle_connections();
            }
            match outcome {
                Err(e) if e.is_transaction_conflict() && attempt < MAX_RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(2 << attempt)).await;
                }
                Err(e) if lost && !reconnected && ($read_only || !begun) => {
                    reconnected = true;
                    tracing::info!(error = %e, "database connection lost; retrying on a new connection");
                }
                other => break other,
            }
        }
    }};
}

impl PgStore {
    /// Connect to `url` (`postgres://user@host:port/db[?options]`) and apply migrations.
    /// Several nodes may start at once: an advisory lock serializes the migrations.
    pub async fn connect(url: &str) -> Result<PgStore, JobsError> {
        let config: tokio_postgres::Config = url.parse().map_err(|e| {
            JobsError::storage(
                "postgres",
                format_args!("bad PostgreSQL URL: {}", describe(&e)),
            )
        })?;
        Self::with_config(config, 16).await
    }

    /// Connect to the store of `account` (not the server's own): its tables live in a
    /// schema of their own, named after the main one (`<search_path>_<account>`, or
    /// `iotjobs_account_<account>` when the URL sets no search_path), so accounts on
    /// one database share nothing and two deployments with different main schemas keep
    /// their accounts apart too.
    pub async fn connect_for_account(url: &str, account: &str) -> Result<PgStore, JobsError> {
        let config: tokio_postgres::Config = url.parse().map_err(|e| {
            JobsError::storage(
                "postgres",
                format_args!("bad PostgreSQL URL: {}", describe(&e)),
            )
        })?;
        let base = config
            .get_options()
            .and_then(|o| o.split("search_path=").nth(1))
            .and_then(|rest| rest.split([' ', ',']).next())
            .filter(|s| !s.is_empty())
            .unwrap_or("iotjobs_account");
        Self::connect_in_schema(url, &format!("{base}_{account}")).await
    }

    /// Connect to `url` with every table in `schema` (created if missing).
    pub async fn connect_in_schema(url: &str, schema: &str) -> Result<PgStore, JobsError> {
        // PostgreSQL silently truncates identifiers to 63 bytes, which could make two
        // accounts' schemas one: refuse instead.
        if schema.is_empty()
            || schema.len() > 63
            || !schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(JobsError::storage(
                "postgres",
                format_args!("schema name {schema:?} must be 1-63 of [a-z0-9_]"),
            ));
        }
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            JobsError::storage(
                "postgres",
                format_args!("bad PostgreSQL URL: {}", describe(&e)),
            )
        })?;
        let (client, conn) = config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(pg_err)?;
        let conn = tokio::spawn(conn);
        // Several nodes may start at once; IF NOT EXISTS can still race, so a
        // duplicate-schema error from a concurrent creator is fine.
        if let Err(e) = client
            .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .await
            && e.code() != Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
            && e.code() != Some(&tokio_postgres::error::SqlState::DUPLICATE_SCHEMA)
        {
            return Err(pg_err(e));
        }
        drop(client);
        let _ = conn.await;
        let options = match config.get_options() {
            Some(o) if !o.is_empty() => format!("{o} -c search_path={schema}"),
            _ => format!("-c search_path={schema}"),
        };
        config.options(options);
        Self::with_config(config, 16).await
    }

    /// Connect with an explicit driver config and pool size.
    pub async fn with_config(
        config: tokio_postgres::Config,
        pool_size: usize,
    ) -> Result<PgStore, JobsError> {
        let manager = Manager::from_config(
            config.clone(),
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .build()
            .map_err(|e| JobsError::storage("postgres", format_args!("cannot build pool: {e}")))?;
        let mut store = PgStore {
            pool,
            changes: crate::ChangeFeed::default(),
            canceling: crate::ops::CancelingJobs::default(),
            config,
            channel: String::new(),
            node: format!(
                "{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos())
            ),
            listening: Default::default(),
            commits: Default::default(),
            // Until the watcher has looked, assume someone listens.
            peers: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
            own_listener: Default::default(),
        };
        store.migrate().await?;
        // One channel per schema: accounts and deployments sharing a database hear only
        // their own changes.
        let schema: String = store
            .client()
            .await?
            .query_one("SELECT current_schema()", &[])
            .await
            .map_err(pg_err)?
            .get(0);
        store.channel = change_channel(&schema);
        store.watch_peers();
        Ok(store)
    }

    /// [`iotjobs_core::Store::try_lead`]: a session-level advisory lock on a connection of
    /// its own (not pooled), keyed by this schema and the role. PostgreSQL releases it
    /// when that connection ends, which a crashed or killed node's does at once; the
    /// lease pings the connection every [`LEASE_CHECK`] and reports the role lost when a
    /// ping fails, since by then another node may hold it.
    async fn lead(&self, role: &str) -> StoreResult<Option<Box<dyn iotjobs_core::Lease>>> {
        let (client, connection) = self
            .config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(pg_err)?;
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        let key = lease_key(&self.channel, role);
        let won: bool = match client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
            .await
        {
            Ok(row) => row.get(0),
            Err(e) => {
                driver.abort();
                return Err(pg_err(e));
            }
        };
        if !won {
            drop(client);
            driver.abort();
            return Ok(None);
        }
        let held = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flag = held.clone();
        // `client` lives in the keeper: when it ends (or the lease drops and aborts it),
        // the connection closes and PostgreSQL frees the lock.
        let keeper = tokio::spawn(async move {
            loop {
                tokio::time::sleep(LEASE_CHECK).await;
                if client.simple_query("SELECT 1").await.is_err() {
                    flag.store(false, std::sync::atomic::Ordering::SeqCst);
                    tracing::warn!("lost the database connection that holds a lead role");
                    return;
                }
            }
        });
        Ok(Some(Box::new(PgLease {
            held,
            tasks: [keeper, driver],
        })))
    }

    /// [`iotjobs_core::Store::stats`]: committed write transactions of this node.
    fn backend_stats(&self) -> iotjobs_core::StoreStats {
        let n = self.commits.load(std::sync::atomic::Ordering::Relaxed);
        iotjobs_core::StoreStats {
            commit_batches: n,
            committed_writes: n,
            wal_bytes: None,
        }
    }

    fn peers_listen(&self) -> bool {
        self.peers.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Every [`PEER_CHECK`], whether another node LISTENs on this schema's channel (its
    /// LISTEN connection shows in `pg_stat_activity`).
    fn watch_peers(&self) {
        let (pool, channel) = (self.pool.clone(), self.channel.clone());
        let (peers, own) = (self.peers.clone(), self.own_listener.clone());
        let sql = "SELECT count(*) FROM pg_stat_activity WHERE query = $1 AND pid <> $2";
        tokio::spawn(async move {
            let listen = format!("LISTEN \"{channel}\"");
            loop {
                let own_pid = own.load(std::sync::atomic::Ordering::Relaxed);
                let found = match pool.get().await {
                    Ok(client) => client
                        .query_one(sql, &[&listen, &own_pid])
                        .await
                        .map(|r| r.get::<_, i64>(0) > 0),
                    Err(_) => Ok(true),
                };
                // When in doubt, NOTIFY: a lost notification is worse than a slow commit.
                peers.store(found.unwrap_or(true), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(PEER_CHECK).await;
            }
        });
    }

    /// A change listener was set: start hearing other nodes' changes (once).
    fn on_change_listener(&self) {
        if !self
            .listening
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            self.listen_to_peers();
        }
    }

    /// Hear the changes that other nodes commit (PostgreSQL `LISTEN`), and hand them to
    /// the change listener, as this node's own commits are. After a lost connection the
    /// task reconnects and announces a resync (an empty list: "anything may have
    /// changed"), since NOTIFY keeps nothing for a listener that was away.
    fn listen_to_peers(&self) {
        let (config, channel, feed) = (
            self.config.clone(),
            self.channel.clone(),
            self.changes.clone(),
        );
        let node = self.node.clone();
        let own = self.own_listener.clone();
        tokio::spawn(async move {
            let mut reconnecting = false;
            loop {
                match config.connect(tokio_postgres::NoTls).await {
                    Ok((client, mut connection)) => {
                        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                        let driver = tokio::spawn(async move {
                            loop {
                                let message =
                                    std::future::poll_fn(|cx| connection.poll_message(cx)).await;
                                match message {
                                    Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => {
                                        let _ = tx.send(n.payload().to_owned());
                                    }
                                    Some(Ok(_)) => {}
                                    Some(Err(_)) | None => break,
                                }
                            }
                        });
                        // Our own pid first: peers recognise a listener by LISTEN being
                        // its connection's last statement in pg_stat_activity.
                        if let Ok(row) = client.query_one("SELECT pg_backend_pid()", &[]).await {
                            own.store(row.get(0), std::sync::atomic::Ordering::Relaxed);
                        }
                        if client
                            .batch_execute(&format!("LISTEN \"{channel}\""))
                            .await
                            .is_ok()
                        {
                            tracing::info!(channel, "listening to other nodes' changes");
                            if reconnecting {
                                feed.resync();
                            }
                            // Other nodes notice this listener within PEER_CHECK and only
                            // then NOTIFY: recheck once that window has passed.
                            let later = feed.clone();
                            tokio::spawn(async move {
                                tokio::time::sleep(PEER_CHECK * 2).await;
                                later.resync();
                            });
                            while let Some(payload) = rx.recv().await {
                                let mut lines = payload.split('\n');
                                if lines.next() != Some(node.as_str()) {
                                    feed.emit_remote(lines.map(str::to_owned).collect());
                                }
                            }
                            tracing::warn!(channel, "lost the LISTEN connection; reconnecting");
                        }
                        driver.abort();
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot LISTEN for other nodes' changes"),
                }
                reconnecting = true;
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        });
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| match e {
            // The server's refusal (or the socket's error) as PostgreSQL words it.
            deadpool_postgres::PoolError::Backend(e) => pg_err(e),
            other => JobsError::storage_unavailable(format_args!(
                "no database connection: {}",
                describe(&other)
            )),
        })
    }

    /// After a lost connection the idle ones are suspect too (a server restart ends them
    /// all, and the driver notices only when it next reads): drop them, so that a retry
    /// and the requests after it connect afresh.
    fn forget_idle_connections(&self) {
        self.pool.retain(|_, _| false);
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(pg_err)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS iotjobs_schema_version (version BIGINT NOT NULL);
             INSERT INTO iotjobs_schema_version
                 SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM iotjobs_schema_version);",
        )
        .await
        .map_err(pg_err)?;
        let applied: i64 = tx
            .query_one("SELECT version FROM iotjobs_schema_version", &[])
            .await
            .map_err(pg_err)?
            .get(0);
        // A schema a newer iotjobs migrated (or a version none wrote) is not ours to
        // serve or to migrate.
        let supported = MIGRATIONS.len() as i64;
        if !(0..=supported).contains(&applied) {
            return Err(JobsError::unsupported_schema_version(
                "postgres", applied, supported,
            ));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
            tx.batch_execute(sql).await.map_err(pg_err)?;
            tx.execute(
                "UPDATE iotjobs_schema_version SET version = $1",
                &[&((i + 1) as i64)],
            )
            .await
            .map_err(pg_err)?;
        }
        tx.commit().await.map_err(pg_err)
    }
}

/// Run `$body` (a call into `crate::ops` over `$tx`) in one transaction.
macro_rules! pg_transaction {
    ($store:expr, |$tx:ident| $body:expr) => {
        transaction!($store, false, |$tx| { $body.await })
    };
}

/// [`pg_transaction`] for a body that only reads (run again after a lost connection).
macro_rules! pg_read {
    ($store:expr, |$tx:ident| $body:expr) => {
        transaction!($store, true, |$tx| { $body.await })
    };
}

crate::store_impl::impl_store!(PgStore, pg_read, pg_transaction);

#[cfg(test)]
mod tests;

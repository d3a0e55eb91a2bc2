//! On-demand backups and their verification (spec §2.4): the `MysqlBackup` and
//! `MysqlBackupVerification` resources, the choice of the site a backup is taken from, and
//! the per-poll reconcile that runs each request as a Kubernetes Job and records its result.
//!
//! The Job protocol: the controller creates a `batch/v1` Job per attempt whose annotations
//! name what to do (`backup-source`, `backup-location`, or for a verification the artifact
//! and the GTID set it must hold); the Job reports its result by writing the JSON
//! annotation [`RESULT`] on itself before it completes. The controller never talks to the
//! object store.

pub mod crd;
pub mod reconcile;
pub mod source;

/// Label put on every backup and verification Job: the name of the requesting object.
pub const JOB_LABEL: &str = "bloodraven.shipstream.io/backup-request";
/// Job annotation: `backup` or `verify`.
pub const JOB_KIND: &str = "bloodraven.shipstream.io/job-kind";
/// Job annotation: the internal Service host the backup is read from.
pub const SOURCE_HOST: &str = "bloodraven.shipstream.io/backup-source";
/// Job annotation: where the artifact goes (backup) or comes from (verify).
pub const LOCATION: &str = "bloodraven.shipstream.io/backup-location";
/// Job annotation (verify): the GTID set the restored data must contain.
pub const EXPECT_GTID: &str = "bloodraven.shipstream.io/expect-gtid";
/// Job annotation written by the Job: its result as JSON ([`reconcile::JobResult`]).
pub const RESULT: &str = "bloodraven.shipstream.io/result";

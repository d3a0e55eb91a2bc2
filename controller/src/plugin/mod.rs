//! `kubectl-bloodraven`: the day-2 plugin (status, promote, reclone, backup,
//! verify-backup). It only touches API objects, writing exactly the annotation grammars of
//! [`crate::annotations`] and the request resources of [`crate::backup::crd`] that the
//! controller reads, after the same checks the controller would make (so a typo fails
//! here instead of as a `Failed` operation in the event log).
//!
//! Exit codes: 0 success; 1 the operation ended Failed or Deferred, or `--wait` timed out;
//! 2 bad input (flags, unknown group or site, a request the controller would refuse);
//! 3 the cluster could not be reached or refused a call.

mod backups;
mod connect;
mod ops;
pub mod render;

use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::duration;

pub const EXIT_FAILED: i32 = 1;
pub const EXIT_BAD_INPUT: i32 = 2;
pub const EXIT_CLUSTER: i32 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "kubectl-bloodraven",
    version,
    about = "Day-2 operations on Bloodraven MysqlFailoverGroups"
)]
pub struct Cli {
    /// Path to the kubeconfig (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true)]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// Kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// Namespace (default: the context's namespace, or "default").
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value = "table")]
    pub output: Output,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Wide,
    Json,
    Yaml,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = duration::parse(s).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err(format!("{s:?} must be a positive duration"));
    }
    Ok(d)
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the plugin version.
    Version,
    /// Health of one group, or a table of every group in the namespace.
    Status {
        group: Option<String>,
        /// Every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
    },
    /// Planned failover: move the primary of <group> to <site>.
    Promote {
        group: String,
        site: String,
        /// Lag budget for the target (annotation option maxLagWait).
        #[arg(long, value_parser = parse_duration)]
        max_lag_wait: Option<Duration>,
        /// Drain budget for the source's sessions (annotation option drainTimeout).
        #[arg(long, value_parser = parse_duration)]
        drain_timeout: Option<Duration>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Replace a site's data with a clone of the active primary.
    Reclone {
        group: String,
        site: String,
        /// A site without divergent transactions: confirm with the group name.
        #[arg(long, conflicts_with = "gtid_prefix")]
        cold: bool,
        /// Prefix (8+ characters) of the site's divergentGtid (default: 12, auto-filled).
        #[arg(long)]
        gtid_prefix: Option<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Take a backup now: create a MysqlBackup of <group> with one of its backup profiles.
    Backup {
        group: String,
        /// A profile of the group's spec.backup.profiles.
        #[arg(long)]
        profile: String,
        /// Take it from this site instead of the one the operator picks (never a reader).
        #[arg(long)]
        source_site: Option<String>,
        /// Name of the MysqlBackup (default: generated, <group>-<profile>-xxxxx).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Restore a backup in a scratch instance and check it: create a MysqlBackupVerification.
    VerifyBackup {
        group: String,
        /// The MysqlBackup to verify (same as --backup).
        #[arg(value_name = "BACKUP", conflicts_with = "backup")]
        backup_arg: Option<String>,
        /// A profile of the group's spec.backup.profiles.
        #[arg(long)]
        profile: String,
        /// The MysqlBackup to verify (default: the latest Succeeded one of the profile).
        #[arg(long)]
        backup: Option<String>,
        /// Name of the MysqlBackupVerification (default: generated).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

#[derive(clap::Args, Debug, Clone)]
pub struct WaitArgs {
    /// Block until the operation ends, printing one line per phase.
    #[arg(long)]
    pub wait: bool,
    /// Budget of --wait.
    #[arg(long, value_parser = parse_duration, default_value = "10m")]
    pub timeout: Duration,
    /// How often --wait polls.
    #[arg(long, value_parser = parse_duration, default_value = "2s", hide = true)]
    pub poll_interval: Duration,
}

/// A failure with its exit code and message (printed as `error: ...`).
#[derive(Debug)]
pub struct Exit {
    pub code: i32,
    pub message: String,
}

impl Exit {
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_BAD_INPUT,
            message: message.into(),
        }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_FAILED,
            message: message.into(),
        }
    }

    pub fn cluster(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_CLUSTER,
            message: message.into(),
        }
    }
}

/// Runs the plugin; returns the process exit code. Output goes to `out`.
pub async fn run(cli: Cli, out: &mut dyn std::io::Write) -> i32 {
    match dispatch(cli, out).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {}", e.message);
            e.code
        }
    }
}

async fn dispatch(cli: Cli, out: &mut dyn std::io::Write) -> Result<(), Exit> {
    if let Command::Version = cli.command {
        return writeln!(out, "kubectl-bloodraven {}", env!("CARGO_PKG_VERSION"))
            .map_err(|e| Exit::cluster(format!("writing the output: {e}")));
    }
    let (client, default_ns) =
        connect::client(cli.kubeconfig.as_deref(), cli.context.as_deref()).await?;
    let ns = cli.namespace.clone().unwrap_or(default_ns);
    let ctx = ops::Ctx {
        client,
        namespace: ns,
        output: cli.output,
    };
    match cli.command {
        Command::Version => Ok(()),
        Command::Status {
            group,
            all_namespaces,
        } => ctx.status(group.as_deref(), all_namespaces, out).await,
        Command::Promote {
            group,
            site,
            max_lag_wait,
            drain_timeout,
            wait,
        } => {
            let mut req = crate::annotations::PlannedRequest::new(&site);
            req.max_lag_wait = max_lag_wait;
            req.drain_timeout = drain_timeout;
            ctx.promote(&group, req, &wait, out).await
        }
        Command::Reclone {
            group,
            site,
            cold,
            gtid_prefix,
            wait,
        } => {
            ctx.reclone(&group, &site, cold, gtid_prefix, &wait, out)
                .await
        }
        Command::Backup {
            group,
            profile,
            source_site,
            name,
            wait,
        } => {
            ctx.backup(&group, &profile, source_site, name, &wait, out)
                .await
        }
        Command::VerifyBackup {
            group,
            backup_arg,
            profile,
            backup,
            name,
            wait,
        } => {
            let backup = backup.or(backup_arg);
            ctx.verify_backup(&group, &profile, backup, name, &wait, out)
                .await
        }
    }
}

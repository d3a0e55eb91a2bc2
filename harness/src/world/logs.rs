//! A tracing layer for simulated runs: stamps each line with virtual time and host, keeps
//! the stable log messages of the controller and sidecars in the trace, and prints the
//! log when asked (`--log`).

use std::fmt::Write as _;

use tracing::field::{Field, Visit};
use tracing::span::Attributes;
use tracing::{Event as TracingEvent, Id, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::trace::{now_ms, EventKind, Trace};

pub struct SimLogLayer {
    pub trace: Trace,
    pub print: bool,
}

struct HostName(String);

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
    name: Option<String>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "name" => self.name = Some(format!("{value:?}").trim_matches('"').to_string()),
            n => {
                let _ = write!(self.rest, " {n}={value:?}");
            }
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            "name" => self.name = Some(value.to_string()),
            n => {
                let _ = write!(self.rest, " {n}={value}");
            }
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for SimLogLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != "node" {
            return;
        }
        let mut f = Fields::default();
        attrs.record(&mut f);
        if let (Some(name), Some(span)) = (f.name, ctx.span(id)) {
            span.extensions_mut().insert(HostName(name));
        }
    }

    fn on_event(&self, event: &TracingEvent<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let target = meta.target();
        if target == "bloodraven::poll" {
            self.record_poll(event, &ctx);
            return;
        }
        let ours = target.starts_with("bloodraven") || target.starts_with("chaos");
        if !ours || *meta.level() > Level::INFO {
            return;
        }
        let host = host_of(event, &ctx);
        let mut f = Fields::default();
        event.record(&mut f);
        let level = meta.level().as_str().to_string();
        if self.print {
            let t = now_ms();
            println!(
                "{:>9.3}s {:<5} {:<28} {}{}",
                t as f64 / 1000.0,
                level,
                host,
                f.message,
                f.rest
            );
        }
        if target.starts_with("bloodraven") {
            self.trace.record(EventKind::Log {
                host,
                level,
                msg: f.message,
            });
        }
    }
}

/// The simulated host an event was emitted on (its `node` span), else "harness".
fn host_of<S: Subscriber + for<'a> LookupSpan<'a>>(
    event: &TracingEvent<'_>,
    ctx: &Context<'_, S>,
) -> String {
    ctx.event_scope(event)
        .and_then(|scope| {
            scope
                .from_root()
                .find_map(|s| s.extensions().get::<HostName>().map(|h| h.0.clone()))
        })
        .unwrap_or_else(|| "harness".into())
}

/// Reads `interval_ms` of the controller's "poll complete" line.
#[derive(Default)]
struct PollFields {
    interval_ms: u64,
}

impl Visit for PollFields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "interval_ms" {
            self.interval_ms = value;
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl SimLogLayer {
    /// The controller's per-poll debug line becomes a [`EventKind::Poll`] (PLV).
    fn record_poll<S: Subscriber + for<'a> LookupSpan<'a>>(
        &self,
        event: &TracingEvent<'_>,
        ctx: &Context<'_, S>,
    ) {
        let mut f = PollFields::default();
        event.record(&mut f);
        self.trace.record(EventKind::Poll {
            host: host_of(event, ctx),
            interval_ms: f.interval_ms,
        });
    }
}

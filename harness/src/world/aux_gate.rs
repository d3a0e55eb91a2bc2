//! The `aux-unready` fault: the controller runs, but its aux endpoints (`/healthz`,
//! `/active-site`) are unusable, as with a listener that comes up late or a NetworkPolicy
//! on :8082. While the gate is closed every accepted connection is dropped unanswered, so
//! a sidecar's request fails at once, as it would against a port with nothing behind it.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bloodraven::net::{BoxIo, Listener};

/// Shared open/closed switch; it outlives controller restarts.
#[derive(Clone, Default)]
pub struct AuxGate(Arc<AtomicBool>);

impl AuxGate {
    pub fn set_unready(&self, unready: bool) {
        self.0.store(unready, Ordering::Relaxed);
    }

    fn unready(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub fn wrap(&self, inner: Box<dyn Listener>) -> GatedListener {
        GatedListener {
            inner,
            gate: self.clone(),
        }
    }
}

pub struct GatedListener {
    inner: Box<dyn Listener>,
    gate: AuxGate,
}

#[async_trait]
impl Listener for GatedListener {
    async fn accept(&mut self) -> io::Result<BoxIo> {
        loop {
            let io = self.inner.accept().await?;
            if !self.gate.unready() {
                return Ok(io);
            }
            drop(io);
        }
    }
}

//! The grammars of the operator annotations a human (or `kubectl bloodraven`) writes on a
//! group. The controller parses them and the plugin renders them with the same code, so
//! the two can never disagree on the syntax.

pub mod planned;
pub mod reclone;

pub use planned::{PlannedRequest, PLANNED_FAILOVER};
pub use reclone::{RecloneConfirm, RecloneRequest, RECLONE_SITE};

/// A malformed annotation: names the annotation, the value, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("annotation {key}={value:?}: {problem}")]
pub struct AnnotationError {
    pub key: &'static str,
    pub value: String,
    pub problem: String,
}

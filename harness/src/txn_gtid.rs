//! `TxnGtid`: one transaction's GTID (`uuid:gno`) as a shared UUID and a number, so the
//! ~100k commit events of a long run hold no per-event text. It serializes as the usual
//! `uuid:gno` string, so traces and their hashes are unchanged.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::name::Name;

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct TxnGtid {
    pub uuid: Name,
    pub gno: u64,
}

impl TxnGtid {
    pub fn new(uuid: Name, gno: u64) -> Self {
        Self { uuid, gno }
    }

    /// Parses `uuid:gno` (None when it is not of that form).
    pub fn parse(s: &str) -> Option<Self> {
        let (uuid, gno) = s.rsplit_once(':')?;
        Some(Self::new(uuid.into(), gno.parse().ok()?))
    }
}

impl fmt::Display for TxnGtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.uuid, self.gno)
    }
}

impl Serialize for TxnGtid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TxnGtid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("expected a GTID `uuid:number`, got {s:?}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_as_the_usual_text() {
        let g = TxnGtid::new("3e11fa47-71ca-11e1-9e33-c80aa9429562".into(), 23);
        let json = serde_json::to_string(&g).unwrap();
        assert_eq!(json, "\"3e11fa47-71ca-11e1-9e33-c80aa9429562:23\"");
        assert_eq!(serde_json::from_str::<TxnGtid>(&json).unwrap(), g);
        assert!(serde_json::from_str::<TxnGtid>("\"no-number\"").is_err());
    }
}

//! `bloodraven.shipstream.io/reclone-site=<site>:<gtid-prefix>` (hot: the site holds
//! divergent transactions) or `<site>:confirm=<group>` (cold: it holds none), spec §5.
//! The value is split at the first `:`. A bare site is refused: a reclone throws data away,
//! so the human must prove they looked at what is lost (or name the group, when nothing is).

use super::AnnotationError;

pub const RECLONE_SITE: &str = "bloodraven.shipstream.io/reclone-site";
/// A GTID prefix shorter than this does not prove anyone read the divergent set.
pub const MIN_PREFIX: usize = 8;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecloneConfirm {
    /// No suffix at all (older builds accepted this; it is always refused now).
    Bare,
    /// A prefix of the site's `divergentGtid`.
    GtidPrefix(String),
    /// `confirm=<group>`: a cold reclone of a site without divergent transactions.
    Cold { group: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecloneRequest {
    pub site: String,
    pub confirm: RecloneConfirm,
}

impl RecloneRequest {
    /// Syntax only; [`check`](Self::check) compares it with the observed divergence.
    pub fn parse(raw: &str) -> Result<Self, AnnotationError> {
        let err = |problem: String| AnnotationError {
            key: RECLONE_SITE,
            value: raw.to_string(),
            problem,
        };
        let value = raw.trim();
        if value.is_empty() {
            return Err(err(
                "empty value: expected <site>:<gtid-prefix> or <site>:confirm=<group>".into(),
            ));
        }
        let (site, suffix) = match value.split_once(':') {
            Some((s, x)) => (s.trim(), Some(x.trim())),
            None => (value, None),
        };
        if site.is_empty() {
            return Err(err("empty site name before the first ':'".into()));
        }
        let confirm = match suffix {
            None | Some("") => RecloneConfirm::Bare,
            Some(x) => match x.strip_prefix("confirm=") {
                Some(g) => RecloneConfirm::Cold {
                    group: g.trim().to_string(),
                },
                None => RecloneConfirm::GtidPrefix(x.to_string()),
            },
        };
        Ok(Self {
            site: site.to_string(),
            confirm,
        })
    }

    /// Checks the confirmation against the site's observed `divergentGtid` (empty when it
    /// has none) and the group name. `Err` is the rejection message.
    pub fn check(&self, group: &str, divergent_gtid: &str) -> Result<(), String> {
        let site = &self.site;
        if divergent_gtid.is_empty() {
            return match &self.confirm {
                RecloneConfirm::Cold { group: g } if g == group => Ok(()),
                RecloneConfirm::Cold { group: g } => Err(format!(
                    "cold reclone of {site} names group {g:?}, expected confirm={group}"
                )),
                _ => Err(format!(
                    "{site} has no divergent transactions: a cold reclone must be confirmed with {site}:confirm={group}"
                )),
            };
        }
        let hint: String = divergent_gtid.chars().take(MIN_PREFIX).collect();
        match &self.confirm {
            RecloneConfirm::Bare => Err(format!(
                "reclone of {site} discards its divergent transactions {divergent_gtid}: confirm with {site}:{hint} (a prefix of at least {MIN_PREFIX} characters of divergentGtid)"
            )),
            RecloneConfirm::Cold { .. } => Err(format!(
                "{site} has divergent transactions {divergent_gtid}: confirm=<group> is only for a site without any; use {site}:{hint}"
            )),
            RecloneConfirm::GtidPrefix(p) if p.chars().count() < MIN_PREFIX => Err(format!(
                "GTID prefix {p:?} is shorter than {MIN_PREFIX} characters"
            )),
            RecloneConfirm::GtidPrefix(p) if !divergent_gtid.starts_with(p.as_str()) => Err(
                format!("GTID prefix {p:?} does not match the observed divergentGtid of {site}"),
            ),
            RecloneConfirm::GtidPrefix(_) => Ok(()),
        }
    }

    pub fn render(&self) -> String {
        match &self.confirm {
            RecloneConfirm::Bare => self.site.clone(),
            RecloneConfirm::GtidPrefix(p) => format!("{}:{p}", self.site),
            RecloneConfirm::Cold { group } => format!("{}:confirm={group}", self.site),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIV: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562:7-9";

    fn check(raw: &str, divergent: &str) -> Result<(), String> {
        RecloneRequest::parse(raw).unwrap().check("g", divergent)
    }

    #[test]
    fn hot_form_needs_an_eight_char_matching_prefix() {
        assert!(check("b:3e11fa47", DIV).is_ok());
        assert!(check("b:3e11fa47-71ca", DIV).is_ok());
        assert!(check("b:3e11fa4", DIV)
            .unwrap_err()
            .contains("shorter than 8"));
        assert!(check("b:4e11fa47", DIV)
            .unwrap_err()
            .contains("does not match"));
        let bare = check("b", DIV).unwrap_err();
        assert!(bare.contains("b:3e11fa47"), "hint: {bare}");
        assert!(check("b:confirm=g", DIV).is_err());
    }

    #[test]
    fn cold_form_needs_the_group_name() {
        assert!(check("b:confirm=g", "").is_ok());
        assert!(check("b:confirm=other", "")
            .unwrap_err()
            .contains("expected confirm=g"));
        assert!(check("b", "").unwrap_err().contains("b:confirm=g"));
        assert!(check("b:3e11fa47", "").is_err());
    }

    #[test]
    fn syntax_errors_and_round_trip() {
        for bad in ["", " ", ":3e11fa47"] {
            assert!(RecloneRequest::parse(bad).is_err(), "{bad:?}");
        }
        for v in ["b", "b:3e11fa47", "b:confirm=g"] {
            assert_eq!(RecloneRequest::parse(v).unwrap().render(), v);
        }
    }
}

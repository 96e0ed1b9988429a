//! Supervisor references: which LMS user an employee's manager reference points to.
//!
//! A supervisor resolves from what the run already knows first: the links (the supervisor's LMS
//! user, and whether it stays active after this run) and the run's own creates; only a
//! supervisor the links do not know is looked up in the LMS, once per run. A reference that
//! cannot be resolved is remembered on the link (`ManagerLink::Pending`) so that later runs
//! retry exactly those. A deactivated supervisor follows the settings' rule: keep the reference
//! or clear it.

use crate::domain::employee::PersonioId;
use crate::domain::link::{EmployeeLink, ManagerLink};
use crate::domain::lms::{LmsProfile, LmsUserId};
use crate::domain::settings::InactiveManagerRule;
use std::collections::{HashMap, HashSet};

/// The supervisor's Personio id, unless the employee has none (or names themselves).
pub fn supervisor_of(profile: &LmsProfile) -> Option<PersonioId> {
    let id: i64 = profile
        .manager
        .as_ref()?
        .personio_id
        .as_deref()?
        .trim()
        .parse()
        .ok()?;
    (id.to_string() != profile.external_id).then_some(PersonioId(id))
}

/// What the links and the plan say a manager reference should be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Desired {
    /// No reference: no supervisor, or the rule clears a deactivated supervisor's.
    Clear,
    User(LmsUserId),
    /// The supervisor's account is created in this run.
    CreatedInRun(PersonioId),
    /// The links do not know the supervisor: the LMS has to be asked.
    Unknown(PersonioId),
}

/// The supervisors the links know, and who is created or deactivated in this run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ManagerDirectory {
    /// Linked employee → (LMS user, whether the account is active after this run).
    linked: HashMap<PersonioId, (LmsUserId, bool)>,
    creating: HashSet<PersonioId>,
    rule: InactiveManagerRule,
}

impl ManagerDirectory {
    /// `active_after_run` decides for each link whether its account is active once this run
    /// has applied its plan.
    pub fn new<'a>(
        links: impl IntoIterator<Item = &'a EmployeeLink>,
        active_after_run: impl Fn(&EmployeeLink) -> bool,
        creating: HashSet<PersonioId>,
        rule: InactiveManagerRule,
    ) -> Self {
        Self {
            linked: links
                .into_iter()
                .map(|link| {
                    (
                        link.personio_id,
                        (link.lms_user_id.clone(), active_after_run(link)),
                    )
                })
                .collect(),
            creating,
            rule,
        }
    }

    pub fn desired(&self, profile: &LmsProfile) -> Desired {
        let Some(supervisor) = supervisor_of(profile) else {
            return Desired::Clear;
        };
        if self.creating.contains(&supervisor) {
            return Desired::CreatedInRun(supervisor);
        }
        match self.linked.get(&supervisor) {
            Some((user, true)) => Desired::User(user.clone()),
            Some((user, false)) => match self.rule {
                InactiveManagerRule::Keep => Desired::User(user.clone()),
                InactiveManagerRule::Clear => Desired::Clear,
            },
            None => Desired::Unknown(supervisor),
        }
    }

    /// Whether `creating` includes the supervisor.
    pub fn is_created_in_run(&self, supervisor: PersonioId) -> bool {
        self.creating.contains(&supervisor)
    }

    /// What an unchanged employee's link says was written, read as a reference: a link from
    /// before references were recorded is taken to hold what the links say now.
    fn written<'a>(&self, link: &'a EmployeeLink, desired: &'a Desired) -> Option<&'a ManagerLink> {
        match &link.manager {
            ManagerLink::Unknown => match desired {
                // Trusted as written: the profile hash covered it, as before.
                Desired::User(_) | Desired::Clear => None,
                _ => Some(&link.manager),
            },
            written => Some(written),
        }
    }

    /// Why an employee whose profile is unchanged needs its manager reference written (or
    /// looked up), or `None`. A pending reference to a supervisor the links do not know (never
    /// synced by this integration) is looked up again only in a `reconcile` run, which reads
    /// the LMS anyway: a run where nothing changed sends the LMS nothing. A supervisor who gets
    /// an account through the sync is in the links, and every run fills those references in.
    pub fn needs_attention(
        &self,
        profile: &LmsProfile,
        link: &EmployeeLink,
        reconcile: bool,
    ) -> Option<String> {
        let desired = self.desired(profile);
        let written = self.written(link, &desired)?;
        match (&desired, written) {
            (Desired::Clear, ManagerLink::None | ManagerLink::Unknown) => None,
            (Desired::Clear, _) => Some("the manager reference is cleared".into()),
            (Desired::User(user), ManagerLink::Set { user: written }) if user == written => None,
            (Desired::User(_), _) => Some("the manager reference changed".into()),
            (Desired::CreatedInRun(_), _) => {
                Some("the supervisor gets an LMS account in this run".into())
            }
            (Desired::Unknown(supervisor), ManagerLink::Pending { .. }) if reconcile => Some(
                format!("the supervisor (Personio employee {supervisor}) had no LMS account yet"),
            ),
            // Written before and not known to the links (a supervisor never synced): as is,
            // and pending until a reconcile run looks again.
            (Desired::Unknown(_), _) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::IntegrationId;
    use crate::domain::lms::Manager;
    use chrono::Utc;

    fn profile(id: i64, supervisor: Option<i64>) -> LmsProfile {
        LmsProfile {
            external_id: id.to_string(),
            manager: supervisor.map(|supervisor| Manager {
                personio_id: Some(supervisor.to_string()),
                name: None,
            }),
            ..LmsProfile::default()
        }
    }

    fn link(id: i64, active: bool, manager: ManagerLink) -> EmployeeLink {
        EmployeeLink {
            integration_id: IntegrationId::new("acme"),
            personio_id: PersonioId(id),
            lms_user_id: LmsUserId(format!("u{id}")),
            email: format!("p{id}@example.com"),
            profile_hash: String::new(),
            groups: Default::default(),
            active,
            updated_at: Utc::now(),
            version: 1,
            manager,
            profile: None,
            invited_at: None,
            invitation_pending: false,
        }
    }

    fn directory(rule: InactiveManagerRule, creating: &[i64]) -> ManagerDirectory {
        let links = [
            link(1, true, ManagerLink::None),
            link(2, false, ManagerLink::None),
        ];
        ManagerDirectory::new(
            &links,
            |link| link.active,
            creating.iter().map(|id| PersonioId(*id)).collect(),
            rule,
        )
    }

    #[test]
    fn supervisors_resolve_from_links_creates_or_not_at_all() {
        let keep = directory(InactiveManagerRule::Keep, &[3]);
        assert_eq!(keep.desired(&profile(9, None)), Desired::Clear);
        assert_eq!(keep.desired(&profile(9, Some(9))), Desired::Clear);
        assert_eq!(
            keep.desired(&profile(9, Some(1))),
            Desired::User(LmsUserId("u1".into()))
        );
        assert_eq!(
            keep.desired(&profile(9, Some(2))),
            Desired::User(LmsUserId("u2".into())),
            "a deactivated supervisor is kept"
        );
        assert_eq!(
            keep.desired(&profile(9, Some(3))),
            Desired::CreatedInRun(PersonioId(3))
        );
        assert_eq!(
            keep.desired(&profile(9, Some(4))),
            Desired::Unknown(PersonioId(4))
        );
        let clear = directory(InactiveManagerRule::Clear, &[]);
        assert_eq!(clear.desired(&profile(9, Some(2))), Desired::Clear);
    }

    #[test]
    fn unchanged_employees_need_a_write_only_when_the_reference_is_off() {
        let keep = directory(InactiveManagerRule::Keep, &[3]);
        let set = |user: &str| ManagerLink::Set {
            user: LmsUserId(user.into()),
        };
        let me = |manager| link(9, true, manager);
        assert_eq!(
            keep.needs_attention(&profile(9, Some(1)), &me(set("u1")), false),
            None
        );
        assert_eq!(
            keep.needs_attention(&profile(9, Some(1)), &me(ManagerLink::Unknown), false),
            None
        );
        assert!(
            keep.needs_attention(&profile(9, Some(1)), &me(set("old")), false)
                .is_some()
        );
        assert!(
            keep.needs_attention(
                &profile(9, Some(1)),
                &me(ManagerLink::Pending {
                    supervisor: PersonioId(1)
                }),
                false
            )
            .is_some()
        );
        assert!(
            keep.needs_attention(&profile(9, Some(3)), &me(ManagerLink::None), false)
                .is_some()
        );
        let pending = me(ManagerLink::Pending {
            supervisor: PersonioId(4),
        });
        assert_eq!(
            keep.needs_attention(&profile(9, Some(4)), &pending, false),
            None,
            "a normal run does not ask the LMS again"
        );
        assert!(
            keep.needs_attention(&profile(9, Some(4)), &pending, true)
                .is_some(),
            "a reconcile run does"
        );
        assert_eq!(
            keep.needs_attention(&profile(9, Some(4)), &me(ManagerLink::None), false),
            None
        );
        let clear = directory(InactiveManagerRule::Clear, &[]);
        assert!(
            clear
                .needs_attention(&profile(9, Some(2)), &me(set("u2")), false)
                .is_some()
        );
        assert_eq!(
            clear.needs_attention(&profile(9, None), &me(ManagerLink::None), false),
            None
        );
    }
}

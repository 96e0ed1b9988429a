//! The `LinkStore` contract: links written, read, listed and found by LMS user; a write
//! conditional on the version read lets exactly one of concurrent writers win.

use super::fixtures::{acme, assert_conflict, globex, link, t0};
use crate::domain::IntegrationId;
use crate::domain::employee::PersonioId;
use crate::domain::link::EmployeeLink;
use crate::domain::lms::{LmsProfile, LmsUserId, Manager};
use crate::ports::{LinkStore, StoreError};
use chrono::{Duration, NaiveDate};
use std::collections::BTreeMap;

/// Generates one `#[tokio::test]` per `LinkStore` contract case, as
/// [`state_store_contract_tests!`](crate::state_store_contract_tests) does for the whole state.
#[macro_export]
macro_rules! link_store_contract_tests {
    ($setup:expr) => {
        $crate::store_contract_cases!($setup; links;
            links_are_put_read_and_listed,
            a_link_keeps_its_profile_and_invitation,
            link_is_found_by_lms_user,
            create_only_link_write_conflicts_when_present,
            stale_link_version_conflicts_and_writes_nothing,
            link_write_with_the_read_version_succeeds,
            many_links_of_two_integrations_stay_separate,
            concurrent_link_creations_let_one_win,
        );
    };
}

pub async fn links_are_put_read_and_listed<S: LinkStore>(store: &S) {
    assert_eq!(store.links(&acme()).await.unwrap(), vec![]);
    assert_eq!(store.link(&acme(), PersonioId(1)).await.unwrap(), None);
    for id in [3, 1, 2] {
        store.put_link(&link(&acme(), id, 1), None).await.unwrap();
    }
    assert_eq!(
        store.link(&acme(), PersonioId(2)).await.unwrap(),
        Some(link(&acme(), 2, 1))
    );
    let mut listed = store.links(&acme()).await.unwrap();
    listed.sort_by_key(|link| link.personio_id);
    assert_eq!(
        listed,
        vec![
            link(&acme(), 1, 1),
            link(&acme(), 2, 1),
            link(&acme(), 3, 1)
        ]
    );
}

/// The last profile written and the invitation's record come back as written, and a link
/// without them (as stored before they existed) reads as "none kept".
pub async fn a_link_keeps_its_profile_and_invitation<S: LinkStore>(store: &S) {
    let bare = link(&acme(), 5, 1);
    store.put_link(&bare, None).await.unwrap();
    let read = store.link(&acme(), PersonioId(5)).await.unwrap().unwrap();
    assert_eq!(
        (read.profile, read.invited_at, read.invitation_pending),
        (None, None, false)
    );

    let mut full = link(&acme(), 5, 2);
    full.profile = Some(profile_of(&full));
    full.invitation_pending = true;
    store.put_link(&full, Some(1)).await.unwrap();
    assert_eq!(
        store.link(&acme(), PersonioId(5)).await.unwrap(),
        Some(full.clone())
    );

    let mut invited = link(&acme(), 5, 3);
    invited.profile = full.profile.clone();
    invited.invited_at = Some(t0() + Duration::milliseconds(1_234));
    store.put_link(&invited, Some(2)).await.unwrap();
    assert_eq!(store.links(&acme()).await.unwrap(), vec![invited]);
}

/// A profile with every kind of value a store must keep: text, dates, a manager, custom fields,
/// and text outside ASCII.
fn profile_of(link: &EmployeeLink) -> LmsProfile {
    LmsProfile {
        external_id: link.personio_id.to_string(),
        email: link.email.clone(),
        first_name: Some("Zoë".into()),
        last_name: Some("Ünal".into()),
        display_name: Some("Zoë Ünal".into()),
        status: "Preboarding".into(),
        active: false,
        title: Some("Engineer".into()),
        department: Some("Customer Support".into()),
        hire_date: NaiveDate::from_ymd_opt(2026, 7, 1),
        manager: Some(Manager {
            personio_id: Some("1".into()),
            name: Some("Ada Lovelace".into()),
        }),
        employee_number: Some(link.personio_id.to_string()),
        custom: BTreeMap::from([("costCenter".into(), "CC-7".into())]),
        ..LmsProfile::default()
    }
}

pub async fn link_is_found_by_lms_user<S: LinkStore>(store: &S) {
    store.put_link(&link(&acme(), 7, 1), None).await.unwrap();
    store.put_link(&link(&acme(), 8, 1), None).await.unwrap();
    let lms_user = link(&acme(), 8, 1).lms_user_id;
    assert_eq!(
        store.link_by_lms_user(&acme(), &lms_user).await.unwrap(),
        Some(link(&acme(), 8, 1))
    );
    assert_eq!(
        store
            .link_by_lms_user(&acme(), &LmsUserId("unknown".into()))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.link_by_lms_user(&globex(), &lms_user).await.unwrap(),
        None
    );

    // The index follows a link whose LMS user changes.
    let mut moved = link(&acme(), 8, 2);
    moved.lms_user_id = LmsUserId("replacement".into());
    store.put_link(&moved, Some(1)).await.unwrap();
    assert_eq!(
        store.link_by_lms_user(&acme(), &lms_user).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .link_by_lms_user(&acme(), &LmsUserId("replacement".into()))
            .await
            .unwrap(),
        Some(moved)
    );
}

pub async fn create_only_link_write_conflicts_when_present<S: LinkStore>(store: &S) {
    store.put_link(&link(&acme(), 1, 1), None).await.unwrap();
    let mut other = link(&acme(), 1, 1);
    other.email = "someone.else@acme.example".into();
    assert_conflict(
        store.put_link(&other, None).await,
        "create over an existing link",
    );
    assert_eq!(
        store.link(&acme(), PersonioId(1)).await.unwrap(),
        Some(link(&acme(), 1, 1))
    );
}

pub async fn stale_link_version_conflicts_and_writes_nothing<S: LinkStore>(store: &S) {
    store.put_link(&link(&acme(), 1, 1), None).await.unwrap();
    store.put_link(&link(&acme(), 1, 2), Some(1)).await.unwrap();
    assert_conflict(
        store.put_link(&link(&acme(), 1, 2), Some(1)).await,
        "write with a stale version",
    );
    assert_conflict(
        store.put_link(&link(&acme(), 1, 4), Some(3)).await,
        "write with a future version",
    );
    assert_conflict(
        store.put_link(&link(&acme(), 2, 2), Some(1)).await,
        "update of an absent link",
    );
    assert_eq!(
        store.link(&acme(), PersonioId(1)).await.unwrap(),
        Some(link(&acme(), 1, 2))
    );
    assert_eq!(store.link(&acme(), PersonioId(2)).await.unwrap(), None);
}

pub async fn link_write_with_the_read_version_succeeds<S: LinkStore>(store: &S) {
    store.put_link(&link(&acme(), 1, 1), None).await.unwrap();
    let read = store.link(&acme(), PersonioId(1)).await.unwrap().unwrap();
    let mut changed = link(&acme(), 1, read.version + 1);
    changed.active = false;
    changed.groups.insert("Marketing".into());
    store.put_link(&changed, Some(read.version)).await.unwrap();
    assert_eq!(
        store.link(&acme(), PersonioId(1)).await.unwrap(),
        Some(changed)
    );
}

pub async fn many_links_of_two_integrations_stay_separate<S: LinkStore>(store: &S) {
    // The same Personio ids in both integrations: only the integration tells them apart.
    for id in 0..300 {
        store.put_link(&link(&acme(), id, 1), None).await.unwrap();
        if id % 2 == 0 {
            store.put_link(&link(&globex(), id, 1), None).await.unwrap();
        }
    }
    let acme_links = store.links(&acme()).await.unwrap();
    let globex_links = store.links(&globex()).await.unwrap();
    assert_eq!(acme_links.len(), 300);
    assert_eq!(globex_links.len(), 150);
    assert!(acme_links.iter().all(|l| l.integration_id == acme()));
    assert!(globex_links.iter().all(|l| l.integration_id == globex()));
    assert_eq!(
        store.link(&globex(), PersonioId(10)).await.unwrap(),
        Some(link(&globex(), 10, 1))
    );
    assert_eq!(store.link(&globex(), PersonioId(11)).await.unwrap(), None);
    assert_eq!(
        store.links(&IntegrationId::new("initech")).await.unwrap(),
        vec![]
    );
}

pub async fn concurrent_link_creations_let_one_win<S: LinkStore>(store: &S) {
    let candidates: Vec<EmployeeLink> = (0..8)
        .map(|n| {
            let mut candidate = link(&acme(), 1, 1);
            candidate.profile_hash = format!("writer-{n}");
            candidate
        })
        .collect();
    let writes =
        futures::future::join_all(candidates.iter().map(|c| store.put_link(c, None))).await;
    let winners: Vec<&EmployeeLink> = writes
        .iter()
        .zip(&candidates)
        .filter(|(write, _)| write.is_ok())
        .map(|(_, candidate)| candidate)
        .collect();
    assert_eq!(winners.len(), 1, "{writes:?}");
    assert!(
        writes
            .iter()
            .all(|write| matches!(write, Ok(()) | Err(StoreError::Conflict(_)))),
        "{writes:?}"
    );
    assert_eq!(
        store.link(&acme(), PersonioId(1)).await.unwrap().as_ref(),
        Some(winners[0])
    );
}

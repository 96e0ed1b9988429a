//! The compatibility matrix: one test per quirk of the SCIM servers real learning platforms run,
//! each a sync against the independent `scim2-server` behind a proxy that switches the quirk
//! on (`integration_tests::scim_quirks`). Each row asserts that the sync converges, or that it
//! reports the limitation precisely.

use crate::sync_harness::{
    acme, email, onboarded, outcome_of, personio_id, request, start_sandbox,
};
use common::domain::lms::LmsUserId;
use common::domain::run::{OutcomeAction, RunKind, RunRecord, RunStatus};
use common::domain::settings::{IntegrationSettings, ScimSettings};
use common::lms::scim::{ENTERPRISE_USER_SCHEMA, ScimLms};
use common::notify::MemoryNotifier;
use common::ports::{LearningPlatform, LinkStore};
use common::store::MemoryStore;
use common::sync::SyncEngine;
use integration_tests::scim::{FULL, MINIMAL, ScimServer, Shape, TOKEN, scim_client_with};
use integration_tests::scim_quirks::{QuirkProxy, Quirks};
use personio_sandbox::{Employee, LMS_SYNC_LABEL, RunningSandbox};
use serde_json::{Value, json};
use std::sync::Arc;

const COMPANY: usize = 24;

struct Row {
    server: ScimServer,
    proxy: QuirkProxy,
    sandbox: RunningSandbox,
    store: MemoryStore,
    lms: Arc<ScimLms>,
    engine: SyncEngine,
    settings: IntegrationSettings,
}

/// No groups: each row is about users; the group rows of the suite are elsewhere.
fn settings() -> IntegrationSettings {
    IntegrationSettings::new(LMS_SYNC_LABEL)
}

async fn row(seed: u64, shape: Shape, quirks: Quirks) -> Option<Row> {
    row_with(seed, shape, quirks, 1000).await
}

async fn row_with(
    seed: u64,
    shape: Shape,
    quirks: Quirks,
    listing_page_size: usize,
) -> Option<Row> {
    let server = ScimServer::start(shape)?;
    let proxy = QuirkProxy::start(server.base_url(), quirks).await;
    let sandbox = start_sandbox(seed, COMPANY).await;
    let store = MemoryStore::new();
    let lms = Arc::new(scim_client_with(
        &proxy.base_url(),
        TOKEN,
        100,
        listing_page_size,
    ));
    let engine = crate::sync_harness::engine(
        &sandbox,
        lms.clone(),
        Arc::new(store.clone()),
        Arc::new(MemoryNotifier::new()),
    );
    Some(Row {
        server,
        proxy,
        sandbox,
        store,
        lms,
        engine,
        settings: settings(),
    })
}

impl Row {
    async fn sync(&self) -> RunRecord {
        crate::sync_harness::run(&self.engine, request(self.settings.clone())).await
    }

    async fn reconcile(&self) -> RunRecord {
        let mut request = request(self.settings.clone());
        request.kind = RunKind::Reconcile;
        crate::sync_harness::run(&self.engine, request).await
    }

    /// The selected employees who get an account (all but the leavers, who are not created).
    fn selected(&self) -> Vec<Employee> {
        onboarded(&self.sandbox, &self.settings)
    }

    /// The server's user of an employee, read past the proxy.
    async fn user(&self, employee: &Employee) -> Value {
        self.server
            .user_documents()
            .await
            .into_iter()
            .find(|user| user["externalId"] == json!(employee.id().to_string()))
            .unwrap_or_else(|| panic!("no SCIM user for employee {}", employee.id()))
    }

    async fn user_id(&self, employee: &Employee) -> LmsUserId {
        LmsUserId(
            self.user(employee).await["id"]
                .as_str()
                .expect("an id")
                .to_owned(),
        )
    }
}

fn assert_converged(record: &RunRecord) {
    assert_eq!(
        record.status,
        RunStatus::Succeeded,
        "{:#?}",
        record.outcomes
    );
}

fn reason_of(record: &RunRecord, employee: &Employee) -> String {
    outcome_of(record, employee.id())
        .and_then(|outcome| outcome.reason.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn no_discovery_documents_mean_rfc_7643_defaults_and_a_warning() {
    let quirks = Quirks {
        no_discovery: true,
        ..Quirks::default()
    };
    let Some(row) = row(7301, FULL, quirks).await else {
        return;
    };
    let record = row.sync().await;
    assert_converged(&record);
    assert!(
        record
            .notices
            .iter()
            .any(|notice| notice.contains("serves no /Schemas")),
        "{:?}",
        record.notices
    );
    let someone = &row.selected()[0];
    let user = row.user(someone).await;
    // The enterprise extension of RFC 7643 is assumed, so the department arrives.
    assert!(
        user[ENTERPRISE_USER_SCHEMA]["department"].is_string(),
        "{user}"
    );
    let report = row
        .lms
        .describe_mapping(&row.settings.attribute_mapping().expect("valid"))
        .await
        .expect("described");
    assert!(report.warnings.iter().any(|w| w.contains("/ResourceTypes")));
    assert_eq!(
        row.sync().await.counts.unchanged as usize,
        row.selected().len()
    );
}

#[tokio::test]
async fn without_an_external_id_filter_users_are_found_by_listing() {
    let quirks = Quirks {
        no_external_id_filter: true,
        ..Quirks::default()
    };
    // Two users per listing page: one missing link is cheaper to look up than to list.
    let Some(row) = row_with(7302, FULL, quirks, 2).await else {
        return;
    };
    assert_converged(&row.sync().await);
    // A run that died after the create, before its link write.
    let lost = &row.selected()[1];
    let link = row
        .store
        .link(&acme(), personio_id(lost))
        .await
        .expect("readable")
        .expect("linked");
    row.store.forget_link(&acme(), link.personio_id);

    let record = row.sync().await;

    assert_converged(&record);
    let found = outcome_of(&record, lost.id()).expect("an outcome");
    assert_eq!(found.action, OutcomeAction::Adopted, "{found:?}");
    let relinked = row
        .store
        .link(&acme(), personio_id(lost))
        .await
        .expect("readable")
        .expect("linked again");
    assert_eq!(relinked.lms_user_id, link.lms_user_id, "the same account");
    assert_eq!(
        row.server.user_documents().await.len(),
        row.selected().len()
    );
}

#[tokio::test]
async fn without_patch_updates_and_memberships_are_put() {
    let quirks = Quirks {
        no_patch: true,
        ..Quirks::default()
    };
    let Some(mut row) = row(7303, MINIMAL, quirks).await else {
        return;
    };
    let someone = row.selected()[0].clone();
    let department = crate::sync_harness::department_name(&someone).expect("a department");
    let group = row.server.create_group(&department).await;
    row.settings.groups.by = [common::domain::settings::GroupSource::Department].into();
    assert_converged(&row.sync().await);
    assert!(
        row.server
            .group_members(&group)
            .await
            .contains(&row.user_id(&someone).await.0)
    );
    row.sandbox
        .set_attribute(someone.id(), "email", "moved.by.put@acme.example")
        .expect("changed");

    let record = row.sync().await;

    assert_converged(&record);
    assert_eq!(record.counts.updated, 1);
    assert_eq!(
        row.user(&someone).await["userName"],
        "moved.by.put@acme.example"
    );
    assert_eq!(row.proxy.count("PATCH /Users"), 0);
    assert_eq!(row.proxy.count("PATCH /Groups"), 0);
    assert!(row.proxy.count("PUT /Users") >= 1);
    assert!(row.proxy.count("PUT /Groups") >= 1);
}

#[tokio::test]
async fn without_etags_nothing_changes_and_none_are_sent() {
    let quirks = Quirks {
        no_etags: true,
        ..Quirks::default()
    };
    let Some(row) = row(7304, FULL, quirks).await else {
        return;
    };
    assert_converged(&row.sync().await);
    let someone = &row.selected()[2];
    row.sandbox
        .set_attribute(someone.id(), "email", "no.etags@acme.example")
        .expect("changed");
    let record = row.sync().await;
    assert_converged(&record);
    assert_eq!(record.counts.updated, 1);
    assert_eq!(row.user(someone).await["userName"], "no.etags@acme.example");
    assert!(!row.proxy.if_match_seen());
}

#[tokio::test]
async fn entra_style_patch_shapes_fall_back_to_put() {
    let quirks = Quirks {
        filtered_patch_refused: true,
        ..Quirks::default()
    };
    let Some(row) = row(7305, FULL, quirks).await else {
        return;
    };
    assert_converged(&row.sync().await);
    let [first, second, ..] = &row.selected()[..] else {
        panic!("too few selected")
    };
    row.sandbox
        .set_attribute(first.id(), "email", "entra.one@acme.example")
        .expect("changed");

    let record = row.sync().await;

    assert_converged(&record);
    assert_eq!(row.user(first).await["userName"], "entra.one@acme.example");
    let puts = row.proxy.count("PUT /Users");
    assert!(puts >= 1, "{:?}", row.proxy.requests());
    // Learnt once: the next update goes straight to PUT, without a refused PATCH first.
    let patches = row.proxy.count("PATCH /Users") + row.proxy.count("POST /Bulk");
    row.sandbox
        .set_attribute(second.id(), "email", "entra.two@acme.example")
        .expect("changed");
    assert_converged(&row.sync().await);
    assert_eq!(row.user(second).await["userName"], "entra.two@acme.example");
    assert_eq!(
        row.proxy.count("PATCH /Users") + row.proxy.count("POST /Bulk"),
        patches
    );
    assert_eq!(row.proxy.count("PUT /Users"), puts + 1);
}

#[tokio::test]
async fn a_409_for_a_taken_user_name_adopts_a_user_without_external_id() {
    let Some(sandbox_row) = row(7306, FULL, Quirks::default()).await else {
        return;
    };
    let target = sandbox_row.selected()[3].clone();
    drop(sandbox_row);
    let quirks = Quirks {
        competing_create: Some((email(&target), None)),
        ..Quirks::default()
    };
    let Some(row) = row(7306, FULL, quirks).await else {
        return;
    };

    let record = row.sync().await;

    assert_converged(&record);
    let adopted = outcome_of(&record, target.id()).expect("an outcome");
    assert_eq!(adopted.action, OutcomeAction::Adopted, "{adopted:?}");
    assert_eq!(
        row.user(&target).await["externalId"],
        target.id().to_string()
    );
    assert_eq!(
        row.server.user_documents().await.len(),
        row.selected().len()
    );
}

#[tokio::test]
async fn a_409_for_a_user_name_of_another_external_id_is_reported() {
    let Some(sandbox_row) = row(7307, FULL, Quirks::default()).await else {
        return;
    };
    let target = sandbox_row.selected()[3].clone();
    drop(sandbox_row);
    let quirks = Quirks {
        competing_create: Some((email(&target), Some("contractor-17".into()))),
        ..Quirks::default()
    };
    let Some(row) = row(7307, FULL, quirks).await else {
        return;
    };

    let record = row.sync().await;

    assert_eq!(record.status, RunStatus::CompletedWithFailures);
    assert_eq!(record.counts.failed, 1);
    let reason = reason_of(&record, &target);
    assert!(reason.contains("contractor-17"), "{reason}");
    assert_eq!(record.counts.created as usize, row.selected().len() - 1);
}

#[tokio::test]
async fn a_soft_deleted_user_is_reported_precisely_by_the_reconcile() {
    let quirks = Quirks {
        soft_deletes: true,
        ..Quirks::default()
    };
    let Some(row) = row(7308, FULL, quirks).await else {
        return;
    };
    assert_converged(&row.sync().await);
    let gone = row.selected()[0].clone();
    row.proxy.soft_delete(&row.user_id(&gone).await.0);
    // A normal run does not read the LMS: nothing to notice.
    assert_converged(&row.sync().await);

    let record = row.reconcile().await;

    assert_eq!(
        record.status,
        RunStatus::CompletedWithFailures,
        "{:#?} {:?}",
        record.outcomes,
        row.proxy.requests()
    );
    let outcome = outcome_of(&record, gone.id()).expect("an outcome");
    assert_eq!(outcome.action, OutcomeAction::Failed);
    let reason = outcome.reason.clone().unwrap_or_default();
    assert!(reason.contains("soft delete"), "{reason}");
    assert_eq!(record.counts.unchanged as usize, row.selected().len() - 1);
}

#[tokio::test]
async fn an_lms_keyed_by_email_reports_an_email_change_as_a_manual_step() {
    let quirks = Quirks {
        email_keyed: true,
        ..Quirks::default()
    };
    let Some(row) = row(7309, FULL, quirks).await else {
        return;
    };
    assert_converged(&row.sync().await);
    let moved = row.selected()[1].clone();
    let old_email = email(&moved);
    row.sandbox
        .set_attribute(moved.id(), "email", "keyed.by.email@acme.example")
        .expect("changed");
    row.sandbox
        .set_attribute(moved.id(), "position", "Keyed Lead")
        .expect("changed");

    let record = row.sync().await;

    let outcome = outcome_of(&record, moved.id()).expect("an outcome");
    assert_eq!(outcome.action, OutcomeAction::Failed);
    let reason = outcome.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("by hand") && reason.contains(&old_email),
        "{reason}"
    );
    let user = row.user(&moved).await;
    assert_eq!(user["title"], "Keyed Lead", "the rest is written");
    assert!(
        user["userName"]
            .as_str()
            .is_some_and(|name| name.eq_ignore_ascii_case(&old_email))
    );

    // The LMS admin makes the change there; the next run finds it done.
    row.server
        .admin_patch(
            &format!("/Users/{}", user["id"].as_str().expect("an id")),
            json!([{"op": "replace", "path": "userName", "value": "keyed.by.email@acme.example"}]),
        )
        .await;
    let fixed = row.sync().await;
    assert_converged(&fixed);
    assert_eq!(
        outcome_of(&fixed, moved.id()).map(|outcome| outcome.action),
        Some(OutcomeAction::Updated)
    );
}

#[tokio::test]
async fn the_lms_rate_limit_is_honoured() {
    let quirks = Quirks {
        throttle_every: Some(4),
        ..Quirks::default()
    };
    let Some(mut row) = row(7310, FULL, quirks).await else {
        return;
    };
    // One request each, so that there are many.
    row.settings.scim = ScimSettings {
        bulk: false,
        ..ScimSettings::default()
    };
    let record = row.sync().await;
    assert_converged(&record);
    assert_eq!(record.counts.created as usize, row.selected().len());
    assert!(row.lms.throttled_count() > 0);
}

#[tokio::test]
async fn a_bulk_response_with_a_refused_operation_fails_that_employee_only() {
    let Some(sandbox_row) = row(7311, FULL, Quirks::default()).await else {
        return;
    };
    let refused = sandbox_row.selected()[5].clone();
    drop(sandbox_row);
    let quirks = Quirks {
        refuse_in_bulk: Some(email(&refused)),
        ..Quirks::default()
    };
    let Some(row) = row(7311, FULL, quirks).await else {
        return;
    };

    let record = row.sync().await;

    assert_eq!(record.status, RunStatus::CompletedWithFailures);
    assert_eq!(record.counts.failed, 1);
    assert_eq!(record.counts.created as usize, row.selected().len() - 1);
    let reason = reason_of(&record, &refused);
    assert!(reason.contains("invalidValue"), "{reason}");
    assert_eq!(
        row.proxy.count("POST /Bulk"),
        1,
        "{:?}",
        row.proxy.requests()
    );
    assert_eq!(row.proxy.count("POST /Users"), 0);
}

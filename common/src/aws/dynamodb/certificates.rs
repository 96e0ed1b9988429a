//! The certificate ledger: one `CERT#{certificate_id}` item per certificate (`state`, `attempts`,
//! `rev`, and by state the parked job, the claim's expiry, the document id or the failure
//! reason). Every transition is a rule of [`crate::store::rules`] run through the optimistic
//! loop. No `expires_at`: TTL must never delete a claim, and the ledger is what makes certificate
//! pushes exactly-once.

use super::codec::{Item, ItemReader, keyed_item, n, s, timestamp};
use super::optimistic::{Decision, Versioned, read_decide_write};
use super::requests::REVISION;
use super::store::DynamoStore;
use crate::domain::IntegrationId;
use crate::domain::certificate::{
    CertificateId, Claim, ClaimToken, LedgerClaim, LedgerEntry, LedgerState, ParkAnswer, Parking,
};
use crate::ports::{CertificateLedger, StoreError};
use crate::store::{keys, rules};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use futures::FutureExt;

fn encode_certificate(entry: &LedgerEntry) -> Item {
    let mut item = keyed_item(
        keys::partition(&entry.integration_id),
        keys::certificate_sort(&entry.certificate_id),
        "certificate",
        [
            ("integration_id", s(entry.integration_id.as_str())),
            ("certificate_id", s(&entry.certificate_id.0)),
            ("state", s(rules::state_name(&entry.state))),
            ("attempts", n(entry.attempts)),
            ("updated_at", s(timestamp(entry.updated_at))),
        ],
    );
    let mut put = |name: &str, value: AttributeValue| {
        item.insert(name.to_owned(), value);
    };
    // Deliberately not `expires_at`: that is the table's TTL attribute, and TTL must never
    // delete a claim.
    match &entry.state {
        LedgerState::Parked { job, since, reason } => {
            put("job", s(job.to_string()));
            if let Some(since) = since {
                put("parked_since", s(timestamp(*since)));
            }
            if let Some(reason) = reason {
                put("reason", s(reason));
            }
        }
        LedgerState::InProgress { expires_at, holder } => {
            put("claim_expires_at", s(timestamp(*expires_at)));
            if let Some(holder) = holder {
                put("claim_holder", s(&holder.0));
            }
        }
        LedgerState::Done { document_id } => put("document_id", s(document_id)),
        LedgerState::Failed { reason } => put("reason", s(reason)),
    }
    if let Some(subject) = &entry.subject {
        // Plain data with string keys: serialising it cannot fail.
        if let Ok(json) = serde_json::to_string(subject) {
            put("subject", s(json));
        }
    }
    item
}

fn decode_certificate(item: &Item) -> Result<LedgerEntry, StoreError> {
    let reader = ItemReader::new(item);
    let state = match reader.string("state")? {
        "parked" => LedgerState::Parked {
            job: serde_json::from_str(reader.string("job")?)
                .map_err(|error| reader.corrupt(format!("parked job: {error}")))?,
            since: reader.optional_datetime("parked_since")?,
            reason: reader.optional_string("reason")?.map(str::to_owned),
        },
        "in_progress" => LedgerState::InProgress {
            expires_at: reader.datetime("claim_expires_at")?,
            holder: reader
                .optional_string("claim_holder")?
                .map(|holder| ClaimToken(holder.to_owned())),
        },
        "done" => LedgerState::Done {
            document_id: reader.string("document_id")?.to_owned(),
        },
        "failed" => LedgerState::Failed {
            reason: reader.string("reason")?.to_owned(),
        },
        other => return Err(reader.corrupt(format!("unknown ledger state `{other}`"))),
    };
    let subject = reader
        .optional_string("subject")?
        .map(|json| {
            serde_json::from_str(json)
                .map_err(|error| reader.corrupt(format!("certificate subject: {error}")))
        })
        .transpose()?;
    Ok(LedgerEntry {
        integration_id: IntegrationId::new(reader.string("integration_id")?),
        certificate_id: CertificateId(reader.string("certificate_id")?.to_owned()),
        state,
        attempts: reader.number("attempts")?,
        updated_at: reader.datetime("updated_at")?,
        subject,
    })
}

/// A decision that stores `next` when there is one, and answers `answer` either way.
fn store_then<A>(next: Option<LedgerEntry>, answer: A) -> Decision<LedgerEntry, A> {
    match next {
        Some(entry) => Decision::Write(entry, answer),
        None => Decision::Answer(answer),
    }
}

impl DynamoStore {
    async fn read_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
    ) -> Result<Option<Versioned<LedgerEntry>>, StoreError> {
        let sort = keys::certificate_sort(certificate);
        match self.get(integration, &sort).await? {
            None => Ok(None),
            Some(item) => Ok(Some(Versioned {
                value: decode_certificate(&item)?,
                revision: ItemReader::new(&item).number(REVISION)?,
            })),
        }
    }

    /// Reads the entry, applies `decide` (a ledger rule), and stores what it decided if the
    /// entry is unchanged; repeats on a lost race.
    async fn decide_certificate<A>(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        decide: impl Fn(Option<LedgerEntry>) -> Result<Decision<LedgerEntry, A>, StoreError>,
    ) -> Result<A, StoreError> {
        let item_key = &keys::certificate_item(integration, certificate);
        read_decide_write(
            item_key,
            || self.read_certificate(integration, certificate).boxed(),
            decide,
            |entry, read_revision| {
                self.put_if_unchanged(encode_certificate(&entry), read_revision, item_key)
                    .boxed()
            },
        )
        .await
    }
}

#[async_trait]
impl CertificateLedger for DynamoStore {
    async fn claim_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        claim: &Claim,
    ) -> Result<LedgerClaim, StoreError> {
        self.decide_certificate(integration, certificate, |current| {
            let decision =
                rules::claim_certificate(current.as_ref(), integration, certificate, claim);
            Ok(store_then(decision.store, decision.answer))
        })
        .await
    }

    async fn complete_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        holder: &ClaimToken,
        document_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.decide_certificate(integration, certificate, |current| {
            let done = rules::complete_certificate(
                current,
                integration,
                certificate,
                holder,
                document_id,
                now,
            )?;
            Ok(Decision::Write(done, ()))
        })
        .await
    }

    async fn fail_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        holder: &ClaimToken,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.decide_certificate(integration, certificate, |current| {
            let failed =
                rules::fail_certificate(current, integration, certificate, holder, reason, now)?;
            Ok(Decision::Write(failed, ()))
        })
        .await
    }

    async fn park_certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
        parking: &Parking,
    ) -> Result<ParkAnswer, StoreError> {
        self.decide_certificate(integration, certificate, |current| {
            let (answer, parked) =
                rules::park_certificate(current, integration, certificate, parking);
            Ok(store_then(parked, answer))
        })
        .await
    }

    async fn certificate(
        &self,
        integration: &IntegrationId,
        certificate: &CertificateId,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        Ok(self
            .read_certificate(integration, certificate)
            .await?
            .map(|current| current.value))
    }

    async fn certificates(
        &self,
        integration: &IntegrationId,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        // Sort keys compare as UTF-8 bytes, which is `String`'s order: already by certificate id.
        let items = self
            .query_prefix(integration, "CERT#", false, None, None)
            .await?;
        items.iter().map(decode_certificate).collect()
    }

    async fn parked_certificates(
        &self,
        integration: &IntegrationId,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        // A filter on the partition's certificates: parked entries are few and short-lived,
        // which does not justify a second index.
        let parked = rules::state_name(&LedgerState::Parked {
            job: serde_json::Value::Null,
            since: None,
            reason: None,
        });
        let items = self
            .query_prefix(integration, "CERT#", false, None, Some(parked))
            .await?;
        items.iter().map(decode_certificate).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::schema::table_definition;
    use super::*;
    use crate::domain::certificate::CertificateSubject;
    use crate::domain::employee::PersonioId;
    use crate::domain::lms::LmsUserId;
    use chrono::NaiveDate;

    #[test]
    fn certificate_items_round_trip_in_every_state() {
        let at = DateTime::from_timestamp(1_750_000_000, 123_456_789).unwrap_or_default();
        let states = [
            LedgerState::Parked {
                job: serde_json::json!({"certificate_id": "c", "nested": [1, null]}),
                since: Some(at),
                reason: Some("LMS user u-1 is not linked".into()),
            },
            LedgerState::Parked {
                job: serde_json::json!({}),
                since: None,
                reason: None,
            },
            LedgerState::InProgress {
                expires_at: at,
                holder: Some(ClaimToken("t-1".into())),
            },
            LedgerState::InProgress {
                expires_at: at,
                holder: None,
            },
            LedgerState::Done {
                document_id: "doc-1".into(),
            },
            LedgerState::Failed {
                reason: "Personio: Datei zu groß".into(),
            },
        ];
        let subject = CertificateSubject {
            lms_user_id: LmsUserId("u-1".into()),
            email: Some("anna@acme.example".into()),
            personio_id: Some(PersonioId(7)),
            course_name: "Brandschutz".into(),
            completed_on: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap_or_default(),
        };
        for (index, state) in states.into_iter().enumerate() {
            let entry = LedgerEntry {
                integration_id: IntegrationId::new("acme"),
                certificate_id: CertificateId("c-1".into()),
                state,
                attempts: 3,
                updated_at: at,
                subject: (index % 2 == 0).then(|| subject.clone()),
            };
            let item = encode_certificate(&entry);
            assert!(!item.contains_key(table_definition().ttl_attribute));
            assert_eq!(decode_certificate(&item).unwrap(), entry);
        }
    }
}

//! Attribute values from and to Rust values: the constructors every item encoder uses, and
//! [`ItemReader`], the typed reads whose every failure is `Corrupt` naming the item's key.

use crate::ports::StoreError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::{BTreeSet, HashMap};

/// One DynamoDB item: attribute name to value.
pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// Full precision (nanoseconds when present), so a timestamp reads back equal.
pub(super) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// An item with its key and `kind` (the item type, for people reading the table) and the
/// attributes `rest`.
pub(super) fn keyed_item<const N: usize>(
    partition: String,
    sort: impl Into<String>,
    kind: &str,
    rest: [(&str, AttributeValue); N],
) -> Item {
    let mut item = Item::with_capacity(N + 3);
    item.insert("pk".into(), s(partition));
    item.insert("sk".into(), s(sort));
    item.insert("kind".into(), s(kind));
    item.extend(
        rest.into_iter()
            .map(|(name, value)| (name.to_owned(), value)),
    );
    item
}

/// Typed access to an item's attributes; every failure is `Corrupt` naming the item's key.
pub(super) struct ItemReader<'a> {
    item: &'a Item,
}

impl<'a> ItemReader<'a> {
    pub(super) fn new(item: &'a Item) -> Self {
        Self { item }
    }

    pub(super) fn corrupt(&self, reason: String) -> StoreError {
        let key_part = |name: &str| match self.item.get(name) {
            Some(AttributeValue::S(value)) => value.as_str(),
            _ => "?",
        };
        StoreError::Corrupt {
            key: format!("{}/{}", key_part("pk"), key_part("sk")),
            reason,
        }
    }

    fn attribute(&self, name: &str) -> Result<&'a AttributeValue, StoreError> {
        self.item
            .get(name)
            .ok_or_else(|| self.corrupt(format!("attribute `{name}` is missing")))
    }

    pub(super) fn optional_string(&self, name: &str) -> Result<Option<&'a str>, StoreError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(value)) => Ok(Some(value)),
            Some(_) => Err(self.corrupt(format!("attribute `{name}` is not a string"))),
        }
    }

    pub(super) fn string(&self, name: &str) -> Result<&'a str, StoreError> {
        self.optional_string(name)?
            .ok_or_else(|| self.corrupt(format!("attribute `{name}` is missing")))
    }

    pub(super) fn number<T: std::str::FromStr>(&self, name: &str) -> Result<T, StoreError> {
        match self.attribute(name)? {
            AttributeValue::N(value) => value
                .parse()
                .map_err(|_| self.corrupt(format!("attribute `{name}` is out of range: {value}"))),
            _ => Err(self.corrupt(format!("attribute `{name}` is not a number"))),
        }
    }

    /// A boolean that may be absent (an attribute added after items were first written).
    pub(super) fn optional_boolean(&self, name: &str) -> Result<Option<bool>, StoreError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::Bool(value)) => Ok(Some(*value)),
            Some(_) => Err(self.corrupt(format!("attribute `{name}` is not a boolean"))),
        }
    }

    /// JSON kept in a string attribute, decoded; absent is `None`.
    pub(super) fn optional_json<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Option<T>, StoreError> {
        self.optional_string(name)?
            .map(|text| {
                serde_json::from_str(text)
                    .map_err(|error| self.corrupt(format!("attribute `{name}`: {error}")))
            })
            .transpose()
    }

    pub(super) fn boolean(&self, name: &str) -> Result<bool, StoreError> {
        match self.attribute(name)? {
            AttributeValue::Bool(value) => Ok(*value),
            _ => Err(self.corrupt(format!("attribute `{name}` is not a boolean"))),
        }
    }

    pub(super) fn binary(&self, name: &str) -> Result<&'a [u8], StoreError> {
        match self.attribute(name)? {
            AttributeValue::B(blob) => Ok(blob.as_ref()),
            _ => Err(self.corrupt(format!("attribute `{name}` is not binary"))),
        }
    }

    pub(super) fn string_list(&self, name: &str) -> Result<BTreeSet<String>, StoreError> {
        match self.attribute(name)? {
            AttributeValue::L(values) => values
                .iter()
                .map(|value| match value {
                    AttributeValue::S(text) => Ok(text.clone()),
                    _ => Err(self.corrupt(format!("attribute `{name}` holds a non-string"))),
                })
                .collect(),
            _ => Err(self.corrupt(format!("attribute `{name}` is not a list"))),
        }
    }

    pub(super) fn datetime(&self, name: &str) -> Result<DateTime<Utc>, StoreError> {
        let text = self.string(name)?;
        self.parse_datetime(name, text)
    }

    pub(super) fn optional_datetime(
        &self,
        name: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.optional_string(name)?
            .map(|text| self.parse_datetime(name, text))
            .transpose()
    }

    fn parse_datetime(&self, name: &str, text: &str) -> Result<DateTime<Utc>, StoreError> {
        DateTime::parse_from_rfc3339(text)
            .map(|at| at.with_timezone(&Utc))
            .map_err(|error| {
                self.corrupt(format!("attribute `{name}` is not a timestamp: {error}"))
            })
    }
}

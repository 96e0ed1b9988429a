//! A value that must never reach logs, errors, Debug output, API responses or stored items.

use std::fmt;

/// A secret string (API client secret, bearer token). `Debug` and `Display` print a fixed mask;
/// the only way to the value is [`Secret::expose`], so every use of the raw value is greppable.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The raw value, for the one place that must send it (an auth body, a header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

// Deliberately no `Serialize`: a secret cannot end up in a stored item or an API response by
// accident. Deserializing is allowed so that config files and secret payloads can hold one.
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// A deserializer's message without the value it quotes, for errors about configuration:
/// serde's `invalid type: integer `4711`, expected a string` becomes `invalid type: integer,
/// expected a string`, and `unknown variant `x`, expected …` loses the `x`. A secret typed into
/// the wrong field (or with the wrong type) is then reported by field and type, never by value.
pub fn without_values(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some(split) = rest.rfind(", expected ")
        {
            let unexpected = &rest[..split];
            // `integer `5``, `string "x"`, `floating point `1.5``: the kind is what precedes the
            // quoted value; `sequence`, `map` quote nothing.
            let kind = match unexpected.find(['`', '"']) {
                Some(quote) => unexpected[..quote].trim_end(),
                None => unexpected,
            };
            return format!("{prefix}{kind}{}", &rest[split..]);
        }
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let tail = rest
            .rfind(", expected ")
            .or_else(|| rest.rfind(", there are no variants"))
            .map_or("", |split| &rest[split..]);
        return format!("unknown variant{tail}");
    }
    message.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deserializer_messages_lose_their_values() {
        for (message, expected) in [
            (
                "invalid type: integer `4711`, expected a string",
                "invalid type: integer, expected a string",
            ),
            (
                r#"invalid type: string "papi-s3cret, expected x", expected usize"#,
                "invalid type: string, expected usize",
            ),
            (
                "invalid type: floating point `1.5`, expected u32",
                "invalid type: floating point, expected u32",
            ),
            (
                "invalid type: sequence, expected a string",
                "invalid type: sequence, expected a string",
            ),
            (
                r#"invalid value: string "s3cret", expected a date"#,
                "invalid value: string, expected a date",
            ),
            (
                "unknown variant `s3cret`, expected one of `department`, `team`, `position`",
                "unknown variant, expected one of `department`, `team`, `position`",
            ),
            (
                "unknown field `clientid`, expected one of `client_id`",
                "unknown field `clientid`, expected one of `client_id`",
            ),
            ("missing field `lms`", "missing field `lms`"),
        ] {
            assert_eq!(without_values(message), expected, "{message}");
        }
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let secret = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(Secret(***))");
        assert_eq!(secret.expose(), "hunter2-very-secret");
    }
}

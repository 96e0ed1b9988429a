//! The Prometheus project's own parser of the text exposition format (`prometheus_client.parser`
//! from the test virtualenv), for the `/metrics` page of a local host: what a scrape would read.

use crate::venv_tool;
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

/// One sample as the parser read it.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The family's name (counters without their `_total` suffix, as the parser names them).
    pub family: String,
    /// `counter`, `gauge`, `summary`, …
    pub family_type: String,
    /// The sample's name (`…_total`, `…_sum`, …).
    pub name: String,
    pub labels: serde_json::Map<String, Value>,
    pub value: f64,
}

/// Parses `page` with prometheus_client; `None` (the test skips) when the virtualenv lacks
/// Python. A page the parser refuses fails the test.
pub fn parse_page(page: &str) -> Option<Vec<Sample>> {
    let python = venv_tool("python")?;
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
rows = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        rows.append([family.name, family.type, sample.name, sample.labels, sample.value])
print(json.dumps(rows))
"#;
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(page.as_bytes())
        .expect("the page is written");
    let output = child.wait_with_output().expect("python ends");
    assert!(
        output.status.success(),
        "the page does not parse:\n{page}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout).expect("JSON rows");
    Some(
        rows.into_iter()
            .map(|row| Sample {
                family: row[0].as_str().unwrap_or_default().to_owned(),
                family_type: row[1].as_str().unwrap_or_default().to_owned(),
                name: row[2].as_str().unwrap_or_default().to_owned(),
                labels: row[3].as_object().cloned().unwrap_or_default(),
                value: row[4].as_f64().unwrap_or(f64::NAN),
            })
            .collect(),
    )
}

/// The value of the sample `name` with exactly `labels`, if the page has it.
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|sample| {
            sample.name == name
                && sample.labels.len() == labels.len()
                && labels
                    .iter()
                    .all(|(label, value)| sample.labels.get(*label) == Some(&Value::from(*value)))
        })
        .map(|sample| sample.value)
}

/// The type the page declared for `family` (as the parser names it).
pub fn family_type(samples: &[Sample], family: &str) -> Option<String> {
    samples
        .iter()
        .find(|sample| sample.family == family)
        .map(|sample| sample.family_type.clone())
}

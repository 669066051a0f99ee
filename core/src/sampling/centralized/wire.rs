//! The JSON of the sampling API as the daemon proxy carries it (PROTOCOL.md §2.5): reading
//! `GetSamplingRules` and `SamplingTargets` answers, writing statistics.
//!
//! Rules are filtered as the SDKs filter them: `Version` 1, `ResourceARN` `*`, no (or empty)
//! `Attributes`, a non-empty `ServiceType`. A record that is malformed or filtered out is
//! skipped with a reason; an answer that is not the expected JSON object is an error.

use serde_json::{json, Map, Value};

/// One usable rule from `GetSamplingRules`.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleDefinition {
    pub name: String,
    pub priority: i64,
    pub fixed_rate: f64,
    pub reservoir_size: u64,
    pub service_name: String,
    pub service_type: String,
    pub host: String,
    pub http_method: String,
    pub url_path: String,
}

/// One page of `GetSamplingRules`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RulesPage {
    pub rules: Vec<RuleDefinition>,
    /// Why records were left out (for a debug log).
    pub skipped: Vec<String>,
    pub next_token: Option<String>,
}

/// The body of a `GetSamplingRules` request.
pub fn rules_request(next_token: Option<&str>) -> Vec<u8> {
    match next_token {
        None => b"{}".to_vec(),
        Some(t) => json!({ "NextToken": t }).to_string().into_bytes(),
    }
}

fn object(body: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err("the answer is not a JSON object".into()),
        Err(e) => Err(format!("the answer is not JSON ({e})")),
    }
}

/// Reads a `GetSamplingRules` answer.
pub fn parse_rules_page(body: &[u8]) -> Result<RulesPage, String> {
    let root = object(body)?;
    let records = match root.get("SamplingRuleRecords") {
        Some(Value::Array(a)) => a,
        Some(_) => return Err("SamplingRuleRecords is not an array".into()),
        None => return Err("SamplingRuleRecords is missing".into()),
    };
    let mut page = RulesPage {
        next_token: root
            .get("NextToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string),
        ..RulesPage::default()
    };
    for (i, record) in records.iter().enumerate() {
        match parse_record(record) {
            Ok(rule) => page.rules.push(rule),
            Err(why) => page
                .skipped
                .push(format!("SamplingRuleRecords[{i}]: {why}")),
        }
    }
    Ok(page)
}

fn parse_record(record: &Value) -> Result<RuleDefinition, String> {
    let rule = record
        .get("SamplingRule")
        .and_then(Value::as_object)
        .ok_or("no SamplingRule object")?;
    let text = |key: &str| -> Result<String, String> {
        rule.get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("{key} is missing or not a string"))
    };
    let name = text("RuleName")?;
    if name.is_empty() {
        return Err("RuleName is empty".into());
    }
    let int = |key: &str| -> Result<i64, String> {
        rule.get(key)
            .and_then(Value::as_i64)
            .ok_or_else(|| format!("rule {name:?}: {key} is missing or not an integer"))
    };
    let version = int("Version")?;
    if version != 1 {
        return Err(format!("rule {name:?}: Version {version} is not 1"));
    }
    let resource_arn = text("ResourceARN")?;
    if resource_arn != "*" {
        return Err(format!("rule {name:?}: ResourceARN is not \"*\""));
    }
    match rule.get("Attributes") {
        None | Some(Value::Null) => {}
        Some(Value::Object(a)) if a.is_empty() => {}
        Some(_) => return Err(format!("rule {name:?}: has Attributes")),
    }
    let service_type = text("ServiceType")?;
    if service_type.is_empty() {
        return Err(format!("rule {name:?}: ServiceType is empty"));
    }
    let fixed_rate = rule
        .get("FixedRate")
        .and_then(Value::as_f64)
        .filter(|r| (0.0..=1.0).contains(r))
        .ok_or_else(|| format!("rule {name:?}: FixedRate is not a number from 0 to 1"))?;
    let reservoir_size = rule
        .get("ReservoirSize")
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("rule {name:?}: ReservoirSize is not an integer of 0 or more"))?;
    Ok(RuleDefinition {
        priority: int("Priority")?,
        fixed_rate,
        reservoir_size,
        service_name: text("ServiceName")?,
        service_type,
        host: text("Host")?,
        http_method: text("HTTPMethod")?,
        url_path: text("URLPath")?,
        name,
    })
}

/// A rule's statistics for one report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatisticsDocument {
    pub rule_name: String,
    pub client_id: String,
    pub request_count: u64,
    pub sampled_count: u64,
    pub borrow_count: u64,
    /// Epoch seconds.
    pub timestamp: u64,
}

/// The body of a `SamplingTargets` request.
pub fn targets_request(documents: &[StatisticsDocument]) -> Vec<u8> {
    let docs: Vec<Value> = documents
        .iter()
        .map(|d| {
            json!({
                "RuleName": d.rule_name,
                "ClientID": d.client_id,
                "RequestCount": d.request_count,
                "SampledCount": d.sampled_count,
                "BorrowCount": d.borrow_count,
                "Timestamp": d.timestamp,
            })
        })
        .collect();
    json!({ "SamplingStatisticsDocuments": docs })
        .to_string()
        .into_bytes()
}

/// A target for one rule. Absent values keep the rule's current ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub rule_name: String,
    pub fixed_rate: Option<f64>,
    pub quota: Option<u64>,
    /// Epoch microseconds.
    pub quota_ttl_micros: Option<u64>,
    pub interval_secs: Option<u64>,
}

/// A `SamplingTargets` answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetsAnswer {
    pub targets: Vec<Target>,
    /// Epoch microseconds.
    pub last_rule_modification_micros: Option<u64>,
    /// `RuleName: ErrorCode Message` of statistics the service did not take, and targets
    /// that could not be read.
    pub problems: Vec<String>,
}

/// Epoch seconds (a JSON number, possibly fractional) as microseconds.
fn epoch_micros(v: &Value) -> Option<u64> {
    v.as_f64()
        .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1.0e12)
        .map(|s| (s * 1_000_000.0) as u64)
}

/// Reads a `SamplingTargets` answer.
pub fn parse_targets(body: &[u8]) -> Result<TargetsAnswer, String> {
    let root = object(body)?;
    let documents = match root.get("SamplingTargetDocuments") {
        Some(Value::Array(a)) => a.as_slice(),
        None | Some(Value::Null) => &[],
        Some(_) => return Err("SamplingTargetDocuments is not an array".into()),
    };
    let mut answer = TargetsAnswer {
        last_rule_modification_micros: root.get("LastRuleModification").and_then(epoch_micros),
        ..TargetsAnswer::default()
    };
    for (i, doc) in documents.iter().enumerate() {
        match parse_target(doc) {
            Ok(t) => answer.targets.push(t),
            Err(why) => answer
                .problems
                .push(format!("SamplingTargetDocuments[{i}]: {why}")),
        }
    }
    if let Some(Value::Array(items)) = root.get("UnprocessedStatistics") {
        for item in items {
            let field = |k: &str| {
                item.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string()
            };
            answer.problems.push(format!(
                "statistics for rule {:?} not processed: {} {}",
                field("RuleName"),
                field("ErrorCode"),
                field("Message")
            ));
        }
    }
    Ok(answer)
}

fn parse_target(doc: &Value) -> Result<Target, String> {
    let name = doc
        .get("RuleName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or("RuleName is missing")?;
    let present = |k: &str| doc.get(k).filter(|v| !v.is_null());
    let bad = |k: &str| format!("rule {name:?}: {k} is not valid");
    let fixed_rate = match present("FixedRate") {
        None => None,
        Some(v) => Some(
            v.as_f64()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| bad("FixedRate"))?,
        ),
    };
    let quota = match present("ReservoirQuota") {
        None => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| bad("ReservoirQuota"))?),
    };
    let quota_ttl_micros = match present("ReservoirQuotaTTL") {
        None => None,
        Some(v) => Some(epoch_micros(v).ok_or_else(|| bad("ReservoirQuotaTTL"))?),
    };
    let interval_secs = match present("Interval") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|s| *s > 0)
                .ok_or_else(|| bad("Interval"))?,
        ),
    };
    Ok(Target {
        rule_name: name.to_string(),
        fixed_rate,
        quota,
        quota_ttl_micros,
        interval_secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(rule: Value) -> Value {
        json!({ "SamplingRule": rule, "CreatedAt": 0.0, "ModifiedAt": 1.5e9 })
    }

    fn base() -> Value {
        json!({ "RuleName": "r", "RuleARN": "arn:x", "ResourceARN": "*", "Priority": 5,
                "FixedRate": 0.1, "ReservoirSize": 2, "ServiceName": "*", "ServiceType": "*",
                "Host": "*", "HTTPMethod": "*", "URLPath": "*", "Version": 1, "Attributes": {} })
    }

    fn with(key: &str, value: Value) -> Value {
        let mut r = base();
        r[key] = value;
        record(r)
    }

    #[test]
    fn rules_are_filtered_as_the_sdks_do() {
        let body = json!({ "SamplingRuleRecords": [
            record(base()),
            with("Version", json!(2)),
            with("ResourceARN", json!("arn:aws:ecs:x")),
            with("Attributes", json!({"a": "b"})),
            with("ServiceType", json!("")),
            with("FixedRate", json!(1.5)),
            with("Priority", json!("high")),
            json!({"nope": 1}),
        ], "NextToken": "t2" });
        let page = parse_rules_page(body.to_string().as_bytes()).unwrap();
        assert_eq!(page.rules.len(), 1);
        assert_eq!(page.rules[0].reservoir_size, 2);
        assert_eq!(page.skipped.len(), 7, "{:?}", page.skipped);
        assert_eq!(page.next_token.as_deref(), Some("t2"));
        assert!(parse_rules_page(b"not json").is_err());
        assert!(parse_rules_page(b"[]").is_err());
        assert!(parse_rules_page(b"{}").is_err());
        assert_eq!(rules_request(None), b"{}");
        assert_eq!(rules_request(Some("t")), br#"{"NextToken":"t"}"#);
    }

    #[test]
    fn targets_round_trip() {
        let body = targets_request(&[StatisticsDocument {
            rule_name: "r".into(),
            client_id: "0123456789abcdef01234567".into(),
            request_count: 10,
            sampled_count: 3,
            borrow_count: 1,
            timestamp: 1_700_000_000,
        }]);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            json!({"SamplingStatisticsDocuments":[{"RuleName":"r","ClientID":"0123456789abcdef01234567",
                   "RequestCount":10,"SampledCount":3,"BorrowCount":1,"Timestamp":1_700_000_000u64}]})
        );
        let answer = parse_targets(
            br#"{"SamplingTargetDocuments":[{"RuleName":"r","FixedRate":0.2,"ReservoirQuota":4,
                 "ReservoirQuotaTTL":1700000010.5,"Interval":20},{"RuleName":"s","FixedRate":0.5},
                 {"RuleName":"t","FixedRate":"x"}],
                 "LastRuleModification":1700000000,
                 "UnprocessedStatistics":[{"RuleName":"u","ErrorCode":"400","Message":"bad"}]}"#,
        )
        .unwrap();
        assert_eq!(answer.targets.len(), 2);
        assert_eq!(
            answer.targets[0].quota_ttl_micros,
            Some(1_700_000_010_500_000)
        );
        assert_eq!(answer.targets[1].quota, None);
        assert_eq!(
            answer.last_rule_modification_micros,
            Some(1_700_000_000_000_000)
        );
        assert_eq!(answer.problems.len(), 2, "{:?}", answer.problems);
        assert!(parse_targets(b"{\"SamplingTargetDocuments\":7}").is_err());
    }
}

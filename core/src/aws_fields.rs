//! The types the segment document schema gives fields of the `aws` object: receivers drop a
//! whole document in which one of them has another type, so such a value is refused before it
//! is recorded.

/// Whether `value` has the type the segment document schema gives `aws.<key>` (segments and
/// subsegments together); keys the schema does not name take any JSON. The error says why not.
pub(crate) fn check(key: &str, value: &serde_json::Value) -> Result<(), String> {
    use serde_json::Value;
    /// (key, nested keys that must be strings, nested keys that must be numbers)
    const OBJECTS: [(&str, &[&str], &[&str]); 4] = [
        ("ecs", &["container"], &[]),
        ("ec2", &["instance_id", "availability_zone"], &[]),
        (
            "elastic_beanstalk",
            &["environment_name", "version_label"],
            &["deployment_id"],
        ),
        ("tracing", &["sdk"], &[]),
    ];
    const STRINGS: [&str; 6] = [
        "account_id",
        "operation",
        "region",
        "request_id",
        "queue_url",
        "table_name",
    ];
    if STRINGS.contains(&key) {
        return match value {
            Value::String(_) => Ok(()),
            _ => Err("must be a string".into()),
        };
    }
    let Some((_, strings, numbers)) = OBJECTS.iter().find(|(k, _, _)| *k == key) else {
        return Ok(());
    };
    let Value::Object(fields) = value else {
        return Err("must be an object".into());
    };
    for (name, field) in fields {
        if strings.contains(&name.as_str()) && !field.is_string() {
            return Err(format!("{name} must be a string"));
        }
        if numbers.contains(&name.as_str()) && !field.is_number() {
            return Err(format!("{name} must be a number"));
        }
    }
    Ok(())
}

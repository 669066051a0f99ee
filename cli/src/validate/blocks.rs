//! The rules for the optional blocks of an entity (`namespace`, `service`, `http`, `aws`,
//! `sql`, `cause` and its exceptions, `annotations`, `metadata`, `precursor_ids`): the schema's
//! types and the stricter receivers' rules, as warnings; wrongly typed parts are removed from
//! the parser's copy.

use oxray_core::id::EntityId;
use serde_json::{Map, Value};

use super::rules::{
    annotation_key_ok, is_lower_hex, join, sql_url_has_database, type_name, Checker, Want,
};

impl Checker {
    pub(super) fn namespace(&mut self, obj: &mut Map<String, Value>, path: &str) {
        match obj.get("namespace") {
            None => {}
            Some(Value::String(ns)) if ns == "aws" || ns == "remote" => {}
            Some(Value::String(ns)) if ns == "local" => self.warn(
                &join(path, "namespace"),
                "\"local\" (the Python SDK's default) is refused by OpenTelemetry awsxray receivers before 2024; omit it for local work",
            ),
            Some(Value::String(ns)) => self.warn(
                &join(path, "namespace"),
                format!("{ns:?} is neither \"aws\" nor \"remote\"; stricter receivers refuse the document"),
            ),
            Some(_) => self.drop_field(obj, "namespace", path, "\"aws\" or \"remote\""),
        }
    }

    pub(super) fn service(&mut self, obj: &mut Map<String, Value>, path: &str) {
        match obj.get("service") {
            None => {}
            Some(Value::Object(s)) => {
                if let Some(v) = s.get("version") {
                    if !v.is_string() {
                        self.warn(
                            &join(path, "service.version"),
                            format!("expected a string, found {}", type_name(v)),
                        );
                    }
                }
            }
            Some(_) => self.drop_field(obj, "service", path, "an object"),
        }
    }

    pub(super) fn http(&mut self, obj: &mut Map<String, Value>, path: &str) {
        let hp = join(path, "http");
        let http = match obj.get_mut("http") {
            None => return,
            Some(Value::Object(h)) => h,
            Some(_) => return self.drop_field(obj, "http", path, "an object"),
        };
        let mut local = Checker::default();
        match http.get_mut("request") {
            None => {}
            Some(Value::Object(r)) => {
                let rp = join(&hp, "request");
                for key in ["method", "url", "user_agent", "client_ip"] {
                    match r.get(key) {
                        None => {}
                        Some(Value::String(s)) if s.chars().count() > 250 => {
                            local.warn(&join(&rp, key), "longer than 250 characters")
                        }
                        Some(Value::String(_)) => {}
                        Some(Value::Null) => {
                            local.warn(&join(&rp, key), "null where a string belongs")
                        }
                        Some(_) => local.drop_field(r, key, &rp, "a string"),
                    }
                }
                for key in ["x_forwarded_for", "traced"] {
                    local.typed(r, key, &rp, Want::Bool);
                }
            }
            Some(_) => local.drop_field(http, "request", &hp, "an object"),
        }
        match http.get_mut("response") {
            None => {}
            Some(Value::Object(r)) => {
                let rp = join(&hp, "response");
                match r.get("status") {
                    None => {}
                    Some(Value::Null) => {
                        local.warn(&join(&rp, "status"), "null where a number belongs")
                    }
                    Some(Value::Number(n)) if n.as_u64().is_some_and(|s| s <= 999) => {}
                    Some(_) => local.drop_field(r, "status", &rp, "an HTTP status number"),
                }
                match r.get("content_length") {
                    None => {}
                    Some(Value::Null) => {
                        local.warn(&join(&rp, "content_length"), "null where a number belongs")
                    }
                    Some(Value::Number(n)) if n.is_i64() => {}
                    Some(Value::String(_)) => local.warn(
                        &join(&rp, "content_length"),
                        "a string where the schema wants a number",
                    ),
                    Some(_) => local.drop_field(r, "content_length", &rp, "an integer"),
                }
            }
            Some(_) => local.drop_field(http, "response", &hp, "an object"),
        }
        self.warnings.append(&mut local.warnings);
    }

    pub(super) fn aws(&mut self, obj: &mut Map<String, Value>, path: &str, subsegment: bool) {
        let aws = match obj.get("aws") {
            None => return,
            Some(Value::Object(a)) => a,
            Some(_) => return self.drop_field(obj, "aws", path, "an object"),
        };
        let ap = join(path, "aws");
        // The fields the published schema types (PROTOCOL.md §1.11).
        let mut strings: Vec<&str> = vec!["account_id"];
        if subsegment {
            strings.extend([
                "operation",
                "region",
                "request_id",
                "queue_url",
                "table_name",
            ]);
        }
        let mut problems = Vec::new();
        for key in strings {
            if let Some(v) = aws.get(key) {
                if !v.is_string() {
                    problems.push((
                        join(&ap, key),
                        format!("expected a string, found {}", type_name(v)),
                    ));
                }
            }
        }
        if !subsegment {
            let nested: [(&str, &[&str]); 4] = [
                ("ecs", &["container"]),
                ("ec2", &["instance_id", "availability_zone"]),
                ("elastic_beanstalk", &["environment_name", "version_label"]),
                ("tracing", &["sdk"]),
            ];
            for (block, keys) in nested {
                match aws.get(block) {
                    None => {}
                    Some(Value::Object(b)) => {
                        for key in keys {
                            if let Some(v) = b.get(*key) {
                                if !v.is_string() {
                                    problems.push((
                                        format!("{ap}.{block}.{key}"),
                                        format!("expected a string, found {}", type_name(v)),
                                    ));
                                }
                            }
                        }
                        if block == "elastic_beanstalk" {
                            if let Some(v) = b.get("deployment_id") {
                                if !v.is_number() {
                                    problems.push((
                                        format!("{ap}.{block}.deployment_id"),
                                        format!("expected a number, found {}", type_name(v)),
                                    ));
                                }
                            }
                        }
                    }
                    Some(v) => problems.push((
                        format!("{ap}.{block}"),
                        format!("expected an object, found {}", type_name(v)),
                    )),
                }
            }
        }
        for (p, m) in problems {
            self.warn(&p, m);
        }
    }

    pub(super) fn sql(&mut self, obj: &mut Map<String, Value>, path: &str) {
        let sql = match obj.get_mut("sql") {
            None => return,
            Some(Value::Object(s)) => s,
            Some(_) => return self.drop_field(obj, "sql", path, "an object"),
        };
        let sp = join(path, "sql");
        let mut local = Checker::default();
        for key in [
            "url",
            "connection_string",
            "sanitized_query",
            "database_type",
            "database_version",
            "driver_version",
            "user",
            "preparation",
        ] {
            local.typed(sql, key, &sp, Want::Str);
        }
        if let Some(Value::String(user)) = sql.get("user") {
            if user.chars().count() > 250 {
                local.warn(&join(&sp, "user"), "longer than 250 characters");
            }
        }
        if let Some(Value::String(url)) = sql.get("url") {
            if !sql_url_has_database(url) {
                local.warn(
                    &join(&sp, "url"),
                    format!("{url:?} names no database (…//host/database); the OpenTelemetry awsxray receiver refuses the document"),
                );
            }
        }
        self.warnings.append(&mut local.warnings);
    }

    pub(super) fn cause(&mut self, obj: &mut Map<String, Value>, path: &str) {
        let cp = join(path, "cause");
        let cause = match obj.get_mut("cause") {
            None => return,
            Some(Value::String(s)) => {
                if s.chars().count() != 16 {
                    self.warn(
                        &cp,
                        format!("an exception id must be 16 characters, found {s:?}"),
                    );
                }
                return;
            }
            Some(Value::Object(c)) => c,
            Some(_) => return self.drop_field(obj, "cause", path, "an exception id or an object"),
        };
        let mut local = Checker::default();
        local.typed(cause, "working_directory", &cp, Want::Str);
        match cause.get("paths") {
            None => {}
            Some(Value::Array(list)) if list.iter().any(|p| !p.is_string()) => {
                local.warn(&join(&cp, "paths"), "entries must be strings");
            }
            Some(Value::Array(_)) => {}
            Some(v) => {
                let what = type_name(v);
                local.warn(
                    &join(&cp, "paths"),
                    format!("expected an array, found {what}"),
                );
            }
        }
        match cause.get_mut("exceptions") {
            None => {}
            Some(Value::Array(list)) => {
                let ep = join(&cp, "exceptions");
                let mut index = 0;
                list.retain_mut(|e| {
                    let p = format!("{ep}[{index}]");
                    index += 1;
                    match e {
                        Value::Object(o) => {
                            local.exception(o, &p);
                            true
                        }
                        other => {
                            local.warn(
                                &p,
                                format!("expected an object, found {}; ignored", type_name(other)),
                            );
                            false
                        }
                    }
                });
            }
            Some(_) => local.drop_field(cause, "exceptions", &cp, "an array"),
        }
        self.warnings.append(&mut local.warnings);
    }

    pub(super) fn exception(&mut self, o: &mut Map<String, Value>, path: &str) {
        let placeholder = || Value::String("0000000000000000".into());
        match o.get("id") {
            Some(Value::String(s)) if EntityId::parse(s).is_ok() => {
                if !is_lower_hex(s) {
                    self.warn(&join(path, "id"), format!("{s} is not lower-case hex"));
                }
            }
            Some(v) => {
                let shown = v.to_string();
                self.warn(
                    &join(path, "id"),
                    format!("{shown} is not a 16-hex exception id"),
                );
                o.insert("id".into(), placeholder());
            }
            None => {
                self.warn(
                    &join(path, "id"),
                    "missing (the schema requires an exception id)",
                );
                o.insert("id".into(), placeholder());
            }
        }
        for key in ["message", "type"] {
            self.typed(o, key, path, Want::Str);
        }
        self.typed(o, "remote", path, Want::Bool);
        for key in ["truncated", "skipped"] {
            if let Some(v) = o.get(key) {
                if !(v.is_u64() || v.is_i64()) {
                    let what = type_name(v);
                    self.warn(
                        &join(path, key),
                        format!("expected an integer, found {what}"),
                    );
                }
            }
        }
        if let Some(v) = o.get("cause") {
            if !v.is_string() {
                let what = type_name(v);
                self.warn(
                    &join(path, "cause"),
                    format!("expected an exception id, found {what}"),
                );
            }
        }
        match o.get_mut("stack") {
            None => {}
            Some(Value::Array(frames)) => {
                let sp = join(path, "stack");
                let mut local = Checker::default();
                let mut index = 0;
                frames.retain_mut(|f| {
                    let p = format!("{sp}[{index}]");
                    index += 1;
                    let Value::Object(fo) = f else {
                        local.warn(
                            &p,
                            format!("expected an object, found {}; ignored", type_name(f)),
                        );
                        return false;
                    };
                    for key in ["path", "label"] {
                        local.typed(fo, key, &p, Want::Str);
                    }
                    if let Some(v) = fo.get("line") {
                        if !v.is_u64() {
                            let what = type_name(v);
                            local.warn(
                                &join(&p, "line"),
                                format!("expected a line number, found {what}"),
                            );
                        }
                    }
                    true
                });
                self.warnings.append(&mut local.warnings);
            }
            Some(v) => {
                let what = type_name(v);
                self.warn(
                    &join(path, "stack"),
                    format!("expected an array, found {what}"),
                );
            }
        }
    }

    pub(super) fn annotations(&mut self, obj: &mut Map<String, Value>, path: &str) {
        let ap = join(path, "annotations");
        let annotations = match obj.get_mut("annotations") {
            None => return,
            Some(Value::Object(a)) => a,
            Some(_) => return self.drop_field(obj, "annotations", path, "an object"),
        };
        let mut local = Checker::default();
        annotations.retain(|key, value| {
            let p = join(&ap, key);
            if !annotation_key_ok(key) {
                let why = if key.contains('.') {
                    " (dotted keys come from the Go SDK; filters cannot use them)"
                } else {
                    ""
                };
                local.warn(&p, format!("the key is outside [A-Za-z0-9_]{{1,500}}{why}"));
            }
            match value {
                Value::String(s) => {
                    if s.chars().count() > 1000 {
                        local.warn(&p, "a string value longer than 1000 characters");
                    }
                    true
                }
                Value::Number(_) | Value::Bool(_) => true,
                other => {
                    local.warn(
                        &p,
                        format!(
                            "annotation values are strings, numbers or booleans, found {}; ignored",
                            type_name(other)
                        ),
                    );
                    false
                }
            }
        });
        self.warnings.append(&mut local.warnings);
    }

    pub(super) fn metadata(&mut self, obj: &mut Map<String, Value>, path: &str) {
        let mp = join(path, "metadata");
        let metadata = match obj.get_mut("metadata") {
            None => return,
            Some(Value::Object(m)) => m,
            Some(_) => return self.drop_field(obj, "metadata", path, "an object"),
        };
        let mut local = Checker::default();
        metadata.retain(|ns, value| {
            if value.is_object() {
                return true;
            }
            local.warn(
                &join(&mp, ns),
                format!(
                    "a metadata namespace must be an object, found {}; ignored",
                    type_name(value)
                ),
            );
            false
        });
        self.warnings.append(&mut local.warnings);
    }

    pub(super) fn precursor_ids(&mut self, obj: &mut Map<String, Value>, path: &str) {
        let pp = join(path, "precursor_ids");
        let list = match obj.get_mut("precursor_ids") {
            None => return,
            Some(Value::Array(l)) => l,
            Some(_) => return self.drop_field(obj, "precursor_ids", path, "an array"),
        };
        let mut local = Checker::default();
        let mut index = 0;
        list.retain(|v| {
            let p = format!("{pp}[{index}]");
            index += 1;
            match v.as_str().map(|s| (s, EntityId::parse(s))) {
                Some((s, Ok(_))) => {
                    if !is_lower_hex(s) {
                        local.warn(&p, format!("{s} is not lower-case hex"));
                    }
                    true
                }
                _ => {
                    local.warn(&p, format!("{v} is not a 16-hex id; ignored"));
                    false
                }
            }
        });
        self.warnings.append(&mut local.warnings);
    }
}

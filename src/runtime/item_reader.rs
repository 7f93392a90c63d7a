//! A Distributed Map's `ItemReader` on local buckets: an S3 object holding a JSON array,
//! JSON Lines or CSV, or a listing of objects (`listObjectsV2`).
//!
//! The engine asks for the items with a task of kind `ItemReader`; the answer is the array.
//! Limits and failures follow AWS: failures are `States.ItemReaderFailed` with a cause that
//! says what was wrong.

use serde_json::{Map, Value, json};

use super::buckets::LocalBuckets;
use crate::engine::{Failure, names};

fn failed(cause: impl Into<String>) -> Failure {
    Failure::new(names::ITEM_READER_FAILED, cause)
}

fn text<'a>(payload: &'a Value, field: &str) -> Result<&'a str, Failure> {
    payload
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| failed(format!("The ItemReader needs the field '{field}' (a string) in its Parameters or Arguments")))
}

/// Reads the items for `resource` (`arn:aws:states:::s3:getObject` or `…:s3:listObjectsV2`).
pub fn read_items(buckets: &LocalBuckets, resource: &str, payload: &Value) -> Result<Value, Failure> {
    let action = resource.rsplit(':').next().unwrap_or("");
    let config = payload.get("ReaderConfig").cloned().unwrap_or_else(|| json!({}));
    match action {
        "listObjectsV2" => {
            let bucket = text(payload, "Bucket")?;
            let prefix = payload.get("Prefix").and_then(Value::as_str).unwrap_or("");
            let mut items = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let page = buckets
                    .list_objects_v2(bucket, prefix, token.as_deref(), 1000)
                    .map_err(|e| failed(e.to_string()))?;
                for o in &page.objects {
                    items.push(json!({
                        "Etag": o.etag, "Key": o.key, "LastModified": o.last_modified_text(),
                        "Size": o.size, "StorageClass": "STANDARD"
                    }));
                }
                token = page.next_continuation_token();
                if token.is_none() {
                    break;
                }
            }
            Ok(Value::Array(items))
        }
        "getObject" => {
            let bucket = text(payload, "Bucket")?;
            let key = text(payload, "Key")?;
            let (_, bytes) = buckets.get_object(bucket, key).map_err(|e| failed(e.to_string()))?;
            let body = String::from_utf8(bytes)
                .map_err(|_| failed(format!("The object '{key}' in bucket '{bucket}' is not UTF-8 text")))?;
            let input_type = config.get("InputType").and_then(Value::as_str).unwrap_or("JSON");
            match input_type {
                "JSON" => match serde_json::from_str::<Value>(&body) {
                    Ok(Value::Array(a)) => Ok(Value::Array(a)),
                    Ok(_) => Err(failed(format!("The object '{key}' must hold a JSON array of items"))),
                    Err(e) => Err(failed(format!("The object '{key}' is not valid JSON: {e}"))),
                },
                "JSONL" => body
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .enumerate()
                    .map(|(i, l)| {
                        serde_json::from_str::<Value>(l)
                            .map_err(|e| failed(format!("Line {} of '{key}' is not valid JSON: {e}", i + 1)))
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array),
                "CSV" => read_csv(&body, &config, key),
                other => Err(failed(format!(
                    "The ItemReader's InputType '{other}' is not supported locally; use JSON, JSONL or CSV"
                ))),
            }
        }
        other => Err(failed(format!(
            "The ItemReader resource '{resource}' ({other}) is not supported locally; use arn:aws:states:::s3:getObject or arn:aws:states:::s3:listObjectsV2"
        ))),
    }
}

/// CSV rows as objects keyed by the header (`CSVHeaderLocation` FIRST_ROW, or GIVEN with
/// `CSVHeaders`); every value is text, as AWS gives it.
fn read_csv(body: &str, config: &Value, key: &str) -> Result<Value, Failure> {
    let delimiter = match config.get("CSVDelimiter").and_then(Value::as_str).unwrap_or("COMMA") {
        "COMMA" => b',',
        "PIPE" => b'|',
        "SEMICOLON" => b';',
        "SPACE" => b' ',
        "TAB" => b'\t',
        other => return Err(failed(format!("Unknown CSVDelimiter '{other}'"))),
    };
    let given = config.get("CSVHeaderLocation").and_then(Value::as_str) == Some("GIVEN");
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(!given)
        .flexible(true)
        .from_reader(body.as_bytes());
    let headers: Vec<String> = if given {
        config
            .get("CSVHeaders")
            .and_then(Value::as_array)
            .ok_or_else(|| failed("CSVHeaderLocation GIVEN needs CSVHeaders, a list of column names"))?
            .iter()
            .map(|h| h.as_str().unwrap_or_default().to_owned())
            .collect()
    } else {
        reader
            .headers()
            .map_err(|e| failed(format!("The header row of '{key}' cannot be read: {e}")))?
            .iter()
            .map(str::to_owned)
            .collect()
    };
    let mut items = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.map_err(|e| failed(format!("Row {} of '{key}' cannot be read: {e}", i + 1)))?;
        let mut item = Map::new();
        for (h, v) in headers.iter().zip(row.iter()) {
            item.insert(h.clone(), Value::String(v.to_owned()));
        }
        items.push(Value::Object(item));
    }
    Ok(Value::Array(items))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, LocalBuckets) {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBuckets::new(dir.path());
        b.create_bucket("items").unwrap();
        (dir, b)
    }

    #[test]
    fn reads_json_jsonl_csv_and_listings() {
        let (_d, b) = store();
        b.put_object("items", "a.json", b"[1, {\"x\": 2}]", &Default::default()).unwrap();
        b.put_object("items", "a.jsonl", b"{\"n\":1}\n{\"n\":2}\n", &Default::default()).unwrap();
        b.put_object("items", "a.csv", b"name,size\nx.mp4,10\ny.mp4,20\n", &Default::default()).unwrap();
        let get = "arn:aws:states:::s3:getObject";
        let json = read_items(&b, get, &json!({"Bucket": "items", "Key": "a.json", "ReaderConfig": {"InputType": "JSON"}})).unwrap();
        assert_eq!(json, json!([1, {"x": 2}]));
        let jsonl = read_items(&b, get, &json!({"Bucket": "items", "Key": "a.jsonl", "ReaderConfig": {"InputType": "JSONL"}})).unwrap();
        assert_eq!(jsonl, json!([{"n": 1}, {"n": 2}]));
        let csv = read_items(&b, get, &json!({"Bucket": "items", "Key": "a.csv", "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"}})).unwrap();
        assert_eq!(csv, json!([{"name": "x.mp4", "size": "10"}, {"name": "y.mp4", "size": "20"}]));
        let listed = read_items(&b, "arn:aws:states:::s3:listObjectsV2", &json!({"Bucket": "items", "Prefix": "a."})).unwrap();
        assert_eq!(listed.as_array().unwrap().len(), 3);
        let missing = read_items(&b, get, &json!({"Bucket": "items", "Key": "nope.json"})).unwrap_err();
        assert_eq!(missing.error, "States.ItemReaderFailed");
    }
}

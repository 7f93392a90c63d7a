//! Ingest on AWS: what `stepwise ingest` and the app's AWS backend do with each dropped file,
//! in one place.

use std::sync::Arc;

use serde_json::{Value, json};

use super::AwsSfn;
use super::s3_upload::{self, UploadOptions};
use crate::runtime::ingest::{self, IngestError, UploadProgress};

/// One checked file to S3 with a multipart upload (progress and cancel through `progress`),
/// then its execution, with the S3 object-created event (the account and region of this
/// connection) as input.
pub async fn ingest_file(
    sfn: &AwsSfn,
    account: Option<&str>,
    bucket: &str,
    machine_arn: &str,
    checked: ingest::Checked,
    progress: Arc<UploadProgress>,
) -> Result<ingest::Ingested, IngestError> {
    let stored = s3_upload::upload_file(&sfn.clients.s3, bucket, &checked.key, &checked.path, &checked.content_type, progress, UploadOptions::default())
        .await
        .map_err(|e| IngestError::Upload(e.to_string()))?;
    let mut input = ingest::object_created_event_for(bucket, &checked.key, stored.size, &stored.etag, crate::store::now_wall_ms());
    if let Value::Object(m) = &mut input {
        m.insert("region".into(), json!(sfn.clients.region));
        if let Some(a) = account {
            m.insert("account".into(), json!(a));
            if let Some(Value::Object(d)) = m.get_mut("detail") {
                d.insert("requester".into(), json!(a));
            }
        }
    }
    let started = sfn.start_execution(machine_arn, Some(&ingest::execution_name(&checked.key)), &input).await.map_err(|e| {
        IngestError::Upload(format!(
            "{} was uploaded to bucket '{bucket}' as '{}', but the execution did not start: {e}. The object stays in the bucket",
            checked.path.display(),
            checked.key
        ))
    })?;
    Ok(ingest::Ingested {
        bucket: bucket.to_owned(),
        key: checked.key,
        execution_arn: started.execution_arn,
        size: stored.size,
        etag: stored.etag.trim_matches('"').to_owned(),
    })
}

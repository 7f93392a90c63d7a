//! Stand-ins for runtime pieces that are being written beside this layer (ingest, workers,
//! the pending-task queries), with their signatures, so the views can be built now. Removed
//! when the runtime has them.

pub mod ingest {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use serde_json::{Value, json};

    use crate::runtime::buckets::{LocalBuckets, ObjectMeta, PutOptions};
    use crate::runtime::service::{LocalService, StartExecution};

    #[derive(Debug, Clone, Default)]
    pub struct IngestOptions {
        pub allowed_types: Vec<String>,
    }

    #[derive(Debug, Clone)]
    pub struct Checked {
        pub path: PathBuf,
        pub key: String,
        pub size: u64,
        pub content_type: String,
    }

    #[derive(Debug)]
    pub struct UploadProgress {
        done: AtomicU64,
        total: u64,
        cancelled: AtomicBool,
    }

    impl UploadProgress {
        pub fn new(total: u64) -> Arc<UploadProgress> {
            Arc::new(UploadProgress { done: AtomicU64::new(0), total, cancelled: AtomicBool::new(false) })
        }
        pub fn done(&self) -> u64 {
            self.done.load(Ordering::Relaxed)
        }
        pub fn total(&self) -> u64 {
            self.total
        }
        pub fn cancel(&self) {
            self.cancelled.store(true, Ordering::Relaxed);
        }
        pub fn is_cancelled(&self) -> bool {
            self.cancelled.load(Ordering::Relaxed)
        }
    }

    #[derive(Debug, Clone)]
    pub struct Ingested {
        pub bucket: String,
        pub key: String,
        pub execution_arn: String,
        pub size: u64,
        pub etag: String,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    pub struct IngestError(pub String);

    pub fn check_file(path: &Path, _options: &IngestOptions) -> Result<Checked, IngestError> {
        let meta = std::fs::metadata(path).map_err(|e| IngestError(format!("{} cannot be read: {e}", path.display())))?;
        if meta.is_dir() {
            return Err(IngestError(format!("{} is a folder; drop video files.", path.display())));
        }
        if meta.len() == 0 {
            return Err(IngestError(format!("{} is empty.", path.display())));
        }
        let key = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(Checked { path: path.to_owned(), key, size: meta.len(), content_type: "video/mp4".into() })
    }

    pub fn object_created_event(bucket: &str, meta: &ObjectMeta, _now_ms: i64) -> Value {
        json!({"detail-type": "Object Created", "source": "aws.s3",
               "detail": {"bucket": {"name": bucket}, "object": {"key": meta.key, "size": meta.size, "etag": meta.etag}}})
    }

    pub fn ensure_buckets(buckets: &LocalBuckets, _definition: &Value, extra: &[&str]) -> Result<(), IngestError> {
        for b in extra {
            buckets.create_bucket(b).map_err(|e| IngestError(e.to_string()))?;
        }
        let _ = buckets.create_bucket("stepwise-approved");
        Ok(())
    }

    struct Counting<'a> {
        inner: std::fs::File,
        progress: &'a UploadProgress,
    }

    impl std::io::Read for Counting<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.progress.is_cancelled() {
                return Err(std::io::Error::other("cancelled"));
            }
            let n = self.inner.read(buf)?;
            self.progress.done.fetch_add(n as u64, Ordering::Relaxed);
            Ok(n)
        }
    }

    pub async fn ingest_local(
        service: &LocalService,
        buckets: &LocalBuckets,
        bucket: &str,
        state_machine_arn: &str,
        file: Checked,
        progress: Arc<UploadProgress>,
    ) -> Result<Ingested, IngestError> {
        let (b, key, path, p) = (buckets.clone(), file.key.clone(), file.path.clone(), Arc::clone(&progress));
        let bucket_name = bucket.to_owned();
        let meta = tokio::task::spawn_blocking(move || -> Result<ObjectMeta, IngestError> {
            let f = std::fs::File::open(&path).map_err(|e| IngestError(e.to_string()))?;
            let mut r = Counting { inner: f, progress: &p };
            b.put_object_from(&bucket_name, &key, &mut r, &PutOptions::default()).map_err(|e| IngestError(e.to_string()))
        })
        .await
        .map_err(|e| IngestError(e.to_string()))??;
        let input = object_created_event(bucket, &meta, 0);
        let started = service
            .start_execution(StartExecution { state_machine_arn: state_machine_arn.into(), input, ..Default::default() })
            .await
            .map_err(|e| IngestError(e.to_string()))?;
        Ok(Ingested { bucket: bucket.into(), key: meta.key.clone(), execution_arn: started.execution_arn, size: meta.size, etag: meta.etag })
    }
}

pub mod workers {
    use std::path::Path;

    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct VideoRules {
        pub min_duration_seconds: Option<f64>,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub enum WorkerKind {
        Command { command: String },
        VideoCheck { rules: VideoRules },
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct WorkerProfile {
        pub activity: String,
        pub enabled: bool,
        pub kind: WorkerKind,
    }

    #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
    pub struct WorkerSettings {
        pub workers: Vec<WorkerProfile>,
    }

    impl WorkerSettings {
        pub fn load(config_dir: &Path) -> Result<WorkerSettings, String> {
            match std::fs::read(config_dir.join("workers.json")) {
                Ok(b) => serde_json::from_slice(&b).map_err(|e| e.to_string()),
                Err(_) => Ok(WorkerSettings::default()),
            }
        }
        pub fn save(&self, config_dir: &Path) -> Result<(), String> {
            let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
            std::fs::create_dir_all(config_dir).map_err(|e| e.to_string())?;
            crate::atomic_file::write_atomic(&config_dir.join("workers.json"), text.as_bytes()).map_err(|e| e.to_string())
        }
    }
}

pub mod pending {
    use crate::engine::Millis;
    use crate::runtime::service::{LocalService, ServiceError};
    use crate::runtime::tasks::ActivityTask;
    use crate::store::Store;

    #[derive(Debug, Clone, PartialEq)]
    pub struct OpenTask {
        pub token: String,
        pub kind: String,
        pub activity_arn: Option<String>,
        pub activity_name: Option<String>,
        pub execution_arn: String,
        pub state_name: String,
        pub resource: String,
        pub input: String,
        pub status: String,
        pub worker: Option<String>,
        pub scheduled_ms: Millis,
        pub started_ms: Option<Millis>,
        pub heartbeat_ms: Option<Millis>,
        pub timeout_seconds: Option<u64>,
        pub heartbeat_seconds: Option<u64>,
    }

    pub fn pending_tasks(store: &Store) -> Result<Vec<OpenTask>, ServiceError> {
        let mut out = Vec::new();
        for e in store.executions(None, Some("RUNNING"))? {
            for t in store.tokens(&e.arn)? {
                if t.status == "closed" || t.closed_reason.is_some() {
                    continue;
                }
                out.push(OpenTask {
                    token: t.token,
                    kind: t.kind,
                    activity_arn: Some(t.resource.clone()),
                    activity_name: crate::store::activity_name(&t.resource).map(str::to_owned),
                    execution_arn: t.execution_arn,
                    state_name: t.state_name,
                    resource: t.resource,
                    input: String::new(),
                    status: t.status,
                    worker: t.worker,
                    scheduled_ms: e.start_ms,
                    started_ms: None,
                    heartbeat_ms: None,
                    timeout_seconds: t.timeout_seconds,
                    heartbeat_seconds: t.heartbeat_seconds,
                });
            }
        }
        Ok(out)
    }

    pub async fn take_task(service: &LocalService, activity_arn: &str, worker: &str) -> Result<ActivityTask, ServiceError> {
        service
            .get_activity_task_within(activity_arn, Some(worker), std::time::Duration::from_millis(10))
            .await?
            .ok_or_else(|| ServiceError::InvalidToken("this task is no longer waiting for a worker".into()))
    }
}

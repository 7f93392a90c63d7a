//! A backend's uploads: the list the views show, a few running at once, cancel. The local and
//! AWS backends share it; only the step that moves a file's bytes and starts its execution
//! differs, and each backend passes that step in.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::{Out, Upload, UploadId, UploadState};
use crate::runtime::ingest::{self, Checked, IngestError, IngestOptions, Ingested, UploadProgress};

/// How many files upload at once: enough to keep a disk or a link busy, few enough that each
/// one's progress means something.
const CONCURRENT_UPLOADS: usize = 3;

pub(crate) struct UploadQueue {
    list: Arc<Mutex<Vec<Upload>>>,
    next: UploadId,
    slots: Arc<tokio::sync::Semaphore>,
    out: Out,
}

impl UploadQueue {
    pub(crate) fn new(out: Out) -> UploadQueue {
        UploadQueue { list: Arc::default(), next: 1, slots: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_UPLOADS)), out }
    }

    /// The MIME types uploads may have, from the settings; the default list (said once) when
    /// the settings cannot be read.
    pub(crate) fn options(&self, config_dir: &Path) -> IngestOptions {
        IngestOptions::load(config_dir).unwrap_or_else(|e| {
            self.out.notice(format!("{e}; the default list of video types is used."), true);
            IngestOptions::default()
        })
    }

    /// Lists every file as failed for `why` (the workflow could not be deployed, say).
    pub(crate) fn refuse_all(&mut self, paths: &[PathBuf], why: &str) {
        if let Ok(mut list) = self.list.lock() {
            for p in paths {
                list.push(Upload { id: self.next, path: p.clone(), state: UploadState::Failed(why.to_owned()) });
                self.next += 1;
            }
        }
        publish(&self.list, &self.out);
    }

    /// Checks each file, lists it, and runs `upload` on those that pass, a few at a time.
    /// `upload` builds the step that moves the bytes and starts the execution; it runs once
    /// the file has a slot, unless the file was cancelled while it waited.
    pub(crate) fn enqueue<F, Fut>(&mut self, paths: Vec<PathBuf>, options: &IngestOptions, mut upload: F)
    where
        F: FnMut(Checked, Arc<UploadProgress>) -> Fut,
        Fut: Future<Output = Result<Ingested, IngestError>> + Send + 'static,
    {
        for path in paths {
            let id = self.next;
            self.next += 1;
            let checked = ingest::check_file(&path, options);
            let state = match &checked {
                Ok(_) => UploadState::Queued,
                Err(e) => UploadState::Failed(e.to_string()),
            };
            if let Ok(mut list) = self.list.lock() {
                list.push(Upload { id, path, state });
            }
            publish(&self.list, &self.out);
            let Ok(file) = checked else { continue };
            let progress = UploadProgress::new(file.size);
            let step = upload(file, Arc::clone(&progress));
            let (list, out, slots) = (Arc::clone(&self.list), self.out.clone(), Arc::clone(&self.slots));
            tokio::spawn(async move {
                let Ok(_slot) = slots.acquire().await else { return };
                // Cancelled while it waited for a slot.
                let queued = list.lock().is_ok_and(|l| l.iter().any(|u| u.id == id && matches!(u.state, UploadState::Queued)));
                if !queued {
                    return;
                }
                set(&list, &out, id, UploadState::Uploading { progress: Arc::clone(&progress), started: Instant::now() });
                let state = match step.await {
                    Ok(done) => UploadState::Started { execution_arn: done.execution_arn, size: done.size },
                    Err(_) if progress.is_cancelled() => UploadState::Cancelled,
                    Err(e) => UploadState::Failed(e.to_string()),
                };
                set(&list, &out, id, state);
            });
        }
    }

    /// A queued file is dropped at once; a running upload stops at its next read (an S3
    /// multipart upload is then aborted) and says Cancelled.
    pub(crate) fn cancel(&self, id: UploadId) {
        if let Ok(mut list) = self.list.lock()
            && let Some(u) = list.iter_mut().find(|u| u.id == id) {
                match &u.state {
                    UploadState::Queued => u.state = UploadState::Cancelled,
                    UploadState::Uploading { progress, .. } => progress.cancel(),
                    _ => {}
                }
            }
        publish(&self.list, &self.out);
    }

    /// Stops every running upload at its next read: a backend that shuts down must not wait
    /// for a large file, and S3 keeps no parts of an aborted multipart upload.
    pub(crate) fn cancel_running(&self) {
        if let Ok(list) = self.list.lock() {
            for u in list.iter() {
                if let UploadState::Uploading { progress, .. } = &u.state {
                    progress.cancel();
                }
            }
        }
    }
}

fn publish(list: &Mutex<Vec<Upload>>, out: &Out) {
    if let Ok(list) = list.lock() {
        out.send(super::Update::Uploads(list.clone()));
    }
}

fn set(list: &Mutex<Vec<Upload>>, out: &Out, id: UploadId, state: UploadState) {
    if let Ok(mut l) = list.lock()
        && let Some(u) = l.iter_mut().find(|u| u.id == id) {
            u.state = state;
        }
    publish(list, out);
}

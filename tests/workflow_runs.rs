//! The six example workflows run end to end with `stepwise run`.
//!
//! Every test case of `workflows/<stem>.mocks.json` (Step Functions Local's mock file format)
//! runs through the built binary with `--time-scale 0 --history` in a fresh data directory.
//! The S3 steps of file-size-check and video-ingest are not mocked: they run against local
//! buckets the test prepares. Each test checks the status, the output or error, the branch
//! taken (the states entered, from the history) and the calls made to services (the
//! `TaskScheduled` / `ActivityScheduled` events: how many, with which parameters, how far
//! apart in virtual time), so a wrong engine answer fails the test.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use stepwise::runtime::buckets::{LocalBuckets, PutOptions};
use stepwise::runtime::mocks::MockConfig;

/// The test cases of each mock file; each has a test below.
const TEST_CASES: &[(&str, &[&str])] = &[
    ("file-size-check", &["HappyPath", "LambdaThrottled", "TooSmall", "ExactlyTwoMegabytes", "MissingObject"]),
    ("media-pipeline", &["HappyPath", "PartnerApiThrottled", "LambdaSource", "UnsupportedSource"]),
    ("order-processing", &["HappyPath", "ReserveThrottledThenSucceeds", "OutOfStock", "PaymentDeclined", "ShippingFails"]),
    ("snapshot-management", &["HappyPath", "NothingToPrune", "DeleteInUse", "CopyFails", "TagFails"]),
    ("vending-pass", &["HappyPath", "InsufficientBalance", "Throttled"]),
    ("video-ingest", &["HappyPath", "Rejected", "ReviewTimedOut", "ReviewErrored"]),
];

fn workflow_file(stem: &str, suffix: &str) -> PathBuf {
    crate::repo().join("workflows").join(format!("{stem}.{suffix}"))
}

fn sample_input(stem: &str) -> Value {
    let text = std::fs::read_to_string(workflow_file(stem, "input.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A service call the execution made: one `TaskScheduled` or `ActivityScheduled` event.
#[derive(Debug)]
struct Call {
    /// `lambda:invoke`, `sns:publish`, `aws-sdk:ec2:copySnapshot`, `activity`, ...
    resource: String,
    /// The parameters sent (the activity's input for an activity).
    params: Value,
    /// Seconds (virtual time).
    at: f64,
}

/// What `stepwise run --history` printed.
#[derive(Debug)]
struct Run {
    status: String,
    output: Value,
    error: Value,
    cause: Value,
    events: Vec<Value>,
}

impl Run {
    /// The names of the states entered, in history order.
    fn entered(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| e.get("stateEnteredEventDetails")?.get("name")?.as_str())
            .collect()
    }

    fn assert_entered(&self, expected: &[&str]) {
        assert_eq!(self.entered(), expected, "states entered\n{}", self.summary());
    }

    fn assert_not_entered(&self, state: &str) {
        assert!(!self.entered().contains(&state), "'{state}' must not run\n{}", self.summary());
    }

    fn calls(&self) -> Vec<Call> {
        let mut calls = Vec::new();
        for e in &self.events {
            let at = e["timestamp"].as_f64().expect("numeric timestamp");
            if let Some(d) = e.get("taskScheduledEventDetails") {
                let params = serde_json::from_str(d["parameters"].as_str().expect("parameters text")).unwrap();
                let resource = format!("{}:{}", d["resourceType"].as_str().unwrap(), d["resource"].as_str().unwrap());
                calls.push(Call { resource, params, at });
            } else if let Some(d) = e.get("activityScheduledEventDetails") {
                let params = serde_json::from_str(d["input"].as_str().expect("input text")).unwrap();
                calls.push(Call { resource: "activity".into(), params, at });
            }
        }
        calls
    }

    /// Calls to `resource` (`"sns:publish"`), or to the Lambda function whose name ends with
    /// `resource` after `lambda:` (`"lambda:stepwise-charge-payment"`).
    fn calls_to(&self, resource: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| match resource.strip_prefix("lambda:") {
                Some(function) if c.resource == "lambda:invoke" => {
                    c.params["FunctionName"].as_str().is_some_and(|f| f.ends_with(&format!(":function:{function}")))
                }
                _ => c.resource == resource,
            })
            .collect()
    }

    /// The virtual-time gaps between successive calls to `resource` (the retry delays).
    fn gaps(&self, resource: &str) -> Vec<f64> {
        let calls = self.calls_to(resource);
        calls.windows(2).map(|w| ((w[1].at - w[0].at) * 1000.0).round() / 1000.0).collect()
    }

    fn assert_status(&self, status: &str) {
        assert_eq!(self.status, status, "status\n{}", self.summary());
    }

    fn assert_failed(&self, error: &str) {
        self.assert_status("FAILED");
        assert_eq!(self.error, json!(error), "error\n{}", self.summary());
        assert_eq!(self.output, Value::Null);
    }

    fn summary(&self) -> String {
        format!(
            "status {}, error {}, cause {}\nentered {:?}\noutput {}",
            self.status,
            self.error,
            self.cause,
            self.entered(),
            self.output
        )
    }
}

/// `stepwise run workflows/<stem>.asl.json` with the mock file's `case`, virtual time and
/// history, keeping its data (local buckets) in `data_dir`.
fn run(stem: &str, case: &str, input: &Value, data_dir: &Path) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_stepwise"))
        .arg("run")
        .arg(workflow_file(stem, "asl.json"))
        .arg("--input")
        .arg(input.to_string())
        .arg("--mock-config")
        .arg(workflow_file(stem, "mocks.json"))
        .args(["--test-case", case, "--time-scale", "0", "--history", "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{stem}/{case}: stdout is not one JSON object ({e}); exit {:?}\nstdout: {stdout}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let Value::Array(events) = v["events"].take() else { panic!("{stem}/{case}: no events array: {stdout}") };
    Run {
        status: v["status"].as_str().unwrap_or_default().to_owned(),
        output: v["output"].take(),
        error: v["error"].take(),
        cause: v["cause"].take(),
        events,
    }
}

fn run_sample(stem: &str, case: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    run(stem, case, &sample_input(stem), dir.path())
}

fn cause_text(run: &Run) -> &str {
    run.cause.as_str().unwrap_or_else(|| panic!("a cause string\n{}", run.summary()))
}

// ------------------------------------------------------------------------------ the mock files

#[test]
fn every_workflow_has_a_mock_file_whose_cases_all_load_and_are_tested() {
    let stems: BTreeSet<String> = crate::workflow_files()
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().trim_end_matches(".asl.json").to_owned())
        .collect();
    let tested: BTreeSet<String> = TEST_CASES.iter().map(|(s, _)| s.to_string()).collect();
    assert_eq!(stems, tested, "every workflow has its test cases listed in TEST_CASES");
    for (stem, cases) in TEST_CASES {
        let path = workflow_file(stem, "mocks.json");
        let value: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let in_file: BTreeSet<&str> = value["StateMachines"][stem]["TestCases"]
            .as_object()
            .unwrap_or_else(|| panic!("{}: StateMachines.{stem}.TestCases", path.display()))
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(in_file, cases.iter().copied().collect(), "{}: test cases", path.display());
        assert!(in_file.contains("HappyPath"), "{stem} has a HappyPath case");
        for case in *cases {
            MockConfig::from_value(&value, stem, case).unwrap_or_else(|e| panic!("{stem}/{case}: {e}"));
        }
    }
}

#[test]
fn mock_files_are_in_canonical_form() {
    for (stem, _) in TEST_CASES {
        let f = workflow_file(stem, "mocks.json");
        let out = Command::new(env!("CARGO_BIN_EXE_stepwise")).args(["fmt", "--check"]).arg(&f).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{} is canonical (run stepwise fmt --write)", f.display());
    }
}

// ------------------------------------------------------------------------------ order-processing

const ORDER: &str = "order-processing";

#[test]
fn order_processing_happy_path() {
    let r = run_sample(ORDER, "HappyPath");
    r.assert_status("SUCCEEDED");
    r.assert_entered(&["Reserve Inventory", "Charge Payment", "Fulfil Order", "Ship Order", "Notify Customer", "Order Complete"]);
    let out = &r.output;
    assert_eq!(out["inventory"], json!({"reservationId": "RSV-7f3a9c21", "inStock": true}));
    assert_eq!(out["payment"], json!({"paymentId": "PAY-3QJ8Z1K5", "status": "CAPTURED"}));
    assert_eq!(out["fulfilment"], json!({"packageId": "PKG-SEA2-558102"}));
    assert_eq!(out["shipment"], json!({"carrier": "UPS", "trackingNumber": "1Z999AA10123456784"}));
    assert_eq!(out["orderId"], "ORD-2024-000187", "the input is kept");
    assert!(out.get("error").is_none() && out.get("notify").is_none(), "Notify Customer has ResultPath null: {out}");

    let charge = r.calls_to("lambda:stepwise-charge-payment");
    assert_eq!(charge.len(), 1);
    assert_eq!(
        charge[0].params["Payload"],
        json!({"orderId": "ORD-2024-000187", "customerId": "CUST-4412", "amount": 49.0, "currency": "USD"})
    );
    let fulfil = r.calls_to("lambda:stepwise-fulfil-order");
    assert_eq!(fulfil[0].params["Payload"]["reservationId"], "RSV-7f3a9c21");
    let notify = r.calls_to("sns:publish");
    assert_eq!(notify.len(), 1);
    assert_eq!(notify[0].params["TopicArn"], "arn:aws:sns:us-east-1:123456789012:stepwise-order-updates");
    assert_eq!(
        notify[0].params["Message"],
        "Order ORD-2024-000187 for ada.rivera@example.com has shipped with UPS (tracking 1Z999AA10123456784)."
    );
}

#[test]
fn order_processing_retries_a_throttled_reservation() {
    let r = run_sample(ORDER, "ReserveThrottledThenSucceeds");
    r.assert_status("SUCCEEDED");
    r.assert_entered(&["Reserve Inventory", "Charge Payment", "Fulfil Order", "Ship Order", "Notify Customer", "Order Complete"]);
    assert_eq!(r.calls_to("lambda:stepwise-reserve-inventory").len(), 2);
    assert_eq!(r.gaps("lambda:stepwise-reserve-inventory"), vec![2.0], "IntervalSeconds 2");
    assert_eq!(r.output["inventory"]["reservationId"], "RSV-7f3a9c21");
}

#[test]
fn order_processing_out_of_stock_is_caught_without_retrying() {
    let r = run_sample(ORDER, "OutOfStock");
    r.assert_failed("OrderProcessingFailed");
    // A function error is not in Reserve Inventory's Retry list (no States.TaskFailed there).
    assert_eq!(r.calls_to("lambda:stepwise-reserve-inventory").len(), 1);
    r.assert_entered(&["Reserve Inventory", "Publish Order Failure", "Order Failed"]);
    let cause: Value = serde_json::from_str(cause_text(&r)).expect("the Lambda error payload is the cause");
    assert_eq!(cause["errorType"], "OutOfStockError");
    let alert = r.calls_to("sns:publish");
    assert_eq!(alert.len(), 1);
    assert_eq!(alert[0].params["TopicArn"], "arn:aws:sns:us-east-1:123456789012:stepwise-order-alerts");
    assert_eq!(alert[0].params["Message"]["orderId"], "ORD-2024-000187");
    assert_eq!(alert[0].params["Message"]["customerId"], "CUST-4412");
    assert_eq!(alert[0].params["Message"]["error"], "OutOfStockError");
    assert_eq!(alert[0].params["Message"]["cause"], r.cause);
}

#[test]
fn order_processing_payment_declined_releases_the_stock() {
    let r = run_sample(ORDER, "PaymentDeclined");
    r.assert_failed("OrderProcessingFailed");
    assert!(cause_text(&r).contains("PaymentDeclinedError"), "{}", r.summary());
    // States.TaskFailed in Charge Payment's Retry covers the function error: 1 + 5 attempts.
    assert_eq!(r.calls_to("lambda:stepwise-charge-payment").len(), 6);
    // FULL jitter: each delay is at most IntervalSeconds * 2^n, capped by MaxDelaySeconds 30.
    let gaps = r.gaps("lambda:stepwise-charge-payment");
    for (gap, max) in gaps.iter().zip([1.0, 2.0, 4.0, 8.0, 16.0]) {
        assert!((0.0..=max).contains(gap), "jittered delays {gaps:?} within 1, 2, 4, 8, 16");
    }
    r.assert_entered(&["Reserve Inventory", "Charge Payment", "Release Inventory", "Publish Order Failure", "Order Failed"]);
    let release = r.calls_to("lambda:stepwise-release-inventory");
    assert_eq!(release.len(), 1);
    assert_eq!(release[0].params["Payload"], json!({"orderId": "ORD-2024-000187", "reservationId": "RSV-7f3a9c21"}));
    assert!(r.calls_to("lambda:stepwise-refund-payment").is_empty(), "nothing was charged, nothing is refunded");
    assert_eq!(r.calls_to("sns:publish")[0].params["Message"]["error"], "PaymentDeclinedError");
}

#[test]
fn order_processing_shipping_failure_refunds_and_releases() {
    let r = run_sample(ORDER, "ShippingFails");
    r.assert_failed("OrderProcessingFailed");
    assert!(cause_text(&r).contains("AddressValidationError"), "{}", r.summary());
    assert_eq!(r.calls_to("lambda:stepwise-ship-order").len(), 4, "1 + MaxAttempts 3");
    assert_eq!(r.gaps("lambda:stepwise-ship-order"), vec![5.0, 10.0, 20.0], "5 s doubling");
    r.assert_entered(&[
        "Reserve Inventory",
        "Charge Payment",
        "Fulfil Order",
        "Ship Order",
        "Refund Payment",
        "Release Inventory",
        "Publish Order Failure",
        "Order Failed",
    ]);
    let refund = r.calls_to("lambda:stepwise-refund-payment");
    assert_eq!(refund.len(), 1);
    assert_eq!(refund[0].params["Payload"], json!({"orderId": "ORD-2024-000187", "paymentId": "PAY-3QJ8Z1K5", "amount": 49.0}));
    assert_eq!(r.calls_to("lambda:stepwise-release-inventory")[0].params["Payload"]["reservationId"], "RSV-7f3a9c21");
    let alerts = r.calls_to("sns:publish");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].params["TopicArn"], "arn:aws:sns:us-east-1:123456789012:stepwise-order-alerts");
    assert_eq!(alerts[0].params["Message"]["error"], "AddressValidationError");
}

// ------------------------------------------------------------------------------ video-ingest

const VIDEO: &str = "video-ingest";
const CLIP: &[u8] = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom stepwise test clip";

/// Local buckets with the raw clip the sample event announces, and (if `approved`) the
/// approved bucket to copy it to.
fn video_buckets(data: &Path, approved: bool) -> LocalBuckets {
    let buckets = LocalBuckets::new(data.join("buckets"));
    buckets.create_bucket("stepwise-raw").unwrap();
    let options = PutOptions { content_type: Some("video/mp4".into()), ..PutOptions::default() };
    buckets.put_object("stepwise-raw", "videos/clip.mp4", CLIP, &options).unwrap();
    if approved {
        buckets.create_bucket("stepwise-approved").unwrap();
    }
    buckets
}

#[test]
fn video_ingest_happy_path_copies_the_approved_video() {
    let dir = tempfile::tempdir().unwrap();
    let buckets = video_buckets(dir.path(), true);
    let raw = buckets.head_object("stepwise-raw", "videos/clip.mp4").unwrap();
    let r = run(VIDEO, "HappyPath", &sample_input(VIDEO), dir.path());
    r.assert_status("SUCCEEDED");
    r.assert_entered(&["Extract Video Details", "Review Video", "Check Verdict", "Copy To Approved Bucket", "Video Published"]);
    assert_eq!(r.output["video"], json!({"bucket": "stepwise-raw", "key": "videos/clip.mp4", "size": 123456}));
    assert_eq!(r.output["review"]["verdict"], "APPROVED");
    assert_eq!(r.output["copy"], json!({"etag": raw.etag}), "the copy's ETag is the source's");

    let review = r.calls_to("activity");
    assert_eq!(review.len(), 1);
    assert_eq!(review[0].params, json!({"bucket": "stepwise-raw", "key": "videos/clip.mp4", "size": 123456}));
    let copy = r.calls_to("aws-sdk:s3:copyObject");
    assert_eq!(copy.len(), 1);
    assert_eq!(copy[0].params["CopySource"], "stepwise-raw/videos/clip.mp4");

    let copied = buckets.head_object("stepwise-approved", "videos/clip.mp4").expect("the approved copy exists");
    assert_eq!((copied.size, &copied.etag, copied.content_type.as_str()), (CLIP.len() as u64, &raw.etag, "video/mp4"));
    let (_, bytes) = buckets.get_object("stepwise-approved", "videos/clip.mp4").unwrap();
    assert_eq!(bytes, CLIP);
}

#[test]
fn video_ingest_rejected_video_is_not_copied() {
    let dir = tempfile::tempdir().unwrap();
    let buckets = video_buckets(dir.path(), true);
    let r = run(VIDEO, "Rejected", &sample_input(VIDEO), dir.path());
    r.assert_failed("VideoRejected");
    assert_eq!(r.cause, "The reviewer did not approve this video.");
    r.assert_entered(&["Extract Video Details", "Review Video", "Check Verdict", "Video Rejected"]);
    assert!(r.calls_to("aws-sdk:s3:copyObject").is_empty());
    assert!(buckets.head_object("stepwise-approved", "videos/clip.mp4").is_err(), "no approved copy");
}

#[test]
fn video_ingest_review_timeout_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    video_buckets(dir.path(), true);
    let r = run(VIDEO, "ReviewTimedOut", &sample_input(VIDEO), dir.path());
    r.assert_failed("VideoReviewFailed");
    assert_eq!(r.cause, "Video review timed out", "CausePath $.notice.notice");
    r.assert_entered(&["Extract Video Details", "Review Video", "Review Timed Out", "Review Failed"]);
    let notice = r
        .events
        .iter()
        .find(|e| e["stateExitedEventDetails"]["name"] == "Review Timed Out")
        .and_then(|e| e["stateExitedEventDetails"]["output"].as_str())
        .map(|t| serde_json::from_str::<Value>(t).unwrap())
        .expect("Review Timed Out's output");
    assert_eq!(notice["notice"]["error"], "States.Timeout");
    assert_eq!(notice["error"]["Error"], "States.Timeout");
}

#[test]
fn video_ingest_review_error_takes_the_catch_all() {
    let dir = tempfile::tempdir().unwrap();
    video_buckets(dir.path(), true);
    let r = run(VIDEO, "ReviewErrored", &sample_input(VIDEO), dir.path());
    r.assert_failed("VideoReviewFailed");
    assert_eq!(r.cause, "Video review failed");
    r.assert_entered(&["Extract Video Details", "Review Video", "Review Errored", "Review Failed"]);
}

#[test]
fn video_ingest_missing_approved_bucket_fails_after_retries() {
    let dir = tempfile::tempdir().unwrap();
    let buckets = video_buckets(dir.path(), false);
    let r = run(VIDEO, "HappyPath", &sample_input(VIDEO), dir.path());
    // NoSuchBucket is not S3.S3Exception, but States.TaskFailed covers it: 1 + 3 attempts.
    r.assert_failed("S3.NoSuchBucketException");
    assert_eq!(r.calls_to("aws-sdk:s3:copyObject").len(), 4);
    assert_eq!(r.gaps("aws-sdk:s3:copyObject"), vec![2.0, 4.0, 8.0]);
    r.assert_entered(&["Extract Video Details", "Review Video", "Check Verdict", "Copy To Approved Bucket"]);
    assert!(!buckets.bucket_exists("stepwise-approved"));
}

// ------------------------------------------------------------------------------ file-size-check

const FILE_SIZE: &str = "file-size-check";
const MB: usize = 1024 * 1024;

/// A data dir holding `uploads/report-2024-q2.pdf` in `stepwise-raw` with `size` bytes
/// (`None`: the bucket is there, the object is not).
fn raw_report(size: Option<usize>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let buckets = LocalBuckets::new(dir.path().join("buckets"));
    buckets.create_bucket("stepwise-raw").unwrap();
    if let Some(size) = size {
        let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let options = PutOptions { content_type: Some("application/pdf".into()), ..PutOptions::default() };
        buckets.put_object("stepwise-raw", "uploads/report-2024-q2.pdf", &body, &options).unwrap();
    }
    dir
}

#[test]
fn file_size_check_large_file_is_processed() {
    let dir = raw_report(Some(3 * MB));
    let r = run(FILE_SIZE, "HappyPath", &sample_input(FILE_SIZE), dir.path());
    r.assert_status("SUCCEEDED");
    r.assert_entered(&["Get Object Size", "Is Object Large Enough", "Process Large File"]);
    assert_eq!(r.output["object"], json!({"sizeBytes": 3 * MB}), "ContentLength from the real headObject");
    assert_eq!(r.output["processing"]["result"]["status"], "PROCESSED");
    assert_eq!(r.output["processing"]["result"]["outputKey"], "processed/report-2024-q2.json");
    let head = r.calls_to("aws-sdk:s3:headObject");
    assert_eq!(head.len(), 1);
    assert_eq!(head[0].params, json!({"Bucket": "stepwise-raw", "Key": "uploads/report-2024-q2.pdf"}));
    let process = r.calls_to("lambda:stepwise-process-file");
    assert_eq!(process.len(), 1);
    assert_eq!(
        process[0].params["Payload"],
        json!({"bucket": "stepwise-raw", "key": "uploads/report-2024-q2.pdf", "object": {"sizeBytes": 3 * MB}})
    );
}

#[test]
fn file_size_check_retries_a_throttled_lambda() {
    let dir = raw_report(Some(3 * MB));
    let r = run(FILE_SIZE, "LambdaThrottled", &sample_input(FILE_SIZE), dir.path());
    r.assert_status("SUCCEEDED");
    assert_eq!(r.calls_to("lambda:stepwise-process-file").len(), 3);
    assert_eq!(r.gaps("lambda:stepwise-process-file"), vec![2.0, 4.0]);
    assert_eq!(r.output["processing"]["result"]["status"], "PROCESSED");
}

#[test]
fn file_size_check_small_file_is_skipped() {
    let dir = raw_report(Some(MB / 2));
    let r = run(FILE_SIZE, "TooSmall", &sample_input(FILE_SIZE), dir.path());
    r.assert_status("SUCCEEDED");
    r.assert_entered(&["Get Object Size", "Is Object Large Enough", "File Too Small"]);
    assert_eq!(
        r.output["notice"],
        json!({"status": "SKIPPED", "message": "File is smaller than 2 MB; nothing to process.", "sizeBytes": MB / 2})
    );
    assert!(r.calls_to("lambda:stepwise-process-file").is_empty());
}

#[test]
fn file_size_check_exactly_two_megabytes_takes_the_default() {
    let dir = raw_report(Some(2 * MB));
    let r = run(FILE_SIZE, "ExactlyTwoMegabytes", &sample_input(FILE_SIZE), dir.path());
    r.assert_failed("UnexpectedObjectSize");
    assert_eq!(r.cause, "The object is exactly 2 MB, which matches neither size rule.");
    r.assert_entered(&["Get Object Size", "Is Object Large Enough", "Unexpected Size"]);
}

#[test]
fn file_size_check_missing_object_fails_without_retrying() {
    let dir = raw_report(None);
    let r = run(FILE_SIZE, "MissingObject", &sample_input(FILE_SIZE), dir.path());
    // headObject of a missing key: S3.NoSuchKeyException, which the S3.S3Exception retrier
    // does not cover.
    r.assert_failed("S3.NoSuchKeyException");
    assert_eq!(r.calls_to("aws-sdk:s3:headObject").len(), 1);
    r.assert_entered(&["Get Object Size"]);
}

// ------------------------------------------------------------------------------ vending-pass

const VENDING: &str = "vending-pass";

#[test]
fn vending_pass_waits_out_the_window_then_debits() {
    let r = run_sample(VENDING, "HappyPath");
    r.assert_status("SUCCEEDED");
    r.assert_entered(&["Cancellation Window", "Debit Wallet", "Pass Activated"]);
    assert_eq!(r.output["wallet"], json!({"balance": "15.5"}));
    assert_eq!(r.output["passId"], "DAYPASS-2024-05-14-0193");
    let time = |ty: &str| r.events.iter().find(|e| e["type"] == ty).and_then(|e| e["timestamp"].as_f64()).unwrap();
    assert_eq!(time("WaitStateExited") - time("WaitStateEntered"), 90.0, "the 90 s window passes in virtual time");
    let debit = r.calls_to("dynamodb:updateItem");
    assert_eq!(debit.len(), 1);
    assert_eq!(debit[0].params["Key"], json!({"walletId": {"S": "WALLET-70421"}}));
    assert_eq!(
        debit[0].params["ExpressionAttributeValues"],
        json!({":price": {"N": "4.5"}, ":passId": {"S": "DAYPASS-2024-05-14-0193"}})
    );
}

#[test]
fn vending_pass_insufficient_balance_fails() {
    let r = run_sample(VENDING, "InsufficientBalance");
    r.assert_failed("DynamoDB.ConditionalCheckFailedException");
    assert!(cause_text(&r).starts_with("The conditional request failed"), "{}", r.summary());
    assert_eq!(r.calls_to("dynamodb:updateItem").len(), 1, "not a retried error");
    r.assert_entered(&["Cancellation Window", "Debit Wallet"]);
}

#[test]
fn vending_pass_retries_throttled_writes() {
    let r = run_sample(VENDING, "Throttled");
    r.assert_status("SUCCEEDED");
    assert_eq!(r.calls_to("dynamodb:updateItem").len(), 3);
    assert_eq!(r.gaps("dynamodb:updateItem"), vec![1.0, 2.0]);
    assert_eq!(r.output["wallet"]["balance"], "15.5");
}

// ------------------------------------------------------------------------------ snapshot-management

const SNAPSHOTS: &str = "snapshot-management";
const CURRENT: &str = "snap-0f1e2d3c4b5a69788";
const OLD1: &str = "snap-01a2b3c4d5e6f7081";
const OLD2: &str = "snap-02b3c4d5e6f708192";
const RECENT: &str = "snap-03c4d5e6f70819203";

/// `(snapshotId, deleted)` of each pruning result.
fn pruned(run: &Run) -> Vec<(String, bool)> {
    run.output["housekeeping"]["pruning"]
        .as_array()
        .unwrap_or_else(|| panic!("pruning results\n{}", run.summary()))
        .iter()
        .map(|p| {
            let deleted = p.get("outcome").map_or(&p["deleted"], |o| &o["deleted"]);
            (p["snapshotId"].as_str().unwrap().to_owned(), deleted.as_bool().unwrap())
        })
        .collect()
}

#[test]
fn snapshot_management_happy_path_copies_and_prunes() {
    let r = run_sample(SNAPSHOTS, "HappyPath");
    r.assert_status("SUCCEEDED");
    assert_eq!(r.output["housekeeping"]["drSnapshotId"], "snap-0d9c8b7a6f5e43210");
    assert_eq!(
        pruned(&r),
        [(OLD1, true), (OLD2, true), (RECENT, false), (CURRENT, false)].map(|(s, d)| (s.to_owned(), d)),
        "expired snapshots are deleted; recent ones and the current one kept"
    );
    for state in ["Tag Snapshot", "Snapshot Housekeeping", "Copy To DR Region", "List Volume Snapshots", "Over Retention Minimum", "Prune Expired Snapshots", "Report Housekeeping Done", "Housekeeping Complete"] {
        assert!(r.entered().contains(&state), "{state} runs\n{}", r.summary());
    }
    r.assert_not_entered("Nothing To Prune");
    r.assert_not_entered("Notify Housekeeping Failure");

    let tags = r.calls_to("aws-sdk:ec2:createTags");
    assert_eq!(tags[0].params["Resources"], json!([CURRENT]));
    assert_eq!(tags[0].params["Tags"][2], json!({"Key": "stepwise:retention-days", "Value": "30"}));
    let copy = r.calls_to("aws-sdk:ec2:copySnapshot");
    assert_eq!(copy.len(), 1);
    assert_eq!(copy[0].params["Description"], format!("Stepwise DR copy of {CURRENT} (vol-0a1b2c3d4e5f67890)"));
    assert_eq!(copy[0].params["DestinationRegion"], "us-west-2");
    let list = r.calls_to("aws-sdk:ec2:describeSnapshots");
    assert_eq!(list[0].params["Filters"][0], json!({"Name": "volume-id", "Values": ["vol-0a1b2c3d4e5f67890"]}));
    let deleted: BTreeSet<String> = r
        .calls_to("aws-sdk:ec2:deleteSnapshot")
        .iter()
        .map(|c| c.params["SnapshotId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(deleted, BTreeSet::from([OLD1.to_owned(), OLD2.to_owned()]), "exactly the expired snapshots are deleted");
    assert_eq!(r.calls_to("aws-sdk:ec2:deleteSnapshot").len(), 2);
    let report = r.calls_to("sns:publish");
    assert_eq!(report.len(), 1);
    assert_eq!(report[0].params["TopicArn"], "arn:aws:sns:us-east-1:123456789012:stepwise-snapshot-reports");
    assert_eq!(
        report[0].params["Message"],
        format!("Snapshot {CURRENT} of volume vol-0a1b2c3d4e5f67890 was tagged and copied to us-west-2 as snap-0d9c8b7a6f5e43210.")
    );
}

#[test]
fn snapshot_management_keeps_everything_at_the_minimum() {
    let r = run_sample(SNAPSHOTS, "NothingToPrune");
    r.assert_status("SUCCEEDED");
    assert_eq!(r.output["housekeeping"]["pruning"], json!({"pruned": false, "snapshotCount": 3}));
    assert!(r.entered().contains(&"Nothing To Prune"), "{}", r.summary());
    r.assert_not_entered("Prune Expired Snapshots");
    assert!(r.calls_to("aws-sdk:ec2:deleteSnapshot").is_empty());
}

#[test]
fn snapshot_management_records_a_snapshot_in_use() {
    let r = run_sample(SNAPSHOTS, "DeleteInUse");
    r.assert_status("SUCCEEDED");
    let deletes = r.calls_to("aws-sdk:ec2:deleteSnapshot");
    assert_eq!(deletes.len(), 3, "1 + MaxAttempts 2");
    assert!(deletes.iter().all(|c| c.params["SnapshotId"] == OLD1));
    assert_eq!(r.gaps("aws-sdk:ec2:deleteSnapshot"), vec![3.0, 6.0]);
    let pruning = &r.output["housekeeping"]["pruning"];
    assert_eq!(pruning[0], json!({"snapshotId": OLD1, "deleted": false, "error": "Ec2.Ec2Exception"}));
    assert_eq!(pruning.as_array().unwrap().len(), 4);
    assert!(pruning.as_array().unwrap()[1..].iter().all(|p| p["outcome"] == json!({"deleted": false})));
    assert!(r.entered().contains(&"Record Delete Failure"), "{}", r.summary());
    r.assert_not_entered("Notify Housekeeping Failure");
}

#[test]
fn snapshot_management_copy_failure_is_reported() {
    let r = run_sample(SNAPSHOTS, "CopyFails");
    r.assert_failed("SnapshotHousekeepingFailed");
    assert_eq!(r.calls_to("aws-sdk:ec2:copySnapshot").len(), 4, "1 + MaxAttempts 3");
    assert_eq!(r.gaps("aws-sdk:ec2:copySnapshot"), vec![5.0, 10.0, 20.0]);
    let alert = r.calls_to("sns:publish");
    assert_eq!(alert.len(), 1);
    assert_eq!(alert[0].params["TopicArn"], "arn:aws:sns:us-east-1:123456789012:stepwise-snapshot-alerts");
    let message = &alert[0].params["Message"];
    assert_eq!(message["snapshotId"], CURRENT);
    assert_eq!(message["volumeId"], "vol-0a1b2c3d4e5f67890");
    assert_eq!(message["error"], "Ec2.Ec2Exception", "the Parallel state fails with its branch's error");
    assert!(message["cause"].as_str().is_some_and(|c| c.contains("concurrent snapshot copies")), "{message}");
    let entered = r.entered();
    assert_eq!(&entered[entered.len() - 2..], ["Notify Housekeeping Failure", "Housekeeping Failed"]);
    r.assert_not_entered("Report Housekeeping Done");
}

#[test]
fn snapshot_management_tag_failure_skips_housekeeping() {
    let r = run_sample(SNAPSHOTS, "TagFails");
    r.assert_failed("SnapshotHousekeepingFailed");
    assert_eq!(r.calls_to("aws-sdk:ec2:createTags").len(), 4);
    assert_eq!(r.gaps("aws-sdk:ec2:createTags"), vec![2.0, 4.0, 8.0]);
    r.assert_entered(&["Tag Snapshot", "Notify Housekeeping Failure", "Housekeeping Failed"]);
    assert_eq!(r.calls_to("sns:publish")[0].params["Message"]["error"], "Ec2.Ec2Exception");
}

// ------------------------------------------------------------------------------ media-pipeline

const MEDIA: &str = "media-pipeline";

fn assert_segments_transcoded(r: &Run) {
    let segments = r.output["processedSegments"].as_array().unwrap_or_else(|| panic!("processedSegments\n{}", r.summary()));
    assert_eq!(segments.len(), 3);
    // Mocked responses follow invocation order, which a concurrent Map need not keep; compare
    // as sets, and check each invocation got its own item.
    let got: BTreeSet<String> = segments.iter().map(|s| s.to_string()).collect();
    let want: BTreeSet<String> = (0..3)
        .map(|i| json!({"index": i, "outputKey": format!("transcoded/MEDIA-5521/part-{:03}-1080p.mp4", i + 1)}).to_string())
        .collect();
    assert_eq!(got, want);
    let calls = r.calls_to("lambda:stepwise-transcode-segment");
    let indexes: BTreeSet<u64> = calls.iter().map(|c| c.params["Payload"]["index"].as_u64().unwrap()).collect();
    assert_eq!(indexes, BTreeSet::from([0, 1, 2]));
    let item = calls.iter().find(|c| c.params["Payload"]["index"] == 1).unwrap();
    assert_eq!(
        item.params["Payload"],
        json!({
            "mediaId": "MEDIA-5521",
            "bucket": "stepwise-media",
            "index": 1,
            "segment": {"segmentId": "seg-002", "key": "segments/episode-12/part-002.mp4", "startSeconds": 120, "durationSeconds": 120}
        })
    );
    let concat = r.calls_to("lambda:stepwise-concatenate-segments");
    assert_eq!(concat.len(), 1);
    assert_eq!(&concat[0].params["Payload"]["segments"], &r.output["processedSegments"]);
    assert_eq!(r.output["output"], json!({"outputKey": "published/MEDIA-5521/episode-12-1080p.mp4"}));
}

#[test]
fn media_pipeline_happy_path_via_partner_api_with_text_detection() {
    let r = run_sample(MEDIA, "HappyPath");
    r.assert_status("SUCCEEDED");
    for state in ["Choose Ingest Source", "Fetch From Partner API", "Needs Text Extraction", "Start Text Detection", "Process Segments", "Concatenate Segments", "Pipeline Complete"] {
        assert!(r.entered().contains(&state), "{state} runs\n{}", r.summary());
    }
    r.assert_not_entered("Fetch With Lambda");
    r.assert_not_entered("Prepare Media Data");
    assert_eq!(r.output["ingest"]["statusCode"], 200);
    assert_eq!(r.output["ingest"]["metadata"]["title"], "Harbour Lights, Episode 12");
    assert_eq!(r.output["textExtraction"]["jobId"], "6b3f0c2d8e9a4f1b7c5d2e8f0a3b6c9d1e4f7a0b2c5d8e1f4a7b0c3d6e9f2a5b");
    let http = r.calls_to("http:invoke");
    assert_eq!(http.len(), 1);
    assert_eq!(http[0].params["QueryParameters"], json!({"mediaId": "MEDIA-5521"}));
    let textract = r.calls_to("aws-sdk:textract:startDocumentTextDetection");
    assert_eq!(
        textract[0].params,
        json!({"DocumentLocation": {"S3Object": {"Bucket": "stepwise-media", "Name": "scripts/episode-12-script.pdf"}}, "JobTag": "MEDIA-5521"})
    );
    assert_segments_transcoded(&r);
}

#[test]
fn media_pipeline_retries_a_throttled_partner_api() {
    let r = run_sample(MEDIA, "PartnerApiThrottled");
    r.assert_status("SUCCEEDED");
    assert_eq!(r.calls_to("http:invoke").len(), 2);
    let gaps = r.gaps("http:invoke");
    assert!((0.0..=3.0).contains(&gaps[0]), "FULL jitter keeps the delay within 3 s: {gaps:?}");
    assert_eq!(r.output["ingest"]["statusCode"], 200);
    assert_segments_transcoded(&r);
}

#[test]
fn media_pipeline_lambda_source_prepares_data_instead() {
    let mut input = sample_input(MEDIA);
    input["source"] = json!("lambda");
    input["extractText"] = json!(false);
    let dir = tempfile::tempdir().unwrap();
    let r = run(MEDIA, "LambdaSource", &input, dir.path());
    r.assert_status("SUCCEEDED");
    for state in ["Fetch With Lambda", "Prepare Media Data", "Process Segments", "Concatenate Segments"] {
        assert!(r.entered().contains(&state), "{state} runs\n{}", r.summary());
    }
    r.assert_not_entered("Fetch From Partner API");
    r.assert_not_entered("Start Text Detection");
    assert!(r.output.get("textExtraction").is_none());
    assert_eq!(r.output["dataProcessing"]["prepared"]["manifestKey"], "manifests/MEDIA-5521.json");
    let fetch = r.calls_to("lambda:stepwise-fetch-media");
    assert_eq!(fetch[0].params["Payload"], json!({"mediaId": "MEDIA-5521", "bucket": "stepwise-media"}));
    let prepare = r.calls_to("lambda:stepwise-prepare-media-data");
    assert_eq!(prepare[0].params["Payload"]["metadata"], r.output["ingest"]["metadata"]);
    assert_segments_transcoded(&r);
}

#[test]
fn media_pipeline_unsupported_source_fails() {
    let mut input = sample_input(MEDIA);
    input["source"] = json!("ftp");
    let dir = tempfile::tempdir().unwrap();
    let r = run(MEDIA, "UnsupportedSource", &input, dir.path());
    r.assert_failed("UnsupportedSource");
    assert_eq!(r.cause, "Input field 'source' must be either \"api\" or \"lambda\".");
    r.assert_entered(&["Choose Ingest Source", "Unsupported Source"]);
    assert!(r.calls().is_empty());
}

/// A reviewer takes the task and then stops sending heartbeats: HeartbeatSeconds (300 s)
/// later the task times out, and the `States.Timeout` catcher routes it to "Review Timed Out".
/// AWS's States.Timeout covers a missed heartbeat ("ran longer than the TimeoutSeconds value,
/// or failed to send a heartbeat for a period longer than the HeartbeatSeconds value"), and
/// AWS records a heartbeat expiry as `States.Timeout` (the AWS-validated LocalStack recording
/// timeouts/test_heartbeat_timeout). Runs the engine's own heartbeat timer, not a mock.
#[test]
fn video_ingest_lost_heartbeat_is_a_timeout() {
    use std::sync::Arc;
    use stepwise::engine::{Command, Execution, ExecutionInfo, Input, Machine, MachineType};

    let text = std::fs::read_to_string(workflow_file(VIDEO, "asl.json")).unwrap();
    let definition: Value = serde_json::from_str(&text).unwrap();
    let machine = Arc::new(Machine::compile(&definition).expect("video-ingest compiles"));
    let start = 1_715_679_000_000;
    let mut exec = Execution::new(
        machine,
        ExecutionInfo {
            execution_arn: "arn:aws:states:us-east-1:123456789012:execution:video-ingest:lost-heartbeat".into(),
            name: "lost-heartbeat".into(),
            state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:video-ingest".into(),
            state_machine_name: "video-ingest".into(),
            role_arn: "arn:aws:iam::123456789012:role/stepwise-local".into(),
            start_time: start,
            machine_type: MachineType::Standard,
            seed: 1,
            extra_context: None,
        },
    );
    exec.start(sample_input(VIDEO));
    let task = exec
        .take_commands()
        .into_iter()
        .find_map(|c| match c {
            Command::RunTask(r) => Some(r.id),
            _ => None,
        })
        .expect("the review activity is scheduled");
    // A worker takes the task 5 s in, then goes silent.
    exec.handle(start + 5_000, Input::TaskStarted { task, worker: Some("reviewer-ops-17".into()) });
    let mut timers = exec.pending_timers();
    timers.sort_by_key(|(_, at)| *at);
    let (heartbeat, at) = timers[0];
    assert_eq!(at - start, 305_000, "the heartbeat deadline, HeartbeatSeconds 300 after the start");
    exec.handle(at, Input::TimerFired { timer: heartbeat });
    let outcome = exec.outcome().expect("the execution ends");
    assert_eq!(outcome.error.as_deref(), Some("VideoReviewFailed"));
    assert_eq!(outcome.cause.as_deref(), Some("Video review timed out"), "caught by the States.Timeout catcher");
}

/// The whole flow with nothing mocked: `stepwise run` in real time waits on the review
/// activity; the user's worker profile for it (a command, configured in the config
/// directory, never in the workflow) answers in the same process, and the approved video is
/// copied on the local buckets.
#[test]
fn video_ingest_completes_when_a_worker_answers_its_activity() {
    let dir = tempfile::tempdir().unwrap();
    let buckets = video_buckets(dir.path(), true);
    let config = dir.path().join("config");
    let settings = stepwise::runtime::workers::WorkerSettings {
        workers: vec![stepwise::runtime::workers::WorkerProfile {
            activity: "stepwise-video-review".into(),
            enabled: true,
            kind: stepwise::runtime::workers::WorkerKind::Command {
                command: r#"echo '{"verdict": "APPROVED", "reviewer": "ada"}'"#.into(),
            },
        }],
    };
    settings.save(&config).unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_stepwise"))
        .arg("run")
        .arg(workflow_file(VIDEO, "asl.json"))
        .arg("--input")
        .arg(sample_input(VIDEO).to_string())
        .args(["--time-scale", "1", "--data-dir"])
        .arg(dir.path())
        .env("STEPWISE_CONFIG_DIR", &config)
        .output()
        .expect("the run runs");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let stdout = String::from_utf8_lossy(&run.stdout);
    let result: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(result["status"], "SUCCEEDED", "{result}");
    assert_eq!(result["output"]["review"], json!({"verdict": "APPROVED", "reviewer": "ada"}));
    let copy = buckets.head_object("stepwise-approved", "videos/clip.mp4").expect("the approved copy exists");
    assert_eq!(copy.etag, buckets.head_object("stepwise-raw", "videos/clip.mp4").unwrap().etag);
}

/// A user-configured local handler answers a Task resource: payload on stdin, result on
/// stdout; a failing handler fails the task.
#[test]
fn vending_pass_runs_with_a_local_handler_for_dynamodb() {
    let run_with = |command: &str| -> Value {
        let out = Command::new(env!("CARGO_BIN_EXE_stepwise"))
            .arg("run")
            .arg(workflow_file("vending-pass", "asl.json"))
            .arg("--input")
            .arg(sample_input("vending-pass").to_string())
            .args(["--time-scale", "0", "--handler"])
            .arg(format!("arn:aws:states:::dynamodb:updateItem={command}"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let ok = run_with(r#"echo '{"Attributes": {"balance": {"N": "10"}}}'"#);
    assert_eq!(ok["status"], "SUCCEEDED", "{ok}");
    assert_eq!(ok["output"]["wallet"], json!({"balance": "10"}));
    let failed = run_with("false");
    assert_eq!(failed["status"], "FAILED");
    assert_eq!(failed["error"], "States.TaskFailed");
}

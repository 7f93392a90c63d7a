//! `stepwise serve` as a client sees it: a child process on a free loopback port, driven over
//! raw HTTP (AWS JSON 1.0 for Step Functions, REST for S3), and by boto3 when Python is here.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_stepwise");
const ACCOUNT_ARN: &str = "arn:aws:states:us-east-1:123456789012";

/// A running `stepwise serve`; killed when dropped (also when a test panics).
struct Server {
    child: Child,
    addr: String,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Server::start_in(dir.path());
        s._dir = Some(dir);
        s
    }

    fn start_in(data_dir: &Path) -> Server {
        Server::start_with(data_dir, &[], None)
    }

    fn start_with(data_dir: &Path, extra: &[&str], config_dir: Option<&Path>) -> Server {
        let mut command = Command::new(BIN);
        if let Some(dir) = config_dir {
            command.env("STEPWISE_CONFIG_DIR", dir);
        }
        let mut child = command
            .args(["serve", "--port", "0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        if line.is_empty() {
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            panic!("stepwise serve printed nothing; stderr: {err}");
        }
        let url = line.split_whitespace().find(|w| w.starts_with("http://127.0.0.1:")).unwrap_or_else(|| panic!("no URL in {line:?}"));
        Server { child, addr: url.trim_start_matches("http://").to_owned(), _dir: None }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// One HTTP/1.1 exchange: (status, lowercase headers, body).
    fn http(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n", self.addr, body.len());
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete response head");
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut body = raw[split + 4..].to_vec();
        let mut lines = head.lines();
        let status: u16 = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
        let headers: Vec<(String, String)> =
            lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned())).collect();
        if headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked")) {
            body = dechunk(&body);
        }
        (status, headers, body)
    }

    /// A Step Functions call: (status, x-amzn-errortype, JSON body).
    fn sfn_raw(&self, op: &str, body: &[u8]) -> (u16, Option<String>, Value) {
        let target = format!("AWSStepFunctions.{op}");
        let (status, headers, body) = self.http("POST", "/", &[("Content-Type", "application/x-amz-json-1.0"), ("X-Amz-Target", &target)], body);
        let error_type = header(&headers, "x-amzn-errortype");
        (status, error_type, serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{op}: not JSON ({e}): {}", String::from_utf8_lossy(&body))))
    }

    fn sfn(&self, op: &str, body: Value) -> Value {
        let (status, _, out) = self.sfn_raw(op, body.to_string().as_bytes());
        assert_eq!(status, 200, "{op} {body}: {out}");
        out
    }

    fn sfn_error(&self, op: &str, body: &[u8]) -> (u16, String, String) {
        let (status, error_type, out) = self.sfn_raw(op, body);
        let code = out["__type"].as_str().unwrap_or_else(|| panic!("{op}: no __type in {out}")).to_owned();
        assert_eq!(error_type.as_deref(), Some(code.as_str()), "x-amzn-ErrorType names the error");
        assert!(out["message"].as_str().is_some_and(|m| !m.is_empty()), "{out}");
        (status, code, out["message"].as_str().unwrap().to_owned())
    }
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let end = body.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&body[..end]).unwrap().split(';').next().unwrap().trim(), 16).unwrap();
        body = &body[end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

fn wait_for_status(server: &Server, arn: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let d = server.sfn("DescribeExecution", json!({ "executionArn": arn }));
        if d["status"] == want {
            return d;
        }
        assert!(d["status"] == "RUNNING" && Instant::now() < deadline, "execution is {d}, waiting for {want}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An activity task, then a Pass state.
fn activity_machine(activity_arn: &str) -> String {
    json!({
        "StartAt": "Review",
        "States": {
            "Review": { "Type": "Task", "Resource": activity_arn, "Next": "Done" },
            "Done": { "Type": "Pass", "End": true }
        }
    })
    .to_string()
}

#[test]
fn serve_runs_an_activity_execution_over_the_step_functions_api() {
    let server = Server::start();
    let activity = server.sfn("CreateActivity", json!({ "name": "review" }));
    let activity_arn = activity["activityArn"].as_str().unwrap().to_owned();
    assert_eq!(activity_arn, format!("{ACCOUNT_ARN}:activity:review"));
    assert!(activity["creationDate"].as_f64().is_some_and(|t| t > 1.0e9 && t < 1.0e11), "epoch seconds: {activity}");

    let machine = server.sfn(
        "CreateStateMachine",
        json!({ "name": "reviewed", "definition": activity_machine(&activity_arn), "roleArn": "arn:aws:iam::123456789012:role/r" }),
    );
    let machine_arn = machine["stateMachineArn"].as_str().unwrap().to_owned();
    let described = server.sfn("DescribeStateMachine", json!({ "stateMachineArn": machine_arn }));
    assert_eq!((described["name"].as_str(), described["status"].as_str(), described["type"].as_str()), (Some("reviewed"), Some("ACTIVE"), Some("STANDARD")));
    let listed = server.sfn("ListStateMachines", json!({}));
    assert_eq!(listed["stateMachines"][0]["stateMachineArn"], machine_arn);

    let started = server.sfn("StartExecution", json!({ "stateMachineArn": machine_arn, "name": "first", "input": "{\"video\":\"v.mp4\"}" }));
    let exec_arn = started["executionArn"].as_str().unwrap().to_owned();
    assert_eq!(exec_arn, format!("{ACCOUNT_ARN}:execution:reviewed:first"));

    let polled_at = Instant::now();
    let task = server.sfn("GetActivityTask", json!({ "activityArn": activity_arn, "workerName": "test-worker" }));
    assert!(polled_at.elapsed() < Duration::from_secs(30), "the scheduled task came within the long poll");
    let token = task["taskToken"].as_str().expect("a task token").to_owned();
    assert_eq!(serde_json::from_str::<Value>(task["input"].as_str().unwrap()).unwrap(), json!({ "video": "v.mp4" }));

    server.sfn("SendTaskHeartbeat", json!({ "taskToken": token }));
    server.sfn("SendTaskSuccess", json!({ "taskToken": token, "output": "{\"ok\":true}" }));
    let done = wait_for_status(&server, &exec_arn, "SUCCEEDED");
    assert_eq!(serde_json::from_str::<Value>(done["output"].as_str().unwrap()).unwrap(), json!({ "ok": true }));
    assert!(done["stopDate"].as_f64().unwrap() >= done["startDate"].as_f64().unwrap());
    let for_exec = server.sfn("DescribeStateMachineForExecution", json!({ "executionArn": exec_arn }));
    assert_eq!(for_exec["stateMachineArn"], machine_arn);
    let ran: Value = serde_json::from_str(for_exec["definition"].as_str().unwrap()).unwrap();
    assert_eq!(ran, serde_json::from_str::<Value>(&activity_machine(&activity_arn)).unwrap());
    // A token is answered once.
    let (status, code, _) = server.sfn_error("SendTaskSuccess", json!({ "taskToken": token, "output": "{}" }).to_string().as_bytes());
    assert_eq!((status, code.as_str()), (400, "InvalidToken"));

    // History: pages of 2 hand out every event exactly once, in order, either way round.
    let whole = server.sfn("GetExecutionHistory", json!({ "executionArn": exec_arn, "maxResults": 1000 }));
    let all: Vec<Value> = whole["events"].as_array().unwrap().clone();
    assert!(whole.get("nextToken").is_none());
    assert!(all.len() >= 6, "{whole}");
    assert_eq!(all[0]["type"], "ExecutionStarted");
    assert_eq!(all.last().unwrap()["type"], "ExecutionSucceeded");
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e["id"].as_u64(), Some(i as u64 + 1), "{e}");
        assert!(e["previousEventId"].is_u64(), "{e}");
        assert!(e["timestamp"].as_f64().is_some_and(|t| t > 1.0e9 && t < 1.0e11), "epoch seconds: {e}");
    }
    assert!(all.iter().any(|e| e["type"] == "ActivityStarted" && e["activityStartedEventDetails"]["workerName"] == "test-worker"));
    for reverse in [false, true] {
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = json!({ "executionArn": exec_arn, "maxResults": 2, "reverseOrder": reverse });
            if let Some(t) = &token {
                req["nextToken"] = json!(t);
            }
            let page = server.sfn("GetExecutionHistory", req);
            let events = page["events"].as_array().unwrap();
            assert!(events.len() <= 2);
            seen.extend(events.iter().cloned());
            match page.get("nextToken").and_then(Value::as_str) {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        let mut expected = all.clone();
        if reverse {
            expected.reverse();
        }
        assert_eq!(seen, expected, "reverseOrder {reverse}");
    }
    let bare = server.sfn("GetExecutionHistory", json!({ "executionArn": exec_arn, "includeExecutionData": false }));
    assert!(bare["events"][0]["executionStartedEventDetails"].get("input").is_none(), "{}", bare["events"][0]);

    let listed = server.sfn("ListExecutions", json!({ "stateMachineArn": machine_arn, "statusFilter": "SUCCEEDED" }));
    assert_eq!(listed["executions"][0]["executionArn"], exec_arn);
    let running = server.sfn("ListExecutions", json!({ "stateMachineArn": machine_arn, "statusFilter": "RUNNING" }));
    assert_eq!(running["executions"], json!([]));
    assert_eq!(server.sfn("ListActivities", json!({}))["activities"][0]["activityArn"], activity_arn);

    let valid = server.sfn("ValidateStateMachineDefinition", json!({ "definition": activity_machine(&activity_arn) }));
    assert_eq!(valid, json!({ "result": "OK", "diagnostics": [], "truncated": false }));
    let invalid = server.sfn("ValidateStateMachineDefinition", json!({ "definition": "{\"StartAt\":\"Nowhere\",\"States\":{\"A\":{\"Type\":\"Pass\",\"End\":true}}}" }));
    assert_eq!(invalid["result"], "FAIL");
    assert!(invalid["diagnostics"].as_array().unwrap().iter().any(|d| d["severity"] == "ERROR" && d["location"] == "/StartAt"), "{invalid}");

    server.sfn("DeleteStateMachine", json!({ "stateMachineArn": machine_arn }));
    let (_, code, _) = server.sfn_error("DescribeStateMachine", json!({ "stateMachineArn": machine_arn }).to_string().as_bytes());
    assert_eq!(code, "StateMachineDoesNotExist");
    // The execution outlives its machine, as in AWS.
    assert_eq!(server.sfn("DescribeExecution", json!({ "executionArn": exec_arn }))["status"], "SUCCEEDED");
}

/// RedriveExecution on the wire: AWS's answer and error shapes, the redrive fields of
/// DescribeExecution, and ListExecutions' redriveFilter.
#[test]
fn serve_redrives_a_failed_execution_over_the_api() {
    let server = Server::start();
    let activity_arn = server.sfn("CreateActivity", json!({ "name": "flaky" }))["activityArn"].as_str().unwrap().to_owned();
    let machine = server.sfn(
        "CreateStateMachine",
        json!({ "name": "flaky", "definition": activity_machine(&activity_arn), "roleArn": "arn:aws:iam::123456789012:role/r" }),
    );
    let machine_arn = machine["stateMachineArn"].as_str().unwrap().to_owned();
    let exec_arn = server.sfn("StartExecution", json!({ "stateMachineArn": machine_arn, "input": "{}" }))["executionArn"].as_str().unwrap().to_owned();
    let running = server.sfn("DescribeExecution", json!({ "executionArn": exec_arn }));
    assert_eq!((running["redriveStatus"].as_str(), running["redriveCount"].as_u64()), (Some("NOT_REDRIVABLE"), Some(0)), "{running}");
    let (status, code, _) = server.sfn_error("RedriveExecution", json!({ "executionArn": exec_arn }).to_string().as_bytes());
    assert_eq!((status, code.as_str()), (400, "ExecutionNotRedrivable"));

    let token = server.sfn("GetActivityTask", json!({ "activityArn": activity_arn }))["taskToken"].as_str().unwrap().to_owned();
    server.sfn("SendTaskFailure", json!({ "taskToken": token, "error": "Flaky", "cause": "first try" }));
    let failed = wait_for_status(&server, &exec_arn, "FAILED");
    assert_eq!(failed["redriveStatus"], "REDRIVABLE", "{failed}");
    let redriven = server.sfn("RedriveExecution", json!({ "executionArn": exec_arn }));
    assert!(redriven["redriveDate"].as_f64().is_some_and(|t| t > 1.0e9 && t < 1.0e11), "epoch seconds: {redriven}");
    let token = server.sfn("GetActivityTask", json!({ "activityArn": activity_arn }))["taskToken"].as_str().unwrap().to_owned();
    server.sfn("SendTaskSuccess", json!({ "taskToken": token, "output": "{\"second\":true}" }));
    let done = wait_for_status(&server, &exec_arn, "SUCCEEDED");
    assert_eq!(done["redriveCount"], 1, "{done}");
    assert_eq!(done["redriveDate"], redriven["redriveDate"]);
    assert!(done.get("error").is_none(), "the earlier failure is gone from the description: {done}");

    let other = server.sfn("StartExecution", json!({ "stateMachineArn": machine_arn, "input": "{}" }))["executionArn"].as_str().unwrap().to_owned();
    let listed = |filter: &str| -> Vec<String> {
        let page = server.sfn("ListExecutions", json!({ "stateMachineArn": machine_arn, "redriveFilter": filter }));
        page["executions"].as_array().unwrap().iter().map(|e| e["executionArn"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(listed("REDRIVEN"), std::slice::from_ref(&exec_arn));
    assert_eq!(listed("NOT_REDRIVEN"), [other]);
    let (_, code, _) = server.sfn_error("ListExecutions", json!({ "redriveFilter": "SOMETIMES" }).to_string().as_bytes());
    assert_eq!(code, "ValidationException");
    let (_, code, _) = server.sfn_error("RedriveExecution", json!({ "executionArn": format!("{exec_arn}-nope") }).to_string().as_bytes());
    assert_eq!(code, "ExecutionDoesNotExist");
}

/// Tags of an activity: created with it, listed, refused past AWS's limits whole.
#[test]
fn serve_keeps_tags_within_aws_limits() {
    let server = Server::start();
    let arn = server.sfn("CreateActivity", json!({ "name": "tagged", "tags": [{ "key": "team", "value": "media" }] }))["activityArn"].as_str().unwrap().to_owned();
    assert_eq!(server.sfn("ListTagsForResource", json!({ "resourceArn": arn })), json!({ "tags": [{ "key": "team", "value": "media" }] }));
    let many: Vec<Value> = (0..50).map(|i| json!({ "key": format!("k{i:02}"), "value": "v" })).collect();
    let (status, code, _) = server.sfn_error("TagResource", json!({ "resourceArn": arn, "tags": many }).to_string().as_bytes());
    assert_eq!((status, code.as_str()), (400, "TooManyTags"), "51 with the one it has");
    assert_eq!(server.sfn("ListTagsForResource", json!({ "resourceArn": arn }))["tags"].as_array().unwrap().len(), 1, "nothing of a refused request is kept");
    let (_, code, _) = server.sfn_error("TagResource", json!({ "resourceArn": arn, "tags": [{ "key": "", "value": "v" }] }).to_string().as_bytes());
    assert_eq!(code, "ValidationException");
    // Versions are not kept: asking for one is refused in words, not answered without its ARN.
    let machine = json!({ "name": "versioned", "definition": activity_machine(&arn), "roleArn": "arn:aws:iam::123456789012:role/r", "publish": true });
    let (_, code, message) = server.sfn_error("CreateStateMachine", machine.to_string().as_bytes());
    assert_eq!(code, "ValidationException");
    assert!(message.contains("versions"), "{message}");
    let (_, code, _) = server.sfn_error("TagResource", json!({ "resourceArn": format!("{arn}x"), "tags": [] }).to_string().as_bytes());
    assert_eq!(code, "ResourceNotFound");
    // Bad tags on a create refuse it before anything is created.
    let (_, code, _) = server.sfn_error("CreateActivity", json!({ "name": "untagged", "tags": [{ "key": "k".repeat(129), "value": "v" }] }).to_string().as_bytes());
    assert_eq!(code, "ValidationException");
    assert_eq!(server.sfn("ListActivities", json!({}))["activities"].as_array().unwrap().len(), 1, "no activity was created");
    server.sfn("DeleteActivity", json!({ "activityArn": arn }));
    server.sfn("CreateActivity", json!({ "name": "tagged" }));
    assert_eq!(server.sfn("ListTagsForResource", json!({ "resourceArn": arn })), json!({ "tags": [] }), "tags go with their resource");
}

#[test]
fn serve_answers_bad_requests_with_aws_error_shapes_and_keeps_serving() {
    let server = Server::start();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("ListTagsForRobots", b"{}".to_vec(), "UnknownOperationException"),
        ("TagRobot", b"{not json".to_vec(), "UnknownOperationException"),
        ("DescribeExecution", json!({ "executionArn": format!("{ACCOUNT_ARN}:execution:m:missing") }).to_string().into_bytes(), "ExecutionDoesNotExist"),
        ("DescribeExecution", json!({ "executionArn": "not-an-arn" }).to_string().into_bytes(), "InvalidArn"),
        ("DescribeExecution", b"{\"executionArn\": ".to_vec(), "SerializationException"),
        ("DescribeExecution", b"[1,2]".to_vec(), "SerializationException"),
        ("DescribeExecution", json!({ "executionArn": 7 }).to_string().into_bytes(), "SerializationException"),
        ("StartExecution", b"{}".to_vec(), "ValidationException"),
        ("StartExecution", json!({ "stateMachineArn": format!("{ACCOUNT_ARN}:stateMachine:none") }).to_string().into_bytes(), "StateMachineDoesNotExist"),
        ("CreateStateMachine", json!({ "name": "bad", "definition": "{\"StartAt\":1}", "roleArn": "r" }).to_string().into_bytes(), "InvalidDefinition"),
        ("GetExecutionHistory", json!({ "executionArn": format!("{ACCOUNT_ARN}:execution:m:x"), "maxResults": 5000 }).to_string().into_bytes(), "ValidationException"),
        ("SendTaskSuccess", json!({ "taskToken": "nope", "output": "{}" }).to_string().into_bytes(), "InvalidToken"),
        ("ListExecutions", json!({ "statusFilter": "DANCING" }).to_string().into_bytes(), "ValidationException"),
        ("ListStateMachines", json!({ "nextToken": "garbage" }).to_string().into_bytes(), "InvalidToken"),
        ("GetActivityTask", json!({ "activityArn": format!("{ACCOUNT_ARN}:activity:none") }).to_string().into_bytes(), "ActivityDoesNotExist"),
        ("ListStateMachines", vec![0xff, 0xfe, 0x00, 0x13], "SerializationException"),
        // Over the size limit: refused, not read whole.
        ("StartExecution", vec![b' '; 3 * 1024 * 1024], "ValidationException"),
    ];
    for (op, body, want) in cases {
        let started = Instant::now();
        let (status, code, message) = server.sfn_error(op, &body);
        assert_eq!((status, code.as_str()), (400, want), "{op}: {message}");
        assert!(started.elapsed() < Duration::from_secs(10), "{op} answered at once");
    }
    // A target that is not Step Functions at all.
    let (status, headers, _) = server.http("POST", "/", &[("X-Amz-Target", "DynamoDB_20120810.ListTables")], b"{}");
    assert_eq!((status, header(&headers, "x-amzn-errortype").as_deref()), (400, Some("UnknownOperationException")));
    // Garbage that is not HTTP closes that connection only.
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.write_all(b"\x00\x01garbage\r\n\r\n").unwrap();
    let _ = s.read_to_end(&mut Vec::new());
    assert_eq!(server.sfn("ListStateMachines", json!({})), json!({ "stateMachines": [] }));
}

#[test]
fn a_second_serve_on_the_same_data_dir_is_refused_with_the_owner_named() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Server::start_in(dir.path());
    let out = Command::new(BIN).args(["serve", "--port", "0", "--data-dir"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stepwise serve") && err.contains(&_first.child.id().to_string()), "{err}");
}

#[test]
fn serve_runs_the_configured_local_workers_only_when_asked() {
    let (data, config) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(config.path().join("workers.json"), r#"{"workers":[{"activity":"echo","kind":"command","command":"cat"}]}"#).unwrap();
    let server = Server::start_with(data.path(), &["--workers"], Some(config.path()));
    let activity_arn = server.sfn("CreateActivity", json!({ "name": "echo" }))["activityArn"].as_str().unwrap().to_owned();
    let machine_arn = server.sfn("CreateStateMachine", json!({ "name": "echoed", "definition": activity_machine(&activity_arn), "roleArn": "r" }))["stateMachineArn"]
        .as_str()
        .unwrap()
        .to_owned();
    let exec = server.sfn("StartExecution", json!({ "stateMachineArn": machine_arn, "input": "{\"n\":1}" }));
    let done = wait_for_status(&server, exec["executionArn"].as_str().unwrap(), "SUCCEEDED");
    assert_eq!(serde_json::from_str::<Value>(done["output"].as_str().unwrap()).unwrap(), json!({ "n": 1 }));
    drop(server);

    // Without --workers the same profile answers nothing: the task waits for an outside worker.
    let server = Server::start_with(data.path(), &[], Some(config.path()));
    let exec = server.sfn("StartExecution", json!({ "stateMachineArn": machine_arn, "input": "{}" }));
    let arn = exec["executionArn"].as_str().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(server.sfn("DescribeExecution", json!({ "executionArn": arn }))["status"], "RUNNING");
    let task = server.sfn("GetActivityTask", json!({ "activityArn": activity_arn }));
    assert!(task["taskToken"].is_string(), "{task}");
    server.sfn("SendTaskFailure", json!({ "taskToken": task["taskToken"], "error": "Nope", "cause": "by hand" }));
    let failed = wait_for_status(&server, arn, "FAILED");
    assert_eq!((failed["error"].as_str(), failed["cause"].as_str()), (Some("Nope"), Some("by hand")));
}

#[cfg(unix)]
#[test]
fn sigterm_stops_serve_cleanly_and_frees_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path());
    server.sfn("CreateActivity", json!({ "name": "kept" }));
    let killed = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let next = Server::start_in(dir.path());
    assert_eq!(next.sfn("ListActivities", json!({}))["activities"][0]["name"], "kept");
}

/// The AWS CLI, when the LocalStack scripts have installed it under target/.
#[test]
fn the_aws_cli_works_against_serve() {
    let aws = Path::new(BIN).parent().and_then(Path::parent).unwrap().join("localstack-venv").join("bin").join("aws");
    if !aws.exists() {
        skip("the_aws_cli_works_against_serve", &format!("no AWS CLI at {}", aws.display()));
        return;
    }
    let server = Server::start();
    let run = |args: &[&str]| {
        let out = Command::new(&aws)
            .args(args)
            .args(["--endpoint-url", &server.url(), "--region", "us-east-1", "--output", "json"])
            .env("AWS_ACCESS_KEY_ID", "any")
            .env("AWS_SECRET_ACCESS_KEY", "any")
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap();
        assert!(out.status.success(), "aws {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    run(&["stepfunctions", "create-activity", "--name", "cli"]);
    let listed: Value = serde_json::from_str(&run(&["stepfunctions", "list-activities"])).unwrap();
    assert_eq!(listed["activities"][0]["name"], "cli");
    assert_eq!(serde_json::from_str::<Value>(&run(&["stepfunctions", "list-state-machines"])).unwrap(), json!({ "stateMachines": [] }));
    run(&["s3", "mb", "s3://cli-bucket"]);
    assert!(run(&["s3", "ls"]).contains("cli-bucket"));
    let me: Value = serde_json::from_str(&run(&["sts", "get-caller-identity"])).unwrap();
    assert_eq!(me["Account"], "123456789012", "{me}");
}

/// The one slow test: AWS's long poll lasts 60 s and ends with `{}` when no task came; other
/// requests are answered meanwhile.
#[test]
fn get_activity_task_without_a_task_answers_empty_after_the_long_poll() {
    let server = Server::start();
    let arn = server.sfn("CreateActivity", json!({ "name": "idle" }))["activityArn"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let poll = std::thread::scope(|s| {
        let poller = s.spawn(|| server.sfn("GetActivityTask", json!({ "activityArn": arn })));
        std::thread::sleep(Duration::from_millis(500));
        let during = Instant::now();
        assert_eq!(server.sfn("ListActivities", json!({}))["activities"][0]["activityArn"], arn);
        assert!(during.elapsed() < Duration::from_secs(5), "other calls are answered during a long poll");
        poller.join().unwrap()
    });
    assert_eq!(poll, json!({}));
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(55) && waited < Duration::from_secs(80), "waited {waited:?}");
}

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

fn xml_field<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(&xml[start..end])
}

#[test]
fn serve_s3_puts_gets_lists_and_assembles_multipart_uploads() {
    let server = Server::start();
    let (status, _, _) = server.http("PUT", "/media", &[], b"");
    assert_eq!(status, 200);
    let (status, _, body) = server.http("PUT", "/media", &[], b"");
    assert_eq!(status, 409, "{}", String::from_utf8_lossy(&body));

    let text = b"hello, local s3";
    let (status, headers, _) = server.http("PUT", "/media/dir/a%20b.txt", &[("Content-Type", "text/plain"), ("x-amz-meta-origin", "test")], text);
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "etag"), Some(format!("\"{}\"", md5_hex(text))));
    let (status, headers, body) = server.http("GET", "/media/dir/a%20b.txt", &[], b"");
    assert_eq!((status, body.as_slice()), (200, &text[..]));
    assert_eq!(header(&headers, "content-type").as_deref(), Some("text/plain"));
    assert_eq!(header(&headers, "x-amz-meta-origin").as_deref(), Some("test"));
    let (status, headers, body) = server.http("GET", "/media/dir/a%20b.txt", &[("Range", "bytes=7-11")], b"");
    assert_eq!((status, body.as_slice()), (206, &b"local"[..]));
    assert_eq!(header(&headers, "content-range").as_deref(), Some("bytes 7-11/15"));
    let (status, headers, _) = server.http("HEAD", "/media/dir/a%20b.txt", &[], b"");
    assert_eq!((status, header(&headers, "content-length").as_deref()), (200, Some("15")));

    // A signed, aws-chunked upload as the SDKs send it: any credentials are accepted.
    let chunked = b"6;chunk-signature=00\r\nstream\r\n4;chunk-signature=00\r\ned!!\r\n0;chunk-signature=00\r\n\r\n";
    let (status, _, body) = server.http(
        "PUT",
        "/media/chunked.bin",
        &[
            ("Authorization", "AWS4-HMAC-SHA256 Credential=ANYKEY/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00"),
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            ("x-amz-date", "20260101T000000Z"),
            ("x-amz-decoded-content-length", "10"),
            ("Content-Encoding", "aws-chunked"),
        ],
        chunked,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(server.http("GET", "/media/chunked.bin", &[], b"").2, b"streamed!!");

    // Multipart: a 5 MiB part and a short last one.
    let part1: Vec<u8> = (0..5 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let part2 = b"the tail".to_vec();
    let (status, _, body) = server.http("POST", "/media/big.bin?uploads", &[("Content-Type", "video/mp4")], b"");
    assert_eq!(status, 200);
    let xml = String::from_utf8(body).unwrap();
    let upload_id = xml_field(&xml, "UploadId").unwrap_or_else(|| panic!("{xml}")).to_owned();
    let mut etags = Vec::new();
    for (n, part) in [(1, &part1), (2, &part2)] {
        let (status, headers, _) = server.http("PUT", &format!("/media/big.bin?partNumber={n}&uploadId={upload_id}"), &[], part);
        assert_eq!(status, 200);
        etags.push(header(&headers, "etag").unwrap());
    }
    let (status, _, body) = server.http("GET", &format!("/media/big.bin?uploadId={upload_id}"), &[], b"");
    let parts = String::from_utf8(body).unwrap();
    assert_eq!((status, parts.matches("<Part>").count()), (200, 2), "{parts}");
    let complete = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{}</ETag></Part><Part><PartNumber>2</PartNumber><ETag>{}</ETag></Part></CompleteMultipartUpload>",
        etags[0], etags[1]
    );
    let (status, _, body) = server.http("POST", &format!("/media/big.bin?uploadId={upload_id}"), &[], complete.as_bytes());
    let xml = String::from_utf8(body).unwrap();
    assert_eq!(status, 200, "{xml}");
    let mut digest = Md5::new();
    digest.update(Md5::digest(&part1));
    digest.update(Md5::digest(&part2));
    let want_etag = format!("{}-2", hex::encode(digest.finalize()));
    assert!(xml_field(&xml, "ETag").is_some_and(|e| e.replace("&quot;", "\"").trim_matches('"') == want_etag), "{xml}");
    let (status, headers, body) = server.http("GET", "/media/big.bin", &[], b"");
    assert_eq!(status, 200);
    assert_eq!(body, [part1.as_slice(), part2.as_slice()].concat());
    assert_eq!(header(&headers, "content-type").as_deref(), Some("video/mp4"));
    // The upload is gone once completed; an aborted one too.
    let (status, _, _) = server.http("PUT", &format!("/media/big.bin?partNumber=3&uploadId={upload_id}"), &[], b"x");
    assert_eq!(status, 404);
    let (_, _, body) = server.http("POST", "/media/other.bin?uploads", &[], b"");
    let other = xml_field(&String::from_utf8(body).unwrap(), "UploadId").unwrap().to_owned();
    assert_eq!(server.http("DELETE", &format!("/media/other.bin?uploadId={other}"), &[], b"").0, 204);
    assert_eq!(server.http("GET", &format!("/media/other.bin?uploadId={other}"), &[], b"").0, 404);

    // Listing, copy, delete.
    let (status, _, body) = server.http("PUT", "/media/copy.txt", &[("x-amz-copy-source", "/media/dir/a%20b.txt")], b"");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(server.http("GET", "/media/copy.txt", &[], b"").2, text);
    let (status, _, body) = server.http("GET", "/media?list-type=2&max-keys=2", &[], b"");
    let page1 = String::from_utf8(body).unwrap();
    assert_eq!(status, 200);
    assert_eq!(xml_field(&page1, "IsTruncated"), Some("true"), "{page1}");
    let token = xml_field(&page1, "NextContinuationToken").unwrap().to_owned();
    let (_, _, body) = server.http("GET", &format!("/media?list-type=2&max-keys=10&continuation-token={token}"), &[], b"");
    let page2 = String::from_utf8(body).unwrap();
    let keys: Vec<&str> = [page1.as_str(), page2.as_str()].iter().flat_map(|p| p.split("<Key>").skip(1).map(|k| &k[..k.find("</Key>").unwrap()])).collect();
    assert_eq!(keys, ["big.bin", "chunked.bin", "copy.txt", "dir/a b.txt"]);
    let (_, _, body) = server.http("GET", "/", &[], b"");
    assert!(String::from_utf8(body).unwrap().contains("<Name>media</Name>"));
    assert_eq!(server.http("DELETE", "/media", &[], b"").0, 409, "a bucket with objects is not deleted");
    for key in ["big.bin", "chunked.bin", "copy.txt", "dir/a%20b.txt"] {
        assert_eq!(server.http("DELETE", &format!("/media/{key}"), &[], b"").0, 204);
    }
    assert_eq!(server.http("GET", "/media/copy.txt", &[], b"").0, 404);
    assert_eq!(server.http("DELETE", "/media", &[], b"").0, 204);
    assert_eq!(server.http("HEAD", "/media", &[], b"").0, 404);
}

/// Says loudly that a client test did not run. scripts/test-aws.sh runs these tests again once
/// it has installed the clients, with STEPWISE_REQUIRE_CLIENTS=1: there a skip is a failure.
fn skip(test: &str, why: &str) {
    assert!(std::env::var_os("STEPWISE_REQUIRE_CLIENTS").is_none(), "{test} must run here, but: {why}");
    eprintln!("\n*** SKIPPED {test}: {why} ***\n");
}

/// A Python with boto3: STEPWISE_TEST_PYTHON (scripts/test-aws.sh passes LocalStack's venv),
/// else `target/serve-venv`, made (with pip, from PyPI) when missing.
fn boto3_python() -> Result<PathBuf, String> {
    let has_boto3 = |p: &Path| Command::new(p).args(["-c", "import boto3"]).output().is_ok_and(|o| o.status.success());
    if let Some(given) = std::env::var_os("STEPWISE_TEST_PYTHON").map(PathBuf::from) {
        return if has_boto3(&given) { Ok(given) } else { Err(format!("STEPWISE_TEST_PYTHON={} has no boto3", given.display())) };
    }
    let target = Path::new(BIN).parent().and_then(Path::parent).ok_or("no target directory")?.to_owned();
    let venv = target.join("serve-venv");
    let python = venv.join("bin").join("python");
    if has_boto3(&python) {
        return Ok(python);
    }
    let made = Command::new("python3").args(["-m", "venv"]).arg(&venv).output().map_err(|e| format!("python3 is not available: {e}"))?;
    if !made.status.success() {
        return Err(format!("python3 -m venv failed: {}", String::from_utf8_lossy(&made.stderr)));
    }
    let pip = Command::new(&python).args(["-m", "pip", "install", "--quiet", "boto3==1.42.72"]).output().map_err(|e| format!("pip did not run: {e}"))?;
    if !pip.status.success() || !has_boto3(&python) {
        return Err(format!("pip could not install boto3: {}", String::from_utf8_lossy(&pip.stderr)));
    }
    Ok(python)
}

#[test]
fn serve_answers_a_boto3_activity_worker() {
    let python = match boto3_python() {
        Ok(p) => p,
        Err(why) => {
            skip("serve_answers_a_boto3_activity_worker", &why);
            return;
        }
    };
    let server = Server::start();
    let out = Command::new(python)
        .arg(crate::repo().join("scripts").join("serve-boto3.py"))
        .arg(server.url())
        .env("AWS_ACCESS_KEY_ID", "any-key")
        .env("AWS_SECRET_ACCESS_KEY", "any-secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "serve-boto3.py failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("serve-boto3: OK"), "{stdout}");
}

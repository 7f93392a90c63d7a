//! Mocked task results, and local handlers: the two ways the local engine gives a Task state a
//! result without calling AWS.
//!
//! # Mock files
//!
//! [`MockConfig`] reads two formats.
//!
//! **Step Functions Local's `MockConfigFile.json`** (AWS Step Functions developer guide,
//! "Configuration file for mocked service integrations"):
//!
//! ```json
//! {
//!   "StateMachines": {
//!     "MyMachine": { "TestCases": { "HappyPath": { "LambdaState": "MockedLambdaRetry" } } }
//!   },
//!   "MockedResponses": {
//!     "MockedLambdaRetry": {
//!       "0":   { "Throw": { "Error": "Lambda.ResourceNotReadyException", "Cause": "Not ready." } },
//!       "1-2": { "Throw": { "Error": "Lambda.TimeoutException", "Cause": "Timed out." } },
//!       "3":   { "Return": { "StatusCode": 200, "Payload": "Hello" } }
//!     }
//!   }
//! }
//! ```
//!
//! Invocations count from 0 per state; `"1-2"` is inclusive. Each response holds exactly one of
//! `Return` (the task's result) and `Throw` (`Error` and `Cause`, both strings). As the guide
//! requires a response for every invocation, the numbers must run from 0 without gaps or
//! overlaps.
//!
//! **The conformance harness's per-state lists**, one entry per invocation in order:
//!
//! ```json
//! { "StateName": [ {"Return": 1}, {"Throw": {"Error": "E", "Cause": "C"}},
//!                  {"Timeout": true, "Error": "States.HeartbeatTimeout"} ] }
//! ```
//!
//! (`Timeout` without `Error` means `States.Timeout`; a `Throw` whose `Error` or `Cause` is null
//! or absent reads them as empty, as [`Failure`] holds strings.) A whole conformance case file works too:
//! its `derived_task_mocks` are read. In this format the state machine and test case names are
//! not used.
//!
//! # Local handlers
//!
//! [`run_handler`] runs a program the user configured for a resource and takes its output as the
//! task's result.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::asl::path::type_name;
use serde_json::{Map, Value};
use crate::engine::{Failure, names};
use wait_timeout::ChildExt as _;

/// What a mocked Task state does on one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum MockResponse {
    /// Succeed with this result.
    Return(Value),
    /// Fail with this error and cause.
    Throw(Failure),
    /// Time out; `error` is `States.Timeout` or `States.HeartbeatTimeout`.
    Timeout { error: String },
}

/// The responses of one test case, and how many times each state has been invoked.
#[derive(Debug, Clone, Default)]
pub struct MockConfig {
    /// Per state: (first invocation, last invocation, response), sorted and contiguous from 0.
    states: HashMap<String, Vec<(u64, u64, MockResponse)>>,
    counts: HashMap<String, u64>,
    /// Where the responses came from, for messages: `test case 'X' of 'Y'` or `the mock list`.
    origin: String,
}

impl MockConfig {
    /// Reads a mock file (either format) and picks `state_machine`'s `test_case` from it.
    pub fn load(path: &Path, state_machine: &str, test_case: &str) -> Result<MockConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("could not read the mock file {}: {e}", path.display()))?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| format!("the mock file {} is not valid JSON: {e}", path.display()))?;
        MockConfig::from_value(&value, state_machine, test_case)
            .map_err(|e| format!("in the mock file {}: {e}", path.display()))
    }

    /// As [`MockConfig::load`], from parsed JSON.
    pub fn from_value(
        value: &Value,
        state_machine: &str,
        test_case: &str,
    ) -> Result<MockConfig, String> {
        let root = value
            .as_object()
            .ok_or_else(|| format!("a mock file must be a JSON object, not {}", type_name(value)))?;
        if root.contains_key("StateMachines") || root.contains_key("MockedResponses") {
            from_aws(root, state_machine, test_case)
        } else if let Some(derived) = root.get("derived_task_mocks") {
            let map = derived.as_object().ok_or_else(|| {
                format!(
                    "derived_task_mocks must be an object, not {}",
                    type_name(derived)
                )
            })?;
            from_lists(map, "derived_task_mocks")
        } else {
            from_lists(root, "")
        }
    }

    /// The response for the next invocation of `state_name`, counting the invocation.
    ///
    /// `None`: the state is not mocked; run it for real (locally). A mocked state invoked more
    /// times than it has responses gets a `States.Runtime` failure naming the missing
    /// invocation, as Step Functions Local fails the execution then.
    pub fn next_response(&mut self, state_name: &str) -> Option<MockResponse> {
        let responses = self.states.get(state_name)?;
        let count = self.counts.entry(state_name.to_string()).or_insert(0);
        let attempt = *count;
        *count += 1;
        let found = responses
            .iter()
            .find(|(first, last, _)| (*first..=*last).contains(&attempt))
            .map(|(_, _, response)| response.clone());
        Some(found.unwrap_or_else(|| {
            let defined = responses.last().map_or(0, |(_, last, _)| last + 1);
            MockResponse::Throw(Failure::runtime(format!(
                "the state '{state_name}' is mocked ({}) but has responses for {defined} \
                 invocation(s) (0-{}), and this is invocation {attempt}; add a response for it",
                self.origin,
                defined.saturating_sub(1)
            )))
        }))
    }

    /// Whether `state_name` has mocked responses.
    pub fn is_mocked(&self, state_name: &str) -> bool {
        self.states.contains_key(state_name)
    }

    /// How many times `state_name` has asked for a response.
    pub fn invocations(&self, state_name: &str) -> u64 {
        self.counts.get(state_name).copied().unwrap_or(0)
    }

    /// Forgets the invocation counts (for a new execution).
    pub fn reset(&mut self) {
        self.counts.clear();
    }
}

fn from_aws(
    root: &Map<String, Value>,
    state_machine: &str,
    test_case: &str,
) -> Result<MockConfig, String> {
    for key in root.keys() {
        if key != "StateMachines" && key != "MockedResponses" {
            return Err(format!(
                "unknown top-level field '{key}'; a mock configuration has StateMachines and \
                 MockedResponses"
            ));
        }
    }
    let machines = object_at(root, "StateMachines", "")?;
    let responses = object_at(root, "MockedResponses", "")?;

    // Every mocked response is checked, used by this test case or not.
    let mut parsed: HashMap<&str, Vec<(u64, u64, MockResponse)>> = HashMap::new();
    for (name, value) in responses {
        parsed.insert(
            name,
            parse_mocked_response(value, &format!("MockedResponses.{name}"))?,
        );
    }

    let machine = machines.get(state_machine).ok_or_else(|| {
        format!(
            "no state machine named '{state_machine}' under StateMachines (it has: {})",
            list_keys(machines)
        )
    })?;
    let machine_path = format!("StateMachines.{state_machine}");
    let machine = machine
        .as_object()
        .ok_or_else(|| format!("{machine_path} must be an object, not {}", type_name(machine)))?;
    let cases = object_at(machine, "TestCases", &machine_path)?;
    let case = cases.get(test_case).ok_or_else(|| {
        format!(
            "no test case named '{test_case}' under {machine_path}.TestCases (it has: {})",
            list_keys(cases)
        )
    })?;
    let case_path = format!("{machine_path}.TestCases.{test_case}");
    let case = case
        .as_object()
        .ok_or_else(|| format!("{case_path} must be an object, not {}", type_name(case)))?;

    let mut states = HashMap::new();
    for (state, response_name) in case {
        let Value::String(response_name) = response_name else {
            return Err(format!(
                "{case_path}.{state} must name a mocked response (a string), not {}",
                type_name(response_name)
            ));
        };
        let responses = parsed.get(response_name.as_str()).ok_or_else(|| {
            format!(
                "{case_path}.{state} names the mocked response '{response_name}', which is not \
                 under MockedResponses (it has: {})",
                list_keys(responses)
            )
        })?;
        states.insert(state.clone(), responses.clone());
    }
    Ok(MockConfig {
        states,
        counts: HashMap::new(),
        origin: format!("test case '{test_case}' of '{state_machine}'"),
    })
}

/// `{"0": {...}, "1-2": {...}}`: ranges from 0, contiguous, no overlaps.
fn parse_mocked_response(
    value: &Value,
    path: &str,
) -> Result<Vec<(u64, u64, MockResponse)>, String> {
    let map = value.as_object().ok_or_else(|| {
        format!(
            "{path} must be an object of invocation numbers, not {}",
            type_name(value)
        )
    })?;
    if map.is_empty() {
        return Err(format!("{path} has no responses; add at least \"0\""));
    }
    let mut ranges = Vec::new();
    for (numbers, response) in map {
        let (first, last) = parse_invocations(numbers).ok_or_else(|| {
            format!(
                "{path}: '{numbers}' is not an invocation number or range; use \"0\", \"1\" or \
                 an inclusive range such as \"1-2\" (invocations count from 0)"
            )
        })?;
        let response = parse_return_or_throw(response, &format!("{path}.\"{numbers}\""))?;
        ranges.push((first, last, response, numbers.clone()));
    }
    ranges.sort_by_key(|(first, last, _, _)| (*first, *last));
    let mut next = 0u64;
    for (first, last, _, numbers) in &ranges {
        if *first > next {
            return Err(format!(
                "{path} has no response for invocation {next} (the next one is '{numbers}'); \
                 every invocation from 0 on needs one"
            ));
        }
        if *first < next {
            return Err(format!(
                "{path}: '{numbers}' overlaps an earlier entry (invocation {first} is covered twice)"
            ));
        }
        next = last.saturating_add(1);
    }
    Ok(ranges.into_iter().map(|(f, l, r, _)| (f, l, r)).collect())
}

/// `"3"` → (3, 3); `"1-2"` → (1, 2).
fn parse_invocations(text: &str) -> Option<(u64, u64)> {
    let number = |s: &str| {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    match text.split_once('-') {
        None => number(text).map(|n| (n, n)),
        Some((a, b)) => {
            let (a, b) = (number(a)?, number(b)?);
            (a <= b).then_some((a, b))
        }
    }
}

fn parse_return_or_throw(value: &Value, path: &str) -> Result<MockResponse, String> {
    let map = value.as_object().ok_or_else(|| {
        format!(
            "{path} must be an object with Return or Throw, not {}",
            type_name(value)
        )
    })?;
    match (map.get("Return"), map.get("Throw"), map.len()) {
        (Some(result), None, 1) => Ok(MockResponse::Return(result.clone())),
        (None, Some(throw), 1) => parse_throw(throw, &format!("{path}.Throw"), false),
        (Some(_), Some(_), _) => Err(format!("{path} has both Return and Throw; keep one")),
        _ => Err(format!(
            "{path} must have exactly one field, Return or Throw (it has: {})",
            list_keys(map)
        )),
    }
}

/// `lenient`: `Error` and `Cause` may be null or absent (read as empty), as in the harness's
/// lists, which record AWS failures that had neither (`SendTaskFailure` without them).
fn parse_throw(value: &Value, path: &str, lenient: bool) -> Result<MockResponse, String> {
    let map = value.as_object().ok_or_else(|| {
        format!(
            "{path} must be an object with Error and Cause, not {}",
            type_name(value)
        )
    })?;
    let field = |name: &str| match map.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Null) | None if lenient => Ok(String::new()),
        Some(other) => Err(format!(
            "{path}.{name} must be a string, not {}",
            type_name(other)
        )),
        None => Err(format!("{path} needs {name} (a string)")),
    };
    Ok(MockResponse::Throw(Failure::new(
        field("Error")?,
        field("Cause")?,
    )))
}

/// The harness format: `{STATE: [entry, ...]}`.
fn from_lists(map: &Map<String, Value>, base: &str) -> Result<MockConfig, String> {
    let at = |name: &str| {
        if base.is_empty() {
            name.to_string()
        } else {
            format!("{base}.{name}")
        }
    };
    let mut states = HashMap::new();
    for (state, entries) in map {
        let list = entries.as_array().ok_or_else(|| {
            format!(
                "{} must be a list of responses, one per invocation (or use Step Functions \
                 Local's format, with StateMachines and MockedResponses), not {}",
                at(state),
                type_name(entries)
            )
        })?;
        let mut responses = Vec::with_capacity(list.len());
        for (i, entry) in list.iter().enumerate() {
            let path = format!("{}[{i}]", at(state));
            let response = parse_list_entry(entry, &path)?;
            responses.push((i as u64, i as u64, response));
        }
        states.insert(state.clone(), responses);
    }
    Ok(MockConfig {
        states,
        counts: HashMap::new(),
        origin: "the mock list".to_string(),
    })
}

fn parse_list_entry(entry: &Value, path: &str) -> Result<MockResponse, String> {
    let map = entry.as_object().ok_or_else(|| {
        format!(
            "{path} must be an object with Return, Throw or Timeout, not {}",
            type_name(entry)
        )
    })?;
    let present: Vec<&str> = ["Return", "Throw", "Timeout"]
        .into_iter()
        .filter(|k| map.contains_key(*k))
        .collect();
    match present.as_slice() {
        ["Return"] => Ok(MockResponse::Return(
            map.get("Return").cloned().unwrap_or(Value::Null),
        )),
        ["Throw"] => parse_throw(
            map.get("Throw").unwrap_or(&Value::Null),
            &format!("{path}.Throw"),
            true,
        ),
        ["Timeout"] => {
            match map.get("Timeout") {
                Some(Value::Bool(true)) => {}
                Some(other) => {
                    return Err(format!("{path}.Timeout must be true, not {other}"));
                }
                None => {}
            }
            let error = match map.get("Error") {
                None => names::TIMEOUT.to_string(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => {
                    return Err(format!(
                        "{path}.Error must be a string, not {}",
                        type_name(other)
                    ));
                }
            };
            Ok(MockResponse::Timeout { error })
        }
        [] => Err(format!(
            "{path} needs one of Return, Throw or Timeout (it has: {})",
            list_keys(map)
        )),
        many => Err(format!("{path} has {}; keep one", many.join(" and "))),
    }
}

fn object_at<'a>(
    map: &'a Map<String, Value>,
    field: &str,
    parent: &str,
) -> Result<&'a Map<String, Value>, String> {
    let path = if parent.is_empty() {
        field.to_string()
    } else {
        format!("{parent}.{field}")
    };
    match map.get(field) {
        Some(Value::Object(inner)) => Ok(inner),
        Some(other) => Err(format!("{path} must be an object, not {}", type_name(other))),
        None => Err(format!("{path} is missing")),
    }
}

fn list_keys(map: &Map<String, Value>) -> String {
    if map.is_empty() {
        return "nothing".to_string();
    }
    let mut keys: Vec<String> = map.keys().take(20).map(|k| format!("'{k}'")).collect();
    if map.len() > 20 {
        keys.push(format!("and {} more", map.len() - 20));
    }
    keys.join(", ")
}


/// The most a handler may print on stdout (its result). Step Functions passes at most 256 KiB
/// between states; this leaves room for the engine to report the size itself.
pub const MAX_HANDLER_STDOUT: usize = 4 * 1024 * 1024;
/// How much of a handler's stderr is kept for the failure's cause.
const MAX_HANDLER_STDERR: usize = 32 * 1024;

/// Runs a local handler: a program the *user* configured for a Task resource (in Stepwise's own
/// settings or on the command line), never a command named in a workflow file, which could
/// come from anyone.
///
/// `command[0]` is run directly (no shell) with `command[1..]` as its arguments. The payload
/// is written to its stdin as one line of JSON, then stdin is closed.
///
/// Conventions for the handler:
/// * **Success**: exit 0 and print the result as JSON on stdout (any JSON value; surrounding
///   whitespace is fine). Empty or non-JSON stdout is a `States.TaskFailed` failure that says so.
/// * **Failure**: exit non-zero. To choose the error name (for `Retry`/`Catch`), print
///   `{"Error": "MyError", "Cause": "what happened"}` as the last line of stderr (or as all of
///   it); `Cause` is optional. Otherwise the error is `States.TaskFailed` and the cause is the
///   stderr text (or the exit status when stderr is empty).
/// * **Time limit**: with `timeout`, a handler still running then is killed and the task fails
///   with `States.Timeout`. Only the handler process itself is killed, not processes it started;
///   if such a process keeps the handler's stdout open, the call waits for it (up to `timeout`).
pub fn run_handler(
    command: &[String],
    payload: &Value,
    timeout: Option<Duration>,
) -> Result<Value, Failure> {
    let Some((program, args)) = command.split_first() else {
        return Err(Failure::runtime(
            "the local handler's command is empty; configure a program to run",
        ));
    };
    let shown = command.join(" ");
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Failure::new(
                names::TASK_FAILED,
                format!("could not start the local handler `{shown}`: {e}; check the command in your handler settings"),
            )
        })?;

    // Feed stdin and drain stdout/stderr on their own threads, so a handler that writes a lot
    // before reading (or never reads) cannot deadlock us.
    let mut input = payload.to_string().into_bytes();
    input.push(b'\n');
    if let Some(mut stdin) = child.stdin.take() {
        thread::spawn(move || {
            // A handler that exits without reading its input closes the pipe: not our error.
            let _ = stdin.write_all(&input);
        });
    }
    let stdout = child
        .stdout
        .take()
        .map(|s| spawn_reader(s, MAX_HANDLER_STDOUT));
    let stderr = child
        .stderr
        .take()
        .map(|s| spawn_reader(s, MAX_HANDLER_STDERR));

    let status = match timeout {
        None => child.wait().map(Some),
        Some(limit) => child.wait_timeout(limit),
    }
    .map_err(|e| {
        Failure::new(
            names::TASK_FAILED,
            format!("could not wait for the local handler `{shown}`: {e}"),
        )
    })?;
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        let limit = timeout.unwrap_or_default();
        return Err(Failure::new(
            names::TIMEOUT,
            format!(
                "the local handler `{shown}` ran longer than {:.3} s and was stopped",
                limit.as_secs_f64()
            ),
        ));
    };

    let remaining = timeout.map(|limit| limit.saturating_sub(started.elapsed()));
    let out = collect(stdout, remaining);
    let err = collect(stderr, remaining.map(|_| Duration::from_millis(500)));
    let (out, out_truncated) = match out {
        Some(Ok(output)) => output,
        Some(Err(e)) => {
            return Err(Failure::new(
                names::TASK_FAILED,
                format!("could not read the output of the local handler `{shown}`: {e}"),
            ));
        }
        None => {
            return Err(Failure::new(
                names::TIMEOUT,
                format!(
                    "the local handler `{shown}` exited but a process it started kept its output \
                     open past the time limit"
                ),
            ));
        }
    };
    let err_text = match err {
        Some(Ok((bytes, _))) => String::from_utf8_lossy(&bytes).trim().to_string(),
        _ => String::new(),
    };

    if !status.success() {
        return Err(handler_failure(&shown, status, &err_text));
    }
    if out_truncated {
        return Err(Failure::new(
            names::DATA_LIMIT_EXCEEDED,
            format!(
                "the local handler `{shown}` printed more than {MAX_HANDLER_STDOUT} bytes on stdout; \
                 a state's result may be at most 256 KiB"
            ),
        ));
    }
    if out.iter().all(u8::is_ascii_whitespace) {
        return Err(Failure::new(
            names::TASK_FAILED,
            format!(
                "the local handler `{shown}` exited 0 but printed nothing on stdout; it must print \
                 its result as JSON (for no result, print {{}} or null)"
            ),
        ));
    }
    serde_json::from_slice(&out).map_err(|e| {
        let text = String::from_utf8_lossy(&out);
        let excerpt: String = text.trim().chars().take(200).collect();
        Failure::new(
            names::TASK_FAILED,
            format!(
                "the local handler `{shown}` exited 0 but its stdout is not JSON ({e}); it must \
                 print its result as JSON. It printed: {excerpt}"
            ),
        )
    })
}

/// The failure of a handler that exited non-zero, per the stderr convention.
fn handler_failure(shown: &str, status: ExitStatus, stderr: &str) -> Failure {
    let chosen = |text: &str| -> Option<Failure> {
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else {
            return None;
        };
        let Some(Value::String(error)) = map.get("Error") else {
            return None;
        };
        let cause = match map.get("Cause") {
            Some(Value::String(cause)) => cause.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        Some(Failure::new(error.clone(), cause))
    };
    if let Some(failure) = chosen(stderr) {
        return failure;
    }
    if let Some(last) = stderr.lines().rev().find(|l| !l.trim().is_empty())
        && let Some(failure) = chosen(last.trim())
    {
        return failure;
    }
    let cause = if stderr.is_empty() {
        format!("the local handler `{shown}` failed ({status}) and printed nothing on stderr")
    } else {
        stderr.to_string()
    };
    Failure::new(names::TASK_FAILED, cause)
}

type ReadResult = io::Result<(Vec<u8>, bool)>;

/// Reads `source` to its end on a thread, keeping at most `limit` bytes (and draining the
/// rest so the writer is never blocked). Sends (bytes, whether more was cut off).
fn spawn_reader<R: Read + Send + 'static>(
    mut source: R,
    limit: usize,
) -> mpsc::Receiver<ReadResult> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let result = (|| {
            let mut kept = Vec::new();
            (&mut source).take(limit as u64).read_to_end(&mut kept)?;
            let rest = io::copy(&mut source, &mut io::sink())?;
            Ok((kept, rest > 0))
        })();
        let _ = tx.send(result);
    });
    rx
}

/// What a reader thread read; `None` if it had not finished within `wait` (`None`: no limit).
fn collect(
    reader: Option<mpsc::Receiver<ReadResult>>,
    wait: Option<Duration>,
) -> Option<ReadResult> {
    let Some(reader) = reader else {
        return Some(Ok((Vec::new(), false)));
    };
    match wait {
        None => reader.recv().ok(),
        Some(wait) => reader.recv_timeout(wait).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn aws_file() -> Value {
        json!({
            "StateMachines": {
                "LambdaSQSIntegration": {
                    "TestCases": {
                        "HappyPath": {"LambdaState": "MockedLambdaSuccess", "SQSState": "MockedSQSSuccess"},
                        "RetryPath": {"LambdaState": "MockedLambdaRetry", "SQSState": "MockedSQSSuccess"}
                    }
                }
            },
            "MockedResponses": {
                "MockedLambdaSuccess": {"0": {"Return": {"StatusCode": 200, "Payload": {"body": "Hello"}}}},
                "MockedSQSSuccess": {"0": {"Return": {"MessageId": "m-1"}}},
                "MockedLambdaRetry": {
                    "0": {"Throw": {"Error": "Lambda.ResourceNotReadyException", "Cause": "Lambda resource is not ready."}},
                    "1-2": {"Throw": {"Error": "Lambda.TimeoutException", "Cause": "Lambda timed out."}},
                    "3": {"Return": {"StatusCode": 200}}
                }
            }
        })
    }

    #[test]
    fn aws_format_ranges_count_from_zero() {
        let mut m =
            MockConfig::from_value(&aws_file(), "LambdaSQSIntegration", "RetryPath").unwrap();
        let error = |r: Option<MockResponse>| match r {
            Some(MockResponse::Throw(f)) => f.error,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            error(m.next_response("LambdaState")),
            "Lambda.ResourceNotReadyException"
        );
        assert_eq!(
            error(m.next_response("LambdaState")),
            "Lambda.TimeoutException"
        );
        assert_eq!(
            error(m.next_response("LambdaState")),
            "Lambda.TimeoutException"
        );
        assert_eq!(
            m.next_response("LambdaState"),
            Some(MockResponse::Return(json!({"StatusCode": 200})))
        );
        assert_eq!(m.invocations("LambdaState"), 4);
        // Past the last response: a runtime failure that says what is missing.
        match m.next_response("LambdaState") {
            Some(MockResponse::Throw(f)) => {
                assert_eq!(f.error, names::RUNTIME);
                assert!(f.cause.contains("invocation 4"), "{}", f.cause);
            }
            other => panic!("{other:?}"),
        }
        // States counted separately; unmocked states are None.
        assert_eq!(
            m.next_response("SQSState"),
            Some(MockResponse::Return(json!({"MessageId": "m-1"})))
        );
        assert_eq!(m.next_response("Other"), None);
        assert!(m.is_mocked("SQSState") && !m.is_mocked("Other"));
        m.reset();
        assert_eq!(
            error(m.next_response("LambdaState")),
            "Lambda.ResourceNotReadyException"
        );
    }

    #[test]
    fn aws_format_errors_say_what_and_where() {
        let err = |v: Value, sm: &str, tc: &str| MockConfig::from_value(&v, sm, tc).unwrap_err();
        let e = err(aws_file(), "Nope", "HappyPath");
        assert!(
            e.contains("no state machine named 'Nope'") && e.contains("'LambdaSQSIntegration'"),
            "{e}"
        );
        let e = err(aws_file(), "LambdaSQSIntegration", "Sad");
        assert!(
            e.contains("StateMachines.LambdaSQSIntegration.TestCases") && e.contains("'HappyPath'"),
            "{e}"
        );

        let mut f = aws_file();
        f["StateMachines"]["LambdaSQSIntegration"]["TestCases"]["HappyPath"]["LambdaState"] =
            json!("Missing");
        let e = err(f, "LambdaSQSIntegration", "HappyPath");
        assert!(
            e.contains("HappyPath.LambdaState names the mocked response 'Missing'"),
            "{e}"
        );

        let cases = [
            (
                json!({"0": {"Return": 1}, "2": {"Return": 2}}),
                "no response for invocation 1",
            ),
            (json!({"1": {"Return": 1}}), "no response for invocation 0"),
            (
                json!({"0-2": {"Return": 1}, "2": {"Return": 2}}),
                "overlaps",
            ),
            (json!({"2-1": {"Return": 1}}), "not an invocation number"),
            (json!({"x": {"Return": 1}}), "not an invocation number"),
            (json!({"-1": {"Return": 1}}), "not an invocation number"),
            (
                json!({"0": {"Return": 1, "Throw": {"Error": "E", "Cause": "C"}}}),
                "both Return and Throw",
            ),
            (json!({"0": {"Retrun": 1}}), "exactly one field"),
            (json!({"0": {"Throw": {"Error": "E"}}}), "needs Cause"),
            (
                json!({"0": {"Throw": {"Error": 3, "Cause": "C"}}}),
                "Error must be a string",
            ),
            (json!({}), "no responses"),
            (json!([]), "must be an object"),
        ];
        for (response, expected) in cases {
            let mut f = aws_file();
            f["MockedResponses"]["MockedSQSSuccess"] = response.clone();
            let e = err(f, "LambdaSQSIntegration", "HappyPath");
            assert!(
                e.contains(expected) && e.contains("MockedResponses.MockedSQSSuccess"),
                "{response}: {e}"
            );
        }
        let e = err(
            json!({"StateMachines": {}, "MockedResponses": {}, "Extra": 1}),
            "a",
            "b",
        );
        assert!(e.contains("unknown top-level field 'Extra'"), "{e}");
        let e = err(json!({"StateMachines": []}), "a", "b");
        assert!(e.contains("StateMachines must be an object"), "{e}");
        let e = err(json!(7), "a", "b");
        assert!(e.contains("must be a JSON object"), "{e}");
    }

    #[test]
    fn harness_lists_one_entry_per_invocation() {
        let file = json!({
            "Task": [
                {"Return": {"ok": 1}},
                {"Throw": {"Error": "S3.NoSuchKeyException", "Cause": "gone"}, "cause_reserialized": true},
                {"Timeout": true},
                {"Timeout": true, "Error": "States.HeartbeatTimeout"}
            ]
        });
        let mut m = MockConfig::from_value(&file, "ignored", "ignored").unwrap();
        assert_eq!(
            m.next_response("Task"),
            Some(MockResponse::Return(json!({"ok": 1})))
        );
        assert_eq!(
            m.next_response("Task"),
            Some(MockResponse::Throw(Failure::new(
                "S3.NoSuchKeyException",
                "gone"
            )))
        );
        assert_eq!(
            m.next_response("Task"),
            Some(MockResponse::Timeout {
                error: "States.Timeout".into()
            })
        );
        assert_eq!(
            m.next_response("Task"),
            Some(MockResponse::Timeout {
                error: "States.HeartbeatTimeout".into()
            })
        );
        assert!(
            matches!(m.next_response("Task"), Some(MockResponse::Throw(f)) if f.error == names::RUNTIME)
        );

        // A whole conformance case file.
        let case = json!({"definition": {}, "derived_task_mocks": {"S": [{"Return": null}]}});
        let mut m = MockConfig::from_value(&case, "", "").unwrap();
        assert_eq!(
            m.next_response("S"),
            Some(MockResponse::Return(Value::Null))
        );

        for (bad, expected) in [
            (json!({"S": {"Return": 1}}), "S must be a list"),
            (
                json!({"S": [{"Return": 1, "Throw": {"Error": "E", "Cause": "C"}}]}),
                "S[0] has Return and Throw",
            ),
            (
                json!({"S": [{}]}),
                "S[0] needs one of Return, Throw or Timeout",
            ),
            (json!({"S": [{"Return": 1}, 5]}), "S[1] must be an object"),
            (
                json!({"S": [{"Timeout": "yes"}]}),
                "S[0].Timeout must be true",
            ),
            (
                json!({"S": [{"Throw": "boom"}]}),
                "S[0].Throw must be an object",
            ),
        ] {
            let e = MockConfig::from_value(&bad, "", "").unwrap_err();
            assert!(e.contains(expected), "{bad}: {e}");
        }
    }

    #[test]
    fn load_reads_files_and_reports_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("MockConfigFile.json");
        std::fs::write(&path, aws_file().to_string()).unwrap();
        let mut m = MockConfig::load(&path, "LambdaSQSIntegration", "HappyPath").unwrap();
        assert!(matches!(
            m.next_response("LambdaState"),
            Some(MockResponse::Return(_))
        ));
        std::fs::write(&path, "{ not json").unwrap();
        let e = MockConfig::load(&path, "a", "b").unwrap_err();
        assert!(
            e.contains("not valid JSON") && e.contains("MockConfigFile.json"),
            "{e}"
        );
        let e = MockConfig::load(&dir.path().join("absent.json"), "a", "b").unwrap_err();
        assert!(e.contains("could not read"), "{e}");
    }

    #[test]
    fn the_shared_corpus_mocks_all_load() {
        // Every derived_task_mocks in the conformance corpus, when it is there.
        // `shared/` sits beside the repository (../shared) or, from a scratch crate, higher up.
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let Some(areas) = ["../shared", "../../shared"]
            .iter()
            .map(|up| {
                manifest
                    .join(up)
                    .join("conformance/localstack/cases/execution")
            })
            .find_map(|root| std::fs::read_dir(root).ok())
        else {
            return;
        };
        let mut loaded = 0;
        for area in areas.flatten() {
            for case in std::fs::read_dir(area.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let text = std::fs::read_to_string(case.path()).unwrap();
                let value: Value = serde_json::from_str(&text).unwrap();
                if value
                    .get("derived_task_mocks")
                    .is_some_and(|m| m.is_object())
                {
                    MockConfig::from_value(&value, "", "")
                        .unwrap_or_else(|e| panic!("{}: {e}", case.path().display()));
                    loaded += 1;
                }
            }
        }
        assert!(loaded > 0);
    }

    #[cfg(unix)]
    mod handlers {
        use super::*;

        fn cmd(parts: &[&str]) -> Vec<String> {
            parts.iter().map(|s| s.to_string()).collect()
        }

        #[test]
        fn cat_echoes_the_payload() {
            let payload: Value =
                serde_json::from_str(r#"{"a": [1, 2.50, "é"], "b": null}"#).unwrap();
            let out = run_handler(&cmd(&["cat"]), &payload, Some(Duration::from_secs(10))).unwrap();
            assert_eq!(out, payload);
            assert_eq!(out["a"][1].to_string(), "2.50", "numbers keep their text");
        }

        #[test]
        fn non_zero_exit_is_task_failed() {
            let e = run_handler(&cmd(&["false"]), &json!({}), None).unwrap_err();
            assert_eq!(e.error, names::TASK_FAILED);
            assert!(
                e.cause.contains("`false` failed") && e.cause.contains("nothing on stderr"),
                "{}",
                e.cause
            );
        }

        #[test]
        fn stderr_chooses_the_error() {
            // `ls` of a missing path writes to stderr and exits non-zero.
            let e =
                run_handler(&cmd(&["ls", "/definitely/not/here"]), &json!({}), None).unwrap_err();
            assert_eq!(e.error, names::TASK_FAILED);
            assert!(e.cause.contains("/definitely/not/here"), "{}", e.cause);

            // `tee /dev/stderr /missing/file` copies the payload to stderr after complaining
            // about the missing file, then exits 1: the payload line is stderr's last line.
            let chosen = json!({"Error": "Custom.Boom", "Cause": "it broke"});
            let e = run_handler(
                &cmd(&["tee", "/dev/stderr", "/missing/dir/file"]),
                &chosen,
                Some(Duration::from_secs(10)),
            )
            .unwrap_err();
            assert_eq!(e, Failure::new("Custom.Boom", "it broke"));

            let payload_text = "{\"Error\": \"Custom.Boom\", \"Cause\": \"it broke\"}";
            let failure =
                handler_failure("h", exit_status(1), &format!("log line\n{payload_text}"));
            assert_eq!(failure, Failure::new("Custom.Boom", "it broke"));
            let failure = handler_failure("h", exit_status(1), "{\n  \"Error\": \"Pretty\"\n}");
            assert_eq!(failure, Failure::new("Pretty", ""));
            let failure = handler_failure("h", exit_status(1), "{\"NotError\": 1}");
            assert_eq!(failure.error, names::TASK_FAILED);
        }

        fn exit_status(code: i32) -> ExitStatus {
            use std::os::unix::process::ExitStatusExt;
            ExitStatus::from_raw(code << 8)
        }

        #[test]
        fn non_json_stdout_is_a_failure_that_says_so() {
            let e = run_handler(&cmd(&["echo", "hello"]), &json!({}), None).unwrap_err();
            assert_eq!(e.error, names::TASK_FAILED);
            assert!(
                e.cause.contains("not JSON") && e.cause.contains("hello"),
                "{}",
                e.cause
            );
            let e = run_handler(&cmd(&["true"]), &json!({}), None).unwrap_err();
            assert!(e.cause.contains("printed nothing"), "{}", e.cause);
        }

        #[test]
        fn timeout_kills_the_handler() {
            let started = Instant::now();
            let e = run_handler(
                &cmd(&["sleep", "30"]),
                &json!({}),
                Some(Duration::from_millis(200)),
            )
            .unwrap_err();
            assert_eq!(e.error, names::TIMEOUT);
            assert!(started.elapsed() < Duration::from_secs(10));
        }

        #[test]
        fn missing_program_and_empty_command() {
            let e = run_handler(&cmd(&["/no/such/program"]), &json!({}), None).unwrap_err();
            assert_eq!(e.error, names::TASK_FAILED);
            assert!(e.cause.contains("could not start"), "{}", e.cause);
            let e = run_handler(&[], &json!({}), None).unwrap_err();
            assert_eq!(e.error, names::RUNTIME);
        }

        #[test]
        fn a_handler_that_ignores_stdin_still_works() {
            // `echo` never reads its input; a large payload must not block us.
            let big = json!({"data": "x".repeat(1 << 20)});
            let out = run_handler(
                &cmd(&["echo", "[1,2]"]),
                &big,
                Some(Duration::from_secs(10)),
            )
            .unwrap();
            assert_eq!(out, json!([1, 2]));
        }

        #[test]
        fn a_large_result_is_read_fully() {
            let big = json!({"data": "y".repeat(300_000)});
            let out = run_handler(&cmd(&["cat"]), &big, Some(Duration::from_secs(10))).unwrap();
            assert_eq!(out, big);
        }
    }
}

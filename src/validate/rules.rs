//! The checks, one function per concern: scopes and their graph, states and their fields,
//! Retry/Catch, Choice rules, paths and templates, Map settings, EXPRESS restrictions.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use serde_json::{Map, Value};

use super::fields::{self, FieldType};
use super::{MachineType, Validator, is_int_at_least};
use crate::asl::diagnostic::{codes, pointer_push};
use crate::asl::model::{self, QueryLanguage, Scope, StateType};
use crate::asl::{intrinsic, jsonata, path};

/// Nesting of Parallel/Map scopes deeper than this is refused (AWS's limit on nested
/// branches and processors).
const MAX_SCOPE_DEPTH: usize = 40;
const MAX_STATE_NAME_CHARS: usize = 80;
const MAX_LABEL_CHARS: usize = 40;
/// A year and a day, AWS's cap on a retrier's MaxDelaySeconds.
const MAX_DELAY_SECONDS: u64 = 31_622_400;

impl Validator<'_> {
    pub(super) fn scope(&mut self, scope: &Scope<'_>) {
        let sp = &scope.pointer;
        if scope.depth > MAX_SCOPE_DEPTH {
            self.error(codes::TOO_DEEPLY_NESTED, sp, format!("Parallel and Map states are nested more than {MAX_SCOPE_DEPTH} levels deep."));
            return;
        }
        let Some(obj) = scope.value.as_object() else {
            self.schema(sp, "A branch or processor must be an object with \"StartAt\" and \"States\".");
            return;
        };
        let start = obj.get("StartAt");
        let states = obj.get("States");
        let mut missing = Vec::new();
        if states.is_none() {
            missing.push("States");
        }
        if start.is_none() {
            missing.push("StartAt");
        }
        if !missing.is_empty() {
            self.schema(
                if sp.is_empty() { "/" } else { sp.as_str() },
                format!("These fields are required: [{}]", missing.join(", ")),
            );
        }
        if !sp.is_empty() {
            for (k, _) in obj {
                match k.as_str() {
                    "StartAt" | "States" | "Comment" => {}
                    // AWS also takes ProcessorConfig in the legacy Iterator.
                    "ProcessorConfig" if sp.ends_with("/ItemProcessor") || sp.ends_with("/Iterator") => {}
                    _ => self.schema(pointer_push(sp, k), format!("The field '{k}' is not supported here.")),
                }
            }
        }
        let Some(states) = states else { return };
        let Some(states) = states.as_object() else {
            self.schema(pointer_push(sp, "States"), "States must be an object of named states.");
            return;
        };
        if states.is_empty() {
            self.schema(pointer_push(sp, "States"), "States must hold at least one state.");
        }
        let start = match start {
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                self.schema(pointer_push(sp, "StartAt"), "StartAt must be the name of a state.");
                None
            }
            None => None,
        };
        if let Some(s) = start
            && !states.contains_key(s) {
                self.error(
                    codes::MISSING_TRANSITION_TARGET,
                    pointer_push(sp, "StartAt"),
                    format!("Missing 'Next' target: StartAt names \"{s}\", which is not a state in this scope."),
                );
            }
        for (name, state) in states {
            self.state(scope, name, state);
        }
        self.graph(scope, states, start);
    }

    /// Targets exist in the scope, every state is reachable, and the scope can end.
    fn graph(&mut self, scope: &Scope<'_>, states: &Map<String, Value>, start: Option<&str>) {
        let mut has_terminal = false;
        // Transitions are worked out once, as indices into `edges`, and reused for reachability.
        let names: Vec<&str> = states.keys().map(String::as_str).collect();
        let index: FxHashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let mut edges: Vec<Vec<usize>> = Vec::with_capacity(states.len());
        for (name, state) in states {
            let mut out = Vec::new();
            for t in model::transitions(state) {
                match index.get(t.target) {
                    Some(&i) => out.push(i),
                    None => {
                        let elsewhere = model::find_state(&self.doc.root, t.target).is_some();
                        let why = if elsewhere {
                            " It exists in another scope, but a transition cannot leave its Parallel branch or Map processor."
                        } else {
                            ""
                        };
                        self.error(
                            codes::MISSING_TRANSITION_TARGET,
                            t.pointer(&scope.state_pointer(name)),
                            format!("Missing 'Next' target: \"{}\" is not a state in this scope.{why}", t.target),
                        );
                    }
                }
            }
            edges.push(out);
            match model::state_type(state) {
                Some(t) if t.is_terminal() => has_terminal = true,
                Some(_) if state.get("End") == Some(&Value::Bool(true)) => has_terminal = true,
                _ => {}
            }
        }
        if !states.is_empty() && !has_terminal {
            self.error(
                codes::MISSING_END_STATE,
                pointer_push(&scope.pointer, "States"),
                "Workflow has no terminal state: give one state \"End\": true, or add a Succeed or Fail state.",
            );
        }
        let Some(&start_index) = start.and_then(|s| index.get(s)) else { return };
        let mut reached = vec![false; names.len()];
        reached[start_index] = true;
        let mut queue = VecDeque::from([start_index]);
        while let Some(n) = queue.pop_front() {
            for &t in &edges[n] {
                if !reached[t] {
                    reached[t] = true;
                    queue.push_back(t);
                }
            }
        }
        let start = names[start_index];
        for (i, name) in names.iter().enumerate() {
            if !reached[i] {
                self.error(
                    codes::UNREACHABLE_STATE,
                    scope.state_pointer(name),
                    format!("State \"{name}\" is not reachable: no transition leads to it from \"{start}\". Connect it or delete it."),
                );
            }
        }
    }

    fn state(&mut self, scope: &Scope<'_>, name: &str, state: &Value) {
        let sp = scope.state_pointer(name);
        if name.chars().count() > MAX_STATE_NAME_CHARS {
            self.error(codes::INVALID_STATE_NAME, &sp, format!("State names are at most {MAX_STATE_NAME_CHARS} characters; \"{name}\" has {}.", name.chars().count()));
        }
        if name.is_empty() {
            self.error(codes::INVALID_STATE_NAME, &sp, "A state name cannot be empty.");
        }
        if name.chars().any(|c| c.is_control()) {
            self.error(codes::INVALID_STATE_NAME, &sp, "State names cannot contain control characters.");
        }
        let Some(obj) = state.as_object() else {
            self.schema(&sp, "A state must be an object with a \"Type\".");
            return;
        };
        let Some(type_value) = obj.get("Type") else {
            self.schema(&sp, "These fields are required: [Type]");
            return;
        };
        let Some(kind) = type_value.as_str().and_then(StateType::from_name) else {
            self.schema(
                pointer_push(&sp, "Type"),
                format!("{type_value} is not a state type; use one of Task, Pass, Choice, Wait, Succeed, Fail, Parallel, Map."),
            );
            return;
        };
        let ql = match obj.get("QueryLanguage") {
            None => scope.query_language,
            Some(v) => match v.as_str().and_then(QueryLanguage::from_name) {
                Some(q) => {
                    if self.top_query_language() == QueryLanguage::Jsonata && q == QueryLanguage::JsonPath {
                        // AWS is recorded refusing this for top-level states; for nested ones
                        // the evidence is that it is accepted, so warn there.
                        let msg = "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for the whole state machine.";
                        if scope.depth == 0 {
                            self.schema(pointer_push(&sp, "QueryLanguage"), msg);
                        } else {
                            self.warning(codes::SCHEMA_VALIDATION_FAILED, pointer_push(&sp, "QueryLanguage"), msg);
                        }
                    }
                    q
                }
                None => {
                    self.schema(pointer_push(&sp, "QueryLanguage"), "QueryLanguage must be \"JSONPath\" or \"JSONata\".");
                    scope.query_language
                }
            },
        };
        for (field, value) in obj {
            let fp = pointer_push(&sp, field);
            match fields::state_field(field) {
                Some(spec) if spec.states.contains(&kind) && spec.lang.allows(ql) => {
                    self.field_value(&fp, field, spec.ty, value, ql);
                }
                Some(spec) if spec.states.contains(&kind) => {
                    let other = if ql == QueryLanguage::Jsonata { "JSONPath" } else { "JSONata" };
                    self.schema(
                        &fp,
                        format!("The field '{field}' is only supported in {other} states; this state uses {}.", ql.name()),
                    );
                }
                _ => self.schema(&fp, format!("The field '{field}' is not supported by a {} state.", kind.name())),
            }
        }
        self.flow(&sp, kind, obj);
        match kind {
            StateType::Task => self.task(&sp, obj),
            StateType::Choice => self.choice(&sp, obj, ql),
            StateType::Wait => self.wait(&sp, obj, ql),
            StateType::Fail => {
                self.exclusive(&sp, obj, &["Error", "ErrorPath"]);
                self.exclusive(&sp, obj, &["Cause", "CausePath"]);
            }
            StateType::Parallel => {
                match obj.get("Branches").and_then(Value::as_array) {
                    Some(b) if !b.is_empty() => {
                        for (i, branch) in b.iter().enumerate() {
                            if !branch.is_object() {
                                self.schema(format!("{sp}/Branches/{i}"), "Each branch must be an object with \"StartAt\" and \"States\".");
                            }
                        }
                    }
                    Some(_) => self.schema(pointer_push(&sp, "Branches"), "A Parallel state needs at least one branch."),
                    None if obj.contains_key("Branches") => {}
                    None => self.schema(&sp, "These fields are required: [Branches]"),
                }
            }
            StateType::Map => self.map(&sp, obj),
            StateType::Pass => {
                if let Some(r) = obj.get("Result")
                    && has_dollar_key(r) {
                        self.warning(
                            codes::PASS_RESULT_IS_STATIC,
                            pointer_push(&sp, "Result"),
                            "Result is static: keys ending in \".$\" are not evaluated here. Use Parameters to select from the input.",
                        );
                    }
            }
            StateType::Succeed => {}
        }
        if kind.has_retry_catch() {
            self.retry_catch(&sp, obj, ql);
        }
        if let Some(a) = obj.get("Assign") {
            self.assign(&pointer_push(&sp, "Assign"), a, ql);
        }
    }

    /// `Next` xor `End` for the states that flow on.
    fn flow(&mut self, sp: &str, kind: StateType, obj: &Map<String, Value>) {
        if !kind.needs_next_or_end() {
            return;
        }
        let end = obj.get("End");
        match (obj.get("Next"), end) {
            (Some(_), Some(Value::Bool(true))) => {
                self.schema(sp, "A state has either \"Next\" or \"End\": true, not both.");
            }
            (None, None) | (None, Some(Value::Bool(false))) => self.error(
                codes::MISSING_TRANSITION_TARGET,
                sp,
                "This state has no transition: add \"Next\" with the state to go to, or \"End\": true.",
            ),
            _ => {}
        }
    }

    fn exclusive(&mut self, sp: &str, obj: &Map<String, Value>, names: &[&str]) -> usize {
        let present: Vec<&str> = names.iter().copied().filter(|n| obj.contains_key(*n)).collect();
        if present.len() > 1 {
            self.schema(sp, format!("Use only one of {}; this state has {}.", names.join(", "), present.join(" and ")));
        }
        present.len()
    }

    fn task(&mut self, sp: &str, obj: &Map<String, Value>) {
        self.exclusive(sp, obj, &["TimeoutSeconds", "TimeoutSecondsPath"]);
        self.exclusive(sp, obj, &["HeartbeatSeconds", "HeartbeatSecondsPath"]);
        if let (Some(t), Some(h)) = (
            obj.get("TimeoutSeconds").and_then(Value::as_u64),
            obj.get("HeartbeatSeconds").and_then(Value::as_u64),
        )
            && h >= t {
                self.schema(
                    pointer_push(sp, "HeartbeatSeconds"),
                    format!("HeartbeatSeconds ({h}) must be smaller than TimeoutSeconds ({t})."),
                );
            }
        match obj.get("Resource") {
            None => self.schema(sp, "These fields are required: [Resource]"),
            Some(Value::String(r)) => self.resource(&pointer_push(sp, "Resource"), r),
            Some(Value::Object(o)) if o.len() == 1 && o.keys().all(|k| k == "Ref" || k.starts_with("Fn::")) => self.warning(
                codes::INVALID_RESOURCE,
                pointer_push(sp, "Resource"),
                "Resource is a CloudFormation intrinsic; it must resolve to an ARN string before the definition reaches AWS.",
            ),
            Some(_) => self.schema(pointer_push(sp, "Resource"), "Resource must be an ARN string."),
        }
        if let Some(c) = obj.get("Credentials").and_then(Value::as_object) {
            let cp = pointer_push(sp, "Credentials");
            if !c.contains_key("RoleArn") && !c.contains_key("RoleArn.$") {
                self.schema(&cp, format!("The field 'RoleArn' is required but was missing at {cp}"));
            }
        }
    }

    fn resource(&mut self, rp: &str, r: &str) {
        if jsonata::template_body(r).is_some() {
            return;
        }
        if let Some(problem) = placeholder_problem(r) {
            self.error(codes::INVALID_RESOURCE, rp, problem);
            return;
        }
        if !r.starts_with("arn:") {
            if !r.contains("${") {
                // Other validators' fixtures use stand-ins like "foo:bar"; AWS itself refuses a
                // Resource that is not an ARN when the machine is created, so say so clearly
                // without failing the file, which may still be a template.
                self.warning(
                    codes::INVALID_RESOURCE,
                    rp,
                    format!("Resource \"{r}\" is not an ARN; AWS will refuse it at deploy time. Use an activity, Lambda function or service integration ARN such as arn:aws:states:::lambda:invoke."),
                );
            }
            return;
        }
        if let Err(why) = check_arn(r) {
            self.error(codes::INVALID_RESOURCE, rp, format!("Resource \"{r}\" is not a valid ARN: {why}."));
            return;
        }
        if self.options.kind == MachineType::Express {
            let parts: Vec<&str> = r.splitn(6, ':').collect();
            let what = if parts.len() == 6 && parts[2] == "states" && parts[5].starts_with("activity:") {
                Some("Activity ARN")
            } else if r.ends_with(".sync") || r.contains(".sync:") {
                Some("'.sync' service integration")
            } else if r.ends_with(".waitForTaskToken") {
                Some("'.waitForTaskToken' service integration")
            } else {
                None
            };
            if let Some(what) = what {
                self.schema(rp, format!("Express state machine does not support {what}. Use a STANDARD state machine for long-running and callback tasks."));
            }
        }
    }

    fn wait(&mut self, sp: &str, obj: &Map<String, Value>, ql: QueryLanguage) {
        let n = self.exclusive(sp, obj, &["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]);
        if n == 0 {
            self.schema(sp, "A Wait state needs exactly one of Seconds, SecondsPath, Timestamp or TimestampPath.");
        }
        if let Some(Value::String(ts)) = obj.get("Timestamp")
            && !(ql == QueryLanguage::Jsonata && jsonata::template_body(ts).is_some()) && !is_rfc3339(ts) {
                self.schema(
                    pointer_push(sp, "Timestamp"),
                    format!("String does not match RFC3339 timestamp at {}: write it like 2026-03-14T01:59:00Z.", pointer_push(sp, "Timestamp")),
                );
            }
    }

    fn map(&mut self, sp: &str, obj: &Map<String, Value>) {
        if self.exclusive(sp, obj, &["ItemProcessor", "Iterator"]) == 0 {
            self.schema(sp, "These fields are required: [ItemProcessor]");
        }
        self.exclusive(sp, obj, &["MaxConcurrency", "MaxConcurrencyPath"]);
        self.exclusive(sp, obj, &["ToleratedFailureCount", "ToleratedFailureCountPath"]);
        self.exclusive(sp, obj, &["ToleratedFailurePercentage", "ToleratedFailurePercentagePath"]);
        self.exclusive(sp, obj, &["ItemsPath", "Items"]);
        self.exclusive(sp, obj, &["ItemSelector", "Parameters"]);
        if let Some(p) = obj.get("ToleratedFailurePercentage").and_then(Value::as_f64)
            && !(0.0..=100.0).contains(&p) {
                self.schema(pointer_push(sp, "ToleratedFailurePercentage"), "ToleratedFailurePercentage must be between 0 and 100.");
            }
        let mut distributed = false;
        if let Some(ip) = obj.get("ItemProcessor").and_then(Value::as_object) {
            let pp = pointer_push(&pointer_push(sp, "ItemProcessor"), "ProcessorConfig");
            if let Some(pc) = ip.get("ProcessorConfig") {
                match pc.as_object() {
                    None => self.schema(&pp, "ProcessorConfig must be an object such as {\"Mode\": \"INLINE\"}."),
                    Some(pc) => {
                        for (k, v) in pc {
                            let kp = pointer_push(&pp, k);
                            match (k.as_str(), v.as_str()) {
                                ("Mode", Some("INLINE")) => {}
                                ("Mode", Some("DISTRIBUTED")) => distributed = true,
                                ("Mode", _) => self.schema(&kp, "Mode must be \"INLINE\" or \"DISTRIBUTED\"."),
                                ("ExecutionType", Some("STANDARD" | "EXPRESS")) => {}
                                ("ExecutionType", _) => self.schema(&kp, "ExecutionType must be \"STANDARD\" or \"EXPRESS\"."),
                                _ => self.schema(&kp, format!("The field '{k}' is not supported in ProcessorConfig.")),
                            }
                        }
                        if distributed && !pc.contains_key("ExecutionType") {
                            self.schema(&pp, "A DISTRIBUTED Map needs ProcessorConfig.ExecutionType (STANDARD or EXPRESS).");
                        }
                    }
                }
            }
        }
        if let Some(label) = obj.get("Label").and_then(Value::as_str) {
            let lp = pointer_push(sp, "Label");
            if label.is_empty() {
                self.error(codes::INVALID_LABEL_NAME, &lp, "Label cannot be empty; remove it or give the Map a name.");
            }
            if label.chars().count() > MAX_LABEL_CHARS {
                self.error(codes::INVALID_LABEL_NAME, &lp, format!("Label is {} characters long; at most {MAX_LABEL_CHARS} are allowed.", label.chars().count()));
            }
            if let Some(c) = label.chars().find(|c| is_forbidden_label_char(*c)) {
                self.error(codes::INVALID_LABEL_NAME, &lp, format!("Label contains invalid character: {c:?}. Labels cannot hold spaces, control characters or any of < > {{ }} [ ] ? * \" # % \\ ^ | ~ ` $ & , ; : /."));
            }
        }
        for (field, pairs) in [
            ("ItemBatcher", &[("MaxItemsPerBatch", "MaxItemsPerBatchPath"), ("MaxInputBytesPerBatch", "MaxInputBytesPerBatchPath")][..]),
            ("ItemReader", &[][..]),
        ] {
            if let Some(o) = obj.get(field).and_then(Value::as_object) {
                let fp = pointer_push(sp, field);
                for (a, b) in pairs {
                    self.exclusive(&fp, o, &[a, b]);
                }
                if let Some(rc) = o.get("ReaderConfig").and_then(Value::as_object) {
                    self.exclusive(&pointer_push(&fp, "ReaderConfig"), rc, &["MaxItems", "MaxItemsPath"]);
                }
            }
        }
        if let Some(wc) = obj.get("ResultWriter").and_then(|w| w.get("WriterConfig")).and_then(Value::as_object)
            && !wc.contains_key("OutputType") {
                self.schema(format!("{sp}/ResultWriter/WriterConfig"), "These fields are required: [OutputType]");
            }
        if let Some(ir) = obj.get("ItemReader").and_then(Value::as_object) {
            if let Some(Value::String(r)) = ir.get("Resource") {
                self.resource(&pointer_push(&pointer_push(sp, "ItemReader"), "Resource"), r);
            } else if !ir.contains_key("Resource") {
                self.schema(pointer_push(sp, "ItemReader"), "These fields are required: [Resource]");
            }
        }
    }

    fn retry_catch(&mut self, sp: &str, obj: &Map<String, Value>, ql: QueryLanguage) {
        for field in ["Retry", "Catch"] {
            let Some(list) = obj.get(field).and_then(Value::as_array) else { continue };
            let lp = pointer_push(sp, field);
            let n = list.len();
            for (i, item) in list.iter().enumerate() {
                let ip = pointer_push(&lp, &i.to_string());
                let Some(it) = item.as_object() else {
                    self.schema(&ip, format!("Each {field} entry must be an object."));
                    continue;
                };
                match it.get("ErrorEquals").and_then(Value::as_array) {
                    None => self.schema(&ip, "These fields are required: [ErrorEquals]"),
                    Some(errs) => {
                        let ep = pointer_push(&ip, "ErrorEquals");
                        if errs.is_empty() {
                            self.schema(&ep, "ErrorEquals must name at least one error.");
                        }
                        if errs.iter().any(|e| !e.is_string()) {
                            self.schema(&ep, "ErrorEquals must be a list of error names (strings).");
                        }
                        if errs.iter().any(|e| e == "States.ALL") {
                            if errs.len() > 1 {
                                self.schema(&ep, "States.ALL must appear alone in ErrorEquals.");
                            }
                            if i + 1 != n {
                                self.schema(&ep, format!("States.ALL must be in the last {field} entry."));
                            }
                        }
                    }
                }
                for (k, v) in it {
                    let kp = pointer_push(&ip, k);
                    match (field, k.as_str()) {
                        (_, "ErrorEquals") | (_, "Comment") => {}
                        ("Retry", "IntervalSeconds") => {
                            if !is_int_at_least(v, 1) {
                                self.schema(&kp, "IntervalSeconds must be a positive whole number.");
                            }
                        }
                        ("Retry", "MaxDelaySeconds") => {
                            if !is_int_at_least(v, 1) || v.as_u64().is_some_and(|d| d > MAX_DELAY_SECONDS) {
                                self.schema(&kp, format!("MaxDelaySeconds must be a whole number from 1 to {MAX_DELAY_SECONDS}."));
                            }
                        }
                        ("Retry", "MaxAttempts") => {
                            if !is_int_at_least(v, 0) {
                                self.schema(&kp, "MaxAttempts must be a whole number, 0 or more.");
                            }
                        }
                        ("Retry", "BackoffRate") => {
                            if !v.as_f64().is_some_and(|b| b >= 1.0) {
                                self.schema(&kp, "BackoffRate must be a number of at least 1.0.");
                            }
                        }
                        ("Retry", "JitterStrategy") => {
                            if !matches!(v.as_str(), Some("FULL" | "NONE")) {
                                self.schema(&kp, "JitterStrategy must be \"FULL\" or \"NONE\".");
                            }
                        }
                        ("Catch", "Next") => self.expect_string(&kp, k, v),
                        ("Catch", "ResultPath") if ql == QueryLanguage::JsonPath => {
                            self.field_value(&kp, k, FieldType::ResultPath, v, ql)
                        }
                        ("Catch", "Output") if ql == QueryLanguage::Jsonata => self.field_value(&kp, k, FieldType::JsonataValue, v, ql),
                        ("Catch", "Assign") => self.assign(&kp, v, ql),
                        _ => self.schema(&kp, format!("The field '{k}' is not supported in a {field} entry.")),
                    }
                }
                if field == "Catch" && !it.contains_key("Next") {
                    self.schema(&ip, "These fields are required: [Next]");
                }
            }
        }
    }

    fn choice(&mut self, sp: &str, obj: &Map<String, Value>, ql: QueryLanguage) {
        match obj.get("Choices").and_then(Value::as_array) {
            None if !obj.contains_key("Choices") => self.schema(sp, "These fields are required: [Choices]"),
            None => {}
            Some(rules) => {
                if rules.is_empty() {
                    self.schema(pointer_push(sp, "Choices"), "A Choice state needs at least one rule.");
                }
                for (i, r) in rules.iter().enumerate() {
                    let rp = format!("{sp}/Choices/{i}");
                    self.choice_rule(&rp, r, ql, true);
                }
            }
        }
    }

    fn choice_rule(&mut self, rp: &str, rule: &Value, ql: QueryLanguage, top: bool) {
        let Some(r) = rule.as_object() else {
            self.schema(rp, "A Choice rule must be an object.");
            return;
        };
        if top && !r.contains_key("Next") {
            self.schema(rp, "These fields are required: [Next]");
        }
        if ql == QueryLanguage::Jsonata {
            for (k, v) in r {
                let kp = pointer_push(rp, k);
                match k.as_str() {
                    "Next" if top => self.expect_string(&kp, k, v),
                    "Comment" => self.expect_string(&kp, k, v),
                    "Condition" => match v {
                        Value::Bool(_) => {}
                        Value::String(s) => self.jsonata_string(&kp, s, true),
                        _ => self.schema(&kp, "Condition must be a JSONata expression in {% %} or a boolean."),
                    },
                    "Output" if top => self.field_value(&kp, k, FieldType::JsonataValue, v, ql),
                    "Assign" if top => self.assign(&kp, v, ql),
                    _ => self.schema(&kp, format!("The field '{k}' is not supported in a JSONata Choice rule.")),
                }
            }
            if !r.contains_key("Condition") {
                self.schema(rp, "These fields are required: [Condition]");
            }
            return;
        }
        let mut operators = Vec::new();
        for (k, v) in r {
            let kp = pointer_push(rp, k);
            match k.as_str() {
                "Next" if top => self.expect_string(&kp, k, v),
                "Assign" if top => self.assign(&kp, v, ql),
                "Comment" => self.expect_string(&kp, k, v),
                "Variable" => match v.as_str() {
                    Some(s) => self.path(&kp, k, s, PathRule::Path),
                    None => self.schema(&kp, "Variable must be a JSONPath string such as \"$.status\"."),
                },
                "And" | "Or" => {
                    operators.push(k.as_str());
                    match v.as_array() {
                        Some(list) if !list.is_empty() => {
                            for (j, sub) in list.iter().enumerate() {
                                self.choice_rule(&pointer_push(&kp, &j.to_string()), sub, ql, false);
                            }
                        }
                        _ => self.schema(&kp, format!("{k} must be a non-empty list of rules.")),
                    }
                }
                "Not" => {
                    operators.push("Not");
                    self.choice_rule(&kp, v, ql, false);
                }
                op => match fields::comparison(op) {
                    Some(ty) => {
                        operators.push(op);
                        self.comparison_value(&kp, op, ty, v);
                    }
                    None => self.schema(&kp, format!("The field '{k}' is not supported in a Choice rule.")),
                },
            }
        }
        let boolean = operators.iter().any(|o| matches!(*o, "And" | "Or" | "Not"));
        if operators.is_empty() {
            self.schema(rp, "A Choice rule needs one comparison operator (such as StringEquals) or And, Or, Not.");
        } else if operators.len() > 1 {
            self.schema(rp, format!("A Choice rule has exactly one operator; this one has {}.", operators.join(", ")));
        } else if boolean && r.contains_key("Variable") {
            self.schema(pointer_push(rp, "Variable"), "A rule with And, Or or Not has no Variable.");
        } else if !boolean && !r.contains_key("Variable") {
            self.schema(rp, "These fields are required: [Variable]");
        }
    }

    fn comparison_value(&mut self, kp: &str, op: &str, ty: FieldType, v: &Value) {
        let ok = match ty {
            FieldType::String => v.is_string(),
            FieldType::Number => v.is_number(),
            FieldType::Bool => v.is_boolean(),
            FieldType::RefPath => {
                if let Some(s) = v.as_str() {
                    self.path(kp, op, s, PathRule::Path);
                    true
                } else {
                    false
                }
            }
            _ => true,
        };
        if !ok {
            let what = match ty {
                FieldType::String => "a string",
                FieldType::Number => "a number",
                FieldType::Bool => "true or false",
                _ => "a JSONPath string",
            };
            self.schema(kp, format!("{op} compares with {what}."));
            return;
        }
        if op.starts_with("Timestamp") && !op.ends_with("Path")
            && let Some(s) = v.as_str()
                && !is_rfc3339(s) {
                    self.schema(kp, format!("String does not match RFC3339 timestamp at {kp}."));
                }
    }

    fn assign(&mut self, ap: &str, v: &Value, ql: QueryLanguage) {
        let Some(obj) = v.as_object() else {
            self.schema(ap, "Assign must be an object of variable names and values.");
            return;
        };
        for (k, val) in obj {
            let name = k.strip_suffix(".$").unwrap_or(k);
            let kp = pointer_push(ap, k);
            if name.is_empty() {
                self.schema(&kp, "A variable name cannot be empty.");
            }
            match ql {
                QueryLanguage::Jsonata => self.jsonata_value(&kp, val),
                QueryLanguage::JsonPath => self.template_entry(&kp, k, val),
            }
        }
    }

    /// Checks one field's value against its declared type.
    pub(super) fn field_value(&mut self, fp: &str, name: &str, ty: FieldType, v: &Value, ql: QueryLanguage) {
        if ql == QueryLanguage::Jsonata
            && let Value::String(s) = v
                && jsonata::template_body(s).is_some()
                    && matches!(ty, FieldType::PosInt | FieldType::NonNegInt | FieldType::Number | FieldType::String | FieldType::Bool)
                {
                    self.jsonata_string(fp, s, true);
                    return;
                }
        match ty {
            FieldType::String => self.expect_string(fp, name, v),
            FieldType::Bool => {
                if !v.is_boolean() {
                    self.schema(fp, format!("{name} must be true or false."));
                }
            }
            FieldType::PosInt => self.expect_pos_int(fp, name, v),
            FieldType::NonNegInt => {
                if !is_int_at_least(v, 0) {
                    self.schema(fp, format!("{name} must be a whole number, 0 or more."));
                }
            }
            FieldType::Number => {
                if !v.is_number() {
                    self.schema(fp, format!("{name} must be a number."));
                }
            }
            FieldType::Object => {
                if !v.is_object() {
                    self.schema(fp, format!("{name} must be an object."));
                }
            }
            FieldType::Array => {
                if !v.is_array() {
                    self.schema(fp, format!("{name} must be a list."));
                }
            }
            FieldType::Any => {}
            FieldType::PathOrNull | FieldType::ResultPath | FieldType::RefPath | FieldType::RefPathOrIntrinsic => match v {
                Value::Null if matches!(ty, FieldType::PathOrNull | FieldType::ResultPath) => {}
                Value::String(s) => {
                    let rule = match ty {
                        FieldType::PathOrNull => PathRule::Path,
                        FieldType::ResultPath => PathRule::ResultPath,
                        FieldType::RefPathOrIntrinsic => PathRule::ReferenceOrIntrinsic,
                        _ => PathRule::Reference,
                    };
                    self.path(fp, name, s, rule);
                }
                _ => self.schema(fp, format!("{name} must be a JSONPath string{}.", if matches!(ty, FieldType::RefPath | FieldType::RefPathOrIntrinsic) { "" } else { " or null" })),
            },
            FieldType::PayloadTemplate => match v {
                Value::Object(o) => self.template(fp, o),
                _ if name == "Parameters" || name == "ItemSelector" => {
                    // AWS accepts any JSON for these and passes it through as is.
                }
                _ => self.schema(fp, format!("{name} must be an object.")),
            },
            FieldType::JsonataValue => self.jsonata_value(fp, v),
        }
    }

    /// A JSONPath-mode payload template: `.$` keys hold a path or an intrinsic function.
    fn template(&mut self, tp: &str, obj: &Map<String, Value>) {
        for k in obj.keys() {
            if let Some(plain) = k.strip_suffix(".$")
                && obj.contains_key(plain) {
                    self.schema(
                        pointer_push(tp, k),
                        format!("\"{plain}\" and \"{k}\" are both set; the output would have two fields named \"{plain}\". Keep one."),
                    );
                }
        }
        for (k, v) in obj {
            let kp = pointer_push(tp, k);
            self.template_entry(&kp, k, v);
        }
    }

    fn template_entry(&mut self, kp: &str, k: &str, v: &Value) {
        if k.ends_with(".$") {
            match v.as_str() {
                Some(s) => self.dynamic_value(kp, k, s),
                None => self.schema(kp, format!("The value for the field '{k}' must be a STRING that contains a JSONPath or an intrinsic function.")),
            }
        } else {
            match v {
                Value::Object(o) => self.template(kp, o),
                Value::Array(a) => {
                    for (i, item) in a.iter().enumerate() {
                        if let Value::Object(o) = item {
                            self.template(&pointer_push(kp, &i.to_string()), o);
                        }
                    }
                }
                Value::String(s) if s.starts_with('$') && path::parse_path(s).is_ok() => self.warning(
                    codes::NO_DOLLAR,
                    kp,
                    format!("The value of '{k}' looks like a JSONPath, but the field name does not end in \".$\", so it is passed as the literal text \"{s}\"."),
                ),
                _ => {}
            }
        }
    }

    fn dynamic_value(&mut self, kp: &str, k: &str, s: &str) {
        // AWS ignores trailing blanks after a path or call, but not leading ones.
        let s = s.trim_end();
        if intrinsic::looks_like_intrinsic(s) {
            if let Err(e) = intrinsic::parse_intrinsic(s) {
                self.schema(kp, format!("The value for the field '{k}' must be a valid JSONPath or a valid intrinsic function call: {e}"));
            }
        } else if s.starts_with('$') {
            if let Err(e) = path::parse_path(s) {
                self.schema(kp, format!("The value for the field '{k}' must be a valid JSONPath or a valid intrinsic function call: {e}"));
            }
        } else {
            self.schema(kp, format!("The value for the field '{k}' must be a valid JSONPath (starting with $) or a valid intrinsic function call (States.…)."));
        }
    }

    fn path(&mut self, fp: &str, name: &str, s: &str, rule: PathRule) {
        let result = match rule {
            PathRule::Path => path::parse_path(s).map(|_| ()).map_err(|e| e.to_string()),
            PathRule::Reference => path::parse_reference_path(s).map(|_| ()).map_err(|e| e.to_string()),
            PathRule::ResultPath => match path::parse_reference_path(s) {
                Ok(p) if p.root == path::Root::Input => Ok(()),
                Ok(_) => Err("ResultPath must start with \"$\" (the state's input), not a context or variable path".to_string()),
                Err(e) => Err(e.to_string()),
            },
            PathRule::ReferenceOrIntrinsic => {
                if intrinsic::looks_like_intrinsic(s) {
                    match intrinsic::parse_intrinsic(s.trim_end()) {
                        Ok(call) if STRING_FUNCTIONS.contains(&call.function.name()) => Ok(()),
                        Ok(call) => Err(format!(
                            "{} does not return a string; only {} can give an error or cause",
                            call.function.name(),
                            STRING_FUNCTIONS.join(", ")
                        )),
                        Err(e) => Err(e.to_string()),
                    }
                } else {
                    path::parse_reference_path(s).map(|_| ()).map_err(|e| e.to_string())
                }
            }
        };
        if let Err(e) = result {
            let code = if s.starts_with('$') { codes::INVALID_JSON_PATH } else { codes::NO_DOLLAR };
            self.error(code, fp, format!("{name} \"{s}\" is not a valid JSONPath: {e}."));
        }
    }

    /// JSONata mode: every `{% %}` string inside the value must parse.
    fn jsonata_value(&mut self, fp: &str, v: &Value) {
        match v {
            Value::String(s) => self.jsonata_string(fp, s, false),
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    self.jsonata_value(&pointer_push(fp, &i.to_string()), x);
                }
            }
            Value::Object(o) => {
                for (k, x) in o {
                    self.jsonata_value(&pointer_push(fp, k), x);
                }
            }
            _ => {}
        }
    }

    fn jsonata_string(&mut self, fp: &str, s: &str, must_be_template: bool) {
        match jsonata::template_body(s) {
            Some(body) if !body.starts_with(char::is_whitespace) => self.error(
                codes::INVALID_JSONATA_EXPRESSION,
                fp,
                format!("Write the JSONata expression {s} with a space after \"{{%\", as {{% expression %}}."),
            ),
            Some(body) => {
                if let Err(e) = jsonata::check_syntax(body) {
                    self.error(codes::INVALID_JSONATA_EXPRESSION, fp, format!("The JSONata expression {s} is not valid: {e}."));
                }
            }
            // AWS takes " {% x %} " (not exactly wrapped) as a plain string, so only a string
            // that opens without closing (or closes without opening) is taken for a mistake.
            None if must_be_template || s.starts_with("{%") || s.ends_with("%}") => self.error(
                codes::INVALID_JSONATA_EXPRESSION,
                fp,
                format!("\"{s}\" must be a JSONata expression written as {{% expression %}}."),
            ),
            None => {}
        }
    }
}

/// Intrinsic functions that return a string, the only ones Fail's ErrorPath/CausePath take.
const STRING_FUNCTIONS: &[&str] = &[
    "States.Format",
    "States.UUID",
    "States.JsonToString",
    "States.ArrayGetItem",
    "States.Base64Encode",
    "States.Base64Decode",
    "States.Hash",
];

#[derive(Clone, Copy)]
enum PathRule {
    Path,
    Reference,
    ResultPath,
    ReferenceOrIntrinsic,
}

fn has_dollar_key(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.iter().any(|(k, x)| k.ends_with(".$") || has_dollar_key(x)),
        Value::Array(a) => a.iter().any(has_dollar_key),
        _ => false,
    }
}

/// Characters AWS refuses in a Map `Label` (it becomes part of Map Run ARNs).
fn is_forbidden_label_char(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || ('\u{7f}'..='\u{9f}').contains(&c)
        || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c)
}

/// An unclosed `${` in a deployment-template placeholder.
fn placeholder_problem(r: &str) -> Option<String> {
    let mut rest = r;
    while let Some(i) = rest.find("${") {
        match rest[i..].find('}') {
            Some(j) => rest = &rest[i + j + 1..],
            None => return Some(format!("Resource \"{r}\" has a \"${{\" placeholder that is never closed with \"}}\".")),
        }
    }
    None
}

/// The optimized DynamoDB integration has only these four actions; the rest go through
/// `aws-sdk:dynamodb:*`.
const DYNAMODB_OPTIMIZED: &[&str] = &["getItem", "putItem", "updateItem", "deleteItem"];

/// Checks the shape of an ARN: `arn:partition:service:region:account:resource`, with the
/// Lambda qualifier and optimized-integration rules AWS applies. `${...}` placeholders pass.
fn check_arn(r: &str) -> Result<(), String> {
    // `${AWS::Partition}` holds colons of its own: fold each placeholder to `${}` first.
    let mut folded = String::with_capacity(r.len());
    let mut rest = r;
    while let Some(i) = rest.find("${") {
        folded.push_str(&rest[..i]);
        folded.push_str("${}");
        rest = rest[i..].find('}').map_or("", |j| &rest[i + j + 1..]);
    }
    folded.push_str(rest);
    let parts: Vec<&str> = folded.splitn(6, ':').collect();
    if parts.len() < 6 {
        return Err("an ARN has six parts, arn:partition:service:region:account:resource".into());
    }
    let (partition, service, account, resource) = (parts[1], parts[2], parts[4], parts[5]);
    let templated = |s: &str| s.contains("${");
    if !templated(partition) && !matches!(partition, "aws" | "aws-cn" | "aws-us-gov" | "aws-iso" | "aws-iso-b" | "aws-eusc") {
        return Err(format!("\"{partition}\" is not an AWS partition"));
    }
    if service.is_empty() {
        return Err("the service part is empty".into());
    }
    if !templated(account) && !account.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("the account \"{account}\" is not a number"));
    }
    if resource.is_empty() || resource.ends_with(':') {
        return Err("the resource part is empty or ends with ':'".into());
    }
    if service == "lambda"
        && let Some(rest) = resource.strip_prefix("function:")
            && let Some((_, qualifier)) = rest.split_once(':') {
                let ok = qualifier == "$LATEST" || templated(qualifier) || qualifier.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if !ok {
                    return Err(format!("\"{qualifier}\" is not a Lambda version or alias"));
                }
            }
    if service == "states" && parts[3].is_empty() && account.is_empty()
        && let Some(action) = resource.strip_prefix("dynamodb:") {
            let action = action.split('.').next().unwrap_or(action);
            if !DYNAMODB_OPTIMIZED.contains(&action) {
                return Err(format!(
                    "the optimized DynamoDB integration has no \"{action}\" action (it has getItem, putItem, updateItem, deleteItem); use arn:aws:states:::aws-sdk:dynamodb:{action}"
                ));
            }
        }
    Ok(())
}

/// RFC 3339 date-time, as AWS requires for Wait `Timestamp` and Timestamp comparisons.
pub(crate) fn is_rfc3339(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.contains('T')
}

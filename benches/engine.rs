//! Engine speed: state transitions per second in one execution, and many executions parked on
//! an activity.
//!
//! `cargo bench --bench engine`. The bars: at least 1,000,000 transitions a second on a
//! 1,000-state Pass/Choice chain; 10,000 executions waiting on an activity at under 2 KB each.
//! `scripts/bench-localstack.sh` runs the same chain on LocalStack for the ratio.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use stepwise::engine::{Command, Execution, ExecutionInfo, Input, Machine, MachineType};

/// Counts live heap bytes, to measure what a parked execution holds.
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn info(i: u64) -> ExecutionInfo {
    ExecutionInfo {
        execution_arn: format!("arn:aws:states:us-east-1:123456789012:execution:bench:{i}"),
        name: i.to_string(),
        state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:bench".into(),
        state_machine_name: "bench".into(),
        role_arn: "arn:aws:iam::123456789012:role/bench".into(),
        start_time: 1_700_000_000_000,
        machine_type: MachineType::Standard,
        seed: i,
        extra_context: None,
    }
}

fn chain(c: &mut Criterion) {
    let n = 1_000;
    let machine = Arc::new(Machine::compile(&stepwise::asl::generate::pass_choice_chain(n)).expect("compiles"));
    let mut g = c.benchmark_group("pass_choice_chain_1000");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("with_history", |b| {
        b.iter(|| {
            let mut e = Execution::new(Arc::clone(&machine), info(1));
            e.start(json!({"n": 1}));
            assert_eq!(e.transitions(), n as u64);
            black_box(e.take_events().len())
        })
    });
    g.bench_function("without_history", |b| {
        b.iter(|| {
            let mut e = Execution::new(Arc::clone(&machine), info(1)).without_history();
            e.start(json!({"n": 1}));
            black_box(e.outcome().is_some())
        })
    });
    g.finish();
}

fn parked(c: &mut Criterion) {
    let definition = json!({
        "StartAt": "Review",
        "States": {"Review": {
            "Type": "Task",
            "Resource": "arn:aws:states:us-east-1:123456789012:activity:review",
            "TimeoutSeconds": 3600,
            "End": true
        }}
    });
    let machine = Arc::new(Machine::compile(&definition).expect("compiles"));
    let count = 10_000u64;
    // Memory: what 10,000 parked executions hold, events drained as the runtime drains them
    // into the store.
    let before = LIVE.load(Ordering::Relaxed);
    let mut parked: Vec<(Execution, Vec<Command>)> = (0..count)
        .map(|i| {
            let mut e = Execution::new(Arc::clone(&machine), info(i));
            e.start(json!({"video": {"bucket": "raw", "key": format!("v{i}.mp4")}}));
            drop(e.take_events());
            let commands = e.take_commands();
            (e, commands)
        })
        .collect();
    let commands: usize = parked.iter_mut().map(|(_, c)| std::mem::take(c).len()).sum();
    parked.shrink_to_fit();
    let held = LIVE.load(Ordering::Relaxed) - before;
    eprintln!(
        "parked executions: {count}, {commands} commands out, {} bytes live = {} bytes each",
        held,
        held / count as isize
    );
    drop(parked);
    let mut g = c.benchmark_group("activity_10000");
    g.sample_size(10);
    g.throughput(Throughput::Elements(count));
    g.bench_function("start_park_and_complete", |b| {
        b.iter(|| {
            let mut all: Vec<Execution> = (0..count)
                .map(|i| {
                    let mut e = Execution::new(Arc::clone(&machine), info(i));
                    e.start(json!({"key": i}));
                    e
                })
                .collect();
            for e in &mut all {
                let task = e
                    .take_commands()
                    .into_iter()
                    .find_map(|c| match c {
                        Command::RunTask(r) => Some(r.id),
                        _ => None,
                    })
                    .expect("an activity task");
                let now = e.now() + 5;
                e.handle(now, Input::TaskStarted { task, worker: Some("bench".into()) });
                e.handle(now, Input::TaskSucceeded { task, output: json!({"approved": true}) });
                assert!(e.outcome().is_some());
            }
            black_box(all.len())
        })
    });
    g.finish();
}

criterion_group!(benches, chain, parked);
criterion_main!(benches);

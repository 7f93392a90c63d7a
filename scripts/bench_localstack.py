"""LocalStack half of scripts/bench-localstack.sh: the workloads of benches/engine.rs, on LocalStack.

1. The 1,000-state Pass/Choice chain (the shape of stepwise::asl::generate::pass_choice_chain):
   one execution at a time, StartExecution then DescribeExecution every few ms until it ends;
   wall time, median of --chain-runs runs after one warm-up -> transitions/s.
2. Memory: N executions of a one-Task activity machine started and left parked (each checked to
   have reached ActivityScheduled); LocalStack's RSS growth / N. Then they are completed.
3. Activity throughput: N executions started while a pool of worker threads polls
   GetActivityTask and answers SendTaskSuccess; time from the first StartExecution until all N
   are SUCCEEDED, median of 3 runs -> executions/s.

Then reads Stepwise's medians from criterion's estimates.json (and the bytes-per-parked-execution
line of the cargo bench log) and prints/writes the comparison table.
"""

import argparse
import concurrent.futures as cf
import json
import os
import platform
import re
import statistics
import sys
import threading
import time

import boto3
import psutil
from botocore.config import Config

ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/stepwise-bench"
DEADLINE_S = 900  # any one phase; fail rather than hang


def pass_choice_chain(n):
    """Same shape as stepwise::asl::generate::pass_choice_chain (src/asl/generate.rs)."""
    n = max(n, 2)
    states = {}
    for i in range(n - 1):
        nxt = f"S{i + 1}"
        if i % 2 == 0:
            states[f"S{i}"] = {"Type": "Pass", "Next": nxt}
        else:
            states[f"S{i}"] = {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericGreaterThanEquals": 0, "Next": nxt}],
                "Default": "Failed",
            }
    states[f"S{n - 1}"] = {"Type": "Succeed"}
    states["Failed"] = {"Type": "Fail", "Error": "Unexpected"}
    return {"StartAt": "S0", "States": states}


def activity_machine(activity_arn):
    """Same as the `parked` bench: one activity Task with a one-hour timeout."""
    return {
        "StartAt": "Review",
        "States": {
            "Review": {
                "Type": "Task",
                "Resource": activity_arn,
                "TimeoutSeconds": 3600,
                "End": True,
            }
        },
    }


def log(msg):
    print(f"   {msg}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, endpoint, pid, workers):
        self.sfn = boto3.client(
            "stepfunctions",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(
                max_pool_connections=workers + 16,
                retries={"max_attempts": 10, "mode": "standard"},
                read_timeout=120,
            ),
        )
        self.proc = psutil.Process(pid)
        self.workers = workers
        self.idle_s = 0.01
        self.duplicates = 0
        self.seq = 0

    def name(self, prefix):
        self.seq += 1
        return f"{prefix}-{os.getpid()}-{self.seq}"

    def rss(self):
        procs = [self.proc] + self.proc.children(recursive=True)
        return sum(p.memory_info().rss for p in procs)

    def threads(self):
        return self.proc.num_threads()

    def create_machine(self, prefix, definition):
        return self.sfn.create_state_machine(
            name=self.name(prefix), definition=json.dumps(definition), roleArn=ROLE
        )["stateMachineArn"]

    # --- 1. the chain -------------------------------------------------------------------------
    def chain_once(self, machine_arn, poll_s=0.1):
        t0 = time.perf_counter()
        arn = self.sfn.start_execution(stateMachineArn=machine_arn, input=json.dumps({"n": 1}))[
            "executionArn"
        ]
        while True:
            d = self.sfn.describe_execution(executionArn=arn)
            if d["status"] != "RUNNING":
                wall = time.perf_counter() - t0
                break
            if time.perf_counter() - t0 > DEADLINE_S:
                raise SystemExit(f"chain execution still RUNNING after {DEADLINE_S} s")
            time.sleep(poll_s)
        if d["status"] != "SUCCEEDED":
            raise SystemExit(f"chain execution ended {d['status']}: {d.get('error')} {d.get('cause')}")
        server = (d["stopDate"] - d["startDate"]).total_seconds()
        return arn, wall, server

    def entered_states(self, arn):
        n, token = 0, None
        while True:
            kw = {"executionArn": arn, "maxResults": 1000}
            if token:
                kw["nextToken"] = token
            page = self.sfn.get_execution_history(**kw)
            n += sum(1 for e in page["events"] if e["type"].endswith("StateEntered"))
            token = page.get("nextToken")
            if not token:
                return n

    def chain(self, states, runs):
        machine = self.create_machine("chain", pass_choice_chain(states))
        arn, wall, _ = self.chain_once(machine)  # warm-up
        entered = self.entered_states(arn)
        if entered != states:
            raise SystemExit(f"LocalStack entered {entered} states, expected {states}")
        log(f"chain warm-up: {wall * 1e3:.0f} ms, {entered} states entered")
        walls, servers = [], []
        for i in range(runs):
            _, wall, server = self.chain_once(machine)
            walls.append(wall)
            servers.append(server)
            log(f"chain run {i + 1}/{runs}: {wall * 1e3:.0f} ms wall, {server * 1e3:.0f} ms by its own dates")
        return {"wall_s": walls, "server_s": servers}

    # --- 2./3. activities ----------------------------------------------------------------------
    def start_all(self, machine_arn, n, prefix):
        def start(i):
            return self.sfn.start_execution(
                stateMachineArn=machine_arn,
                name=f"{prefix}-{i}",
                input=json.dumps({"key": i}),
            )["executionArn"]

        with cf.ThreadPoolExecutor(8) as pool:
            return list(pool.map(start, range(n)))

    def work(self, activity_arn, stop):
        """Worker pool: GetActivityTask (LocalStack answers at once, token or not), SendTaskSuccess.

        Workers run until `stop`: completion is judged by ListExecutions, not by counting answers,
        because LocalStack can hand the same task to two concurrent pollers."""
        seen = set()
        stats = {"answered": 0, "duplicates": 0}
        lock = threading.Lock()

        def worker(w):
            while not stop.is_set():
                task = self.sfn.get_activity_task(activityArn=activity_arn, workerName=f"w{w}")
                token = task.get("taskToken")
                if not token:
                    time.sleep(self.idle_s)
                    continue
                with lock:
                    dup = token in seen
                    seen.add(token)
                    stats["duplicates" if dup else "answered"] += 1
                if not dup:
                    self.sfn.send_task_success(taskToken=token, output=json.dumps({"approved": True}))

        threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(self.workers)]
        for t in threads:
            t.start()
        return threads, stats

    def wait_succeeded(self, machine_arn, n, t0):
        while True:
            count, token = 0, None
            while True:
                kw = {"stateMachineArn": machine_arn, "statusFilter": "SUCCEEDED", "maxResults": 1000}
                if token:
                    kw["nextToken"] = token
                page = self.sfn.list_executions(**kw)
                count += len(page["executions"])
                token = page.get("nextToken")
                if not token:
                    break
            if count >= n:
                return
            if time.perf_counter() - t0 > DEADLINE_S:
                raise SystemExit(f"only {count}/{n} activity executions SUCCEEDED after {DEADLINE_S} s")
            time.sleep(0.02)

    def parked(self, arn):
        events = self.sfn.get_execution_history(executionArn=arn, maxResults=20)["events"]
        return any(e["type"] == "ActivityScheduled" for e in events)

    def activity_memory(self, n):
        activity = self.sfn.create_activity(name=self.name("review-mem"))["activityArn"]
        machine = self.create_machine("activity-mem", activity_machine(activity))
        # Warm-up: a few executions through the whole path, so first-use allocations are not counted.
        self.activity_throughput_once(activity, machine, 50, "warm")
        time.sleep(1)
        rss0, threads0 = self.rss(), self.threads()
        arns = self.start_all(machine, n, "mem")
        t0 = time.perf_counter()
        pending = arns
        with cf.ThreadPoolExecutor(8) as pool:
            while pending:
                flags = list(pool.map(self.parked, pending))
                pending = [a for a, ok in zip(pending, flags) if not ok]
                if pending:
                    if time.perf_counter() - t0 > DEADLINE_S:
                        raise SystemExit(f"{len(pending)}/{n} executions never reached ActivityScheduled")
                    time.sleep(0.2)
        time.sleep(2)
        samples = []
        for _ in range(5):
            samples.append(self.rss())
            time.sleep(0.2)
        rss1, threads1 = statistics.median(samples), self.threads()
        log(
            f"{n} parked: RSS {rss0 / 2**20:.0f} -> {rss1 / 2**20:.0f} MiB, "
            f"threads {threads0} -> {threads1}"
        )
        # Complete them, so they do not hold the server (LocalStack may otherwise ignore SIGTERM).
        stop = threading.Event()
        t1 = time.perf_counter()
        threads, _ = self.work(activity, stop)
        self.wait_succeeded(machine, n + 50, t1)
        stop.set()
        for t in threads:
            t.join()
        return {
            "n": n,
            "rss_before": rss0,
            "rss_parked": rss1,
            "bytes_each": (rss1 - rss0) / n,
            "threads_before": threads0,
            "threads_parked": threads1,
        }

    def activity_throughput_once(self, activity, machine, n, prefix):
        stop = threading.Event()
        t0 = time.perf_counter()
        threads, stats = self.work(activity, stop)
        self.start_all(machine, n, f"{prefix}-{self.seq}")
        # Cheap in-process wait first (ListExecutions of N is a heavy request), then confirm.
        while stats["answered"] < n:
            if time.perf_counter() - t0 > DEADLINE_S:
                raise SystemExit(f"only {stats['answered']}/{n} activity tasks handed out after {DEADLINE_S} s")
            time.sleep(0.01)
        self.wait_succeeded(machine, n, t0)
        elapsed = time.perf_counter() - t0
        stop.set()
        for t in threads:
            t.join()
        self.duplicates += stats["duplicates"]
        return elapsed

    def activity_throughput(self, n, runs):
        times = []
        for i in range(runs):
            activity = self.sfn.create_activity(name=self.name("review"))["activityArn"]
            machine = self.create_machine("activity", activity_machine(activity))
            elapsed = self.activity_throughput_once(activity, machine, n, "run")
            times.append(elapsed)
            log(f"activity run {i + 1}/{runs}: {n} executions in {elapsed:.2f} s ({n / elapsed:.0f}/s)")
        return times


# --- Stepwise's side: criterion's output --------------------------------------------------------
def criterion_median(criterion_dir, group, bench):
    path = os.path.join(criterion_dir, group, bench, "new", "estimates.json")
    try:
        with open(path) as f:
            est = json.load(f)["median"]
    except (OSError, KeyError, ValueError) as e:
        raise SystemExit(f"no criterion result at {path} ({e}); did `cargo bench --bench engine` run?")
    return est["point_estimate"] * 1e-9, est["confidence_interval"]["lower_bound"] * 1e-9, est[
        "confidence_interval"
    ]["upper_bound"] * 1e-9


def parked_bytes(cargo_log):
    try:
        text = open(cargo_log).read()
    except OSError:
        return None
    m = re.findall(r"parked executions: (\d+),.*= (-?\d+) bytes each", text)
    return (int(m[-1][0]), int(m[-1][1])) if m else None


def fmt_rate(x):
    if x >= 1e6:
        return f"{x / 1e6:.2f} M/s"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k/s"
    return f"{x:.0f}/s"


def fmt_time(s):
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def fmt_bytes(b):
    if b >= 2**20:
        return f"{b / 2**20:.1f} MiB"
    if b >= 1024:
        return f"{b / 1024:.1f} KiB"
    return f"{b:.0f} B"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--criterion", required=True)
    ap.add_argument("--cargo-log", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--states", type=int, default=1000)
    ap.add_argument("--chain-runs", type=int, default=5)
    ap.add_argument("--activity-n", type=int, default=1000)
    ap.add_argument("--activity-runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=16)
    a = ap.parse_args()

    # Stepwise first: fail before the slow part if criterion's results are missing.
    sw_chain, sw_chain_lo, sw_chain_hi = criterion_median(a.criterion, "pass_choice_chain_1000", "with_history")
    sw_chain_nh, _, _ = criterion_median(a.criterion, "pass_choice_chain_1000", "without_history")
    sw_act, _, _ = criterion_median(a.criterion, "activity_10000", "start_park_and_complete")
    sw_act_n = 10_000
    sw_parked = parked_bytes(a.cargo_log)

    b = Bench(a.endpoint, a.pid, a.workers)
    t_start = time.time()
    print(f"== LocalStack: {a.states}-state chain x {a.chain_runs}", file=sys.stderr)
    chain = b.chain(a.states, a.chain_runs)
    print(f"== LocalStack: {a.activity_n} executions parked on an activity (RSS)", file=sys.stderr)
    mem = b.activity_memory(a.activity_n)
    print(
        f"== LocalStack: {a.activity_n} activity executions x {a.activity_runs}, {a.workers} workers",
        file=sys.stderr,
    )
    act = b.activity_throughput(a.activity_n, a.activity_runs)
    ls_elapsed = time.time() - t_start

    ls_chain = statistics.median(chain["wall_s"])
    ls_chain_server = statistics.median(chain["server_s"])
    ls_act = statistics.median(act)
    ls_act_rate = a.activity_n / ls_act
    sw_act_rate = sw_act_n / sw_act

    rows = [
        (
            f"{a.states}-state Pass/Choice chain, one execution (with history)",
            fmt_time(sw_chain),
            fmt_time(ls_chain),
            f"{ls_chain / sw_chain:,.0f}x",
        ),
        (
            "  as transitions/s",
            fmt_rate(a.states / sw_chain),
            fmt_rate(a.states / ls_chain),
            f"{ls_chain / sw_chain:,.0f}x",
        ),
        (
            "  LocalStack by its own start/stop dates (no polling, no client)",
            fmt_time(sw_chain),
            fmt_time(ls_chain_server),
            f"{ls_chain_server / sw_chain:,.0f}x",
        ),
        (
            f"activity executions started, parked, completed (Stepwise N={sw_act_n:,}, LocalStack N={a.activity_n:,})",
            fmt_rate(sw_act_rate),
            fmt_rate(ls_act_rate),
            f"{sw_act_rate / ls_act_rate:,.0f}x",
        ),
        (
            "memory per parked execution (Stepwise: heap bytes live; LocalStack: RSS growth)",
            fmt_bytes(sw_parked[1]) if sw_parked else "n/a (no cargo log)",
            fmt_bytes(mem["bytes_each"]),
            f"{mem['bytes_each'] / sw_parked[1]:,.0f}x" if sw_parked and sw_parked[1] > 0 else "n/a",
        ),
    ]

    import localstack  # noqa: E402  (only for its version)

    try:
        from importlib.metadata import version

        ls_version = version("localstack-core")
    except Exception:
        ls_version = getattr(localstack, "__version__", "?")
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass

    head = ("metric", "Stepwise (median)", "LocalStack (median)", "ratio (Stepwise better by)")
    lines = [
        "# Stepwise engine vs LocalStack",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M:%S %Z')} on {os.cpu_count()} CPUs ({cpu}); "
        f"localstack-core {ls_version}, Python {platform.python_version()}; "
        f"both measured in the same run of scripts/bench-localstack.sh, one after the other.",
        "",
        "| " + " | ".join(head) + " |",
        "| --- | ---: | ---: | ---: |",
    ] + ["| " + " | ".join(r) + " |" for r in rows]
    lines += [
        "",
        "Details:",
        f"- Stepwise: `cargo bench --bench engine` (criterion medians). Chain with history "
        f"{fmt_time(sw_chain)} [{fmt_time(sw_chain_lo)} .. {fmt_time(sw_chain_hi)}], without history "
        f"{fmt_time(sw_chain_nh)}; activity_10000 {fmt_time(sw_act)} for {sw_act_n:,} executions. "
        "In-process engine calls: no API, no HTTP, no store.",
        f"- LocalStack chain: StartExecution, then DescribeExecution every 5 ms until it ends; wall "
        f"time, median of {a.chain_runs} runs after a warm-up (runs: "
        + ", ".join(fmt_time(x) for x in chain["wall_s"])
        + f"). The warm-up's history was checked to enter {a.states} states.",
        f"- LocalStack activities: N={a.activity_n:,} (not 10,000: LocalStack runs several threads per "
        f"execution), {a.workers} worker threads polling GetActivityTask (it answers at once; 5 ms sleep "
        f"when empty) and answering SendTaskSuccess, StartExecution from 8 threads; time from the first "
        f"start until ListExecutions shows all N SUCCEEDED; median of {a.activity_runs} runs ("
        + ", ".join(f"{x:.2f} s" for x in act)
        + "). Rates are per execution; no extrapolation from N to 10,000.",
        f"- LocalStack memory: RSS of the server process before and after {mem['n']:,} executions "
        f"reached ActivityScheduled: {mem['rss_before'] / 2**20:.0f} -> {mem['rss_parked'] / 2**20:.0f} MiB; "
        f"threads {mem['threads_before']} -> {mem['threads_parked']}. Stepwise's figure is heap bytes "
        f"live per parked execution ({sw_parked[0]:,} parked) from the bench's counting allocator."
        if sw_parked
        else "",
        "- The benchmark client (boto3, same machine) shares the CPUs with LocalStack; HTTP and "
        "client costs are part of LocalStack's figures, as they are for a user of it.",
        f"- LocalStack part took {ls_elapsed:.0f} s.",
    ]
    text = "\n".join(l for l in lines if l is not None) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        f.write(text)
    print()
    print(text)


if __name__ == "__main__":
    main()

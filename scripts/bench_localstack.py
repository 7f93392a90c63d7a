"""The workloads of benches/engine.rs through the Step Functions API, with boto3.

scripts/bench-localstack.sh runs them against LocalStack (its half of the engine comparison);
scripts/bench-serve.sh runs them against `stepwise serve` and LocalStack alike (--label names the
server in messages).

Subcommands (the shell scripts start a fresh server for each, because LocalStack's
GetActivityTask and SendTaskSuccess scan every execution it holds, so a server that already ran
thousands of executions is slower than a fresh one):

  chain     the 1,000-state Pass/Choice chain (the shape of
            stepwise::asl::generate::pass_choice_chain): one execution at a time, StartExecution
            then DescribeExecution every 100 ms until it ends; wall time of each run after a warm-up.
  memory    N executions of a one-Task activity machine started and checked to have reached
            ActivityScheduled; LocalStack's RSS (psutil) before and after; then they are completed.
  activity  like the `activity_10000` bench: start N executions (each parks on the activity),
            then a pool of worker threads polls GetActivityTask and answers SendTaskSuccess; time
            from the first StartExecution until ListExecutions shows all N SUCCEEDED.
  compare-serve  the results of the three workloads against `stepwise serve` and against LocalStack
            (scripts/bench-serve.sh); prints and writes the table.
  report    reads those results and Stepwise's criterion medians (estimates.json, and the
            bytes-per-parked-execution line of the cargo bench log); prints and writes the table.

Each measuring subcommand writes one JSON file (--json).
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
    def __init__(self, endpoint, pid, workers, label="LocalStack", poll_min_s=0.1):
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
        self.label = label
        self.poll_min_s = poll_min_s

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
    def chain_once(self, machine_arn):
        # The poll starts at poll_min_s and doubles up to 100 ms: a server that ends the chain in
        # milliseconds is not rounded up to a 100 ms tick, and one that takes seconds sees only a
        # handful of extra DescribeExecution calls. poll_min_s=0.1 is the plain 100 ms poll.
        poll_s = self.poll_min_s
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
            poll_s = min(poll_s * 2, max(self.poll_min_s, 0.1))
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
            raise SystemExit(f"{self.label} entered {entered} states, expected {states}")
        log(f"chain warm-up: {wall * 1e3:.0f} ms, {entered} states entered")
        walls, servers, cpus = [], [], []
        for i in range(runs):
            c0 = self.proc.cpu_times()
            _, wall, server = self.chain_once(machine)
            c1 = self.proc.cpu_times()
            cpu = (c1.user - c0.user) + (c1.system - c0.system)
            walls.append(wall)
            servers.append(server)
            cpus.append(cpu)
            log(
                f"chain run {i + 1}/{runs}: {wall * 1e3:.0f} ms wall, {server * 1e3:.0f} ms by its own "
                f"dates, {cpu * 1e3:.0f} ms server CPU"
            )
        return {"wall_s": walls, "server_s": servers, "cpu_s": cpus}

    # --- activities ----------------------------------------------------------------------
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
        """Worker pool: GetActivityTask (LocalStack answers at once, token or not; a server that
        long-polls like AWS holds the request until a task comes), SendTaskSuccess.

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
            time.sleep(0.05)

    def parked(self, arn):
        events = self.sfn.get_execution_history(executionArn=arn, maxResults=20)["events"]
        return any(e["type"] == "ActivityScheduled" for e in events)

    def wait_parked(self, arns):
        t0 = time.perf_counter()
        pending = arns
        with cf.ThreadPoolExecutor(8) as pool:
            while pending:
                flags = list(pool.map(self.parked, pending))
                pending = [a for a, ok in zip(pending, flags) if not ok]
                if pending:
                    if time.perf_counter() - t0 > DEADLINE_S:
                        raise SystemExit(f"{len(pending)}/{len(arns)} executions never reached ActivityScheduled")
                    time.sleep(0.2)

    def complete_all(self, activity, machine, n, t0):
        """Phase 2: the worker pool answers every task; returns when ListExecutions shows n SUCCEEDED."""
        stop = threading.Event()
        _, stats = self.work(activity, stop)
        # Cheap in-process wait first (ListExecutions of N is a heavy request), then confirm.
        while stats["answered"] < n:
            if time.perf_counter() - t0 > DEADLINE_S:
                raise SystemExit(
                    f"only {stats['answered']}/{n} activity tasks handed out after {DEADLINE_S} s "
                    "(LocalStack can lose a task when GetActivityTask fails with a 500)"
                )
            time.sleep(0.01)
        self.wait_succeeded(machine, n, t0)
        # Idle workers sit in GetActivityTask's server-side wait (up to 60 s); they are daemon
        # threads and this run's activity gets no more tasks, so they are not joined.
        stop.set()
        self.duplicates += stats["duplicates"]

    def activity_run(self, n, prefix, measure_memory=False, timing=False):
        """Like benches/engine.rs: start all n (each parks on the activity), then complete all.

        The two phases are not overlapped: LocalStack's GetActivityTask scans every execution in
        its store and fails (500, task lost) when it meets one whose StartExecution is still
        in flight."""
        activity = self.sfn.create_activity(name=self.name(f"{prefix}-review"))["activityArn"]
        machine = self.create_machine(prefix, activity_machine(activity))
        mem = None
        if measure_memory:
            rss0, threads0 = self.rss(), self.threads()
        t0 = time.perf_counter()
        arns = self.start_all(machine, n, prefix)
        start_s = time.perf_counter() - t0
        if measure_memory:
            self.wait_parked(arns)
            time.sleep(2)
            samples = []
            for _ in range(5):
                samples.append(self.rss())
                time.sleep(0.2)
            rss1, threads1 = statistics.median(samples), self.threads()
            log(f"{n} parked: RSS {rss0 / 2**20:.0f} -> {rss1 / 2**20:.0f} MiB, threads {threads0} -> {threads1}")
            mem = {
                "n": n,
                "rss_before": rss0,
                "rss_parked": rss1,
                "bytes_each": (rss1 - rss0) / n,
                "threads_before": threads0,
                "threads_parked": threads1,
            }
        self.complete_all(activity, machine, n, t0)
        elapsed = time.perf_counter() - t0
        return (elapsed, start_s) if timing else (elapsed, mem)

    def activity_memory(self, n):
        # Warm-up: executions through the whole path, so first-use allocations are not counted.
        self.activity_run(50, "warm")
        time.sleep(1)
        return self.activity_run(n, "mem", measure_memory=True)[1]


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


def save(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)


def load(path):
    with open(path) as f:
        return json.load(f)


def report(a):
    # Stepwise: criterion medians.
    sw_chain, sw_chain_lo, sw_chain_hi = criterion_median(a.criterion, "pass_choice_chain_1000", "with_history")
    sw_chain_nh, _, _ = criterion_median(a.criterion, "pass_choice_chain_1000", "without_history")
    sw_act, sw_act_lo, sw_act_hi = criterion_median(a.criterion, "activity_10000", "start_park_and_complete")
    sw_act_n = 10_000
    sw_parked = parked_bytes(a.cargo_log)

    chain = load(os.path.join(a.results, "chain.json"))
    mem = load(os.path.join(a.results, "memory.json"))
    acts = [load(os.path.join(a.results, f)) for f in sorted(os.listdir(a.results)) if f.startswith("activity-")]
    if not acts:
        raise SystemExit(f"no activity-*.json in {a.results}")
    states = chain["states"]
    n = acts[0]["n"]
    ls_chain = statistics.median(chain["wall_s"])
    ls_chain_server = statistics.median(chain["server_s"])
    act_times = [x["elapsed_s"] for x in acts]
    ls_act = statistics.median(act_times)
    ls_act_rate = n / ls_act
    sw_act_rate = sw_act_n / sw_act

    rows = [
        (
            f"{states:,}-state Pass/Choice chain: one execution (Stepwise with history)",
            fmt_time(sw_chain),
            fmt_time(ls_chain),
            f"{ls_chain / sw_chain:,.0f}x",
        ),
        ("  the same as transitions/s", fmt_rate(states / sw_chain), fmt_rate(states / ls_chain), f"{ls_chain / sw_chain:,.0f}x"),
        (
            "  LocalStack by its own start/stop dates (no polling)",
            fmt_time(sw_chain),
            fmt_time(ls_chain_server),
            f"{ls_chain_server / sw_chain:,.0f}x",
        ),
        (
            f"activity executions started, parked, completed, per second (Stepwise N={sw_act_n:,}; LocalStack N={n:,})",
            fmt_rate(sw_act_rate),
            fmt_rate(ls_act_rate),
            f"{sw_act_rate / ls_act_rate:,.0f}x",
        ),
        (
            f"  time for the whole batch (Stepwise {sw_act_n:,}; LocalStack {n:,})",
            fmt_time(sw_act),
            fmt_time(ls_act),
            "-",
        ),
        (
            f"memory per parked execution (Stepwise: heap bytes live, {sw_parked[0]:,} parked; LocalStack: RSS growth, {mem['n']:,} parked)"
            if sw_parked
            else f"memory per parked execution (LocalStack: RSS growth, {mem['n']:,} parked)",
            fmt_bytes(sw_parked[1]) if sw_parked else "n/a (no cargo log)",
            fmt_bytes(mem["bytes_each"]),
            f"{mem['bytes_each'] / sw_parked[1]:,.0f}x" if sw_parked and sw_parked[1] > 0 else "n/a",
        ),
    ]

    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        from importlib.metadata import version

        ls_version = version("localstack-core")
    except Exception:
        ls_version = "?"

    head = ("metric", "Stepwise (median)", "LocalStack (median)", "ratio (Stepwise ahead by)")
    lines = [
        "# Stepwise engine vs LocalStack",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M %Z')} on {os.cpu_count()} CPUs ({cpu}); localstack-core "
        f"{ls_version} on Python {platform.python_version()}; both sides measured in the same run of "
        "scripts/bench-localstack.sh, one after the other, never at the same time.",
        "",
        "| " + " | ".join(head) + " |",
        "| --- | ---: | ---: | ---: |",
    ] + ["| " + " | ".join(r) + " |" for r in rows]
    lines += [
        "",
        "How:",
        f"- Stepwise: `cargo bench --bench engine`, criterion medians: chain with history {fmt_time(sw_chain)} "
        f"[{fmt_time(sw_chain_lo)} .. {fmt_time(sw_chain_hi)}], without history {fmt_time(sw_chain_nh)}; "
        f"activity_10000 {fmt_time(sw_act)} [{fmt_time(sw_act_lo)} .. {fmt_time(sw_act_hi)}]. These are "
        "in-process engine calls: no API, no HTTP, no store.",
        f"- LocalStack chain: boto3 StartExecution, then DescribeExecution every 100 ms until it ends; "
        f"wall time, median of {len(chain['wall_s'])} run(s) after a warm-up ("
        + ", ".join(fmt_time(x) for x in chain["wall_s"])
        + f"); the warm-up's history was checked to enter {states:,} states. LocalStack's server CPU "
        f"time per chain execution: {fmt_time(statistics.median(chain['cpu_s']))} (it is CPU-bound, not waiting).",
        f"- LocalStack activities: N={n:,} executions, not 10,000 (see caveats), each run on a fresh "
        f"LocalStack after {acts[0]['warmup']} warm-up executions: StartExecution from 8 threads, then "
        f"{acts[0]['workers']} worker threads polling GetActivityTask and answering SendTaskSuccess; "
        f"median of {len(acts)} run(s) (" + ", ".join(f"{x:.1f} s" for x in act_times) + "). Start phase "
        + ", ".join(f"{x['start_s']:.1f} s" for x in acts) + ". The rate is not extrapolated to 10,000.",
        f"- LocalStack memory: RSS of the server before and after {mem['n']:,} executions reached "
        f"ActivityScheduled: {mem['rss_before'] / 2**20:.0f} -> {mem['rss_parked'] / 2**20:.0f} MiB; "
        f"OS threads {mem['threads_before']} -> {mem['threads_parked']}.",
        "",
        "Caveats:",
        "- LocalStack's figures include boto3 and HTTP on loopback (what a user of it pays); the client "
        "runs on the same CPUs. Stepwise's are the bare engine; its own API server adds HTTP costs on top.",
        "- LocalStack's GetActivityTask/SendTaskSuccess scan every execution it holds, so its activity "
        "rate falls as N grows (quadratic overall); at N=10,000 it would be lower than shown.",
        "- LocalStack's chain time is mostly jsonpath-ng building its PLY parser tables again for every "
        "JSONPath it evaluates (Choice's `$.n`, the Pass states' ResultPath): py-spy put ~75% of the "
        "server's CPU there. That is LocalStack as pinned, what a user of it gets.",
        "- Stepwise's memory figure is heap bytes counted by the bench's allocator; LocalStack's is "
        "process RSS growth (Python heap, thread stacks), a coarser measure.",
    ]
    if any(x.get("duplicates") for x in acts):
        lines.append(
            f"- LocalStack handed the same activity task to two pollers {sum(x['duplicates'] for x in acts)} times."
        )
    text = "\n".join(lines) + "\n"
    with open(a.out, "w") as f:
        f.write(text)
    print(text)


def compare_serve(a):
    """scripts/bench-serve.sh: `stepwise serve` and LocalStack, both measured by this client."""
    sides = {}
    for key, d in (("sw", a.serve), ("ls", a.localstack)):
        acts = [load(os.path.join(d, f)) for f in sorted(os.listdir(d)) if f.startswith("activity-")]
        if not acts:
            raise SystemExit(f"no activity-*.json in {d}")
        sides[key] = {
            "chain": load(os.path.join(d, "chain.json")),
            "mem": load(os.path.join(d, "memory.json")),
            "acts": acts,
        }
    sw, ls = sides["sw"], sides["ls"]
    states = sw["chain"]["states"]
    n = sw["acts"][0]["n"]
    if ls["chain"]["states"] != states or ls["acts"][0]["n"] != n or ls["mem"]["n"] != sw["mem"]["n"]:
        raise SystemExit("the two result sets were not run with the same workload sizes")
    med = statistics.median

    def ratio(slow, fast):
        return f"{slow / fast:,.1f}x" if fast > 0 else "n/a"

    def side(x):
        c, m, acts = x["chain"], x["mem"], x["acts"]
        elapsed = med([r["elapsed_s"] for r in acts])
        return {
            "wall": med(c["wall_s"]),
            "server": med(c["server_s"]),
            "cpu": med(c["cpu_s"]),
            "act": elapsed,
            "rate": n / elapsed,
            "bytes": m["bytes_each"],
        }

    s, l = side(sw), side(ls)

    def dates(x):
        # Stepwise's engine reads its clock once per step, and a chain of Pass and Choice states
        # with nothing to wait for is one step: its start and stop dates are then equal.
        return fmt_time(x) if x > 0 else "0 (one engine step)"

    rows = [
        (f"{states:,}-state Pass/Choice chain, polled wall time (StartExecution to DescribeExecution not RUNNING)",
         fmt_time(s["wall"]), fmt_time(l["wall"]), ratio(l["wall"], s["wall"])),
        ("  the same by the server's own startDate/stopDate", dates(s["server"]), dates(l["server"]),
         ratio(l["server"], s["server"])),
        ("  state transitions/s by those dates", fmt_rate(states / s["server"]) if s["server"] > 0 else "n/a",
         fmt_rate(states / l["server"]), ratio(l["server"], s["server"])),
        ("  server CPU time per chain execution", fmt_time(s["cpu"]), fmt_time(l["cpu"]), ratio(l["cpu"], s["cpu"])),
        (f"activity executions started, parked and completed by {sw['acts'][0]['workers']} workers, per second (N={n:,})",
         fmt_rate(s["rate"]), fmt_rate(l["rate"]), ratio(s["rate"], l["rate"])),
        (f"  time for the whole batch of {n:,}", fmt_time(s["act"]), fmt_time(l["act"]), ratio(l["act"], s["act"])),
        (f"server RSS growth per parked execution ({sw['mem']['n']:,} parked)",
         fmt_bytes(s["bytes"]), fmt_bytes(l["bytes"]),
         ratio(l["bytes"], s["bytes"]) if s["bytes"] > 0 else "n/a"),
    ]

    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(x.split(":", 1)[1].strip() for x in f if x.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        from importlib.metadata import version

        ls_version = version("localstack-core")
        boto_version = version("boto3")
    except Exception:
        ls_version = boto_version = "?"

    def runs(xs, f=fmt_time):
        return ", ".join(f(x) for x in xs)

    head = ("metric", "Stepwise serve (median)", "LocalStack (median)", "Stepwise serve ahead by")
    lines = [
        "# `stepwise serve` vs LocalStack, through the API",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M %Z')} on {os.cpu_count()} CPUs ({cpu}); {a.serve_version}; "
        f"localstack-core {ls_version}; one client for both (scripts/bench_localstack.py, boto3 {boto_version}, "
        f"Python {platform.python_version()}) over loopback; each workload on a fresh server, Stepwise first, "
        "then LocalStack, never at the same time.",
        "",
        "| " + " | ".join(head) + " |",
        "| --- | ---: | ---: | ---: |",
    ] + ["| " + " | ".join(r) + " |" for r in rows]
    lines += [
        "",
        "How:",
        f"- Chain: one execution at a time, a warm-up then {len(sw['chain']['wall_s'])} measured run(s); the "
        f"warm-up's history was checked to enter {states:,} states on both. DescribeExecution polled from "
        f"{sw['chain'].get('poll_min_s', 0.1) * 1e3:.0f} ms, doubling to 100 ms. Wall: Stepwise serve "
        f"{runs(sw['chain']['wall_s'])}; LocalStack {runs(ls['chain']['wall_s'])}. By its dates: Stepwise serve "
        f"{runs(sw['chain']['server_s'])}; LocalStack {runs(ls['chain']['server_s'])}. The dates have "
        "millisecond resolution; Stepwise serve stamps each engine step with one clock reading, and "
        "its chain (Pass and Choice, nothing to wait for) runs as one step, so where its dates show 0 "
        "the wall time and server CPU time are the figures to compare.",
        f"- Activities: N={n:,}, each run on a fresh server after {sw['acts'][0]['warmup']} warm-up executions: "
        "StartExecution from 8 threads, then the worker pool (GetActivityTask, SendTaskSuccess) until "
        f"ListExecutions shows all N SUCCEEDED. Stepwise serve {runs([r['elapsed_s'] for r in sw['acts']])} "
        f"(start phase {runs([r['start_s'] for r in sw['acts']])}); LocalStack "
        f"{runs([r['elapsed_s'] for r in ls['acts']])} (start phase {runs([r['start_s'] for r in ls['acts']])}).",
        f"- Memory: RSS of the server process (and its children) before and after {sw['mem']['n']:,} executions "
        f"reached ActivityScheduled, after 50 warm-up executions: Stepwise serve {sw['mem']['rss_before'] / 2**20:.0f} "
        f"-> {sw['mem']['rss_parked'] / 2**20:.0f} MiB, OS threads {sw['mem']['threads_before']} -> "
        f"{sw['mem']['threads_parked']}; LocalStack {ls['mem']['rss_before'] / 2**20:.0f} -> "
        f"{ls['mem']['rss_parked'] / 2**20:.0f} MiB, OS threads {ls['mem']['threads_before']} -> "
        f"{ls['mem']['threads_parked']}.",
        "",
        "Caveats:",
        "- Both sides are measured through boto3 over HTTP on loopback, and the client shares the CPUs with "
        "the server: client time is in every figure except the server's own dates and CPU time, and it "
        "weighs more on the faster server, so the wall-time ratios understate the servers' own difference.",
        "- Durability differs. Stepwise serve writes every engine step (journal, history events, task tokens) "
        "to SQLite in its data directory as one transaction, WAL with synchronous=NORMAL: a commit survives "
        "the process being killed, but commits are not fsynced one by one (SQLite fsyncs at WAL checkpoints), "
        "so a power cut may lose the last few. LocalStack keeps Step Functions state in memory (no "
        "persistence configured), so it writes nothing.",
        "- Stepwise serve's GetActivityTask long-polls as AWS does; LocalStack's answers at once, empty or not, "
        "and idle workers sleep 10 ms before asking again.",
        "- LocalStack's GetActivityTask/SendTaskSuccess scan every execution it holds, so its activity rate "
        "falls as N grows; the ratio at N=10,000 would be larger than shown.",
        "- RSS growth is coarse (allocator pools, thread stacks; LocalStack starts an OS thread per "
        "execution); a figure near zero means below what RSS resolves at this N.",
    ]
    dups = sum(x.get("duplicates", 0) for x in ls["acts"])
    if dups:
        lines.append(f"- LocalStack handed the same activity task to two pollers {dups} times.")
    dups = sum(x.get("duplicates", 0) for x in sw["acts"])
    if dups:
        lines.append(f"- Stepwise serve handed the same activity task to two pollers {dups} times.")
    text = "\n".join(lines) + "\n"
    with open(a.out, "w") as f:
        f.write(text)
    print(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("chain", "memory", "activity"):
        p = sub.add_parser(name)
        p.add_argument("--endpoint", required=True)
        p.add_argument("--pid", type=int, required=True, help="the server's process id (RSS, CPU)")
        p.add_argument("--label", default="LocalStack", help="the server's name in messages")
        p.add_argument("--json", required=True)
        p.add_argument("--workers", type=int, default=8)
        if name == "chain":
            p.add_argument("--states", type=int, default=1000)
            p.add_argument("--runs", type=int, default=5)
            p.add_argument("--poll-min-ms", type=float, default=100, help="first DescribeExecution poll interval")
        else:
            p.add_argument("--n", type=int, default=1000)
    p = sub.add_parser("report")
    p.add_argument("--criterion", required=True)
    p.add_argument("--cargo-log", required=True)
    p.add_argument("--results", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("compare-serve")
    p.add_argument("--serve", required=True, help="results of `stepwise serve`")
    p.add_argument("--localstack", required=True, help="results of LocalStack")
    p.add_argument("--serve-version", default="stepwise serve")
    p.add_argument("--out", required=True)
    a = ap.parse_args()

    if a.cmd == "report":
        return report(a)
    if a.cmd == "compare-serve":
        return compare_serve(a)
    b = Bench(a.endpoint, a.pid, a.workers, a.label, getattr(a, "poll_min_ms", 100) / 1e3)
    if a.cmd == "chain":
        save(a.json, dict(b.chain(a.states, a.runs), states=a.states, poll_min_s=b.poll_min_s))
    elif a.cmd == "memory":
        save(a.json, b.activity_memory(a.n))
    elif a.cmd == "activity":
        warmup = 20
        b.activity_run(warmup, "warm")
        elapsed, start_s = b.activity_run(a.n, "run", timing=True)
        log(f"{a.n} activity executions in {elapsed:.1f} s ({a.n / elapsed:.1f}/s; start phase {start_s:.1f} s)")
        save(
            a.json,
            {"n": a.n, "elapsed_s": elapsed, "start_s": start_s, "warmup": warmup, "workers": a.workers,
             "duplicates": b.duplicates},
        )


if __name__ == "__main__":
    main()

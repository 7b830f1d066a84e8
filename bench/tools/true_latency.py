#!/usr/bin/env python3
"""One-connection misses, timed without wrk's coordinated-omission correction.

wrk 4.1 "corrects" its latency histogram before it reports it: each response that took
n >= 2 x the mean interval adds synthetic samples at n - interval, n - 2 x interval, ...
(stats_correct in wrk.c). At one connection the interval is the mean latency (~0.1 ms),
so one 3 ms stall of this VM becomes ~25 samples and moves the 99th percentile by
milliseconds. This tool times every request as the client lived it: bpftrace follows
wrk's own syscalls, from the write of a request to the last read of its response.

  true_latency.py --harness ../shared/bench --target upstream=19000 --target nginx-cache=19001 \
                  --target pcproxy=18080 [--seconds 3] [--rounds 2] > true.json

Targets are measured in turn, round by round, wrk on CPU 1 (the servers are where the
harness pinned them). Needs root and bpftrace; prints {"error": ...} when it cannot run.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

# Per request: from wrk's write() of the request to the return of its last read() with
# data before the next write. 10 us buckets up to 10 ms.
PROGRAM = r"""
tracepoint:syscalls:sys_enter_write /comm == "wrk"/ {
  if (@start && @last_read > @start) { @latency_us = lhist((@last_read - @start) / 1000, 0, 10000, 10); }
  @start = nsecs;
}
tracepoint:syscalls:sys_exit_read /comm == "wrk" && args->ret > 0/ { @last_read = nsecs; }
END { clear(@start); clear(@last_read); }
"""

BUCKET = re.compile(r"\[(\d+), (?:(\d+)|\.\.\.)\)\s+(\d+)")


def percentile(buckets, p):
    total = sum(c for _, c in buckets)
    rank, seen = p / 100 * total, 0
    for low, count in buckets:
        seen += count
        if seen >= rank:
            return low
    return buckets[-1][0] if buckets else 0


def measure(harness, port, seconds, program_path):
    tracer = subprocess.Popen(["bpftrace", program_path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # bpftrace prints this once its probes are live
            line = tracer.stdout.readline()
            if not line or line.startswith("Attaching"):
                break
        if tracer.poll() is not None:
            raise RuntimeError("bpftrace did not start: " + tracer.stderr.read().strip()[:300])
        env = dict(os.environ, BENCH_SALT=f"true-{port}-{time.time_ns()}")
        wrk = subprocess.run(
            ["taskset", "-c", "1", "wrk", "-t1", "-c1", f"-d{seconds}s", "--timeout", "5s", "--latency",
             "-s", os.path.join(harness, "lua", "miss.lua"), f"http://127.0.0.1:{port}/v1/customers/usagerecords"],
            env=env, capture_output=True, text=True, timeout=seconds + 30)
    finally:
        tracer.send_signal(signal.SIGINT)
        out, _ = tracer.communicate(timeout=30)
    buckets = [(int(m.group(1)), int(m.group(3))) for m in BUCKET.finditer(out)]
    if wrk.returncode != 0 or not buckets:
        raise RuntimeError(f"no latencies for port {port}: wrk exit {wrk.returncode}, {wrk.stderr.strip()[:200]}")
    wrk_p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", wrk.stdout, re.M)
    wrk_requests = re.search(r"(\d+) requests in", wrk.stdout)
    scale = {"us": 1, "ms": 1000, "s": 1000000}
    return {
        "requests": sum(c for _, c in buckets),
        "wrk_requests": int(wrk_requests.group(1)) if wrk_requests else None,
        "p50_us": percentile(buckets, 50),
        "p99_us": percentile(buckets, 99),
        "p999_us": percentile(buckets, 99.9),
        "over_1ms": sum(c for low, c in buckets if low >= 1000),
        "wrk_corrected_p99_us": float(wrk_p99.group(1)) * scale[wrk_p99.group(2)] if wrk_p99 else None,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--harness", required=True)
    ap.add_argument("--target", action="append", required=True, help="name=port")
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    if os.geteuid() != 0 or not shutil.which("bpftrace"):
        print(json.dumps({"error": "needs root and bpftrace"}))
        return
    targets = [t.split("=", 1) for t in args.target]
    results = {name: [] for name, _ in targets}
    with tempfile.NamedTemporaryFile("w", suffix=".bt") as program:
        program.write(PROGRAM)
        program.flush()
        try:
            for _ in range(args.rounds):
                for name, port in targets:
                    results[name].append(measure(args.harness, port, args.seconds, program.name))
        except (RuntimeError, subprocess.SubprocessError, OSError) as e:
            print(json.dumps({"error": str(e)}))
            return
    print(json.dumps({"seconds": args.seconds, "rounds": results}, indent=2))


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The disk and shared tiers' figures, against a running anchors upstream (../shared/bench/anchors.sh
--serve) on 127.0.0.1:19000. Prints one JSON object.

  tiers.py --pcproxy build/release/bin/pcproxy [--misses 20000] [--pages 5000] [--startup-entries 100000]

- CPU per miss with the disk tier on against off: rounds of unique-token misses over 16
  connections, pcproxy's own CPU (all its threads: the disk writer's encoding and SQLite
  work included) until every page is on disk.
- A hit from the disk tier (the first request after a restart) against a memory hit (the
  same page again, promoted): latency over one connection and pcproxy's CPU per request.
- Start-up to ready with 100,000 entries on disk (median of 9 starts).
- A hit from the shared tier (Redis: the page another instance fetched) against a memory
  hit, and Redis's own CPU per such hit.
- A fleet: three instances on one Redis, 64 connections each, all asking for the same
  distinct pages at once: upstream requests against unique pages.

pcproxy runs with one io thread pinned to CPU 0, the client on CPU 1, as bench/compare
runs them. Every pcproxy it starts it stops; every load is bounded in count and time.
"""
import argparse
import asyncio
import json
import os
import shutil
import statistics as st
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from measure import Pcproxy, free_port, origin_count, read_response, request_bytes  # noqa: E402

import subprocess  # noqa: E402


class Redis:
    """Debian's redis-server on a free loopback port, pinned with the servers to CPU 0."""

    def __init__(self, work):
        self.port = free_port()
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", work], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.sched_setaffinity(self.proc.pid, {0})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if subprocess.run(["redis-cli", "-p", str(self.port), "PING"], capture_output=True).stdout.strip() == b"PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def used_memory(self):
        out = subprocess.run(["redis-cli", "-p", str(self.port), "INFO", "memory"], capture_output=True, text=True).stdout
        return int(next(l for l in out.splitlines() if l.startswith("used_memory:")).split(":")[1])

    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def cpu_us(pid):
    """User + system CPU of the whole process (every thread), in microseconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks * 1e6 / os.sysconf("SC_CLK_TCK")


def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode()


def sample(text, name, labels):
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def disk_settled(admin):
    text = metrics(admin)
    return (sample(text, "pcproxy_cache_tier_writes_total", {"tier": "disk"}) +
            sample(text, "pcproxy_cache_tier_dropped_writes_total", {"tier": "disk"}))


async def misses(port, tokens, connections=16):
    queue = asyncio.Queue()
    for t in tokens:
        queue.put_nowait(t)

    async def worker():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while not queue.empty():
            writer.write(request_bytes(queue.get_nowait()))
            await writer.drain()
            await read_response(reader)
        writer.close()

    await asyncio.wait_for(asyncio.gather(*[worker() for _ in range(connections)]), timeout=300)


async def one_connection(port, tokens):
    """Each token once, in order, on one connection: per-request latencies in us."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    out = []
    for t in tokens:
        start = time.perf_counter_ns()
        writer.write(request_bytes(t))
        await writer.drain()
        status = await read_response(reader)
        out.append((time.perf_counter_ns() - start) / 1000)
        if status != 200:
            raise RuntimeError(f"status {status}")
    writer.close()
    return out


def pinned(p):
    os.sched_setaffinity(p.proc.pid, {0})
    return p


def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def miss_cpu(binary, disk_dir, n, tag):
    env = {"PCPROXY_CACHE_DISK_PATH": disk_dir} if disk_dir else {}
    p = pinned(Pcproxy(binary, env))
    tokens = [f"cpu-{tag}-{i:06d}-" + "m" * 60 for i in range(n)]
    asyncio.run(misses(p.port, tokens[:200]))  # warm-up: pools, buffers, the database's first pages
    if disk_dir:
        deadline = time.monotonic() + 60
        while disk_settled(p.admin) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
    before = cpu_us(p.proc.pid)
    asyncio.run(misses(p.port, tokens[200:]))
    if disk_dir:  # the writer's work counts too: wait until every page landed (or was dropped)
        deadline = time.monotonic() + 120
        while disk_settled(p.admin) < n and time.monotonic() < deadline:
            time.sleep(0.05)
    used = cpu_us(p.proc.pid) - before
    text = metrics(p.admin)
    dropped = sample(text, "pcproxy_cache_tier_dropped_writes_total", {"tier": "disk"})
    p.stop()
    return used / (n - 200), dropped


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pcproxy", required=True)
    ap.add_argument("--misses", type=int, default=20000)
    ap.add_argument("--pages", type=int, default=5000)
    ap.add_argument("--startup-entries", type=int, default=100000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--fleet-pages", type=int, default=2000)
    args = ap.parse_args()
    os.sched_setaffinity(0, {1})
    out = {}
    work = tempfile.mkdtemp(prefix="pcproxy-tiers-")
    try:
        # CPU per miss, the disk tier off and on, alternating.
        off, on, dropped = [], [], []
        for r in range(args.rounds):
            off.append(miss_cpu(args.pcproxy, None, args.misses, f"off{r}")[0])
            d = os.path.join(work, f"miss-{r}")
            cpu, drops = miss_cpu(args.pcproxy, d, args.misses, f"on{r}")
            on.append(cpu)
            dropped.append(drops)
            shutil.rmtree(d, ignore_errors=True)
        out["miss_cpu_us_disk_off"] = st.median(off)
        out["miss_cpu_us_disk_on"] = st.median(on)
        out["miss_cpu_ratio_on_off"] = st.median(b / a for a, b in zip(off, on))
        out["miss_cpu_rounds"] = {"off": off, "on": on, "dropped_writes": dropped}

        # A disk hit (first request after a restart) against a memory hit (promoted).
        d = os.path.join(work, "hits")
        tokens = [f"hit-{i:06d}-" + "h" * 60 for i in range(args.pages)]
        p = pinned(Pcproxy(args.pcproxy, {"PCPROXY_CACHE_DISK_PATH": d}))
        asyncio.run(misses(p.port, tokens))
        p.stop()
        p = pinned(Pcproxy(args.pcproxy, {"PCPROXY_CACHE_DISK_PATH": d}))
        for label in ("disk_hit", "memory_hit"):
            before = cpu_us(p.proc.pid)
            lat = asyncio.run(one_connection(p.port, tokens))
            out[f"{label}_cpu_us"] = (cpu_us(p.proc.pid) - before) / len(tokens)
            out[f"{label}_p50_us"] = pct(lat, 0.5)
            out[f"{label}_p99_us"] = pct(lat, 0.99)
        text = metrics(p.admin)
        out["disk_hits_counted"] = sample(text, "pcproxy_cache_tier_reads_total", {"tier": "disk", "result": "hit"})
        p.stop()
        shutil.rmtree(d, ignore_errors=True)

        # Start-up to ready with 100,000 entries on disk.
        d = os.path.join(work, "startup")
        p = pinned(Pcproxy(args.pcproxy, {"PCPROXY_CACHE_DISK_PATH": d}))
        n, batch = 0, 0
        while n < args.startup_entries and batch < 40:
            asyncio.run(misses(p.port, [f"start-{batch}-{i:06d}" for i in range(5000)], connections=8))
            batch += 1
            deadline = time.monotonic() + 60
            while disk_settled(p.admin) < batch * 5000 and time.monotonic() < deadline:
                time.sleep(0.05)
            n = int(sample(metrics(p.admin), "pcproxy_cache_tier_entries", {"tier": "disk"}))
        out["startup_disk_entries"] = n
        _, code = p.stop()
        out["startup_disk_bytes"] = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        time.sleep(2)
        starts = []
        for _ in range(9):
            p = Pcproxy(args.pcproxy, {"PCPROXY_CACHE_DISK_PATH": d})
            starts.append(p.ready_ms)
            p.stop()
        out["startup_ready_ms_with_disk"] = sorted(starts)[4]
        shutil.rmtree(d, ignore_errors=True)

        # A hit from Redis (another instance fetched the page) against a memory hit.
        redis = Redis(work)
        try:
            env = {"PCPROXY_CACHE_SHARED_URL": redis.url(), "PCPROXY_CACHE_SHARED_TIMEOUT_MS": "1000"}
            tokens = [f"shared-{i:06d}-" + "s" * 60 for i in range(args.pages)]
            filler = pinned(Pcproxy(args.pcproxy, env))
            mem0 = redis.used_memory()
            asyncio.run(misses(filler.port, tokens))
            time.sleep(0.5)  # the writes go out without waiting
            out["shared_bytes_per_page"] = (redis.used_memory() - mem0) / len(tokens)
            p = pinned(Pcproxy(args.pcproxy, env))
            for label in ("shared_hit", "shared_memory_hit"):
                before, redis_before = cpu_us(p.proc.pid), cpu_us(redis.proc.pid)
                lat = asyncio.run(one_connection(p.port, tokens))
                out[f"{label}_cpu_us"] = (cpu_us(p.proc.pid) - before) / len(tokens)
                out[f"{label}_redis_cpu_us"] = (cpu_us(redis.proc.pid) - redis_before) / len(tokens)
                out[f"{label}_p50_us"] = pct(lat, 0.5)
                out[f"{label}_p99_us"] = pct(lat, 0.99)
            out["shared_hits_counted"] = sample(metrics(p.admin), "pcproxy_cache_tier_reads_total",
                                                {"tier": "shared", "result": "hit"})
            p.stop()
            filler.stop()
        finally:
            redis.stop()

        # A fleet: three instances, 64 connections each, the same distinct pages at once.
        redis = Redis(work)
        try:
            env = {"PCPROXY_CACHE_SHARED_URL": redis.url(), "PCPROXY_CACHE_SHARED_TIMEOUT_MS": "1000"}
            fleet = [pinned(Pcproxy(args.pcproxy, env)) for _ in range(3)]
            tokens = [f"fleet-{time.time_ns()}-{i:06d}" for i in range(args.fleet_pages)]
            before = origin_count()

            async def all_instances():
                await asyncio.gather(*[misses(p.port, tokens, connections=64) for p in fleet])

            started = time.monotonic()
            asyncio.run(all_instances())
            out["fleet_seconds"] = time.monotonic() - started
            out["fleet_instances"] = len(fleet)
            out["fleet_unique_pages"] = len(tokens)
            out["fleet_requests"] = len(tokens) * len(fleet)
            out["fleet_upstream_requests"] = origin_count() - before - 1  # minus the status request itself
            waited = filled = 0
            for p in fleet:
                text = metrics(p.admin)
                waited += sample(text, "pcproxy_cache_shared_leases_total", {"outcome": "waited"})
                filled += sample(text, "pcproxy_cache_shared_leases_total", {"outcome": "filled"})
                p.stop()
            out["fleet_lease_waits"] = waited
            out["fleet_lease_waits_filled"] = filled
        finally:
            redis.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

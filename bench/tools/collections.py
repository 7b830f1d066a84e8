#!/usr/bin/env python3
"""Whole collections: wall time to collect a 50-page collection from an upstream that takes
200 ms per page (the bundled fake Partner Center), through pcproxy's collection endpoint
against a client paging by hand through pcproxy (with next-page prefetch, the default
for usage records, and without it), and a repeated collection from the cache. Prints one
JSON object.

  collections.py --pcproxy build/release/bin/pcproxy --fake build/release/bin/fake-partner-center

Every process it starts it stops; every walk is bounded (50 pages).
"""
import argparse
import http.client
import json
import os
import signal
import socket
import statistics as st
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from measure import free_port  # noqa: E402

PAGES, PAGE_SIZE, DELAY_MS, WORK_S = 50, 5, 200, 0.15
PATH = "/v1/customers/usagerecords"


def wait_port(port, proc):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("a process exited at start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("did not start listening")


def get(conn, target, headers):
    conn.request("GET", target, headers=headers)
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        raise RuntimeError(f"{target}: {r.status}")
    return body, r


def by_hand(port, token, work=0.0):
    """As the SDKs page: GET, follow links.next with its headers, until there is none;
    `work` seconds spent on each page before asking for the next (a tool's own processing)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"}
    target, pages = f"{PATH}?size={PAGE_SIZE}", 0
    started = time.monotonic()
    while target:
        body, _ = get(conn, target, headers)
        pages += 1
        time.sleep(work)
        nxt = json.loads(body.decode("utf-8-sig")).get("links", {}).get("next")
        if not nxt:
            break
        target = nxt["uri"]
        headers = {"Authorization": f"Bearer {token}",
                   **{h["key"]: h["value"] for h in nxt.get("headers", [])}}
    return time.monotonic() - started, pages


def collection(port, token):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    started = time.monotonic()
    body, r = get(conn, f"/pcproxy/collection{PATH}?size={PAGE_SIZE}&format=ndjson", {"Authorization": f"Bearer {token}"})
    return time.monotonic() - started, body.count(b"\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pcproxy", required=True)
    ap.add_argument("--fake", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    fake_port = free_port()
    fake = subprocess.Popen([args.fake, "--port", str(fake_port), "--customers", str(PAGES * PAGE_SIZE),
                             "--page-size", str(PAGE_SIZE), "--delay-ms", str(DELAY_MS)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [fake]
    out = {"pages": PAGES, "upstream_ms_per_page": DELAY_MS}
    try:
        wait_port(fake_port, fake)

        def start(prefetch):
            port, admin = free_port(), free_port()
            routes = json.dumps([{"path": PATH, "policy": "cache", "ttl_s": 3600, "prefetch_next": prefetch},
                                 {"path": "/*", "policy": "pass"}])
            env = dict(os.environ, PCPROXY_LOG_ACCESS="false", PCPROXY_LOG_LEVEL="warn", PCPROXY_ROUTES=routes)
            p = subprocess.Popen([args.pcproxy, "--listen", f"127.0.0.1:{port}", "--admin-listen",
                                  f"127.0.0.1:{admin}", "--upstream", f"http://127.0.0.1:{fake_port}"],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(p)
            wait_port(port, p)
            return port

        with_prefetch, without_prefetch = start(True), start(False)
        rows = {"collection": [], "by_hand_prefetch": [], "by_hand_no_prefetch": [], "collection_repeated": [],
                "by_hand_working_prefetch": [], "by_hand_working_no_prefetch": []}
        for r in range(args.rounds):
            # A new caller each round: nothing of it is cached yet.
            seconds, items = collection(with_prefetch, f"collect-{r}")
            assert items == PAGES * PAGE_SIZE, items
            rows["collection"].append(seconds)
            rows["collection_repeated"].append(collection(with_prefetch, f"collect-{r}")[0])
            seconds, pages = by_hand(with_prefetch, f"hand-{r}")
            assert pages == PAGES, pages
            rows["by_hand_prefetch"].append(seconds)
            rows["by_hand_no_prefetch"].append(by_hand(without_prefetch, f"hand-plain-{r}")[0])
            # A tool that spends 150 ms on each page: prefetch overlaps that with upstream.
            rows["by_hand_working_prefetch"].append(by_hand(with_prefetch, f"work-{r}", WORK_S)[0])
            rows["by_hand_working_no_prefetch"].append(by_hand(without_prefetch, f"work-plain-{r}", WORK_S)[0])
        for k, v in rows.items():
            out[k + "_s"] = st.median(v)
        out["rounds"] = rows
        out["collection_vs_by_hand_no_prefetch"] = out["collection_s"] / out["by_hand_no_prefetch_s"]
        out["collection_vs_by_hand_prefetch"] = out["collection_s"] / out["by_hand_prefetch_s"]
        out["working_prefetch_vs_no_prefetch"] = out["by_hand_working_prefetch_s"] / out["by_hand_working_no_prefetch_s"]
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=30)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

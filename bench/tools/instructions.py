#!/usr/bin/env python3
"""Instructions per request, counted by valgrind --tool=callgrind: repeatable where
wall-clock figures on a shared VM are not. Runs pcproxy under callgrind against the
harness's static upstream (127.0.0.1:19000, anchors.sh --serve), sends N requests over
one keep-alive connection, and subtracts a run with no requests.

  instructions.py --pcproxy build/release/bin/pcproxy --scenario hit|miss [--requests 2000]
"""
import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

from measure import free_port, request_bytes

AUTH = "Bearer eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJ0aWQiOiJ0ZW5hbnQtYSJ9.instructions"


def request(token):
    return request_bytes(token, AUTH)


def read_response(sock, buf):
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, rest = buf.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(rest) < length:
        rest += sock.recv(65536)
    return rest[length:]


def instructions(binary, scenario, n):
    port, admin = free_port(), free_port()
    out = tempfile.mktemp(prefix="callgrind.")
    env = dict(os.environ, PCPROXY_THREADS="1", PCPROXY_LOG_ACCESS="false", PCPROXY_LOG_LEVEL="warn")
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", binary,
                             "--listen", f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{admin}",
                             "--upstream", "http://127.0.0.1:19000"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    buf = b""
    if n:
        if scenario == "hit":
            sock.sendall(request("instructions-hit"))
            buf = read_response(sock, buf)
        for i in range(n):
            sock.sendall(request("instructions-hit" if scenario == "hit" else f"instructions-miss-{i}"))
            buf = read_response(sock, buf)
    sock.close()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    total = 0
    with open(out) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                total = int(line.split()[1])
    os.unlink(out)
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pcproxy", required=True)
    ap.add_argument("--scenario", choices=["hit", "miss"], required=True)
    ap.add_argument("--requests", type=int, default=2000)
    args = ap.parse_args()
    base = instructions(args.pcproxy, args.scenario, 0)
    loaded = instructions(args.pcproxy, args.scenario, args.requests)
    extra = 1 if args.scenario == "hit" else 0  # the request that stores the page
    print(f"{args.scenario}: {(loaded - base) / (args.requests + extra):,.0f} instructions per request")


if __name__ == "__main__":
    main()

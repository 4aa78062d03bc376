#!/usr/bin/env python3
"""Failover measurement of cluster mode: kill -9 one of three `echord listen --cluster` processes.

  eval "$(bash scripts/postgres-test-server.sh start)"
  python3 scripts/cluster-failover.py --bin .build/debug/echord --url "$ECHORD_POSTGRES_TEST_URL" \
      [--shards 12] [--lease-ttl 10] [--rate 50] [--restart-postgres "$ECHORD_POSTGRES_TEST_DATA"]

With --restart-postgres DIR (the test server's directory) [--outage S], PostgreSQL is stopped (pg_ctl
stop -m fast) under load, left down S seconds and started again, instead of a member being killed, and the script reports whether every shard stayed
or came back READY, any socket taken over (a shard run twice), and the IDENTIFYs after the restart.

Starts `echord simulate` (max_concurrency 4, identify buckets of 5 s as Discord's) and three members
on one bot key, waits until all shards are READY (one IDENTIFY each), turns the traffic generator on,
kills one member with SIGKILL (no goodbye), and waits until the survivors have RESUMED every orphaned
shard. Prints: the failover time (kill to the last RESUMED), IDENTIFYs after the kill, the dispatches
delivered twice (after the last checkpoint), dispatches never delivered, and the smallest spacing of
IDENTIFYs in one bucket across processes (simulator clock). Loopback only; stops everything it started.
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

TOKEN = "MTE5MTE2ODkxNDIyNzMzMTA3Mw.failover.measure"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/control/{path}", timeout=10) as r:
        return json.load(r)


def post(port: int, path: str):
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/control/{path}", method="POST"), timeout=10)


class Member:
    def __init__(self, name, args):
        self.name = name
        self.lines = []  # (time, shard, seq, t)
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env={**os.environ, "DISCORD_TOKEN": TOKEN})
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self):
        for raw in self.proc.stdout:
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            self.lines.append((time.monotonic(), line["shard"], line["s"], line["t"]))


def restart_postgres(port, members, options):
    before = get(port, "log?since=0&limit=100000")
    identifies_before = len([e for e in before if e.get("op") == 2 and e.get("kind") == "received"])
    first_after = len(before)

    pg_port = re.search(r"@[^:/]+:(\d+)/", options.url).group(1)
    server_options = f"-p {pg_port} -k {options.restart_postgres} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off"

    def pg_ctl(action):
        command = ["/usr/lib/postgresql/15/bin/pg_ctl", "-D", os.path.join(options.restart_postgres, "data"), "-w",
                   "-m", "fast", "-l", os.path.join(options.restart_postgres, "server.log"), "-o", server_options, action]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--"] + command
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    started = time.monotonic()
    pg_ctl("stop")
    time.sleep(options.outage)
    pg_ctl("start")
    print(f"PostgreSQL down for {time.monotonic() - started:.2f} s (lease TTL {options.lease_ttl:g} s)")
    time.sleep(options.lease_ttl * 2)
    post(port, "traffic?rate=0")
    time.sleep(1)
    log = get(port, "log?since=0&limit=100000")
    identifies = [e for e in log if e.get("op") == 2 and e.get("kind") == "received"]
    takeovers = [e for e in log if e.get("kind") == "session" and str(e.get("what", "")).startswith("taken over")]
    sessions = get(port, "sessions")
    connected = [s for s in sessions if s.get("connection") is not None]
    delivered = {}
    for m in members:
        for (_, shard, seq, _) in m.lines:
            if seq is not None:
                delivered.setdefault(shard, []).append(seq)
    duplicates = sum(len(seqs) - len(set(seqs)) for seqs in delivered.values())
    missing = sum(len([n for n in range(1, s["seq"] + 1) if n not in set(delivered.get(s["shard"][0], []))]) for s in sessions)
    print(f"sessions connected after the restart: {len(connected)} of {options.shards}")
    print(f"sockets taken over (a shard run twice): {len(takeovers)}")
    print(f"IDENTIFYs after the restart: {len(identifies) - identifies_before}")
    resumes = [e for e in log[first_after:] if e.get("op") == 6 and e.get("kind") == "received"]
    closes = [e for e in log[first_after:] if e.get("kind") == "closed_by_client"]
    print(f"shards stopped by their holder (client closes) during the outage: {len(closes)}; RESUMEs after: {len(resumes)}")
    print(f"dispatches delivered twice: {duplicates}; never delivered: {missing}")
    print(f"violations: {len(get(port, 'violations'))}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--shards", type=int, default=12)
    parser.add_argument("--lease-ttl", type=float, default=10)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--timeout", type=float, default=180)
    parser.add_argument("--restart-postgres", metavar="DIR")
    parser.add_argument("--outage", type=float, default=0, help="seconds PostgreSQL stays down (with --restart-postgres)")
    options = parser.parse_args()

    port = free_port()
    simulator = subprocess.Popen(
        [options.bin, "simulate", "--port", str(port), "--shards", str(options.shards), "--max-concurrency", "4",
         "--guilds", str(options.shards * 2)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    members = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                get(port, "sessions")
                break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("the simulator did not start")
                time.sleep(0.2)
        bot_key = f"measure-{os.getpid()}"
        for name in ("a", "b", "c"):
            members.append(Member(name, [
                options.bin, "listen", "--cluster", options.url, "--bot-key", bot_key, "--shards", str(options.shards),
                "--api-url", f"http://127.0.0.1:{port}/api/v10", "--compress", "none", "--format", "json",
                "--lease-ttl", str(options.lease_ttl), "--log-level", "warning"]))

        def ready_shards():
            return {shard for m in members for (_, shard, _, t) in m.lines if t in ("READY", "RESUMED")}

        deadline = time.monotonic() + options.timeout
        while len(ready_shards()) < options.shards:
            if time.monotonic() > deadline:
                sys.exit(f"not all shards ready: {sorted(ready_shards())}")
            time.sleep(0.2)
        time.sleep(options.lease_ttl / 2)  # every member renewed at least once
        post(port, f"traffic?rate={options.rate}")
        time.sleep(2)
        if options.restart_postgres:
            restart_postgres(port, members, options)
            return
        victim = members[0]
        # The shards the victim holds now: those whose latest READY/RESUMED anywhere is the victim's.
        latest = {}
        for m in members:
            for (at, shard, _, t) in list(m.lines):
                if t in ("READY", "RESUMED") and (shard not in latest or at > latest[shard][0]):
                    latest[shard] = (at, m)
        orphaned = {shard for shard, (_, m) in latest.items() if m is victim}
        identifies_before = len([e for e in get(port, "log?since=0&limit=100000") if e.get("op") == 2 and e.get("kind") == "received"])
        killed_at = time.monotonic()
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait()
        survivors = members[1:]
        resumed_at = {}
        while len(resumed_at) < len(orphaned):
            if time.monotonic() > killed_at + options.timeout:
                sys.exit(f"not resumed: {sorted(orphaned - set(resumed_at))}")
            for m in survivors:
                for (at, shard, _, t) in list(m.lines):
                    if t == "RESUMED" and shard in orphaned and at > killed_at and shard not in resumed_at:
                        resumed_at[shard] = at
            time.sleep(0.05)
        time.sleep(2)
        post(port, "traffic?rate=0")
        time.sleep(1)
        log = get(port, "log?since=0&limit=100000")
        identifies = [e for e in log if e.get("op") == 2 and e.get("kind") == "received"]
        sessions = get(port, "sessions")
        delivered = {}
        for m in members:
            for (_, shard, seq, _) in m.lines:
                if seq is not None:
                    delivered.setdefault(shard, []).append(seq)
        duplicates = sum(len(seqs) - len(set(seqs)) for seqs in delivered.values())
        missing = 0
        for s in sessions:
            seen = set(delivered.get(s["shard"][0], []))
            missing += len([n for n in range(1, s["seq"] + 1) if n not in seen])
        spacing = None
        by_bucket = {}
        for e in identifies:
            match = re.search(r'"shard":\[(\d+),', e.get("text", ""))
            if match:
                by_bucket.setdefault(int(match.group(1)) % 4, []).append(e["time_ms"])
        for times in by_bucket.values():
            times.sort()
            for a, b in zip(times, times[1:]):
                spacing = b - a if spacing is None else min(spacing, b - a)
        print(f"orphaned shards: {len(orphaned)} of {options.shards}, lease TTL {options.lease_ttl:g} s")
        print(f"failover (kill -9 to the last RESUMED): {max(resumed_at.values()) - killed_at:.2f} s")
        print(f"IDENTIFYs after the kill: {len(identifies) - identifies_before}")
        print(f"dispatches delivered twice: {duplicates}; never delivered: {missing}")
        print(f"smallest IDENTIFY spacing in one bucket across processes: {spacing} ms")
        print(f"violations: {len(get(port, 'violations'))}")
    finally:
        for m in members:
            if m.proc.poll() is None:
                m.proc.send_signal(signal.SIGTERM)
        for m in members:
            try:
                m.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                m.proc.kill()
        simulator.send_signal(signal.SIGTERM)
        simulator.wait(timeout=30)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Scale check of `echord simulate`: N concurrent gateway sessions against one simulator process.

  python3 scripts/simulator-scale.py --bin .build/release/echord --sessions 1000 [--compress zlib-stream]

Starts the simulator (max_concurrency = N, so every shard has its own identify bucket), opens N
WebSockets from this process (aiohttp, from the conformance venv), identifies each as shard [i, N],
waits for every READY and GUILD_CREATE, keeps heartbeating, and reads the simulator's resident memory
from /proc before and after. Prints one line per figure. Loopback only.
"""
import argparse
import asyncio
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import zlib

TOKEN = "MTE5MTE2ODkxNDIyNzMzMTA3Mw.scale.test"


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def session(aiohttp, http, url, index, count, compress, ready, stop):
    params = f"v=10&encoding=json" + (f"&compress={compress}" if compress != "none" else "")
    async with http.ws_connect(f"{url}?{params}", max_msg_size=0, compress=0) as ws:
        inflater = zlib.decompressobj() if compress == "zlib-stream" else None
        seq = None
        guilds_left = None
        heartbeat_task = None

        async def heartbeat(interval):
            while True:
                await asyncio.sleep(interval)
                await ws.send_str(json.dumps({"op": 1, "d": seq}))

        async for msg in ws:
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                break
            data = msg.data
            if inflater is not None:
                data = inflater.decompress(data)
            payload = json.loads(data)
            if payload.get("s") is not None:
                seq = payload["s"]
            op, t = payload["op"], payload.get("t")
            if op == 10:
                heartbeat_task = asyncio.create_task(heartbeat(payload["d"]["heartbeat_interval"] / 1000 * 0.9))
                await ws.send_str(json.dumps({"op": 2, "d": {
                    "token": TOKEN, "intents": 513, "shard": [index, count],
                    "properties": {"os": "linux", "browser": "scale", "device": "scale"}}}))
            elif t == "READY":
                guilds_left = len(payload["d"]["guilds"])
                if guilds_left == 0:
                    ready.append(index)
            elif t == "GUILD_CREATE":
                guilds_left -= 1
                if guilds_left == 0:
                    ready.append(index)
            if stop.is_set():
                break
        if heartbeat_task:
            heartbeat_task.cancel()


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default=".build/release/echord")
    p.add_argument("--sessions", type=int, default=1000)
    p.add_argument("--compress", choices=("none", "zlib-stream", "zstd-stream"), default="none")
    p.add_argument("--hold", type=float, default=10.0, help="seconds to hold all sessions before measuring CPU")
    a = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, a.sessions * 2 + 256)), hard))
    sys.path.insert(0, "")
    import aiohttp

    port = free_port()
    server = subprocess.Popen(
        [a.bin, "simulate", "--port", str(port), "--guilds", str(a.sessions), "--shards", str(a.sessions),
         "--max-concurrency", str(a.sessions), "--heartbeat-interval", "20000", "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(300):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        base_rss = rss_kib(server.pid)
        url = f"ws://127.0.0.1:{port}/gateway"
        ready: list = []
        stop = asyncio.Event()
        t0 = time.monotonic()
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            tasks = [asyncio.create_task(session(aiohttp, http, url, i, a.sessions, a.compress, ready, stop))
                     for i in range(a.sessions)]
            while len(ready) < a.sessions and time.monotonic() - t0 < 120:
                failed = [t for t in tasks if t.done() and t.exception()]
                if failed:
                    print("session failed:", failed[0].exception())
                    break
                await asyncio.sleep(0.05)
            elapsed = time.monotonic() - t0
            await asyncio.sleep(1.0)
            rss = rss_kib(server.pid)
            cpu0 = cpu_seconds(server.pid)
            await asyncio.sleep(a.hold)
            cpu1 = cpu_seconds(server.pid)
            rss_hold = rss_kib(server.pid)
            stop.set()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        print(f"sessions ready: {len(ready)} of {a.sessions} ({a.compress}) in {elapsed:.2f} s")
        print(f"simulator RSS: {base_rss} KiB idle, {rss} KiB with all sessions, {rss_hold} KiB after {a.hold:.0f} s")
        print(f"memory per session: {(rss_hold - base_rss) / max(len(ready), 1):.1f} KiB")
        print(f"simulator CPU while holding (heartbeats every 18 s each): {(cpu1 - cpu0) / a.hold * 100:.2f} % of a core")
        return 0 if len(ready) == a.sessions else 1
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

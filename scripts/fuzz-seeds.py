#!/usr/bin/env python3
"""Makes the seed corpora of the Fuzz/ harnesses from ../shared/fixtures (see scripts/fuzz.sh).

  fuzz-seeds.py FIXTURES_DIR GENERATED_EVENT_SWIFT OUT_DIR

Writes OUT_DIR/{inflater,envelope,event-decode,simulator}/ (one file per seed). Nothing here is
kept in git: the corpora are made at run time.
"""
import hashlib
import json
import os
import re
import sys
import zlib

fixtures, generated, out = sys.argv[1], sys.argv[2], sys.argv[3]


def write(corpus, data):
    directory = os.path.join(out, corpus)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


# Every JSON document of the fixtures (gateway messages, dispatch envelopes, objects).
documents = []
for root, _, files in sorted(os.walk(fixtures)):
    for name in sorted(files):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(root, name), "rb") as f:
            raw = f.read()
        try:
            value = json.loads(raw)
        except ValueError:
            continue
        documents.append((raw, value))
messages = [v for _, v in documents if isinstance(v, dict) and "op" in v]

# GatewayEventKind.allCases, in declaration order (the event-decode harness's first byte).
kinds = []
with open(generated) as f:
    inside = False
    for line in f:
        if line.startswith("public enum GatewayEventKind"):
            inside = True
        elif inside and line.startswith("}"):
            break
        elif inside:
            m = re.match(r'\s+case \w+ = "([A-Z_]+)"', line)
            if m:
                kinds.append(m.group(1))
index = {name: i for i, name in enumerate(kinds)}


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


# Envelope: every document as it is (pretty-printed or not) and compact.
for raw, value in documents:
    write("envelope", raw)
    write("envelope", compact(value))

# Event decode: [kind index] + d, for every dispatch of the fixtures; `{}` for kinds without one.
seeded = set()
for value in messages:
    name = value.get("t")
    if isinstance(name, str) and name in index and "d" in value:
        write("event-decode", bytes([index[name]]) + compact(value["d"]))
        seeded.add(name)
for name, i in index.items():
    if name not in seeded:
        write("event-decode", bytes([i]) + b"{}")

# Inflater: one zlib stream per fixture message, Z_SYNC_FLUSH after each message as Discord does,
# mode 0 (cut at the flush markers); a few multi-message streams; the real capture's frames.
def stream(values):
    z = zlib.compressobj()
    data = b""
    for v in values:
        data += z.compress(compact(v)) + z.flush(zlib.Z_SYNC_FLUSH)
    return data


for value in messages:
    write("inflater", b"\x00" + stream([value]))
for start in range(0, len(messages), 8):
    group = messages[start:start + 8]
    write("inflater", b"\x00" + stream(group))
    write("inflater", bytes([1 + start % 200]) + stream(group))
capture = os.path.join(fixtures, "real", "DiscordBM__zlib-stream-capture")
if os.path.isdir(capture):
    frames = b""
    for name in sorted(os.listdir(capture)):
        if name.endswith(".zlib-frame.bin"):
            with open(os.path.join(capture, name), "rb") as f:
                frames += f.read()
    write("inflater", b"\x00" + frames)

# Simulator: mode 0, HTTP requests; mode 1, raw frames after the handshake; mode 2/3, the commands a
# client sends (identify, heartbeat, resume, request members, presence, voice state) as text frames.
http = [
    b"GET /api/v10/gateway HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/v10/gateway/bot HTTP/1.1\r\nHost: x\r\nAuthorization: Bot abc.def.ghi\r\n\r\n",
    b"GET /api/v10/users/@me HTTP/1.1\r\nHost: x\r\nAuthorization: Bot abc.def.ghi\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /control/sessions HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /control/reconnect?shard=0 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    b"POST /control/dispatch HTTP/1.1\r\nHost: x\r\nContent-Length: 39\r\n\r\n{\"t\":\"TYPING_START\",\"d\":{\"user_id\":\"1\"}}",
    b"GET /gateway?v=10&encoding=json HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    b"GET /gateway HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\n\r\n",
]
for request in http:
    write("simulator", b"\x00" + request)
write("simulator", b"\x01" + b"\x89\x80\x01\x02\x03\x04")  # ping
write("simulator", b"\x01" + b"\x88\x82\x01\x02\x03\x04\x02\xea")  # close 1000
commands = [m for m in messages if m.get("op") in (1, 2, 3, 4, 6, 8, 31)]
for value in commands:
    write("simulator", b"\x02" + compact(value))
identify = next((m for m in commands if m.get("op") == 2), {"op": 2, "d": {}})
for value in commands:
    write("simulator", b"\x02" + compact(identify) + b"\x00" + compact(value))
    write("simulator", b"\x03" + compact(identify) + b"\x00" + compact(value))
write("simulator", b"\x02" + b"\x00".join(compact(v) for v in commands[:12]))

for corpus in sorted(os.listdir(out)):
    print(f"{corpus}: {len(os.listdir(os.path.join(out, corpus)))} seeds")

#!/usr/bin/env python3
"""Lists the Swift Testing tests and suites that started but never ended in a `swift test` log.

Used by .ci/run when a test run hangs or is killed by its timeout: the names tell which test held it.
Usage: unfinished-tests.py LOG
"""
import re
import sys
from collections import Counter

started = Counter()
ended = Counter()
start = re.compile(r'^◇ (Test|Suite) "(.*)" started\.$')
end = re.compile(r'^[✔✘] (Test|Suite) "(.*?)" (?:with \d+ test cases? )?(?:passed|failed)(?: after| with)')
with open(sys.argv[1], encoding="utf-8", errors="replace") as log:
    for line in log:
        line = line.rstrip("\n")
        if m := start.match(line):
            started[(m.group(1), m.group(2))] += 1
        elif m := end.match(line):
            ended[(m.group(1), m.group(2))] += 1
unfinished = [(kind, name) for (kind, name), count in started.items() if count > ended[(kind, name)]]
for kind, name in sorted(unfinished):
    print(f"{kind.lower()} still running: {name}")
if not unfinished:
    print("every test that started also ended")

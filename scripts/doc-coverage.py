#!/usr/bin/env python3
"""Lists the public symbols of symbol graphs that have no doc comment of their own.

Usage: doc-coverage.py GRAPH.symbols.json...   (exit status 1 when any is missing)

Symbols that only implement a documented protocol requirement (`description`, `init(from:)`,
`makeAsyncIterator()`, …) and compiler-synthesized members are skipped: DocC shows the protocol's
documentation for them.
"""
import json, sys

missing = []
for path in sys.argv[1:]:
    graph = json.load(open(path))
    implements = {r["source"] for r in graph["relationships"] if r["kind"] in ("requirementOf", "defaultImplementationOf")}
    for symbol in graph["symbols"]:
        if symbol.get("accessLevel") not in ("public", "open"):
            continue
        if symbol.get("docComment"):
            continue
        ident = symbol["identifier"]["precise"]
        if ident in implements or "::SYNTHESIZED::" in ident:
            continue
        name = ".".join(symbol["pathComponents"])
        # Members that satisfy a standard-library or Foundation protocol requirement.
        if symbol["pathComponents"][-1] in (
            "description", "debugDescription", "customMirror", "init(from:)", "encode(to:)", "hash(into:)",
            "==(_:_:)", "makeAsyncIterator()", "next()", "init(rawValue:)", "rawValue", "Element", "AsyncIterator",
            "now", "minimumResolution", "sleep(until:tolerance:)", "Instant", "Duration", "advanced(by:)",
            "duration(to:)", "<(_:_:)", "init(stringLiteral:)", "init(integerLiteral:)", "init(booleanLiteral:)",
            "init(nilLiteral:)", "init(arrayLiteral:)", "run()", "allCases", "AllCases",
        ):
            continue
        missing.append(f'{graph["module"]["name"]}: {symbol["kind"]["identifier"].replace("swift.", "")} {name}')

for line in missing:
    print("undocumented:", line)
print(f"{len(missing)} public symbols without a doc comment")
sys.exit(1 if missing else 0)

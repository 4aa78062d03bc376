#!/usr/bin/env bash
# Builds the DocC documentation of EchordModels, EchordGateway (with the articles of
# Sources/EchordGateway/EchordGateway.docc), EchordSimulator and EchordPostgres into .build/docs, without adding a
# package dependency: SwiftPM dumps the symbol graphs, docc converts them.
#
#   bash scripts/build-docs.sh              # .build/docs/EchordGateway.doccarchive, EchordSimulator.doccarchive
#   bash scripts/build-docs.sh --coverage   # also docc's coverage report (documentation-coverage.json)
#
# Exits non-zero when docc reports any warning or error (an unresolved ``Symbol`` link, a missing
# article, …) or when a public symbol of EchordModels, EchordGateway or EchordSimulator has no doc comment
# (scripts/doc-coverage.py). Preview: docc preview Sources/EchordGateway/EchordGateway.docc
#   --additional-symbol-graph-dir .build/docs/symbol-graphs/EchordGateway
set -euo pipefail
cd "$(dirname "$0")/.."

DOCC="${DOCC:-$(command -v docc || echo /opt/swift/usr/bin/docc)}"
OUT=.build/docs
COVERAGE=0
[[ "${1:-}" == "--coverage" ]] && COVERAGE=1

echo "== symbol graphs (swift package dump-symbol-graph)"
swift package dump-symbol-graph --minimum-access-level public --skip-inherited-docs >"$OUT.dump.log" 2>&1 \
    || { cat "$OUT.dump.log"; exit 1; }
GRAPHS="$(sed -n 's/^Files written to //p' "$OUT.dump.log" | tail -1)"
[[ -d "$GRAPHS" ]] || { echo "no symbol graph directory in the dump output"; cat "$OUT.dump.log"; exit 1; }
rm -f "$OUT.dump.log"

status=0
for module in EchordModels EchordGateway EchordSimulator EchordPostgres EchordTesting; do
    mkdir -p "$OUT/symbol-graphs/$module"
    rm -f "$OUT/symbol-graphs/$module"/*.json
    # The module's own graph and the graphs of its extensions to other modules (Module@Other).
    cp "$GRAPHS/$module".symbols.json "$OUT/symbol-graphs/$module/"
    cp "$GRAPHS/$module"@*.symbols.json "$OUT/symbol-graphs/$module/" 2>/dev/null || true
    catalog=()
    [[ -d "Sources/$module/$module.docc" ]] && catalog=("Sources/$module/$module.docc")
    extra=()
    [[ $COVERAGE == 1 ]] && extra=(--experimental-documentation-coverage --coverage-summary-level detailed)
    echo "== docc convert $module"
    log="$OUT/$module.docc.log"
    "$DOCC" convert "${catalog[@]}" \
        --additional-symbol-graph-dir "$OUT/symbol-graphs/$module" \
        --fallback-display-name "$module" --fallback-bundle-identifier "dev.echord.$module" \
        --output-path "$OUT/$module.doccarchive" "${extra[@]}" >"$log" 2>&1 || status=1
    if grep -E "(warning|error):" "$log"; then
        status=1
    fi
    if [[ $COVERAGE == 1 ]]; then
        grep -v -E "^(Finished|Generated|Documentation)" "$log" || true
    fi
    echo "   -> $OUT/$module.doccarchive"
done
echo "== doc comments"
python3 scripts/doc-coverage.py "$OUT"/symbol-graphs/EchordModels/EchordModels.symbols.json \
    "$OUT"/symbol-graphs/EchordGateway/EchordGateway.symbols.json \
    "$OUT"/symbol-graphs/EchordSimulator/EchordSimulator.symbols.json \
    "$OUT"/symbol-graphs/EchordPostgres/EchordPostgres.symbols.json \
    "$OUT"/symbol-graphs/EchordTesting/EchordTesting.symbols.json || status=1
exit $status

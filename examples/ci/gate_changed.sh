#!/usr/bin/env bash
# Gate every prompt version added since BASE (default origin/main) against its baseline:
# $GATE_BASELINE when set (a label such as production, when CI reaches the registry through
# PROMPTKIT_DB_URL), else the newest version of the same prompt at BASE. Cases are replayed
# from the recordings in fixtures/, so no model is called and no key is needed.
#
# Writes $GATE_REPORTS/summary.md (default gate-reports/, one markdown section per gate,
# fit for a pull-request comment) and an HTML and a JSON report per gate. Exits with the
# worst gate's code: 0 all passed, 1 a regression, 2 an error, 3 inconclusive
# (GATE_ON_INCONCLUSIVE=pass|fail maps an inconclusive gate to 0 or 1).
set -uo pipefail

base="${1:-origin/main}"
out="${GATE_REPORTS:-gate-reports}"
prompts="${PROMPTS_DIR:-prompts}"
mkdir -p "$out"
summary="$out/summary.md"
: > "$summary"
worst=0

newest_at_base() {  # the highest version of prompt $1 that exists at $base
    git ls-tree --name-only "$base" "$prompts/$1/" 2>/dev/null \
        | sed -n 's|.*/\([^/]*\)\.prompt$|\1|p' | sort -V | tail -n 1
}

added=$(git diff --name-only --diff-filter=A "$base"...HEAD -- "$prompts/*/*.prompt" | sort -V)
for file in $added; do
    name=$(basename "$(dirname "$file")")
    version=$(basename "$file" .prompt)
    baseline="${GATE_BASELINE:-$(newest_at_base "$name")}"
    if [ -z "$baseline" ]; then
        printf '### %s@%s is a new prompt: nothing to gate it against\n\n' "$name" "$version" \
            >> "$summary"
        continue
    fi
    promptkit gate "$name" --candidate "$version" --baseline "$baseline" \
        ${GATE_ON_INCONCLUSIVE:+--on-inconclusive "$GATE_ON_INCONCLUSIVE"} \
        --report "$out/$name-$version.html" --report "$out/$name-$version.json" >> "$summary"
    code=$?
    printf '\n' >> "$summary"
    if [ "$code" -gt "$worst" ]; then worst=$code; fi
done

if [ ! -s "$summary" ]; then
    echo "No prompt version was added since $base: nothing to gate." > "$summary"
fi
exit "$worst"

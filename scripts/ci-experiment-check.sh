#!/usr/bin/env bash
# CI: the default experiment's committed pipeline.lock provably comes from the committed code.
# From a temp snapshot of exactly the committed files (as a fresh clone has them), `grow verify`
# re-runs the default experiment (`grow run report`: every stage of it) from scratch and checks
#   - every out not declared `verify: false` (models, eval/metrics.json, profile/profile.json —
#     the numbers docs/RESULTS.md quotes) has the hash the lock records, and
#   - every stage's command, params and dep hashes in the lock are the committed ones.
# Timings, the report page and its charts are declared `verify: false` in pipeline.yaml.
# `grow status --check` is not run here: a fresh clone has no outs, so it would only report them
# missing; verify's input check is what says the lock is current.
# Usage: scripts/ci-experiment-check.sh [target ...]   (default: report, the whole default run)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
grow() { node "$repo/bin/grow.js" "$@"; }
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(report)

work="$(mktemp -d "${TMPDIR:-/tmp}/grow-ci-experiment-XXXXXX")"
trap 'rm -rf "$work"' EXIT
(cd "$repo" && git ls-files -z | xargs -0 cp --parents -t "$work" 2>/dev/null || true)
if [ ! -f "$work/pipeline.lock" ]; then
  echo "ci-experiment-check: pipeline.lock is not committed; run \`grow run report\` and commit it" >&2
  exit 2
fi
# The own wasm GEMM (asm/build, made by `npm ci` / `npm run build`) is a declared dep of the
# computing stages but a build output, so git ignores it: the snapshot commits it so that verify's
# copy has it, exactly as built from the committed asm/gemm.ts.
if [ ! -f "$repo/asm/build/gemm-simd.wasm" ]; then
  echo "ci-experiment-check: asm/build is missing; run \`npm run build\` first" >&2
  exit 2
fi
mkdir -p "$work/asm"
cp -r "$repo/asm/build" "$work/asm/build"
git -C "$work" init -q
git -C "$work" add -A
git -C "$work" add -f asm/build
git -C "$work" -c user.name=ci -c user.email=ci@localhost commit -q -m "ci-experiment-check snapshot"
# Packages are the environment, not inputs.
ln -s "$repo/node_modules" "$work/node_modules"

cd "$work"
echo "== grow verify ${targets[*]} (default experiment, from scratch)"
start=$(date +%s)
grow verify -q "${targets[@]}"
echo "ci-experiment-check: verified in $(( $(date +%s) - start )) s"

#!/usr/bin/env bash
# The CI reproducibility recipe of docs/ci.md, run on a small committed pipeline (default
# examples/ci-small) from a temp copy of exactly its committed files, as a fresh clone has them:
#   1. grow status --check   pipeline.lock matches the committed code, params and outs (exit 3 if not)
#   2. grow verify           re-running every stage from scratch reproduces every out (exit 1 if not)
# Usage: scripts/ci-repro-check.sh [project-dir-inside-this-repo]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
project="${1:-examples/ci-small}"
grow() { node "$repo/bin/grow.js" "$@"; }

work="$(mktemp -d "${TMPDIR:-/tmp}/grow-ci-repro-XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Only what is committed (HEAD plus staged changes in the index), never the workspace's outs,
# caches or untracked files: a check that passes here passes in a fresh clone.
files="$(git -C "$repo" ls-files -- "$project")"
if [ -z "$files" ]; then
  echo "ci-repro-check: no committed files under $project" >&2
  exit 2
fi
(cd "$repo" && git ls-files -z -- "$project" | xargs -0 cp --parents -t "$work")
# A git repository of its own, so verify copies the tracked files as it would in CI.
git -C "$work" init -q
git -C "$work" add -A
git -C "$work" -c user.name=ci -c user.email=ci@localhost commit -q -m "ci-repro-check snapshot"

cd "$work/$project"
echo "== grow status --check ($project)"
grow status --check
echo "== grow verify ($project)"
grow verify

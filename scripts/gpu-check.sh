#!/usr/bin/env bash
# The WebGPU checks for a machine with a GPU (docs/ml.md, "On a GPU machine"). From the repository
# root, after `npm ci`:
#
#   bash scripts/gpu-check.sh [outdir]     # default: artifacts/gpu-check-<date> (git-ignored)
#
# 1. says which adapter webgpu gets (it must be Vulkan on the GPU, not llvmpipe);
# 2. runs the webgpu parity test (webgpu against wasm);
# 3. runs `npm run bench:train`: wasm on 2 cores, then webgpu with `speedup` over it (PyTorch skipped);
# 4. runs the smoke experiment, and the default experiment up to its large model M0 (train_m0;
#    GROW_GPU_CHECK_FULL=1: the whole default experiment), with backend=webgpu, and lists the
#    backend, adapter and ms/step each train.json records.
# Everything goes to outdir; summary.txt there is what docs/BENCHMARKS.md needs (with the GPU's name).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-artifacts/gpu-check-$(date -u +%Y%m%dT%H%M%S)}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
summary="$out/summary.txt"
: >"$summary"
say() { echo "$*" | tee -a "$summary"; }

# NVIDIA in containers: the Vulkan ICD may sit where the loader does not look.
if [ -z "${VK_DRIVER_FILES:-}" ]; then
  for f in /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$f" ]; then export VK_DRIVER_FILES="$f"; break; fi
  done
fi
if [ -z "${__EGL_VENDOR_LIBRARY_FILENAMES:-}" ] && [ -f /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json ]; then
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi

say "== machine: $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
command -v nvidia-smi >/dev/null 2>&1 && say "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1)"
say "NVIDIA_DRIVER_CAPABILITIES=${NVIDIA_DRIVER_CAPABILITIES:-unset} VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}"
say "cpus: $(nproc)  node: $(node --version)"

say "== 1. adapter"
GROW_BACKEND=webgpu node --import tsx test/ml/fixtures/init-backend.ts >"$out/adapter.json" 2>"$out/adapter.err"
grep '^backend:' "$out/adapter.err" | tee -a "$summary"
if ! grep -q 'adapter vulkan' "$out/adapter.err"; then
  say "WARNING: webgpu is not on a Vulkan (hardware) adapter; see $out/adapter.err and docs/ml.md"
fi
GROW_BACKEND=auto node --import tsx test/ml/fixtures/init-backend.ts 2>&1 >/dev/null | grep '^backend:' | sed 's/^/auto: /' | tee -a "$summary"

say "== 2. parity test"
node --import tsx --test test/ml/webgpu-parity.test.ts >"$out/parity.tap" 2>&1
say "parity: exit $? ($(grep -E '^# (pass|fail|skipped)' "$out/parity.tap" | tr '\n' ' '))"

# wasm first (auto would pick the GPU), on 2 cores like the project's CPU machines, then webgpu
# against it. taskset pins the whole process; the webgpu step's host side is one JS thread anyway.
pin=()
command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -gt 2 ] && pin=(taskset -c 0,1)
say "== 3. bench:train (wasm on 2 cores, 2 micro-batch threads; then webgpu)"
GROW_BACKEND=wasm GROW_BENCH_WORKERS=2 GROW_BENCH_TORCH=0 timeout 1800 "${pin[@]}" npm run -s bench:train >"$out/bench.jsonl" 2>"$out/bench.err"
say "bench: exit $?"
node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map(JSON.parse);
  for (const l of lines) console.log(`${l.config.padEnd(6)} ${l.backend.padEnd(7)} ${String(l.ms_per_step).padStart(9)} ms/step (min ${l.min_ms_per_step})  ${l.gflops_per_s} GFLOP/s` + (l.speedup ? `  speedup ${l.speedup}x over ${l.speedup_over}` : "") + (l.adapter ? `  [${l.adapter}]` : ""));
' "$out/bench.jsonl" | tee -a "$summary"

experiment() { # name, then grow run arguments
  local name="$1"; shift
  local dir="$out/$name"
  rm -rf "$dir" && mkdir -p "$dir"
  cp -r pipeline.yaml params stages src package.json tsconfig.json "$dir/"
  ln -s "$PWD/node_modules" "$dir/node_modules"
  local t0=$SECONDS
  (cd "$dir" && GROW_DEV=1 node "$OLDPWD/bin/grow.js" run --set backend=webgpu "$@") >"$out/$name.log" 2>&1
  local rc=$?
  say "$name: exit $rc in $((SECONDS - t0)) s"
  node -e '
    const fs = require("fs"), path = require("path");
    const found = [];
    const walk = (d) => { for (const e of fs.readdirSync(d, { withFileTypes: true })) { const p = path.join(d, e.name); if (e.isDirectory()) walk(p); else if (e.name === "train.json") found.push(p); } };
    walk(process.argv[1]);
    for (const f of found.sort()) { const t = JSON.parse(fs.readFileSync(f, "utf8")); console.log(`  ${path.relative(process.argv[1], path.dirname(f))}: ${t.backend} ${t.adapter ?? ""} ${t.ms_per_step} ms/step, val loss ${t.final_val_loss}`); }
  ' "$dir/artifacts" 2>/dev/null | tee -a "$summary"
}

say "== 4. experiments with backend=webgpu"
experiment smoke --params params/smoke.yaml
if [ "${GROW_GPU_CHECK_FULL:-0}" = 1 ]; then
  experiment default
else
  experiment default-m0 train_m0 # the default configuration's large model (M0) and what it needs
fi
say "== done: $out"

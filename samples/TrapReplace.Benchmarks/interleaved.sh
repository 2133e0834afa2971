#!/usr/bin/env bash
# The core issue's speed ratio, measured so that machine drift hits both sides alike: ROUNDS rounds, each running
# the TrapReplace benchmark and then the PyTorch anchor back to back; per round the ratio is TrapReplace's stage-1
# step WITH the reconstruction head over PyTorch's step WITHOUT it. Prints every round and the median ratio.
# Usage (repository root, after `dotnet build -c Release samples/TrapReplace.Benchmarks`):
#   samples/TrapReplace.Benchmarks/interleaved.sh [rounds=5] [steps=20]
set -euo pipefail
rounds=${1:-5}
steps=${2:-20}
bench=samples/TrapReplace.Benchmarks/bin/Release/net10.0/trap-replace-bench.dll
anchor=../shared/bench/pytorch_wrn16_step.py
[[ -f $bench ]] || { echo "missing $bench: build samples/TrapReplace.Benchmarks in Release first" >&2; exit 2; }
[[ -f $anchor ]] || { echo "missing $anchor (the shared PyTorch anchor)" >&2; exit 2; }
ratios=()
for ((r = 1; r <= rounds; r++)); do
  ours=$(dotnet "$bench" --threads 2 --steps "$steps" | awk -F'|' '/with reconstruction head/ { gsub(/ /, "", $4); print $4 }')
  theirs=$(/usr/bin/python3 "$anchor" "$steps" | awk '/recon=False/ { split($NF, a, "="); print a[2] }')
  ratio=$(awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "%.3f", a / b }')
  ratios+=("$ratio")
  echo "round $r: TrapReplace with reconstruction $ours img/s, PyTorch without $theirs img/s, ratio $ratio"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
echo "median ratio over $rounds rounds: $median"

#!/usr/bin/env bash
# The core issue's speed ratio, measured so that machine drift hits both sides alike: ROUNDS rounds, each running
# the TrapReplace benchmark and then the PyTorch anchor back to back; per round the ratio is TrapReplace's stage-1
# step WITH the reconstruction head over PyTorch's step WITHOUT it. Both sides use the same statistic: images over
# all timed steps / their total time (the anchor's; the benchmark's "all steps" column). Prints every round and
# the median ratio.
# With TUNED_ANCHOR=1 each round also runs the anchor under the glibc malloc settings TrapReplace applies to
# itself (NativeHeap.RetainFreedMemory, here through glibc's environment variables) and prints that ratio too.
# Usage (repository root, after `dotnet build -c Release samples/TrapReplace.Benchmarks`):
#   [TUNED_ANCHOR=1] samples/TrapReplace.Benchmarks/interleaved.sh [rounds=5] [steps=20]
set -euo pipefail
rounds=${1:-5}
steps=${2:-20}
bench=samples/TrapReplace.Benchmarks/bin/Release/net10.0/trap-replace-bench.dll
anchor=../shared/bench/pytorch_wrn16_step.py
[[ -f $bench ]] || { echo "missing $bench: build samples/TrapReplace.Benchmarks in Release first" >&2; exit 2; }
[[ -f $anchor ]] || { echo "missing $anchor (the shared PyTorch anchor)" >&2; exit 2; }
anchor_without() { "$@" /usr/bin/python3 "$anchor" "$steps" | awk '/recon=False/ { split($NF, a, "="); print a[2] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratios=()
tuned_ratios=()
for ((r = 1; r <= rounds; r++)); do
  ours=$(dotnet "$bench" --threads 2 --steps "$steps" | awk -F'|' '/with reconstruction head/ { gsub(/ /, "", $5); print $5 }')
  theirs=$(anchor_without env)
  ratios+=("$(ratio "$ours" "$theirs")")
  line="round $r: TrapReplace with reconstruction $ours img/s, PyTorch without $theirs img/s, ratio ${ratios[-1]}"
  if [[ ${TUNED_ANCHOR:-0} == 1 ]]; then
    tuned=$(anchor_without env MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=2147483647)
    tuned_ratios+=("$(ratio "$ours" "$tuned")")
    line+="; PyTorch without, tuned malloc $tuned img/s, ratio ${tuned_ratios[-1]}"
  fi
  echo "$line"
done
echo "median ratio over $rounds rounds: $(printf '%s\n' "${ratios[@]}" | median)"
if [[ ${TUNED_ANCHOR:-0} == 1 ]]; then
  echo "median ratio against the tuned-malloc anchor: $(printf '%s\n' "${tuned_ratios[@]}" | median)"
fi

#!/usr/bin/env bash
# The speed ratio of the bf16 issue, measured so that machine drift hits both sides alike: ROUNDS rounds, each
# running the TrapReplace benchmark and then the PyTorch anchor back to back; per round the ratio is TrapReplace's
# stage-1 step WITH the reconstruction head over PyTorch's step WITHOUT it. Both sides use the same statistic: images
# over all timed steps / their total time (the anchor's; the benchmark's "all steps" column).
#
# Per round it prints TrapReplace (PRECISION), the plain anchor (fp32, NCHW, default malloc) and the strongest anchor
# a PyTorch user would run on this CPU (channels-last + bf16 autocast + the glibc malloc settings TrapReplace applies
# to itself, NativeHeap.RetainFreedMemory); then the CPU model and the median ratio against each anchor.
# PRECISION defaults to bf16 where the CPU has native bf16 (avx512_bf16 or amx_bf16 in /proc/cpuinfo), else fp32;
# the strongest anchor drops --bf16 on a CPU without it (autocast would emulate bf16 there, slower than fp32).
# Usage (repository root, after `dotnet build -c Release samples/TrapReplace.Benchmarks` and
# `apt-get install -y python3-torch`):
#   [PRECISION=fp32|bf16] samples/TrapReplace.Benchmarks/interleaved.sh [rounds=5] [steps=20]
set -euo pipefail
rounds=${1:-5}
steps=${2:-20}
bench=samples/TrapReplace.Benchmarks/bin/Release/net10.0/trap-replace-bench.dll
anchor=../shared/bench/pytorch_wrn16_step.py
[[ -f $bench ]] || { echo "missing $bench: build samples/TrapReplace.Benchmarks in Release first" >&2; exit 2; }
[[ -f $anchor ]] || { echo "missing $anchor (the shared PyTorch anchor)" >&2; exit 2; }
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "PyTorch is not installed for /usr/bin/python3: apt-get install -y python3-torch" >&2; exit 2; }
native_bf16=0
grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo && native_bf16=1
precision=${PRECISION:-$([[ $native_bf16 == 1 ]] && echo bf16 || echo fp32)}
[[ $precision == bf16 || $precision == fp32 ]] || { echo "PRECISION must be bf16 or fp32; got '$precision'" >&2; exit 2; }
ours_flags=()
[[ $precision == bf16 ]] && ours_flags+=(--bf16)
strongest_flags=(--channels-last)
[[ $native_bf16 == 1 ]] && strongest_flags+=(--bf16)
anchor_without() { "$@" | awk '/recon=False/ { split($NF, a, "="); print a[2] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo "CPU: $cpu ($(nproc) cores; native bf16: $([[ $native_bf16 == 1 ]] && echo yes || echo no)); TrapReplace $precision, strongest anchor ${strongest_flags[*]} + tuned malloc"
plain_ratios=()
strongest_ratios=()
for ((r = 1; r <= rounds; r++)); do
  ours=$(dotnet "$bench" --threads 2 --steps "$steps" "${ours_flags[@]}" | awk -F'|' '/with reconstruction head/ { gsub(/ /, "", $5); print $5 }')
  plain=$(anchor_without /usr/bin/python3 "$anchor" "$steps")
  strongest=$(anchor_without env MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=2147483647 /usr/bin/python3 "$anchor" "$steps" "${strongest_flags[@]}")
  plain_ratios+=("$(ratio "$ours" "$plain")")
  strongest_ratios+=("$(ratio "$ours" "$strongest")")
  echo "round $r: TrapReplace with reconstruction ($precision) $ours img/s; PyTorch without: plain $plain img/s (ratio ${plain_ratios[-1]}), strongest $strongest img/s (ratio ${strongest_ratios[-1]})"
done
echo "median ratio over $rounds rounds: against the plain anchor $(printf '%s\n' "${plain_ratios[@]}" | median), against the strongest anchor $(printf '%s\n' "${strongest_ratios[@]}" | median)"

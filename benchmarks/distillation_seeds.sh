#!/bin/bash
# The distillation measurement in the README (issue 9): vgg-small teaching vgg-tiny, 10 epochs on the full training
# set, 3 seeds with the no-teacher baseline, then a small T x alpha grid on seed 1. Resumable: rerun it after a crash;
# finished runs are skipped, interrupted ones continue from NAME.ckpt.resume. Results: one JSON line per run in
# results.jsonl (top1, baseline_top1, teacher_seconds, distillation_seconds, baseline_seconds, ...).
#
# usage: benchmarks/distillation_seeds.sh TEACHER.ckpt OUT_DIR [compressionlab binary]
set -u
teacher=$(realpath "$1"); out=$2; cl=$(realpath "${3:-compressionlab}" 2>/dev/null || echo compressionlab)
mkdir -p "$out" && cd "$out" || exit 2
run() { # name, extra kd train options...
  local name=$1; shift
  [ -s "$name.out" ] && grep -q '"top1"' "$name.out" && return 0
  local resume=""; [ -f "$name.ckpt.resume" ] && resume=--resume
  "$cl" kd train --teacher "$teacher" --student-arch vgg-tiny --dataset fashion-mnist --objective soft+hard \
    --epochs 10 --out "$name.ckpt" --json $resume "$@" > "$name.out" 2> "$name.err" && tail -1 "$name.out" >> results.jsonl
}
for s in 1 2 3; do run seed$s-T4-a0.9 --temperature 4 --alpha 0.9 --seed $s --baseline; done
for T in 2 4 8; do for a in 0.5 0.9; do
  [ "$T" = 4 ] && [ "$a" = 0.9 ] && continue
  run grid-T$T-a$a --temperature $T --alpha $a --seed 1
done; done
# the best cell of the grid on the other seeds (their baselines are the seed runs' above: same seed, same baseline)
for s in 2 3; do for a in 0.9 0.5; do run seed$s-T2-a$a --temperature 2 --alpha $a --seed $s; done; done

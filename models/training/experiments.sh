#!/usr/bin/env bash
# The grid of models/RESULTS.md: pre-training (PTUM, UserBERT, PUNR) and FUM against their baselines,
# at several shares of the labelled impressions, over several seeds, on one synthetic corpus.
#
#   bash models/training/experiments.sh [WORK_DIR]      (about 45 minutes on one core)
#
# SEEDS (default "1 2 3"), FRACTIONS ("0.1 0.25 1") and THREADS (1) override the grid; a control
# (the baseline with twice the epochs, all labels) runs once per seed. Every run
# appends one JSON line to WORK_DIR/results.jsonl (method, label fraction, seed, validation metrics,
# seconds); the table is printed at the end by results_table.py, which can also be run on its own.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${NEWSREC_PYTHON:-/usr/bin/python3}
WORK=${1:-$(mktemp -d /tmp/newsrec-experiments-XXXXXX)}
SEEDS=${SEEDS:-"1 2 3"}
FRACTIONS=${FRACTIONS:-"0.1 0.25 1"}
THREADS=${THREADS:-1}
# One corpus for every run: 4,000 news, 1,200 labelled users (their impressions are the labels), 6,000
# unlabeled users, 150 named entities. The seeds vary the models and the labelled share drawn.
CORPUS=(--news 4000 --users 1200 --unlabeled-users 6000 --entities 150 --seed 11)
SHAPE=(--dim 32 --heads 4 --max-user-len 64)
PRE=(--epochs 2 --lr 0.003 --threads "$THREADS")
FINE=(--epochs 3 --lr 0.003 --threads "$THREADS")
mkdir -p "$WORK"
RESULTS="$WORK/results.jsonl"
C="$WORK/corpus"
start=$(date +%s)
[ -f "$C/train/histories.tsv" ] || node bin/newsrec.mjs synth --out "$C" "${CORPUS[@]}"

pretrain() { # objective arch seed
  local ckpt="$WORK/pre-$1-$3.ckpt"
  [ -f "$ckpt" ] || "$PY" models/training/pretrain.py --objective "$1" --arch "$2" --data "$C/train" --out "$ckpt" \
    --seed "$3" "${SHAPE[@]}" "${PRE[@]}" 2>"$WORK/pre-$1-$3.log" >"$WORK/pre-$1-$3.json"
  echo "$ckpt"
}

finetune() { # method fraction seed train.py-args...
  local method=$1 fraction=$2 seed=$3
  shift 3
  local t0=$SECONDS
  local metrics
  metrics=$("$PY" models/training/train.py --train "$C/train" --valid "$C/valid" --out "$WORK/bundle-$method-$fraction-$seed" \
    --label-fraction "$fraction" --seed "$seed" "${FINE[@]}" "$@" 2>"$WORK/train-$method-$fraction-$seed.log" | tail -n 1)
  echo "{\"method\":\"$method\",\"fraction\":$fraction,\"seed\":$seed,\"seconds\":$((SECONDS - t0)),\"metrics\":$metrics}" >>"$RESULTS"
  echo "$method labels $fraction seed $seed: $metrics" >&2
  rm -rf "$WORK/bundle-$method-$fraction-$seed"
}

for seed in $SEEDS; do
  ptum=$(pretrain ptum hierarchical "$seed")
  userbert=$(pretrain userbert hierarchical "$seed")
  punr=$(pretrain punr siamese "$seed")
  for f in $FRACTIONS; do
    finetune nrms "$f" "$seed" --arch hierarchical "${SHAPE[@]}"
    finetune nrms+ptum "$f" "$seed" --arch hierarchical --init "$ptum"
    finetune nrms+userbert "$f" "$seed" --arch hierarchical --init "$userbert"
    finetune fum "$f" "$seed" --arch fum "${SHAPE[@]}"
    finetune siamese "$f" "$seed" --arch siamese "${SHAPE[@]}"
    finetune siamese+punr "$f" "$seed" --arch siamese --init "$punr"
  done
  # A control: the baseline with twice the fine-tuning epochs, on all the labels. Pre-trained encoders
  # have had more gradient steps; this shows how much of their gain more training alone would give.
  finetune nrms-6epochs 1 "$seed" --arch hierarchical "${SHAPE[@]}" --epochs 6
done
echo "grid done in $(($(date +%s) - start)) s; results in $RESULTS" >&2
"$PY" models/training/results_table.py "$RESULTS" "$WORK"/pre-*.json

#!/usr/bin/env bash
# Rebuilds the shipped bundles from nothing: a synthetic corpus, then training and export.
# Usage: npm run model:default   (about 15 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${NEWSREC_PYTHON:-/usr/bin/python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
node bin/newsrec.mjs synth --out "$work/corpus" --news 20000 --users 8000 --seed 1
"$PY" models/training/train.py --train "$work/corpus/train" --valid "$work/corpus/valid" \
  --out models/default --arch hierarchical --epochs 2 --seed 7 --dim 64 --name newsrec-nrms-synth
node bin/newsrec.mjs synth --out "$work/tiny" --news 2000 --users 600 --seed 2
"$PY" models/training/train.py --train "$work/tiny/train" --valid "$work/tiny/valid" \
  --out models/fixtures/siamese-tiny --arch siamese --epochs 1 --seed 7 --dim 32 --fields title,abstract \
  --max-user-len 96 --name newsrec-punr-tiny
sed -i "s#$work/corpus#synth seed 1 (20000 news, 8000 users)#g; s#$work/tiny#synth seed 2 (2000 news, 600 users)#g" \
  models/default/MODEL_CARD.md models/fixtures/siamese-tiny/MODEL_CARD.md

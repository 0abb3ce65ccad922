#!/usr/bin/env bash
# Rebuilds the small fixture bundles the tests hold to their golden vectors: FUM (fum-tiny) and a
# siamese encoder pre-trained with PUNR on unlabeled histories, then fine-tuned (siamese-punr-tiny).
# Usage: npm run model:fixtures   (a few minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${NEWSREC_PYTHON:-/usr/bin/python3}
OUT=${NEWSREC_FIXTURES_OUT:-models/fixtures}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
node bin/newsrec.mjs synth --out "$work/tiny" --news 1500 --users 500 --unlabeled-users 1500 --entities 30 --seed 4
"$PY" models/training/train.py --train "$work/tiny/train" --valid "$work/tiny/valid" \
  --out "$OUT/fum-tiny" --arch fum --epochs 1 --seed 7 --dim 32 --threads 1 --name newsrec-fum-tiny
"$PY" models/training/pretrain.py --objective punr --arch siamese --data "$work/tiny/train" --out "$work/punr.ckpt" \
  --epochs 1 --seed 7 --dim 32 --fields title,abstract --max-user-len 96 --threads 1
"$PY" models/training/train.py --train "$work/tiny/train" --valid "$work/tiny/valid" \
  --out "$OUT/siamese-punr-tiny" --arch siamese --init "$work/punr.ckpt" --epochs 1 --seed 7 --threads 1 --name newsrec-punr-pretrained-tiny
sed -i "s#$work/tiny#synth seed 4 (1500 news, 500 users, 1500 unlabeled, 30 entities)#g; s#$work/punr.ckpt#punr.ckpt (pretrain.py --objective punr, 1 epoch)#g" \
  "$OUT/fum-tiny/MODEL_CARD.md" "$OUT/siamese-punr-tiny/MODEL_CARD.md"

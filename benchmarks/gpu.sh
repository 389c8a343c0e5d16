#!/usr/bin/env bash
# Every GPU check and benchmark of negkit in one run, for a session that is lent a GPU machine (about 5-8
# minutes on one H200). CI never runs this: it has no GPU. Results go to $OUT (the device tool's folder) or
# ./gpu-results; copy the numbers into docs/performance.md with this command line.
#
# The device image has torch, rich, typer and pluggy but not open_clip or pydantic. Prepare wheels here first
# (see the device tool's README), e.g.:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
#     open_clip_torch ftfy wcwidth pydantic pydantic-core annotated-types typing-inspection
# then run with carry [".whl"]:  bash benchmarks/gpu.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"

# Issue 3 target: ViT-B/32, batch 512, one negative, bf16, negkit >= 2.0x the plain eager open_clip loop.
python3 -m negkit bench step --model ViT-B-32 --batch-size 512 --negatives 1 --precision amp_bf16 --device cuda \
  --steps 20 --json "$OUT/step-eager.json" 2>&1 | tee "$OUT/step-eager.txt"
python3 -m negkit bench step --model ViT-B-32 --batch-size 512 --negatives 1 --precision amp_bf16 --device cuda \
  --steps 20 --compile --json "$OUT/step-compile.json" 2>&1 | tee "$OUT/step-compile.txt"
# Issue 6 target: the loss costs < 3% of a step (B = 512, K = 3, D = 512).
python3 benchmarks/loss.py --device cuda --amp 2>&1 | tee "$OUT/loss.txt"
python3 -m negkit bench step --model ViT-B-32 --batch-size 512 --negatives 3 --precision amp_bf16 --device cuda \
  --loss cement --steps 20 --json "$OUT/step-k3-cement.json" 2>&1 | tee "$OUT/step-k3-cement.txt"
# Issue 16: the exact-accumulation step (4 micro-batches of 128 vs one batch of 512, and plain summation) and the
# LoRA step (r 16 on c_fc, c_proj, out_proj vs full fine-tuning). The LoRA step needs peft: add
#   peft transformers accelerate huggingface-hub safetensors tokenizers
# to the wheels above; without it the benchmark prints "skipped". Both skip cleanly without a CUDA device.
if python3 -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  python3 benchmarks/scale.py accum --device cuda --model ViT-B-32 --precision amp_bf16 --micro 128 --n 4 \
    --rounds 10 --json "$OUT/scale-accum.json" 2>&1 | tee "$OUT/scale-accum.txt"
  python3 benchmarks/scale.py lora --device cuda --model ViT-B-32 --precision amp_bf16 --batch 256 \
    --rounds 10 --json "$OUT/scale-lora.json" 2>&1 | tee "$OUT/scale-lora.txt"
else
  echo "no CUDA device: skipping the accumulation and LoRA steps" | tee "$OUT/scale-skipped.txt"
fi

#!/usr/bin/env bash
# Everything neuface checks only on a CUDA GPU, as one run (a lent GPU machine's time is short):
# the CUDA variants of the tests (runtime, compiled AdaBelief on triton, fp16 GradScaler, `train --compile`)
# and the GPU figures the README records (train loop at LIAE-UD res 256 batch 16 bf16, merge, batched detection).
#   bash benchmarks/gpu_checks.sh            # from the repository root, with neuface importable
set -uo pipefail  # no -e: a failing test must not stop the benchmarks that follow
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU here'; print(torch.cuda.get_device_name(0))"
python -m pytest -q -p no:cacheprovider -rs -k cuda \
    tests/test_runtime.py tests/test_adabelief.py tests/test_saehd_step.py tests/test_train_compile.py
python benchmarks/train_bench.py --res 256 --batch 16 --device cuda --precision bf16 --iters 20
python benchmarks/merge_bench.py --device cuda
# Issue 15's GPU figure: the default detector batched on CUDA (needs onnxruntime-gpu: `pip install '.[gpu]'`),
# beside dlib HOG and the CPU run of the same frames.
python benchmarks/detect_bench.py --compare-1080p --device cuda --batch-size 8

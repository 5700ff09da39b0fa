#!/usr/bin/env python3
"""Hugging Face transformers in bf16 on the GPU: the external oracle for the CUDA engine.

On a machine with a GPU, torch and transformers, for each golden preset it writes the checkpoint
with `tspserve make-model` (the seed from tests/golden/data/<preset>/golden.json), runs
transformers in bfloat16 on cuda:0 over the golden prompts, and stores under OUT/<preset>/:
  model/            the checkpoint (the GPU test loads the same one)
  logits_<i>.bin    float32 little-endian logits of golden prompt i at every position, [len, vocab]
Then the gpu-labelled gpu_equivalence_test compares the CUDA engine with these when
TSPSERVE_HF_GPU_DIR=OUT is set:
  python3 tests/golden/make_hf_gpu_logits.py --tspserve bundle/bin/tspserve --out /tmp/hf
  TSPSERVE_HF_GPU_DIR=/tmp/hf bundle/bin/gpu_equivalence_test
"""
import argparse
import json
import os
import subprocess

import torch
from transformers import AutoModelForCausalLM

PRESETS = ["tiny", "small", "llama2-small", "mistral-small", "qwen2-small", "qwen3-small"]


def make_preset(tspserve, golden_root, preset, out_root):
    with open(os.path.join(golden_root, preset, "golden.json")) as f:
        golden = json.load(f)
    out = os.path.join(out_root, preset)
    model_dir = os.path.join(out, "model")
    os.makedirs(out, exist_ok=True)
    subprocess.run([tspserve, "make-model", "--preset", preset, "--seed", str(golden["seed"]),
                    "--out", model_dir], check=True, stdout=subprocess.DEVNULL)
    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.bfloat16).to("cuda:0")
    model.eval()
    for i, prompt in enumerate(golden["prompts"]):
        with torch.no_grad():
            logits = model(torch.tensor([prompt["ids"]], device="cuda:0")).logits[0].float().cpu().numpy()
        logits.astype("<f4").tofile(os.path.join(out, f"logits_{i}.bin"))
    print(f"{preset}: {len(golden['prompts'])} prompts")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tspserve", required=True, help="path to a tspserve binary")
    parser.add_argument("--out", required=True)
    parser.add_argument("--golden", default=os.path.join(here, "data"))
    parser.add_argument("--presets", nargs="*", default=PRESETS)
    args = parser.parse_args()
    for preset in args.presets:
        make_preset(os.path.abspath(args.tspserve), args.golden, preset, args.out)


if __name__ == "__main__":
    main()

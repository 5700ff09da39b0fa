#!/usr/bin/env python3
"""How far transformers' own bf16 logits are from its fp32 logits, on the golden presets.

Calibrates the GPU tests' tolerances: for each preset (checkpoints written by make_hf_gpu_logits.py
under DIR/<preset>/model) and each golden prompt it prints the worst per-position relative L2
error of bf16 against fp32 and how many positions with an fp32 top-two margin above 0.1 change
their argmax in bf16.
  python3 tests/golden/hf_bf16_noise.py --dir /tmp/hf
"""
import argparse
import json
import os

import torch
from transformers import AutoModelForCausalLM

PRESETS = ["tiny", "small", "llama2-small", "mistral-small", "qwen2-small", "qwen3-small"]


def logits(model_dir, dtype, ids):
    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=dtype).to("cuda:0").eval()
    with torch.no_grad():
        return model(torch.tensor([ids], device="cuda:0")).logits[0].float()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--golden", default=os.path.join(here, "data"))
    args = parser.parse_args()
    for preset in PRESETS:
        with open(os.path.join(args.golden, preset, "golden.json")) as f:
            golden = json.load(f)
        model_dir = os.path.join(args.dir, preset, "model")
        worst, flips, checked = 0.0, 0, 0
        for prompt in golden["prompts"]:
            ref = logits(model_dir, torch.float32, prompt["ids"])
            low = logits(model_dir, torch.bfloat16, prompt["ids"])
            error = ((low - ref).norm(dim=1) / ref.norm(dim=1)).max().item()
            worst = max(worst, error)
            top2 = ref.topk(2, dim=1).values
            confident = (top2[:, 0] - top2[:, 1]) > 0.1
            checked += int(confident.sum())
            flips += int((confident & (low.argmax(1) != ref.argmax(1))).sum())
        print(f"{preset}: transformers bf16 vs fp32: worst relative L2 {worst:.2e}, "
              f"argmax changed at {flips} of {checked} positions with margin > 0.1")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Golden data from Hugging Face transformers for the CPU engine's tests.

For each preset it writes a checkpoint with `tspserve make-model`, loads it in transformers at
fp32, and stores under tests/golden/data/<preset>/:
  golden.json        the prompts, their token ids (from the `tokenizers` library), the greedy
                     continuation, and the names of the logits files
  logits_<i>.bin     float32 little-endian logits of prompt i at the positions listed in
                     golden.json's "rows" (the first and last few and every 7th), [rows, vocab]

Run it on a development machine with torch and transformers installed (CI never needs them):
  python3 tests/golden/make_golden.py --tspserve build/server/tspserve
"""
import argparse
import json
import os
import subprocess
import tempfile

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM

PRESETS = ["tiny", "small", "llama2-small", "mistral-small", "qwen2-small", "qwen3-small"]
SEED = 1
PROMPTS = [
    "The quick brown fox jumps over the lazy dog.",
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)",
    "Grüße aus Köln! 東京は晴れ。 🙂 12345",
]
# Long enough to cross the Mistral preset's sliding window of 64 tokens.
LONG_PROMPT = " ".join(f"item {i} costs {i * 7 % 13} coins;" for i in range(7))
CONTINUATION_TOKENS = 16


def stored_rows(length):
    """Positions whose logits are kept: enough to catch any error, small enough to commit."""
    return [p for p in range(length) if p < 4 or p % 7 == 0 or p >= length - 4]


def greedy(model, ids, steps):
    ids = list(ids)
    out = []
    with torch.no_grad():
        for _ in range(steps):
            logits = model(torch.tensor([ids])).logits[0, -1]
            token = int(torch.argmax(logits))
            out.append(token)
            ids.append(token)
    return out


def make_preset(tspserve, preset, out_root):
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = os.path.join(tmp, preset)
        subprocess.run([tspserve, "make-model", "--preset", preset, "--seed", str(SEED),
                        "--out", model_dir], check=True)
        tokenizer = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32,
                                                     attn_implementation="eager")
        model.eval()
        data_dir = os.path.join(out_root, preset)
        os.makedirs(data_dir, exist_ok=True)
        prompts = []
        for i, text in enumerate(PROMPTS + [LONG_PROMPT]):
            ids = tokenizer.encode(text, add_special_tokens=True).ids
            with torch.no_grad():
                logits = model(torch.tensor([ids])).logits[0].float().numpy()
            rows = stored_rows(len(ids))
            name = f"logits_{i}.bin"
            logits[rows].astype("<f4").tofile(os.path.join(data_dir, name))
            prompts.append({"text": text, "ids": ids, "logits_file": name, "rows": rows,
                            "vocab_size": int(logits.shape[1])})
        first = prompts[0]["ids"]
        golden = {
            "preset": preset,
            "seed": SEED,
            "transformers_dtype": "float32",
            "prompts": prompts,
            "greedy": {"prompt_ids": first,
                       "tokens": greedy(model, first, CONTINUATION_TOKENS)},
        }
        with open(os.path.join(data_dir, "golden.json"), "w") as f:
            json.dump(golden, f, indent=1, ensure_ascii=False)
        print(f"{preset}: {len(prompts)} prompts, vocab {prompts[0]['vocab_size']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tspserve", required=True, help="path to the built tspserve binary")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "data"))
    parser.add_argument("--presets", nargs="*", default=PRESETS)
    args = parser.parse_args()
    torch.manual_seed(0)
    for preset in args.presets:
        make_preset(os.path.abspath(args.tspserve), preset, args.out)


if __name__ == "__main__":
    main()

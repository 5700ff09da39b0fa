#!/usr/bin/env python3
"""Plots of `tspserve bench --json` results: one figure per question, one line per mode.

  python3 docs/benchmarks/plot.py docs/benchmarks/data/llama3-8b_2xh200.json --out docs/benchmarks
writes <name>_memory.png (per-GPU peak against prompt length), <name>_prefill.png (prefill time
and its ratio to the floor against prompt length) and <name>_decode.png (time per decode step
against batch, one panel per context). Needs matplotlib.
"""
import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def label(case):
    return case["mode"] + ("/" + case["schedule"] if case["schedule"] else "")


def series(cases, phase, x_key, y_fn, where=lambda c: True):
    lines = {}
    for c in cases:
        if c["phase"] != phase or not c["ok"] or not where(c):
            continue
        lines.setdefault(label(c), []).append((c[x_key], y_fn(c)))
    return {k: sorted(v) for k, v in lines.items()}


def peak_gib(case):
    return max(m["total"] for m in case["memory_per_gpu"]) / 2**30


def draw(ax, lines, xlabel, ylabel, logx=True):
    for name, points in sorted(lines.items()):
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
    if logx:
        ax.set_xscale("log", base=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)


def plot(path, out_dir):
    with open(path) as f:
        doc = json.load(f)
    name = os.path.splitext(os.path.basename(path))[0]
    title = f"{doc['model']} on {doc['device']}"
    cases = doc["cases"]

    fig, ax = plt.subplots(figsize=(6, 4))
    draw(ax, series(cases, "prefill", "prompt_tokens", peak_gib), "prompt tokens", "peak GiB per GPU")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, f"{name}_memory.png"), dpi=110)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    draw(axes[0], series(cases, "prefill", "prompt_tokens", lambda c: c["seconds"]), "prompt tokens", "prefill s")
    axes[0].set_yscale("log")
    draw(axes[1], series(cases, "prefill", "prompt_tokens", lambda c: c["ratio_to_floor"]), "prompt tokens",
         "time / floor")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, f"{name}_prefill.png"), dpi=110)

    contexts = sorted({c["context"] for c in cases if c["phase"] == "decode"})
    if contexts:
        fig, axes = plt.subplots(1, len(contexts), figsize=(5 * len(contexts), 4), squeeze=False)
        for ax, ctx in zip(axes[0], contexts):
            draw(ax, series(cases, "decode", "batch", lambda c: 1e3 * c["seconds"], lambda c: c["context"] == ctx),
                 "batch", "ms per decode step")
            ax.set_title(f"context {ctx}", fontsize=9)
        fig.suptitle(title, fontsize=9)
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, f"{name}_decode.png"), dpi=110)
    print(f"{name}: plots in {out_dir}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", nargs="+")
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = parser.parse_args()
    for path in args.json:
        plot(path, args.out)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes the tokenizer golden data under tests/golden/tokenizer/data/.

Usage: make_tokenizer_golden.py <path to build>/tests/models/tokenizer/write_trained_tokenizer

For each tokenizer it stores <name>.tokenizer.json and <name>.cases.json. Two tokenizers come from
our C++ trainer (Llama-3 style byte level, Llama-2 style metaspace with byte fallback) and two are
trained by Hugging Face `tokenizers` itself on the same built-in corpus (GPT-2 style ByteLevel
pre-tokenizer; Llama 3 Split regex + ByteLevel with ignore_merges), so the C++ tokenizer is also
checked on files it did not write. The cases hold Hugging Face's encodings and decodings of a set
of hard strings; tokenizer_golden_test.cc compares against them.
"""
import json
import os
import subprocess
import sys
import tempfile

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors
from tokenizers import trainers

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

# {S} is replaced by a special token of the tokenizer under test, {A} by a second added token.
HARD_STRINGS = [
    "", " ", "  ", "\t", "\n", "Hello world", "Hello, world!",
    "How's it going? I'm fine; they'll see, we've done, you'd know, she's here, it'd've been.",
    "HOW'S IT GOING? I'LL SEE, WE'VE DONE", "don't can't won't",
    "   leading spaces", "trailing spaces   ", "multiple     spaces   between  words",
    "\t\ttabs\tand\nnewlines\n\n\r\nmixed \t \n end", "a\n\n\n\nb", "\n" * 40, " " * 257 + "x",
    "12345678901234567890", "3.14159 and 2,718,281 and 1e-9 and 0xDEADBEEF", "007 0 00 000 0000",
    "Über naïve café façade, Grüße aus Köln", "Le marché ouvre à sept heures. Où est l'église ?",
    "日本語のテキストです。雨が降り始めた。", "中文分词测试，你好世界！", "한국어 문장도 있어요",
    "Emoji 🙂😂👍 families 👩‍👩‍👧‍👦 👨‍💻 skin 👋🏽👍🏿 flags 🇩🇪🇯🇵 hearts ❤️ 🏳️‍🌈",
    "rare: ꙮ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ∮ ⅋ ﷽ 𓀀", "nbsp\u00a0and\u3000ideographic\u2003em spaces",
    "for (int i = 0; i < n; ++i) { x[i] *= 2; }", "def f(x):\n    return x ** 2\n\n\n",
    "before{S}after", " {S} spaced ", "{S}{S}", "{S}", "text {A} more{A}text  {A}  x",
    "MixedCaseIdentifiers HttpRequestParser snake_case_name SCREAMING_SNAKE",
    "The lighthouse keeper counted the ships every evening.",
]


def run(cmd):
    subprocess.run(cmd, check=True)


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


def train_hf_gpt2(corpus_path):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train([corpus_path], trainer)
    tok.add_tokens([AddedToken("[[MASK]]", lstrip=True, rstrip=True, special=False)])
    return tok


def train_hf_llama3(corpus_path):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"]
    trainer = trainers.BpeTrainer(vocab_size=800, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train([corpus_path], trainer)
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A",
                                      pair="<|begin_of_text|> $A <|begin_of_text|>:1 $B:1",
                                      special_tokens=[("<|begin_of_text|>", bos)])])
    spec = json.loads(tok.to_str())
    spec["model"]["ignore_merges"] = True
    return Tokenizer.from_str(json.dumps(spec))


def cases(tok, special, added):
    out = []
    for template in HARD_STRINGS:
        text = template.replace("{S}", special).replace("{A}", added)
        ids = tok.encode(text, add_special_tokens=False).ids
        with_special = tok.encode(text, add_special_tokens=True).ids
        out.append({"text": text, "ids": ids, "ids_with_special": with_special,
                    "decoded": tok.decode(with_special, skip_special_tokens=False),
                    "decoded_skip": tok.decode(with_special, skip_special_tokens=True)})
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    tool = sys.argv[1]
    os.makedirs(DATA, exist_ok=True)
    tokenizers = {}
    for name in ("trained_bytelevel", "trained_metaspace"):
        path = os.path.join(DATA, name + ".tokenizer.json")
        run([tool, name, path])
        tokenizers[name] = Tokenizer.from_file(path)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        run([tool, "corpus", corpus])
        tokenizers["hf_gpt2"] = train_hf_gpt2(corpus)
        tokenizers["hf_llama3"] = train_hf_llama3(corpus)
    for name in ("hf_gpt2", "hf_llama3"):
        tokenizers[name].save(os.path.join(DATA, name + ".tokenizer.json"), pretty=False)
    specials = {"trained_bytelevel": ("<|eot_id|>", "<|end_of_text|>"),
                "trained_metaspace": ("</s>", "<s>"),
                "hf_gpt2": ("<|endoftext|>", "[[MASK]]"),
                "hf_llama3": ("<|eot_id|>", "<|begin_of_text|>")}
    for name, tok in tokenizers.items():
        write_json(os.path.join(DATA, name + ".cases.json"), cases(tok, *specials[name]))
    # transformers must load our files too (this is how the server's users will load them).
    from transformers import PreTrainedTokenizerFast
    for name in ("trained_bytelevel", "trained_metaspace"):
        fast = PreTrainedTokenizerFast(tokenizer_file=os.path.join(DATA, name + ".tokenizer.json"))
        assert fast("Hello world")["input_ids"] == tokenizers[name].encode("Hello world").ids


if __name__ == "__main__":
    main()

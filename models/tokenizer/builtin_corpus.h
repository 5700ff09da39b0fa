// A small built-in training corpus (about 15 KB of original text: English prose, code, numbers,
// German, French, Chinese, Japanese, Korean, Russian, Greek, Hindi, Arabic, emoji) so tests can train tokenizers without data files.
#pragma once

#include <string_view>

namespace tspserve {

std::string_view BuiltinCorpus();

}  // namespace tspserve

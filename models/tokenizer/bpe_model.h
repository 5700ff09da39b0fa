// The BPE model: turns one pre-tokenized word into ids by applying merges in rank order, with the
// Hugging Face semantics for ignore_merges, byte_fallback (<0xNN> tokens) and unk/fuse_unk.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace tspserve {

struct BpeModelOptions {
  std::vector<std::pair<std::string, int32_t>> vocab;       // token -> id
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
  std::optional<std::string> unk_token;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};

class BpeModel {
 public:
  // Fails on negative or duplicate ids, and on merges whose parts or result are not in the vocab.
  static absl::StatusOr<std::unique_ptr<BpeModel>> Create(BpeModelOptions options);

  // Appends the ids of `word` to *ids. Thread-safe; short words are cached.
  void Tokenize(std::string_view word, std::vector<int32_t>* ids) const;

  std::optional<int32_t> TokenToId(std::string_view token) const;
  // nullptr when no vocab entry has this id.
  const std::string* IdToToken(int32_t id) const;
  int32_t max_id() const { return static_cast<int32_t>(id_to_token_.size()) - 1; }

 private:
  BpeModel() = default;
  std::vector<int32_t> TokenizeUncached(std::string_view word) const;
  // Initial symbols: one per character, or its <0xNN> byte tokens, or unk.
  std::vector<int32_t> InitialSymbols(std::string_view word) const;

  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  static uint64_t PairKey(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }

  absl::flat_hash_map<std::string, int32_t> vocab_;
  std::vector<std::optional<std::string>> id_to_token_;
  absl::flat_hash_map<uint64_t, Merge> merges_;  // PairKey(left, right) -> merge
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  std::array<std::optional<int32_t>, 256> byte_ids_;  // ids of <0x00>..<0xFF> when present

  mutable std::mutex cache_mutex_;
  mutable absl::flat_hash_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace tspserve

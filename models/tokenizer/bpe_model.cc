#include "models/tokenizer/bpe_model.h"

#include <queue>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "models/tokenizer/utf8.h"

namespace tspserve {
namespace {

absl::string_view AsAbsl(std::string_view text) { return {text.data(), text.size()}; }

constexpr size_t kMaxCachedWordBytes = 256;
constexpr size_t kMaxCacheEntries = 1 << 16;

// A symbol of the word being merged: a token id in a doubly linked list over positions.
struct Symbol {
  int32_t id;
  int32_t prev;
  int32_t next;
  bool alive;
};

// A candidate merge of the symbol at `pos` with its right neighbour. Lowest rank first, then
// leftmost position.
struct Candidate {
  int32_t rank;
  int32_t pos;
  int32_t new_id;
  bool operator>(const Candidate& other) const {
    return rank != other.rank ? rank > other.rank : pos > other.pos;
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::Create(BpeModelOptions options) {
  std::unique_ptr<BpeModel> owner(new BpeModel());
  BpeModel& model = *owner;
  for (auto& [token, id] : options.vocab) {
    if (id < 0) return absl::InvalidArgumentError(absl::StrCat("negative id for '", token, "'"));
    if (static_cast<size_t>(id) >= model.id_to_token_.size()) model.id_to_token_.resize(id + 1);
    if (model.id_to_token_[id].has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("id ", id, " used twice in vocab"));
    }
    model.id_to_token_[id] = token;
    model.vocab_[token] = id;
  }
  for (size_t rank = 0; rank < options.merges.size(); ++rank) {
    const auto& [left, right] = options.merges[rank];
    auto l = model.vocab_.find(left);
    auto r = model.vocab_.find(right);
    auto merged = model.vocab_.find(left + right);
    if (l == model.vocab_.end() || r == model.vocab_.end() || merged == model.vocab_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("merge ", rank, " ('", left, "' '", right,
                                                     "') uses a token missing from the vocab"));
    }
    model.merges_.insert_or_assign(PairKey(l->second, r->second),
                              Merge{static_cast<int32_t>(rank), merged->second});
  }
  if (options.unk_token.has_value()) model.unk_id_ = model.TokenToId(*options.unk_token);
  for (int b = 0; b < 256; ++b) {
    model.byte_ids_[b] = model.TokenToId(absl::StrFormat("<0x%02X>", b));
  }
  model.fuse_unk_ = options.fuse_unk;
  model.byte_fallback_ = options.byte_fallback;
  model.ignore_merges_ = options.ignore_merges;
  return owner;
}

std::optional<int32_t> BpeModel::TokenToId(std::string_view token) const {
  auto it = vocab_.find(AsAbsl(token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::IdToToken(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size()) return nullptr;
  const auto& token = id_to_token_[id];
  return token.has_value() ? &*token : nullptr;
}

void BpeModel::Tokenize(std::string_view word, std::vector<int32_t>* ids) const {
  if (word.empty()) return;
  const bool cacheable = word.size() <= kMaxCachedWordBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(AsAbsl(word));
    if (it != cache_.end()) {
      ids->insert(ids->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> word_ids = TokenizeUncached(word);
  ids->insert(ids->end(), word_ids.begin(), word_ids.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() >= kMaxCacheEntries) cache_.clear();
    cache_.try_emplace(std::string(word), std::move(word_ids));
  }
}

std::vector<int32_t> BpeModel::InitialSymbols(std::string_view word) const {
  std::vector<int32_t> symbols;
  bool previous_unk = false;
  for (std::string_view ch : SplitUtf8Chars(word)) {
    if (auto it = vocab_.find(AsAbsl(ch)); it != vocab_.end()) {
      symbols.push_back(it->second);
      previous_unk = false;
      continue;
    }
    if (byte_fallback_) {
      bool all_bytes = true;
      for (char c : ch) all_bytes = all_bytes && byte_ids_[static_cast<uint8_t>(c)].has_value();
      if (all_bytes) {
        for (char c : ch) symbols.push_back(*byte_ids_[static_cast<uint8_t>(c)]);
        previous_unk = false;
        continue;
      }
    }
    if (!unk_id_.has_value()) continue;  // Hugging Face errors out here; we drop the character.
    if (!(fuse_unk_ && previous_unk)) symbols.push_back(*unk_id_);
    previous_unk = true;
  }
  return symbols;
}

std::vector<int32_t> BpeModel::TokenizeUncached(std::string_view word) const {
  if (ignore_merges_) {
    if (auto it = vocab_.find(AsAbsl(word)); it != vocab_.end()) return {it->second};
  }
  const std::vector<int32_t> initial = InitialSymbols(word);
  const int32_t n = static_cast<int32_t>(initial.size());
  std::vector<Symbol> symbols(n);
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto push_candidate = [&](int32_t pos) {
    const int32_t next = symbols[pos].next;
    if (next < 0) return;
    auto it = merges_.find(PairKey(symbols[pos].id, symbols[next].id));
    if (it != merges_.end()) queue.push({it->second.rank, pos, it->second.new_id});
  };
  for (int32_t i = 0; i < n; ++i) symbols[i] = {initial[i], i - 1, i + 1 < n ? i + 1 : -1, true};
  for (int32_t i = 0; i + 1 < n; ++i) push_candidate(i);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    auto it = merges_.find(PairKey(left.id, right.id));
    if (it == merges_.end() || it->second.new_id != top.new_id) continue;  // Stale entry.
    left.id = top.new_id;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    if (left.prev >= 0) push_candidate(left.prev);
    push_candidate(top.pos);
  }
  std::vector<int32_t> ids;
  for (int32_t i = 0; i >= 0 && i < n; i = symbols[i].next) ids.push_back(symbols[i].id);
  return ids;
}

}  // namespace tspserve

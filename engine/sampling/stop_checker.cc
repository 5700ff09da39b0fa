#include "engine/sampling/stop_checker.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/common/check.h"

namespace tspserve {

absl::Status ValidateStoppingCriteria(const StoppingCriteria& criteria) {
  if (criteria.max_tokens < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_tokens must be >= 1, got ", criteria.max_tokens));
  }
  if (criteria.min_tokens < 0 || criteria.min_tokens > criteria.max_tokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("min_tokens must be in [0, max_tokens = ", criteria.max_tokens, "], got ",
                     criteria.min_tokens));
  }
  for (size_t i = 0; i < criteria.stop.size(); ++i) {
    if (criteria.stop[i].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("stop[", i, "] is an empty string"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<StopChecker> StopChecker::Create(StoppingCriteria criteria) {
  if (absl::Status status = ValidateStoppingCriteria(criteria); !status.ok()) return status;
  return StopChecker(std::move(criteria));
}

StopChecker::StopChecker(StoppingCriteria criteria) : criteria_(std::move(criteria)) {
  CHECK(ValidateStoppingCriteria(criteria_).ok()) << ValidateStoppingCriteria(criteria_);
  for (const std::string& stop : criteria_.stop) {
    max_stop_length_ = std::max(max_stop_length_, stop.size());
  }
}

StopUpdate StopChecker::Append(int32_t token_id, std::string_view new_text) {
  CHECK(!finished()) << "StopChecker::Append after the sequence finished";
  ++num_tokens_;
  StopUpdate update;
  const bool may_stop = num_tokens_ >= criteria_.min_tokens;
  if (may_stop && IsStopToken(token_id)) {
    if (criteria_.include_stop_in_output) pending_.append(new_text);
    update.text = ReleaseAll();
    Finish(FinishReason::kStop, token_id);
  } else {
    pending_.append(new_text);
    if (!may_stop || !MatchStopString(update.text)) {
      const size_t release = pending_.size() - HeldBackLength();
      update.text = pending_.substr(0, release);
      pending_.erase(0, release);
      if (num_tokens_ >= criteria_.max_tokens) {
        update.text += ReleaseAll();
        Finish(FinishReason::kLength, std::monostate{});
      }
    }
  }
  update.finish_reason = finish_reason_;
  return update;
}

std::string StopChecker::Flush(std::string_view tail) {
  pending_.append(tail);
  std::string text;
  if (!finished() && num_tokens_ >= criteria_.min_tokens && MatchStopString(text)) return text;
  return ReleaseAll();
}

std::string StopChecker::ReleaseAll() {
  std::string text;
  text.swap(pending_);
  return text;
}

std::vector<int32_t> StopChecker::SuppressedTokenIds() const {
  if (num_tokens_ >= criteria_.min_tokens) return {};
  std::vector<int32_t> ids = criteria_.stop_token_ids;
  if (!criteria_.ignore_eos) {
    ids.insert(ids.end(), criteria_.eos_token_ids.begin(), criteria_.eos_token_ids.end());
  }
  return ids;
}

bool StopChecker::IsStopToken(int32_t token_id) const {
  auto contains = [token_id](const std::vector<int32_t>& ids) {
    return std::find(ids.begin(), ids.end(), token_id) != ids.end();
  };
  return contains(criteria_.stop_token_ids) ||
         (!criteria_.ignore_eos && contains(criteria_.eos_token_ids));
}

bool StopChecker::MatchStopString(std::string& released) {
  const std::string* best = nullptr;
  size_t best_begin = 0;
  size_t best_end = std::string::npos;
  for (const std::string& stop : criteria_.stop) {
    const size_t begin = pending_.find(stop);
    if (begin == std::string::npos) continue;
    const size_t end = begin + stop.size();
    if (end < best_end || (end == best_end && begin < best_begin)) {
      best = &stop;
      best_begin = begin;
      best_end = end;
    }
  }
  if (best == nullptr) return false;
  released = pending_.substr(0, criteria_.include_stop_in_output ? best_end : best_begin);
  pending_.clear();
  Finish(FinishReason::kStop, *best);
  return true;
}

size_t StopChecker::HeldBackLength() const {
  if (max_stop_length_ == 0) return 0;
  const size_t longest = std::min(pending_.size(), max_stop_length_ - 1);
  for (size_t length = longest; length > 0; --length) {
    const std::string_view suffix = std::string_view(pending_).substr(pending_.size() - length);
    for (const std::string& stop : criteria_.stop) {
      if (stop.size() > length && std::string_view(stop).substr(0, length) == suffix) return length;
    }
  }
  return 0;
}

void StopChecker::Finish(FinishReason reason, MatchedStop matched) {
  finish_reason_ = reason;
  matched_stop_ = std::move(matched);
}

}  // namespace tspserve

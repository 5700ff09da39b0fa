#include "models/tokenizer/post_processor.h"

namespace tspserve {

std::vector<int32_t> TemplatePostProcessor::Process(std::vector<int32_t> ids,
                                                    bool add_special_tokens) const {
  if (!add_special_tokens) return ids;
  std::vector<int32_t> out;
  out.reserve(ids.size() + items_.size());
  for (const Item& item : items_) {
    if (item.is_sequence) {
      out.insert(out.end(), ids.begin(), ids.end());
    } else {
      out.insert(out.end(), item.special_ids.begin(), item.special_ids.end());
    }
  }
  return out;
}

std::vector<int32_t> SequencePostProcessor::Process(std::vector<int32_t> ids,
                                                    bool add_special_tokens) const {
  for (const auto& step : steps_) ids = step->Process(std::move(ids), add_special_tokens);
  return ids;
}

}  // namespace tspserve

// Post-processors add the special tokens of a template (Llama: BOS) around the encoded ids.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace tspserve {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Returns the final ids of a single sequence; identity when !add_special_tokens.
  virtual std::vector<int32_t> Process(std::vector<int32_t> ids, bool add_special_tokens) const = 0;
};

// TemplateProcessing's "single" template: each item is either the sequence itself ($A) or the
// ids of a special token.
class TemplatePostProcessor : public PostProcessor {
 public:
  struct Item {
    bool is_sequence = false;
    std::vector<int32_t> special_ids;  // when !is_sequence
  };
  explicit TemplatePostProcessor(std::vector<Item> items) : items_(std::move(items)) {}
  std::vector<int32_t> Process(std::vector<int32_t> ids, bool add_special_tokens) const override;

 private:
  std::vector<Item> items_;
};

// Post-processors that only touch offsets (ByteLevel) leave ids alone.
class IdentityPostProcessor : public PostProcessor {
 public:
  std::vector<int32_t> Process(std::vector<int32_t> ids, bool add_special_tokens) const override {
    return ids;
  }
};

class SequencePostProcessor : public PostProcessor {
 public:
  explicit SequencePostProcessor(std::vector<std::unique_ptr<PostProcessor>> steps)
      : steps_(std::move(steps)) {}
  std::vector<int32_t> Process(std::vector<int32_t> ids, bool add_special_tokens) const override;

 private:
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

}  // namespace tspserve

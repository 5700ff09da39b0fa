#include "clients/tspload/dataset.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "engine/common/status.h"

namespace tspserve::tspload {
namespace {

// Draws ids from a TokenIdRange, redrawing excluded ones.
class TokenIdSampler {
 public:
  TokenIdSampler(const TokenIdRange& ids, std::mt19937_64* engine)
      : ids_(ids), pick_(ids.low, ids.high - 1), engine_(engine) {}
  int32_t Next() {
    while (true) {
      const int32_t id = pick_(*engine_);
      if (std::find(ids_.excluded.begin(), ids_.excluded.end(), id) == ids_.excluded.end()) return id;
    }
  }
  std::vector<int32_t> Many(int n) {
    std::vector<int32_t> out(static_cast<size_t>(n));
    for (int32_t& id : out) id = Next();
    return out;
  }

 private:
  const TokenIdRange& ids_;
  std::uniform_int_distribution<int32_t> pick_;
  std::mt19937_64* engine_;
};

absl::Status CheckRandomOptions(const RandomDatasetOptions& o) {
  if (o.num_prompts < 1) return absl::InvalidArgumentError("--num-requests must be >= 1");
  if (o.input_len < 1) return absl::InvalidArgumentError("--input-len must be >= 1");
  if (o.output_len < 1) return absl::InvalidArgumentError("--output-len must be >= 1");
  if (!(o.range_ratio >= 0 && o.range_ratio < 1)) {
    return absl::InvalidArgumentError(absl::StrCat("--range-ratio must be in [0, 1), got ", o.range_ratio));
  }
  if (o.prefix_len < 0) return absl::InvalidArgumentError("--prefix-len must be >= 0");
  return absl::OkStatus();
}

int UsableIds(const TokenIdRange& ids) {
  int usable = ids.high - ids.low;
  for (int32_t id : ids.excluded) usable -= (id >= ids.low && id < ids.high) ? 1 : 0;
  return usable;
}

// One JSONL line as a prompt; errors name the field.
absl::StatusOr<Prompt> ParsePromptLine(const std::string& line, int default_max_tokens) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("not JSON: ", e.what()));
  }
  if (!json.is_object()) return absl::InvalidArgumentError("not a JSON object");
  auto prompt_it = json.find("prompt");
  if (prompt_it == json.end() || !prompt_it->is_string() || prompt_it->get<std::string>().empty()) {
    return absl::InvalidArgumentError("\"prompt\" must be a non-empty string");
  }
  Prompt prompt;
  prompt.text = prompt_it->get<std::string>();
  prompt.max_tokens = default_max_tokens;
  auto max_it = json.find("max_tokens");
  if (max_it != json.end()) {
    if (!max_it->is_number_integer() || max_it->get<int64_t>() < 1 || max_it->get<int64_t>() > (1 << 30)) {
      return absl::InvalidArgumentError("\"max_tokens\" must be an integer >= 1");
    }
    prompt.max_tokens = max_it->get<int>();
  }
  return prompt;
}

}  // namespace

LengthRange RangeAround(int len, double range_ratio) {
  LengthRange range;
  range.low = std::max(1, static_cast<int>(std::floor(len * (1.0 - range_ratio))));
  range.high = std::max(range.low, static_cast<int>(std::floor(len * (1.0 + range_ratio))));
  return range;
}

absl::StatusOr<TokenIdRange> SafeTokenIds(int64_t vocab_size, std::vector<int32_t> excluded) {
  if (vocab_size < 4 || vocab_size > (int64_t{1} << 31) - 1) {
    return absl::InvalidArgumentError(absl::StrCat("the model's vocab_size must be in [4, 2^31), got ", vocab_size));
  }
  TokenIdRange ids;
  ids.low = static_cast<int32_t>(std::min<int64_t>(100, vocab_size / 10));
  ids.high = static_cast<int32_t>(vocab_size - std::max<int64_t>(1, vocab_size / 10));
  ids.excluded = std::move(excluded);
  return ids;
}

absl::StatusOr<std::vector<Prompt>> MakeRandomDataset(const RandomDatasetOptions& options,
                                                      const TokenIdRange& ids) {
  RETURN_IF_ERROR(CheckRandomOptions(options));
  if (ids.high <= ids.low || UsableIds(ids) < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("no token ids to draw from in [", ids.low, ", ", ids.high, ")"));
  }
  std::mt19937_64 engine(options.seed);
  TokenIdSampler sampler(ids, &engine);
  const std::vector<int32_t> prefix = sampler.Many(options.prefix_len);
  const LengthRange in = RangeAround(options.input_len, options.range_ratio);
  const LengthRange out = RangeAround(options.output_len, options.range_ratio);
  std::uniform_int_distribution<int> in_len(in.low, in.high);
  std::uniform_int_distribution<int> out_len(out.low, out.high);
  std::vector<Prompt> prompts(static_cast<size_t>(options.num_prompts));
  for (Prompt& prompt : prompts) {
    prompt.token_ids = prefix;
    const std::vector<int32_t> suffix = sampler.Many(in_len(engine));
    prompt.token_ids.insert(prompt.token_ids.end(), suffix.begin(), suffix.end());
    prompt.prompt_len = static_cast<int>(prompt.token_ids.size());
    prompt.max_tokens = out_len(engine);
  }
  return prompts;
}

absl::StatusOr<std::vector<Prompt>> LoadJsonlDataset(const std::string& path, int num_prompts,
                                                     int default_max_tokens) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open the JSONL dataset"));
  std::vector<Prompt> file_prompts;
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    absl::StatusOr<Prompt> prompt = ParsePromptLine(line, default_max_tokens);
    if (!prompt.ok()) return Annotate(prompt.status(), absl::StrCat(path, ":", line_no));
    file_prompts.push_back(*std::move(prompt));
  }
  if (file_prompts.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no prompts"));
  std::vector<Prompt> prompts;
  for (int i = 0; i < num_prompts; ++i) prompts.push_back(file_prompts[static_cast<size_t>(i) % file_prompts.size()]);
  return prompts;
}

}  // namespace tspserve::tspload

#include "models/checkpoint/checkpoint_index.h"

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace tspserve {
namespace {

using Json = nlohmann::json;

absl::Status IndexError(const std::string& path, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", std::string(what)));
}

bool IsPlainFileName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos;
}

absl::StatusOr<std::optional<int64_t>> ParseTotalSize(const Json& root, const std::string& path) {
  auto metadata = root.find("metadata");
  if (metadata == root.end() || metadata->is_null()) return std::optional<int64_t>();
  if (!metadata->is_object()) return IndexError(path, "\"metadata\" must be an object");
  auto total = metadata->find("total_size");
  if (total == metadata->end() || total->is_null()) return std::optional<int64_t>();
  // Some exporters write total_size as a float; accept any non-negative number.
  if (!total->is_number() || total->get<double>() < 0) {
    return IndexError(path, "\"metadata.total_size\" must be a non-negative number");
  }
  return std::optional<int64_t>(total->get<int64_t>());
}

}  // namespace

absl::StatusOr<CheckpointIndex> ParseCheckpointIndex(std::string_view text,
                                                     const std::string& path) {
  Json root;
  try {
    root = Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {
    return IndexError(path, absl::StrCat("invalid JSON: ", e.what()));
  }
  if (!root.is_object()) return IndexError(path, "expected a JSON object");
  auto weight_map = root.find("weight_map");
  if (weight_map == root.end() || !weight_map->is_object()) {
    return IndexError(path, "\"weight_map\" must be an object {tensor: shard file}");
  }
  CheckpointIndex index;
  for (const auto& [name, shard] : weight_map->items()) {
    if (!shard.is_string() || !IsPlainFileName(shard.get<std::string>())) {
      return IndexError(path, absl::StrCat("weight_map entry for tensor \"", name,
                                           "\" must be a shard file name, got ", shard.dump()));
    }
    index.weight_map[name] = shard.get<std::string>();
  }
  if (index.weight_map.empty()) return IndexError(path, "\"weight_map\" is empty");
  auto total_size = ParseTotalSize(root, path);
  if (!total_size.ok()) return total_size.status();
  index.total_size = *total_size;
  return index;
}

std::string CheckpointIndexToJson(const CheckpointIndex& index) {
  Json root;  // nlohmann::json keeps object keys sorted, like json.dumps(sort_keys=True)
  root["metadata"] = Json::object();
  if (index.total_size) root["metadata"]["total_size"] = *index.total_size;
  root["weight_map"] = Json::object();
  for (const auto& [name, shard] : index.weight_map) root["weight_map"][name] = shard;
  return root.dump(2) + "\n";
}

}  // namespace tspserve

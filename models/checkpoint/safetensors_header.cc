#include "models/checkpoint/safetensors_header.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/common/status.h"
#include "nlohmann/json.hpp"

namespace tspserve {
namespace {

using Json = nlohmann::json;

absl::Status TensorError(const std::string& file, const std::string& name, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(file, ": tensor \"", name, "\": ", std::string(what)));
}

bool IsNonNegativeInt(const Json& v) {
  return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
}

std::string Range(const TensorInfo& t) {
  return absl::StrCat("[", t.data_begin, ", ", t.data_end, ")");
}

absl::StatusOr<std::vector<int64_t>> ParseShape(const Json& v, const std::string& file,
                                                const std::string& name) {
  if (!v.is_array()) return TensorError(file, name, "\"shape\" must be a list of integers");
  std::vector<int64_t> shape;
  for (const Json& d : v) {
    if (!IsNonNegativeInt(d) || d.get<uint64_t>() > (uint64_t{1} << 62)) {
      return TensorError(file, name,
                         absl::StrCat("\"shape\" must hold non-negative integers, got ", v.dump()));
    }
    shape.push_back(d.get<int64_t>());
  }
  return shape;
}

// Bytes that `shape` of `dtype` occupies; an error when that overflows 64 bits.
absl::StatusOr<uint64_t> ExpectedBytes(const TensorInfo& t, const std::string& file) {
  uint64_t bytes = DTypeSize(t.dtype);
  for (int64_t d : t.shape) {
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes)) {
      return TensorError(file, t.name, "shape too large");
    }
  }
  return bytes;
}

absl::StatusOr<TensorInfo> ParseEntry(const std::string& name, const Json& v, uint64_t data_size,
                                      const std::string& file) {
  if (!v.is_object()) return TensorError(file, name, "entry must be an object");
  TensorInfo t;
  t.name = name;
  auto dtype = v.find("dtype");
  if (dtype == v.end() || !dtype->is_string()) {
    return TensorError(file, name, "\"dtype\" must be a string");
  }
  absl::StatusOr<DType> parsed = ParseDType(dtype->get<std::string>());
  if (!parsed.ok()) return TensorError(file, name, std::string(parsed.status().message()));
  t.dtype = *parsed;
  auto shape = v.find("shape");
  if (shape == v.end()) return TensorError(file, name, "\"shape\" is missing");
  ASSIGN_OR_RETURN(t.shape, ParseShape(*shape, file, name));
  auto offsets = v.find("data_offsets");
  if (offsets == v.end() || !offsets->is_array() || offsets->size() != 2 ||
      !IsNonNegativeInt((*offsets)[0]) || !IsNonNegativeInt((*offsets)[1])) {
    return TensorError(file, name, "\"data_offsets\" must be [begin, end] (non-negative integers)");
  }
  t.data_begin = (*offsets)[0].get<uint64_t>();
  t.data_end = (*offsets)[1].get<uint64_t>();
  if (t.data_end < t.data_begin)
    return TensorError(file, name,
                       absl::StrCat("data_offsets ", Range(t), " end before they begin"));
  ASSIGN_OR_RETURN(uint64_t expected, ExpectedBytes(t, file));
  if (t.num_bytes() != expected) {
    return TensorError(file, name,
                       absl::StrCat("data_offsets ", Range(t), " hold ", t.num_bytes(),
                                    " bytes but ", std::string(DTypeName(t.dtype)), " ",
                                    ShapeToString(t.shape), " needs ", expected));
  }
  if (t.data_end > data_size) {
    return TensorError(file, name,
                       absl::StrCat("data_offsets ", Range(t), " run past the end of the ",
                                    data_size, "-byte data section (truncated file?)"));
  }
  return t;
}

absl::StatusOr<std::map<std::string, std::string>> ParseMetadata(const Json& v,
                                                                 const std::string& file) {
  std::map<std::string, std::string> metadata;
  if (v.is_null()) return metadata;
  if (!v.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": \"__metadata__\" must be an object"));
  }
  for (const auto& [key, value] : v.items()) {
    if (!value.is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(file, ": \"__metadata__\" value of \"", key, "\" must be a string"));
    }
    metadata[key] = value.get<std::string>();
  }
  return metadata;
}

// Sorted by offset, every range must start where the previous one ended and the last must end
// at the end of the data section.
absl::Status CheckTiling(const std::vector<TensorInfo>& tensors, uint64_t data_size,
                         const std::string& file) {
  uint64_t end = 0;
  const TensorInfo* previous = nullptr;
  for (const TensorInfo& t : tensors) {
    if (t.data_begin < end) {
      return TensorError(file, t.name,
                         absl::StrCat("data_offsets ", Range(t), " overlap tensor \"",
                                      previous->name, "\" ", Range(*previous)));
    }
    if (t.data_begin > end) {
      return TensorError(
          file, t.name,
          absl::StrCat("data_offsets ", Range(t), " leave a gap of unused bytes from ", end));
    }
    end = t.data_end;
    previous = &t;
  }
  if (end != data_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        file, ": tensors cover ", end, " bytes but the data section holds ", data_size));
  }
  return absl::OkStatus();
}

}  // namespace

int64_t TensorInfo::num_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string ShapeToString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(std::string_view json, uint64_t data_size,
                                                         const std::string& file) {
  Json root;
  try {
    root = Json::parse(json.begin(), json.end());
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": header is not valid JSON: ", e.what()));
  }
  if (!root.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": header must be a JSON object"));
  }
  SafetensorsHeader header;
  for (const auto& [name, value] : root.items()) {
    if (name == "__metadata__") {
      ASSIGN_OR_RETURN(header.metadata, ParseMetadata(value, file));
      continue;
    }
    ASSIGN_OR_RETURN(TensorInfo t, ParseEntry(name, value, data_size, file));
    header.tensors.push_back(std::move(t));
  }
  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const TensorInfo& a, const TensorInfo& b) {
              return std::pair(a.data_begin, a.data_end) < std::pair(b.data_begin, b.data_end);
            });
  RETURN_IF_ERROR(CheckTiling(header.tensors, data_size, file));
  return header;
}

}  // namespace tspserve

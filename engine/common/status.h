// Status helpers. Every module boundary a caller can act on returns absl::Status or
// absl::StatusOr<T>; these macros keep the early returns short.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

#define TSP_CONCAT_INNER_(a, b) a##b
#define TSP_CONCAT_(a, b) TSP_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)                      \
  do {                                             \
    ::absl::Status tsp_status_ = (expr);           \
    if (!tsp_status_.ok()) return tsp_status_;     \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, MakeX());` binds the value of a StatusOr or returns its error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  TSP_ASSIGN_OR_RETURN_IMPL_(TSP_CONCAT_(tsp_statusor_, __LINE__), lhs, expr)
#define TSP_ASSIGN_OR_RETURN_IMPL_(var, lhs, expr) \
  auto var = (expr);                               \
  if (!var.ok()) return std::move(var).status();   \
  lhs = std::move(var).value()

namespace tspserve {

// Prefixes an error with context ("loading model.safetensors: ..."), keeping its code.
inline absl::Status Annotate(const absl::Status& status, std::string_view context) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(std::string(context), ": ", status.message()));
}

}  // namespace tspserve

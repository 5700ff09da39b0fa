// Candidate selection for sampling: top-k, top-p (nucleus) and min-p over a logit vector, without
// sorting the whole vocabulary unless the nucleus needs it. Token order everywhere is "more likely
// first": larger logit first, lower id first on equal logits.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace tspserve {

// Ids of the min(k, size) largest values in that order. O(size * log k).
std::vector<int32_t> TopIndices(std::span<const float> values, int32_t k);

// Unnormalized probabilities exp((logits[id] - max_logit) / temperature) of `ids`, for a
// temperature > 0 and the largest logit among them; -inf logits weigh 0.
std::vector<double> SoftmaxWeights(std::span<const float> logits, std::span<const int32_t> ids,
                                   float temperature, float max_logit);

// Top-p over weights sorted most likely first (total = their sum, or more when the ids are a
// prefix of the vocabulary): the length of the shortest prefix whose mass reaches top_p * total,
// i.e. a token is kept while the mass strictly before it is < top_p * total. At least 1.
int32_t TopPCount(std::span<const double> sorted_weights, double total, float top_p);

// Top-p over the whole vocabulary at `temperature` (> 0): the kept ids, most likely first. Sorts
// only a growing prefix of the vocabulary until it holds the needed mass.
std::vector<int32_t> TopPIndices(std::span<const float> logits, float temperature, float top_p);

// Keeps the (ids, weights) pairs with weight >= min_p * max weight, in order.
void ApplyMinP(float min_p, std::vector<int32_t>& ids, std::vector<double>& weights);

}  // namespace tspserve

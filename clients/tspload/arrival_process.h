// When each benchmark request is sent: the load shape (open loop with gamma-distributed arrivals,
// or closed loop) and a seeded generator of the arrival schedule.
#pragma once

#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace tspserve::tspload {

// The load a benchmark puts on the server, as vLLM's `bench serve` defines it. A closed loop of C
// clients is an infinite request rate capped at C requests in flight.
struct LoadShape {
  // Requests per second; infinity sends every request at once (subject to the cap).
  double request_rate = std::numeric_limits<double>::infinity();
  // Shape k of the gamma inter-arrival distribution: 1 is Poisson, < 1 burstier, > 1 smoother.
  // The mean inter-arrival time is 1 / request_rate whatever k.
  double burstiness = 1.0;
  int max_concurrency = 0;  // requests in flight at most; 0 = no cap
};

// A gamma(shape, scale) sampler built on a 64-bit Mersenne Twister with its own normal and uniform
// draws (Marsaglia and Tsang), so a seed gives the same schedule with every standard library.
class GammaSampler {
 public:
  // shape > 0, scale > 0 (checked).
  GammaSampler(double shape, double scale, uint64_t seed);
  double Next();

 private:
  double Uniform();  // (0, 1)
  double Normal();   // standard normal (Box-Muller)
  double MarsagliaTsang(double shape);  // gamma(shape, 1) for shape >= 1

  double shape_;
  double scale_;
  std::mt19937_64 engine_;
};

// Send times in seconds after the benchmark starts, one per request, non-decreasing: the first at
// 0, then gaps drawn from gamma(burstiness, 1 / (rate * burstiness)). All zeros at an infinite rate.
std::vector<double> ArrivalOffsets(const LoadShape& shape, int num_requests, uint64_t seed);

}  // namespace tspserve::tspload

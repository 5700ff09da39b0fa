#include "engine/comm/communicator.h"

#include "engine/common/check.h"

namespace tspserve {

std::string_view CollectiveKindName(CollectiveKind kind) {
  switch (kind) {
    case CollectiveKind::kBroadcast: return "Broadcast";
    case CollectiveKind::kAllGather: return "AllGather";
    case CollectiveKind::kReduceScatter: return "ReduceScatter";
    case CollectiveKind::kAllReduce: return "AllReduce";
    case CollectiveKind::kAllToAll: return "AllToAll";
    case CollectiveKind::kSendRecv: return "SendRecv";
  }
  return "?";
}

void Communicator::Record(CollectiveKind kind, int64_t bytes, double seconds) {
  const int i = static_cast<int>(kind);
  CHECK(i >= 0 && i < kNumCollectiveKinds) << "collective kind " << i;
  stats_.bytes_sent[i] += bytes;
  stats_.calls[i] += 1;
  stats_.seconds[i] += seconds;
  stats_.exposed_seconds += seconds;
}

}  // namespace tspserve

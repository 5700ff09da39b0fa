// CHECK and LOG come from glog (Debian's Abseil 20220623 has no absl/log). CHECK is for broken
// invariants only; anything a user can cause returns an absl::Status instead.
#pragma once

#include <glog/logging.h>

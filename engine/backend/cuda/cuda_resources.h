// Owners of the CUDA runtime objects the backend holds, one RAII type each (move-only), and a guard
// that makes a device current on the calling thread.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include "absl/status/statusor.h"

namespace tspserve {

// Makes `device` current for the calling thread for the guard's lifetime and restores the previous
// device afterwards. CHECK-fails if the device cannot be set (a broken invariant: backends are only
// made for devices that exist).
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
  bool switched_ = false;
};

// A non-blocking stream (no implicit synchronisation with the legacy default stream) on the
// device current at creation.
class Stream {
 public:
  static absl::StatusOr<Stream> Create();
  Stream() = default;
  ~Stream() { Reset(); }
  Stream(Stream&& other) noexcept : stream_(other.release()) {}
  Stream& operator=(Stream&& other) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  cudaStream_t get() const { return stream_; }

 private:
  explicit Stream(cudaStream_t stream) : stream_(stream) {}
  cudaStream_t release();
  void Reset();

  cudaStream_t stream_ = nullptr;
};

// An event without timing (the cheap kind, for ordering streams) on the device current at creation.
class Event {
 public:
  static absl::StatusOr<Event> Create();
  Event() = default;
  ~Event() { Reset(); }
  Event(Event&& other) noexcept : event_(other.release()) {}
  Event& operator=(Event&& other) noexcept;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  cudaEvent_t get() const { return event_; }

 private:
  explicit Event(cudaEvent_t event) : event_(event) {}
  cudaEvent_t release();
  void Reset();

  cudaEvent_t event_ = nullptr;
};

// A cuBLASLt library handle.
class CublasLtHandle {
 public:
  static absl::StatusOr<CublasLtHandle> Create();
  CublasLtHandle() = default;
  ~CublasLtHandle() { Reset(); }
  CublasLtHandle(CublasLtHandle&& other) noexcept : handle_(other.release()) {}
  CublasLtHandle& operator=(CublasLtHandle&& other) noexcept;
  CublasLtHandle(const CublasLtHandle&) = delete;
  CublasLtHandle& operator=(const CublasLtHandle&) = delete;

  cublasLtHandle_t get() const { return handle_; }

 private:
  explicit CublasLtHandle(cublasLtHandle_t handle) : handle_(handle) {}
  cublasLtHandle_t release();
  void Reset();

  cublasLtHandle_t handle_ = nullptr;
};

}  // namespace tspserve

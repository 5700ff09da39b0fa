#include "engine/backend/cuda/cublaslt_matmul.h"

#include <algorithm>
#include <type_traits>
#include <utility>

#include "engine/common/check.h"
#include "engine/common/cuda_check.h"

namespace tspserve {
namespace {

template <typename Handle, cublasStatus_t (*kDestroy)(Handle)>
struct LtDeleter {
  void operator()(Handle h) const { (void)kDestroy(h); }
};
template <typename Handle, cublasStatus_t (*kDestroy)(Handle)>
using LtPtr = std::unique_ptr<std::remove_pointer_t<Handle>, LtDeleter<Handle, kDestroy>>;

using MatmulDesc = LtPtr<cublasLtMatmulDesc_t, cublasLtMatmulDescDestroy>;
using MatrixLayout = LtPtr<cublasLtMatrixLayout_t, cublasLtMatrixLayoutDestroy>;
using MatmulPreference = LtPtr<cublasLtMatmulPreference_t, cublasLtMatmulPreferenceDestroy>;

// The largest power of two (at most 256) dividing the address.
uint32_t AddressAlignment(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p) | uintptr_t{256};
  return static_cast<uint32_t>(a & (~a + 1));
}

// The leading dimension of a row-major [rows, cols] operand: its row stride, or cols when a single
// row makes the stride meaningless (cuBLASLt wants ld >= cols even then).
int64_t LeadingDim(int64_t rows, int64_t cols, int64_t row_stride) {
  const int64_t ld = rows > 1 ? row_stride : cols;
  CHECK_GE(ld, cols) << "MatMul operand rows overlap (row stride " << row_stride << " < " << cols
                     << " columns)";
  return ld;
}

MatrixLayout MakeLayout(uint64_t rows, uint64_t cols, int64_t ld, cudaDataType_t type = CUDA_R_16BF) {
  cublasLtMatrixLayout_t layout = nullptr;
  if (cublasLtMatrixLayoutCreate(&layout, type, rows, cols, ld) != CUBLAS_STATUS_SUCCESS) {
    return nullptr;
  }
  return MatrixLayout(layout);
}

template <typename T>
bool SetDesc(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr, T value) {
  return cublasLtMatmulDescSetAttribute(desc, attr, &value, sizeof(value)) ==
         CUBLAS_STATUS_SUCCESS;
}

template <typename T>
bool SetPref(cublasLtMatmulPreference_t pref, cublasLtMatmulPreferenceAttributes_t attr,
             T value) {
  return cublasLtMatmulPreferenceSetAttribute(pref, attr, &value, sizeof(value)) ==
         CUBLAS_STATUS_SUCCESS;
}

}  // namespace

// Descriptors and the heuristic's first algorithm for one Key, or the fallback kernel when
// cuBLASLt has nothing (or fails at run time, which flips `fallback` for good).
struct CublasLtMatmul::Plan {
  std::atomic<bool> fallback{true};
  MatmulDesc desc;
  MatrixLayout a, b, c;
  cublasLtMatmulAlgo_t algo{};
};

CublasLtMatmul::CublasLtMatmul(cublasLtHandle_t handle, void* workspace, size_t workspace_bytes)
    : handle_(handle), workspace_(workspace), workspace_bytes_(workspace_bytes) {}

CublasLtMatmul::~CublasLtMatmul() = default;

CublasLtMatmul::Key CublasLtMatmul::MakeKey(const kernels::MatMulArgs& args) {
  Key key;
  key.m = args.m;
  key.n = args.n;
  key.k = args.k;
  key.ldx = LeadingDim(args.m, args.k, args.x_row_stride);
  key.ldw = LeadingDim(args.n, args.k, args.w_row_stride);
  key.ldo = LeadingDim(args.m, args.n, args.out_row_stride);
  key.accumulate = args.accumulate;
  key.out_f32 = args.out_f32;
  key.align_x = AddressAlignment(args.x);
  key.align_w = AddressAlignment(args.w);
  key.align_out = AddressAlignment(args.out);
  return key;
}

std::unique_ptr<CublasLtMatmul::Plan> CublasLtMatmul::MakePlan(const Key& key) const {
  auto plan = std::make_unique<Plan>();
  if (key.k == 0) return plan;  // an empty sum: the fallback writes zeros (or leaves out as is)
  cublasLtMatmulDesc_t desc = nullptr;
  if (cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F) != CUBLAS_STATUS_SUCCESS) {
    return plan;
  }
  plan->desc = MatmulDesc(desc);
  plan->a = MakeLayout(key.k, key.n, key.ldw);
  plan->b = MakeLayout(key.k, key.m, key.ldx);
  plan->c = MakeLayout(key.n, key.m, key.ldo, key.out_f32 ? CUDA_R_32F : CUDA_R_16BF);
  if (!plan->a || !plan->b || !plan->c ||
      !SetDesc(desc, CUBLASLT_MATMUL_DESC_TRANSA, CUBLAS_OP_T) ||
      !SetDesc(desc, CUBLASLT_MATMUL_DESC_TRANSB, CUBLAS_OP_N)) {
    return plan;
  }
  cublasLtMatmulPreference_t raw_pref = nullptr;
  if (cublasLtMatmulPreferenceCreate(&raw_pref) != CUBLAS_STATUS_SUCCESS) return plan;
  const MatmulPreference pref(raw_pref);
  if (!SetPref(raw_pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, uint64_t{workspace_bytes_}) ||
      !SetPref(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.align_w) ||
      !SetPref(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.align_x) ||
      !SetPref(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.align_out) ||
      !SetPref(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.align_out)) {
    return plan;
  }
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t status =
      cublasLtMatmulAlgoGetHeuristic(handle_, desc, plan->a.get(), plan->b.get(), plan->c.get(),
                                     plan->c.get(), raw_pref, 1, &result, &found);
  if (status != CUBLAS_STATUS_SUCCESS || found == 0 || result.state != CUBLAS_STATUS_SUCCESS) {
    return plan;
  }
  plan->algo = result.algo;
  plan->fallback.store(false);
  return plan;
}

CublasLtMatmul::Plan& CublasLtMatmul::FindPlan(const Key& key) {
  std::lock_guard<std::mutex> lock(mu_);
  std::unique_ptr<Plan>& plan = plans_[key];
  if (plan == nullptr) {
    plan = MakePlan(key);
    if (plan->fallback.load() && key.k > 0) {
      LOG(INFO) << "cuBLASLt has no algorithm for MatMul m=" << key.m << " n=" << key.n
                << " k=" << key.k << " (ld " << key.ldx << "/" << key.ldw << "/" << key.ldo
                << "); using the fallback kernel";
    }
  }
  return *plan;
}

void CublasLtMatmul::Run(const kernels::MatMulArgs& args, cudaStream_t stream) {
  if (args.m == 0 || args.n == 0) return;
  Plan& plan = FindPlan(MakeKey(args));
  if (!plan.fallback.load(std::memory_order_relaxed)) {
    const float alpha = 1.0f;
    const float beta = args.accumulate ? 1.0f : 0.0f;
    const cublasStatus_t status =
        cublasLtMatmul(handle_, plan.desc.get(), &alpha, args.w, plan.a.get(), args.x,
                       plan.b.get(), &beta, args.out, plan.c.get(), args.out, plan.c.get(),
                       &plan.algo, workspace_, workspace_bytes_, stream);
    if (status == CUBLAS_STATUS_SUCCESS) return;
    LOG(WARNING) << "cublasLtMatmul failed (" << cublasLtGetStatusString(status) << ") for m="
                 << args.m << " n=" << args.n << " k=" << args.k << "; using the fallback kernel";
    plan.fallback.store(true);
  }
  CUDA_CHECK(kernels::LaunchMatMulFallback(args, stream));
}

}  // namespace tspserve

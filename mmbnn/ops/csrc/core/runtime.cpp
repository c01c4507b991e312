// Run-time choices of the core: which ISAs this build has and this CPU runs, the table of
// kernels per ISA, the thread hook, and the weights' preparation for the kernels.
#include <cstring>
#include <stdexcept>
#include <string>

#include "bitpack.h"
#include "kernels.h"

namespace mmbnn {

bool isa_compiled(Isa isa) {
  switch (isa) {
    case Isa::kAuto:
    case Isa::kGeneric:
      return true;
    case Isa::kPopcnt:
    case Isa::kAvx2:
    case Isa::kAvx512bw:
    case Isa::kAvx512vpopcnt:
      return MMBNN_X86 != 0;
  }
  return false;
}

bool cpu_supports(Isa isa) {
  if (!isa_compiled(isa)) return false;
#if MMBNN_X86 && !defined(MMBNN_EMULATE_X86)
  switch (isa) {
    case Isa::kPopcnt:
      return __builtin_cpu_supports("popcnt");
    case Isa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
    case Isa::kAvx512bw:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && cpu_supports(Isa::kAvx2);
    case Isa::kAvx512vpopcnt:
      return __builtin_cpu_supports("avx512vpopcntdq") && cpu_supports(Isa::kAvx512bw);
    default:
      return true;
  }
#else
  return true;  // portable kernels only, or every ISA emulated (the core's tests)
#endif
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kGeneric: return "generic";
    case Isa::kPopcnt: return "popcnt";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512bw: return "avx512bw";
    case Isa::kAvx512vpopcnt: return "avx512vpopcnt";
    default: return "auto";
  }
}

Isa resolve_isa(int requested) {
  if (requested < 0 || requested >= kNumIsaCodes)
    throw std::runtime_error("unknown ISA code " + std::to_string(requested));
  Isa isa = static_cast<Isa>(requested);
  if (isa == Isa::kAuto) {
    for (Isa best : {Isa::kAvx512vpopcnt, Isa::kAvx512bw, Isa::kAvx2, Isa::kPopcnt})
      if (cpu_supports(best)) return best;
    return Isa::kGeneric;
  }
  if (!isa_compiled(isa))
    throw std::runtime_error(std::string("the '") + isa_name(isa) +
                             "' kernels are not in this build (x86-64 code compiled out)");
  if (!cpu_supports(isa))
    throw std::runtime_error(std::string("this CPU does not support the '") + isa_name(isa) +
                             "' kernels");
  return isa;
}

// ---------------------------------------------------------------------------------------------
namespace {
void serial_for(int64_t begin, int64_t end, int64_t, const ParallelBody& body) {
  if (begin < end) body(begin, end);
}
int one_thread() { return 1; }
ParallelFor g_parallel_for = serial_for;
NumThreads g_num_threads = one_thread;
}  // namespace

void set_parallel_for(ParallelFor fn, NumThreads n) {
  g_parallel_for = fn ? fn : serial_for;
  g_num_threads = n ? n : one_thread;
}
void parallel_for(int64_t begin, int64_t end, int64_t grain, const ParallelBody& body) {
  g_parallel_for(begin, end, grain, body);
}
int num_threads() { return g_num_threads(); }

// ---------------------------------------------------------------------------------------------
namespace detail {

namespace {
struct Tables {
  IsaKernels k[kNumIsaCodes];
  Tables() {
    fill_generic(k[static_cast<int>(Isa::kGeneric)], false);
    fill_generic(k[static_cast<int>(Isa::kPopcnt)], true);
#if MMBNN_X86
    fill_avx2(k[static_cast<int>(Isa::kAvx2)]);
    fill_avx512bw(k[static_cast<int>(Isa::kAvx512bw)]);
    fill_avx512vpopcnt(k[static_cast<int>(Isa::kAvx512vpopcnt)]);
#endif
  }
};
}  // namespace

const IsaKernels& kernels(Isa isa) {
  static const Tables tables;  // thread-safe initialisation
  if (isa == Isa::kAuto || !isa_compiled(isa))
    throw std::runtime_error("kernels(): resolve the ISA first");
  return tables.k[static_cast<int>(isa)];
}

}  // namespace detail

WeightLayout weight_layout(Isa isa) { return detail::kernels(isa).layout; }

int64_t prepared_weight_words(int64_t cout, int64_t groups, int64_t words_per_row,
                              WeightLayout layout) {
  const int64_t cog = cout / groups;
  const int64_t blocks = groups * ((cog + detail::kBlock - 1) / detail::kBlock);
  return blocks * words_per_row * detail::kBlock * (layout == WeightLayout::kSplit8 ? 2 : 1);
}

void prepare_weights(const int64_t* canonical, int64_t cout, int64_t groups,
                     int64_t words_per_row, WeightLayout layout, int64_t* out) {
  constexpr int kB = detail::kBlock;
  const int64_t cog = cout / groups, nb = (cog + kB - 1) / kB, K = words_per_row;
  const bool split = layout == WeightLayout::kSplit8;
  const int64_t ldb = K * kB * (split ? 2 : 1);
  const uint64_t lo = 0x0F0F0F0F0F0F0F0FULL;
  parallel_for(0, groups * nb, 16, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t g = blk / nb, b = blk % nb;
      uint64_t* dst = reinterpret_cast<uint64_t*>(out) + blk * ldb;
      for (int64_t k = 0; k < K; ++k) {
        for (int l = 0; l < kB; ++l) {
          const int64_t c = b * kB + l;
          const uint64_t w = c < cog ? static_cast<uint64_t>(canonical[(g * cog + c) * K + k]) : 0;
          if (split) {
            dst[k * 2 * kB + l] = w & lo;
            dst[k * 2 * kB + kB + l] = (w >> 4) & lo;
          } else {
            dst[k * kB + l] = w;
          }
        }
      }
    }
  });
}

}  // namespace mmbnn

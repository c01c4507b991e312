// What the core knows about the machine it is compiled for: which instruction-set code exists in
// this build, the per-function target attributes, and small helpers shared by every kernel file.
//
// x86 kernels (AVX2, AVX-512) are compiled only on x86-64 and only without MMBNN_PORTABLE; each
// such function carries its own target attribute (never -march=native), so one build runs on any
// x86-64 and picks its kernels at run time. Everywhere else (aarch64, or -DMMBNN_PORTABLE) only
// the portable kernels exist.
//
// MMBNN_EMULATE_X86 (the core's own tests only): the x86 kernels are compiled with SIMDe
// (https://github.com/simd-everywhere/simde), which implements the intrinsics in portable C, and
// the CPU is taken to support every ISA. That checks the AVX-512 code's results on a CPU without
// AVX-512 (correctness, not speed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>

#if defined(MMBNN_EMULATE_X86)
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#define MMBNN_X86 1
#define MMBNN_TARGET(isa)
#elif (defined(__x86_64__) || defined(_M_X64)) && !defined(MMBNN_PORTABLE)
#include <immintrin.h>
#define MMBNN_X86 1
#define MMBNN_TARGET(isa) __attribute__((target(isa)))
#else
#define MMBNN_X86 0
#define MMBNN_TARGET(isa)
#endif

// the target strings of the x86 kernels
#define MMBNN_T_POPCNT "popcnt"
#define MMBNN_T_AVX2 "avx2,popcnt"
#define MMBNN_T_AVX512BW "avx512f,avx512bw,avx512vl,avx2,popcnt"
#define MMBNN_T_AVX512VPOPCNT "avx512f,avx512bw,avx512vl,avx512vpopcntdq,avx2,popcnt"

#if defined(__GNUC__)
#define MMBNN_INLINE inline __attribute__((always_inline))
#else
#define MMBNN_INLINE inline
#endif

namespace mmbnn {

// popcount without the popcnt instruction (generic x86-64 has none); elsewhere the compiler's
// builtin is the portable choice (aarch64 turns it into cnt + addv).
MMBNN_INLINE uint64_t popcount_swar(uint64_t x) {
  x = x - ((x >> 1) & 0x5555555555555555ULL);
  x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
  x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
  return (x * 0x0101010101010101ULL) >> 56;
}

MMBNN_INLINE uint64_t popcount_portable(uint64_t x) {
#if MMBNN_X86
  return popcount_swar(x);
#else
  return static_cast<uint64_t>(__builtin_popcountll(x));
#endif
}

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};

// A 64-byte aligned array of n elements (uninitialised).
template <typename T>
std::unique_ptr<T[], AlignedFree> aligned_buffer(size_t n) {
  size_t bytes = ((n * sizeof(T) + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, bytes ? bytes : 64);
  if (!p) throw std::bad_alloc();
  return std::unique_ptr<T[], AlignedFree>(static_cast<T*>(p));
}

}  // namespace mmbnn

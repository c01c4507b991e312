// Run-time ISA dispatch and activation packing (float NCHW -> channels-last 64-bit words).
#include <ATen/Parallel.h>
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "bitpack.h"

#define MMBNN_AVX2 __attribute__((target("avx2,popcnt")))

namespace mmbnn {

bool cpu_supports(Isa isa) {
  switch (isa) {
    case Isa::kGeneric:
      return true;
    case Isa::kPopcnt:
      return __builtin_cpu_supports("popcnt");
    case Isa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
    default:
      return true;
  }
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kGeneric: return "generic";
    case Isa::kPopcnt: return "popcnt";
    case Isa::kAvx2: return "avx2";
    default: return "auto";
  }
}

Isa resolve_isa(int requested) {
  if (requested < 0 || requested > 3) throw std::runtime_error("unknown ISA code");
  Isa isa = static_cast<Isa>(requested);
  if (isa == Isa::kAuto) {
    if (cpu_supports(Isa::kAvx2)) return Isa::kAvx2;
    if (cpu_supports(Isa::kPopcnt)) return Isa::kPopcnt;
    return Isa::kGeneric;
  }
  if (!cpu_supports(isa))
    throw std::runtime_error(std::string("this CPU does not support the '") + isa_name(isa) +
                             "' kernels");
  return isa;
}

namespace {

// One contiguous run of pixels of one (image, group, word): `len` pixels starting at `x`
// (element stride `xs` between pixels, `sc` between channels), words written at `out` with a
// stride of `os` words between pixels.
struct Run {
  const float* x;
  int64_t len, xs, sc;
  const float* thr;  // thresholds of the run's first channel onwards, or nullptr
  int64_t nc;        // channels in this word (<= 64)
  int64_t* out;
  int64_t os;
};

inline bool negative(float v) { return !(v >= 0.0f); }  // NaN -> -1, -0.0 -> +1, as sign()

void pack_run_scalar(const Run& r, int64_t begin, int64_t end) {
  uint64_t buf[64];
  for (int64_t p0 = begin; p0 < end; p0 += 64) {
    const int64_t n = std::min<int64_t>(64, end - p0);
    std::memset(buf, 0, sizeof(buf));
    for (int64_t c = 0; c < r.nc; ++c) {
      const float* xc = r.x + c * r.sc + p0 * r.xs;
      const float t = r.thr ? r.thr[c] : 0.0f;
      for (int64_t i = 0; i < n; ++i) {
        const float v = r.thr ? xc[i * r.xs] - t : xc[i * r.xs];
        buf[i] |= static_cast<uint64_t>(negative(v)) << c;
      }
    }
    for (int64_t i = 0; i < n; ++i) r.out[(p0 + i) * r.os] = static_cast<int64_t>(buf[i]);
  }
}

// 32 pixels (stride 1) x up to 64 channels per step: compare, narrow the masks to bytes, set
// bit (c % 8) of byte plane c / 8, then transpose the 8 byte planes into 32 words.
MMBNN_AVX2 void pack_run_avx2(const Run& r, int64_t begin, int64_t end) {
  const __m256 zero = _mm256_setzero_ps();
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  int64_t p = begin;
  for (; p + 32 <= end; p += 32) {
    __m256i acc[8];
    for (int q = 0; q < 8; ++q) acc[q] = _mm256_setzero_si256();
    for (int64_t c = 0; c < r.nc; ++c) {
      const float* xc = r.x + c * r.sc + p;
      __m256 v0 = _mm256_loadu_ps(xc), v1 = _mm256_loadu_ps(xc + 8);
      __m256 v2 = _mm256_loadu_ps(xc + 16), v3 = _mm256_loadu_ps(xc + 24);
      if (r.thr) {
        const __m256 t = _mm256_set1_ps(r.thr[c]);
        v0 = _mm256_sub_ps(v0, t);
        v1 = _mm256_sub_ps(v1, t);
        v2 = _mm256_sub_ps(v2, t);
        v3 = _mm256_sub_ps(v3, t);
      }
      const __m256i m0 = _mm256_castps_si256(_mm256_cmp_ps(v0, zero, _CMP_NGE_UQ));
      const __m256i m1 = _mm256_castps_si256(_mm256_cmp_ps(v1, zero, _CMP_NGE_UQ));
      const __m256i m2 = _mm256_castps_si256(_mm256_cmp_ps(v2, zero, _CMP_NGE_UQ));
      const __m256i m3 = _mm256_castps_si256(_mm256_cmp_ps(v3, zero, _CMP_NGE_UQ));
      const __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(m0, m1),
                                           _mm256_packs_epi32(m2, m3));
      const __m256i bit = _mm256_set1_epi8(static_cast<char>(1u << (c & 7)));
      acc[c >> 3] = _mm256_or_si256(acc[c >> 3], _mm256_and_si256(b, bit));
    }
    // packs work per 128-bit lane: put the 4-pixel units back in pixel order
    for (int q = 0; q < 8; ++q) acc[q] = _mm256_permutevar8x32_epi32(acc[q], order);
    // byte-plane transpose: word of pixel i = bytes acc[0][i], ..., acc[7][i]
    const __m256i t01l = _mm256_unpacklo_epi8(acc[0], acc[1]);
    const __m256i t01h = _mm256_unpackhi_epi8(acc[0], acc[1]);
    const __m256i t23l = _mm256_unpacklo_epi8(acc[2], acc[3]);
    const __m256i t23h = _mm256_unpackhi_epi8(acc[2], acc[3]);
    const __m256i t45l = _mm256_unpacklo_epi8(acc[4], acc[5]);
    const __m256i t45h = _mm256_unpackhi_epi8(acc[4], acc[5]);
    const __m256i t67l = _mm256_unpacklo_epi8(acc[6], acc[7]);
    const __m256i t67h = _mm256_unpackhi_epi8(acc[6], acc[7]);
    __m256i u[4][2];  // [pixel quad within the lane's 16][0: channels 0-31, 1: 32-63]
    u[0][0] = _mm256_unpacklo_epi16(t01l, t23l);
    u[1][0] = _mm256_unpackhi_epi16(t01l, t23l);
    u[2][0] = _mm256_unpacklo_epi16(t01h, t23h);
    u[3][0] = _mm256_unpackhi_epi16(t01h, t23h);
    u[0][1] = _mm256_unpacklo_epi16(t45l, t67l);
    u[1][1] = _mm256_unpackhi_epi16(t45l, t67l);
    u[2][1] = _mm256_unpacklo_epi16(t45h, t67h);
    u[3][1] = _mm256_unpackhi_epi16(t45h, t67h);
    alignas(32) uint64_t w[4];
    for (int s = 0; s < 4; ++s) {
      // lane 0 holds pixels 4s..4s+3, lane 1 pixels 16+4s..16+4s+3
      const __m256i lo = _mm256_unpacklo_epi32(u[s][0], u[s][1]);  // pixels 4s, 4s+1
      const __m256i hi = _mm256_unpackhi_epi32(u[s][0], u[s][1]);  // pixels 4s+2, 4s+3
      _mm256_store_si256(reinterpret_cast<__m256i*>(w), lo);
      int64_t* o = r.out + (p + 4 * s) * r.os;
      o[0] = w[0];
      o[r.os] = w[1];
      o[16 * r.os] = w[2];
      o[17 * r.os] = w[3];
      _mm256_store_si256(reinterpret_cast<__m256i*>(w), hi);
      o[2 * r.os] = w[0];
      o[3 * r.os] = w[1];
      o[18 * r.os] = w[2];
      o[19 * r.os] = w[3];
    }
  }
  if (p < end) pack_run_scalar(r, p, end);
}

}  // namespace

void pack_activations(const PackArgs& a, Isa isa) {
  const int64_t G = a.groups, Cg = a.C / G, Wg = (Cg + 63) / 64;
  // A run is a stretch of pixels with a constant element stride: the whole plane when H and W
  // are contiguous together, else one row.
  const bool plane = a.sh == a.W * a.sw;
  const int64_t runs_per_image = plane ? 1 : a.H;
  const int64_t run_len = plane ? a.H * a.W : a.W;
  const bool vec = isa == Isa::kAvx2 && a.sw == 1;
  const int64_t chunk = 256;  // pixels per task
  const int64_t chunks = (run_len + chunk - 1) / chunk;
  const int64_t tasks = a.N * runs_per_image * G * Wg * chunks;
  const int64_t HW = a.H * a.W;
  at::parallel_for(0, tasks, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      int64_t rest = t;
      const int64_t ch = rest % chunks; rest /= chunks;
      const int64_t j = rest % Wg; rest /= Wg;
      const int64_t g = rest % G; rest /= G;
      const int64_t row = rest % runs_per_image;
      const int64_t n = rest / runs_per_image;
      const int64_t c0 = g * Cg + 64 * j;
      Run r;
      r.x = a.x + n * a.sn + c0 * a.sc + (plane ? 0 : row * a.sh);
      r.len = run_len;
      r.xs = a.sw;
      r.sc = a.sc;
      r.thr = a.threshold ? a.threshold + c0 : nullptr;
      r.nc = std::min<int64_t>(64, Cg - 64 * j);
      r.os = G * Wg;
      r.out = a.out + (n * HW + (plane ? 0 : row * a.W)) * r.os + g * Wg + j;
      const int64_t begin = ch * chunk, end = std::min(run_len, begin + chunk);
      if (vec)
        pack_run_avx2(r, begin, end);
      else
        pack_run_scalar(r, begin, end);
    }
  });
}

}  // namespace mmbnn

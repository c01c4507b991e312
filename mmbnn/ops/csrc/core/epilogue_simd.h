// The fused epilogue on 8-channel vectors (AVX2 intrinsics; the AVX-512 kernels use it too), for
// tiles of whole weight blocks: the same operations in the same order as epilogue.h's loops, so
// the same floats. Included by the x86 kernel files only, inside their target-attributed
// functions.
#pragma once

#include "epilogue.h"

#if MMBNN_X86

namespace mmbnn {
namespace detail {

MMBNN_TARGET(MMBNN_T_AVX2) MMBNN_INLINE __m256 act8(const Act& a, int64_t o, __m256 z) {
  if (!a.on) return z;
  const __m256 zero = _mm256_setzero_ps();
  if (a.pre) z = _mm256_sub_ps(z, _mm256_loadu_ps(a.pre + o));
  const __m256 neg = a.slope ? _mm256_mul_ps(_mm256_loadu_ps(a.slope + o), z) : zero;
  z = _mm256_blendv_ps(neg, z, _mm256_cmp_ps(z, zero, _CMP_GT_OQ));
  if (a.post) z = _mm256_add_ps(z, _mm256_loadu_ps(a.post + o));
  return z;
}

// whole blocks of one tile; the steps present are template flags (no per-block branches)
template <bool kAct1, bool kPost, bool kRes, bool kAct2>
MMBNN_TARGET(MMBNN_T_AVX2) MMBNN_INLINE void epilogue_blocks(const EpiCall& e, const EpiTile& t) {
  const int nb = t.nch / kBlock;
  const __m256i ntaps = _mm256_set1_epi32(static_cast<int32_t>(e.ntaps));
  const __m256 cf = _mm256_set1_ps(e.cf);
  for (int i = 0; i < t.P; ++i) {
    const uint32_t* pop = t.pop + i * t.ldp;
    const int32_t pat = t.pattern ? t.pattern[t.pix[i]] : 0;
    const int32_t* corr = pat ? e.corr_tab + static_cast<int64_t>(pat) * e.cout + t.o0 : nullptr;
    float* out = t.out[i] + t.f0;
    const float* res = kRes ? t.res[i] + t.r0 : nullptr;
    for (int m = 0; m < nb; ++m) {
      const int64_t o = t.o0 + kBlock * m;
      const __m256i pc = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pop + kBlock * m));
      __m256 z = _mm256_cvtepi32_ps(_mm256_sub_epi32(ntaps, _mm256_slli_epi32(pc, 1)));
      if (corr)
        z = _mm256_sub_ps(z, _mm256_mul_ps(cf, _mm256_cvtepi32_ps(_mm256_loadu_si256(
                                                   reinterpret_cast<const __m256i*>(
                                                       corr + kBlock * m)))));
      z = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(e.scale + o), z),
                        _mm256_loadu_ps(e.shift + o));
      if (kAct1) z = act8(e.act1, o, z);
      if (kPost)
        z = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(e.post_scale + o), z),
                          _mm256_loadu_ps(e.post_shift + o));
      if (kRes) {
        const __m256 r = _mm256_loadu_ps(res + kBlock * m);
        z = e.res_scale ? _mm256_add_ps(z, _mm256_mul_ps(_mm256_loadu_ps(e.res_scale + o), r))
                        : _mm256_add_ps(z, r);
      }
      if (kAct2) z = act8(e.act2, o, z);
      float* dst = out + kBlock * m;
      _mm256_storeu_ps(dst, t.accumulate ? _mm256_add_ps(_mm256_loadu_ps(dst), z) : z);
    }
  }
}

template <int NMAX>
MMBNN_TARGET(MMBNN_T_AVX2) MMBNN_INLINE void epilogue_simd(const EpiCall& e, const EpiTile& t) {
  if (t.nch % kBlock) {  // a partial block: the scalar loops
    for (int i = 0; i < t.P; ++i) epilogue_pixel<0, NMAX>(e, t, i);
    return;
  }
  if (t.dot) {
    const int nb = t.nch / kBlock;
    const __m256i ntaps = _mm256_set1_epi32(static_cast<int32_t>(e.ntaps));
    const __m256i icf = _mm256_set1_epi32(static_cast<int32_t>(e.icf));
    for (int i = 0; i < t.P; ++i) {
      const int32_t pat = t.pattern ? t.pattern[t.pix[i]] : 0;
      const int32_t* corr =
          pat ? e.corr_tab + static_cast<int64_t>(pat) * e.cout + t.o0 : nullptr;
      for (int m = 0; m < nb; ++m) {
        const __m256i pc = _mm256_loadu_si256(
            reinterpret_cast<const __m256i*>(t.pop + i * t.ldp + kBlock * m));
        __m256i d = _mm256_sub_epi32(ntaps, _mm256_slli_epi32(pc, 1));
        if (corr)
          d = _mm256_sub_epi32(d, _mm256_mullo_epi32(icf, _mm256_loadu_si256(
                                                         reinterpret_cast<const __m256i*>(
                                                             corr + kBlock * m))));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(t.dot[i] + t.o0 + kBlock * m), d);
      }
    }
    return;
  }
  const int flags = (e.act1.on ? 8 : 0) | (e.post_scale ? 4 : 0) | (t.res ? 2 : 0) |
                    (e.act2.on ? 1 : 0);
  switch (flags) {
#define MMBNN_EPI_CASE(f) \
  case f: epilogue_blocks<(f & 8) != 0, (f & 4) != 0, (f & 2) != 0, (f & 1) != 0>(e, t); break;
    MMBNN_EPI_CASE(0) MMBNN_EPI_CASE(1) MMBNN_EPI_CASE(2) MMBNN_EPI_CASE(3)
    MMBNN_EPI_CASE(4) MMBNN_EPI_CASE(5) MMBNN_EPI_CASE(6) MMBNN_EPI_CASE(7)
    MMBNN_EPI_CASE(8) MMBNN_EPI_CASE(9) MMBNN_EPI_CASE(10) MMBNN_EPI_CASE(11)
    MMBNN_EPI_CASE(12) MMBNN_EPI_CASE(13) MMBNN_EPI_CASE(14) MMBNN_EPI_CASE(15)
#undef MMBNN_EPI_CASE
  }
}

}  // namespace detail
}  // namespace mmbnn

#endif  // MMBNN_X86

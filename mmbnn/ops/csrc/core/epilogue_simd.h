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

template <int NMAX>
MMBNN_TARGET(MMBNN_T_AVX2) MMBNN_INLINE void epilogue_simd(const EpiCall& e, const EpiTile& t) {
  if (t.nch % kBlock) {  // a partial block: the scalar loops
    for (int i = 0; i < t.P; ++i) epilogue_pixel<0, NMAX>(e, t, i);
    return;
  }
  const int nb = t.nch / kBlock;
  const __m256i ntaps = _mm256_set1_epi32(static_cast<int32_t>(e.ntaps));
  const __m256i icf = _mm256_set1_epi32(static_cast<int32_t>(e.icf));
  const __m256 cf = _mm256_set1_ps(e.cf);
  for (int i = 0; i < t.P; ++i) {
    const uint32_t* pop = t.pop + i * t.ldp;
    const int32_t pat = t.pattern ? t.pattern[t.pix[i]] : 0;
    const int32_t* corr = pat ? e.corr_tab + static_cast<int64_t>(pat) * e.cout + t.o0 : nullptr;
    for (int m = 0; m < nb; ++m) {
      const int64_t o = t.o0 + kBlock * m;
      const __m256i pc = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pop + kBlock * m));
      __m256i d = _mm256_sub_epi32(ntaps, _mm256_slli_epi32(pc, 1));
      const __m256i cr = corr ? _mm256_loadu_si256(
                                    reinterpret_cast<const __m256i*>(corr + kBlock * m))
                              : _mm256_setzero_si256();
      if (t.dot) {
        if (corr) d = _mm256_sub_epi32(d, _mm256_mullo_epi32(icf, cr));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(t.dot[i] + o), d);
        continue;
      }
      __m256 z = _mm256_cvtepi32_ps(d);
      if (corr) z = _mm256_sub_ps(z, _mm256_mul_ps(cf, _mm256_cvtepi32_ps(cr)));
      z = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(e.scale + o), z),
                        _mm256_loadu_ps(e.shift + o));
      z = act8(e.act1, o, z);
      if (e.post_scale)
        z = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(e.post_scale + o), z),
                          _mm256_loadu_ps(e.post_shift + o));
      if (t.res) {
        const __m256 r = _mm256_loadu_ps(t.res[i] + t.r0 + kBlock * m);
        z = e.res_scale ? _mm256_add_ps(z, _mm256_mul_ps(_mm256_loadu_ps(e.res_scale + o), r))
                        : _mm256_add_ps(z, r);
      }
      z = act8(e.act2, o, z);
      float* out = t.out[i] + t.f0 + kBlock * m;
      _mm256_storeu_ps(out, t.accumulate ? _mm256_add_ps(_mm256_loadu_ps(out), z) : z);
    }
  }
}

}  // namespace detail
}  // namespace mmbnn

#endif  // MMBNN_X86

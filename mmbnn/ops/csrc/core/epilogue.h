// The fused epilogue and the float -> sign-bit packing, written once as plain loops and compiled
// into each ISA's file (inside its target-attributed functions, where the compiler vectorizes
// them). The floats are the same on every ISA: the same IEEE operations in the same order, and
// no FMA contraction (the core is built with -ffp-contract=off).
#pragma once

#include "kernels.h"

namespace mmbnn {
namespace detail {

// N > 0: a compile-time channel count (the full block, fully vectorized); N == 0: nch
template <int N>
MMBNN_INLINE void apply_act(const Act& a, int64_t o0, int nch, float* z) {
  if (!a.on) return;
  const int n = N > 0 ? N : nch;
  if (a.pre)
    for (int c = 0; c < n; ++c) z[c] = z[c] - a.pre[o0 + c];
  if (a.slope) {
    for (int c = 0; c < n; ++c) z[c] = z[c] > 0.0f ? z[c] : a.slope[o0 + c] * z[c];
  } else {
    for (int c = 0; c < n; ++c) z[c] = z[c] > 0.0f ? z[c] : 0.0f;
  }
  if (a.post)
    for (int c = 0; c < n; ++c) z[c] = z[c] + a.post[o0 + c];
}

// the epilogue of pixel i of a tile, over its channels (see ConvArgs for the formula)
template <int N, int NMAX>
MMBNN_INLINE void epilogue_pixel(const EpiCall& e, const EpiTile& t, int i) {
  const int n = N > 0 ? N : t.nch;
  const int64_t o0 = t.o0;
  const uint32_t* pop = t.pop + i * t.ldp;
  const int32_t pat = t.pattern ? t.pattern[t.pix[i]] : 0;
  const int32_t* corr = pat ? e.corr_tab + static_cast<int64_t>(pat) * e.cout + o0 : nullptr;
  const int32_t ntaps = static_cast<int32_t>(e.ntaps);
  if (t.dot) {
    int32_t* d = t.dot[i] + o0;
    const int32_t icf = static_cast<int32_t>(e.icf);
    if (corr) {
      for (int c = 0; c < n; ++c)
        d[c] = ntaps - 2 * static_cast<int32_t>(pop[c]) - icf * corr[c];
    } else {
      for (int c = 0; c < n; ++c) d[c] = ntaps - 2 * static_cast<int32_t>(pop[c]);
    }
    return;
  }
  float z[NMAX];
  for (int c = 0; c < n; ++c) z[c] = static_cast<float>(ntaps - 2 * static_cast<int32_t>(pop[c]));
  if (corr)
    for (int c = 0; c < n; ++c) z[c] = z[c] - e.cf * static_cast<float>(corr[c]);
  const float* s = e.scale + o0;
  const float* b = e.shift + o0;
  for (int c = 0; c < n; ++c) z[c] = s[c] * z[c] + b[c];
  apply_act<N>(e.act1, o0, n, z);
  if (e.post_scale) {
    const float* ps = e.post_scale + o0;
    const float* pt = e.post_shift + o0;
    for (int c = 0; c < n; ++c) z[c] = ps[c] * z[c] + pt[c];
  }
  if (t.res) {
    const float* r = t.res[i] + t.r0;
    if (e.res_scale) {
      const float* rs = e.res_scale + o0;
      for (int c = 0; c < n; ++c) z[c] = z[c] + rs[c] * r[c];
    } else {
      for (int c = 0; c < n; ++c) z[c] = z[c] + r[c];
    }
  }
  apply_act<N>(e.act2, o0, n, z);
  float* out = t.out[i] + t.f0;
  if (t.accumulate) {
    for (int c = 0; c < n; ++c) out[c] = out[c] + z[c];
  } else {
    for (int c = 0; c < n; ++c) out[c] = z[c];
  }
}

template <int NMAX>
MMBNN_INLINE void epilogue_impl(const EpiCall& e, const EpiTile& t) {
  if (t.nch == NMAX) {
    for (int i = 0; i < t.P; ++i) epilogue_pixel<NMAX, NMAX>(e, t, i);
  } else {
    for (int i = 0; i < t.P; ++i) epilogue_pixel<0, NMAX>(e, t, i);
  }
}

// bit c = !(x[c] - thr[c] >= 0): NaN gives 1 (-1) as sign() does, -0.0 gives 0 (+1)
MMBNN_INLINE bool negative(float v) { return !(v >= 0.0f); }

MMBNN_INLINE uint64_t pack_floats_scalar(const float* x, const float* thr, int64_t n) {
  uint64_t word = 0;
  if (thr) {
    for (int64_t c = 0; c < n; ++c)
      word |= static_cast<uint64_t>(negative(x[c] - thr[c])) << c;
  } else {
    for (int64_t c = 0; c < n; ++c) word |= static_cast<uint64_t>(negative(x[c])) << c;
  }
  return word;
}

// `len` pixels of a plane (unit stride), up to 64 channels `sc` apart -> one word per pixel
MMBNN_INLINE void pack_plane_scalar(const float* x, int64_t len, int64_t sc, const float* thr,
                                    int64_t nc, int64_t* out, int64_t os) {
  uint64_t buf[64];
  for (int64_t p0 = 0; p0 < len; p0 += 64) {
    const int64_t n = len - p0 < 64 ? len - p0 : 64;
    for (int64_t i = 0; i < n; ++i) buf[i] = 0;
    for (int64_t c = 0; c < nc; ++c) {
      const float* xc = x + c * sc + p0;
      const float t = thr ? thr[c] : 0.0f;
      for (int64_t i = 0; i < n; ++i) {
        const float v = thr ? xc[i] - t : xc[i];
        buf[i] |= static_cast<uint64_t>(negative(v)) << c;
      }
    }
    for (int64_t i = 0; i < n; ++i) out[(p0 + i) * os] = static_cast<int64_t>(buf[i]);
  }
}

}  // namespace detail
}  // namespace mmbnn

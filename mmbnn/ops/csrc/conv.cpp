// Bit-packed binary 2-D convolution: im2col into pixel-interleaved blocks, a register-tiled
// xor/popcount micro-kernel (AVX2 nibble lookup, scalar popcnt, or portable SWAR), and a fused
// per-output-channel epilogue.
//
// Layout of the column buffer: for every distinct (input group, geometry), image n and block b
// of 4 output pixels, K = KH * KW * Wg words per pixel, interleaved as [b][k][lane] so that one
// 256-bit load holds word k of 4 pixels. The micro-kernel computes popcount(a XOR w) for a tile
// of M output channels x 4P pixels at once (M * P 256-bit accumulators on AVX2).
#include <ATen/Parallel.h>
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "bitpack.h"

#define MMBNN_AVX2 __attribute__((target("avx2,popcnt")))
#define MMBNN_POPCNT __attribute__((target("popcnt")))
#define MMBNN_INLINE inline __attribute__((always_inline))

namespace mmbnn {
namespace {

constexpr int kLanes = 4;

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};
template <typename T>
std::unique_ptr<T[], AlignedFree> aligned_buffer(size_t n) {
  size_t bytes = ((n * sizeof(T) + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, bytes ? bytes : 64);
  if (!p) throw std::bad_alloc();
  return std::unique_ptr<T[], AlignedFree>(static_cast<T*>(p));
}

// ---------------------------------------------------------------------------------------------
// popcounts
MMBNN_INLINE uint64_t popcount_swar(uint64_t x) {
  x = x - ((x >> 1) & 0x5555555555555555ULL);
  x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
  x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
  return (x * 0x0101010101010101ULL) >> 56;
}

// ---------------------------------------------------------------------------------------------
// Float output of one channel tile (mb <= M output channels) over a run of pixel blocks:
//   d = ntaps - 2 pop - (1 - pad_value) corr;  y = post_scale * act(scale * d + shift) + post_shift
// (no FMA contraction anywhere, so every ISA gives the same floats).
struct RowOut {
  int64_t ntaps;
  const float* scale;       // offset to the tile's first channel; never null
  const float* shift;       // never null
  bool relu;
  const float* post_scale;  // or nullptr
  const float* post_shift;
  float* out;               // &out[n][o0][0]
  int64_t ohw;              // OH * OW: row stride of out, and the pixel count
  const uint8_t* border;    // [block]: needs a border correction; nullptr: none does
  const int32_t* pattern;   // [pixel] -> row of corr
  const int32_t* corr;      // corr_tab + o0 (row stride ldc)
  int64_t ldc;
  float cf;                 // 1 - pad_value
};

// dcorr[m][i] = cf * corr of pixel pix0 + i and channel m, for a tile with a border pixel
MMBNN_INLINE bool tile_corrections(const RowOut& e, int64_t b, int64_t nb, int mb,
                                   int64_t stride, float* dcorr) {
  if (!e.border) return false;
  bool edge = false;
  for (int64_t i = 0; i < nb; ++i) edge |= e.border[b + i] != 0;
  if (!edge) return false;
  const int64_t pix0 = b * kLanes, npix = std::min(nb * kLanes, e.ohw - pix0);
  for (int m = 0; m < mb; ++m)
    for (int64_t i = 0; i < stride; ++i)
      dcorr[m * stride + i] =
          i < npix ? e.cf * static_cast<float>(e.corr[e.pattern[pix0 + i] * e.ldc + m]) : 0.0f;
  return true;
}

MMBNN_INLINE float epilogue_scalar(const RowOut& e, int m, float d) {
  float y = e.scale[m] * d + e.shift[m];
  if (e.relu) y = y > 0.0f ? y : 0.0f;
  if (e.post_scale) y = e.post_scale[m] * y + e.post_shift[m];
  return y;
}

// ---------------------------------------------------------------------------------------------
// Scalar kernels (portable SWAR popcount, or the popcnt instruction):
// pop[m][i] = sum_k popcount(A[p][k][l] ^ W[m][k]), i = 4p + l. A points at P consecutive
// column blocks of K * 4 words; W at M rows of ldw words.
template <int M, int P, bool kHw>
MMBNN_INLINE void tile_scalar_body(const uint64_t* A, int64_t K, const uint64_t* W, int64_t ldw,
                                   uint32_t* pop) {
  uint64_t acc[M][P * kLanes] = {};
  for (int64_t k = 0; k < K; ++k) {
    uint64_t w[M];
#pragma GCC unroll 8
    for (int m = 0; m < M; ++m) w[m] = W[m * ldw + k];
#pragma GCC unroll 8
    for (int p = 0; p < P; ++p) {
#pragma GCC unroll 4
      for (int l = 0; l < kLanes; ++l) {
        const uint64_t a = A[(p * K + k) * kLanes + l];
#pragma GCC unroll 8
        for (int m = 0; m < M; ++m) {
          if constexpr (kHw)
            acc[m][p * kLanes + l] += __builtin_popcountll(a ^ w[m]);
          else
            acc[m][p * kLanes + l] += popcount_swar(a ^ w[m]);
        }
      }
    }
  }
  for (int m = 0; m < M; ++m)
    for (int i = 0; i < P * kLanes; ++i) pop[m * P * kLanes + i] = static_cast<uint32_t>(acc[m][i]);
}

template <int M, bool kHw>
MMBNN_INLINE void row_scalar_body(const uint64_t* A, int64_t b0, int64_t b1, int64_t K,
                                  const uint64_t* W, int64_t ldw, const RowOut& e) {
  uint32_t pop[M * kLanes];
  float dcorr[M * kLanes];
  for (int64_t b = b0; b < b1; ++b) {
    tile_scalar_body<M, 1, kHw>(A + (b - b0) * K * kLanes, K, W, ldw, pop);
    const bool edge = tile_corrections(e, b, 1, M, kLanes, dcorr);
    const int64_t pix0 = b * kLanes, npix = std::min<int64_t>(kLanes, e.ohw - pix0);
    for (int m = 0; m < M; ++m)
      for (int64_t i = 0; i < npix; ++i) {
        float d = static_cast<float>(e.ntaps - 2 * static_cast<int64_t>(pop[m * kLanes + i]));
        if (edge) d -= dcorr[m * kLanes + i];
        e.out[m * e.ohw + pix0 + i] = epilogue_scalar(e, m, d);
      }
  }
}

template <int M, int P>
void tile_generic(const uint64_t* A, int64_t K, const uint64_t* W, int64_t ldw, uint32_t* pop) {
  tile_scalar_body<M, P, false>(A, K, W, ldw, pop);
}
template <int M, int P>
MMBNN_POPCNT void tile_popcnt(const uint64_t* A, int64_t K, const uint64_t* W, int64_t ldw,
                              uint32_t* pop) {
  tile_scalar_body<M, P, true>(A, K, W, ldw, pop);
}
template <int M, int P>
void row_generic(const uint64_t* A, int64_t b0, int64_t b1, int64_t K, const uint64_t* W,
                 int64_t ldw, const RowOut& e) {
  row_scalar_body<M, false>(A, b0, b1, K, W, ldw, e);
}
template <int M, int P>
MMBNN_POPCNT void row_popcnt(const uint64_t* A, int64_t b0, int64_t b1, int64_t K,
                             const uint64_t* W, int64_t ldw, const RowOut& e) {
  row_scalar_body<M, true>(A, b0, b1, K, W, ldw, e);
}

// ---------------------------------------------------------------------------------------------
// AVX2: popcount of each byte by two 16-entry nibble lookups (vpshufb), accumulated in bytes
// for at most 31 words (31 * 8 < 256), then summed into 64-bit lanes (vpsadbw): one lane per
// pixel, so no horizontal sums. total[m][p] holds the 4 popcounts of block p, channel m.
template <int M, int P>
MMBNN_AVX2 MMBNN_INLINE void avx2_accumulate(const uint64_t* A, int64_t K, const uint64_t* W,
                                             int64_t ldw, __m256i (&total)[M][P]) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                       0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low = _mm256_set1_epi8(0x0f);
  const __m256i zero = _mm256_setzero_si256();
#pragma GCC unroll 8
  for (int m = 0; m < M; ++m)
#pragma GCC unroll 8
    for (int p = 0; p < P; ++p) total[m][p] = zero;
  for (int64_t k0 = 0; k0 < K; k0 += 31) {
    const int64_t k1 = std::min<int64_t>(K, k0 + 31);
    __m256i acc[M][P];
#pragma GCC unroll 8
    for (int m = 0; m < M; ++m)
#pragma GCC unroll 8
      for (int p = 0; p < P; ++p) acc[m][p] = zero;
    for (int64_t k = k0; k < k1; ++k) {
      __m256i a[P];
#pragma GCC unroll 8
      for (int p = 0; p < P; ++p)
        a[p] = _mm256_load_si256(reinterpret_cast<const __m256i*>(A + (p * K + k) * kLanes));
#pragma GCC unroll 8
      for (int m = 0; m < M; ++m) {
        const __m256i w = _mm256_set1_epi64x(static_cast<long long>(W[m * ldw + k]));
#pragma GCC unroll 8
        for (int p = 0; p < P; ++p) {
          const __m256i x = _mm256_xor_si256(a[p], w);
          const __m256i lo = _mm256_and_si256(x, low);
          const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), low);
          acc[m][p] = _mm256_add_epi8(acc[m][p], _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo),
                                                                 _mm256_shuffle_epi8(lut, hi)));
        }
      }
    }
#pragma GCC unroll 8
    for (int m = 0; m < M; ++m)
#pragma GCC unroll 8
      for (int p = 0; p < P; ++p)
        total[m][p] = _mm256_add_epi64(total[m][p], _mm256_sad_epu8(acc[m][p], zero));
  }
}

template <int M, int P>
MMBNN_AVX2 void tile_avx2(const uint64_t* A, int64_t K, const uint64_t* W, int64_t ldw,
                          uint32_t* pop) {
  __m256i total[M][P];
  avx2_accumulate<M, P>(A, K, W, ldw, total);
  const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
  for (int m = 0; m < M; ++m)
    for (int p = 0; p < P; ++p)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(pop + (m * P + p) * kLanes),
                       _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(total[m][p], even)));
}

// the float epilogue of a tile of M channels x 4P pixels (P = 1 or 2) at block b
template <int M, int P>
MMBNN_AVX2 MMBNN_INLINE void avx2_finish(const __m256i (&total)[M][P], const RowOut& e,
                                         int64_t b) {
  static_assert(P == 1 || P == 2, "the AVX2 epilogue takes 1 or 2 blocks");
  constexpr int kW = P * kLanes;
  alignas(32) float dcorr[M * kW];
  const bool edge = tile_corrections(e, b, P, M, kW, dcorr);
  const int64_t pix0 = b * kLanes, npix = std::min<int64_t>(kW, e.ohw - pix0);
  const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
  const __m256i n = _mm256_set1_epi32(static_cast<int>(e.ntaps));
  const __m256 fzero = _mm256_setzero_ps();
#pragma GCC unroll 8
  for (int m = 0; m < M; ++m) {
    __m256i pc = _mm256_permutevar8x32_epi32(total[m][0], even);
    if constexpr (P == 2)
      pc = _mm256_blend_epi32(pc, _mm256_permutevar8x32_epi32(total[m][1], even), 0xF0);
    __m256 d = _mm256_cvtepi32_ps(_mm256_sub_epi32(n, _mm256_slli_epi32(pc, 1)));
    if (edge) d = _mm256_sub_ps(d, _mm256_load_ps(dcorr + m * kW));
    __m256 y = _mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(e.scale[m]), d),
                             _mm256_set1_ps(e.shift[m]));
    if (e.relu) y = _mm256_max_ps(y, fzero);
    if (e.post_scale)
      y = _mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(e.post_scale[m]), y),
                        _mm256_set1_ps(e.post_shift[m]));
    float* dst = e.out + m * e.ohw + pix0;
    if (npix == 8) {
      _mm256_storeu_ps(dst, y);
    } else {
      alignas(32) float t[8];
      _mm256_store_ps(t, y);
      for (int64_t i = 0; i < npix; ++i) dst[i] = t[i];
    }
  }
}

template <int M, int P>
MMBNN_AVX2 void row_avx2(const uint64_t* A, int64_t b0, int64_t b1, int64_t K,
                         const uint64_t* W, int64_t ldw, const RowOut& e) {
  int64_t b = b0;
  for (; b + P <= b1; b += P) {
    __m256i total[M][P];
    avx2_accumulate<M, P>(A + (b - b0) * K * kLanes, K, W, ldw, total);
    avx2_finish<M, P>(total, e, b);
  }
  for (; b < b1; ++b) {
    __m256i total[M][1];
    avx2_accumulate<M, 1>(A + (b - b0) * K * kLanes, K, W, ldw, total);
    avx2_finish<M, 1>(total, e, b);
  }
}

using TileFn = void (*)(const uint64_t*, int64_t, const uint64_t*, int64_t, uint32_t*);
using RowFn = void (*)(const uint64_t*, int64_t, int64_t, int64_t, const uint64_t*, int64_t,
                       const RowOut&);

// Tile shape of the AVX2 kernel: M output channels x P blocks of 4 pixels (6 accumulators, no
// register spills; measured on Zen 3: 3x2 ~ 2x2 > 4x2, 4x1).
#ifndef MMBNN_TILE_M
#define MMBNN_TILE_M 3
#endif
#ifndef MMBNN_TILE_P
#define MMBNN_TILE_P 2
#endif
constexpr int kMaxM = 4, kMaxP = 2;

struct Kernels {
  int M, P;                         // full tile
  TileFn tile[kMaxM + 1];           // tile[m]: m <= M channels x 1 block (pop out)
  RowFn row[kMaxM + 1];             // row[m]: m <= M channels over a run of blocks, float out
};

#define MMBNN_FILL(TILE, ROW, k, P)                                                     \
  k.tile[1] = TILE<1, 1>; k.tile[2] = TILE<2, 1>; k.tile[3] = TILE<3, 1>;               \
  k.tile[4] = TILE<4, 1>; k.row[1] = ROW<1, P>; k.row[2] = ROW<2, P>;                   \
  k.row[3] = ROW<3, P>; k.row[4] = ROW<4, P>;

Kernels kernels_for(Isa isa) {
  Kernels k{};
  if (isa == Isa::kAvx2) {
    k.M = MMBNN_TILE_M;
    k.P = MMBNN_TILE_P;
    MMBNN_FILL(tile_avx2, row_avx2, k, MMBNN_TILE_P)
  } else if (isa == Isa::kPopcnt) {
    k.M = 2;
    k.P = 1;
    MMBNN_FILL(tile_popcnt, row_popcnt, k, 1)
  } else {
    k.M = 2;
    k.P = 1;
    MMBNN_FILL(tile_generic, row_generic, k, 1)
  }
  return k;
}

// ---------------------------------------------------------------------------------------------
struct Geometry {
  int64_t gi, ph, pw, dh, dw;
  bool operator<(const Geometry& o) const {
    return std::tie(gi, ph, pw, dh, dw) < std::tie(o.gi, o.ph, o.pw, o.dh, o.dw);
  }
};

}  // namespace

void binary_conv2d(const ConvArgs& a, Isa isa) {
  const int64_t G = a.G, Cog = a.Cout / G, KH = a.KH, KW = a.KW, Wg = a.Wg;
  const int64_t K = KH * KW * Wg, OHW = a.OH * a.OW, PB = (OHW + kLanes - 1) / kLanes;
  const int64_t ntaps = KH * KW * a.cin_g;
  if (KH > 32 || KW > 32) throw std::runtime_error("kernels larger than 32 are not supported");

  // distinct (input group, geometry): their column buffers are shared by the conv groups
  std::map<Geometry, int64_t> ids;
  std::vector<Geometry> geoms;
  std::vector<int64_t> gid(G);
  for (int64_t g = 0; g < G; ++g) {
    Geometry ge{g % a.Gin, a.pad_h[g], a.pad_w[g], a.dil_h[g], a.dil_w[g]};
    auto it = ids.find(ge);
    if (it == ids.end()) {
      it = ids.emplace(ge, static_cast<int64_t>(geoms.size())).first;
      geoms.push_back(ge);
    }
    gid[g] = it->second;
  }
  const int64_t U = static_cast<int64_t>(geoms.size());

  // borders: bit ky of rowmask[u][oy] is set when tap row ky falls outside the input
  std::vector<uint32_t> rowmask(U * a.OH, 0), colmask(U * a.OW, 0);
  for (int64_t u = 0; u < U; ++u) {
    const Geometry& ge = geoms[u];
    for (int64_t oy = 0; oy < a.OH; ++oy)
      for (int64_t ky = 0; ky < KH; ++ky) {
        const int64_t iy = oy * a.stride_h - ge.ph + ky * ge.dh;
        if (iy < 0 || iy >= a.H) rowmask[u * a.OH + oy] |= 1u << ky;
      }
    for (int64_t ox = 0; ox < a.OW; ++ox)
      for (int64_t kx = 0; kx < KW; ++kx) {
        const int64_t ix = ox * a.stride_w - ge.pw + kx * ge.dw;
        if (ix < 0 || ix >= a.W) colmask[u * a.OW + ox] |= 1u << kx;
      }
  }

  // Exact border correction for pad_value != 1: the padded taps were computed as +1, so
  // dot -= (1 - pad_value) * corr, corr = the sum of the {-1, +1} weights of the taps outside
  // the input. corr depends on the pixel only through its (rowmask, colmask) pattern: one
  // table row per pattern (row 0: none), and a pattern id per pixel.
  const bool correct = a.pad_value != 1.0;
  std::vector<int32_t> pattern;   // [u][pixel] -> table row
  std::vector<int32_t> corr_tab;  // [row][Cout]
  std::vector<uint8_t> border;    // [u][block]: the block holds a corrected pixel
  if (correct) {
    pattern.assign(U * OHW, 0);
    border.assign(U * PB, 0);
    std::vector<std::pair<uint32_t, uint32_t>> rows{{0u, 0u}};
    for (int64_t u = 0; u < U; ++u) {
      std::map<std::pair<uint32_t, uint32_t>, int32_t> seen;
      for (int64_t pix = 0; pix < OHW; ++pix) {
        const uint32_t r = rowmask[u * a.OH + pix / a.OW], c = colmask[u * a.OW + pix % a.OW];
        if (!(r | c)) continue;
        auto it = seen.find({r, c});
        if (it == seen.end()) {
          it = seen.emplace(std::make_pair(r, c), static_cast<int32_t>(rows.size())).first;
          rows.push_back({r, c});
        }
        pattern[u * OHW + pix] = it->second;
        border[u * PB + pix / kLanes] = 1;
      }
    }
    corr_tab.assign(rows.size() * a.Cout, 0);
    std::vector<int32_t> wsum(KH * KW);
    for (int64_t o = 0; o < a.Cout; ++o) {
      for (int64_t t = 0; t < KH * KW; ++t) {
        int64_t ones = 0;
        for (int64_t j = 0; j < Wg; ++j)
          ones += popcount_swar(static_cast<uint64_t>(a.w[o * K + t * Wg + j]));
        wsum[t] = static_cast<int32_t>(a.cin_g - 2 * ones);
      }
      for (size_t row = 1; row < rows.size(); ++row) {
        int32_t sum = 0;
        for (int64_t ky = 0; ky < KH; ++ky)
          for (int64_t kx = 0; kx < KW; ++kx)
            if (((rows[row].first >> ky) | (rows[row].second >> kx)) & 1u)
              sum += wsum[ky * KW + kx];
        corr_tab[row * a.Cout + o] = sum;
      }
    }
  }

  const Kernels kern = kernels_for(isa);
  const int64_t M = kern.M;
  const int64_t nctiles = (Cog + M - 1) / M;
  const bool bits = a.mode == OutMode::kBits, fused = a.mode == OutMode::kFloat;
  // the conv groups that read each column set (the K bases of a shared input read one)
  std::vector<std::vector<int64_t>> users(U);
  for (int64_t g = 0; g < G; ++g) users[gid[g]].push_back(g);

  // Tasks: (n, column set u, pixel chunk, channel chunk). A task builds the columns of its
  // pixel chunk (about 16 kB: they stay in L1/L2) and runs every conv group that reads them
  // and every channel tile of its chunk over them. Channels are split across tasks only when
  // there are too few tasks for the threads (each split rebuilds the columns). In bits mode a
  // task is (n, pixel chunk) over every column set and channel, so that it owns the output
  // words of its pixels.
  const int64_t pchunk = std::max<int64_t>(2, (16384 / (K * kLanes * 8)) & ~int64_t(1));
  const int64_t npchunks = (PB + pchunk - 1) / pchunk;
  const int64_t nu_task = bits ? 1 : U;
  const int64_t base_tasks = a.N * nu_task * npchunks;
  const int64_t want = 4 * static_cast<int64_t>(at::get_num_threads());
  const int64_t ncchunks =
      bits ? 1 : std::min<int64_t>(nctiles, std::max<int64_t>(1, (want + base_tasks - 1) /
                                                                      base_tasks));
  const int64_t cchunk = (nctiles + ncchunks - 1) / ncchunks;
  const int64_t tasks = base_tasks * ncchunks;
  const uint64_t* xw = reinterpret_cast<const uint64_t*>(a.x);
  const int64_t pixw = a.Gin * Wg;  // words per input pixel
  const uint64_t* ww = reinterpret_cast<const uint64_t*>(a.w);
  const float cf = static_cast<float>(1.0 - a.pad_value);
  const int64_t icf = static_cast<int64_t>(1.0 - a.pad_value);  // kDot: integer pad values
  const int64_t ocg = a.Cout / std::max<int64_t>(a.out_groups, 1);
  const int64_t owg = (ocg + 63) / 64;
  std::vector<float> ones, zeros;
  const float* scale = a.scale;
  const float* shift = a.shift;
  if (!scale) {
    ones.assign(a.Cout, 1.0f);
    scale = ones.data();
  }
  if (!shift) {
    zeros.assign(a.Cout, 0.0f);
    shift = zeros.data();
  }

  // im2col of blocks [b0, b1) of image n for column set u: dst[b][k][lane]; out-of-range taps
  // are 0 words (+1), corrected by the epilogue
  auto im2col = [&](int64_t u, int64_t n, int64_t b0, int64_t b1, uint64_t* cols,
                    std::vector<int64_t>& toff) {
    const Geometry& ge = geoms[u];
    for (int64_t ky = 0; ky < KH; ++ky)
      for (int64_t kx = 0; kx < KW; ++kx)
        toff[ky * KW + kx] = (ky * ge.dh * a.W + kx * ge.dw) * pixw;
    const uint64_t* xn = xw + n * a.H * a.W * pixw + ge.gi * Wg;
    for (int64_t b = b0; b < b1; ++b) {
      uint64_t* dst = cols + (b - b0) * K * kLanes;
      bool interior = true;
      int64_t base[kLanes];
      for (int l = 0; l < kLanes && interior; ++l) {
        const int64_t pix = b * kLanes + l;
        if (pix >= OHW) {
          interior = false;
          break;
        }
        const int64_t oy = pix / a.OW, ox = pix % a.OW;
        interior = !(rowmask[u * a.OH + oy] | colmask[u * a.OW + ox]);
        base[l] = ((oy * a.stride_h - ge.ph) * a.W + ox * a.stride_w - ge.pw) * pixw;
      }
      if (interior) {  // the 4 pixels see only in-range taps: plain copies
        for (int64_t tap = 0; tap < KH * KW; ++tap) {
          const uint64_t* s0 = xn + base[0] + toff[tap];
          const uint64_t* s1 = xn + base[1] + toff[tap];
          const uint64_t* s2 = xn + base[2] + toff[tap];
          const uint64_t* s3 = xn + base[3] + toff[tap];
          uint64_t* d = dst + tap * Wg * kLanes;
          for (int64_t j = 0; j < Wg; ++j) {
            d[4 * j] = s0[j];
            d[4 * j + 1] = s1[j];
            d[4 * j + 2] = s2[j];
            d[4 * j + 3] = s3[j];
          }
        }
        continue;
      }
      for (int l = 0; l < kLanes; ++l) {
        const int64_t pix = b * kLanes + l;
        if (pix >= OHW) {
          for (int64_t k = 0; k < K; ++k) dst[k * kLanes + l] = 0;
          continue;
        }
        const int64_t oy = pix / a.OW, ox = pix % a.OW;
        for (int64_t ky = 0; ky < KH; ++ky) {
          const int64_t iy = oy * a.stride_h - ge.ph + ky * ge.dh;
          for (int64_t kx = 0; kx < KW; ++kx) {
            const int64_t ix = ox * a.stride_w - ge.pw + kx * ge.dw;
            uint64_t* d = dst + (ky * KW + kx) * Wg * kLanes + l;
            if (iy < 0 || iy >= a.H || ix < 0 || ix >= a.W) {
              for (int64_t j = 0; j < Wg; ++j) d[j * kLanes] = 0;
            } else {
              const uint64_t* s = xn + (iy * a.W + ix) * pixw;
              for (int64_t j = 0; j < Wg; ++j) d[j * kLanes] = s[j];
            }
          }
        }
      }
    }
  };

  at::parallel_for(0, tasks, 1, [&](int64_t t0, int64_t t1) {
    auto cols = aligned_buffer<uint64_t>(static_cast<size_t>(pchunk * K * kLanes));
    std::vector<int64_t> toff(KH * KW);
    uint32_t pop[kMaxM * kLanes];
    for (int64_t t = t0; t < t1; ++t) {
      int64_t rest = t;
      const int64_t cc = rest % ncchunks;
      rest /= ncchunks;
      const int64_t pc = rest % npchunks;
      rest /= npchunks;
      const int64_t ut = rest % nu_task;
      const int64_t n = rest / nu_task;
      const int64_t bb0 = pc * pchunk, bb1 = std::min(PB, bb0 + pchunk);
      if (bits) {  // zero this task's output words
        const int64_t p0 = bb0 * kLanes, p1 = std::min(OHW, bb1 * kLanes);
        int64_t* o = static_cast<int64_t*>(a.out) + (n * OHW + p0) * a.out_groups * owg;
        std::memset(o, 0, sizeof(int64_t) * (p1 - p0) * a.out_groups * owg);
      }
      const int64_t ct0 = cc * cchunk, ct1 = std::min(nctiles, ct0 + cchunk);
      const int64_t u0 = bits ? 0 : ut, u1 = bits ? U : ut + 1;
      for (int64_t u = u0; u < u1; ++u) {
        im2col(u, n, bb0, bb1, cols.get(), toff);
        const uint64_t* A = cols.get();
        const int32_t* pat = correct ? pattern.data() + u * OHW : nullptr;
        for (int64_t g : users[u]) {
          for (int64_t ct = ct0; ct < ct1; ++ct) {
            const int64_t c0 = ct * M, mb = std::min(M, Cog - c0);
            const int64_t o0 = g * Cog + c0;
            const uint64_t* wt = ww + o0 * K;
            if (fused) {
              RowOut e{ntaps, scale + o0, shift + o0, a.relu,
                       a.post_scale ? a.post_scale + o0 : nullptr,
                       a.post_shift ? a.post_shift + o0 : nullptr,
                       static_cast<float*>(a.out) + (n * a.Cout + o0) * OHW, OHW,
                       correct ? border.data() + u * PB : nullptr, pat,
                       correct ? corr_tab.data() + o0 : nullptr, a.Cout, cf};
              kern.row[mb](A, bb0, bb1, K, wt, K, e);
              continue;
            }
            for (int64_t b = bb0; b < bb1; ++b) {
              kern.tile[mb](A + (b - bb0) * K * kLanes, K, wt, K, pop);
              const int64_t pix0 = b * kLanes, npix = std::min<int64_t>(kLanes, OHW - pix0);
              const bool edge = correct && border[u * PB + b];
              for (int64_t m = 0; m < mb; ++m) {
                const int64_t o = o0 + m;
                for (int64_t i = 0; i < npix; ++i) {
                  const int64_t pix = pix0 + i;
                  const int64_t c = edge ? corr_tab[pat[pix] * a.Cout + o] : 0;
                  const int64_t dot = ntaps - 2 * static_cast<int64_t>(pop[m * kLanes + i]);
                  if (a.mode == OutMode::kDot) {
                    static_cast<int32_t*>(a.out)[(n * a.Cout + o) * OHW + pix] =
                        static_cast<int32_t>(dot - icf * c);
                    continue;
                  }
                  float d = static_cast<float>(dot);
                  if (edge) d -= cf * static_cast<float>(c);
                  float y = scale[o] * d + shift[o];
                  if (a.relu) y = y > 0.0f ? y : 0.0f;
                  if (a.post_scale) y = a.post_scale[o] * y + a.post_shift[o];
                  const float th = a.out_threshold ? a.out_threshold[o] : 0.0f;
                  if (!(y - th >= 0.0f)) {
                    const int64_t go = o / ocg, oc = o % ocg;
                    static_cast<int64_t*>(a.out)[((n * OHW + pix) * a.out_groups + go) * owg +
                                                 oc / 64] |=
                        static_cast<int64_t>(1ULL << (oc % 64));
                  }
                }
              }
            }
          }
        }
      }
    }
  });
}

}  // namespace mmbnn

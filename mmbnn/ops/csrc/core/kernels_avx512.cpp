// AVX-512 kernels (x86-64 only, chosen at run time). A 512-bit register holds one word of the 8
// channels of a weight block.
//   avx512vpopcnt: VPOPCNTQ counts each 64-bit lane: popcount(a ^ w) is xor + vpopcntq + add
//     over the raw8 layout; tiles of 4 pixels x 4 blocks (32 channels: 16 accumulators).
//   avx512bw (AVX-512 without VPOPCNTDQ): the AVX2 nibble lookup on 512 bits over the split8
//     layout; tiles of 4 pixels x 2 blocks.
#include "epilogue_simd.h"
#include "kernels.h"

#if MMBNN_X86

// GCC 12's _mm512_cvtepi64_epi32 passes _mm256_undefined_si256() (a self-initialised variable)
// as its merge operand, which -Wuninitialized reports inside the header.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace mmbnn {
namespace detail {
namespace {

#define VPOPCNT MMBNN_TARGET(MMBNN_T_AVX512VPOPCNT)
#define BW MMBNN_TARGET(MMBNN_T_AVX512BW)

template <int P, int MV>
VPOPCNT MMBNN_INLINE void run_vpopcnt(const TileArgs& t, const uint64_t* wrun, uint32_t* pop) {
  __m512i acc[P][MV];
  for (int p = 0; p < P; ++p)
    for (int m = 0; m < MV; ++m) acc[p][m] = _mm512_setzero_si512();
  const uint64_t* w = wrun;
  for (int64_t k = 0; k < t.K; ++k, w += kBlock) {
    const int64_t off = t.koff[k];
    __m512i wv[MV];
    for (int m = 0; m < MV; ++m) wv[m] = _mm512_loadu_si512(w + m * t.ldb);
    for (int p = 0; p < P; ++p) {
      const __m512i a = _mm512_set1_epi64(static_cast<long long>(t.base[p][off]));
      for (int m = 0; m < MV; ++m)
        acc[p][m] = _mm512_add_epi64(acc[p][m], _mm512_popcnt_epi64(_mm512_xor_si512(a, wv[m])));
    }
  }
  for (int p = 0; p < P; ++p)
    for (int m = 0; m < MV; ++m)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(pop + p * t.ldp + kBlock * m),
                          _mm512_cvtepi64_epi32(acc[p][m]));
}

template <int P, int MV>
BW MMBNN_INLINE void run_bw(const TileArgs& t, const uint64_t* wrun, uint32_t* pop) {
  const __m512i lut = _mm512_maskz_broadcast_i32x4(0xFFFF,
      _mm_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4));
  const __m512i zero = _mm512_setzero_si512();
  __m512i tot[P][MV];
  for (int p = 0; p < P; ++p)
    for (int m = 0; m < MV; ++m) tot[p][m] = zero;
  for (int64_t k0 = 0; k0 < t.K; k0 += 31) {
    const int64_t k1 = k0 + 31 < t.K ? k0 + 31 : t.K;
    __m512i acc[P][MV];
    for (int p = 0; p < P; ++p)
      for (int m = 0; m < MV; ++m) acc[p][m] = zero;
    const uint64_t* w = wrun + k0 * 2 * kBlock;
    for (int64_t k = k0; k < k1; ++k, w += 2 * kBlock) {
      const int64_t off = t.koff[k];
      __m512i wl[MV], wh[MV];
      for (int m = 0; m < MV; ++m) {
        wl[m] = _mm512_loadu_si512(w + m * t.ldb);
        wh[m] = _mm512_loadu_si512(w + m * t.ldb + kBlock);
      }
      for (int p = 0; p < P; ++p) {
        const uint64_t* a = t.base[p] + off;
        const __m512i al = _mm512_set1_epi64(static_cast<long long>(a[0]));
        const __m512i ah = _mm512_set1_epi64(static_cast<long long>(a[1]));
        for (int m = 0; m < MV; ++m)
          acc[p][m] = _mm512_add_epi8(
              acc[p][m], _mm512_add_epi8(_mm512_shuffle_epi8(lut, _mm512_xor_si512(al, wl[m])),
                                         _mm512_shuffle_epi8(lut, _mm512_xor_si512(ah, wh[m]))));
      }
    }
    for (int p = 0; p < P; ++p)
      for (int m = 0; m < MV; ++m)
        tot[p][m] = _mm512_add_epi64(tot[p][m], _mm512_sad_epu8(acc[p][m], zero));
  }
  for (int p = 0; p < P; ++p)
    for (int m = 0; m < MV; ++m)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(pop + p * t.ldp + kBlock * m),
                          _mm512_cvtepi64_epi32(tot[p][m]));
}

// a run of blocks, MV at a time (the register tile), the rest one by one
template <int P>
VPOPCNT void tile_vpopcnt(const TileArgs& t, uint32_t* pop) {
  int64_t b = 0;
  for (; b + 4 <= t.nblk; b += 4) run_vpopcnt<P, 4>(t, t.w + b * t.ldb, pop + b * kBlock);
  for (; b < t.nblk; ++b) run_vpopcnt<P, 1>(t, t.w + b * t.ldb, pop + b * kBlock);
}

template <int P>
BW void tile_bw(const TileArgs& t, uint32_t* pop) {
  int64_t b = 0;
  for (; b + 2 <= t.nblk; b += 2) run_bw<P, 2>(t, t.w + b * t.ldb, pop + b * kBlock);
  for (; b < t.nblk; ++b) run_bw<P, 1>(t, t.w + b * t.ldb, pop + b * kBlock);
}

BW void epilogue_avx512(const EpiCall& e, const EpiTile& t) {
  epilogue_simd<kBlock * kMaxRunBlocks>(e, t);
}

BW uint64_t pack_floats_avx512(const float* x, const float* thr, int64_t n) {
  const __m512 zero = _mm512_setzero_ps();
  uint64_t word = 0;
  int64_t c = 0;
  for (; c + 16 <= n; c += 16) {
    __m512 v = _mm512_loadu_ps(x + c);
    if (thr) v = _mm512_sub_ps(v, _mm512_loadu_ps(thr + c));
    word |= static_cast<uint64_t>(_mm512_cmp_ps_mask(v, zero, _CMP_NGE_UQ)) << c;
  }
  if (c < n) word |= pack_floats_scalar(x + c, thr ? thr + c : nullptr, n - c) << c;
  return word;
}

#undef VPOPCNT
#undef BW


}  // namespace

void fill_avx512vpopcnt(IsaKernels& k) {
  k.P = 4;
  k.MV = 4;
  k.layout = WeightLayout::kRaw8;
  k.tile[1] = tile_vpopcnt<1>;
  k.tile[2] = tile_vpopcnt<2>;
  k.tile[3] = tile_vpopcnt<3>;
  k.tile[4] = tile_vpopcnt<4>;
  k.epilogue = epilogue_avx512;
  k.pack_floats = pack_floats_avx512;
  k.pack_plane = avx2_pack_plane();
}

void fill_avx512bw(IsaKernels& k) {
  k.P = 4;
  k.MV = 2;
  k.layout = WeightLayout::kSplit8;
  k.tile[1] = tile_bw<1>;
  k.tile[2] = tile_bw<2>;
  k.tile[3] = tile_bw<3>;
  k.tile[4] = tile_bw<4>;
  k.epilogue = epilogue_avx512;
  k.pack_floats = pack_floats_avx512;
  k.pack_plane = avx2_pack_plane();
}

}  // namespace detail
}  // namespace mmbnn

#endif  // MMBNN_X86

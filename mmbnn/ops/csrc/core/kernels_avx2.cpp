// AVX2 kernels (x86-64 only, chosen at run time): nibble-lookup popcounts (vpshufb; Mula, Kurz,
// Lemire, arXiv 1611.07612) over the split8 weight layout.
//
// Both operands come split into nibbles (the input when it is copied into the padded scratch,
// the weights once per layer), so popcount(a ^ w) over a 256-bit pair is six operations:
// two xors of nibbles (already masked: (a ^ w) & 0x0f.. = (a & 0x0f..) ^ (w & 0x0f..)), two
// lookups and two byte adds; the byte counts are summed into 64-bit lanes (vpsadbw) every 31
// words (31 * 8 < 256). A tile is 3 pixels x 8 channels: 6 accumulators, 4 weight registers,
// 2 broadcast activation words, the table and 2-3 temporaries fill the 16 ymm registers.
#include "epilogue_simd.h"
#include "kernels.h"

#if MMBNN_X86

namespace mmbnn {
namespace detail {
namespace {

#define AVX2 MMBNN_TARGET(MMBNN_T_AVX2)

template <int P>
AVX2 MMBNN_INLINE void block_avx2(const TileArgs& t, const uint64_t* wblk, uint32_t* pop) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                       0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i zero = _mm256_setzero_si256();
  __m256i tot[P][2];  // the 64-bit sums
  for (int p = 0; p < P; ++p) tot[p][0] = tot[p][1] = zero;
  const uint64_t* base[P];
  for (int p = 0; p < P; ++p) base[p] = t.base[p];
  for (int64_t k0 = 0; k0 < t.K; k0 += 31) {
    const int64_t k1 = k0 + 31 < t.K ? k0 + 31 : t.K;
    __m256i acc[P][2];
    for (int p = 0; p < P; ++p) acc[p][0] = acc[p][1] = zero;
    const uint64_t* w = wblk + k0 * 2 * kBlock;
    for (int64_t k = k0; k < k1; ++k, w += 2 * kBlock) {
      const int64_t off = t.koff[k];
      const __m256i wl0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
      const __m256i wl1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 4));
      const __m256i wh0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 8));
      const __m256i wh1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 12));
      for (int p = 0; p < P; ++p) {
        const uint64_t* a = base[p] + off;
        const __m256i al = _mm256_set1_epi64x(static_cast<long long>(a[0]));
        const __m256i ah = _mm256_set1_epi64x(static_cast<long long>(a[1]));
        acc[p][0] = _mm256_add_epi8(
            acc[p][0], _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_xor_si256(al, wl0)),
                                       _mm256_shuffle_epi8(lut, _mm256_xor_si256(ah, wh0))));
        acc[p][1] = _mm256_add_epi8(
            acc[p][1], _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_xor_si256(al, wl1)),
                                       _mm256_shuffle_epi8(lut, _mm256_xor_si256(ah, wh1))));
      }
    }
    for (int p = 0; p < P; ++p)
      for (int h = 0; h < 2; ++h) {
        const __m256i s = _mm256_sad_epu8(acc[p][h], zero);
        tot[p][h] = _mm256_add_epi64(tot[p][h], s);
      }
  }
  // the low 32 bits of each 64-bit sum, channels 0-3 then 4-7
  const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
  for (int p = 0; p < P; ++p) {
    const __m256i lo = _mm256_permutevar8x32_epi32(tot[p][0], even);
    const __m256i hi = _mm256_permutevar8x32_epi32(tot[p][1], even);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(pop + p * t.ldp),
                        _mm256_blend_epi32(lo, hi, 0xF0));
  }
}

template <int P>
AVX2 void tile_avx2(const TileArgs& t, uint32_t* pop) {
  for (int64_t b = 0; b < t.nblk; ++b) block_avx2<P>(t, t.w + b * t.ldb, pop + b * kBlock);
}

AVX2 void epilogue_avx2(const EpiCall& e, const EpiTile& t) {
  epilogue_simd<kBlock * kMaxRunBlocks>(e, t);
}

AVX2 uint64_t pack_floats_avx2(const float* x, const float* thr, int64_t n) {
  const __m256 zero = _mm256_setzero_ps();
  uint64_t word = 0;
  int64_t c = 0;
  for (; c + 8 <= n; c += 8) {
    __m256 v = _mm256_loadu_ps(x + c);
    if (thr) v = _mm256_sub_ps(v, _mm256_loadu_ps(thr + c));
    word |= static_cast<uint64_t>(static_cast<uint32_t>(
                _mm256_movemask_ps(_mm256_cmp_ps(v, zero, _CMP_NGE_UQ))))
            << c;
  }
  if (c < n) word |= pack_floats_scalar(x + c, thr ? thr + c : nullptr, n - c) << c;
  return word;
}

// 32 pixels (unit stride) x up to 64 channels per step: compare, narrow the masks to bytes, set
// bit (c % 8) of byte plane c / 8, then transpose the 8 byte planes into 32 words.
AVX2 void pack_plane_avx2(const float* x, int64_t len, int64_t sc, const float* thr,
                          int64_t nc, int64_t* out, int64_t os) {
  const __m256 zero = _mm256_setzero_ps();
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  int64_t p = 0;
  for (; p + 32 <= len; p += 32) {
    __m256i acc[8];
    for (int q = 0; q < 8; ++q) acc[q] = _mm256_setzero_si256();
    for (int64_t c = 0; c < nc; ++c) {
      const float* xc = x + c * sc + p;
      __m256 v0 = _mm256_loadu_ps(xc), v1 = _mm256_loadu_ps(xc + 8);
      __m256 v2 = _mm256_loadu_ps(xc + 16), v3 = _mm256_loadu_ps(xc + 24);
      if (thr) {
        const __m256 th = _mm256_set1_ps(thr[c]);
        v0 = _mm256_sub_ps(v0, th);
        v1 = _mm256_sub_ps(v1, th);
        v2 = _mm256_sub_ps(v2, th);
        v3 = _mm256_sub_ps(v3, th);
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
    alignas(32) uint64_t wd[4];
    for (int s = 0; s < 4; ++s) {
      // lane 0 holds pixels 4s..4s+3, lane 1 pixels 16+4s..16+4s+3
      const __m256i lo = _mm256_unpacklo_epi32(u[s][0], u[s][1]);  // pixels 4s, 4s+1
      const __m256i hi = _mm256_unpackhi_epi32(u[s][0], u[s][1]);  // pixels 4s+2, 4s+3
      _mm256_store_si256(reinterpret_cast<__m256i*>(wd), lo);
      int64_t* o = out + (p + 4 * s) * os;
      o[0] = static_cast<int64_t>(wd[0]);
      o[os] = static_cast<int64_t>(wd[1]);
      o[16 * os] = static_cast<int64_t>(wd[2]);
      o[17 * os] = static_cast<int64_t>(wd[3]);
      _mm256_store_si256(reinterpret_cast<__m256i*>(wd), hi);
      o[2 * os] = static_cast<int64_t>(wd[0]);
      o[3 * os] = static_cast<int64_t>(wd[1]);
      o[18 * os] = static_cast<int64_t>(wd[2]);
      o[19 * os] = static_cast<int64_t>(wd[3]);
    }
  }
  if (p < len) pack_plane_scalar(x + p, len - p, sc, thr, nc, out + p * os, os);
}

#undef AVX2
}  // namespace

void fill_avx2(IsaKernels& k) {
  k.P = 3;  // 4 pixels need 17 ymm registers: the accumulators would spill
  k.MV = 1;
  k.layout = WeightLayout::kSplit8;
  k.tile[1] = tile_avx2<1>;
  k.tile[2] = tile_avx2<2>;
  k.tile[3] = tile_avx2<3>;
  k.epilogue = epilogue_avx2;
  k.pack_floats = pack_floats_avx2;
  k.pack_plane = pack_plane_avx2;
}

// shared with the AVX-512 file: its packing of planes is this one
PackPlaneFn avx2_pack_plane() { return pack_plane_avx2; }

}  // namespace detail
}  // namespace mmbnn

#endif  // MMBNN_X86

// The portable kernels (every architecture) and the x86 popcnt-instruction variant: scalar
// xor/popcount over the raw8 weight layout, 2 pixels x 8 channels per tile.
#include "epilogue.h"
#include "kernels.h"

namespace mmbnn {
namespace detail {
namespace {

template <int P, bool kHw>
MMBNN_INLINE void block_scalar(const TileArgs& t, const uint64_t* w, uint32_t* pop) {
  uint64_t acc[P][kBlock] = {};
  for (int64_t k = 0; k < t.K; ++k, w += kBlock) {
    const int64_t off = t.koff[k];
    for (int p = 0; p < P; ++p) {
      const uint64_t a = t.base[p][off];
      for (int c = 0; c < kBlock; ++c) {
        if constexpr (kHw)
          acc[p][c] += static_cast<uint64_t>(__builtin_popcountll(a ^ w[c]));
        else
          acc[p][c] += popcount_portable(a ^ w[c]);
      }
    }
  }
  for (int p = 0; p < P; ++p)
    for (int c = 0; c < kBlock; ++c) pop[p * t.ldp + c] = static_cast<uint32_t>(acc[p][c]);
}

template <int P, bool kHw>
MMBNN_INLINE void tile_scalar_body(const TileArgs& t, uint32_t* pop) {
  for (int64_t b = 0; b < t.nblk; ++b)
    block_scalar<P, kHw>(t, t.w + b * t.ldb, pop + b * kBlock);
}

template <int P>
void tile_generic(const TileArgs& t, uint32_t* pop) {
  tile_scalar_body<P, false>(t, pop);
}

void epilogue_generic(const EpiCall& e, const EpiTile& t) {
  epilogue_impl<kBlock * kMaxRunBlocks>(e, t);
}
uint64_t pack_floats_generic(const float* x, const float* thr, int64_t n) {
  return pack_floats_scalar(x, thr, n);
}
void pack_plane_generic(const float* x, int64_t len, int64_t sc, const float* thr, int64_t nc,
                        int64_t* out, int64_t os) {
  pack_plane_scalar(x, len, sc, thr, nc, out, os);
}

#if MMBNN_X86
template <int P>
MMBNN_TARGET(MMBNN_T_POPCNT) void tile_popcnt(const TileArgs& t, uint32_t* pop) {
  tile_scalar_body<P, true>(t, pop);
}
#endif

}  // namespace

void fill_generic(IsaKernels& k, bool hw_popcount) {
  k.P = 2;
  k.MV = 1;
  k.layout = WeightLayout::kRaw8;
  k.tile[1] = tile_generic<1>;
  k.tile[2] = tile_generic<2>;
#if MMBNN_X86
  if (hw_popcount) {
    k.tile[1] = tile_popcnt<1>;
    k.tile[2] = tile_popcnt<2>;
  }
#else
  (void)hw_popcount;
#endif
  k.epilogue = epilogue_generic;
  k.pack_floats = pack_floats_generic;
  k.pack_plane = pack_plane_generic;
}

}  // namespace detail
}  // namespace mmbnn

// The per-ISA kernels of the core (internal): the xor/popcount micro-kernels, the fused epilogue,
// and the packing of floats into sign bits. conv.cpp and pack.cpp drive them; each ISA's file
// (kernels_generic.cpp, kernels_x86.cpp) fills one IsaKernels table.
#pragma once

#include <cstdint>

#include "bitpack.h"
#include "platform.h"

namespace mmbnn {
namespace detail {

constexpr int kBlock = 8;          // output channels per prepared weight block
constexpr int kMaxTileP = 4;       // pixels per micro-kernel call, at most
constexpr int kMaxRunBlocks = 16;  // weight blocks per micro-kernel call, at most

// One micro-kernel call: pop[i * ldp + c] = sum over the K words of popcount(a_i[k] XOR w_c[k])
// for P pixels i and the 8 * nblk channels c of nblk consecutive weight blocks (a run; the
// kernel walks it MV blocks at a time, its register tile); word k of pixel i is at base[i] +
// koff[k] (for the split layout its low nibbles, the high ones follow).
struct TileArgs {
  const uint64_t* const* base;      // per pixel: its window origin in the input scratch
  const int64_t* koff;              // (K,) word offsets from the origin
  int64_t K;
  const uint64_t* w;                // prepared weights of the run's first block
  int64_t ldb;                      // words per prepared block: K * 8 (raw8) or K * 16 (split8)
  int64_t nblk;                     // blocks in the run, 1 <= nblk <= kMaxRunBlocks
  int64_t ldp;                      // row stride of pop (>= 8 * nblk)
};
using TileFn = void (*)(const TileArgs& t, uint32_t* pop);

// The epilogue of one tile: P pixels x nch channels of one conv group (see ConvArgs).
struct EpiCall {
  int64_t ntaps;
  const float* scale;       // never null (ones by default), indexed by conv channel
  const float* shift;       // never null
  Act act1;
  const float* post_scale;  // or nullptr
  const float* post_shift;
  const float* res_scale;   // or nullptr
  Act act2;
  float cf;                 // 1 - pad_value (the border correction's factor)
  int64_t icf;              // the same as an integer (dot output; integer pad values)
  const int32_t* corr_tab;  // [pattern][Cout] or nullptr
  int64_t cout;
};
struct EpiTile {
  int P, nch;
  const uint32_t* pop;      // [i * ldp + c]
  int64_t ldp;
  int64_t o0;               // first conv channel
  int64_t f0;               // its final channel
  const int32_t* pattern;   // the geometry's pattern ids by pixel (0: none), or nullptr
  const int64_t* pix;       // per pixel: its index in the image (OH * OW)
  float* const* out;        // per pixel: its output row (final channel 0), or nullptr
  int32_t* const* dot;      // per pixel: its dot row (conv channel 0), or nullptr
  const float* const* res;  // per pixel: its residual row, or nullptr
  int64_t r0;               // the residual channel of o0 (o0 % res_channels)
  bool accumulate;          // add to out (a later base of a sum)
};
using EpilogueFn = void (*)(const EpiCall& e, const EpiTile& t);

// bits of n <= 64 consecutive floats: bit c = !(x[c] - thr[c] >= 0) (thr nullptr: 0)
using PackFloatsFn = uint64_t (*)(const float* x, const float* thr, int64_t n);

// bits of `len` pixels (unit stride) of up to 64 channels (channel stride sc) into out[i * os]
using PackPlaneFn = void (*)(const float* x, int64_t len, int64_t sc, const float* thr,
                             int64_t nc, int64_t* out, int64_t os);

struct IsaKernels {
  int P = 1, MV = 1;                      // the register tile: P pixels x MV blocks
  WeightLayout layout = WeightLayout::kRaw8;
  TileFn tile[kMaxTileP + 1] = {};        // [p], 1 <= p <= P: p pixels x a run of blocks
  EpilogueFn epilogue = nullptr;
  PackFloatsFn pack_floats = nullptr;
  PackPlaneFn pack_plane = nullptr;
};

const IsaKernels& kernels(Isa isa);
void fill_generic(IsaKernels& k, bool hw_popcount);
#if MMBNN_X86
void fill_avx2(IsaKernels& k);
void fill_avx512bw(IsaKernels& k);
void fill_avx512vpopcnt(IsaKernels& k);
PackPlaneFn avx2_pack_plane();
#endif

}  // namespace detail
}  // namespace mmbnn

// Bit-packed binary convolution: the torch-free core of mmbnn's 1-bit inference kernels.
//
// Conventions (see mmbnn/ops/bitpack.py for the full description):
//   * a binary value v in {-1, +1} is one bit: 0 for +1, 1 for -1; sign(0) = +1;
//   * activations are packed along channels, channels-last, in 64-bit words:
//     (N, H, W, G, Wg) words, G channel groups of Cg = C / G channels, Wg = ceil(Cg / 64) words
//     per group; channel g * Cg + 64 * j + b is bit b of word j of group g; tail bits are 0;
//   * weights of output channel o are one row of KH * KW * Wg words, tap-major
//     ((ky * KW + kx) * Wg + j), with the tail bits 0;
//   * dot(a, w) = n - 2 * popcount(a XOR w), n the true number of taps (KH * KW * Cg): tail
//     bits are 0 in both operands and contribute nothing.
#pragma once

#include <cstdint>
#include <string>

namespace mmbnn {

// Instruction sets of the kernels. kAuto picks the best one the CPU supports at run time.
enum class Isa : int { kAuto = 0, kGeneric = 1, kPopcnt = 2, kAvx2 = 3 };

// The ISA that `requested` resolves to on this CPU; throws std::runtime_error when the CPU lacks
// a requested one.
Isa resolve_isa(int requested);
const char* isa_name(Isa isa);
bool cpu_supports(Isa isa);

struct PackArgs {
  const float* x;           // (N, C, H, W) with the strides below, in elements
  int64_t N, C, H, W;
  int64_t sn, sc, sh, sw;
  const float* threshold;   // (C,) or nullptr: bit = !(x - threshold[c] >= 0)
  int64_t groups;           // G; C % G == 0
  int64_t* out;             // (N, H, W, G, Wg) words, written fully (tail bits 0)
};

void pack_activations(const PackArgs& a, Isa isa);

enum class OutMode : int { kDot = 0, kFloat = 1, kBits = 2 };

struct ConvArgs {
  // packed input (N, H, W, Gin, Wg); conv group g reads input group g % Gin
  const int64_t* x;
  int64_t N, H, W, Gin, Wg;
  int64_t cin_g;            // true input channels per group (<= 64 * Wg)
  // packed weights (Cout, KH * KW * Wg)
  const int64_t* w;
  int64_t Cout, G, KH, KW;
  int64_t stride_h, stride_w, OH, OW;
  const int64_t* pad_h;     // (G,) per conv group (BPAC gives each base its own)
  const int64_t* pad_w;
  const int64_t* dil_h;
  const int64_t* dil_w;
  double pad_value;         // value of the padded border after binarization
  // epilogue y = post_scale * act(scale * dot + shift) + post_shift, act = relu or identity
  OutMode mode;
  const float* scale;       // (Cout,) or nullptr (1)
  const float* shift;       // (Cout,) or nullptr (0)
  bool relu;
  const float* post_scale;  // (Cout,) or nullptr (no post affine)
  const float* post_shift;  // (Cout,) or nullptr
  // kBits: bit = !(y - out_threshold[o] >= 0), packed as (N, OH, OW, out_groups, out_wg)
  const float* out_threshold;  // (Cout,) or nullptr (0)
  int64_t out_groups;
  void* out;                // int32 (N, Cout, OH, OW) | float (N, Cout, OH, OW) | int64 words
};

void binary_conv2d(const ConvArgs& a, Isa isa);

// Sparse binary convolution of {-1, +1} activations with 0/1 weight masks (zero padding):
//   conv[o, p] = sum over in-range taps t with m[o, c, t] = 1 of x[c, p + t]
//              = sum_(t, j) popcount(m) - 2 popcount(a AND m)     (a: bit 1 = -1)
//   window[p]  = sum over in-range taps of sum_c x[c, p + t]      (the all-ones filter)
// Only the (tap, word) pairs of a filter with an active weight are visited: empty taps (all-zero
// kxk kernels over a word of 64 input channels) and all-zero filters cost nothing.
struct SparseConvArgs {
  const int64_t* x;         // packed input (N, H, W, 1, Wg)
  int64_t N, H, W, Wg, cin;
  const int64_t* mask;      // (Cout, KH * KW * Wg), bit 1 = active weight
  int64_t Cout, KH, KW, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, OH, OW;
  int32_t* conv;            // (N, Cout, OH, OW)
  int32_t* window;          // (N, OH, OW)
};

void sparse_conv2d(const SparseConvArgs& a, Isa isa);


}  // namespace mmbnn

// Bit-packed binary convolution: the torch-free core of mmbnn's 1-bit inference kernels.
//
// One bit convention from checkpoint to kernel (see mmbnn/ops/bitpack.py for the full text):
//   * a binary value v in {-1, +1} is one bit: 0 for +1, 1 for -1; sign(0) = +1; an activation
//     x with threshold t gives the bit !(x - t >= 0) (NaN -> 1, -0.0 -> 0);
//   * activations are packed along channels, channels-last, in 64-bit words:
//     (N, H, W, G, Wg) words, G channel groups of Cg = C / G channels, Wg = ceil(Cg / 64) words
//     per group; channel g * Cg + 64 * j + b is bit b of word j of group g; tail bits are 0;
//   * the weights of output channel o are one row of KH * KW * Wg words, tap-major
//     ((ky * KW + kx) * Wg + j), tail bits 0 (the "canonical" layout, also the packed
//     checkpoint's);
//   * dot(a, w) = n - 2 * popcount(a XOR w), n the true number of taps (KH * KW * Cg).
//
// The core has no torch dependency: the binding (../ops.cpp) installs torch's thread pool through
// set_parallel_for(), and the core's own tests (tests/csrc) build it alone, for x86 with and
// without its x86 kernels, and for aarch64.
#pragma once

#include <cstdint>
#include <functional>

namespace mmbnn {

// Instruction sets of the kernels. kAuto picks the best one the CPU supports at run time.
//   generic: portable C++ (SWAR popcount on x86-64, the compiler's popcount elsewhere);
//   popcnt: the scalar popcnt instruction; avx2: nibble-lookup popcount (vpshufb) on 256 bits;
//   avx512bw: the same on 512 bits (AVX-512 without VPOPCNTDQ, e.g. Skylake-SP);
//   avx512vpopcnt: AVX-512 VPOPCNTQ on 512 bits (Ice Lake and later, Zen 4 and later).
enum class Isa : int {
  kAuto = 0, kGeneric = 1, kPopcnt = 2, kAvx2 = 3, kAvx512bw = 4, kAvx512vpopcnt = 5
};
constexpr int kNumIsaCodes = 6;

// The ISA that `requested` resolves to on this CPU; throws std::runtime_error for an unknown code
// or one that this build lacks or this CPU cannot run.
Isa resolve_isa(int requested);
const char* isa_name(Isa isa);
bool isa_compiled(Isa isa);  // its kernels are in this build
bool cpu_supports(Isa isa);  // compiled, and this CPU runs it

// ---------------------------------------------------------------------------------------------
// Threads. The core splits its work into items and runs them through this hook: serial by
// default; the torch binding installs at::parallel_for (so torch.set_num_threads applies).
using ParallelBody = std::function<void(int64_t, int64_t)>;
using ParallelFor = void (*)(int64_t begin, int64_t end, int64_t grain, const ParallelBody& body);
using NumThreads = int (*)();
void set_parallel_for(ParallelFor fn, NumThreads num_threads);
void parallel_for(int64_t begin, int64_t end, int64_t grain, const ParallelBody& body);
int num_threads();

// ---------------------------------------------------------------------------------------------
// Packing float activations. Output word group r * G + g (r < R repeats) holds channels
// g * Cg ... of x binarized with thresholds threshold[r * C + c]: the K bases of a Group-Net
// group that see one input through K different per-base thresholds read R = K packed copies.
struct PackArgs {
  const float* x;           // (N, C, H, W) with the strides below, in elements (NCHW or NHWC)
  int64_t N, C, H, W;
  int64_t sn, sc, sh, sw;
  const float* threshold;   // (R * C,) or nullptr (0)
  int64_t groups;           // G; C % G == 0
  int64_t repeat;           // R >= 1
  int64_t* out;             // (N, H, W, R * G, Wg) words, written fully (tail bits 0)
};
void pack_activations(const PackArgs& a, Isa isa);

// ---------------------------------------------------------------------------------------------
// Weights in the kernels' own layout ("prepared"): per conv group, blocks of 8 output channels
// (the last block of a group zero-filled), and per block and word k of the canonical row, the 8
// channels' words side by side ("raw8"), or their low and high nibbles (w & 0x0f..., (w >> 4) &
// 0x0f...) as 8 + 8 words ("split8", for the nibble-lookup popcounts). Prepared once per layer
// and ISA family, reused by every call.
enum class WeightLayout : int { kRaw8 = 0, kSplit8 = 1 };
WeightLayout weight_layout(Isa isa);
int64_t prepared_weight_words(int64_t cout, int64_t groups, int64_t words_per_row,
                              WeightLayout layout);
void prepare_weights(const int64_t* canonical, int64_t cout, int64_t groups,
                     int64_t words_per_row, WeightLayout layout, int64_t* out);

// ---------------------------------------------------------------------------------------------
// The binary convolution and its fused epilogue.
//
// An activation step: y = v > 0 ? v : slope[o] * v with v = x - pre[o], then y += post[o]
// (pre/post optional; slope nullptr: ReLU, y = max(v, 0)). PReLU is slope with no shifts,
// ReActNet's RPReLU is all three.
struct Act {
  bool on = false;
  const float* pre = nullptr;
  const float* slope = nullptr;
  const float* post = nullptr;
};

// Per conv output channel o (of Cout; the final channel f = o % Cfin, Cfin = Cout / sum_bases),
// output pixel p, with dot the exact integer dot product of the padded input:
//   z = scale[o] * dot + shift[o]; z = act1(z); z = post_scale[o] * z + post_shift[o];
//   z = z + res_scale[o] * residual[p][o % res_channels]; z = act2(z)
//   float_out[p][f] = z (sum_bases == 1), or the sum of z over the sum_bases bases of f, added
//   in base order (base k holds conv groups k * G / sum_bases ...);
//   bits_out: the final values packed as by pack_activations (out_groups, out_repeat,
//   out_threshold over the Cfin final channels).
// Each step is optional (nullptr / off); every ISA computes the same floats (no FMA contraction,
// the same operations in the same order), and the pure-PyTorch path (mmbnn/ops/_torch_ops.py)
// repeats them exactly.
struct ConvArgs {
  // packed input (N, H, W, Gin, Wg); conv group g reads input group g % Gin
  const int64_t* x;
  int64_t N, H, W, Gin, Wg;
  int64_t cin_g;            // true input channels per group (<= 64 * Wg)
  // weights: canonical (Cout, KH * KW * Wg) and, optionally, already prepared for the ISA
  const int64_t* w;
  const int64_t* w_prepared;  // nullptr: prepared by the call
  int64_t Cout, G, KH, KW;
  int64_t stride_h, stride_w, OH, OW;
  const int64_t* pad_h;     // (G,) per conv group (BPAC gives each base its own)
  const int64_t* pad_w;
  const int64_t* dil_h;
  const int64_t* dil_w;
  double pad_value;         // value of the padded border after binarization
  // epilogue
  const float* scale = nullptr;       // (Cout,) or nullptr (1)
  const float* shift = nullptr;       // (Cout,) or nullptr (0)
  Act act1;
  const float* post_scale = nullptr;  // (Cout,) both or neither
  const float* post_shift = nullptr;
  const float* residual = nullptr;    // (N, OH, OW, res_channels) or nullptr
  int64_t res_channels = 0;           // Cout (one per conv channel), or a divisor of it that is a
                                      // multiple of C_out / G (a shortcut shared by the bases)
  const float* res_scale = nullptr;   // (Cout,) or nullptr (1)
  Act act2;
  int64_t sum_bases = 1;
  // outputs (any of them; dot_out excludes the others)
  int32_t* dot_out = nullptr;         // (N, OH, OW, Cout): dot, no epilogue
  float* float_out = nullptr;         // (N, OH, OW, Cfin)
  int64_t* bits_out = nullptr;        // (N, OH, OW, out_repeat * out_groups, Wgo)
  const float* out_threshold = nullptr;  // (out_repeat * Cfin,) or nullptr (0)
  int64_t out_groups = 1, out_repeat = 1;
};
void binary_conv2d(const ConvArgs& a, Isa isa);

// ---------------------------------------------------------------------------------------------
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

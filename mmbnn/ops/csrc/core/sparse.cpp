// Sparse binary convolution: 0/1 weight masks against packed {-1, +1} activations, visiting
// only the (tap, word) pairs of each filter that hold an active weight (see bitpack.h).
#include <algorithm>
#include <vector>

#include "bitpack.h"
#include "platform.h"

namespace mmbnn {
namespace {

struct Entry {
  int32_t tap, word, ones;  // ones: active weights in the mask word
  uint64_t mask;
};

template <bool kHw>
inline int popc(uint64_t x) {
  if constexpr (kHw)
    return __builtin_popcountll(x);
  else
    return static_cast<int>(popcount_portable(x));
}

// The first output index o >= 0 whose input index o * stride - offset is >= 0, and the end of
// those whose input index is < size (offset = pad - tap * dilation; stride > 0).
inline int64_t first_in_range(int64_t offset, int64_t stride) {
  return offset <= 0 ? 0 : (offset + stride - 1) / stride;
}

inline int64_t end_in_range(int64_t size, int64_t offset, int64_t stride) {
  const int64_t last = size - 1 + offset;  // o * stride <= last
  return last < 0 ? 0 : last / stride + 1;
}

template <bool kHw>
inline void run(const SparseConvArgs& a, const std::vector<std::vector<Entry>>& rows) {
  const uint64_t* x = reinterpret_cast<const uint64_t*>(a.x);
  const int64_t OHW = a.OH * a.OW;
  // the window sums: one per output pixel, over the in-range taps
  parallel_for(0, a.N * OHW, 64, [&](int64_t p0, int64_t p1) {
    for (int64_t t = p0; t < p1; ++t) {
      const int64_t n = t / OHW, oy = (t % OHW) / a.OW, ox = t % a.OW;
      int64_t sum = 0;
      for (int64_t ky = 0; ky < a.KH; ++ky) {
        const int64_t iy = oy * a.stride_h - a.pad_h + ky * a.dil_h;
        if (iy < 0 || iy >= a.H) continue;
        for (int64_t kx = 0; kx < a.KW; ++kx) {
          const int64_t ix = ox * a.stride_w - a.pad_w + kx * a.dil_w;
          if (ix < 0 || ix >= a.W) continue;
          const uint64_t* px = x + ((n * a.H + iy) * a.W + ix) * a.Wg;
          sum += a.cin;
          for (int64_t j = 0; j < a.Wg; ++j) sum -= 2 * popc<kHw>(px[j]);
        }
      }
      a.window[t] = static_cast<int32_t>(sum);
    }
  });
  // the masked popcounts: entry by entry (one (tap, word) pair of a filter), over the output
  // positions where the tap is in range (zero padding: the others add nothing), so the inner
  // loop is a strided load, an AND and a popcount into an accumulator row that stays in cache
  parallel_for(0, a.N * a.Cout, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / a.Cout, o = r % a.Cout;
      int32_t* out = a.conv + r * OHW;
      std::fill(out, out + OHW, 0);
      for (const Entry& e : rows[o]) {
        const int64_t ky = e.tap / a.KW, kx = e.tap % a.KW;
        const int64_t oy0 = first_in_range(a.pad_h - ky * a.dil_h, a.stride_h);
        const int64_t oy1 = std::min(a.OH, end_in_range(a.H, a.pad_h - ky * a.dil_h, a.stride_h));
        const int64_t ox0 = first_in_range(a.pad_w - kx * a.dil_w, a.stride_w);
        const int64_t ox1 = std::min(a.OW, end_in_range(a.W, a.pad_w - kx * a.dil_w, a.stride_w));
        if (ox0 >= ox1) continue;
        const int64_t step = a.stride_w * a.Wg;
        const uint64_t mask = e.mask;
        const int32_t ones = e.ones;
        for (int64_t oy = oy0; oy < oy1; ++oy) {
          const int64_t iy = oy * a.stride_h - a.pad_h + ky * a.dil_h;
          const int64_t ix0 = ox0 * a.stride_w - a.pad_w + kx * a.dil_w;
          const uint64_t* px = x + ((n * a.H + iy) * a.W + ix0) * a.Wg + e.word;
          int32_t* po = out + oy * a.OW;
          for (int64_t ox = ox0; ox < ox1; ++ox, px += step)
            po[ox] += ones - 2 * popc<kHw>(*px & mask);
        }
      }
    }
  });
}

#if MMBNN_X86
MMBNN_TARGET(MMBNN_T_POPCNT)
void run_popcnt(const SparseConvArgs& a, const std::vector<std::vector<Entry>>& r) {
  run<true>(a, r);
}
#endif

}  // namespace

void sparse_conv2d(const SparseConvArgs& a, Isa isa) {
  const int64_t K = a.KH * a.KW * a.Wg;
  std::vector<std::vector<Entry>> rows(a.Cout);  // the active (tap, word) pairs per filter
  for (int64_t o = 0; o < a.Cout; ++o)
    for (int64_t t = 0; t < a.KH * a.KW; ++t)
      for (int64_t j = 0; j < a.Wg; ++j) {
        const uint64_t m = static_cast<uint64_t>(a.mask[o * K + t * a.Wg + j]);
        if (m)
          rows[o].push_back(Entry{static_cast<int32_t>(t), static_cast<int32_t>(j),
                                  static_cast<int32_t>(popcount_swar(m)), m});
      }
#if MMBNN_X86
  if (isa != Isa::kGeneric) {
    run_popcnt(a, rows);  // every x86 ISA above generic has the scalar popcnt instruction
    return;
  }
#endif
  (void)isa;
  run<false>(a, rows);
}

}  // namespace mmbnn

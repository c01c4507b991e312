// Activation packing: float (N, C, H, W) with any strides -> channels-last 64-bit words.
// Channels-last input (unit channel stride) packs pixel by pixel from contiguous channels; planar
// input (unit width stride) packs runs of pixels plane by plane; anything else goes through the
// portable loop.
#include <algorithm>

#include "bitpack.h"
#include "epilogue.h"
#include "kernels.h"

namespace mmbnn {

void pack_activations(const PackArgs& a, Isa isa) {
  const detail::IsaKernels& k = detail::kernels(isa);
  const int64_t G = a.groups, R = a.repeat, Cg = a.C / G, Wg = (Cg + 63) / 64;
  const int64_t words = R * G * Wg;  // per pixel
  const int64_t HW = a.H * a.W;
  if (a.sc == 1) {  // channels-last: one pixel's channels are contiguous
    parallel_for(0, a.N * HW, 256, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t n = p / HW, hw = p % HW;
        const float* x = a.x + n * a.sn + (hw / a.W) * a.sh + (hw % a.W) * a.sw;
        int64_t* out = a.out + p * words;
        for (int64_t r = 0; r < R; ++r)
          for (int64_t g = 0; g < G; ++g)
            for (int64_t j = 0; j < Wg; ++j) {
              const int64_t c0 = g * Cg + 64 * j, nc = std::min<int64_t>(64, Cg - 64 * j);
              const float* thr = a.threshold ? a.threshold + r * a.C + c0 : nullptr;
              *out++ = static_cast<int64_t>(k.pack_floats(x + c0, thr, nc));
            }
      }
    });
    return;
  }
  // planar: runs of pixels with a constant element stride (the whole plane when H and W are
  // contiguous together, else one row), per (image, repeat, group, word)
  const bool plane = a.sh == a.W * a.sw;
  const int64_t runs_per_image = plane ? 1 : a.H;
  const int64_t run_len = plane ? HW : a.W;
  const bool unit = a.sw == 1;
  const int64_t chunk = 256;  // pixels per task
  const int64_t chunks = (run_len + chunk - 1) / chunk;
  const int64_t tasks = a.N * runs_per_image * words * chunks;
  parallel_for(0, tasks, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      int64_t rest = t;
      const int64_t ch = rest % chunks; rest /= chunks;
      const int64_t wi = rest % words; rest /= words;
      const int64_t row = rest % runs_per_image;
      const int64_t n = rest / runs_per_image;
      const int64_t r = wi / (G * Wg), g = (wi / Wg) % G, j = wi % Wg;
      const int64_t c0 = g * Cg + 64 * j, nc = std::min<int64_t>(64, Cg - 64 * j);
      const int64_t begin = ch * chunk, end = std::min(run_len, begin + chunk);
      const float* x = a.x + n * a.sn + c0 * a.sc + (plane ? 0 : row * a.sh);
      const float* thr = a.threshold ? a.threshold + r * a.C + c0 : nullptr;
      int64_t* out = a.out + (n * HW + (plane ? 0 : row * a.W)) * words + wi;
      if (unit) {
        k.pack_plane(x + begin, end - begin, a.sc, thr, nc, out + begin * words, words);
      } else {
        for (int64_t i = begin; i < end; ++i) {
          uint64_t word = 0;
          for (int64_t c = 0; c < nc; ++c) {
            const float v = x[i * a.sw + c * a.sc];
            word |= static_cast<uint64_t>(detail::negative(thr ? v - thr[c] : v)) << c;
          }
          out[i * words] = static_cast<int64_t>(word);
        }
      }
    }
  });
}

}  // namespace mmbnn

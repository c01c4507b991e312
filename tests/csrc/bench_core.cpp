// Time the core's binary conv at ResNet-18's 3x3 shapes, one thread, per ISA (a development aid
// for kernel work; the published figures come from tools/analysis/bench_inference.py).
//
//   g++ -O3 -std=c++20 -ffp-contract=off -Immbnn/ops/csrc/core tests/csrc/bench_core.cpp \
//       mmbnn/ops/csrc/core/*.cpp -o /tmp/bench_core && /tmp/bench_core [K] [mode]
//
// K bases (default 1); mode: float (scale, shift, residual, float + bits out) or dot.
// Prints the least thread CPU time of 30 runs and the bit-MAC/s it gives.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bitpack.h"

using namespace mmbnn;

static double thread_seconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char** argv) {
  const int64_t K = argc > 1 ? std::atoi(argv[1]) : 1;
  const std::string mode = argc > 2 ? argv[2] : "float";
  const int64_t shapes[][2] = {{64, 56}, {128, 28}, {256, 14}, {512, 7}};
  uint64_t seed = 1;
  auto rnd = [&]() { seed = seed * 6364136223846793005ULL + 1442695040888963407ULL; return seed; };
  std::printf("K=%ld mode=%s\n", (long)K, mode.c_str());
  for (const auto& s : shapes) {
    const int64_t C = s[0], H = s[1], Wg = (C + 63) / 64, Cout = K * C;
    std::vector<int64_t> x(H * H * Wg), w(Cout * 9 * Wg);
    for (auto& v : x) v = static_cast<int64_t>(rnd());
    for (auto& v : w) v = static_cast<int64_t>(rnd());
    std::vector<float> scale(Cout, 0.01f), shift(Cout, 0.1f), res(H * H * Cout, 0.5f);
    std::vector<float> out(H * H * C);
    std::vector<int32_t> dot(H * H * Cout);
    std::vector<int64_t> bits(H * H * Wg);
    std::vector<int64_t> ph(K, 1), dl(K, 1);
    for (int c = 1; c < kNumIsaCodes; ++c) {
      const Isa isa = static_cast<Isa>(c);
      if (!cpu_supports(isa)) continue;
      std::vector<int64_t> prep(prepared_weight_words(Cout, K, 9 * Wg, weight_layout(isa)));
      prepare_weights(w.data(), Cout, K, 9 * Wg, weight_layout(isa), prep.data());
      ConvArgs a;
      a.x = x.data(); a.N = 1; a.H = H; a.W = H; a.Gin = 1; a.Wg = Wg; a.cin_g = C;
      a.w = w.data(); a.w_prepared = prep.data();
      a.Cout = Cout; a.G = K; a.KH = a.KW = 3; a.stride_h = a.stride_w = 1; a.OH = a.OW = H;
      a.pad_h = a.pad_w = ph.data(); a.dil_h = a.dil_w = dl.data(); a.pad_value = 1.0;
      if (mode == "dot") {
        if (K > 1) continue;
        a.dot_out = dot.data();
      } else {
        a.scale = scale.data(); a.shift = shift.data();
        a.residual = res.data(); a.res_channels = Cout;
        a.sum_bases = K; a.float_out = out.data(); a.bits_out = bits.data();
      }
      double best = 1e9;
      for (int r = 0; r < 30; ++r) {
        const double t0 = thread_seconds();
        binary_conv2d(a, isa);
        best = std::min(best, thread_seconds() - t0);
      }
      const double macs = static_cast<double>(Cout) * C * 9 * H * H;
      std::printf("3x3 %4ldch @%2ldx%-2ld %-14s %8.3f ms %7.1f G bit-MAC/s\n", (long)C, (long)H,
                  (long)H, isa_name(isa), best * 1e3, macs / best / 1e9);
    }
  }
}

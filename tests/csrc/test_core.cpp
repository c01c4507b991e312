// The core's own tests (no torch): every ISA this build and CPU run against a naive reference,
// bit for bit. Built and run by tests/test_ops_core.py for several builds: the native one (x86
// kernels picked at run time), -DMMBNN_PORTABLE (x86 code compiled out), -DMMBNN_EMULATE_X86 (the
// x86 kernels, AVX-512 included, through SIMDe's portable intrinsics), an aarch64 cross build
// under qemu, and one with -fsanitize=address,undefined.
//
//   test_core [--quick]     exit status 0 when every check passes
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "bitpack.h"

using namespace mmbnn;

namespace {

int failures = 0, checks = 0;

#define CHECK(cond, ...)                                   \
  do {                                                     \
    ++checks;                                              \
    if (!(cond)) {                                         \
      ++failures;                                          \
      std::fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      std::fprintf(stderr, __VA_ARGS__);                   \
      std::fprintf(stderr, "\n");                          \
    }                                                      \
  } while (0)

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ULL + 1) {}
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  float uniform() { return static_cast<float>(next() >> 40) / static_cast<float>(1 << 24); }
  float normal() {  // rough, enough for signs and magnitudes
    float s = 0;
    for (int i = 0; i < 4; ++i) s += uniform();
    return (s - 2.0f) * 1.7f;
  }
  int64_t range(int64_t lo, int64_t hi) { return lo + static_cast<int64_t>(next() % (hi - lo + 1)); }
};

std::vector<float> randn(Rng& r, size_t n, bool zeros = true) {
  std::vector<float> v(n);
  for (auto& x : v) x = r.normal();
  if (zeros)
    for (size_t i = 0; i < n; i += 7) v[i] = (i % 14) ? 0.0f : -0.0f;  // sign(0) = +1
  return v;
}

bool negative(float v) { return !(v >= 0.0f); }

std::vector<Isa> runnable_isas() {
  std::vector<Isa> out;
  for (int c = 1; c < kNumIsaCodes; ++c)
    if (cpu_supports(static_cast<Isa>(c))) out.push_back(static_cast<Isa>(c));
  return out;
}

// ---------------------------------------------------------------------------------------------
// packing
std::vector<int64_t> ref_pack(const std::vector<float>& x, int64_t N, int64_t C, int64_t H,
                              int64_t W, const float* thr, int64_t G, int64_t R) {
  const int64_t Cg = C / G, Wg = (Cg + 63) / 64;
  std::vector<int64_t> out(N * H * W * R * G * Wg, 0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t w = 0; w < W; ++w)
        for (int64_t r = 0; r < R; ++r)
          for (int64_t c = 0; c < C; ++c) {
            float v = x[((n * C + c) * H + h) * W + w];
            if (thr) v = v - thr[r * C + c];
            if (!negative(v)) continue;
            const int64_t g = c / Cg, cc = c % Cg;
            int64_t& word = out[(((n * H + h) * W + w) * R * G + r * G + g) * Wg + cc / 64];
            word = static_cast<int64_t>(static_cast<uint64_t>(word) | (1ULL << (cc % 64)));
          }
  return out;
}

void test_pack(Rng& rng, bool quick) {
  const int64_t shapes[][4] = {{2, 3, 5, 7}, {1, 65, 9, 9}, {2, 130, 6, 11}, {1, 200, 3, 37},
                               {1, 64, 8, 8}};
  for (const auto& sh : shapes) {
    const int64_t N = sh[0], C = sh[1], H = sh[2], W = sh[3];
    for (int64_t G : {int64_t(1), int64_t(2), C % 5 == 0 ? int64_t(5) : int64_t(1)}) {
      if (C % G) continue;
      for (int64_t R : {int64_t(1), int64_t(3)}) {
        auto x = randn(rng, N * C * H * W);
        auto thr = randn(rng, R * C, false);
        for (bool use_thr : {false, true}) {
          const float* t = use_thr ? thr.data() : nullptr;
          if (!use_thr && R > 1) continue;
          auto ref = ref_pack(x, N, C, H, W, t, G, R);
          // the same values channels-last
          std::vector<float> xl(x.size());
          for (int64_t n = 0; n < N; ++n)
            for (int64_t c = 0; c < C; ++c)
              for (int64_t i = 0; i < H * W; ++i)
                xl[(n * H * W + i) * C + c] = x[(n * C + c) * H * W + i];
          for (Isa isa : runnable_isas()) {
            for (int layout = 0; layout < 3; ++layout) {
              std::vector<int64_t> out(ref.size(), -1);
              PackArgs a;
              a.N = N; a.C = C; a.H = H; a.W = W;
              if (layout == 0) {  // NCHW
                a.x = x.data(); a.sn = C * H * W; a.sc = H * W; a.sh = W; a.sw = 1;
              } else if (layout == 1) {  // NHWC
                a.x = xl.data(); a.sn = H * W * C; a.sc = 1; a.sh = W * C; a.sw = C;
              } else {  // NCHW seen as (N, C, W, H) transposed: sw = W strides
                if (H != W) continue;
                a.x = x.data(); a.sn = C * H * W; a.sc = H * W; a.sh = 1; a.sw = W;
              }
              a.threshold = t; a.groups = G; a.repeat = R; a.out = out.data();
              pack_activations(a, isa);
              std::vector<int64_t> want = ref;
              if (layout == 2) want = ref_pack([&] {  // transposed spatially
                std::vector<float> xt(x.size());
                for (int64_t n = 0; n < N; ++n)
                  for (int64_t c = 0; c < C; ++c)
                    for (int64_t h = 0; h < H; ++h)
                      for (int64_t w = 0; w < W; ++w)
                        xt[((n * C + c) * H + h) * W + w] = x[((n * C + c) * H + w) * W + h];
                return xt;
              }(), N, C, H, W, t, G, R);
              CHECK(out == want, "pack N%ld C%ld H%ld W%ld G%ld R%ld thr%d layout%d isa %s",
                    (long)N, (long)C, (long)H, (long)W, (long)G, (long)R, use_thr, layout,
                    isa_name(isa));
            }
          }
        }
      }
    }
    if (quick) break;
  }
}

// ---------------------------------------------------------------------------------------------
// the convolution
struct Case {
  int64_t N, C, H, W, Cout, KH, KW, sh, sw, G, Gin, K;  // K: sum_bases
  std::vector<int64_t> ph, pw, dh, dw;                  // per group
  double pad_value;
  bool scale, shift, act1, act1_prelu, act1_shifts, post, residual, res_per_conv, res_scale,
      act2, float_out, bits_out, bits_thr;
  int64_t out_groups, out_repeat;
  bool dot;
};

int64_t out_size(int64_t size, int64_t k, int64_t s, int64_t p, int64_t d) {
  const int64_t span = size + 2 * p - d * (k - 1) - 1;
  return span < 0 ? 0 : span / s + 1;  // 0: the kernel does not fit
}

float act(const std::vector<float>& pre, const std::vector<float>& slope,
          const std::vector<float>& post, bool prelu, bool shifts, int64_t o, float z) {
  if (shifts) z = z - pre[o];
  z = z > 0.0f ? z : (prelu ? slope[o] * z : 0.0f);
  if (shifts) z = z + post[o];
  return z;
}

void describe(const Case& c) {
  std::fprintf(stderr,
               "  N%ld C%ld H%ld W%ld Cout%ld k%ldx%ld s%ld G%ld Gin%ld K%ld p%ld d%ld pad%g "
               "scale%d shift%d act1%d(prelu%d shifts%d) post%d res%d(per_conv%d scale%d) act2%d "
               "float%d bits%d(thr%d og%ld rep%ld) dot%d\n",
               (long)c.N, (long)c.C, (long)c.H, (long)c.W, (long)c.Cout, (long)c.KH, (long)c.KW,
               (long)c.sh, (long)c.G, (long)c.Gin, (long)c.K, (long)c.ph[0], (long)c.dh[0],
               c.pad_value, c.scale, c.shift, c.act1, c.act1_prelu, c.act1_shifts, c.post,
               c.residual, c.res_per_conv, c.res_scale, c.act2, c.float_out, c.bits_out,
               c.bits_thr, (long)c.out_groups, (long)c.out_repeat, c.dot);
}

void run_case(const Case& c, Rng& rng, const char* name) {
  // conv group g reads input group g % Gin: every group has C / Gin input channels
  const int64_t cin = c.C / c.Gin;
  const int64_t Wg = (cin + 63) / 64, KT = c.KH * c.KW, Kw = KT * Wg;
  const int64_t OH = out_size(c.H, c.KH, c.sh, c.ph[0], c.dh[0]);
  const int64_t OW = out_size(c.W, c.KW, c.sw, c.pw[0], c.dw[0]);
  const int64_t Cog = c.Cout / c.G, Cfin = c.Cout / c.K, gpb = c.G / c.K;
  auto x = randn(rng, c.N * c.C * c.H * c.W);
  auto xp = ref_pack(x, c.N, c.C, c.H, c.W, nullptr, c.Gin, 1);
  // weights: random signs, canonical words
  std::vector<int8_t> ws(c.Cout * cin * KT);
  for (auto& s : ws) s = (rng.next() & 1) ? 1 : -1;
  std::vector<int64_t> wc(c.Cout * Kw, 0);
  for (int64_t o = 0; o < c.Cout; ++o)
    for (int64_t ci = 0; ci < cin; ++ci)
      for (int64_t t = 0; t < KT; ++t)
        if (ws[(o * cin + ci) * KT + t] < 0) {
          int64_t& w = wc[o * Kw + t * Wg + ci / 64];
          w = static_cast<int64_t>(static_cast<uint64_t>(w) | (1ULL << (ci % 64)));
        }
  auto vec = [&](int64_t n, bool on) { return on ? randn(rng, n, false) : std::vector<float>(); };
  auto scale = vec(c.Cout, c.scale), shift = vec(c.Cout, c.shift);
  auto pre1 = vec(c.Cout, c.act1_shifts), slope1 = vec(c.Cout, c.act1_prelu),
       post1 = vec(c.Cout, c.act1_shifts);
  auto ps = vec(c.Cout, c.post), pt = vec(c.Cout, c.post);
  // a residual per conv channel, or one shared by the bases of every group (C_out / G channels
  // repeated over the groups)
  const int64_t rc = c.res_per_conv ? c.Cout : Cog;
  auto res = vec(c.N * OH * OW * rc, c.residual), rs = vec(c.Cout, c.res_scale);
  auto pre2 = vec(c.Cout, c.act2), slope2 = vec(c.Cout, c.act2), post2 = vec(c.Cout, c.act2);
  auto thr = vec(c.out_repeat * Cfin, c.bits_thr);

  // reference
  std::vector<int32_t> rdot(c.N * OH * OW * c.Cout);
  std::vector<float> rout(c.N * OH * OW * Cfin, 0.0f);
  for (int64_t n = 0; n < c.N; ++n)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        const int64_t p = (n * OH + oy) * OW + ox;
        for (int64_t o = 0; o < c.Cout; ++o) {
          const int64_t g = o / Cog, gi = g % c.Gin;
          int64_t dot1 = 0, corr = 0;  // the dot with +1 padding; the padded taps' weight sum
          for (int64_t ky = 0; ky < c.KH; ++ky)
            for (int64_t kx = 0; kx < c.KW; ++kx) {
              const int64_t iy = oy * c.sh - c.ph[g] + ky * c.dh[g];
              const int64_t ix = ox * c.sw - c.pw[g] + kx * c.dw[g];
              const bool in = iy >= 0 && iy < c.H && ix >= 0 && ix < c.W;
              for (int64_t ci = 0; ci < cin; ++ci) {
                const int64_t s = ws[(o * cin + ci) * KT + ky * c.KW + kx];
                if (!in) {
                  dot1 += s;
                  corr += s;
                  continue;
                }
                const uint64_t word = static_cast<uint64_t>(
                    xp[((n * c.H + iy) * c.W + ix) * c.Gin * Wg + gi * Wg + ci / 64]);
                dot1 += ((word >> (ci % 64)) & 1) ? -s : s;
              }
            }
          const int64_t icf = static_cast<int64_t>(1.0 - c.pad_value);
          rdot[p * c.Cout + o] = static_cast<int32_t>(dot1 - icf * corr);
          float z = static_cast<float>(dot1);
          if (c.pad_value != 1.0) {
            // the kernel corrects border pixels only (corr of an interior pixel is 0)
            z = z - static_cast<float>(1.0 - c.pad_value) * static_cast<float>(corr);
          }
          z = (c.scale ? scale[o] : 1.0f) * z + (c.shift ? shift[o] : 0.0f);
          if (c.act1) z = act(pre1, slope1, post1, c.act1_prelu, c.act1_shifts, o, z);
          if (c.post) z = ps[o] * z + pt[o];
          const int64_t f = o % Cfin;
          if (c.residual) {
            const float r = res[p * rc + o % rc];
            z = c.res_scale ? z + rs[o] * r : z + r;
          }
          if (c.act2) z = act(pre2, slope2, post2, true, true, o, z);
          rout[p * Cfin + f] = (o / Cog) / gpb == 0 ? z : rout[p * Cfin + f] + z;
        }
      }
  const int64_t cgo = Cfin / c.out_groups, Wgo = (cgo + 63) / 64;
  const int64_t bw = c.out_repeat * c.out_groups * Wgo;
  std::vector<int64_t> rbits(c.N * OH * OW * bw, 0);
  for (int64_t p = 0; p < c.N * OH * OW; ++p)
    for (int64_t r = 0; r < c.out_repeat; ++r)
      for (int64_t f = 0; f < Cfin; ++f) {
        const float v = c.bits_thr ? rout[p * Cfin + f] - thr[r * Cfin + f] : rout[p * Cfin + f];
        if (!negative(v)) continue;
        const int64_t go = f / cgo, cc = f % cgo;
        int64_t& word = rbits[p * bw + (r * c.out_groups + go) * Wgo + cc / 64];
        word = static_cast<int64_t>(static_cast<uint64_t>(word) | (1ULL << (cc % 64)));
      }

  const int failures_before = failures;
  for (Isa isa : runnable_isas()) {
    std::vector<int32_t> dot(c.dot ? rdot.size() : 0, -7);
    std::vector<float> out(c.float_out ? rout.size() : 0, NAN);
    std::vector<int64_t> bits(c.bits_out ? rbits.size() : 0, -7);
    ConvArgs a;
    a.x = xp.data(); a.N = c.N; a.H = c.H; a.W = c.W; a.Gin = c.Gin; a.Wg = Wg; a.cin_g = cin;
    a.w = wc.data(); a.w_prepared = nullptr;
    std::vector<int64_t> prep;
    if (rng.next() & 1) {  // half the time with weights prepared beforehand
      prep.resize(prepared_weight_words(c.Cout, c.G, Kw, weight_layout(isa)));
      prepare_weights(wc.data(), c.Cout, c.G, Kw, weight_layout(isa), prep.data());
      a.w_prepared = prep.data();
    }
    a.Cout = c.Cout; a.G = c.G; a.KH = c.KH; a.KW = c.KW; a.stride_h = c.sh; a.stride_w = c.sw;
    a.OH = OH; a.OW = OW;
    a.pad_h = c.ph.data(); a.pad_w = c.pw.data(); a.dil_h = c.dh.data(); a.dil_w = c.dw.data();
    a.pad_value = c.pad_value;
    if (c.dot) {
      a.dot_out = dot.data();
    } else {
      a.scale = c.scale ? scale.data() : nullptr;
      a.shift = c.shift ? shift.data() : nullptr;
      a.act1.on = c.act1;
      a.act1.pre = c.act1_shifts ? pre1.data() : nullptr;
      a.act1.slope = c.act1_prelu ? slope1.data() : nullptr;
      a.act1.post = c.act1_shifts ? post1.data() : nullptr;
      a.post_scale = c.post ? ps.data() : nullptr;
      a.post_shift = c.post ? pt.data() : nullptr;
      a.residual = c.residual ? res.data() : nullptr;
      a.res_channels = rc;
      a.res_scale = c.res_scale ? rs.data() : nullptr;
      a.act2.on = c.act2;
      a.act2.pre = c.act2 ? pre2.data() : nullptr;
      a.act2.slope = c.act2 ? slope2.data() : nullptr;
      a.act2.post = c.act2 ? post2.data() : nullptr;
      a.sum_bases = c.K;
      a.float_out = c.float_out ? out.data() : nullptr;
      a.bits_out = c.bits_out ? bits.data() : nullptr;
      a.out_threshold = c.bits_thr ? thr.data() : nullptr;
      a.out_groups = c.out_groups;
      a.out_repeat = c.out_repeat;
    }
    binary_conv2d(a, isa);
    if (c.dot) CHECK(dot == rdot, "%s dot isa %s", name, isa_name(isa));
    if (c.float_out) {
      bool same = std::memcmp(out.data(), rout.data(), out.size() * sizeof(float)) == 0;
      if (!same) {
        size_t i = 0;
        while (i < out.size() && std::memcmp(&out[i], &rout[i], sizeof(float)) == 0) ++i;
        std::fprintf(stderr, "  first difference at %zu: %.9g vs %.9g\n", i, out[i], rout[i]);
      }
      CHECK(same, "%s float isa %s", name, isa_name(isa));
    }
    if (c.bits_out) CHECK(bits == rbits, "%s bits isa %s", name, isa_name(isa));
  }
  if (failures > failures_before) describe(c);
}

Case base_case(int64_t N, int64_t C, int64_t H, int64_t W, int64_t Cout, int64_t k, int64_t s,
               int64_t p, int64_t d, int64_t G) {
  Case c{};
  c.N = N; c.C = C; c.H = H; c.W = W; c.Cout = Cout; c.KH = c.KW = k; c.sh = c.sw = s;
  c.G = G; c.Gin = G; c.K = 1;
  c.ph.assign(G, p); c.pw.assign(G, p); c.dh.assign(G, d); c.dw.assign(G, d);
  c.pad_value = 1.0;
  c.out_groups = c.out_repeat = 1;
  return c;
}

void test_conv(Rng& rng, bool quick) {
  // (N, C, H, W, Cout, k, s, p, d, G): the Python kernel tests' shapes, plus rows longer than
  // 31 words (the byte accumulators' flush) and the four ResNet-18 widths
  const int64_t shapes[][10] = {
      {2, 3, 5, 7, 4, 3, 1, 1, 1, 1},     {1, 65, 9, 9, 5, 3, 2, 1, 1, 1},
      {2, 130, 6, 11, 6, 3, 1, 2, 2, 2},  {1, 64, 8, 8, 8, 1, 1, 0, 1, 1},
      {3, 16, 10, 10, 8, 3, 1, 5, 5, 4},  {1, 40, 12, 12, 10, 3, 1, 10, 10, 5},
      {1, 24, 7, 9, 15, 3, 1, 3, 3, 3},   {2, 128, 7, 7, 17, 3, 2, 1, 1, 1},
      {1, 256, 6, 6, 72, 3, 1, 1, 1, 1},  {2, 512, 4, 5, 64, 3, 1, 1, 1, 1},
      {1, 1000, 3, 3, 9, 3, 1, 1, 1, 1},  {1, 64, 14, 14, 128, 3, 2, 1, 1, 1},
  };
  int idx = 0;
  for (const auto& s : shapes) {
    for (double pv : {1.0, 0.0, -1.0}) {
      Case c = base_case(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9]);
      c.pad_value = pv;
      c.dot = true;
      char name[96];
      std::snprintf(name, sizeof(name), "dot#%d pad%.0f", idx, pv);
      run_case(c, rng, name);
      // float with every epilogue step, and bits
      c.dot = false;
      c.scale = c.shift = c.act1 = c.post = c.residual = c.float_out = c.bits_out = true;
      c.act1_prelu = c.act1_shifts = (idx % 2) == 0;
      c.res_per_conv = true;
      c.res_scale = (idx % 3) == 0;
      c.act2 = (idx % 2) == 1;
      c.bits_thr = true;
      std::snprintf(name, sizeof(name), "float#%d pad%.0f", idx, pv);
      run_case(c, rng, name);
      if (quick) break;
    }
    ++idx;
  }
  // Group-Net: K bases over one shared input (Gin = 1) or per-base inputs, summed, bits for the
  // next conv with per-base thresholds (repeat) or per-base groups; odd channels; BPAC geometry
  struct GN { int64_t N, C, H, Cout, K, gpb, s; bool shared; int64_t og, rep; bool bpac; };
  const GN gns[] = {
      {1, 64, 8, 320, 5, 1, 1, true, 1, 1, false}, {2, 64, 7, 640, 5, 1, 2, true, 1, 5, false},
      {1, 128, 6, 384, 3, 1, 1, false, 1, 3, false}, {1, 24, 9, 60, 5, 1, 1, true, 1, 1, true},
      {1, 20, 5, 36, 3, 2, 1, false, 2, 1, false}, {2, 64, 6, 192, 3, 1, 1, false, 1, 1, true},
  };
  for (const GN& q : gns) {
    for (int variant = 0; variant < 2; ++variant) {
      const int64_t G = q.K * q.gpb;
      Case c = base_case(q.N, q.shared ? q.C : q.C * q.K, q.H, q.H, q.Cout, 3, q.s, 1, 1, G);
      c.Gin = q.shared ? q.gpb : G;
      c.K = variant == 0 ? q.K : 1;
      if (q.bpac)
        for (int64_t g = 0; g < G; ++g) {
          c.ph[g] = c.pw[g] = c.dh[g] = c.dw[g] = 1 + g / q.gpb;
        }
      c.pad_value = variant == 0 ? 1.0 : 0.0;
      c.scale = c.shift = c.act1 = c.post = c.residual = c.float_out = c.bits_out = true;
      c.res_per_conv = variant == 1;
      c.res_scale = true;
      c.bits_thr = true;
      c.out_groups = variant == 0 ? q.og : q.K * q.og;
      c.out_repeat = variant == 0 ? q.rep : 1;
      c.float_out = variant == 0;
      char name[96];
      std::snprintf(name, sizeof(name), "groupnet C%ld K%ld variant%d", (long)q.C, (long)q.K,
                    variant);
      run_case(c, rng, name);
    }
    if (quick) break;
  }
  // random small cases: every switch on and off
  const int n_random = quick ? 30 : 300;
  for (int it = 0; it < n_random; ++it) {
    const int64_t G = rng.range(1, 3), K = (rng.next() & 1) ? G : 1;
    const int64_t cin = rng.range(1, 140), cog = rng.range(1, 20);
    const int64_t k = rng.range(1, 3), s = rng.range(1, 2);
    Case c = base_case(rng.range(1, 3), cin * G, rng.range(1, 9), rng.range(1, 9), cog * G, k,
                       s, 0, 1, G);
    c.Gin = (rng.next() & 1) ? 1 : G;
    c.C = cin * c.Gin;
    const int64_t d = rng.range(1, 2), p = rng.range(0, 2);
    c.dh.assign(G, d); c.dw.assign(G, d); c.ph.assign(G, p); c.pw.assign(G, p);
    c.K = K;
    c.pad_value = (rng.next() & 1) ? 1.0 : 0.0;
    if (out_size(c.H, k, s, c.ph[0], c.dh[0]) < 1 || out_size(c.W, k, s, c.pw[0], c.dw[0]) < 1)
      continue;
    c.dot = K == 1 && (rng.next() % 4 == 0);
    if (!c.dot) {
      c.scale = rng.next() & 1; c.shift = rng.next() & 1; c.act1 = rng.next() & 1;
      c.act1_prelu = rng.next() & 1; c.act1_shifts = rng.next() & 1; c.post = rng.next() & 1;
      c.residual = rng.next() & 1; c.res_per_conv = rng.next() & 1; c.res_scale = rng.next() & 1;
      c.act2 = rng.next() & 1; c.bits_thr = rng.next() & 1;
      c.float_out = rng.next() & 1;
      c.bits_out = !c.float_out || (rng.next() & 1);
      c.out_repeat = rng.range(1, 2);
    }
    char name[64];
    std::snprintf(name, sizeof(name), "random#%d", it);
    run_case(c, rng, name);
  }
}

void test_isa_resolution() {
  CHECK(resolve_isa(static_cast<int>(Isa::kGeneric)) == Isa::kGeneric, "generic resolves");
  const Isa best = resolve_isa(0);
  CHECK(cpu_supports(best), "auto resolves to a supported ISA");
  bool threw = false;
  try {
    resolve_isa(kNumIsaCodes);
  } catch (const std::runtime_error&) {
    threw = true;
  }
  CHECK(threw, "an unknown ISA code is refused");
#if defined(MMBNN_PORTABLE) || !(defined(__x86_64__) || defined(MMBNN_EMULATE_X86))
  CHECK(best == Isa::kGeneric, "only the portable kernels in this build");
  CHECK(!isa_compiled(Isa::kAvx2), "no AVX2 code in this build");
#endif
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  Rng rng(2026);
  std::printf("isas:");
  for (Isa isa : runnable_isas()) std::printf(" %s", isa_name(isa));
  std::printf("\n");
  test_isa_resolution();
  test_pack(rng, quick);
  test_conv(rng, quick);
  std::printf("%d checks, %d failures\n", checks, failures);
  return failures ? 1 : 0;
}

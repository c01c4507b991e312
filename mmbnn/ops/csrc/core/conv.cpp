// Bit-packed binary 2-D convolution: the driver of the micro-kernels.
//
// 1. The packed input is copied into a scratch with a border of zero words (+1 after
//    binarization) wide enough for every group's padding, split into nibbles for the
//    nibble-lookup ISAs, so that every tap of every output pixel is an in-range read at a fixed
//    offset: no bounds checks and no im2col buffer (each pixel's window is read in place).
// 2. Work items are (pixel range, final-channel range) pairs. An item runs every conv group,
//    weight block by weight block (the block's words stay in L1 across the item's pixels, the
//    pixels' windows in L2 across the blocks), 4 pixels x 8-32 channels per micro-kernel call,
//    and the fused epilogue on each tile; the K bases of a sum run in base order into the same
//    output. Channel ranges are split at multiples of 64 final channels when there are few
//    pixels (the last stages), so that each item still owns whole output words and whole sums.
// 3. Then the item packs its pixels' final values into sign bits, if asked.
//
// pad_value != 1: the padded taps were computed as +1, so dot -= (1 - pad_value) * corr with
// corr the sum of the {-1, +1} weights of the taps outside the input: one table row per border
// pattern (which tap rows and columns fall outside), one pattern id per pixel.
#include <algorithm>
#include <cstring>
#include <map>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "bitpack.h"
#include "kernels.h"

namespace mmbnn {
namespace {

using detail::kBlock;

struct Geometry {
  int64_t gi, ph, pw, dh, dw;
  bool operator<(const Geometry& o) const {
    return std::tie(gi, ph, pw, dh, dw) < std::tie(o.gi, o.ph, o.pw, o.dh, o.dw);
  }
};

void check(bool ok, const char* what) {
  if (!ok) throw std::invalid_argument(std::string("binary_conv2d: ") + what);
}

}  // namespace

void binary_conv2d(const ConvArgs& a, Isa isa) {
  const detail::IsaKernels& kern = detail::kernels(isa);
  const int64_t G = a.G, Cog = a.Cout / G, KH = a.KH, KW = a.KW, Wg = a.Wg;
  const int64_t KT = KH * KW, K = KT * Wg, OHW = a.OH * a.OW, NP = a.N * OHW;
  const int64_t ntaps = KT * a.cin_g;
  const int64_t Kacc = a.sum_bases, Cfin = a.Cout / Kacc, gpb = G / Kacc;
  check(a.Cout % G == 0 && G % a.Gin == 0, "groups must divide C_out and be a multiple of Gin");
  check(Kacc >= 1 && G % Kacc == 0, "sum_bases must divide groups");
  check(!a.dot_out || (!a.float_out && !a.bits_out && Kacc == 1),
        "dot output goes alone and without sums");
  check(a.dot_out || a.float_out || a.bits_out, "no output");
  check(!a.residual || (a.res_channels >= 1 && a.Cout % a.res_channels == 0 &&
                        a.res_channels % Cog == 0),
        "residual channels must divide C_out and be a multiple of C_out / groups");
  check(a.out_groups >= 1 && Cfin % a.out_groups == 0 && a.out_repeat >= 1,
        "out_groups must divide the output channels");
  check(ntaps < (1 << 24), "too many taps for exact float32 dot products");
  check(a.stride_h >= 1 && a.stride_w >= 1 && KH >= 1 && KW >= 1 && a.cin_g >= 1 &&
            a.cin_g <= 64 * Wg, "bad stride, kernel or channels");
  for (int64_t g = 0; g < G; ++g) {
    const int64_t sh = a.H + 2 * a.pad_h[g] - a.dil_h[g] * (KH - 1) - 1;
    const int64_t sw = a.W + 2 * a.pad_w[g] - a.dil_w[g] * (KW - 1) - 1;
    check(a.pad_h[g] >= 0 && a.pad_w[g] >= 0 && a.dil_h[g] >= 1 && a.dil_w[g] >= 1,
          "padding must be >= 0 and dilation >= 1");
    check(sh >= 0 && sw >= 0, "the input is smaller than the (dilated) kernel");
    check(sh / a.stride_h + 1 == a.OH && sw / a.stride_w + 1 == a.OW,
          "every group must give the output size");
  }
  const bool split = kern.layout == WeightLayout::kSplit8;
  const int64_t step = split ? 2 : 1;

  // prepared weights
  std::unique_ptr<int64_t[], AlignedFree> wbuf;
  const int64_t* wprep = a.w_prepared;
  if (!wprep) {
    wbuf = aligned_buffer<int64_t>(prepared_weight_words(a.Cout, G, K, kern.layout));
    prepare_weights(a.w, a.Cout, G, K, kern.layout, wbuf.get());
    wprep = wbuf.get();
  }
  const int64_t nb = (Cog + kBlock - 1) / kBlock;  // blocks per group
  const int64_t ldb = K * kBlock * step;

  // distinct (input group, geometry) per conv group
  std::map<Geometry, int64_t> ids;
  std::vector<Geometry> geoms;
  std::vector<int64_t> gid(G);
  int64_t Pt = 0, Pl = 0;
  for (int64_t g = 0; g < G; ++g) {
    Geometry ge{g % a.Gin, a.pad_h[g], a.pad_w[g], a.dil_h[g], a.dil_w[g]};
    auto it = ids.find(ge);
    if (it == ids.end()) {
      it = ids.emplace(ge, static_cast<int64_t>(geoms.size())).first;
      geoms.push_back(ge);
    }
    gid[g] = it->second;
    Pt = std::max(Pt, ge.ph);
    Pl = std::max(Pl, ge.pw);
  }
  const int64_t U = static_cast<int64_t>(geoms.size());

  // 1. the padded (and split) input scratch: (N, Hp, Wp, Gin * Wg * step) words
  const int64_t Hp = a.H + 2 * Pt, Wp = a.W + 2 * Pl, pixw = a.Gin * Wg * step;
  const int64_t inw = a.Gin * Wg;  // words per input pixel
  std::unique_ptr<uint64_t[], AlignedFree> sbuf;
  const uint64_t* S = reinterpret_cast<const uint64_t*>(a.x);
  if (split || Pt || Pl) {
    sbuf = aligned_buffer<uint64_t>(static_cast<size_t>(a.N * Hp * Wp * pixw));
    uint64_t* s = sbuf.get();
    const uint64_t lo = 0x0F0F0F0F0F0F0F0FULL;
    parallel_for(0, a.N * Hp, 8, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t n = r / Hp, iy = r % Hp - Pt;
        uint64_t* dst = s + r * Wp * pixw;
        if (iy < 0 || iy >= a.H) {
          std::memset(dst, 0, sizeof(uint64_t) * Wp * pixw);
          continue;
        }
        std::memset(dst, 0, sizeof(uint64_t) * Pl * pixw);
        std::memset(dst + (Pl + a.W) * pixw, 0, sizeof(uint64_t) * (Wp - Pl - a.W) * pixw);
        const uint64_t* src = reinterpret_cast<const uint64_t*>(a.x) + (n * a.H + iy) * a.W * inw;
        uint64_t* d = dst + Pl * pixw;
        if (!split) {
          std::memcpy(d, src, sizeof(uint64_t) * a.W * inw);
        } else {
          for (int64_t i = 0; i < a.W * inw; ++i) {
            d[2 * i] = src[i] & lo;
            d[2 * i + 1] = (src[i] >> 4) & lo;
          }
        }
      }
    });
    S = s;
  }

  // word offsets per geometry, from a pixel's origin (oy * sh, ox * sw) in the scratch: word
  // k = (ky KW + kx) Wg + j of the canonical row
  std::vector<int64_t> koff(U * K);
  for (int64_t u = 0; u < U; ++u) {
    const Geometry& ge = geoms[u];
    for (int64_t ky = 0; ky < KH; ++ky)
      for (int64_t kx = 0; kx < KW; ++kx)
        for (int64_t j = 0; j < Wg; ++j)
          koff[u * K + (ky * KW + kx) * Wg + j] =
              ((ky * ge.dh - ge.ph + Pt) * Wp + (kx * ge.dw - ge.pw + Pl)) * pixw +
              (ge.gi * Wg + j) * step;
  }

  // border correction tables (pad_value != 1)
  const bool correct = a.pad_value != 1.0;
  std::vector<int32_t> pattern;   // [u][OHW] -> table row (0: none)
  std::vector<int32_t> corr_tab;  // [row][Cout]
  if (correct) {
    std::vector<uint32_t> rowmask(U * a.OH, 0), colmask(U * a.OW, 0);
    check(KH <= 32 && KW <= 32, "kernels larger than 32 need pad_value=1");
    for (int64_t u = 0; u < U; ++u) {
      const Geometry& ge = geoms[u];
      for (int64_t oy = 0; oy < a.OH; ++oy)
        for (int64_t ky = 0; ky < KH; ++ky) {
          const int64_t iy = oy * a.stride_h - ge.ph + ky * ge.dh;
          if (iy < 0 || iy >= a.H) rowmask[u * a.OH + oy] |= 1u << ky;
        }
      for (int64_t ox = 0; ox < a.OW; ++ox)
        for (int64_t kx = 0; kx < KW; ++kx) {
          const int64_t ix = ox * a.stride_w - ge.pw + kx * ge.dw;
          if (ix < 0 || ix >= a.W) colmask[u * a.OW + ox] |= 1u << kx;
        }
    }
    pattern.assign(U * OHW, 0);
    std::vector<std::pair<uint32_t, uint32_t>> rows{{0u, 0u}};
    std::map<std::pair<uint32_t, uint32_t>, int32_t> seen;
    for (int64_t u = 0; u < U; ++u)
      for (int64_t pix = 0; pix < OHW; ++pix) {
        const uint32_t r = rowmask[u * a.OH + pix / a.OW], c = colmask[u * a.OW + pix % a.OW];
        if (!(r | c)) continue;
        auto it = seen.find({r, c});
        if (it == seen.end()) {
          it = seen.emplace(std::make_pair(r, c), static_cast<int32_t>(rows.size())).first;
          rows.push_back({r, c});
        }
        pattern[u * OHW + pix] = it->second;
      }
    corr_tab.assign(rows.size() * a.Cout, 0);
    std::vector<int32_t> wsum(KT);
    for (int64_t o = 0; o < a.Cout; ++o) {
      for (int64_t t = 0; t < KT; ++t) {
        int64_t ones = 0;
        for (int64_t j = 0; j < Wg; ++j)
          ones += popcount_swar(static_cast<uint64_t>(a.w[o * K + t * Wg + j]));
        wsum[t] = static_cast<int32_t>(a.cin_g - 2 * ones);
      }
      for (size_t row = 1; row < rows.size(); ++row) {
        int32_t sum = 0;
        for (int64_t ky = 0; ky < KH; ++ky)
          for (int64_t kx = 0; kx < KW; ++kx)
            if (((rows[row].first >> ky) | (rows[row].second >> kx)) & 1u)
              sum += wsum[ky * KW + kx];
        corr_tab[row * a.Cout + o] = sum;
      }
    }
  }

  // epilogue constants
  std::vector<float> ones, zeros;
  detail::EpiCall e;
  e.ntaps = ntaps;
  if (!a.scale) ones.assign(a.Cout, 1.0f);
  if (!a.shift) zeros.assign(a.Cout, 0.0f);
  e.scale = a.scale ? a.scale : ones.data();
  e.shift = a.shift ? a.shift : zeros.data();
  e.act1 = a.act1;
  e.post_scale = a.post_scale;
  e.post_shift = a.post_shift;
  e.res_scale = a.res_scale;
  e.act2 = a.act2;
  e.cf = static_cast<float>(1.0 - a.pad_value);
  e.icf = static_cast<int64_t>(1.0 - a.pad_value);
  e.corr_tab = correct ? corr_tab.data() : nullptr;
  e.cout = a.Cout;

  // 2. work items: pixel ranges x final-channel ranges
  const int64_t P = kern.P, MV = kern.MV;
  const int64_t cgo = Cfin / a.out_groups, Wgo = (cgo + 63) / 64;
  const int64_t bits_words = a.out_repeat * a.out_groups * Wgo;  // per output pixel
  const bool can_split = Cog % kBlock == 0 && Cfin % 64 == 0 && (!a.bits_out || cgo % 64 == 0);
  const int64_t max_cr = can_split ? Cfin / 64 : 1;
  const int64_t want = 8 * static_cast<int64_t>(std::max(1, num_threads()));
  const int64_t max_pr = (NP + P - 1) / P;
  // traffic ~ pixel ranges x all weights + channel ranges x all pixels' windows
  int64_t ncr = 1, npr = 1;
  double best = -1;
  for (int64_t c = 1; c <= max_cr; ++c) {
    if (Cfin / 64 % c && c != 1) continue;  // equal ranges of whole 64-channel units
    const int64_t pr = std::min(max_pr, std::max<int64_t>(1, (want + c - 1) / c));
    const double cost = static_cast<double>(pr) * a.Cout + static_cast<double>(c) * NP;
    const bool enough = pr * c >= want || pr == max_pr;
    if (best < 0 || (enough && cost < best)) {
      best = cost;
      ncr = c;
      npr = pr;
    }
  }
  int64_t PR = (NP + npr - 1) / npr;
  PR = std::min<int64_t>(std::max<int64_t>(P, (PR + P - 1) / P * P), 256);
  npr = (NP + PR - 1) / PR;
  const int64_t CR = Cfin / ncr;  // final channels per range (the last takes the rest: ncr == 1)
  const int64_t items = npr * ncr;

  // blocks per micro-kernel call: as many as keep their words in L1 (16 kB) over the item's
  // pixels, a multiple of the register tile's MV
  int64_t RB = std::max<int64_t>(1, 16384 / (ldb * 8));
  RB = std::min<int64_t>(RB, detail::kMaxRunBlocks);
  if (RB >= MV) RB -= RB % MV;
  parallel_for(0, items, 1, [&](int64_t i0, int64_t i1) {
    std::vector<uint32_t> pop(detail::kMaxTileP * kBlock * detail::kMaxRunBlocks);
    std::vector<float> local;  // final values when they are not a float output
    // per pixel of the item: window origin, index in its image, output/dot/residual rows
    std::vector<const uint64_t*> base(PR);
    std::vector<int64_t> pixv(PR);
    std::vector<float*> outv(PR);
    std::vector<int32_t*> dotv(PR);
    std::vector<const float*> resv(PR);
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t pr = item / ncr, cr = item % ncr;
      const int64_t p0 = pr * PR, p1 = std::min(NP, p0 + PR);
      const int64_t F0 = cr * CR, F1 = cr == ncr - 1 ? Cfin : F0 + CR;
      float* outbase = a.float_out;
      int64_t ld_out = Cfin, out_off = 0;
      if (!a.float_out && !a.dot_out) {
        local.resize(static_cast<size_t>((p1 - p0) * (F1 - F0)));
        outbase = local.data();
        ld_out = F1 - F0;
        out_off = F0;
      }
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t i = p - p0, n = p / OHW, pix = p % OHW;
        const int64_t oy = pix / a.OW, ox = pix % a.OW;
        base[i] = S + ((n * Hp + oy * a.stride_h) * Wp + ox * a.stride_w) * pixw;
        pixv[i] = pix;
        outv[i] = outbase ? outbase + (a.float_out ? p : i) * ld_out - out_off : nullptr;
        dotv[i] = a.dot_out ? a.dot_out + p * a.Cout : nullptr;
        resv[i] = a.residual ? a.residual + p * a.res_channels : nullptr;
      }
      for (int64_t g = 0; g < G; ++g) {
        const int64_t u = gid[g];
        const int64_t fs = (g % gpb) * Cog;  // final channel of the group's first channel
        // the group's blocks whose final channels lie in [F0, F1)
        const int64_t blo = std::max<int64_t>(0, (F0 - fs + kBlock - 1) / kBlock);
        const int64_t bhi = std::min(nb, F1 > fs ? (F1 - fs + kBlock - 1) / kBlock : 0);
        if (F0 > fs && (F0 - fs) % kBlock) throw std::logic_error("misaligned channel range");
        for (int64_t b = blo; b < bhi; b += RB) {
          const int64_t nblk = std::min(RB, bhi - b);
          const int64_t c0 = b * kBlock;
          detail::TileArgs t;
          t.koff = koff.data() + u * K;
          t.K = K;
          t.w = reinterpret_cast<const uint64_t*>(wprep) + (g * nb + b) * ldb;
          t.ldb = ldb;
          t.nblk = nblk;
          t.ldp = kBlock * detail::kMaxRunBlocks;
          detail::EpiTile et;
          et.nch = static_cast<int>(std::min<int64_t>(nblk * kBlock,
                                                      std::min(Cog, F1 - fs) - c0));
          et.pop = pop.data();
          et.ldp = t.ldp;
          et.o0 = g * Cog + c0;
          et.f0 = fs + c0;
          et.r0 = a.residual ? et.o0 % a.res_channels : 0;
          et.accumulate = g / gpb > 0;
          et.pattern = correct ? pattern.data() + u * OHW : nullptr;
          for (int64_t q = p0; q < p1; q += P) {
            const int np = static_cast<int>(std::min(P, p1 - q));
            const int64_t i = q - p0;
            t.base = base.data() + i;
            et.P = np;
            et.pix = pixv.data() + i;
            et.out = outbase ? outv.data() + i : nullptr;
            et.dot = a.dot_out ? dotv.data() + i : nullptr;
            et.res = a.residual ? resv.data() + i : nullptr;
            kern.tile[np](t, pop.data());
            kern.epilogue(e, et);
          }
        }
      }
      // 3. sign bits of the item's final values
      if (a.bits_out) {
        for (int64_t p = p0; p < p1; ++p) {
          const float* y = outv[p - p0];
          int64_t* bits = a.bits_out + p * bits_words;
          for (int64_t r = 0; r < a.out_repeat; ++r)
            for (int64_t go = 0; go < a.out_groups; ++go)
              for (int64_t j = 0; j < Wgo; ++j) {
                const int64_t c0 = go * cgo + 64 * j;
                if (c0 < F0 || c0 >= F1) continue;
                const int64_t nc = std::min<int64_t>(64, cgo - 64 * j);
                const float* thr = a.out_threshold ? a.out_threshold + r * Cfin + c0 : nullptr;
                bits[(r * a.out_groups + go) * Wgo + j] =
                    static_cast<int64_t>(kern.pack_floats(y + c0, thr, nc));
              }
        }
      }
    }
  });
}

}  // namespace mmbnn

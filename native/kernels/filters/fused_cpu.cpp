// Fused image filters on the CPU, one (image, channel) plane at a time, replicated borders
// as in the references: GMS and SSIM maps with their own backward, and separable smoothing.
// The table entry for (cpu, fused); dispatch.cpp wires it into autograd.
#include <ATen/Parallel.h>

#include <vector>

#include "../simd.h"
#include "filters.h"

namespace intra::kernels {

namespace {

inline int64_t clampIndex(int64_t i, int64_t n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }

// Scratch elements separablePlane needs for an H x W plane and a k-tap filter.
inline int64_t separableScratch(int64_t H, int64_t W, int64_t k) {
  const int64_t wp = W + k - 1;
  return H * wp + (H + k - 1) * wp + H * wp;
}

// Horizontal then vertical pass of an odd tap vector, replicated borders. The plane is
// copied once with its borders replicated (rows (W + k - 1) long, and k - 1 extra rows for
// the vertical pass), so that each pass is k long axpys over the whole plane.
template <typename T>
void separablePlane(const T* in, T* out, int64_t H, int64_t W, const T* taps, int64_t k, T* scratch) {
  const int64_t r = k / 2, wp = W + 2 * r;
  T* padded = scratch;                 // H x wp
  T* horizontal = padded + H * wp;     // (H + 2r) x wp, rows replicated top and bottom
  T* vertical = horizontal + (H + 2 * r) * wp;  // H x wp
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < wp; ++x) padded[y * wp + x] = in[y * W + clampIndex(x - r, W)];
  T* body = horizontal + r * wp;
  std::fill(body, body + H * wp, T(0));
  // Columns x >= W of each row mix two rows: they are never read back.
  for (int64_t i = 0; i < k; ++i) axpy(H * wp - 2 * r, taps[i], padded + i, body);
  for (int64_t y = 0; y < r; ++y) {
    std::memcpy(horizontal + y * wp, body, sizeof(T) * wp);
    std::memcpy(body + (H + y) * wp, body + (H - 1) * wp, sizeof(T) * wp);
  }
  std::fill(vertical, vertical + H * wp, T(0));
  for (int64_t i = 0; i < k; ++i) axpy(H * wp, taps[i], horizontal + i * wp, vertical);
  for (int64_t y = 0; y < H; ++y) std::memcpy(out + y * W, vertical + y * wp, sizeof(T) * W);
}

// The adjoint of separablePlane: scatters back through the clamped taps. out += adjoint(in).
template <typename T>
void separablePlaneAdjoint(const T* in, T* out, int64_t H, int64_t W, const T* taps, int64_t k, T* tmp) {
  const int64_t r = k / 2;
  std::fill(tmp, tmp + H * W, T(0));
  for (int64_t y = 0; y < H; ++y)
    for (int64_t i = 0; i < k; ++i) axpy(W, taps[i], in + y * W, tmp + clampIndex(y - r + i, H) * W);
  for (int64_t y = 0; y < H; ++y) {
    const T* t = tmp + y * W;
    T* o = out + y * W;
    for (int64_t x = 0; x < W; ++x)
      for (int64_t i = 0; i < k; ++i) o[clampIndex(x - r + i, W)] += taps[i] * t[x];
  }
}

// Prewitt responses (1/3 weights): gx = (left - right) / 3 summed over 3 rows, gy = (up - down) / 3.
template <typename T>
void prewittPlane(const T* in, int64_t H, int64_t W, T* gx, T* gy) {
  const T third = T(1) / T(3);
  for (int64_t y = 0; y < H; ++y) {
    const T* up = in + clampIndex(y - 1, H) * W;
    const T* mid = in + y * W;
    const T* down = in + clampIndex(y + 1, H) * W;
    for (int64_t x = 0; x < W; ++x) {
      const int64_t l = clampIndex(x - 1, W), r = clampIndex(x + 1, W);
      gx[y * W + x] = third * (up[l] + mid[l] + down[l] - up[r] - mid[r] - down[r]);
      gy[y * W + x] = third * (up[l] + up[x] + up[r] - down[l] - down[x] - down[r]);
    }
  }
}

// Adjoint of prewittPlane: out += Prewitt^T (dgx, dgy).
template <typename T>
void prewittPlaneAdjoint(const T* dgx, const T* dgy, int64_t H, int64_t W, T* out) {
  const T third = T(1) / T(3);
  for (int64_t y = 0; y < H; ++y) {
    T* up = out + clampIndex(y - 1, H) * W;
    T* mid = out + y * W;
    T* down = out + clampIndex(y + 1, H) * W;
    for (int64_t x = 0; x < W; ++x) {
      const int64_t l = clampIndex(x - 1, W), r = clampIndex(x + 1, W);
      const T gx = third * dgx[y * W + x], gy = third * dgy[y * W + x];
      up[l] += gx + gy;
      mid[l] += gx;
      down[l] += gx - gy;
      up[r] += gy - gx;
      mid[r] -= gx;
      down[r] -= gx + gy;
      up[x] += gy;
      down[x] -= gy;
    }
  }
}

template <typename T>
struct Planes {  // per-thread scratch: `count` planes of n = H*W, and the smoothing scratch
  explicit Planes(int64_t n, int count, int64_t extra = 0)
      : data(static_cast<size_t>(n) * count + extra), n(n), count(count) {}
  T* operator[](int i) { return data.data() + i * n; }
  T* row() { return data.data() + count * n; }
  std::vector<T> data;
  int64_t n;
  int count;
};

// ---- GMS -------------------------------------------------------------------------------

// A per-pixel similarity of a and b, (B, C, H, W), averaged over channels into (B, 1, H, W):
// each thread takes whole images with `planes` planes of scratch (and `extra` more), and
// `addChannel(a, b, H, W, scratch, out, weight)` adds one channel's similarity times weight.
template <typename T, typename AddChannel>
at::Tensor channelMeanMap(const at::Tensor& a, const at::Tensor& b, int planes, int64_t extra, AddChannel addChannel) {
  const int64_t B = a.size(0), C = a.size(1), H = a.size(2), W = a.size(3), n = H * W;
  at::Tensor out = at::zeros({B, 1, H, W}, a.options());
  const T *ap = a.data_ptr<T>(), *bp = b.data_ptr<T>();
  T* op = out.data_ptr<T>();
  const T weight = T(1) / T(C);
  at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
    Planes<T> scratch(n, planes, extra);
    for (int64_t i = begin; i < end; ++i)
      for (int64_t c = 0; c < C; ++c)
        addChannel(ap + (i * C + c) * n, bp + (i * C + c) * n, H, W, scratch, op + i * n, weight);
  });
  return out;
}

template <typename T>
at::Tensor gmsForward(const at::Tensor& a, const at::Tensor& b) {
  const T c0 = T(kGmsConstant);
  auto addChannel = [&](const T* ac, const T* bc, int64_t H, int64_t W, Planes<T>& s, T* o, T weight) {
    prewittPlane(ac, H, W, s[0], s[1]);
    prewittPlane(bc, H, W, s[2], s[3]);
    const T *ax = s[0], *ay = s[1], *bx = s[2], *by = s[3];
#pragma omp simd
    for (int64_t p = 0; p < H * W; ++p) {
      const T ma = std::sqrt(ax[p] * ax[p] + ay[p] * ay[p] + T(kGradientEpsilon));
      const T mb = std::sqrt(bx[p] * bx[p] + by[p] * by[p] + T(kGradientEpsilon));
      o[p] += weight * (2 * ma * mb + c0) / (ma * ma + mb * mb + c0);
    }
  };
  return channelMeanMap<T>(a, b, 4, 0, addChannel);
}

// In double whatever T (as the SSIM backward): the Prewitt responses are differences of
// near-equal pixels and the coefficient divides by their magnitude, near sqrt(epsilon) on
// flat patches; in float that loses more than the float reference does.
template <typename T>
std::vector<at::Tensor> gmsBackward(const at::Tensor& a, const at::Tensor& b, const at::Tensor& dout) {
  const int64_t B = a.size(0), C = a.size(1), H = a.size(2), W = a.size(3), n = H * W;
  at::Tensor da = at::empty_like(a), db = at::empty_like(b);
  const T *ap = a.data_ptr<T>(), *bp = b.data_ptr<T>(), *gp = dout.data_ptr<T>();
  T *dap = da.data_ptr<T>(), *dbp = db.data_ptr<T>();
  at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
    Planes<double> s(n, 12);
    for (int64_t i = begin; i < end; ++i) {
      for (int64_t c = 0; c < C; ++c) {
        const int64_t plane = (i * C + c) * n;
        double *pa = s[8], *pb = s[9], *outA = s[10], *outB = s[11];
        for (int64_t p = 0; p < n; ++p) {
          pa[p] = static_cast<double>(ap[plane + p]);
          pb[p] = static_cast<double>(bp[plane + p]);
        }
        prewittPlane(pa, H, W, s[0], s[1]);
        prewittPlane(pb, H, W, s[2], s[3]);
        const T* g = gp + i * n;
        double *ax = s[0], *ay = s[1], *bx = s[2], *by = s[3], *dax = s[4], *day = s[5], *dbx = s[6], *dby = s[7];
#pragma omp simd
        for (int64_t p = 0; p < n; ++p) {
          const double ma = std::sqrt(ax[p] * ax[p] + ay[p] * ay[p] + kGradientEpsilon);
          const double mb = std::sqrt(bx[p] * bx[p] + by[p] * by[p] + kGradientEpsilon);
          const double num = 2 * ma * mb + kGmsConstant, den = ma * ma + mb * mb + kGmsConstant;
          const double up = static_cast<double>(g[p]) / static_cast<double>(C) / (den * den);
          const double dma = up * (2 * mb * den - num * 2 * ma) / ma;  // d/d(gx) = dma * gx / ma
          const double dmb = up * (2 * ma * den - num * 2 * mb) / mb;
          dax[p] = dma * ax[p];
          day[p] = dma * ay[p];
          dbx[p] = dmb * bx[p];
          dby[p] = dmb * by[p];
        }
        std::fill(outA, outA + n, 0.0);
        std::fill(outB, outB + n, 0.0);
        prewittPlaneAdjoint(dax, day, H, W, outA);
        prewittPlaneAdjoint(dbx, dby, H, W, outB);
        for (int64_t p = 0; p < n; ++p) {
          dap[plane + p] = static_cast<T>(outA[p]);
          dbp[plane + p] = static_cast<T>(outB[p]);
        }
      }
    }
  });
  return {da, db};
}

// ---- SSIM ------------------------------------------------------------------------------

template <typename T>
std::vector<T> ssimTaps() {
  at::Tensor taps = gaussianTaps(kSsimWindow, kSsimSigma);
  std::vector<T> out(kSsimWindow);
  for (int64_t i = 0; i < kSsimWindow; ++i) out[i] = static_cast<T>(taps[i].item<double>());
  return out;
}

// The five local statistics of a plane pair: mean a, mean b, E[a^2], E[b^2], E[ab].
template <typename T>
void ssimStatistics(const T* a, const T* b, int64_t H, int64_t W, const T* taps, Planes<T>& s) {
  const int64_t n = H * W;
  T *sq = s[7];
  separablePlane(a, s[0], H, W, taps, kSsimWindow, s.row());
  separablePlane(b, s[1], H, W, taps, kSsimWindow, s.row());
  for (int64_t p = 0; p < n; ++p) sq[p] = a[p] * a[p];
  separablePlane(sq, s[2], H, W, taps, kSsimWindow, s.row());
  for (int64_t p = 0; p < n; ++p) sq[p] = b[p] * b[p];
  separablePlane(sq, s[3], H, W, taps, kSsimWindow, s.row());
  for (int64_t p = 0; p < n; ++p) sq[p] = a[p] * b[p];
  separablePlane(sq, s[4], H, W, taps, kSsimWindow, s.row());
}

template <typename T>
at::Tensor ssimForward(const at::Tensor& a, const at::Tensor& b) {
  const std::vector<T> taps = ssimTaps<T>();
  const T c1 = T(kSsimC1), c2 = T(kSsimC2);
  auto addChannel = [&](const T* ac, const T* bc, int64_t H, int64_t W, Planes<T>& s, T* o, T weight) {
    ssimStatistics(ac, bc, H, W, taps.data(), s);
    const T *ma = s[0], *mb = s[1], *eaa = s[2], *ebb = s[3], *eab = s[4];
#pragma omp simd
    for (int64_t p = 0; p < H * W; ++p) {
      const T a1 = 2 * ma[p] * mb[p] + c1, a2 = 2 * (eab[p] - ma[p] * mb[p]) + c2;
      const T b1 = ma[p] * ma[p] + mb[p] * mb[p] + c1,
              b2 = eaa[p] - ma[p] * ma[p] + ebb[p] - mb[p] * mb[p] + c2;
      o[p] += weight * (a1 * a2) / (b1 * b2);
    }
  };
  return channelMeanMap<T>(a, b, 8, separableScratch(a.size(2), a.size(3), kSsimWindow), addChannel);
}

// The SSIM gradient divides by local variances formed as E[a^2] - E[a]^2; in float that
// cancellation costs digits, so a float call accumulates in double (A) and stores float (T).
template <typename T, typename A = double>
std::vector<at::Tensor> ssimBackward(const at::Tensor& a, const at::Tensor& b, const at::Tensor& dout) {
  const int64_t B = a.size(0), C = a.size(1), H = a.size(2), W = a.size(3), n = H * W;
  at::Tensor da = at::zeros_like(a), db = at::zeros_like(b);
  const T *ap = a.data_ptr<T>(), *bp = b.data_ptr<T>(), *gp = dout.data_ptr<T>();
  T *dap = da.data_ptr<T>(), *dbp = db.data_ptr<T>();
  const std::vector<A> taps = ssimTaps<A>();
  const A c1 = A(kSsimC1), c2 = A(kSsimC2), invC = A(1) / A(C);
  at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
    Planes<A> s(n, 8, separableScratch(H, W, kSsimWindow)), g(n, 6), in(n, 2);
    for (int64_t i = begin; i < end; ++i) {
      for (int64_t c = 0; c < C; ++c) {
        A *pa = in[0], *pb = in[1];
        for (int64_t p = 0; p < n; ++p) {
          pa[p] = static_cast<A>(ap[(i * C + c) * n + p]);
          pb[p] = static_cast<A>(bp[(i * C + c) * n + p]);
        }
        ssimStatistics(pa, pb, H, W, taps.data(), s);
        const A *ma = s[0], *mb = s[1], *eaa = s[2], *ebb = s[3], *eab = s[4];
        const T* up = gp + i * n;
        A *gma = g[0], *gmb = g[1], *gaa = g[2], *gbb = g[3], *gab = g[4];
#pragma omp simd
        for (int64_t p = 0; p < n; ++p) {
          const A a1 = 2 * ma[p] * mb[p] + c1, a2 = 2 * (eab[p] - ma[p] * mb[p]) + c2;
          const A b1 = ma[p] * ma[p] + mb[p] * mb[p] + c1, b2 = eaa[p] - ma[p] * ma[p] + ebb[p] - mb[p] * mb[p] + c2;
          const A den = b1 * b2, ssim = a1 * a2 / den, u = static_cast<A>(up[p]) * invC;
          gma[p] = u * ((2 * mb[p] * a2 - 2 * mb[p] * a1) / den - ssim * (2 * ma[p] / b1 - 2 * ma[p] / b2));
          gmb[p] = u * ((2 * ma[p] * a2 - 2 * ma[p] * a1) / den - ssim * (2 * mb[p] / b1 - 2 * mb[p] / b2));
          gaa[p] = -u * ssim / b2;
          gbb[p] = -u * ssim / b2;
          gab[p] = u * 2 * a1 / den;
        }
        // Back through the five blurs: a <- ma, 2a*eaa, b*eab; b <- mb, 2b*ebb, a*eab.
        A *ba = s[0], *bb = s[1], *baa = s[2], *bbb = s[3], *bab = s[4], *tmp = s[6];
        for (int k = 0; k < 5; ++k) std::fill(s[k], s[k] + n, A(0));
        separablePlaneAdjoint(gma, ba, H, W, taps.data(), kSsimWindow, tmp);
        separablePlaneAdjoint(gmb, bb, H, W, taps.data(), kSsimWindow, tmp);
        separablePlaneAdjoint(gaa, baa, H, W, taps.data(), kSsimWindow, tmp);
        separablePlaneAdjoint(gbb, bbb, H, W, taps.data(), kSsimWindow, tmp);
        separablePlaneAdjoint(gab, bab, H, W, taps.data(), kSsimWindow, tmp);
        T *outA = dap + (i * C + c) * n, *outB = dbp + (i * C + c) * n;
#pragma omp simd
        for (int64_t p = 0; p < n; ++p) {
          outA[p] = static_cast<T>(ba[p] + 2 * pa[p] * baa[p] + pb[p] * bab[p]);
          outB[p] = static_cast<T>(bb[p] + 2 * pb[p] * bbb[p] + pa[p] * bab[p]);
        }
      }
    }
  });
  return {da, db};
}

// ---- the table entry -------------------------------------------------------------------------

at::ScalarType computeType(const at::Tensor& t) { return t.scalar_type() == at::kDouble ? at::kDouble : at::kFloat; }

at::Tensor prepare(const at::Tensor& t) { return t.to(computeType(t)).contiguous(); }

at::Tensor gmsForwardEntry(const at::Tensor& a, const at::Tensor& b) {
  return a.scalar_type() == at::kDouble ? gmsForward<double>(a, b) : gmsForward<float>(a, b);
}
std::vector<at::Tensor> gmsBackwardEntry(const at::Tensor& a, const at::Tensor& b, const at::Tensor& dout) {
  return a.scalar_type() == at::kDouble ? gmsBackward<double>(a, b, dout) : gmsBackward<float>(a, b, dout);
}
at::Tensor ssimForwardEntry(const at::Tensor& a, const at::Tensor& b) {
  return a.scalar_type() == at::kDouble ? ssimForward<double>(a, b) : ssimForward<float>(a, b);
}
std::vector<at::Tensor> ssimBackwardEntry(const at::Tensor& a, const at::Tensor& b, const at::Tensor& dout) {
  return a.scalar_type() == at::kDouble ? ssimBackward<double>(a, b, dout) : ssimBackward<float>(a, b, dout);
}

at::Tensor separableEntry(const at::Tensor& image, const at::Tensor& tapsTensor) {
  at::Tensor in = prepare(image);
  at::Tensor out = at::empty_like(in);
  const int64_t planes = in.size(0) * in.size(1), H = in.size(2), W = in.size(3), k = tapsTensor.size(0);
  AT_DISPATCH_FLOATING_TYPES(in.scalar_type(), "separableFilterFusedCpu", [&] {
    at::Tensor taps = tapsTensor.to(in.scalar_type()).contiguous();
    const scalar_t* tp = taps.data_ptr<scalar_t>();
    const scalar_t* ip = in.data_ptr<scalar_t>();
    scalar_t* op = out.data_ptr<scalar_t>();
    at::parallel_for(0, planes, 1, [&](int64_t begin, int64_t end) {
      std::vector<scalar_t> scratch(separableScratch(H, W, k));
      for (int64_t p = begin; p < end; ++p) separablePlane(ip + p * H * W, op + p * H * W, H, W, tp, k, scratch.data());
    });
  });
  return out;
}

}  // namespace

const FilterFunctions& cpuFusedFilters() {
  static const FilterFunctions functions{prepare, gmsForwardEntry, gmsBackwardEntry, ssimForwardEntry,
                ssimBackwardEntry, separableEntry};
  return functions;
}

}  // namespace intra::kernels

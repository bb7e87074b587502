// scanfit's CPU time loops for SimpleRNN, LSTM and GRU, called from XLA programs through JAX's FFI.
//
// XLA:CPU runs a recurrent layer's time scan as a loop of several small kernels per timestep, a few
// microseconds per step for the tutorials' narrow layers (bench/rnn.py: 8 units, batch 64). Here one call
// runs every timestep of a batch: the recurrent matmul, the gates and the masks, forward; and the backward
// pass, with the recurrent kernel's gradient summed in the loop.
//
// Operands, as "logical shape [memory order, major to minor]" (XLA lays them out so; a leading batch of
// independent problems is allowed on every operand, as vmap makes):
//   xs         (B, T, G)                  each timestep's input projection plus input bias, gates in Keras's order
//   kernel     (U, G)                     the recurrent kernel
//   rec_bias   (G)                        GRU's recurrent bias (reset_after=True); zeros for the other cells
//   keep       (T, B)                     1 where a step is read, 0 where the mask skips it
//   states     (T, S, B, U) [T, S, U, B]  the states after each step (S = 1: h; S = 2: h, c)
//   saved      (T, R * U, B)              what the backward pass reads back (R rows per unit, per cell)
// Backward results: d_xs (B, T, G), d_kernel (U, G), d_rec_bias (G).
//
// Inside, a step works on (rows, batch) blocks, batch innermost, so each row vectorizes over the batch; a
// step's inputs and input gradients are transposed between the two orders 8 x 8 at a time.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "xla/ffi/api/ffi.h"

#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace ffi = xla::ffi;

namespace {

using Buffer = ffi::Buffer<ffi::F32>;
using Result = ffi::ResultBuffer<ffi::F32>;

typedef float v8 __attribute__((vector_size(32)));
inline v8 load8(const float* p) { v8 v; std::memcpy(&v, p, sizeof v); return v; }
inline void store8(float* p, v8 v) { std::memcpy(p, &v, sizeof v); }

// exp(x) for float32: 2^n * e^r with |r| <= ln(2)/2 and a degree-7 Taylor polynomial (error below 1e-7 relative).
inline float exp_f32(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float n = std::nearbyint(x * 1.44269504088896341f);
  const float r = x - n * 0.693145751953125f - n * 1.428606765330187045e-06f;
  const float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.6666667e-1f + r * (4.1666668e-2f + r * (8.3333338e-3f +
                  r * (1.3888889e-3f + r * 1.9841270e-4f))))));
  const int32_t bits = static_cast<int32_t>(n + 127.0f) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}
inline float sigmoid_f32(float x) { return 1.0f / (1.0f + exp_f32(-x)); }
inline float tanh_f32(float x) { return 2.0f / (1.0f + exp_f32(-2.0f * x)) - 1.0f; }

// out[r][b] += sum_s w[r * S + s] * in[s][b], for in (S, B) and out (R, B), row-major.
void matmul_acc(int64_t R, int64_t S, int64_t B, const float* __restrict__ w, const float* __restrict__ in,
                float* __restrict__ out) {
  int64_t b = 0;
  for (; b + 16 <= B; b += 16) {
    int64_t r = 0;
    for (; r + 4 <= R; r += 4) {
      float* o0 = out + r * B + b;
      float* o1 = o0 + B;
      float* o2 = o1 + B;
      float* o3 = o2 + B;
      v8 a0 = load8(o0), a1 = load8(o0 + 8), c0 = load8(o1), c1 = load8(o1 + 8);
      v8 d0 = load8(o2), d1 = load8(o2 + 8), e0 = load8(o3), e1 = load8(o3 + 8);
      for (int64_t s = 0; s < S; ++s) {
        const v8 x0 = load8(in + s * B + b), x1 = load8(in + s * B + b + 8);
        const float w0 = w[r * S + s], w1 = w[(r + 1) * S + s], w2 = w[(r + 2) * S + s], w3 = w[(r + 3) * S + s];
        a0 += w0 * x0; a1 += w0 * x1; c0 += w1 * x0; c1 += w1 * x1;
        d0 += w2 * x0; d1 += w2 * x1; e0 += w3 * x0; e1 += w3 * x1;
      }
      store8(o0, a0); store8(o0 + 8, a1); store8(o1, c0); store8(o1 + 8, c1);
      store8(o2, d0); store8(o2 + 8, d1); store8(o3, e0); store8(o3 + 8, e1);
    }
    for (; r < R; ++r) {
      v8 a0 = load8(out + r * B + b), a1 = load8(out + r * B + b + 8);
      for (int64_t s = 0; s < S; ++s) {
        const float ws = w[r * S + s];
        a0 += ws * load8(in + s * B + b);
        a1 += ws * load8(in + s * B + b + 8);
      }
      store8(out + r * B + b, a0);
      store8(out + r * B + b + 8, a1);
    }
  }
  for (; b < B; ++b)
    for (int64_t r = 0; r < R; ++r) {
      float a = out[r * B + b];
      for (int64_t s = 0; s < S; ++s) a += w[r * S + s] * in[s * B + b];
      out[r * B + b] = a;
    }
}

// lanes[(k * G + j) * 8 + l] += sum over b = l (mod 8) of h[k][b] * d[j][b]: the kernel's gradient, in 8 partial
// sums, four columns at a time.
void outer_acc(int64_t U, int64_t G, int64_t B, const float* __restrict__ h, const float* __restrict__ d,
               float* __restrict__ lanes) {
  const int64_t whole = B - B % 8;
  for (int64_t k = 0; k < U; ++k) {
    const float* hk = h + k * B;
    int64_t j = 0;
    for (; j + 4 <= G; j += 4) {
      float* acc = lanes + (k * G + j) * 8;
      const float *d0 = d + j * B, *d1 = d0 + B, *d2 = d1 + B, *d3 = d2 + B;
      v8 a0 = load8(acc), a1 = load8(acc + 8), a2 = load8(acc + 16), a3 = load8(acc + 24);
      for (int64_t b = 0; b < whole; b += 8) {
        const v8 hv = load8(hk + b);
        a0 += hv * load8(d0 + b); a1 += hv * load8(d1 + b); a2 += hv * load8(d2 + b); a3 += hv * load8(d3 + b);
      }
      store8(acc, a0); store8(acc + 8, a1); store8(acc + 16, a2); store8(acc + 24, a3);
    }
    for (; j < G; ++j) {
      float* acc = lanes + (k * G + j) * 8;
      v8 a = load8(acc);
      for (int64_t b = 0; b < whole; b += 8) a += load8(hk + b) * load8(d + j * B + b);
      store8(acc, a);
    }
    for (int64_t jj = 0; jj < G; ++jj)
      for (int64_t b = whole; b < B; ++b) lanes[(k * G + jj) * 8] += hk[b] * d[jj * B + b];
  }
}

// lanes[j * 8 + l] += sum over b = l (mod 8) of d[j][b]: the recurrent bias's gradient, in 8 partial sums.
void row_sums(int64_t G, int64_t B, const float* __restrict__ d, float* __restrict__ lanes) {
  const int64_t whole = B - B % 8;
  for (int64_t j = 0; j < G; ++j) {
    v8 a = load8(lanes + j * 8);
    for (int64_t b = 0; b < whole; b += 8) a += load8(d + j * B + b);
    store8(lanes + j * 8, a);
    for (int64_t b = whole; b < B; ++b) lanes[j * 8] += d[j * B + b];
  }
}

// out[i] = the sum of lanes[i * 8 .. i * 8 + 7].
void sum_lanes(int64_t n, const float* __restrict__ lanes, float* __restrict__ out) {
  for (int64_t i = 0; i < n; ++i) {
    float s = 0.0f;
    for (int64_t l = 0; l < 8; ++l) s += lanes[i * 8 + l];
    out[i] = s;
  }
}

// dst[c * ld_dst + r] = src[r * ld_src + c] for r < rows, c < cols.
void transpose(int64_t rows, int64_t cols, const float* __restrict__ src, int64_t ld_src, float* __restrict__ dst,
               int64_t ld_dst) {
  int64_t r = 0;
#if defined(__AVX__)
  for (; r + 8 <= rows; r += 8) {
    int64_t c = 0;
    for (; c + 8 <= cols; c += 8) {
      const float* s = src + r * ld_src + c;
      __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + ld_src), r2 = _mm256_loadu_ps(s + 2 * ld_src),
             r3 = _mm256_loadu_ps(s + 3 * ld_src), r4 = _mm256_loadu_ps(s + 4 * ld_src),
             r5 = _mm256_loadu_ps(s + 5 * ld_src), r6 = _mm256_loadu_ps(s + 6 * ld_src),
             r7 = _mm256_loadu_ps(s + 7 * ld_src);
      const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
                   t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
                   t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
      r0 = _mm256_shuffle_ps(t0, t2, 0x44); r1 = _mm256_shuffle_ps(t0, t2, 0xEE);
      r2 = _mm256_shuffle_ps(t1, t3, 0x44); r3 = _mm256_shuffle_ps(t1, t3, 0xEE);
      r4 = _mm256_shuffle_ps(t4, t6, 0x44); r5 = _mm256_shuffle_ps(t4, t6, 0xEE);
      r6 = _mm256_shuffle_ps(t5, t7, 0x44); r7 = _mm256_shuffle_ps(t5, t7, 0xEE);
      float* d = dst + c * ld_dst + r;
      _mm256_storeu_ps(d, _mm256_permute2f128_ps(r0, r4, 0x20));
      _mm256_storeu_ps(d + ld_dst, _mm256_permute2f128_ps(r1, r5, 0x20));
      _mm256_storeu_ps(d + 2 * ld_dst, _mm256_permute2f128_ps(r2, r6, 0x20));
      _mm256_storeu_ps(d + 3 * ld_dst, _mm256_permute2f128_ps(r3, r7, 0x20));
      _mm256_storeu_ps(d + 4 * ld_dst, _mm256_permute2f128_ps(r0, r4, 0x31));
      _mm256_storeu_ps(d + 5 * ld_dst, _mm256_permute2f128_ps(r1, r5, 0x31));
      _mm256_storeu_ps(d + 6 * ld_dst, _mm256_permute2f128_ps(r2, r6, 0x31));
      _mm256_storeu_ps(d + 7 * ld_dst, _mm256_permute2f128_ps(r3, r7, 0x31));
    }
    for (; c < cols; ++c)
      for (int64_t i = r; i < r + 8; ++i) dst[c * ld_dst + i] = src[i * ld_src + c];
  }
#endif
  for (; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * ld_dst + r] = src[r * ld_src + c];
}

// The cells' work on one row of units (b = 0..B-1), as functions with restrict arguments so the compiler
// vectorizes them (GCC 12 did not once they were inlined into the cells' loops, hence noinline).
// keep[b] == 0 leaves a sample's states and the gradient passing through it unchanged.
__attribute__((noinline))
void simple_forward_row(int64_t B, const float* __restrict__ x, const float* __restrict__ in,
                        const float* __restrict__ keep, float* __restrict__ h) {
  for (int64_t b = 0; b < B; ++b) {
    const float hn = tanh_f32(x[b] + in[b]);
    h[b] = keep[b] != 0.0f ? hn : h[b];
  }
}

__attribute__((noinline))
void simple_backward_row(int64_t B, const float* __restrict__ keep, const float* __restrict__ h,
                         float* __restrict__ gh, float* __restrict__ dpre) {
  for (int64_t b = 0; b < B; ++b) {
    const bool on = keep[b] != 0.0f;
    dpre[b] = on ? gh[b] * (1.0f - h[b] * h[b]) : 0.0f;
    gh[b] = on ? 0.0f : gh[b];
  }
}

__attribute__((noinline))
void lstm_forward_row(int64_t B, const float* __restrict__ xi, const float* __restrict__ xf,
                      const float* __restrict__ xg, const float* __restrict__ xo, const float* __restrict__ ri,
                      const float* __restrict__ rf, const float* __restrict__ rg, const float* __restrict__ ro,
                      const float* __restrict__ keep, float* __restrict__ h, float* __restrict__ c,
                      float* __restrict__ si, float* __restrict__ sf, float* __restrict__ sg, float* __restrict__ so,
                      float* __restrict__ stc) {
  for (int64_t b = 0; b < B; ++b) {
    const float i = sigmoid_f32(xi[b] + ri[b]), f = sigmoid_f32(xf[b] + rf[b]);
    const float g = tanh_f32(xg[b] + rg[b]), o = sigmoid_f32(xo[b] + ro[b]);
    const float cn = f * c[b] + i * g;
    const float tc = tanh_f32(cn);
    const bool on = keep[b] != 0.0f;
    si[b] = i; sf[b] = f; sg[b] = g; so[b] = o; stc[b] = tc;
    c[b] = on ? cn : c[b];
    h[b] = on ? o * tc : h[b];
  }
}

__attribute__((noinline))
void lstm_backward_row(int64_t B, const float* __restrict__ keep, const float* __restrict__ si,
                       const float* __restrict__ sf, const float* __restrict__ sg, const float* __restrict__ so,
                       const float* __restrict__ stc, const float* __restrict__ cp, float* __restrict__ gh,
                       float* __restrict__ gc, float* __restrict__ di, float* __restrict__ df, float* __restrict__ dg,
                       float* __restrict__ dO) {
  for (int64_t b = 0; b < B; ++b) {
    const float i = si[b], f = sf[b], g = sg[b], o = so[b], tc = stc[b];
    const float dct = gc[b] + gh[b] * o * (1.0f - tc * tc);
    const bool on = keep[b] != 0.0f;
    di[b] = on ? dct * g * i * (1.0f - i) : 0.0f;
    df[b] = on ? dct * cp[b] * f * (1.0f - f) : 0.0f;
    dg[b] = on ? dct * i * (1.0f - g * g) : 0.0f;
    dO[b] = on ? gh[b] * tc * o * (1.0f - o) : 0.0f;
    gc[b] = on ? dct * f : gc[b];
    gh[b] = on ? 0.0f : gh[b];
  }
}

__attribute__((noinline))
void gru_forward_row(int64_t B, const float* __restrict__ xz, const float* __restrict__ xr,
                     const float* __restrict__ xh, const float* __restrict__ rz, const float* __restrict__ rr,
                     const float* __restrict__ rh, const float* __restrict__ keep, float* __restrict__ h,
                     float* __restrict__ sz, float* __restrict__ sr, float* __restrict__ sc, float* __restrict__ sh) {
  for (int64_t b = 0; b < B; ++b) {
    const float z = sigmoid_f32(xz[b] + rz[b]), r = sigmoid_f32(xr[b] + rr[b]);
    const float cand = tanh_f32(xh[b] + r * rh[b]);
    sz[b] = z; sr[b] = r; sc[b] = cand; sh[b] = rh[b];
    const float hn = z * h[b] + (1.0f - z) * cand;
    h[b] = keep[b] != 0.0f ? hn : h[b];
  }
}

__attribute__((noinline))
void gru_backward_row(int64_t B, const float* __restrict__ keep, const float* __restrict__ sz,
                      const float* __restrict__ sr, const float* __restrict__ sc, const float* __restrict__ sh,
                      const float* __restrict__ hp, float* __restrict__ gh, float* __restrict__ dz,
                      float* __restrict__ dr, float* __restrict__ dn, float* __restrict__ xz, float* __restrict__ xr,
                      float* __restrict__ xh) {
  for (int64_t b = 0; b < B; ++b) {
    const float z = sz[b], r = sr[b], cand = sc[b], g = gh[b];
    const bool on = keep[b] != 0.0f;
    const float dpz = on ? g * (hp[b] - cand) * z * (1.0f - z) : 0.0f;
    const float dph = on ? g * (1.0f - z) * (1.0f - cand * cand) : 0.0f;
    const float dpr = dph * sh[b] * r * (1.0f - r);
    dz[b] = dpz; dr[b] = dpr; dn[b] = dph * r;
    xz[b] = dpz; xr[b] = dpr; xh[b] = dph;
    gh[b] = on ? g * z : g;
  }
}

struct Sizes {
  int64_t T, B, U, G;
};

// A cell: its gate count, state count (h; or h and c), rows saved per step for the backward pass, whether it
// has a recurrent bias, whether the input gradient differs from the recurrent product's; forward(inner = h @
// kernel (+ rec_bias), states in/out, saved rows out) and backward(state gradients in/out, the gradient of the
// recurrent product out as d_inner, and the input gradient's rows where they differ).

// SimpleRNN with tanh: h' = tanh(x + h @ kernel). Saves nothing beyond the states.
struct SimpleCell {
  static constexpr int64_t gates = 1, states = 1, saved = 0;
  static constexpr bool rec_bias = false, separate_dx = false;

  static void forward(const Sizes& z, const float* x, const float* inner, const float* keep, float* st, float*) {
    for (int64_t k = 0; k < z.U; ++k) simple_forward_row(z.B, x + k * z.B, inner + k * z.B, keep, st + k * z.B);
  }

  static void backward(const Sizes& z, const float* keep, const float* st, const float*, const float*, float* dh,
                       float*, float* d_inner, float*) {
    const int64_t B = z.B;
    for (int64_t k = 0; k < z.U; ++k) simple_backward_row(B, keep, st + k * B, dh + k * B, d_inner + k * B);
  }
};

// LSTM with sigmoid gates and tanh: saves i, f, g, o and tanh(c) per step.
struct LstmCell {
  static constexpr int64_t gates = 4, states = 2, saved = 5;
  static constexpr bool rec_bias = false, separate_dx = false;

  static void forward(const Sizes& z, const float* x, const float* inner, const float* keep, float* st, float* sv) {
    const int64_t B = z.B, U = z.U;
    for (int64_t k = 0; k < U; ++k)
      lstm_forward_row(B, x + k * B, x + (U + k) * B, x + (2 * U + k) * B, x + (3 * U + k) * B, inner + k * B,
                       inner + (U + k) * B, inner + (2 * U + k) * B, inner + (3 * U + k) * B, keep, st + k * B,
                       st + (U + k) * B, sv + k * B, sv + (U + k) * B, sv + (2 * U + k) * B, sv + (3 * U + k) * B,
                       sv + (4 * U + k) * B);
  }

  static void backward(const Sizes& z, const float* keep, const float*, const float* prev, const float* sv,
                       float* dh, float* dc, float* d_inner, float*) {
    const int64_t B = z.B, U = z.U;
    for (int64_t k = 0; k < U; ++k)
      lstm_backward_row(B, keep, sv + k * B, sv + (U + k) * B, sv + (2 * U + k) * B, sv + (3 * U + k) * B,
                        sv + (4 * U + k) * B, prev + (U + k) * B, dh + k * B, dc + k * B, d_inner + k * B,
                        d_inner + (U + k) * B, d_inner + (2 * U + k) * B, d_inner + (3 * U + k) * B);
  }
};

// GRU with reset_after=True: z, r = sigmoid(x + h @ kernel + rec_bias), candidate = tanh(x_h + r * (h @ kernel_h +
// rec_bias_h)), h' = z * h + (1 - z) * candidate. Saves z, r, the candidate and the recurrent part of the candidate.
struct GruCell {
  static constexpr int64_t gates = 3, states = 1, saved = 4;
  static constexpr bool rec_bias = true, separate_dx = true;

  static void forward(const Sizes& z, const float* x, const float* inner, const float* keep, float* st, float* sv) {
    const int64_t B = z.B, U = z.U;
    for (int64_t k = 0; k < U; ++k)
      gru_forward_row(B, x + k * B, x + (U + k) * B, x + (2 * U + k) * B, inner + k * B, inner + (U + k) * B,
                      inner + (2 * U + k) * B, keep, st + k * B, sv + k * B, sv + (U + k) * B, sv + (2 * U + k) * B,
                      sv + (3 * U + k) * B);
  }

  static void backward(const Sizes& z, const float* keep, const float*, const float* prev, const float* sv,
                       float* dh, float*, float* d_inner, float* dx) {
    const int64_t B = z.B, U = z.U;
    for (int64_t k = 0; k < U; ++k)
      gru_backward_row(B, keep, sv + k * B, sv + (U + k) * B, sv + (2 * U + k) * B, sv + (3 * U + k) * B,
                       prev + k * B, dh + k * B, d_inner + k * B, d_inner + (U + k) * B, d_inner + (2 * U + k) * B,
                       dx + k * B, dx + (U + k) * B, dx + (2 * U + k) * B);
  }
};

// The count of independent problems that vmap stacks on the leading axes of `buffer`, whose own rank is `rank`.
int64_t problems(const Buffer& buffer, size_t rank) {
  const auto dims = buffer.dimensions();
  int64_t n = 1;
  for (size_t i = 0; i + rank < dims.size(); ++i) n *= dims[i];
  return n;
}

Sizes sizes_of(const Buffer& xs, const Buffer& kernel) {
  const auto x = xs.dimensions();
  const auto k = kernel.dimensions();
  const size_t r = x.size();
  return Sizes{x[r - 2], x[r - 3], k[k.size() - 2], x[r - 1]};
}

template <class Cell>
ffi::Error forward(Buffer xs, Buffer kernel, Buffer rec_bias, Buffer keep, Result states, Result saved) {
  const Sizes z = sizes_of(xs, kernel);
  const int64_t T = z.T, B = z.B, U = z.U, G = z.G, S = Cell::states, R = Cell::saved * U;
  if (G != Cell::gates * U) return ffi::Error::InvalidArgument("recurrent kernel and inputs disagree on the units");
  std::vector<float> kernel_t(G * U), state(S * U * B), inner(G * B), x_step(G * B);
  const int64_t count = problems(xs, 3);
  for (int64_t n = 0; n < count; ++n) {
    const float* X = xs.typed_data() + n * B * T * G;
    const float* K = kernel.typed_data() + n * U * G;
    const float* bias = rec_bias.typed_data() + n * G;
    const float* M = keep.typed_data() + n * T * B;
    float* ST = states->typed_data() + n * T * S * U * B;
    float* SV = saved->typed_data() + n * T * R * B;
    for (int64_t k = 0; k < U; ++k)
      for (int64_t j = 0; j < G; ++j) kernel_t[j * U + k] = K[k * G + j];
    std::fill(state.begin(), state.end(), 0.0f);
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t j = 0; j < G; ++j)
        std::fill(inner.begin() + j * B, inner.begin() + (j + 1) * B, bias[j]);
      matmul_acc(G, U, B, kernel_t.data(), state.data(), inner.data());
      transpose(B, G, X + t * G, T * G, x_step.data(), B);
      Cell::forward(z, x_step.data(), inner.data(), M + t * B, state.data(), SV + t * R * B);
      std::memcpy(ST + t * S * U * B, state.data(), S * U * B * sizeof(float));
    }
  }
  return ffi::Error::Success();
}

template <class Cell>
ffi::Error backward(Buffer d_states, Buffer states, Buffer saved, Buffer kernel, Buffer keep, Result d_xs,
                    Result d_kernel, Result d_rec_bias) {
  const auto sd = states.dimensions();
  const int64_t T = sd[sd.size() - 4], B = sd[sd.size() - 2], U = sd[sd.size() - 1], G = Cell::gates * U;
  const int64_t S = Cell::states, R = Cell::saved * U;
  const Sizes z{T, B, U, G};
  const int64_t count = problems(states, 4);
  std::vector<float> grad(S * U * B), d_inner(G * B), dx_step(G * B), lanes(U * G * 8), bias_lanes(G * 8);
  std::vector<float> zeros(S * U * B, 0.0f);
  for (int64_t n = 0; n < count; ++n) {
    const float* dST = d_states.typed_data() + n * T * S * U * B;
    const float* ST = states.typed_data() + n * T * S * U * B;
    const float* SV = saved.typed_data() + n * T * R * B;
    const float* K = kernel.typed_data() + n * U * G;
    const float* M = keep.typed_data() + n * T * B;
    float* dX = d_xs->typed_data() + n * B * T * G;
    float* dK = d_kernel->typed_data() + n * U * G;
    float* dBias = d_rec_bias->typed_data() + n * G;
    std::fill(grad.begin(), grad.end(), 0.0f);
    std::fill(lanes.begin(), lanes.end(), 0.0f);
    std::fill(bias_lanes.begin(), bias_lanes.end(), 0.0f);
    for (int64_t t = T - 1; t >= 0; --t) {
      const float* prev = t > 0 ? ST + (t - 1) * S * U * B : zeros.data();
      const float* in = dST + t * S * U * B;
      for (int64_t i = 0; i < S * U * B; ++i) grad[i] += in[i];
      float* dc = S > 1 ? grad.data() + U * B : nullptr;
      Cell::backward(z, M + t * B, ST + t * S * U * B, prev, SV + t * R * B, grad.data(), dc, d_inner.data(),
                     dx_step.data());
      transpose(G, B, Cell::separate_dx ? dx_step.data() : d_inner.data(), B, dX + t * G, T * G);
      matmul_acc(U, G, B, K, d_inner.data(), grad.data());
      outer_acc(U, G, B, prev, d_inner.data(), lanes.data());
      if (Cell::rec_bias) row_sums(G, B, d_inner.data(), bias_lanes.data());
    }
    sum_lanes(U * G, lanes.data(), dK);
    sum_lanes(G, bias_lanes.data(), dBias);
  }
  return ffi::Error::Success();
}

}  // namespace

#define SCANFIT_RECURRENT(NAME, CELL)                                                                            \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(NAME##Forward, forward<CELL>,                                                     \
                                ffi::Ffi::Bind().Arg<Buffer>().Arg<Buffer>().Arg<Buffer>().Arg<Buffer>()           \
                                    .Ret<Buffer>().Ret<Buffer>());                                                 \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(NAME##Backward, backward<CELL>,                                                   \
                                ffi::Ffi::Bind().Arg<Buffer>().Arg<Buffer>().Arg<Buffer>().Arg<Buffer>()           \
                                    .Arg<Buffer>().Ret<Buffer>().Ret<Buffer>().Ret<Buffer>());

SCANFIT_RECURRENT(SimpleRnn, SimpleCell)
SCANFIT_RECURRENT(Lstm, LstmCell)
SCANFIT_RECURRENT(Gru, GruCell)

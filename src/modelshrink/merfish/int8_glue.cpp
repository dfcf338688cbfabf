// The element-wise work between the U-Net's oneDNN int8 convolutions, one pass per tensor.
//
// Between two convolutions the int8 graph does: ELU of the float conv output, reflect
// padding by one pixel, quantization to uint8 for the next convolution. As separate ATen
// ops that is 7 passes over memory (elu, pad, mul, round, add, clamp, cast) and a dispatch
// each; at the network's width the convolutions themselves take less time than that.
// Here each is one pass that writes the padded uint8 tensor channels-last, the layout
// oneDNN's int8 convolutions read without a reorder. Same arithmetic as
// `quantized_decomposed.quantize_per_tensor` (round half to even of x * (1 / scale), plus
// the zero point, clamped to [0, 255]). Compiled on first use (torch.utils.cpp_extension).
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace {

struct Shape {
  int64_t batch, channels, height, width, pad;
  int64_t out_height() const { return height + 2 * pad; }
  int64_t out_width() const { return width + 2 * pad; }
};

Shape checked_shape(const torch::Tensor& input, int64_t pad, const char* what) {
  TORCH_CHECK(input.dim() == 4, what, ": expected (N, C, H, W), got ", input.dim(), " dims");
  TORCH_CHECK(pad == 0 || pad == 1, what, ": pad must be 0 or 1, got ", pad);
  TORCH_CHECK(pad == 0 || (input.size(2) >= 2 && input.size(3) >= 2), what,
              ": reflect padding needs at least 2 x 2 pixels");
  return {input.size(0), input.size(1), input.size(2), input.size(3), pad};
}

torch::Tensor channels_last_output(const Shape& s, const torch::TensorOptions& options) {
  return torch::empty({s.batch, s.channels, s.out_height(), s.out_width()},
                      options.memory_format(torch::MemoryFormat::ChannelsLast));
}

// Fill the border of a channels-last tensor whose interior (offset `pad`) is written:
// column 0 mirrors column 2, the last column the third-last; then whole rows likewise.
template <class T>
void reflect_border(torch::Tensor& out, const Shape& s) {
  if (s.pad == 0) return;
  T* data = out.data_ptr<T>();
  const int64_t c = s.channels, ow = s.out_width(), oh = s.out_height();
  const int64_t pixel = c * sizeof(T), row = ow * c;
  at::parallel_for(0, s.batch * s.height, 0, [&](int64_t begin, int64_t end) {
    for (int64_t index = begin; index < end; ++index) {
      const int64_t n = index / s.height, h = index % s.height;
      T* line = data + (n * oh + h + 1) * row;
      std::memcpy(line, line + 2 * c, pixel);
      std::memcpy(line + (ow - 1) * c, line + (ow - 3) * c, pixel);
    }
  });
  for (int64_t n = 0; n < s.batch; ++n) {
    T* image = data + n * oh * row;
    std::memcpy(image, image + 2 * row, row * sizeof(T));
    std::memcpy(image + (oh - 1) * row, image + (oh - 3) * row, row * sizeof(T));
  }
}

// One contiguous run of values; `__restrict` (uint8 stores could alias anything) and the
// flat loop let the compiler vectorize `convert`, exp included.
template <class In, class Out, class Convert>
void convert_run(const In* __restrict source, Out* __restrict target, int64_t count,
                 Convert convert) {
#pragma omp simd
  for (int64_t i = 0; i < count; ++i) target[i] = convert(source[i]);
}

// Apply `convert` (source value -> output value) to every element of `input`, writing the
// interior of a channels-last output padded by `s.pad`. A channels-last input row is one
// contiguous run; other layouts (the network's input slices) go element by element.
template <class In, class Out, class Convert>
void map_into_interior(const torch::Tensor& input, torch::Tensor& out, const Shape& s,
                       Convert convert) {
  const In* in = input.data_ptr<In>();
  Out* data = out.data_ptr<Out>();
  const int64_t sn = input.stride(0), sc = input.stride(1), sh = input.stride(2),
                sw = input.stride(3);
  const int64_t c = s.channels, ow = s.out_width(), oh = s.out_height();
  const bool rows_contiguous = sc == 1 && sw == c;
  at::parallel_for(0, s.batch * s.height, 0, [&](int64_t begin, int64_t end) {
    for (int64_t index = begin; index < end; ++index) {
      const int64_t n = index / s.height, h = index % s.height;
      const In* source = in + n * sn + h * sh;
      Out* target = data + ((n * oh + h + s.pad) * ow + s.pad) * c;
      if (rows_contiguous) {
        convert_run(source, target, s.width * c, convert);
        continue;
      }
      for (int64_t w = 0; w < s.width; ++w) {
        for (int64_t k = 0; k < c; ++k) target[w * c + k] = convert(source[w * sw + k * sc]);
      }
    }
  });
}

// exp(x) for x <= 0 in plain arithmetic, so the channel loop vectorizes (the libm call does
// not): 2^n * exp(r) with n = round(x / ln 2), |r| <= ln 2 / 2, exp(r) by its degree-7
// Taylor polynomial; relative error ~1e-7, far below the coarsest quantization step.
inline float exp_non_positive(float x) {
  x = std::max(x, -87.0f);  // 2^-126: the smallest normal float
  const float n = std::nearbyint(x * 1.44269504088896341f);
  const float r = (x - n * 0.693145751953125f) - n * 1.42860682030941723e-6f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t exponent = (static_cast<int32_t>(n) + 127) << 23;
  float power;
  std::memcpy(&power, &exponent, sizeof power);
  return p * power;
}

template <bool Elu>
struct Quantize {
  float inverse_scale, zero_point;
  uint8_t operator()(float value) const {
    if constexpr (Elu) {  // torch's ELU with alpha 1
      const float negative = exp_non_positive(std::min(value, 0.0f)) - 1.0f;
      value = value > 0.0f ? value : negative;
    }
    const float code = std::nearbyint(value * inverse_scale) + zero_point;
    return static_cast<uint8_t>(static_cast<int32_t>(std::min(std::max(code, 0.0f), 255.0f)));
  }
};

// uint8 codes of `input` (float, any layout), optionally after ELU, reflect-padded by `pad`,
// as a channels-last (N, C, H + 2 pad, W + 2 pad) tensor.
torch::Tensor quantize_pad(const torch::Tensor& input, double scale, int64_t zero_point,
                           bool elu, int64_t pad) {
  TORCH_CHECK(input.scalar_type() == torch::kFloat, "quantize_pad: float32 input expected");
  const Shape s = checked_shape(input, pad, "quantize_pad");
  torch::Tensor out = channels_last_output(s, input.options().dtype(torch::kByte));
  const float inverse = static_cast<float>(1.0 / scale);
  const float zero = static_cast<float>(zero_point);
  if (elu) {
    map_into_interior<float, uint8_t>(input, out, s, Quantize<true>{inverse, zero});
  } else {
    map_into_interior<float, uint8_t>(input, out, s, Quantize<false>{inverse, zero});
  }
  reflect_border<uint8_t>(out, s);
  return out;
}

template <class Out>
struct Lookup {
  const Out* table;
  Out operator()(uint8_t code) const { return table[code]; }
};

// table[code] for every uint8 code of `input` (a 256-entry uint8 or float32 table),
// reflect-padded by `pad`, channels-last.
torch::Tensor lookup_pad(const torch::Tensor& input, const torch::Tensor& table, int64_t pad) {
  TORCH_CHECK(input.scalar_type() == torch::kByte, "lookup_pad: uint8 input expected");
  TORCH_CHECK(table.dim() == 1 && table.numel() == 256 && table.is_contiguous(),
              "lookup_pad: a contiguous 256-entry table expected");
  const Shape s = checked_shape(input, pad, "lookup_pad");
  torch::Tensor out = channels_last_output(s, input.options().dtype(table.scalar_type()));
  if (table.scalar_type() == torch::kByte) {
    map_into_interior<uint8_t, uint8_t>(input, out, s, Lookup<uint8_t>{table.data_ptr<uint8_t>()});
    reflect_border<uint8_t>(out, s);
  } else {
    TORCH_CHECK(table.scalar_type() == torch::kFloat, "lookup_pad: uint8 or float32 table");
    map_into_interior<uint8_t, float>(input, out, s, Lookup<float>{table.data_ptr<float>()});
    reflect_border<float>(out, s);
  }
  return out;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, module) {
  module.def("quantize_pad", &quantize_pad, "optional ELU, uint8 quantization, reflect pad");
  module.def("lookup_pad", &lookup_pad, "256-entry table lookup of uint8 codes, reflect pad");
}

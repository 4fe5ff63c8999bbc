{
  "targets": [
    {
      "target_name": "intra",
      "sources": [
        "native/common/cpu_allocator.cpp",
        "native/common/profile.cpp",
        "native/kernels/dispatch.cpp",
        "native/kernels/device_timing.cpp",
        "native/kernels/checks/harness.cpp",
        "native/kernels/registry.cpp",
        "native/kernels/attention/dispatch.cpp",
        "native/kernels/attention/descriptor.cpp",
        "native/kernels/attention/reference.cpp",
        "native/kernels/attention/fused_cpu.cpp",
        "native/kernels/attention/fused_cuda_emulated.cpp",
        "native/kernels/attention/isa_generic.cpp",
        "native/kernels/filters/dispatch.cpp",
        "native/kernels/filters/descriptor.cpp",
        "native/kernels/filters/reference.cpp",
        "native/kernels/filters/fused_cpu.cpp",
        "native/kernels/filters/fused_cuda_emulated.cpp",
        "native/kernels/optim/dispatch.cpp",
        "native/kernels/optim/descriptor.cpp",
        "native/kernels/optim/reference.cpp",
        "native/kernels/optim/fused_cpu.cpp",
        "native/kernels/optim/adam_rows.cpp",
        "native/kernels/optim/fused_cuda_emulated.cpp",
        "native/kernels/norm/dispatch.cpp",
        "native/kernels/norm/descriptor.cpp",
        "native/kernels/norm/reference.cpp",
        "native/kernels/norm/fused_cpu.cpp",
        "native/kernels/norm/fused_rows.cpp",
        "native/kernels/norm/fused_cuda_emulated.cpp",
        "native/kernels/activation/dispatch.cpp",
        "native/kernels/activation/descriptor.cpp",
        "native/kernels/activation/reference.cpp",
        "native/kernels/activation/fused_cpu.cpp",
        "native/kernels/activation/fused_cuda_emulated.cpp",
        "native/kernels/activation/fused_rows.cpp",
        "native/kernels/bias/dispatch.cpp",
        "native/kernels/bias/descriptor.cpp",
        "native/kernels/bias/reference.cpp",
        "native/kernels/bias/fused_cpu.cpp",
        "native/kernels/bias/fused_cuda_emulated.cpp",
        "native/kernels/bias/fused_rows.cpp",
        "native/core/config.cpp",
        "native/core/config_fields.cpp",
        "native/core/preset_training.cpp",
        "native/core/model.cpp",
        "native/core/windows.cpp",
        "native/core/checkpoint.cpp",
        "native/core/anomaly_map.cpp",
        "native/core/texture.cpp",
        "native/core/loss.cpp",
        "native/core/method_constants.cpp",
        "native/core/engine.cpp",
        "native/core/engine_io.cpp",
        "native/core/inference.cpp",
        "native/core/machine.cpp",
        "native/core/training.cpp",
        "native/core/distributed.cpp",
        "native/addon/convert.cpp",
        "native/addon/engine_wrap.cpp",
        "native/addon/harness.cpp",
        "native/addon/model_api.cpp",
        "native/addon/module.cpp",
        "native/addon/pictures.cpp",
        "native/addon/regions.cpp"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "/usr/include/torch/csrc/api/include"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "INTRA_X86_KERNELS"
      ],
      "cflags_cc!": [
        "-fno-exceptions",
        "-fno-rtti"
      ],
      "cflags_cc": [
        "-std=c++17",
        "-O3",
        "-fexceptions",
        "-frtti",
        "-fno-math-errno",
        "-fno-trapping-math",
        "-fopenmp-simd",
        "-fopenmp"
      ],
      "libraries": [
        "-ltorch",
        "-ltorch_cpu",
        "-lc10"
      ],
      "dependencies": [
        "intra_avx2",
        "intra_avx512",
        "intra_avx512_bf16"
      ],
      "ldflags": [
        "-fopenmp"
      ]
    },
    {
      "type": "static_library",
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "/usr/include/torch/csrc/api/include"
      ],
      "defines": [
        "NAPI_VERSION=8"
      ],
      "cflags_cc!": [
        "-fno-exceptions",
        "-fno-rtti"
      ],
      "target_name": "intra_avx2",
      "sources": [
        "native/kernels/attention/isa_avx2.cpp"
      ],
      "cflags_cc": [
        "-std=c++17",
        "-O3",
        "-fPIC",
        "-fno-math-errno",
        "-fno-trapping-math",
        "-fopenmp-simd",
        "-march=x86-64-v3"
      ]
    },
    {
      "type": "static_library",
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "/usr/include/torch/csrc/api/include"
      ],
      "defines": [
        "NAPI_VERSION=8"
      ],
      "cflags_cc!": [
        "-fno-exceptions",
        "-fno-rtti"
      ],
      "target_name": "intra_avx512",
      "sources": [
        "native/kernels/attention/isa_avx512.cpp"
      ],
      "cflags_cc": [
        "-std=c++17",
        "-O3",
        "-fPIC",
        "-fno-math-errno",
        "-fno-trapping-math",
        "-fopenmp-simd",
        "-march=x86-64-v4"
      ]
    },
    {
      "type": "static_library",
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "/usr/include/torch/csrc/api/include"
      ],
      "defines": [
        "NAPI_VERSION=8"
      ],
      "cflags_cc!": [
        "-fno-exceptions",
        "-fno-rtti"
      ],
      "target_name": "intra_avx512_bf16",
      "sources": [
        "native/kernels/attention/isa_avx512_bf16.cpp"
      ],
      "cflags_cc": [
        "-std=c++17",
        "-O3",
        "-fPIC",
        "-fno-math-errno",
        "-fno-trapping-math",
        "-fopenmp-simd",
        "-march=x86-64-v4",
        "-mavx512bf16"
      ]
    }
  ]
}

{
  "targets": [
    {
      "target_name": "intra",
      "sources": [
        "native/core/config.cpp",
        "native/core/model.cpp",
        "native/core/windows.cpp",
        "native/core/checkpoint.cpp",
        "native/core/engine.cpp",
        "native/kernels/attention/reference.cpp",
        "native/kernels/filters/reference.cpp",
        "native/addon/convert.cpp",
        "native/addon/engine_wrap.cpp",
        "native/addon/module.cpp"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "/usr/include/torch/csrc/api/include"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-frtti"],
      "libraries": ["-ltorch", "-ltorch_cpu", "-lc10"]
    }
  ]
}

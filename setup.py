"""Builds the Python package `convlstm` (sources in core/) and the native plugin (plugin/).

The plugin is a limited-API extension named vapoursynth.plugins.convlstm.convlstm so that a normal
`pip install .` puts it where VapourSynth autoloads plugins: core.convlstm then exists in every script.
"""
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

PLUGIN = "vapoursynth.plugins.convlstm.convlstm"
# the suffix VapourSynth's plugin autoloading looks for on each platform (it skips .pyd on Windows)
PLUGIN_SUFFIX = {"win32": ".dll", "darwin": ".dylib"}.get(sys.platform, ".so")


class PluginBuild(build_ext):
    """Names the plugin as VapourSynth autoloads it: convlstm.so / .dll / .dylib (no Python ABI tag)."""

    def get_ext_filename(self, fullname: str) -> str:
        # called with the full dotted name, and (for the output path) with its last part alone
        if fullname in (PLUGIN, PLUGIN.rsplit(".", 1)[1]):
            return str(Path(*fullname.split("."))) + PLUGIN_SUFFIX
        return super().get_ext_filename(fullname)

# data folders inside the package (the default weights exist once a trained model is shipped)
DATA_DIRS = [d for d in ("configs", "assets", "weights") if (Path(__file__).parent / "core" / d).is_dir()]


def vapoursynth_include() -> list[str]:
    import vapoursynth  # build dependency (pyproject.toml)
    return [vapoursynth.get_include()]


setup(
    package_dir={"convlstm": "core"},
    packages=["convlstm", "convlstm.filter", "convlstm.model", "convlstm.data", "convlstm.train", "convlstm.evaluate",
              "convlstm.cli", "convlstm.adapt", "convlstm.cluster", "convlstm.files",
              *[f"convlstm.{d}" for d in DATA_DIRS]],
    package_data={f"convlstm.{d}": ["*.yaml", "*.pt", "*.mp4", "*.vpy"] for d in DATA_DIRS},
    ext_modules=[
        Extension(
            PLUGIN,
            sources=["plugin/convlstm.c"],
            depends=["plugin/signature.h"],
            include_dirs=vapoursynth_include(),
            define_macros=[("Py_LIMITED_API", "0x030C0000")],
            py_limited_api=True,
            extra_compile_args=[] if sys.platform == "win32" else ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        ),
        Extension(   # the CPU's kernels: motion search, ConvLSTM cell, decoder, attention (model/kernels.py loads them)
            "convlstm.model._kernels",
            sources=["core/model/kernels.c", "core/model/lstm_kernel.c", "core/model/decoder_kernel.c",
                     "core/model/attention_kernel.c"],
            depends=["core/model/kernels.h"],
            py_limited_api=True,
            extra_compile_args=["/O2"] if sys.platform == "win32" else ["-O3", "-Wall", "-Wextra"],
        ),
    ],
    cmdclass={"build_ext": PluginBuild},
    options={"bdist_wheel": {"py_limited_api": "cp312"}},
)

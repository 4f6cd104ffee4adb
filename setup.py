"""Builds the Python package `convlstm` (sources in core/) and the native plugin (plugin/).

The plugin is a limited-API extension named vapoursynth.plugins.convlstm.convlstm so that a normal
`pip install .` puts it where VapourSynth autoloads plugins: core.convlstm then exists in every script.
"""
from pathlib import Path

from setuptools import Extension, setup

# data folders inside the package (the default weights exist once a trained model is shipped)
DATA_DIRS = [d for d in ("configs", "assets", "weights") if (Path(__file__).parent / "core" / d).is_dir()]


def vapoursynth_include() -> list[str]:
    import vapoursynth  # build dependency (pyproject.toml)
    return [vapoursynth.get_include()]


setup(
    package_dir={"convlstm": "core"},
    packages=["convlstm", "convlstm.filter", "convlstm.model", "convlstm.data", "convlstm.train", "convlstm.evaluate",
              "convlstm.cli",
              *[f"convlstm.{d}" for d in DATA_DIRS]],
    package_data={f"convlstm.{d}": ["*.yaml", "*.pt", "*.mp4", "*.vpy"] for d in DATA_DIRS},
    ext_modules=[
        Extension(
            "vapoursynth.plugins.convlstm.convlstm",
            sources=["plugin/convlstm.c"],
            include_dirs=vapoursynth_include(),
            define_macros=[("Py_LIMITED_API", "0x030C0000")],
            py_limited_api=True,
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            libraries=["dl"],
        )
    ],
    options={"bdist_wheel": {"py_limited_api": "cp312"}},
)

"""Builds the Python package `convlstm` (sources in core/) and the native plugin (plugin/).

The plugin is a limited-API extension named vapoursynth.plugins.convlstm.convlstm so that a normal
`pip install .` puts it where VapourSynth autoloads plugins: core.convlstm then exists in every script.
"""
from setuptools import Extension, setup


def vapoursynth_include() -> list[str]:
    import vapoursynth  # build dependency (pyproject.toml)
    return [vapoursynth.get_include()]


setup(
    package_dir={"convlstm": "core"},
    packages=["convlstm", "convlstm.model", "convlstm.data", "convlstm.train", "convlstm.evaluate", "convlstm.cli"],
    package_data={"convlstm": ["configs/*.yaml", "weights/*.pt", "assets/*"]},
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

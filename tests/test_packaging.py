"""The release wheel as a user gets it: built by scripts/build_wheel.sh, tagged manylinux and abi3, carrying
the licence and the vspipe script, installed into a fresh venv, autoloaded by VapourSynth, running a clip."""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


def test_the_manylinux_wheel_installs_into_a_fresh_venv_and_autoloads(tmp_path):
    dist = tmp_path / "dist"
    r = subprocess.run(["bash", str(REPO / "scripts" / "build_wheel.sh"), str(dist)], capture_output=True, text=True,
                       timeout=600, env={**os.environ, "PY": sys.executable})
    assert r.returncode == 0, r.stderr[-2000:]
    (wheel,) = dist.glob("*.whl")
    tags = wheel.name.split("-")
    assert tags[2:4] == ["cp312", "abi3"] and "manylinux" in tags[4], wheel.name
    names = zipfile.ZipFile(wheel).namelist()
    assert "vapoursynth/plugins/convlstm/convlstm.so" in names and "convlstm/assets/interpolate.vpy" in names
    assert "convlstm/model/_kernels.abi3.so" in names       # the motion search's CPU kernels
    assert any(n.endswith("licenses/LICENSE") for n in names) and "convlstm/weights/default.pt" in names

    # A fresh venv: its own vapoursynth (whose plugin folder autoloading reads) and this wheel; torch and
    # the other heavy dependencies are borrowed from the test's environment, behind the venv's own packages.
    venv = tmp_path / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    import vapoursynth
    here = Path(vapoursynth.__file__).resolve().parents[1]
    (site / "zz_borrowed.pth").write_text(str(here) + "\n")   # .pth entries go after the venv's own
    from importlib.metadata import version as installed
    version = installed("vapoursynth")
    for spec in (f"vapoursynth=={version}", str(wheel)):
        r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed", spec], capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
    code = ("import vapoursynth as vs, convlstm, pathlib\n"
            "assert pathlib.Path(vs.__file__).is_relative_to(pathlib.Path(__import__('sys').prefix)), vs.__file__\n"
            "assert pathlib.Path(convlstm.__file__).is_relative_to(pathlib.Path(__import__('sys').prefix))\n"
            "from convlstm.model.kernels import instruction_set\n"
            "assert instruction_set() in ('avx2', 'scalar'), instruction_set()\n"
            "clip = vs.core.std.BlankClip(format=vs.YUV420P8, width=64, height=48, length=4, color=[80, 128, 128])\n"
            "out = vs.core.convlstm.Interpolate(clip, device='cpu')\n"
            "print(out.num_frames, out.get_frame(3).props['ConvLSTMInterpolated'])\n")
    r = subprocess.run([str(py), "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["8", "1"], r.stdout

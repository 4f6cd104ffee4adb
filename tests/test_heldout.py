"""The held-out clips (scripts/fetch_heldout_clips.py) stay out of training: checked on the lists, no download."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module        # dataclasses look their module up
    spec.loader.exec_module(module)   # importing downloads nothing: fetch() only runs from main()
    return module


def video_folder_sources():
    for config in sorted((ROOT / "core" / "configs").glob("*.yaml")):
        data = yaml.safe_load(config.read_text()) or {}
        for source in (data.get("data") or {}).get("sources") or []:
            if source.get("type") == "video_folder":
                yield config.name, source


def test_held_out_clips_are_not_training_clips_except_the_two_excluded_ones():
    heldout = load_script("fetch_heldout_clips").HELDOUT_CLIPS
    training = load_script("fetch_training_videos").PACKAGED_CLIPS
    trained = {(package, member) for package, members in training.items() for member in members}
    shared = {(package, clip.member) for package, clips in heldout.items() for clip in clips} & trained
    assert {Path(member).name for _, member in shared} == {"cityCC0.mpg", "cup.mp4.gz"}
    names = [clip.target for clips in heldout.values() for clip in clips]
    assert len(names) == len(set(names)) >= 8
    assert not {"bikes", "bigbuckbunny", "carphone", "demo.mp4"} & ({Path(n).stem for n in names} | set(names))
    kinds = {clip.kind for clips in heldout.values() for clip in clips}
    for needed in ("pan", "occlusion", "non-rigid", "dark", "animation", "screen"):
        assert any(needed in kind for kind in kinds), needed


def test_no_config_trains_on_the_held_out_folder_and_the_shared_two_are_excluded():
    sources = list(video_folder_sources())
    assert sources
    for config, source in sources:
        assert "heldout" not in str(source["root"]), config
        assert {"cityCC0.mpg", "cup.mp4"} <= set(source.get("exclude") or []), config

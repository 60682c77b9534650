"""End to end, as a user runs it: `neuface train` (a tiny model, 2 iterations, with a consent statement) ->
`neuface export` -> `neuface export --check` -> `neuface merge` of a real clip with audio. Proves the
provenance written by training (faceset fingerprints, consent) reaches the .dfm and the merged video."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import onnx

from neuface.cli import main
from test_merge import _trim
from test_train_helpers import TINY, make_workspace

CONSENT = "Both people shown agreed in writing (test)."
FRAMES = 8


def test_trained_model_exports_checks_and_merges_with_provenance(tmp_path: Path, dfl_fixtures: Path,
                                                                  real_media: Path, capsys) -> None:
    ws = make_workspace(dfl_fixtures, tmp_path / "ws")
    base = ["-w", str(ws), "--device", "cpu", "--precision", "fp32"]
    assert main([*base, "-q", "train", *TINY, "--seed", "1", "--target-iter", "2", "--consent", CONSENT]) == 0

    dfm = tmp_path / "me.dfm"
    assert main([*base, "export", str(dfm)]) == 0
    props = {p.key: p.value for p in onnx.load(str(dfm), load_external_data=False).metadata_props}
    assert (props["iteration"], props["resolution"], props["synthetic_media"]) == ("2", "64", "true")
    assert props["consent"] == CONSENT
    fp = dict(part.split(":", 1) for part in props["faceset_fingerprint"].split(","))
    assert set(fp) == {"src", "dst"} and fp["src"] != fp["dst"] and all(len(v) > 8 for v in fp.values())
    capsys.readouterr()
    assert main([*base, "export", "--check", str(dfm)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].endswith("PASS")
    assert f"consent = {CONSENT}" in text and f"faceset_fingerprint = {props['faceset_fingerprint']}" in text

    clip, out = tmp_path / "dst.mp4", tmp_path / "merged.mp4"
    _trim(real_media / "talking_head_tpsmm.mp4", clip, FRAMES)
    assert main([*base, "merge", str(clip), "--dfm", str(dfm), "--out", str(out), "--faces", "detect",
                 "--no-label"]) == 0  # the label is on by default (test_merge.py); metadata must not depend on it
    with av.open(str(clip)) as a, av.open(str(out)) as b:
        va, vb = a.streams.video[0], b.streams.video[0]
        assert vb.frames == va.frames == FRAMES and vb.average_rate == va.average_rate
        assert abs(Fraction(va.duration) * va.time_base - Fraction(vb.duration) * vb.time_base) < Fraction(1, 100)
        aa, ab = a.streams.audio[0], b.streams.audio[0]
        assert len(b.streams.audio) == 1 and ab.frames == aa.frames > 0
        assert ab.codec_context.name == aa.codec_context.name == "aac"  # packets copied, not re-encoded
        assert b.metadata["synthetic_media"] == "true" and b.metadata["neuface_label"] == "off"
        assert (b.metadata["neuface_model"], b.metadata["neuface_iteration"]) == (props["model_name"], "2")
        assert "Synthetic media" in b.metadata["comment"]
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left

"""One option schema per stage (neuface.optionspec): flags, neuface.toml and `neuface run` give equal objects.

The CLI path is the real one (typer parses the flags, or the table through click's default_map); the table
path is `StageOptions.from_table`, which `neuface run` uses. A captured library call receives the object.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from _option_capture import capture, write_toml
from neuface.cli import main
from neuface.detect.options import DetectConfig
from neuface.errors import UsageError
from neuface.pipeline.params import stage_options
from neuface.sort.options import SortOptions

SORT_TABLE = {"by": "hist", "target": 500, "dissimilar": True, "jobs": 2, "sheet": "s.png"}
SORT_TOML = '[sort]\nby = "hist"\ntarget = 500\ndissimilar = true\njobs = 2\nsheet = "s.png"\n'
SORT_FLAGS = ["--by", "hist", "--target", "500", "--dissimilar", "--jobs", "2", "--sheet", "s.png"]


def test_sort_table_flags_and_run_give_equal_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = capture(monkeypatch, "neuface.sort.sorter.sort_aligned", SortOptions)
    ws = tmp_path / "ws"
    assert main(["-w", str(ws), "sort", "src", *SORT_FLAGS]) == 0
    path = write_toml(ws, SORT_TOML)
    assert main(["-w", str(ws), "sort", "src"]) == 0  # the table through click's default_map
    want = SortOptions(by="hist", target=500, dissimilar=True, jobs=2, sheet=Path("s.png"))
    assert seen == [want, want]
    assert SortOptions.from_table(SORT_TABLE, str(path)) == want
    assert stage_options("sort", {"target": 10, "src": SORT_TABLE}, "src") == want
    assert stage_options("sort", {"target": 10, "src": SORT_TABLE}, "dst") == SortOptions(target=10)
    # A flag wins over the table.
    assert main(["-w", str(ws), "sort", "src", "--target", "7"]) == 0
    assert seen[-1] == want.replace(target=7)


def test_detect_table_flags_and_run_give_equal_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = capture(monkeypatch, "neuface.detect.pipeline.run_detect", DetectConfig)
    ws = tmp_path / "ws"
    flags = ["--face-type", "f", "--size", "256", "--jpeg-quality", "80", "--no-identity", "--models", "m",
             "--smooth", "--smooth-strength", "0.25", "--workers", "1"]
    assert main(["-w", str(ws), "--device", "cpu", "detect", "dst", *flags]) == 0
    write_toml(ws, '[detect]\nface_type = "f"\nsize = 128\njpeg-quality = 80\nidentity = false\nmodels = "m"\n'
              'smooth = true\nsmooth_strength = 0.25\nworkers = 1\n[detect.dst]\nsize = 256\n')
    table = {"face_type": "f", "size": 128, "jpeg_quality": 80, "identity": False, "models": "m", "smooth": True,
             "smooth_strength": 0.25, "workers": 1, "dst": {"size": 256}}
    want = DetectConfig(face_type="f", size=256, jpeg_quality=80, identity=False, models=Path("m"), smooth=True,
                        smooth_strength=0.25, workers=1)
    assert main(["-w", str(ws), "--device", "cpu", "detect", "dst"]) == 0
    assert seen == [want, want.replace(size=128)]  # [detect.dst] is read by `neuface run` only
    assert stage_options("detect", table, "dst") == want
    assert stage_options("detect", table, "src") == want.replace(size=128)
    assert DetectConfig.from_table({}).face_type == DetectConfig().face_type == "wf"


@pytest.mark.parametrize(("key", "value"), [
    ("target", 5.0), ("target", 5.7), ("target", "12"), ("target", "x"), ("target", True),
    ("jobs", -1), ("dissimilar", "yes"), ("dissimilar", 2), ("by", 3), ("sheet", 4),
])
def test_table_values_convert_as_the_cli_converts_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str], key: str,
                                                        value: Any) -> None:
    """The same value in a [sort] table gives the same object (or an error with the same words) both ways."""
    import json

    seen = capture(monkeypatch, "neuface.sort.sorter.sort_aligned", SortOptions)
    ws = tmp_path / "ws"
    line = f"{key} = {json.dumps(value)}\n"
    path = write_toml(ws, "[sort]\n" + line + ("" if key == "by" else 'by = "hist"\n'))
    table = {key: value} if key == "by" else {key: value, "by": "hist"}
    code = main(["-w", str(ws), "sort", "src"])
    cli_err = " ".join(capsys.readouterr().err.replace("│", " ").split())
    try:
        got = SortOptions.from_table(table, str(path))
    except UsageError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith(f"{path}: [sort]: Invalid value for '--{key}': ")
        assert code == 2 and message.split(": ", 3)[-1] in cli_err
    else:
        assert code == 0 and seen == [got.replace(by=got.method.key)]


def test_unknown_key_and_bad_value_are_one_line_errors_naming_the_file(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    ws = tmp_path / "ws"
    path = write_toml(ws, "[sort]\nsise = 1\n")
    with pytest.raises(UsageError) as exc:
        SortOptions.from_table({"sise": 1}, str(path))
    assert str(exc.value) == (f"{path}: [sort] has no option 'sise' "
                              "(options: by, dissimilar, dry-run, jobs, sheet, target)")
    assert main(["-w", str(ws), "run"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {exc.value}"]
    with pytest.raises(UsageError, match=r"only \[detect.src\] and \[detect.dst\] sub-tables exist"):
        DetectConfig.from_table({"left": {"size": 1}}, str(path))
    with pytest.raises(UsageError) as exc:
        DetectConfig.from_table({"dst": {"jpeg_quality": 101}}, str(path), side="dst")
    assert str(exc.value) == (f"{path}: [detect]: Invalid value for '--jpeg-quality': Input should be less than "
                              "or equal to 100")
    write_toml(ws, "[detect]\njpeg_quality = 101\n")
    assert main(["-w", str(ws), "run"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {exc.value}"]
    with pytest.raises(UsageError, match=r"^Invalid value for '--jobs': Input should be greater than or equal to 0$"):
        SortOptions(jobs=-1).validated()
    with pytest.raises(UsageError, match="has no option 'device'"):  # set by code (the root --device), not a table
        DetectConfig.from_table({"device": "cuda"}, str(path))

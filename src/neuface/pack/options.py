"""`neuface pack` / `neuface unpack` options, declared once for the CLI, neuface.toml and `neuface run`."""

from __future__ import annotations

from dataclasses import dataclass

from neuface.optionspec import StageOptions, option


@dataclass(frozen=True)
class PackOptions(StageOptions):
    """Pack one side's aligned faces into faceset.pak."""

    STAGE = "pack"

    keep: bool = option(False, flags="--keep", help="Keep the loose images after packing.")
    skip_invalid: bool = option(False, flags="--skip-invalid",
                                help="Pack the valid faces and leave files without DFL metadata in place.")


@dataclass(frozen=True)
class UnpackOptions(StageOptions):
    """Unpack one side's faceset.pak into aligned images."""

    STAGE = "unpack"

    keep: bool = option(False, flags="--keep", help="Keep faceset.pak after unpacking.")

"""A model's `*_summary.txt` in DFL's layout (ModelBase.get_summary_text, dfl-formats.md §8.4): SAEHD's and XSeg's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from neuface.runtime import device_memory_gb

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class DeviceRow:
    """One GPU as DFL lists it."""

    index: int
    name: str
    vram_gb: float


def summary_text(model_name: str, iteration: int, options: Mapping[str, Any],
                 devices: Sequence[DeviceRow] = ()) -> str:
    """The summary DFL writes: `==`-framed lines, widths from the longest key/value, no trailing newline."""
    w_name = max([len(k) for k in options] + [17]) + 1
    w_value = max([len(str(v)) for v in options.values()] + [len(d.name) for d in devices]
                  + [len(str(iteration)), len(model_name)]) + 1
    w = w_name + w_value + 2

    def row(key: str, value: Any) -> str:
        return f"=={key: >{w_name}}: {str(value): <{w_value}}=="

    blank = f"=={' ' * w}=="
    lines = [f"=={' Model Summary ':=^{w}}==", blank, row("Model name", model_name), blank,
             row("Current iteration", iteration), blank, f"=={' Model Options ':-^{w}}==", blank]
    lines += [row(k, v) for k, v in options.items()]
    lines += [blank, f"=={' Running On ':-^{w}}==", blank]
    if not devices:
        lines.append(row("Using device", "CPU"))
    for d in devices:
        lines += [row("Device index", d.index), row("Name", d.name), row("VRAM", f"{d.vram_gb:.2f}GB")]
    lines += [blank, f"=={'=' * w}=="]
    return "\n".join(lines)


def device_rows(device: torch.device) -> list[DeviceRow]:
    """The "Running On" rows: the CUDA device in use with its total memory as DFL reports it (none on CPU)."""
    found = device_memory_gb(device)
    return [DeviceRow(device.index or 0, *found)] if found is not None else []

"""Torch RNG streams as plain strings, so a resumed run draws the same lr_dropout masks an uninterrupted one would.

Stored in a model's neuface-only state (SAEHD's and XSeg's data.dat `neuface` key): hex text, no pickled
torch objects, so the restricted unpickler reads it back.
"""

from __future__ import annotations

import torch

from neuface.console import warn
from neuface.runtime import device_rng_state, set_device_rng_state


def torch_rng_state(device: torch.device) -> dict[str, str]:
    """The CPU generator's state (and the device's CUDA generator on CUDA) as hex strings."""
    state = {"torch": torch.get_rng_state().numpy().tobytes().hex()}
    cuda_state = device_rng_state(device)  # None on CPU
    if cuda_state is not None:
        state["cuda"] = cuda_state.hex()
    return state


def restore_torch_rng(state: dict[str, str], device: torch.device) -> None:
    """Put back what `torch_rng_state` stored; a state from another torch build only warns."""
    try:
        if "torch" in state:
            torch.set_rng_state(torch.frombuffer(bytearray.fromhex(state["torch"]), dtype=torch.uint8))
        if "cuda" in state and device.type == "cuda":
            set_device_rng_state(device, bytes.fromhex(state["cuda"]))
    except (ValueError, RuntimeError, TypeError) as exc:
        warn(f"stored RNG state not restored ({exc}); training continues with a fresh stream")

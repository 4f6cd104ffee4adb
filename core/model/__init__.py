"""The network of Suzuki & Ikehara 2020: ConvLSTM U-Net synthesis + attention refinement (+ our scale fusion)."""
from .convlstm import ConvLSTM, ConvLSTMCell
from .fusion import ScaleFusion, halve
from .net import Net, NetOutput, interpolation_loss
from .refinement import AttentionBlock, ChannelAttention, RefinementNet, SpatialAttention
from .synthesis import DecoderBlock, EncoderBlock, SynthesisNet

__all__ = [
    "AttentionBlock", "ChannelAttention", "ConvLSTM", "ConvLSTMCell", "DecoderBlock", "EncoderBlock",
    "Net", "NetOutput", "RefinementNet", "ScaleFusion", "SpatialAttention", "SynthesisNet", "halve", "interpolation_loss",
]

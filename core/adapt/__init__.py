"""Adapting the network to one clip: its own frames are ground truth for frames in between."""

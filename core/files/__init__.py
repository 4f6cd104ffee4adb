"""A video file's route through the filter, below the CLI and the cluster (both use it, it uses neither):

    source   open a file (bestsource), check it, read its timing
    output   what the output keeps and how it is encoded: container, codec, EncodePlan
    route    one file in, one file out (the single-machine `convlstm interpolate`)
    encode   the ffmpeg command: encode a clip, preflight, join pieces
    probe    the file's streams, from ffmpeg's own listing
    hdr      HDR10 metadata for the encoders
    atomic   whole files or none: partial files renamed when complete
"""

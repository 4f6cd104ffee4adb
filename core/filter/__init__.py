"""The filter runtime (its options: convlstm/options.py): what happens to a frame between VapourSynth and the net, in the order it happens.

    bridge     the only module C calls: build the stages, process one output frame
    contract   what C and Python agree on (tuple layouts, flag bits, stage facts), checked
    stages     one Stage per filter node: its schedule, and the frames it computes; thread-safe
    schedule   which source frames make each output frame and where it lies (Timed), or retiming (Nearest)
    formats    accepted clip formats; samples <-> the net's [-1, 1]
    planes     frame memory -> numpy view (CPU) or page-locked staging and an async copy (CUDA), and back
               with one wait per frame
    streams    one CUDA stream per serving thread; events for what crosses between them
    yuv        YUV <-> RGB on the compute device with the clip's matrix, range and chroma siting
    scenes     the scene-cut rule (shared with the training data and validation)
    devices    'auto' / 'cpu' / 'cuda:N'
    batcher    windows requested together, one forward pass of a fixed size
    engine     the loaded net on its device: precision, pad, tiles, forward, crop
    profile    where a made frame's host time goes (for bench)
"""

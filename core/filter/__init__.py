"""The filter runtime: what happens to a frame between VapourSynth and the net, in the order it happens.

    bridge     the only module C calls: build the stages, process one output frame
    arguments  the values Interpolate accepts (their types are VapourSynth's signature)
    stages     one 2x stage (Interpolator) or a final retiming (Retimer) per filter node
    schedule   which source frames make each output frame (the 2x contract, retiming)
    formats    accepted clip formats; samples <-> the net's [-1, 1]
    planes     frame memory -> numpy view (CPU) or CuPy copy (CUDA) -> torch by DLPack, and back
    yuv        YUV <-> RGB on the compute device with the clip's matrix, range and chroma siting
    scenes     the scene-cut rule (shared with the training data)
    devices    'auto' / 'cpu' / 'cuda:N'
    engine     the loaded net on its device: pad, forward, crop
"""

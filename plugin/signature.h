/* Made by `python -m convlstm.options > plugin/signature.h` from convlstm/options.py (the one
 * declaration of Interpolate's options); tests/test_plugin.py checks that it is current. */
#define CONVLSTM_SIGNATURE \
    "clip:vnode;" \
    "weights:data:opt;" \
    "device:data:opt;" \
    "precision:data:opt;" \
    "factor:float:opt;" \
    "factor_num:int:opt;" \
    "factor_den:int:opt;" \
    "fps_num:int:opt;" \
    "fps_den:int:opt;" \
    "sc_threshold:float:opt;" \
    "sc_mode:data:opt;" \
    "scales:int:opt;" \
    "batch:int:opt;" \
    "tile:int:opt;" \
    "compile:int:opt;" \
    "detail:float:opt;" \
    "safety:float:opt;" \
    "mask:int:opt;" \
    "dedup:int:opt;" \
    "dedup_threshold:float:opt;" \
    "lanes:int:opt;" \
    "fp16:int:opt;"

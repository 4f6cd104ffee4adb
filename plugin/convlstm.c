/*
 * convlstm: native VapourSynth (API 4) front of the ConvLSTM frame interpolator.
 *
 * Thin on purpose: it passes arguments and clip facts to the Python package `convlstm`
 * (module convlstm.filter.bridge), asks it which source frames each output needs, requests them,
 * allocates the output frame, sets props and reports errors. Model and policy live in Python.
 * The GIL is held only for the duration of each call into Python.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "VapourSynth4.h"
#include "signature.h"   /* CONVLSTM_SIGNATURE: made from convlstm/options.py (tests compare them) */

#ifndef _WIN32
/* Linux, macOS: an extension module leaves Python's symbols to the host process. Weak, so that a host
 * without libpython loads the plugin and gets an error instead of failing to resolve the symbol. */
#pragma weak Py_IsInitialized
#endif

#define FILTER "convlstm.Interpolate"
/* The contract with the Python core: convlstm/filter/contract.py (CONTRACT, PROP_FIELDS, the flag bits,
 * STAGE_FACTS). Raise both together; the bridge refuses a plugin that speaks another. */
#define CONVLSTM_CONTRACT 4
#define MAX_WINDOW 5           /* contract.py's MAX_PLAN: the net's 4 frames and the one giving the props */
#define MAX_PLANES 3
#define MAX_PROBE_ROUNDS 3     /* contract.py's MAX_PROBE_ROUNDS */

typedef struct {
    VSNode *node;
    VSVideoInfo vi;          /* output clip */
    int source_frames;       /* frames of the input node */
    int planes;
    int64_t duration_divisor;
    int64_t clears_next;     /* a source frame passed through is followed by a made frame: its _SceneChangeNext is stale */
    int64_t probes;          /* frames are analysed (bridge.probe/analyse) before an output is planned: dedup */
    PyObject *instance;      /* a convlstm.filter.stages.Stage */
    PyObject *bridge;        /* convlstm.filter.bridge module */
} InterpolateData;

typedef struct {
    int count;
    int index[MAX_WINDOW];
    long repeat_mark;        /* ConvLSTMRepeat, -1: not set */
    int probing;             /* the frames requested are a probe's (probe_index), not the plan's */
    int rounds;
    int probe_count;
    int *probe_index;
} Plan;

/* Python may be absent (a host that never loaded libpython: the weak symbol is then null) or not
 * initialised. On Windows the module links python3.dll itself (it would not have loaded without it). */
static int python_ready(void) {
#ifdef _WIN32
    return Py_IsInitialized();
#else
    int (*is_initialized)(void) = Py_IsInitialized;
    return is_initialized != NULL && is_initialized();
#endif
}

/* Moves the pending Python exception's text into buf and clears it. Caller holds the GIL. */
static void take_python_error(char *buf, size_t size) {
    PyObject *type = NULL, *value = NULL, *traceback = NULL;
    PyErr_Fetch(&type, &value, &traceback);
    PyObject *text = value ? PyObject_Str(value) : NULL;
    const char *msg = text ? PyUnicode_AsUTF8AndSize(text, NULL) : NULL;
    snprintf(buf, size, FILTER ": %s", (msg && *msg) ? msg : "unknown error in the Python core");
    PyErr_Clear();
    Py_XDECREF(text);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(traceback);
}

static int64_t gcd64(int64_t a, int64_t b) {
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static int call_plan(InterpolateData *d, int n, Plan *plan, char *err, size_t errsize) {
    int ok = 0;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *result = PyObject_CallMethod(d->bridge, "plan", "Oi", d->instance, n);
    Py_ssize_t size = result && PyTuple_Check(result) ? PyTuple_Size(result) : 0;
    if (size == 1 || (size >= 4 && size <= MAX_WINDOW)) {  /* pass through, or the window (+ props frame) */
        plan->count = (int)PyTuple_Size(result);
        ok = 1;
        for (int i = 0; i < plan->count; i++) {
            long v = PyLong_AsLong(PyTuple_GetItem(result, i));
            if (v < 0 || v >= d->source_frames) ok = 0;
            plan->index[i] = (int)v;
        }
        if (PyErr_Occurred()) ok = 0;
    }
    if (!ok) {
        if (PyErr_Occurred())
            take_python_error(err, errsize);
        else
            snprintf(err, errsize, FILTER ": internal error: bad frame plan for frame %d", n);
    }
    Py_XDECREF(result);
    PyGILState_Release(gil);
    return ok;
}

/* The frames bridge.probe names for output n (a fresh array in plan->probe_index; none: count 0). */
static int call_probe(InterpolateData *d, int n, Plan *plan, char *err, size_t errsize) {
    int ok = 0;
    free(plan->probe_index);
    plan->probe_index = NULL;
    plan->probe_count = 0;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *result = PyObject_CallMethod(d->bridge, "probe", "Oi", d->instance, n);
    if (result && PyTuple_Check(result)) {
        Py_ssize_t count = PyTuple_Size(result);
        plan->probe_index = count ? (int *)malloc(sizeof(int) * (size_t)count) : NULL;
        ok = count == 0 || plan->probe_index != NULL;
        for (Py_ssize_t i = 0; ok && i < count; i++) {
            long v = PyLong_AsLong(PyTuple_GetItem(result, i));
            if (v < 0 || v >= d->source_frames) ok = 0;
            plan->probe_index[i] = (int)v;
        }
        if (PyErr_Occurred()) ok = 0;
        if (ok) plan->probe_count = (int)count;
    }
    if (!ok) {
        if (PyErr_Occurred())
            take_python_error(err, errsize);
        else
            snprintf(err, errsize, FILTER ": internal error: bad probe for frame %d", n);
    }
    Py_XDECREF(result);
    PyGILState_Release(gil);
    return ok;
}

/* ConvLSTMRepeat of output n from bridge.repeat_mark (-1: none). */
static int call_repeat_mark(InterpolateData *d, int n, Plan *plan, char *err, size_t errsize) {
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *result = PyObject_CallMethod(d->bridge, "repeat_mark", "Oi", d->instance, n);
    plan->repeat_mark = result ? PyLong_AsLong(result) : -1;
    int ok = result != NULL && !PyErr_Occurred();
    if (!ok) take_python_error(err, errsize);
    Py_XDECREF(result);
    PyGILState_Release(gil);
    return ok;
}

static PyObject *pointer_tuple(const void **ptrs, const ptrdiff_t *strides, int count, int want_strides) {
    PyObject *t = PyTuple_New(count);
    for (int i = 0; t && i < count; i++)
        PyTuple_SetItem(t, i, want_strides ? PyLong_FromSsize_t(strides[i]) : PyLong_FromVoidPtr((void *)ptrs[i]));
    return t;
}

/* The props of one source frame that the Python core needs, -1 where unset (contract.py's PROP_FIELDS):
 * (scene flags: bit 0 = _SceneChangePrev, bit 1 = _SceneChangeNext; _Matrix; _Range; _ChromaLocation;
 * _FieldBased). */
static PyObject *frame_props(const VSFrame *frame, const VSAPI *vsapi) {
    static const char *keys[] = {"_Matrix", "_Range", "_ChromaLocation", "_FieldBased"};
    const VSMap *props = vsapi->getFramePropertiesRO(frame);
    int e1 = 0, e2 = 0;
    int64_t prev = vsapi->mapGetInt(props, "_SceneChangePrev", 0, &e1);
    int64_t next = vsapi->mapGetInt(props, "_SceneChangeNext", 0, &e2);
    long values[5] = {(!e1 && prev ? 1 : 0) | (!e2 && next ? 2 : 0), -1, -1, -1, -1};
    for (int k = 0; k < 4; k++) {
        int e = 0;
        int64_t v = vsapi->mapGetInt(props, keys[k], 0, &e);
        if (!e) values[k + 1] = (long)v;
    }
    return Py_BuildValue("(lllll)", values[0], values[1], values[2], values[3], values[4]);
}

static PyObject *window_props(const VSFrame **src, int count, const VSAPI *vsapi) {
    PyObject *t = PyTuple_New(count);
    for (int f = 0; t && f < count; f++)
        PyTuple_SetItem(t, f, frame_props(src[f], vsapi));
    return t;
}

/* Fills dst from the window of source frames through the Python core; *flags gets its flags
 * (bit 0: the frame sits just before a scene cut; bit 1: it is the first after one). */
static int call_process(InterpolateData *d, int n, const VSFrame **src, int count, VSFrame *dst,
                        const VSAPI *vsapi, long *flags, char *err, size_t errsize) {
    const void *src_ptrs[MAX_WINDOW * MAX_PLANES], *dst_ptrs[MAX_PLANES];
    ptrdiff_t src_strides[MAX_WINDOW * MAX_PLANES], dst_strides[MAX_PLANES];
    for (int f = 0; f < count; f++)
        for (int p = 0; p < d->planes; p++) {
            src_ptrs[f * d->planes + p] = vsapi->getReadPtr(src[f], p);
            src_strides[f * d->planes + p] = vsapi->getStride(src[f], p);
        }
    for (int p = 0; p < d->planes; p++) {
        dst_ptrs[p] = vsapi->getWritePtr(dst, p);
        dst_strides[p] = vsapi->getStride(dst, p);
    }
    int total = count * d->planes;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *sp = pointer_tuple(src_ptrs, src_strides, total, 0);
    PyObject *ss = pointer_tuple(src_ptrs, src_strides, total, 1);
    PyObject *dp = pointer_tuple(dst_ptrs, dst_strides, d->planes, 0);
    PyObject *ds = pointer_tuple(dst_ptrs, dst_strides, d->planes, 1);
    PyObject *sc = window_props(src, count, vsapi);
    PyObject *result = NULL;
    if (sp && ss && dp && ds && sc)
        result = PyObject_CallMethod(d->bridge, "process", "OiOOOOO", d->instance, n, sp, ss, dp, ds, sc);
    *flags = result ? PyLong_AsLong(result) : 0;
    int ok = result != NULL && !PyErr_Occurred();
    if (!ok) take_python_error(err, errsize);
    Py_XDECREF(result);
    Py_XDECREF(sc);
    Py_XDECREF(sp);
    Py_XDECREF(ss);
    Py_XDECREF(dp);
    Py_XDECREF(ds);
    PyGILState_Release(gil);
    return ok;
}

/* Hands the probe's frames to bridge.analyse (their planes, as process gets them). */
static int call_analyse(InterpolateData *d, int n, const VSFrame **src, const int *index, int count,
                        const VSAPI *vsapi, char *err, size_t errsize) {
    int total = count * d->planes;
    const void **ptrs = (const void **)malloc(sizeof(void *) * (size_t)total);
    ptrdiff_t *strides = (ptrdiff_t *)malloc(sizeof(ptrdiff_t) * (size_t)total);
    if (!ptrs || !strides) {
        free(ptrs);
        free(strides);
        snprintf(err, errsize, FILTER ": out of memory");
        return 0;
    }
    for (int f = 0; f < count; f++)
        for (int p = 0; p < d->planes; p++) {
            ptrs[f * d->planes + p] = vsapi->getReadPtr(src[f], p);
            strides[f * d->planes + p] = vsapi->getStride(src[f], p);
        }
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *indices = PyTuple_New(count);
    for (int f = 0; indices && f < count; f++)
        PyTuple_SetItem(indices, f, PyLong_FromLong(index[f]));
    PyObject *sp = pointer_tuple(ptrs, strides, total, 0);
    PyObject *ss = pointer_tuple(ptrs, strides, total, 1);
    PyObject *result = NULL;
    if (indices && sp && ss)
        result = PyObject_CallMethod(d->bridge, "analyse", "OiOOO", d->instance, n, indices, sp, ss);
    int ok = result != NULL && !PyErr_Occurred();
    if (!ok) take_python_error(err, errsize);
    Py_XDECREF(result);
    Py_XDECREF(indices);
    Py_XDECREF(sp);
    Py_XDECREF(ss);
    PyGILState_Release(gil);
    free(ptrs);
    free(strides);
    return ok;
}

/* Durations: a stage that splits every source frame into equal parts (duration_divisor > 1) splits the
 * source frame's own duration, so variable-rate clips keep their timing (halved durations out); otherwise, or
 * when the frame has none, they follow the output rate. Interpolated frames are marked. */
static void set_output_props(InterpolateData *d, VSFrame *dst, int interpolated, long flags, long repeat_mark,
                             const VSAPI *vsapi) {
    VSMap *props = vsapi->getFramePropertiesRW(dst);
    int64_t num = 0, den = 0;
    int too_fine = 0;        /* the split duration has no exact 64-bit fraction */
    if (d->duration_divisor > 1) {
        int e1 = 0, e2 = 0;
        num = vsapi->mapGetInt(props, "_DurationNum", 0, &e1);
        den = vsapi->mapGetInt(props, "_DurationDen", 0, &e2);
        if (e1 || e2 || num <= 0 || den <= 0) {
            num = den = 0;
        } else {
            int64_t divisor = d->duration_divisor, g = gcd64(num, divisor);
            num /= g;
            divisor /= g;
            if (den > INT64_MAX / divisor) {   /* checked: a signed overflow would be a garbage duration */
                num = den = 0;
                too_fine = 1;
            } else {
                den *= divisor;
            }
        }
    }
    if ((num <= 0 || den <= 0) && d->vi.fpsNum > 0 && d->vi.fpsDen > 0) {
        num = d->vi.fpsDen;
        den = d->vi.fpsNum;
    }
    if (num > 0 && den > 0) {
        int64_t g = gcd64(num, den);
        vsapi->mapSetInt(props, "_DurationNum", num / g, maReplace);
        vsapi->mapSetInt(props, "_DurationDen", den / g, maReplace);
    } else if (too_fine) {   /* no rate to fall back on: no duration rather than the source frame's whole one */
        vsapi->mapDeleteKey(props, "_DurationNum");
        vsapi->mapDeleteKey(props, "_DurationDen");
    }
    /* a frame interpolated by an earlier stage stays marked when a later stage passes it through */
    if (interpolated || vsapi->mapNumElements(props, "ConvLSTMInterpolated") <= 0)
        vsapi->mapSetInt(props, "ConvLSTMInterpolated", interpolated, maReplace);
    /* Scene marks describe the output's own neighbours: a made frame takes none from the source frame it was
     * allocated from, and a source frame followed by made frames loses _SceneChangeNext; Python flags the one
     * output that does end a scene (the last copy before a cut). */
    if (interpolated) {
        vsapi->mapDeleteKey(props, "_SceneChangePrev");
        vsapi->mapDeleteKey(props, "_SceneChangeNext");
        /* an alpha plane is frame i's, not the new picture's: a made frame carries none (docs/usage.md) */
        vsapi->mapDeleteKey(props, "_Alpha");
    } else if (d->clears_next) {
        vsapi->mapDeleteKey(props, "_SceneChangeNext");
    }
    if (flags & 1) vsapi->mapSetInt(props, "_SceneChangeNext", 1, maReplace);
    if (flags & 2) vsapi->mapSetInt(props, "_SceneChangePrev", 1, maReplace);
    /* dedup: whether the source frame at this output's time repeats the one before (docs/usage.md) */
    if (repeat_mark >= 0) vsapi->mapSetInt(props, "ConvLSTMRepeat", repeat_mark, maReplace);
}

static void free_plan(Plan *plan) {
    if (plan) free(plan->probe_index);
    free(plan);
}

/* After any probe: asks for the next probe (dedup), or plans the output and requests its frames.
 * Returns 0 with err set on failure. */
static int request_next(InterpolateData *d, int n, Plan *plan, VSFrameContext *frameCtx, const VSAPI *vsapi,
                        char *err, size_t errsize) {
    if (d->probes) {
        if (!call_probe(d, n, plan, err, errsize)) return 0;
        if (plan->probe_count > 0) {
            if (++plan->rounds > MAX_PROBE_ROUNDS) {
                snprintf(err, errsize, FILTER ": internal error: frame %d still needs frames after %d probes", n,
                         MAX_PROBE_ROUNDS);
                return 0;
            }
            plan->probing = 1;
            for (int i = 0; i < plan->probe_count; i++)
                vsapi->requestFrameFilter(plan->probe_index[i], d->node, frameCtx);
            return 1;
        }
    }
    plan->probing = 0;
    if (!call_plan(d, n, plan, err, errsize)) return 0;
    if (d->probes && !call_repeat_mark(d, n, plan, err, errsize)) return 0;
    for (int i = 0; i < plan->count; i++)
        vsapi->requestFrameFilter(plan->index[i], d->node, frameCtx);
    return 1;
}

/* The probe's frames are ready: hand them to Python, then go on to the next probe or the plan. */
static int analyse_probe(InterpolateData *d, int n, Plan *plan, VSFrameContext *frameCtx, const VSAPI *vsapi,
                         char *err, size_t errsize) {
    int count = plan->probe_count;
    const VSFrame **src = (const VSFrame **)malloc(sizeof(VSFrame *) * (size_t)count);
    if (!src) {
        snprintf(err, errsize, FILTER ": out of memory");
        return 0;
    }
    for (int i = 0; i < count; i++)
        src[i] = vsapi->getFrameFilter(plan->probe_index[i], d->node, frameCtx);
    int ok = call_analyse(d, n, src, plan->probe_index, count, vsapi, err, errsize);
    for (int i = 0; i < count; i++)
        vsapi->freeFrame(src[i]);
    free(src);
    return ok && request_next(d, n, plan, frameCtx, vsapi, err, errsize);
}

/* The plan's frames are ready: the output frame (a source frame passed through, or a made one). */
static const VSFrame *make_output(InterpolateData *d, int n, Plan *plan, VSFrameContext *frameCtx, VSCore *core,
                                  const VSAPI *vsapi, char *err, size_t errsize) {
    const VSFrame *src[MAX_WINDOW];
    for (int i = 0; i < plan->count; i++)
        src[i] = vsapi->getFrameFilter(plan->index[i], d->node, frameCtx);
    VSFrame *dst;
    int ok = 1;
    long flags = 0;
    if (plan->count == 1) {
        dst = vsapi->copyFrame(src[0], core);  /* same pixels, copy-on-write */
        set_output_props(d, dst, 0, 0, plan->repeat_mark, vsapi);
    } else {
        /* the props of the source frame at the output's time: frame i of the window, or a fifth named one */
        dst = vsapi->newVideoFrame(&d->vi.format, d->vi.width, d->vi.height, src[plan->count == 5 ? 4 : 1], core);
        ok = call_process(d, n, src, plan->count, dst, vsapi, &flags, err, errsize);
        if (ok) set_output_props(d, dst, 1, flags, plan->repeat_mark, vsapi);
    }
    for (int i = 0; i < plan->count; i++)
        vsapi->freeFrame(src[i]);
    if (!ok) {
        vsapi->freeFrame(dst);
        return NULL;
    }
    return dst;
}

static const VSFrame *VS_CC interpolateGetFrame(int n, int activationReason, void *instanceData, void **frameData,
                                               VSFrameContext *frameCtx, VSCore *core, const VSAPI *vsapi) {
    InterpolateData *d = (InterpolateData *)instanceData;
    char err[1024] = "";
    Plan *plan = (Plan *)*frameData;
    const VSFrame *result = NULL;
    int ok = 1;
    if (activationReason == arInitial) {
        plan = (Plan *)calloc(1, sizeof(Plan));
        if (!plan) {
            vsapi->setFilterError(FILTER ": out of memory", frameCtx);
            return NULL;
        }
        plan->repeat_mark = -1;
        *frameData = plan;
        ok = request_next(d, n, plan, frameCtx, vsapi, err, sizeof err);
    } else if (activationReason == arAllFramesReady && plan->probing) {
        ok = analyse_probe(d, n, plan, frameCtx, vsapi, err, sizeof err);
    } else if (activationReason == arAllFramesReady) {
        result = make_output(d, n, plan, frameCtx, core, vsapi, err, sizeof err);
        ok = result != NULL;
        free_plan(plan);
        *frameData = NULL;
    } else if (activationReason == arError) {
        free_plan(plan);
        *frameData = NULL;
    }
    if (!ok) {
        free_plan((Plan *)*frameData);
        *frameData = NULL;
        vsapi->setFilterError(err, frameCtx);
    }
    return result;
}

static void VS_CC interpolateFree(void *instanceData, VSCore *core, const VSAPI *vsapi) {
    InterpolateData *d = (InterpolateData *)instanceData;
    vsapi->freeNode(d->node);
    if (python_ready()) {
        PyGILState_STATE gil = PyGILState_Ensure();
        Py_XDECREF(d->instance);
        Py_XDECREF(d->bridge);
        PyGILState_Release(gil);
    }
    free(d);
}

/* Every argument but the clip, as a dict of str/int/float for the Python side to validate. */
static PyObject *args_to_dict(const VSMap *in, const VSAPI *vsapi) {
    PyObject *dict = PyDict_New();
    int keys = vsapi->mapNumKeys(in);
    for (int k = 0; dict && k < keys; k++) {
        const char *key = vsapi->mapGetKey(in, k);
        PyObject *value = NULL;
        switch (vsapi->mapGetType(in, key)) {
        case ptInt: value = PyLong_FromLongLong(vsapi->mapGetInt(in, key, 0, NULL)); break;
        case ptFloat: value = PyFloat_FromDouble(vsapi->mapGetFloat(in, key, 0, NULL)); break;
        /* the file system's decoding: a path that is not UTF-8 still names its file */
        case ptData: value = PyUnicode_DecodeFSDefaultAndSize(vsapi->mapGetData(in, key, 0, NULL),
                                                         vsapi->mapGetDataSize(in, key, 0, NULL)); break;
        default: continue;  /* the clip */
        }
        if (!value || PyDict_SetItemString(dict, key, value) < 0) {
            Py_XDECREF(value);
            Py_DECREF(dict);
            return NULL;
        }
        Py_DECREF(value);
    }
    return dict;
}

static int get_int_attr(PyObject *obj, const char *name, int64_t *out) {
    PyObject *v = PyObject_GetAttrString(obj, name);
    if (!v) return 0;
    *out = PyLong_AsLongLong(v);
    Py_DECREF(v);
    return !PyErr_Occurred();
}

/* The output clip of one stage, described by its Python instance (contract.py's STAGE_FACTS, checked there
 * before C reads them). Caller holds the GIL. */
static int stage_video_info(PyObject *stage, const VSVideoInfo *in, VSVideoInfo *vi, int64_t *divisor,
                            int64_t *clears_next, int64_t *probes) {
    int64_t num_frames = 0, fps_num = 0, fps_den = 0;
    if (!get_int_attr(stage, "num_frames", &num_frames) || !get_int_attr(stage, "fps_num", &fps_num) ||
        !get_int_attr(stage, "fps_den", &fps_den) || !get_int_attr(stage, "duration_divisor", divisor) ||
        !get_int_attr(stage, "clears_next", clears_next) || !get_int_attr(stage, "probes", probes))
        return 0;
    *vi = *in;
    vi->numFrames = (int)num_frames;
    vi->fpsNum = fps_num;
    vi->fpsDen = fps_den;
    return 1;
}

/*
 * Interpolate(clip, ...) is a chain of stages that Python plans (each a 2x interpolation, or a final
 * retiming to fps_num/fps_den). Every stage is one filter node of the same kind, holding its own
 * Python stage object; the nodes are linked here.
 */
static void VS_CC interpolateCreate(const VSMap *in, VSMap *out, void *userData, VSCore *core, const VSAPI *vsapi) {
    (void)userData;
    if (!python_ready()) {
        vsapi->mapSetError(out, FILTER ": Python is not initialised in this host process; the filter's core is "
                                "Python. Run the script through vspipe, python or another Python-based host.");
        return;
    }
    VSNode *node = vsapi->mapGetNode(in, "clip", 0, NULL);
    const VSVideoInfo *vi = vsapi->getVideoInfo(node);
    char format_name[32] = "";
    if (vi->format.colorFamily != cfUndefined) vsapi->getVideoFormatName(&vi->format, format_name);

    char err[1024] = "";
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *info = Py_BuildValue("{s:i,s:i,s:i,s:L,s:L,s:i,s:i,s:i,s:i,s:i,s:s,s:i}",
                                   "width", vi->width, "height", vi->height, "num_frames", vi->numFrames,
                                   "fps_num", (long long)vi->fpsNum, "fps_den", (long long)vi->fpsDen,
                                   "color_family", vi->format.colorFamily, "sample_type", vi->format.sampleType,
                                   "bits_per_sample", vi->format.bitsPerSample,
                                   "sub_sampling_w", vi->format.subSamplingW, "sub_sampling_h", vi->format.subSamplingH,
                                   "format_name", format_name, "contract", CONVLSTM_CONTRACT);
    PyObject *args = args_to_dict(in, vsapi);
    PyObject *bridge = (info && args) ? PyImport_ImportModule("convlstm.filter.bridge") : NULL;
    PyObject *stages = bridge ? PyObject_CallMethod(bridge, "build", "OO", info, args) : NULL;
    Py_XDECREF(info);
    Py_XDECREF(args);
    int ok = stages && PyList_Check(stages) && PyList_Size(stages) > 0;
    Py_ssize_t count = ok ? PyList_Size(stages) : 0;
    for (Py_ssize_t k = 0; ok && k < count; k++) {
        InterpolateData *d = (InterpolateData *)calloc(1, sizeof(InterpolateData));
        if (!d) {
            snprintf(err, sizeof err, FILTER ": out of memory creating stage %d", (int)k);
            break;
        }
        d->node = node;  /* the stage owns this reference from here on */
        d->source_frames = vsapi->getVideoInfo(node)->numFrames;
        d->planes = vi->format.numPlanes;
        d->instance = PyList_GetItem(stages, k);
        Py_INCREF(d->instance);
        d->bridge = bridge;
        Py_INCREF(bridge);
        if (!stage_video_info(d->instance, vsapi->getVideoInfo(node), &d->vi, &d->duration_divisor, &d->clears_next,
                              &d->probes)) {
            ok = 0;
            Py_DECREF(d->instance);
            Py_DECREF(d->bridge);
            free(d);
            break;
        }
        VSFilterDependency deps[] = {{node, rpGeneral}};
        /* Frames are filled in parallel: the Python core is thread-safe and batches the windows of frames
         * requested together into one forward pass (convlstm/filter/batcher.py). */
        node = vsapi->createVideoFilter2("Interpolate", &d->vi, interpolateGetFrame, interpolateFree,
                                         fmParallel, deps, 1, d, core);
        if (!node) {
            snprintf(err, sizeof err, FILTER ": could not create stage %d", (int)k);
            break;
        }
    }
    if (!ok && !err[0]) {
        if (PyErr_Occurred())
            take_python_error(err, sizeof err);
        else
            snprintf(err, sizeof err, FILTER ": internal error: the Python core planned no stages");
    }
    Py_XDECREF(stages);
    Py_XDECREF(bridge);
    PyGILState_Release(gil);
    if (err[0]) {
        vsapi->freeNode(node);
        vsapi->mapSetError(out, err);
        return;
    }
    vsapi->mapConsumeNode(out, "clip", node, maAppend);
}

VS_EXTERNAL_API(void) VapourSynthPluginInit2(VSPlugin *plugin, const VSPLUGINAPI *vspapi) {
    vspapi->configPlugin("com.github.vapoursynth-convlstm", "convlstm",
                         "Frame interpolation with the ConvLSTM residual network (Suzuki & Ikehara 2020)",
                         VS_MAKE_VERSION(0, 1), VAPOURSYNTH_API_VERSION, 0, plugin);
    vspapi->registerFunction("Interpolate", CONVLSTM_SIGNATURE, "clip:vnode;", interpolateCreate, NULL, plugin);
}

/* Python bindings of tessera, written against the CPython C API (C11, no
 * dependencies beyond Python and the library). Host data comes in and goes out
 * through the buffer protocol (bytes, bytearray, array.array, numpy arrays:
 * any C-contiguous buffer); device memory is passed as integer addresses
 * (what torch's data_ptr() and CuPy's .data.ptr give), with cuda_malloc and
 * friends for callers that have neither. A failed library call raises
 * tessera.Error, whose `status` is the tsr_status_t and whose message is the
 * library's (the argument, its value, the rule); a wrong Python argument
 * raises TypeError or ValueError naming it. Every buffer's size is checked
 * here before the library reads or writes it, since the C API takes bare
 * pointers.
 *
 * Built twice from this file: `tessera` on libtessera.a, and, with the CPU
 * emulation, `tessera_emu` on the emulated library, whose device calls run
 * the same kernels on the CPU (how CI tests the device half of the bindings). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "tessera/df11.h"
#include "tessera/tessera.h"
#include "tessera/w4a16.h"

#ifndef TSR_PY_MODULE
#define TSR_PY_MODULE tessera
#endif
#define TSR_PY_STR2(x) #x
#define TSR_PY_STR(x) TSR_PY_STR2(x)
#define TSR_PY_CAT2(a, b) a##b
#define TSR_PY_CAT(a, b) TSR_PY_CAT2(a, b)
#define TSR_PY_NAME TSR_PY_STR(TSR_PY_MODULE)

static PyObject *tsr_py_error; /* tessera.Error */

/* Raises tessera.Error(msg) with .status and .status_name attached. */
static PyObject *raise_error(const char *msg, tsr_status_t st)
{
    PyObject *exc = PyObject_CallFunction(tsr_py_error, "s", msg);
    if (!exc) return NULL;
    PyObject *code = PyLong_FromLong((long)st), *name = PyUnicode_FromString(tsr_status_string(st));
    if (code && name && PyObject_SetAttrString(exc, "status", code) == 0 && PyObject_SetAttrString(exc, "status_name", name) == 0)
        PyErr_SetObject(tsr_py_error, exc);
    Py_XDECREF(code);
    Py_XDECREF(name);
    Py_DECREF(exc);
    return NULL;
}

/* A failed library call: its message (the argument, its value, the rule). */
static PyObject *raise_status(tsr_status_t st)
{
    const char *msg = tsr_last_error();
    return raise_error(msg && *msg ? msg : tsr_status_string(st), st);
}

/* A failed CUDA runtime call: status CUDA_ERROR. */
static PyObject *raise_cuda(const char *what, cudaError_t e)
{
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %s", what, cudaGetErrorString(e));
    return raise_error(msg, TSR_STATUS_CUDA_ERROR);
}

/* A contiguous buffer of at least `need` bytes (need < 0: any size). */
static int get_buffer(PyObject *obj, Py_buffer *view, int writable, Py_ssize_t need, const char *arg)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0)) != 0) {
        PyErr_Format(PyExc_TypeError, "%s must be a C-contiguous%s buffer (bytes, bytearray, array, numpy array)", arg,
                     writable ? " writable" : "");
        return -1;
    }
    if (need >= 0 && view->len < need) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd bytes; it must hold at least %zd", arg, view->len, need);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* A device address: a non-negative int (0 is NULL). */
static int get_address(PyObject *obj, void **p, const char *arg)
{
    if (obj == Py_None) {
        *p = NULL;
        return 0;
    }
    unsigned long long v = PyLong_AsUnsignedLongLong(obj);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s must be a device address (a non-negative int) or None", arg);
        return -1;
    }
    *p = (void *)(uintptr_t)v;
    return 0;
}

static int parse_dtype(const char *s, tsr_dtype_t *dt, const char *arg)
{
    if (!strcmp(s, "f16") || !strcmp(s, "float16")) *dt = TSR_DTYPE_F16;
    else if (!strcmp(s, "bf16") || !strcmp(s, "bfloat16")) *dt = TSR_DTYPE_BF16;
    else {
        PyErr_Format(PyExc_ValueError, "%s='%s' must be 'f16' or 'bf16'", arg, s);
        return -1;
    }
    return 0;
}

/* ---- module-level: version, device memory helpers ---------------------------- */
static PyObject *py_version(PyObject *self, PyObject *args)
{
    (void)self;
    (void)args;
    return PyLong_FromLong(tsr_version());
}

static PyObject *py_w4a16_config_count(PyObject *self, PyObject *args)
{
    (void)self;
    (void)args;
    return PyLong_FromLong(tsr_w4a16_config_count());
}

static PyObject *py_cuda_malloc(PyObject *self, PyObject *args)
{
    (void)self;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "n:cuda_malloc", &n)) return NULL;
    if (n < 0) return PyErr_Format(PyExc_ValueError, "bytes=%zd must be >= 0", n);
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, (size_t)(n ? n : 1));
    if (e != cudaSuccess) return raise_cuda("cudaMalloc", e);
    return PyLong_FromUnsignedLongLong((unsigned long long)(uintptr_t)p);
}

static PyObject *py_cuda_free(PyObject *self, PyObject *arg)
{
    (void)self;
    void *p;
    if (get_address(arg, &p, "ptr")) return NULL;
    cudaError_t e = cudaFree(p);
    if (e != cudaSuccess) return raise_cuda("cudaFree", e);
    Py_RETURN_NONE;
}

static PyObject *py_cuda_memset(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *dst;
    int value;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "Oin:cuda_memset", &dst, &value, &n)) return NULL;
    void *p;
    if (get_address(dst, &p, "ptr")) return NULL;
    if (n < 0) return PyErr_Format(PyExc_ValueError, "bytes=%zd must be >= 0", n);
    cudaError_t e = cudaMemset(p, value, (size_t)n);
    if (e != cudaSuccess) return raise_cuda("cudaMemset", e);
    Py_RETURN_NONE;
}

/* cuda_memcpy_htod(dst, src_buffer) copies the whole host buffer to the
 * device address; cuda_memcpy_dtoh(dst_buffer, src) fills the whole writable
 * host buffer from it. */
static PyObject *memcpy_call(PyObject *args, int to_device)
{
    PyObject *dst, *src;
    if (!PyArg_ParseTuple(args, to_device ? "OO:cuda_memcpy_htod" : "OO:cuda_memcpy_dtoh", &dst, &src)) return NULL;
    void *p;
    Py_buffer b;
    if (get_address(to_device ? dst : src, &p, to_device ? "dst" : "src") ||
        get_buffer(to_device ? src : dst, &b, !to_device, -1, to_device ? "src" : "dst"))
        return NULL;
    cudaError_t e = to_device ? cudaMemcpy(p, b.buf, (size_t)b.len, cudaMemcpyHostToDevice)
                              : cudaMemcpy(b.buf, p, (size_t)b.len, cudaMemcpyDeviceToHost);
    PyBuffer_Release(&b);
    if (e != cudaSuccess) return raise_cuda(to_device ? "cudaMemcpy (host to device)" : "cudaMemcpy (device to host)", e);
    Py_RETURN_NONE;
}

static PyObject *py_memcpy_htod(PyObject *self, PyObject *args)
{
    (void)self;
    return memcpy_call(args, 1);
}

static PyObject *py_memcpy_dtoh(PyObject *self, PyObject *args)
{
    (void)self;
    return memcpy_call(args, 0);
}

static PyObject *py_cuda_synchronize(PyObject *self, PyObject *args)
{
    (void)self;
    (void)args;
    cudaError_t e = cudaDeviceSynchronize();
    if (e != cudaSuccess) return raise_cuda("cudaDeviceSynchronize", e);
    Py_RETURN_NONE;
}

/* ---- DFloat11 -------------------------------------------------------------------- */
/* df11_encode(tensors, chunk_steps=0) -> bytes; tensors: [(name, data, shape)],
 * data the bf16 bit patterns (2 bytes each), shape a sequence of ints or None
 * (1-D). */
static PyObject *py_df11_encode(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *names[] = {"tensors", "chunk_steps", NULL};
    PyObject *seq_in;
    int steps = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|i:df11_encode", names, &seq_in, &steps)) return NULL;
    PyObject *seq = PySequence_Fast(seq_in, "tensors must be a sequence of (name, data, shape)");
    if (!seq) return NULL;
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > INT32_MAX) {
        Py_DECREF(seq);
        return PyErr_Format(PyExc_ValueError, "tensors holds %zd entries; at most %d", n, INT32_MAX);
    }
    tsr_df11_tensor_t *t = PyMem_Calloc((size_t)(n ? n : 1), sizeof *t);
    Py_buffer *views = PyMem_Calloc((size_t)(n ? n : 1), sizeof *views);
    PyObject *result = NULL;
    Py_ssize_t held = 0;
    if (!t || !views) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i), *name, *data, *shape;
        if (!PyTuple_Check(item) || !PyArg_ParseTuple(item, "UOO", &name, &data, &shape)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "tensors[%zd] must be a tuple (name: str, data: buffer, shape: ints or None)", i);
            goto done;
        }
        t[i].name = PyUnicode_AsUTF8(name);
        if (!t[i].name) goto done;
        if (get_buffer(data, &views[i], 0, -1, "tensors[i].data")) goto done;
        held++;
        if (views[i].len % 2) {
            PyErr_Format(PyExc_ValueError, "tensors[%zd].data holds %zd bytes: bf16 needs an even count", i, views[i].len);
            goto done;
        }
        t[i].data = (const uint16_t *)views[i].buf;
        if (shape == Py_None) {
            t[i].ndim = 1;
            t[i].dims[0] = views[i].len / 2;
        } else {
            PyObject *dims = PySequence_Fast(shape, "shape must be a sequence of ints");
            if (!dims) goto done;
            const Py_ssize_t nd = PySequence_Fast_GET_SIZE(dims);
            if (nd > TSR_DF11_MAX_DIMS) {
                Py_DECREF(dims);
                PyErr_Format(PyExc_ValueError, "tensors[%zd].shape has %zd dimensions; at most %d", i, nd, TSR_DF11_MAX_DIMS);
                goto done;
            }
            long long count = 1;
            for (Py_ssize_t d = 0; d < nd; d++) {
                long long v = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(dims, d));
                if (PyErr_Occurred() || v < 0) {
                    Py_DECREF(dims);
                    PyErr_Clear();
                    PyErr_Format(PyExc_ValueError, "tensors[%zd].shape[%zd] must be a non-negative int", i, d);
                    goto done;
                }
                t[i].dims[d] = v;
                count = v && count > INT64_MAX / v ? -1 : count * v;
                if (count < 0) break;
            }
            Py_DECREF(dims);
            t[i].ndim = (int)nd;
            if (count < 0 || count * 2 != views[i].len) {
                PyErr_Format(PyExc_ValueError, "tensors[%zd]: shape holds %lld elements but data holds %zd bf16 values", i, count,
                             views[i].len / 2);
                goto done;
            }
        }
    }
    {
        void *container = NULL;
        size_t bytes = 0;
        tsr_df11_encode_options_t opt = {steps};
        tsr_status_t st;
        Py_BEGIN_ALLOW_THREADS
        st = tsr_df11_encode_with(t, (int)n, &opt, &container, &bytes);
        Py_END_ALLOW_THREADS
        if (st) raise_status(st);
        else result = PyBytes_FromStringAndSize(container, (Py_ssize_t)bytes);
        free(container);
    }
done:
    for (Py_ssize_t i = 0; i < held; i++) PyBuffer_Release(&views[i]);
    PyMem_Free(views);
    PyMem_Free(t);
    Py_DECREF(seq);
    return result;
}

/* A parsed container as a dict. */
static PyObject *info_dict(const tsr_df11_info_t *info)
{
    PyObject *tensors = PyList_New((Py_ssize_t)info->tensors);
    if (!tensors) return NULL;
    for (uint32_t i = 0; i < info->tensors; i++) {
        const tsr_df11_tensor_info_t *ti = &info->tensor[i];
        PyObject *shape = PyTuple_New(ti->ndim);
        if (!shape) goto fail;
        for (int d = 0; d < ti->ndim; d++) PyTuple_SET_ITEM(shape, d, PyLong_FromLongLong((long long)ti->dims[d]));
        PyObject *t = Py_BuildValue("{s:s,s:N,s:K,s:K}", "name", ti->name, "shape", shape, "offset",
                                    (unsigned long long)ti->offset, "count", (unsigned long long)ti->count);
        if (!t) goto fail;
        PyList_SET_ITEM(tensors, i, t);
    }
    PyObject *sections = Py_BuildValue("{s:K,s:K,s:K,s:K,s:K,s:K}", "lengths_offset", (unsigned long long)info->lengths_offset,
                                       "chunk_base_offset", (unsigned long long)info->chunk_base_offset, "lane_bits_offset",
                                       (unsigned long long)info->lane_bits_offset, "stream_offset",
                                       (unsigned long long)info->stream_offset, "stream_words",
                                       (unsigned long long)info->stream_words, "raw_offset", (unsigned long long)info->raw_offset);
    if (!sections) goto fail;
    return Py_BuildValue("{s:I,s:K,s:K,s:N,s:I,s:I,s:I,s:I,s:N}", "version", info->version, "bytes",
                         (unsigned long long)info->bytes, "symbols", (unsigned long long)info->symbols, "tensors", tensors,
                         "code_bits", info->code_bits, "chunks", info->chunks, "chunk_steps", info->chunk_steps, "lane_bytes",
                         info->lane_bytes, "sections", sections);
fail:
    Py_DECREF(tensors);
    return NULL;
}

/* Parses `obj` (a container buffer) into *info; the view stays held. */
static int parse_container(PyObject *obj, Py_buffer *view, tsr_df11_info_t *info)
{
    if (get_buffer(obj, view, 0, -1, "container")) return -1;
    tsr_status_t st = tsr_df11_parse(view->buf, (size_t)view->len, info);
    if (st) {
        PyBuffer_Release(view);
        raise_status(st);
        return -1;
    }
    return 0;
}

static PyObject *py_df11_parse(PyObject *self, PyObject *arg)
{
    (void)self;
    Py_buffer view;
    tsr_df11_info_t info;
    if (parse_container(arg, &view, &info)) return NULL;
    PyObject *d = info_dict(&info);
    tsr_df11_info_free(&info);
    PyBuffer_Release(&view);
    return d;
}

/* df11_decode_host(container, outs=None) -> list: every tensor as a
 * bytearray of bf16 bit patterns, or into the writable buffers of outs (None
 * skips a tensor; the list then holds outs). */
static PyObject *py_df11_decode_host(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *names[] = {"container", "outs", NULL};
    PyObject *cobj, *outs = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O:df11_decode_host", names, &cobj, &outs)) return NULL;
    Py_buffer cview;
    tsr_df11_info_t info;
    if (parse_container(cobj, &cview, &info)) return NULL;
    const uint32_t n = info.tensors;
    PyObject *list = NULL, *seq = NULL;
    uint16_t **dests = PyMem_Calloc(n ? n : 1, sizeof *dests);
    Py_buffer *views = PyMem_Calloc(n ? n : 1, sizeof *views);
    uint32_t held = 0;
    if (!dests || !views) {
        PyErr_NoMemory();
        goto done;
    }
    if (outs != Py_None) {
        seq = PySequence_Fast(outs, "outs must be a sequence of writable buffers or None");
        if (!seq) goto done;
        if (PySequence_Fast_GET_SIZE(seq) != (Py_ssize_t)n) {
            PyErr_Format(PyExc_ValueError, "outs holds %zd entries; the container holds %u tensors", PySequence_Fast_GET_SIZE(seq), n);
            goto done;
        }
    }
    list = PyList_New(n);
    if (!list) goto done;
    for (uint32_t i = 0; i < n; i++) {
        const Py_ssize_t need = (Py_ssize_t)(info.tensor[i].count * 2);
        PyObject *o;
        if (seq) {
            o = PySequence_Fast_GET_ITEM(seq, i);
            Py_INCREF(o);
        } else {
            o = PyByteArray_FromStringAndSize(NULL, need);
            if (!o) goto done;
        }
        PyList_SET_ITEM(list, i, o);
        if (o == Py_None) continue;
        if (get_buffer(o, &views[held], 1, need, "outs[i]")) goto done;
        dests[i] = (uint16_t *)views[held].buf;
        held++;
        if ((uintptr_t)dests[i] % 2) {
            PyErr_Format(PyExc_ValueError, "outs[%u] is not 2-byte aligned", i);
            goto done;
        }
    }
    {
        tsr_status_t st;
        Py_BEGIN_ALLOW_THREADS
        st = tsr_df11_decode_host(cview.buf, &info, dests);
        Py_END_ALLOW_THREADS
        if (st) {
            raise_status(st);
            goto done;
        }
    }
    for (uint32_t i = 0; i < held; i++) PyBuffer_Release(&views[i]);
    held = 0;
    PyMem_Free(views);
    PyMem_Free(dests);
    Py_XDECREF(seq);
    tsr_df11_info_free(&info);
    PyBuffer_Release(&cview);
    return list;
done:
    for (uint32_t i = 0; i < held; i++) PyBuffer_Release(&views[i]);
    PyMem_Free(views);
    PyMem_Free(dests);
    Py_XDECREF(seq);
    Py_XDECREF(list);
    tsr_df11_info_free(&info);
    PyBuffer_Release(&cview);
    return NULL;
}

static PyObject *py_df11_workspace_size(PyObject *self, PyObject *arg)
{
    (void)self;
    Py_buffer view;
    tsr_df11_info_t info;
    if (parse_container(arg, &view, &info)) return NULL;
    size_t bytes = 0;
    tsr_status_t st = tsr_df11_workspace_size(&info, &bytes);
    tsr_df11_info_free(&info);
    PyBuffer_Release(&view);
    if (st) return raise_status(st);
    return PyLong_FromSize_t(bytes);
}

static PyObject *py_df11_write_file(PyObject *self, PyObject *args)
{
    (void)self;
    const char *path;
    PyObject *cobj;
    if (!PyArg_ParseTuple(args, "sO:df11_write_file", &path, &cobj)) return NULL;
    Py_buffer view;
    if (get_buffer(cobj, &view, 0, -1, "container")) return NULL;
    tsr_status_t st = tsr_df11_write_file(path, view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    if (st) return raise_status(st);
    Py_RETURN_NONE;
}

static PyObject *py_df11_read_file(PyObject *self, PyObject *args)
{
    (void)self;
    const char *path;
    if (!PyArg_ParseTuple(args, "s:df11_read_file", &path)) return NULL;
    void *c = NULL;
    size_t bytes = 0;
    tsr_df11_info_t info;
    tsr_status_t st = tsr_df11_read_file(path, &c, &bytes, &info);
    if (st) return raise_status(st);
    tsr_df11_info_free(&info);
    PyObject *r = PyBytes_FromStringAndSize(c, (Py_ssize_t)bytes);
    free(c);
    return r;
}

/* ---- W4A16 layout -------------------------------------------------------------------- */
typedef struct {
    PyObject_HEAD tsr_w4a16_layout_t l;
} layout_object;

static PyTypeObject layout_type;

static PyObject *layout_get(PyObject *self, void *closure)
{
    const tsr_w4a16_layout_t *l = &((layout_object *)self)->l;
    const char *f = closure;
#define TSR_PY_INT_FIELD(x) \
    if (!strcmp(f, #x)) return PyLong_FromLong((long)l->x);
#define TSR_PY_SIZE_FIELD(x) \
    if (!strcmp(f, #x)) return PyLong_FromSize_t(l->x);
    TSR_PY_INT_FIELD(k) TSR_PY_INT_FIELD(n) TSR_PY_INT_FIELD(group_size) TSR_PY_INT_FIELD(k_padded)
    TSR_PY_INT_FIELD(n_padded) TSR_PY_INT_FIELD(groups) TSR_PY_INT_FIELD(has_zeros) TSR_PY_INT_FIELD(act_order)
    TSR_PY_SIZE_FIELD(total_bytes) TSR_PY_SIZE_FIELD(qweight_offset) TSR_PY_SIZE_FIELD(scales_offset)
    TSR_PY_SIZE_FIELD(zeros_offset) TSR_PY_SIZE_FIELD(perm_offset)
#undef TSR_PY_INT_FIELD
#undef TSR_PY_SIZE_FIELD
    if (!strcmp(f, "dtype")) return PyUnicode_FromString(tsr_dtype_name(l->dtype));
    return PyErr_Format(PyExc_AttributeError, "%s", f);
}

static PyGetSetDef layout_getset[] = {
#define TSR_PY_GET(x) {.name = #x, .get = layout_get, .closure = #x},
    TSR_PY_GET(k) TSR_PY_GET(n) TSR_PY_GET(group_size) TSR_PY_GET(k_padded) TSR_PY_GET(n_padded) TSR_PY_GET(groups)
    TSR_PY_GET(has_zeros) TSR_PY_GET(act_order) TSR_PY_GET(total_bytes) TSR_PY_GET(qweight_offset)
    TSR_PY_GET(scales_offset) TSR_PY_GET(zeros_offset) TSR_PY_GET(perm_offset) TSR_PY_GET(dtype)
#undef TSR_PY_GET
    {.name = NULL}};

static PyObject *layout_repr(PyObject *self)
{
    const tsr_w4a16_layout_t *l = &((layout_object *)self)->l;
    return PyUnicode_FromFormat("W4A16Layout(k=%d, n=%d, group_size=%d, dtype='%s', has_zeros=%d, act_order=%d, total_bytes=%zu)",
                                l->k, l->n, l->group_size, tsr_dtype_name(l->dtype), l->has_zeros, l->act_order,
                                l->total_bytes);
}

static PyTypeObject layout_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = TSR_PY_NAME ".W4A16Layout",
    .tp_basicsize = sizeof(layout_object),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Where each part of a packed W4A16 weight lives (from w4a16_layout).",
    .tp_getset = layout_getset,
    .tp_repr = layout_repr,
};

static const tsr_w4a16_layout_t *get_layout(PyObject *obj)
{
    if (!PyObject_TypeCheck(obj, &layout_type)) {
        PyErr_SetString(PyExc_TypeError, "layout must be a W4A16Layout (from w4a16_layout)");
        return NULL;
    }
    return &((layout_object *)obj)->l;
}

/* w4a16_layout(k, n, group_size=128, dtype='f16', has_zeros=False, act_order=False) */
static PyObject *py_w4a16_layout(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *names[] = {"k", "n", "group_size", "dtype", "has_zeros", "act_order", NULL};
    int k, n, group = 128, has_zeros = 0, act_order = 0;
    const char *dts = "f16";
    if (!PyArg_ParseTupleAndKeywords(args, kw, "ii|ispp:w4a16_layout", names, &k, &n, &group, &dts, &has_zeros, &act_order))
        return NULL;
    tsr_dtype_t dt;
    if (parse_dtype(dts, &dt, "dtype")) return NULL;
    layout_object *o = PyObject_New(layout_object, &layout_type);
    if (!o) return NULL;
    tsr_status_t st = tsr_w4a16_layout(k, n, group, dt, has_zeros, act_order, &o->l);
    if (st) {
        Py_DECREF(o);
        return raise_status(st);
    }
    return (PyObject *)o;
}

/* 16-byte-aligned host scratch of `bytes` (the packers want aligned blobs). */
static void *aligned_scratch(size_t bytes)
{
    return aligned_alloc(16, (bytes + 15) / 16 * 16);
}

/* The source description both packers take, from the layout and the
 * format / scales-dtype names (pointers left NULL). */
static int init_source(const tsr_w4a16_layout_t *l, const char *fmt, const char *sdt, int minus_one, tsr_w4a16_source_t *src)
{
    tsr_w4a16_source_init(src);
    if (!strcmp(fmt, "gptq")) src->format = TSR_W4A16_FORMAT_GPTQ;
    else if (!strcmp(fmt, "awq")) src->format = TSR_W4A16_FORMAT_AWQ;
    else if (!strcmp(fmt, "plain")) src->format = TSR_W4A16_FORMAT_PLAIN;
    else {
        PyErr_Format(PyExc_ValueError, "format='%s' must be 'gptq', 'awq' or 'plain'", fmt);
        return -1;
    }
    src->scales_dtype = l->dtype;
    if (sdt && parse_dtype(sdt, &src->scales_dtype, "scales_dtype")) return -1;
    src->k = l->k;
    src->n = l->n;
    src->group_size = l->group_size;
    src->gptq_zeros_minus_one = minus_one;
    return 0;
}

/* w4a16_pack_host(layout, qweight, scales, format='gptq', qzeros=None,
 * g_idx=None, scales_dtype=None, gptq_zeros_minus_one=True) -> bytearray of
 * layout.total_bytes. The source sizes the layout implies are checked first. */
static PyObject *py_w4a16_pack_host(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *names[] = {"layout", "qweight", "scales", "format", "qzeros", "g_idx", "scales_dtype", "gptq_zeros_minus_one", NULL};
    PyObject *lobj, *qw, *sc, *qz = Py_None, *gi = Py_None;
    const char *fmt = "gptq", *sdt = NULL;
    int minus_one = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOO|sOOzp:w4a16_pack_host", names, &lobj, &qw, &sc, &fmt, &qz, &gi, &sdt, &minus_one))
        return NULL;
    const tsr_w4a16_layout_t *l = get_layout(lobj);
    tsr_w4a16_source_t src;
    if (!l || init_source(l, fmt, sdt, minus_one, &src)) return NULL;
    const Py_ssize_t k = l->k, n = l->n, groups = (l->k + l->group_size - 1) / l->group_size;
    const Py_ssize_t qw_need = k * n / 2; /* 4 bits a weight in every format */
    const Py_ssize_t qz_need = src.format == TSR_W4A16_FORMAT_PLAIN ? groups * n : groups * n / 2;
    Py_buffer bq, bs, bz, bg;
    int hz = 0, hg = 0;
    PyObject *out = NULL;
    void *packed = NULL;
    if (get_buffer(qw, &bq, 0, qw_need, "qweight")) return NULL;
    if (get_buffer(sc, &bs, 0, groups * n * 2, "scales")) {
        PyBuffer_Release(&bq);
        return NULL;
    }
    if (qz != Py_None) {
        if (get_buffer(qz, &bz, 0, qz_need, "qzeros")) goto done;
        hz = 1;
        src.qzeros = bz.buf;
    }
    if (gi != Py_None) {
        if (get_buffer(gi, &bg, 0, k * 4, "g_idx")) goto done;
        hg = 1;
        src.g_idx = (const int32_t *)bg.buf;
    }
    src.qweight = bq.buf;
    src.scales = bs.buf;
    packed = aligned_scratch(l->total_bytes);
    if (!packed) {
        PyErr_NoMemory();
        goto done;
    }
    {
        tsr_status_t st;
        Py_BEGIN_ALLOW_THREADS
        st = tsr_w4a16_pack_host(&src, l, packed);
        Py_END_ALLOW_THREADS
        if (st) raise_status(st);
        else out = PyByteArray_FromStringAndSize(packed, (Py_ssize_t)l->total_bytes);
    }
done:
    free(packed);
    PyBuffer_Release(&bq);
    PyBuffer_Release(&bs);
    if (hz) PyBuffer_Release(&bz);
    if (hg) PyBuffer_Release(&bg);
    return out;
}

/* w4a16_unpack_host(layout, packed) -> (q, scales, zeros, g_idx): q [k][n/2]
 * plain-packed, scales [groups][n] of the layout's dtype, zeros [groups][n]
 * one a byte, g_idx [k] int32; groups of the source (ceil(k / group_size)). */
static PyObject *py_w4a16_unpack_host(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *lobj, *pobj;
    if (!PyArg_ParseTuple(args, "OO:w4a16_unpack_host", &lobj, &pobj)) return NULL;
    const tsr_w4a16_layout_t *l = get_layout(lobj);
    if (!l) return NULL;
    Py_buffer bp;
    if (get_buffer(pobj, &bp, 0, (Py_ssize_t)l->total_bytes, "packed")) return NULL;
    const Py_ssize_t k = l->k, n = l->n, groups = (l->k + l->group_size - 1) / l->group_size;
    PyObject *q = PyByteArray_FromStringAndSize(NULL, k * n / 2), *s = PyByteArray_FromStringAndSize(NULL, groups * n * 2);
    PyObject *z = PyByteArray_FromStringAndSize(NULL, groups * n), *g = PyByteArray_FromStringAndSize(NULL, k * 4);
    void *aligned = aligned_scratch(l->total_bytes);
    PyObject *r = NULL;
    if (!q || !s || !z || !g || !aligned) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        goto done;
    }
    memcpy(aligned, bp.buf, l->total_bytes);
    if ((uintptr_t)PyByteArray_AS_STRING(s) % 2 || (uintptr_t)PyByteArray_AS_STRING(g) % 4) {
        PyErr_SetString(PyExc_RuntimeError, "unpack: bytearray storage is not aligned");
        goto done;
    }
    tsr_status_t st = tsr_w4a16_unpack_host(l, aligned, (uint8_t *)PyByteArray_AS_STRING(q), PyByteArray_AS_STRING(s),
                                            (uint8_t *)PyByteArray_AS_STRING(z), (int32_t *)PyByteArray_AS_STRING(g));
    if (st) {
        raise_status(st);
        goto done;
    }
    r = PyTuple_Pack(4, q, s, z, g);
done:
    free(aligned);
    Py_XDECREF(q);
    Py_XDECREF(s);
    Py_XDECREF(z);
    Py_XDECREF(g);
    PyBuffer_Release(&bp);
    return r;
}

/* ---- Handle: the device half ---------------------------------------------------------- */
typedef struct {
    PyObject_HEAD tsr_handle_t h;
} handle_object;

static PyObject *handle_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    if (!PyArg_ParseTuple(args, ":Handle") || (kw && PyDict_Size(kw))) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "Handle() takes no arguments");
        return NULL;
    }
    handle_object *o = (handle_object *)type->tp_alloc(type, 0);
    if (!o) return NULL;
    tsr_status_t st = tsr_create(&o->h);
    if (st) {
        o->h = NULL;
        Py_DECREF(o);
        return raise_status(st);
    }
    return (PyObject *)o;
}

static void handle_dealloc(PyObject *self)
{
    handle_object *o = (handle_object *)self;
    if (o->h) tsr_destroy(o->h);
    Py_TYPE(self)->tp_free(self);
}

static tsr_handle_t live(PyObject *self)
{
    handle_object *o = (handle_object *)self;
    if (!o->h) PyErr_SetString(PyExc_ValueError, "the handle is closed");
    return o->h;
}

/* The open handle and the W4A16Layout argument, or NULL with the error set. */
static const tsr_w4a16_layout_t *live_layout(PyObject *self, PyObject *lobj, tsr_handle_t *h)
{
    *h = live(self);
    return *h ? get_layout(lobj) : NULL;
}

static PyObject *handle_close(PyObject *self, PyObject *args)
{
    (void)args;
    handle_object *o = (handle_object *)self;
    if (o->h) tsr_destroy(o->h);
    o->h = NULL;
    Py_RETURN_NONE;
}

static PyObject *handle_enter(PyObject *self, PyObject *args)
{
    (void)args;
    Py_INCREF(self);
    return self;
}

static PyObject *handle_exit(PyObject *self, PyObject *args)
{
    return handle_close(self, args);
}

static PyObject *handle_device_info(PyObject *self, PyObject *args)
{
    (void)args;
    tsr_handle_t h = live(self);
    if (!h) return NULL;
    tsr_device_info_t d;
    tsr_status_t st = tsr_get_device_info(h, &d);
    if (st) return raise_status(st);
    return Py_BuildValue("{s:s,s:i,s:(ii),s:i,s:i,s:i,s:i,s:i}", "name", d.name, "device", d.device, "cc", d.cc_major,
                         d.cc_minor, "sm_count", d.sm_count, "l2_bytes", d.l2_bytes, "smem_per_block_optin",
                         d.smem_per_block_optin, "driver_version", d.driver_version, "runtime_version", d.runtime_version);
}

static PyObject *handle_w4a16_workspace_size(PyObject *self, PyObject *args)
{
    PyObject *lobj;
    int m;
    if (!PyArg_ParseTuple(args, "Oi:w4a16_workspace_size", &lobj, &m)) return NULL;
    tsr_handle_t h;
    const tsr_w4a16_layout_t *l = live_layout(self, lobj, &h);
    if (!l) return NULL;
    size_t bytes = 0;
    tsr_status_t st = tsr_w4a16_workspace_size(h, l, m, &bytes);
    if (st) return raise_status(st);
    return PyLong_FromSize_t(bytes);
}

static PyObject *handle_w4a16_can_implement(PyObject *self, PyObject *args)
{
    PyObject *lobj;
    int m;
    if (!PyArg_ParseTuple(args, "Oi:w4a16_can_implement", &lobj, &m)) return NULL;
    tsr_handle_t h;
    const tsr_w4a16_layout_t *l = live_layout(self, lobj, &h);
    if (!l) return NULL;
    tsr_status_t st = tsr_w4a16_can_implement(h, l, m);
    if (st) return raise_status(st);
    Py_RETURN_NONE;
}

/* w4a16_pack_device(layout, qweight, scales, packed, format='gptq',
 * qzeros=None, g_idx=None, scales_dtype=None, gptq_zeros_minus_one=True,
 * stream=0): qweight, scales, qzeros and packed are device addresses (their
 * sizes are the caller's to get right, as in C); g_idx a host buffer of k
 * int32, checked. */
static PyObject *handle_w4a16_pack_device(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"layout", "qweight", "scales", "packed", "format", "qzeros", "g_idx", "scales_dtype",
                            "gptq_zeros_minus_one", "stream", NULL};
    PyObject *lobj, *qo, *so, *po, *zo = Py_None, *go = Py_None, *sto = Py_None;
    const char *fmt = "gptq", *sdt = NULL;
    int minus_one = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOOO|sOOzpO:w4a16_pack_device", names, &lobj, &qo, &so, &po, &fmt, &zo, &go, &sdt,
                                     &minus_one, &sto))
        return NULL;
    tsr_handle_t h;
    const tsr_w4a16_layout_t *l = live_layout(self, lobj, &h);
    tsr_w4a16_source_t src;
    if (!l || init_source(l, fmt, sdt, minus_one, &src)) return NULL;
    void *q, *sc, *z, *p, *st_ptr;
    if (get_address(qo, &q, "qweight") || get_address(so, &sc, "scales") || get_address(zo, &z, "qzeros") ||
        get_address(po, &p, "packed") || get_address(sto, &st_ptr, "stream"))
        return NULL;
    src.qweight = q;
    src.scales = sc;
    src.qzeros = z;
    Py_buffer bg;
    int hg = 0;
    if (go != Py_None) {
        if (get_buffer(go, &bg, 0, (Py_ssize_t)l->k * 4, "g_idx")) return NULL;
        hg = 1;
        src.g_idx = (const int32_t *)bg.buf;
    }
    tsr_status_t st;
    Py_BEGIN_ALLOW_THREADS
    st = tsr_w4a16_pack_device(h, &src, l, p, (cudaStream_t)st_ptr);
    Py_END_ALLOW_THREADS
    if (hg) PyBuffer_Release(&bg);
    if (st) return raise_status(st);
    Py_RETURN_NONE;
}

/* w4a16_dequantize(layout, packed, w, stream=0): w [k][n] of the layout's dtype. */
static PyObject *handle_w4a16_dequantize(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"layout", "packed", "w", "stream", NULL};
    PyObject *lobj, *po, *wo, *so = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOO|O:w4a16_dequantize", names, &lobj, &po, &wo, &so)) return NULL;
    tsr_handle_t h;
    const tsr_w4a16_layout_t *l = live_layout(self, lobj, &h);
    if (!l) return NULL;
    void *p, *w, *s;
    if (get_address(po, &p, "packed") || get_address(wo, &w, "w") || get_address(so, &s, "stream")) return NULL;
    tsr_status_t st = tsr_w4a16_dequantize(h, l, p, w, (cudaStream_t)s);
    if (st) return raise_status(st);
    Py_RETURN_NONE;
}

/* w4a16_query_config(layout, m) -> the configuration id tsr_w4a16_gemm would
 * use (TSR_W4A16_ROUTE_DENSE, -1, for the dense prefill route). */
static PyObject *handle_w4a16_query_config(PyObject *self, PyObject *args)
{
    PyObject *lobj;
    int m, id = 0;
    if (!PyArg_ParseTuple(args, "Oi:w4a16_query_config", &lobj, &m)) return NULL;
    tsr_handle_t h;
    const tsr_w4a16_layout_t *l = live_layout(self, lobj, &h);
    if (!l) return NULL;
    tsr_status_t st = tsr_w4a16_query_config(h, l, m, &id);
    if (st) return raise_status(st);
    return PyLong_FromLong(id);
}

static PyObject *handle_w4a16_config_supported(PyObject *self, PyObject *args)
{
    int id;
    if (!PyArg_ParseTuple(args, "i:w4a16_config_supported", &id)) return NULL;
    tsr_handle_t h = live(self);
    if (!h) return NULL;
    return PyBool_FromLong(tsr_w4a16_config_supported(h, id));
}

/* w4a16_set_prefill(mode): W4A16_PREFILL_KERNEL (0, or False),
 * W4A16_PREFILL_DENSE (1, or True: m >= 1024 through dequantise + cuBLAS)
 * or W4A16_PREFILL_AUTO (2, the default); anything else is refused by the
 * library with its message. */
static PyObject *handle_w4a16_set_prefill(PyObject *self, PyObject *args)
{
    int mode;
    if (!PyArg_ParseTuple(args, "i:w4a16_set_prefill", &mode)) return NULL;
    tsr_handle_t h = live(self);
    if (!h) return NULL;
    tsr_status_t st = tsr_w4a16_set_prefill(h, (tsr_w4a16_prefill_t)mode);
    if (st) return raise_status(st);
    Py_RETURN_NONE;
}

/* w4a16_set_programmatic_launch(enable): True/1 launches the handle's W4A16
 * kernels as programmatic dependent launches (sm_90; elsewhere the library
 * refuses with STATUS_UNSUPPORTED_ARCH and its message). */
static PyObject *handle_w4a16_set_programmatic_launch(PyObject *self, PyObject *args)
{
    int enable;
    if (!PyArg_ParseTuple(args, "p:w4a16_set_programmatic_launch", &enable)) return NULL;
    tsr_handle_t h = live(self);
    if (!h) return NULL;
    tsr_status_t st = tsr_w4a16_set_programmatic_launch(h, enable);
    if (st) return raise_status(st);
    Py_RETURN_NONE;
}

/* w4a16_gemm(layout, m, a, packed, c, workspace, workspace_bytes, bias=None,
 * stream=0), and w4a16_gemm_config with `config` after workspace_bytes:
 * device addresses, as tsr_w4a16_gemm(_config) takes them. */
static PyObject *w4a16_gemm_call(PyObject *self, PyObject *args, PyObject *kw, int forced)
{
    static char *plain[] = {"layout", "m", "a", "packed", "c", "workspace", "workspace_bytes", "bias", "stream", NULL};
    static char *with_config[] = {"layout", "m", "a", "packed", "c", "workspace", "workspace_bytes", "config", "bias", "stream", NULL};
    PyObject *lobj, *ao, *po, *co, *wo, *bo = Py_None, *so = Py_None;
    int m, config = 0;
    Py_ssize_t ws_bytes;
    const int ok = forced ? PyArg_ParseTupleAndKeywords(args, kw, "OiOOOOni|OO:w4a16_gemm_config", with_config, &lobj, &m, &ao, &po,
                                                        &co, &wo, &ws_bytes, &config, &bo, &so)
                          : PyArg_ParseTupleAndKeywords(args, kw, "OiOOOOn|OO:w4a16_gemm", plain, &lobj, &m, &ao, &po, &co, &wo,
                                                        &ws_bytes, &bo, &so);
    if (!ok) return NULL;
    tsr_handle_t h;
    const tsr_w4a16_layout_t *l = live_layout(self, lobj, &h);
    if (!l) return NULL;
    void *a, *p, *c, *w, *b, *s;
    if (get_address(ao, &a, "a") || get_address(po, &p, "packed") || get_address(co, &c, "c") ||
        get_address(wo, &w, "workspace") || get_address(bo, &b, "bias") || get_address(so, &s, "stream"))
        return NULL;
    if (ws_bytes < 0) return PyErr_Format(PyExc_ValueError, "workspace_bytes=%zd must be >= 0", ws_bytes);
    tsr_status_t st;
    Py_BEGIN_ALLOW_THREADS
    st = forced ? tsr_w4a16_gemm_config(h, l, m, a, p, b, c, w, (size_t)ws_bytes, config, (cudaStream_t)s)
                : tsr_w4a16_gemm(h, l, m, a, p, b, c, w, (size_t)ws_bytes, (cudaStream_t)s);
    Py_END_ALLOW_THREADS
    if (st) return raise_status(st);
    Py_RETURN_NONE;
}

static PyObject *handle_w4a16_gemm(PyObject *self, PyObject *args, PyObject *kw) { return w4a16_gemm_call(self, args, kw, 0); }
static PyObject *handle_w4a16_gemm_config(PyObject *self, PyObject *args, PyObject *kw) { return w4a16_gemm_call(self, args, kw, 1); }

/* df11_decode(container_dev, container, dests, workspace, workspace_bytes,
 * stream=0): container is the host copy (parsed for the layout), dests one
 * device address (or None) per tensor. */
static PyObject *handle_df11_decode(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"container_dev", "container", "dests", "workspace", "workspace_bytes", "stream", NULL};
    PyObject *cdo, *co, *dl, *wo, *so = Py_None;
    Py_ssize_t ws_bytes;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOOOn|O:df11_decode", names, &cdo, &co, &dl, &wo, &ws_bytes, &so)) return NULL;
    tsr_handle_t h = live(self);
    if (!h) return NULL;
    void *cd, *w, *s;
    if (get_address(cdo, &cd, "container_dev") || get_address(wo, &w, "workspace") || get_address(so, &s, "stream")) return NULL;
    if (ws_bytes < 0) return PyErr_Format(PyExc_ValueError, "workspace_bytes=%zd must be >= 0", ws_bytes);
    Py_buffer view;
    tsr_df11_info_t info;
    if (parse_container(co, &view, &info)) return NULL;
    PyObject *seq = PySequence_Fast(dl, "dests must be a sequence of device addresses or None");
    uint16_t **dests = NULL;
    PyObject *r = NULL;
    if (!seq) goto done;
    if (PySequence_Fast_GET_SIZE(seq) != (Py_ssize_t)info.tensors) {
        PyErr_Format(PyExc_ValueError, "dests holds %zd entries; the container holds %u tensors", PySequence_Fast_GET_SIZE(seq),
                     info.tensors);
        goto done;
    }
    dests = PyMem_Calloc(info.tensors ? info.tensors : 1, sizeof *dests);
    if (!dests) {
        PyErr_NoMemory();
        goto done;
    }
    for (uint32_t i = 0; i < info.tensors; i++)
        if (get_address(PySequence_Fast_GET_ITEM(seq, i), (void **)&dests[i], "dests[i]")) goto done;
    {
        tsr_status_t st;
        Py_BEGIN_ALLOW_THREADS
        st = tsr_df11_decode(h, cd, &info, dests, w, (size_t)ws_bytes, (cudaStream_t)s);
        Py_END_ALLOW_THREADS
        if (st) raise_status(st);
        else r = Py_NewRef(Py_None);
    }
done:
    PyMem_Free(dests);
    Py_XDECREF(seq);
    tsr_df11_info_free(&info);
    PyBuffer_Release(&view);
    return r;
}

static PyObject *handle_df11_decode_status(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"workspace", "stream", NULL};
    PyObject *wo, *so = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O:df11_decode_status", names, &wo, &so)) return NULL;
    tsr_handle_t h = live(self);
    if (!h) return NULL;
    void *w, *s;
    if (get_address(wo, &w, "workspace") || get_address(so, &s, "stream")) return NULL;
    tsr_status_t st;
    Py_BEGIN_ALLOW_THREADS
    st = tsr_df11_decode_status(h, w, (cudaStream_t)s);
    Py_END_ALLOW_THREADS
    if (st) return raise_status(st);
    Py_RETURN_NONE;
}

static PyMethodDef handle_methods[] = {
    {"close", handle_close, METH_NOARGS, "Destroys the handle (also done when it is collected)."},
    {"__enter__", handle_enter, METH_NOARGS, NULL},
    {"__exit__", handle_exit, METH_VARARGS, NULL},
    {"device_info", handle_device_info, METH_NOARGS, "The bound device: name, cc, sm_count, ..."},
    {"w4a16_workspace_size", handle_w4a16_workspace_size, METH_VARARGS, "Device workspace bytes for m rows."},
    {"w4a16_can_implement", handle_w4a16_can_implement, METH_VARARGS, "None, or raises Error with the rule that fails."},
    {"w4a16_gemm", (PyCFunction)(void (*)(void))handle_w4a16_gemm, METH_VARARGS | METH_KEYWORDS,
     "C = A * W (+ bias) on device addresses (tsr_w4a16_gemm)."},
    {"w4a16_pack_device", (PyCFunction)(void (*)(void))handle_w4a16_pack_device, METH_VARARGS | METH_KEYWORDS,
     "Repacks a checkpoint tensor already in device memory (tsr_w4a16_pack_device)."},
    {"w4a16_dequantize", (PyCFunction)(void (*)(void))handle_w4a16_dequantize, METH_VARARGS | METH_KEYWORDS,
     "The dense [k][n] weight of a packed blob (tsr_w4a16_dequantize)."},
    {"w4a16_query_config", handle_w4a16_query_config, METH_VARARGS, "The configuration w4a16_gemm would use for m rows."},
    {"w4a16_config_supported", handle_w4a16_config_supported, METH_VARARGS, "Whether configuration id runs on this device."},
    {"w4a16_set_prefill", handle_w4a16_set_prefill, METH_VARARGS, "W4A16_PREFILL_KERNEL, _DENSE (True) or _AUTO (the default)."},
    {"w4a16_set_programmatic_launch", handle_w4a16_set_programmatic_launch, METH_VARARGS,
     "True: programmatic dependent launch of the W4A16 kernels (sm_90)."},
    {"w4a16_gemm_config", (PyCFunction)(void (*)(void))handle_w4a16_gemm_config, METH_VARARGS | METH_KEYWORDS,
     "w4a16_gemm with the configuration given."},
    {"df11_decode", (PyCFunction)(void (*)(void))handle_df11_decode, METH_VARARGS | METH_KEYWORDS,
     "One-launch GPU decode of a container already in device memory."},
    {"df11_decode_status", (PyCFunction)(void (*)(void))handle_df11_decode_status, METH_VARARGS | METH_KEYWORDS,
     "Waits, then raises Error (CORRUPT_DATA) if the decoder found the device stream bad."},
    {NULL, NULL, 0, NULL}};

static PyTypeObject handle_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = TSR_PY_NAME ".Handle",
    .tp_basicsize = sizeof(handle_object),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A tessera handle bound to the current CUDA device (tsr_create).",
    .tp_new = handle_new,
    .tp_dealloc = handle_dealloc,
    .tp_methods = handle_methods,
};

/* ---- module ---------------------------------------------------------------------------- */
static PyMethodDef module_methods[] = {
    {"version", py_version, METH_NOARGS, "tsr_version() of the linked library."},
    {"w4a16_config_count", py_w4a16_config_count, METH_NOARGS, "How many W4A16 configurations exist (ids 0 .. count-1)."},
    {"cuda_malloc", py_cuda_malloc, METH_VARARGS, "cudaMalloc(bytes) -> device address."},
    {"cuda_free", py_cuda_free, METH_O, "cudaFree(address)."},
    {"cuda_memset", py_cuda_memset, METH_VARARGS, "cudaMemset(address, value, bytes)."},
    {"cuda_memcpy_htod", py_memcpy_htod, METH_VARARGS, "Copies a whole host buffer to a device address."},
    {"cuda_memcpy_dtoh", py_memcpy_dtoh, METH_VARARGS, "Fills a writable host buffer from a device address."},
    {"cuda_synchronize", py_cuda_synchronize, METH_NOARGS, "cudaDeviceSynchronize()."},
    {"df11_encode", (PyCFunction)(void (*)(void))py_df11_encode, METH_VARARGS | METH_KEYWORDS,
     "Compresses [(name, bf16 data, shape)] into one DFloat11 container (bytes)."},
    {"df11_parse", py_df11_parse, METH_O, "Validates a container; returns what it holds (dict)."},
    {"df11_decode_host", (PyCFunction)(void (*)(void))py_df11_decode_host, METH_VARARGS | METH_KEYWORDS,
     "CPU decode: a bytearray of bf16 bit patterns per tensor (or into outs)."},
    {"df11_workspace_size", py_df11_workspace_size, METH_O, "Device workspace bytes for Handle.df11_decode."},
    {"df11_write_file", py_df11_write_file, METH_VARARGS, "Writes a container to a file."},
    {"df11_read_file", py_df11_read_file, METH_VARARGS, "Reads and validates a container file (bytes)."},
    {"w4a16_layout", (PyCFunction)(void (*)(void))py_w4a16_layout, METH_VARARGS | METH_KEYWORDS,
     "The packed layout of a k x n 4-bit weight (W4A16Layout)."},
    {"w4a16_pack_host", (PyCFunction)(void (*)(void))py_w4a16_pack_host, METH_VARARGS | METH_KEYWORDS,
     "Repacks a GPTQ / AWQ / plain checkpoint tensor into tessera's layout (bytearray)."},
    {"w4a16_unpack_host", py_w4a16_unpack_host, METH_VARARGS, "(q, scales, zeros, g_idx) back from a packed blob."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = TSR_PY_NAME,
    .m_doc = "tessera: W4A16 and DFloat11 kernels for compressed LLM inference (bindings of libtessera).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC TSR_PY_CAT(PyInit_, TSR_PY_MODULE)(void)
{
    if (PyType_Ready(&layout_type) < 0 || PyType_Ready(&handle_type) < 0) return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (!m) return NULL;
    tsr_py_error = PyErr_NewExceptionWithDoc(TSR_PY_NAME ".Error",
                                             "A failed tessera call: .status is the tsr_status_t value, .status_name its name.",
                                             NULL, NULL);
    if (!tsr_py_error || PyModule_AddObjectRef(m, "Error", tsr_py_error) < 0 ||
        PyModule_AddObjectRef(m, "W4A16Layout", (PyObject *)&layout_type) < 0 ||
        PyModule_AddObjectRef(m, "Handle", (PyObject *)&handle_type) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    static const struct {
        const char *name;
        int value;
    } constants[] = {
        {"STATUS_SUCCESS", TSR_STATUS_SUCCESS},
        {"STATUS_INVALID_VALUE", TSR_STATUS_INVALID_VALUE},
        {"STATUS_MISALIGNED_POINTER", TSR_STATUS_MISALIGNED_POINTER},
        {"STATUS_UNSUPPORTED_SHAPE", TSR_STATUS_UNSUPPORTED_SHAPE},
        {"STATUS_UNSUPPORTED_DTYPE", TSR_STATUS_UNSUPPORTED_DTYPE},
        {"STATUS_UNSUPPORTED_ARCH", TSR_STATUS_UNSUPPORTED_ARCH},
        {"STATUS_NO_DEVICE", TSR_STATUS_NO_DEVICE},
        {"STATUS_WORKSPACE_TOO_SMALL", TSR_STATUS_WORKSPACE_TOO_SMALL},
        {"STATUS_CORRUPT_DATA", TSR_STATUS_CORRUPT_DATA},
        {"STATUS_CUDA_ERROR", TSR_STATUS_CUDA_ERROR},
        {"STATUS_OUT_OF_MEMORY", TSR_STATUS_OUT_OF_MEMORY},
        {"STATUS_IO_ERROR", TSR_STATUS_IO_ERROR},
        {"STATUS_NOT_SUPPORTED", TSR_STATUS_NOT_SUPPORTED},
        {"W4A16_ROUTE_DENSE", TSR_W4A16_ROUTE_DENSE},
        {"W4A16_DENSE_MIN_M", TSR_W4A16_DENSE_MIN_M},
        {"W4A16_AUTO_DENSE_MIN_M", TSR_W4A16_AUTO_DENSE_MIN_M},
        {"W4A16_PREFILL_KERNEL", TSR_W4A16_PREFILL_KERNEL},
        {"W4A16_PREFILL_DENSE", TSR_W4A16_PREFILL_DENSE},
        {"W4A16_PREFILL_AUTO", TSR_W4A16_PREFILL_AUTO},
    };
    for (size_t i = 0; i < sizeof constants / sizeof constants[0]; i++)
        if (PyModule_AddIntConstant(m, constants[i].name, constants[i].value) < 0) {
            Py_DECREF(m);
            return NULL;
        }
    return m;
}

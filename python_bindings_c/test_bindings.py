#!/usr/bin/env python3
"""Tests of the Python bindings (python_bindings_c/tessera_module.c).

    python3 test_bindings.py tessera       # the module on libtessera.a
    python3 test_bindings.py tessera_emu   # the same calls on the CPU emulation

Host calls are checked bit for bit against the inputs (DFloat11 round trips,
W4A16 pack/unpack); device calls (a Handle) run where the module has a device:
the emulated module always, the real one on a GPU (without one, Handle() must
raise Error with STATUS_NO_DEVICE, which is checked instead). W4A16 gemm
results are compared with a float64 reference computed here. Bad arguments
must raise with the argument named. Standard library only.
"""
import array
import importlib
import os
import random
import struct
import sys
import tempfile
import unittest

MODULE = sys.argv[1] if len(sys.argv) > 1 else "tessera"
tsr = importlib.import_module(MODULE)
SEED = int(os.environ.get("TSR_TEST_SEED", random.randrange(1 << 30)))
print("[%s] seed %d (replay with TSR_TEST_SEED=%d)" % (MODULE, SEED, SEED))


def bf16_bits(x):
    """The bf16 bit pattern nearest below x (truncation: any pattern is a valid input)."""
    return struct.unpack("<I", struct.pack("<f", x))[0] >> 16


def gaussian_bf16(rng, n, sigma):
    return array.array("H", (bf16_bits(rng.gauss(0.0, sigma)) for _ in range(n)))


def f16_bits(x):
    return struct.unpack("<H", struct.pack("<e", x))[0]


def f16_value(bits):
    return struct.unpack("<e", struct.pack("<H", bits))[0]


def device_handle():
    """A Handle, or None when this module has no device (then the error is checked)."""
    try:
        return tsr.Handle()
    except tsr.Error as e:
        if e.status != tsr.STATUS_NO_DEVICE:
            raise
        return None


class Df11Host(unittest.TestCase):
    def setUp(self):
        self.rng = random.Random(SEED ^ 1)

    def test_round_trip_and_info(self):
        a = gaussian_bf16(self.rng, 20000, 0.02)
        b = array.array("H", (self.rng.randrange(1 << 16) for _ in range(3001)))  # any pattern, NaNs included
        c = tsr.df11_encode([("layer.q", a, (100, 200)), ("odd", b, None)])
        info = tsr.df11_parse(c)
        self.assertEqual(info["symbols"], 23001)
        self.assertEqual([t["name"] for t in info["tensors"]], ["layer.q", "odd"])
        self.assertEqual(info["tensors"][0]["shape"], (100, 200))
        self.assertEqual(info["tensors"][1]["count"], 3001)
        self.assertEqual(info["bytes"], len(c))
        out = tsr.df11_decode_host(c)
        self.assertEqual(bytes(out[0]), a.tobytes())
        self.assertEqual(bytes(out[1]), b.tobytes())
        # into caller buffers, one tensor skipped
        mine = array.array("H", [0xEEEE]) * 3001
        got = tsr.df11_decode_host(c, [None, mine])
        self.assertIsNone(got[0])
        self.assertEqual(mine.tobytes(), b.tobytes())
        # trained-like weights shrink
        self.assertLess(len(tsr.df11_encode([("w", a, None)])), 0.8 * 2 * len(a))

    def test_file_round_trip(self):
        a = gaussian_bf16(self.rng, 5000, 0.05)
        c = tsr.df11_encode([("w", a, (5000,))], chunk_steps=16)
        self.assertEqual(tsr.df11_parse(c)["chunk_steps"], 16)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "w.df11")
            tsr.df11_write_file(path, c)
            self.assertEqual(tsr.df11_read_file(path), c)
            with self.assertRaises(tsr.Error) as e:
                tsr.df11_read_file(os.path.join(d, "missing.df11"))
            self.assertEqual(e.exception.status, tsr.STATUS_IO_ERROR)

    def test_corrupt_and_bad_arguments(self):
        a = gaussian_bf16(self.rng, 4000, 0.02)
        c = bytearray(tsr.df11_encode([("w", a, None)]))
        c[len(c) // 2] ^= 0x40
        with self.assertRaises(tsr.Error) as e:
            tsr.df11_decode_host(c)
        self.assertEqual(e.exception.status, tsr.STATUS_CORRUPT_DATA)
        self.assertTrue(str(e.exception))
        with self.assertRaises(tsr.Error) as e:
            tsr.df11_parse(bytes(c[:100]))
        self.assertEqual(e.exception.status, tsr.STATUS_CORRUPT_DATA)
        with self.assertRaises(tsr.Error) as e:
            tsr.df11_encode([("w", a, None)], chunk_steps=3)
        self.assertEqual(e.exception.status, tsr.STATUS_INVALID_VALUE)
        self.assertIn("chunk_steps", str(e.exception))
        with self.assertRaisesRegex(ValueError, "shape"):
            tsr.df11_encode([("w", a, (3, 3))])
        with self.assertRaisesRegex(ValueError, "even"):
            tsr.df11_encode([("w", b"abc", None)])
        with self.assertRaisesRegex(TypeError, "tensors\\[0\\]"):
            tsr.df11_encode([("w", a)])
        good = tsr.df11_encode([("w", a, None)])
        with self.assertRaisesRegex(ValueError, "outs"):
            tsr.df11_decode_host(good, [bytearray(10)])


def plain_source(rng, k, n, groups):
    q = bytes(rng.randrange(256) for _ in range(k * n // 2))  # [k][n/2], low nibble first
    scales = array.array("H", (f16_bits(rng.uniform(0.002, 0.02)) for _ in range(groups * n)))
    zeros = bytes(rng.randrange(16) for _ in range(groups * n))
    return q, scales, zeros


class W4a16Host(unittest.TestCase):
    def setUp(self):
        self.rng = random.Random(SEED ^ 2)

    def test_layout(self):
        l = tsr.w4a16_layout(256, 200, group_size=64, dtype="bf16", has_zeros=True)
        self.assertEqual((l.k, l.n, l.group_size, l.dtype, l.has_zeros), (256, 200, 64, "bf16", 1))
        self.assertEqual(l.n_padded, 256)
        self.assertGreater(l.total_bytes, 256 * 200 // 2)
        self.assertIn("W4A16Layout", repr(l))
        with self.assertRaises(tsr.Error) as e:
            tsr.w4a16_layout(100, 128)
        self.assertIn("k", str(e.exception))
        with self.assertRaisesRegex(ValueError, "dtype"):
            tsr.w4a16_layout(256, 128, dtype="f32")

    def test_plain_pack_unpack(self):
        k, n, g = 256, 128, 64
        q, scales, zeros = plain_source(self.rng, k, n, k // g)
        l = tsr.w4a16_layout(k, n, group_size=g, has_zeros=True)
        packed = tsr.w4a16_pack_host(l, q, scales, format="plain", qzeros=zeros)
        self.assertEqual(len(packed), l.total_bytes)
        uq, us, uz, ug = tsr.w4a16_unpack_host(l, packed)
        self.assertEqual(bytes(uq), q)
        self.assertEqual(bytes(us), scales.tobytes())
        self.assertEqual(bytes(uz), zeros)
        self.assertEqual(list(array.array("i", bytes(ug))), [j // g for j in range(k)])

    def test_gptq_act_order(self):
        k, n, g = 128, 64, 32
        groups = k // g
        rng = self.rng
        nib = [[rng.randrange(16) for _ in range(n)] for _ in range(k)]
        qweight = array.array("i", [0]) * (k // 8 * n)  # int32 [k/8][n], 8 nibbles along k
        for r in range(k):
            for c in range(n):
                w = qweight[(r // 8) * n + c] & 0xFFFFFFFF
                w |= nib[r][c] << (4 * (r % 8))
                qweight[(r // 8) * n + c] = w - (1 << 32) if w >= 1 << 31 else w
        scales = array.array("H", (f16_bits(rng.uniform(0.01, 0.1)) for _ in range(groups * n)))
        g_idx = array.array("i", rng.sample([j // g for j in range(k)], k))  # every group holds g rows
        l = tsr.w4a16_layout(k, n, group_size=g, act_order=True)
        packed = tsr.w4a16_pack_host(l, qweight, scales, format="gptq", g_idx=g_idx)
        uq, us, _, ug = tsr.w4a16_unpack_host(l, packed)
        self.assertEqual(list(array.array("i", bytes(ug))), list(g_idx))
        for r in range(k):
            for c in range(n):
                self.assertEqual((uq[r * n // 2 + c // 2] >> (4 * (c % 2))) & 15, nib[r][c])
        self.assertEqual(bytes(us), scales.tobytes())

    def test_bad_sources(self):
        l = tsr.w4a16_layout(256, 128, group_size=64, has_zeros=True)
        q, scales, zeros = plain_source(self.rng, 256, 128, 4)
        with self.assertRaisesRegex(ValueError, "qweight"):
            tsr.w4a16_pack_host(l, q[:-1], scales, format="plain", qzeros=zeros)
        with self.assertRaisesRegex(ValueError, "scales"):
            tsr.w4a16_pack_host(l, q, scales[:-1], format="plain", qzeros=zeros)
        with self.assertRaisesRegex(ValueError, "qzeros"):
            tsr.w4a16_pack_host(l, q, scales, format="plain", qzeros=zeros[:-1])
        with self.assertRaisesRegex(ValueError, "format"):
            tsr.w4a16_pack_host(l, q, scales, format="gguf", qzeros=zeros)
        with self.assertRaises(tsr.Error):  # the layout says zeros, the source has none
            tsr.w4a16_pack_host(l, q, scales, format="plain")
        with self.assertRaisesRegex(TypeError, "layout"):
            tsr.w4a16_pack_host("not a layout", q, scales)
        with self.assertRaisesRegex(ValueError, "packed"):
            tsr.w4a16_unpack_host(l, bytes(10))


class Device(unittest.TestCase):
    """Handle calls: on the emulation always, on the real module with a GPU."""

    @classmethod
    def setUpClass(cls):
        cls.h = device_handle()

    @classmethod
    def tearDownClass(cls):
        if cls.h:
            cls.h.close()

    def setUp(self):
        self.rng = random.Random(SEED ^ 3)
        if self.h is None:
            self.skipTest("no device for %s (Handle() raised STATUS_NO_DEVICE, as it must)" % MODULE)
        self.live = []

    def tearDown(self):
        for p in self.live:
            tsr.cuda_free(p)

    def alloc(self, nbytes, poison=None):
        p = tsr.cuda_malloc(nbytes)
        self.live.append(p)
        if poison is not None:
            tsr.cuda_memset(p, poison, nbytes)
        return p

    def plain_weight(self, k, n, g, has_zeros=True):
        """A random plain-format weight and its host pack: (layout, q, scales, zeros, packed)."""
        q, scales, zeros = plain_source(self.rng, k, n, (k + g - 1) // g)
        l = tsr.w4a16_layout(k, n, group_size=g, has_zeros=has_zeros)
        packed = tsr.w4a16_pack_host(l, q, scales, format="plain", qzeros=zeros if has_zeros else None)
        return l, q, scales, zeros, packed

    def device_activations(self, m, k):
        """Random f16 activations [m][k] on the device: (address, host bit patterns)."""
        a_h = array.array("H", (f16_bits(self.rng.uniform(-1, 1)) for _ in range(m * k)))
        ad = self.alloc(len(a_h) * 2)
        tsr.cuda_memcpy_htod(ad, a_h)
        return ad, a_h

    def test_device_info(self):
        d = self.h.device_info()
        self.assertGreaterEqual(d["cc"][0], 8)
        self.assertGreater(d["sm_count"], 0)

    def test_df11_decode(self):
        a = gaussian_bf16(self.rng, 30000, 0.02)
        b = gaussian_bf16(self.rng, 777, 1.0)
        c = tsr.df11_encode([("a", a, None), ("b", b, None)])
        cd = self.alloc(len(c))
        tsr.cuda_memcpy_htod(cd, c)
        ws_bytes = tsr.df11_workspace_size(c)
        ws = self.alloc(ws_bytes, 0)
        da, db = self.alloc(len(a) * 2, 0xFF), self.alloc(len(b) * 2, 0xFF)
        self.h.df11_decode(cd, c, [da, db], ws, ws_bytes)
        self.h.df11_decode_status(ws)
        ga, gb = bytearray(len(a) * 2), bytearray(len(b) * 2)
        tsr.cuda_memcpy_dtoh(ga, da)
        tsr.cuda_memcpy_dtoh(gb, db)
        self.assertEqual(bytes(ga), a.tobytes())
        self.assertEqual(bytes(gb), b.tobytes())
        # a corrupt device copy (the host copy still parses): the first lane's
        # length off by 128 bits, so its lanes start in the wrong places
        info = tsr.df11_parse(c)
        self.assertEqual(info["tensors"][0]["count"], len(a))
        bad = bytearray(c)
        bad[info["sections"]["lane_bits_offset"]] ^= 0x80
        tsr.cuda_memcpy_htod(cd, bytes(bad))
        self.h.df11_decode(cd, c, [da, None], ws, ws_bytes)
        with self.assertRaises(tsr.Error) as e:
            self.h.df11_decode_status(ws)
        self.assertEqual(e.exception.status, tsr.STATUS_CORRUPT_DATA)
        self.assertIn("chunk 0", str(e.exception))
        # the status word was cleared: a good copy decodes cleanly again
        tsr.cuda_memcpy_htod(cd, c)
        self.h.df11_decode(cd, c, [da, db], ws, ws_bytes)
        self.h.df11_decode_status(ws)
        with self.assertRaisesRegex(ValueError, "dests"):
            self.h.df11_decode(cd, c, [da], ws, ws_bytes)

    def test_w4a16_gemm(self):
        k, n, g, m = 256, 128, 64, 3
        l, q, scales, zeros, packed = self.plain_weight(k, n, g)
        ad, a_h = self.device_activations(m, k)
        a_used = [[f16_value(a_h[r * k + j]) for j in range(k)] for r in range(m)]
        pd = self.alloc(len(packed))
        cd = self.alloc(m * n * 2, 0xFF)  # NaN everywhere until written
        tsr.cuda_memcpy_htod(pd, packed)
        self.h.w4a16_can_implement(l, m)
        ws_bytes = self.h.w4a16_workspace_size(l, m)
        ws = self.alloc(ws_bytes, 0)
        self.h.w4a16_gemm(l, m, ad, pd, cd, ws, ws_bytes)
        tsr.cuda_synchronize()
        c_h = array.array("H", bytes(m * n * 2))
        tsr.cuda_memcpy_dtoh(c_h, cd)
        # float64 reference: w = (q - zero) * scale
        scale = [f16_value(s) for s in scales]
        worst, largest = 0.0, 0.0
        for c in range(n):
            col = []
            for j in range(k):
                byte = q[j * n // 2 + c // 2]
                qv = (byte >> (4 * (c % 2))) & 15
                G = j // g
                col.append((qv - zeros[G * n + c]) * scale[G * n + c])
            for r in range(m):
                want = sum(a_used[r][j] * col[j] for j in range(k))
                got = f16_value(c_h[r * n + c])
                self.assertFalse(got != got, "C[%d][%d] is NaN: not written" % (r, c))
                worst = max(worst, abs(got - want))
                largest = max(largest, abs(want))
        self.assertLess(worst, 2e-3 * largest + 1e-3, "largest difference %g of outputs up to %g" % (worst, largest))
        with self.assertRaises(tsr.Error) as e:
            self.h.w4a16_gemm(l, m, ad, pd, cd, ws, 16)
        self.assertEqual(e.exception.status, tsr.STATUS_WORKSPACE_TOO_SMALL)
        self.assertIn("workspace", str(e.exception))
        with self.assertRaises(tsr.Error) as e:
            self.h.w4a16_gemm(l, m, ad + 2, pd, cd, ws, ws_bytes)
        self.assertEqual(e.exception.status, tsr.STATUS_MISALIGNED_POINTER)
        with self.assertRaisesRegex(TypeError, "packed"):
            self.h.w4a16_gemm(l, m, ad, "nope", cd, ws, ws_bytes)

    def test_w4a16_device_pack_dequantize_configs(self):
        k, n, g, m = 128, 128, 32, 2
        l, q, scales, zeros, host_packed = self.plain_weight(k, n, g)
        qd, sd, zd = self.alloc(len(q)), self.alloc(len(scales) * 2), self.alloc(len(zeros))
        tsr.cuda_memcpy_htod(qd, q)
        tsr.cuda_memcpy_htod(sd, scales)
        tsr.cuda_memcpy_htod(zd, zeros)
        pd = self.alloc(l.total_bytes, 0x5A)
        self.h.w4a16_pack_device(l, qd, sd, pd, format="plain", qzeros=zd)
        tsr.cuda_synchronize()
        dev_packed = bytearray(l.total_bytes)
        tsr.cuda_memcpy_dtoh(dev_packed, pd)
        self.assertEqual(bytes(dev_packed), bytes(host_packed))
        # the dense weight: (q - z) * s rounded once to f16
        wd = self.alloc(k * n * 2, 0xFF)
        self.h.w4a16_dequantize(l, pd, wd)
        tsr.cuda_synchronize()
        w = array.array("H", bytes(k * n * 2))
        tsr.cuda_memcpy_dtoh(w, wd)
        for j in range(0, k, 7):
            for c in range(n):
                qv = (q[j * n // 2 + c // 2] >> (4 * (c % 2))) & 15
                G = j // g
                want = f16_bits((qv - zeros[G * n + c]) * f16_value(scales[G * n + c]))
                self.assertEqual(w[j * n + c], want, "w[%d][%d]" % (j, c))
        # the configuration the gemm picks, forced, gives the same bits
        cfg = self.h.w4a16_query_config(l, m)
        self.assertTrue(0 <= cfg < tsr.w4a16_config_count())
        self.assertTrue(self.h.w4a16_config_supported(cfg))
        ad, _ = self.device_activations(m, k)
        ws_bytes = self.h.w4a16_workspace_size(l, m)
        ws = self.alloc(ws_bytes, 0)
        c1, c2 = self.alloc(m * n * 2, 0xFF), self.alloc(m * n * 2, 0xFF)
        self.h.w4a16_gemm(l, m, ad, pd, c1, ws, ws_bytes)
        self.h.w4a16_gemm_config(l, m, ad, pd, c2, ws, ws_bytes, cfg)
        tsr.cuda_synchronize()
        r1, r2 = bytearray(m * n * 2), bytearray(m * n * 2)
        tsr.cuda_memcpy_dtoh(r1, c1)
        tsr.cuda_memcpy_dtoh(r2, c2)
        self.assertEqual(r1, r2)
        unsupported = [i for i in range(tsr.w4a16_config_count()) if not self.h.w4a16_config_supported(i)]
        for i in unsupported[:1]:  # the sm_90 tiles on an sm_80 device
            with self.assertRaises(tsr.Error) as e:
                self.h.w4a16_gemm_config(l, m, ad, pd, c2, ws, ws_bytes, i)
            self.assertEqual(e.exception.status, tsr.STATUS_UNSUPPORTED_ARCH)
        self.assertFalse(self.h.w4a16_config_supported(tsr.w4a16_config_count()))

    def test_w4a16_dense_prefill_route(self):
        k, n, g, m = 128, 128, 128, tsr.W4A16_DENSE_MIN_M
        l, _, _, _, packed = self.plain_weight(k, n, g, has_zeros=False)
        ad, _ = self.device_activations(m, k)
        pd = self.alloc(len(packed))
        tsr.cuda_memcpy_htod(pd, packed)
        h = tsr.Handle()
        try:
            kernel_cfg = h.w4a16_query_config(l, m)
            self.assertGreaterEqual(kernel_cfg, 0)
            with self.assertRaises(tsr.Error) as e:
                h.w4a16_set_prefill(7)
            self.assertIn("mode=7", str(e.exception))
            h.w4a16_set_prefill(tsr.W4A16_PREFILL_KERNEL)
            self.assertGreaterEqual(h.w4a16_query_config(l, tsr.W4A16_AUTO_DENSE_MIN_M), 0)
            h.w4a16_set_prefill(True)  # W4A16_PREFILL_DENSE
            self.assertEqual(h.w4a16_query_config(l, m), tsr.W4A16_ROUTE_DENSE)
            self.assertGreaterEqual(h.w4a16_query_config(l, m - 1), 0)  # below the threshold: the kernel
            ws_bytes = h.w4a16_workspace_size(l, m)
            self.assertGreaterEqual(ws_bytes, k * n * 2)  # the dense weight lives there
            ws = self.alloc(ws_bytes, 0)
            dense, kern = self.alloc(m * n * 2, 0xFF), self.alloc(m * n * 2, 0xFF)
            h.w4a16_gemm(l, m, ad, pd, dense, ws, ws_bytes)
            h.w4a16_gemm_config(l, m, ad, pd, kern, ws, ws_bytes, kernel_cfg)  # always the kernel
            tsr.cuda_synchronize()
            r1, r2 = array.array("H", bytes(m * n * 2)), array.array("H", bytes(m * n * 2))
            tsr.cuda_memcpy_dtoh(r1, dense)
            tsr.cuda_memcpy_dtoh(r2, kern)
            v1, v2 = [f16_value(x) for x in r1], [f16_value(x) for x in r2]
            self.assertFalse(any(x != x for x in v1), "NaN left in the dense route's C")
            largest = max(abs(x) for x in v2)
            self.assertLess(max(abs(x - y) for x, y in zip(v1, v2)), 4e-3 * largest)
        finally:
            h.close()

    def test_w4a16_programmatic_launch(self):
        k, n, g, m = 128, 128, 128, 3
        l, _, _, _, packed = self.plain_weight(k, n, g, has_zeros=False)
        ad, _ = self.device_activations(m, k)
        pd = self.alloc(len(packed))
        tsr.cuda_memcpy_htod(pd, packed)
        ws_bytes = self.h.w4a16_workspace_size(l, m)
        ws = self.alloc(ws_bytes, 0)
        c1, c2 = self.alloc(m * n * 2, 0xFF), self.alloc(m * n * 2, 0xFF)
        h = tsr.Handle()
        try:
            if tuple(h.device_info()["cc"]) != (9, 0):
                with self.assertRaises(tsr.Error) as e:
                    h.w4a16_set_programmatic_launch(True)
                self.assertEqual(e.exception.status, tsr.STATUS_UNSUPPORTED_ARCH)
                self.assertIn("needs an sm_90 device", str(e.exception))
                return
            h.w4a16_gemm(l, m, ad, pd, c1, ws, ws_bytes)
            h.w4a16_set_programmatic_launch(True)
            h.w4a16_gemm(l, m, ad, pd, c2, ws, ws_bytes)
            h.w4a16_set_programmatic_launch(False)
            tsr.cuda_synchronize()
            r1, r2 = bytearray(m * n * 2), bytearray(m * n * 2)
            tsr.cuda_memcpy_dtoh(r1, c1)
            tsr.cuda_memcpy_dtoh(r2, c2)
            self.assertEqual(r1, r2)  # the launch changes when, never what
            self.assertNotEqual(r1, bytearray(b"\xff" * (m * n * 2)))
        finally:
            h.close()

    def test_cuda_error(self):
        with self.assertRaises(tsr.Error) as e:
            tsr.cuda_free(12345)  # never allocated
        self.assertEqual(e.exception.status, tsr.STATUS_CUDA_ERROR)
        self.assertIn("cudaFree", str(e.exception))

    def test_closed_handle(self):
        h = tsr.Handle()
        h.close()
        with self.assertRaisesRegex(ValueError, "closed"):
            h.device_info()


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]], verbosity=2)

"""Triton's and KServe's own Python clients, unmodified, against `fastvim serve` (issue 17).

Every test starts a fresh server (`FASTVIM_BIN serve --host 127.0.0.1 --port 0`, the bundled
model `fastvim-digits`), reads its port from the "serving on 127.0.0.1:PORT" line on stderr,
waits for /v2/health/ready, and stops it with SIGTERM afterwards (exit status 0 required).

The server serves each model M as two OIP models: `M` (one input `input`, FP32/UINT8/UINT16
`[N, 3, H, W]`) and `M_image` (one input `image`, BYTES `[N]`: encoded PNG/JPEG files).

    scripts/client-tests                 # installs the clients, runs this file and promtool
    .cache/clients-venv/bin/python -m pytest tests/clients -q     # after a first install

Environment: FASTVIM_BIN (default .build/release/fastvim, relative paths from the repository
root), FASTVIM_SERVE_ARGS (extra `fastvim serve` arguments, whitespace-separated).
"""

import asyncio
import base64
import gzip
import http.client
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import pytest

import tritonclient.http as httpclient
import tritonclient.http.aio as aiohttpclient
from tritonclient.utils import InferenceServerException

REPO = Path(__file__).resolve().parents[2]
MODEL = "fastvim-digits"
IMAGE_MODEL = MODEL + "_image"
OUTPUTS = ("logits", "probabilities", "features")
OUTPUT_WIDTH = {"logits": 10, "probabilities": 10, "features": 64}
SAMPLES = sorted(
    (int(p.parent.name), p) for p in (REPO / "models" / MODEL / "samples").glob("*/*.png")
)
# The bundled model's preprocessing (models/fastvim-digits/fastvim_digits.json).
MEAN = np.float32(0.3094)
STD = np.float32(0.3488)


def _binary_path():
    path = Path(os.environ.get("FASTVIM_BIN", ".build/release/fastvim"))
    return path if path.is_absolute() else REPO / path


# --------------------------------------------------------------------------- the server


class Server:
    def __init__(self, port, log_path, process):
        self.port = port
        self.log_path = log_path
        self.process = process
        self.url = f"127.0.0.1:{port}"  # tritonclient's form: no scheme
        self.base = f"http://127.0.0.1:{port}"  # KServe's form

    def log(self):
        try:
            return Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""


@pytest.fixture
def server():
    yield from _serve([])


@pytest.fixture
def repo_server(tmp_path):
    """A model repository (DIR/digits/1/<checkpoint>, config and labels) under explicit control."""
    import shutil
    digits = REPO / "models" / "fastvim-digits"
    (tmp_path / "digits" / "1").mkdir(parents=True)
    shutil.copy(digits / "fastvim_digits.pth", tmp_path / "digits" / "1" / "fastvim_digits.pth")
    shutil.copy(digits / "fastvim_digits.json", tmp_path / "digits" / "config.json")
    shutil.copy(digits / "labels.txt", tmp_path / "digits" / "labels.txt")
    srv = yield from _serve(["--model-repository", str(tmp_path), "--model-control-mode", "explicit"])
    return srv


def _serve(args):
    binary = _binary_path()
    if not os.access(binary, os.X_OK):
        pytest.fail(f"no server binary at {binary} (set FASTVIM_BIN)")
    fd, log_path = tempfile.mkstemp(prefix="fastvim-clients-", suffix=".log")
    extra = os.environ.get("FASTVIM_SERVE_ARGS", "").split()
    env = dict(os.environ, FASTVIM_HOME=str(REPO))
    with os.fdopen(fd, "wb") as log:
        process = subprocess.Popen(
            [str(binary), "serve", "--host", "127.0.0.1", "--port", "0", *args, *extra],
            cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        )
    srv = None
    try:
        deadline = time.monotonic() + 60
        while srv is None:
            m = re.search(r"serving on 127\.0\.0\.1:(\d+)", Path(log_path).read_text(errors="replace"))
            if m:
                srv = Server(int(m.group(1)), log_path, process)
                break
            if process.poll() is not None:
                pytest.fail(f"fastvim serve exited with {process.returncode} before serving:\n"
                            + Path(log_path).read_text(errors="replace")[-3000:])
            if time.monotonic() > deadline:
                pytest.fail("no 'serving on' line within 60 s")
            time.sleep(0.02)
        while True:
            try:
                with urllib.request.urlopen(srv.base + "/v2/health/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("/v2/health/ready did not answer 200 within 60 s")
            time.sleep(0.05)
        yield srv
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        text = Path(log_path).read_text(errors="replace")
        # Shown by pytest for a failing test: the requests the server saw and their statuses.
        print(f"--- server log ({log_path}), last lines:")
        print("\n".join(text.splitlines()[-25:]))
        os.unlink(log_path)
    assert process.returncode == 0, f"server exit status {process.returncode} after SIGTERM"


# --------------------------------------------------------------------------- helpers


def tensor(n=2, seed=0):
    """An already normalised FP32 batch [n, 3, 32, 32]."""
    return np.random.default_rng(seed).standard_normal((n, 3, 32, 32)).astype(np.float32)


def png_batch(items):
    return np.array([p.read_bytes() for _, p in items], dtype=np.object_)


def b64_batch(items):
    return np.array([base64.b64encode(p.read_bytes()) for _, p in items], dtype=np.object_)


def fp32_input(x, binary=True):
    inp = httpclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    return inp


def image_input(batch, binary=True):
    inp = httpclient.InferInput("image", [len(batch)], "BYTES")
    inp.set_data_from_numpy(batch, binary_data=binary)
    return inp


def requested(binary=True, names=OUTPUTS, class_count=0):
    return [httpclient.InferRequestedOutput(n, binary_data=binary, class_count=class_count) for n in names]


def check_outputs(result, n, model=MODEL, names=OUTPUTS):
    response = result.get_response()
    assert response.get("model_name") == model, response
    out = {}
    for name in names:
        meta = result.get_output(name)
        assert meta is not None, f"output {name} missing from {response}"
        assert meta["datatype"] == "FP32", meta
        assert meta["shape"] == [n, OUTPUT_WIDTH[name]], meta
        value = result.as_numpy(name)
        assert value.dtype == np.float32 and value.shape == (n, OUTPUT_WIDTH[name]), (value.dtype, value.shape)
        assert np.isfinite(value).all()
        out[name] = value
    if "logits" in out and "probabilities" in out:
        logits = out["logits"].astype(np.float64)
        soft = np.exp(logits - logits.max(1, keepdims=True))
        soft /= soft.sum(1, keepdims=True)
        np.testing.assert_allclose(out["probabilities"], soft, atol=1e-5)
        np.testing.assert_allclose(out["probabilities"].sum(1), 1, atol=1e-5)
    return out


def parse_classes(values):
    """Classification strings "score:index:label" (bytes or str) -> [[(score, index, label)]]."""
    rows = []
    for row in np.asarray(values):
        parsed = []
        for item in np.atleast_1d(row):
            text = item.decode() if isinstance(item, bytes) else str(item)
            score, index, label = text.split(":", 2)
            parsed.append((float(score), int(index), label))
        rows.append(parsed)
    return rows


def check_classification(result, name, logits_or_probs, k):
    meta = result.get_output(name)
    assert meta["datatype"] == "BYTES", meta
    n = logits_or_probs.shape[0]
    assert meta["shape"] == [n, k], meta
    rows = parse_classes(result.as_numpy(name))
    for row, values in zip(rows, logits_or_probs):
        order = np.argsort(-values, kind="stable")[:k]
        assert [i for _, i, _ in row] == list(order), (row, values)
        for score, index, label in row:
            assert label == str(index), row  # labels.txt holds "0".."9"
            assert abs(score - float(values[index])) <= 1e-4 * max(1, abs(float(values[index]))), (row, values)


def raw_request(srv, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


# --------------------------------------------------------------------------- tritonclient.http


def test_triton_health_and_server_metadata(server):
    c = httpclient.InferenceServerClient(server.url)
    try:
        assert c.is_server_live()
        assert c.is_server_ready()
        assert not c.is_model_ready("no-such-model")
        meta = c.get_server_metadata()
        for ext in ("binary_tensor_data", "classification", "statistics"):
            assert ext in meta["extensions"], meta
    finally:
        c.close()


@pytest.mark.parametrize("model", [MODEL, IMAGE_MODEL])
def test_triton_model_ready(server, model):
    c = httpclient.InferenceServerClient(server.url)
    try:
        assert c.is_model_ready(model), f"GET /v2/models/{model}/ready is not 200"
        assert c.is_model_ready(model, model_version="1"), f"GET /v2/models/{model}/versions/1/ready is not 200"
    finally:
        c.close()


def _check_model_metadata(meta, model, input_name, datatype):
    assert meta["name"] == model, meta
    assert "1" in meta.get("versions", []), meta
    assert [i["name"] for i in meta["inputs"]] == [input_name], meta
    (inp,) = meta["inputs"]
    assert inp["datatype"] == datatype, meta
    assert inp["shape"][0] == -1, meta  # batch dimension
    if input_name == "input":
        assert len(inp["shape"]) == 4 and inp["shape"][1] == 3, meta
    outs = {o["name"]: o for o in meta["outputs"]}
    assert set(outs) == set(OUTPUTS), meta
    for name, width in OUTPUT_WIDTH.items():
        assert outs[name]["datatype"] == "FP32" and outs[name]["shape"] == [-1, width], meta


MODEL_IO = {MODEL: ("input", "FP32", "TYPE_FP32"), IMAGE_MODEL: ("image", "BYTES", "TYPE_STRING")}


@pytest.mark.parametrize("version", ["", "1"], ids=["unversioned", "version-1"])
@pytest.mark.parametrize("model", [MODEL, IMAGE_MODEL])
def test_triton_model_metadata(server, model, version):
    name, datatype, _ = MODEL_IO[model]
    c = httpclient.InferenceServerClient(server.url)
    try:
        _check_model_metadata(c.get_model_metadata(model, model_version=version), model, name, datatype)
    finally:
        c.close()


def _check_model_config(cfg, model, input_name, data_type):
    assert cfg["name"] == model, cfg
    assert cfg.get("platform") or cfg.get("backend"), cfg
    assert isinstance(cfg["max_batch_size"], int) and cfg["max_batch_size"] > 0, cfg
    assert "dynamic_batching" in cfg, cfg
    assert [i["name"] for i in cfg["input"]] == [input_name], cfg
    (inp,) = cfg["input"]
    assert inp["data_type"] == data_type, cfg
    # dims exclude the batch dimension (max_batch_size > 0)
    if input_name == "input":
        assert len(inp["dims"]) == 3 and int(inp["dims"][0]) == 3, cfg
    else:
        assert [int(d) for d in inp["dims"]] == [1], cfg
    outs = {o["name"]: o for o in cfg["output"]}
    assert set(outs) == set(OUTPUTS), cfg
    for name, width in OUTPUT_WIDTH.items():
        assert outs[name]["data_type"] == "TYPE_FP32", cfg
        assert [int(d) for d in outs[name]["dims"]] == [width], cfg


@pytest.mark.parametrize("version", ["", "1"], ids=["unversioned", "version-1"])
@pytest.mark.parametrize("model", [MODEL, IMAGE_MODEL])
def test_triton_model_config(server, model, version):
    # Triton's model configuration names the BYTES type TYPE_STRING
    name, _, data_type = MODEL_IO[model]
    c = httpclient.InferenceServerClient(server.url)
    try:
        _check_model_config(c.get_model_config(model, model_version=version), model, name, data_type)
    finally:
        c.close()


def test_triton_repository_index(server):
    c = httpclient.InferenceServerClient(server.url)
    try:
        index = c.get_model_repository_index()
        by_name = {m["name"]: m for m in index}
        for model in (MODEL, IMAGE_MODEL):
            assert model in by_name, index
            assert by_name[model].get("state") == "READY", index
    finally:
        c.close()


@pytest.mark.parametrize("in_binary", [True, False], ids=["in-binary", "in-json"])
@pytest.mark.parametrize("out_binary", [True, False], ids=["out-binary", "out-json"])
def test_triton_infer_fp32(server, in_binary, out_binary):
    x = tensor(3)
    c = httpclient.InferenceServerClient(server.url)
    try:
        reference = check_outputs(c.infer(MODEL, [fp32_input(x)], outputs=requested()), 3)
        result = c.infer(MODEL, [fp32_input(x, in_binary)], outputs=requested(out_binary))
        out = check_outputs(result, 3)
        for name in OUTPUTS:
            if not out_binary:
                assert "data" in result.get_output(name), "JSON output requested, got binary"
            np.testing.assert_array_equal(out[name], reference[name], err_msg=name)
        # versioned route gives the same answer
        again = check_outputs(c.infer(MODEL, [fp32_input(x, in_binary)], model_version="1",
                                      outputs=requested(out_binary)), 3)
        np.testing.assert_array_equal(again["logits"], reference["logits"])
    finally:
        c.close()


def test_triton_infer_default_outputs_binary_data_output(server):
    """No requested outputs: tritonclient sends parameters.binary_data_output = true."""
    x = tensor(2, seed=1)
    c = httpclient.InferenceServerClient(server.url)
    try:
        result = c.infer(MODEL, [fp32_input(x, False)])
        out = check_outputs(result, 2)
        for name in OUTPUTS:
            params = result.get_output(name).get("parameters", {})
            assert "binary_data_size" in params, f"{name} not binary: {result.get_output(name)}"
        json_out = check_outputs(c.infer(MODEL, [fp32_input(x, False)], outputs=requested(False)), 2)
        np.testing.assert_array_equal(out["logits"], json_out["logits"])
    finally:
        c.close()


@pytest.mark.parametrize("datatype", ["UINT8", "UINT16"])
def test_triton_infer_integer_pixels(server, datatype):
    """UINT8/UINT16 are scaled by their maximum and normalised with the model's mean/std."""
    rng = np.random.default_rng(2)
    dtype, top = (np.uint8, 255) if datatype == "UINT8" else (np.uint16, 65535)
    pixels = rng.integers(0, top + 1, size=(2, 3, 32, 32), dtype=dtype)
    normalised = ((pixels.astype(np.float32) / np.float32(top)) - MEAN) / STD
    c = httpclient.InferenceServerClient(server.url)
    try:
        for binary in (True, False):
            inp = httpclient.InferInput("input", list(pixels.shape), datatype)
            inp.set_data_from_numpy(pixels, binary_data=binary)
            out = check_outputs(c.infer(MODEL, [inp], outputs=requested()), 2)
            ref = check_outputs(c.infer(MODEL, [fp32_input(normalised.astype(np.float32))], outputs=requested()), 2)
            np.testing.assert_allclose(out["logits"], ref["logits"], atol=1e-3, rtol=1e-4)
    finally:
        c.close()


@pytest.mark.parametrize("binary", [True, False], ids=["binary-png", "json-base64"])
def test_triton_infer_images(server, binary):
    """Every sample PNG to fastvim-digits_image: the predicted class is the sample's folder digit.
    Binary: the raw files (length-prefixed BYTES); JSON: base64 strings (the server's JSON convention)."""
    c = httpclient.InferenceServerClient(server.url)
    try:
        wrong = []
        for start in range(0, len(SAMPLES), 8):
            chunk = SAMPLES[start:start + 8]
            batch = png_batch(chunk) if binary else b64_batch(chunk)
            result = c.infer(IMAGE_MODEL, [image_input(batch, binary)], outputs=requested())
            out = check_outputs(result, len(chunk), model=IMAGE_MODEL)
            for (digit, path), logits in zip(chunk, out["logits"]):
                if int(np.argmax(logits)) != digit:
                    wrong.append(f"{path.relative_to(REPO)}: predicted {int(np.argmax(logits))}")
        assert len(SAMPLES) == 30
        assert not wrong, wrong
    finally:
        c.close()


def test_triton_images_identical_across_encodings(server):
    chunk = SAMPLES[::4]
    c = httpclient.InferenceServerClient(server.url)
    try:
        binary = check_outputs(c.infer(IMAGE_MODEL, [image_input(png_batch(chunk))], outputs=requested()),
                               len(chunk), model=IMAGE_MODEL)
        as_json = check_outputs(c.infer(IMAGE_MODEL, [image_input(b64_batch(chunk), False)], outputs=requested(False)),
                                len(chunk), model=IMAGE_MODEL)
        for name in OUTPUTS:
            np.testing.assert_array_equal(binary[name], as_json[name], err_msg=name)
    finally:
        c.close()


@pytest.mark.parametrize("out_binary", [True, False], ids=["out-binary", "out-json"])
def test_triton_classification(server, out_binary):
    x = tensor(2, seed=3)
    c = httpclient.InferenceServerClient(server.url)
    try:
        ref = check_outputs(c.infer(MODEL, [fp32_input(x)], outputs=requested()), 2)
        outs = [httpclient.InferRequestedOutput("probabilities", binary_data=out_binary, class_count=3),
                httpclient.InferRequestedOutput("logits", binary_data=out_binary, class_count=10)]
        result = c.infer(MODEL, [fp32_input(x)], outputs=outs)
        check_classification(result, "probabilities", ref["probabilities"], 3)
        check_classification(result, "logits", ref["logits"], 10)
    finally:
        c.close()


@pytest.mark.parametrize("out_binary", [True, False], ids=["out-binary", "out-json"])
def test_triton_classification_images(server, out_binary):
    c = httpclient.InferenceServerClient(server.url)
    try:
        chunk = SAMPLES[:3]
        result = c.infer(IMAGE_MODEL, [image_input(png_batch(chunk))],
                         outputs=[httpclient.InferRequestedOutput("probabilities", binary_data=out_binary, class_count=1)])
        rows = parse_classes(result.as_numpy("probabilities"))
        assert [r[0][1] for r in rows] == [d for d, _ in chunk], rows
    finally:
        c.close()


COMPRESSIONS = [(req, resp) for req in (None, "gzip", "deflate") for resp in (None, "gzip", "deflate") if req or resp]
COMPRESSION_IDS = [f"request-{req or 'plain'}_response-{resp or 'plain'}" for req, resp in COMPRESSIONS]


@pytest.mark.parametrize("request_compression,response_compression", COMPRESSIONS, ids=COMPRESSION_IDS)
def test_triton_compression(server, request_compression, response_compression):
    x = tensor(2, seed=4)
    c = httpclient.InferenceServerClient(server.url)
    try:
        ref = check_outputs(c.infer(MODEL, [fp32_input(x)], outputs=requested()), 2)
        for in_binary, out_binary in ((True, True), (False, False)):
            out = check_outputs(c.infer(MODEL, [fp32_input(x, in_binary)], outputs=requested(out_binary),
                                        request_compression_algorithm=request_compression,
                                        response_compression_algorithm=response_compression), 2)
            for name in OUTPUTS:
                np.testing.assert_array_equal(out[name], ref[name], err_msg=name)
    finally:
        c.close()


@pytest.mark.parametrize("compression", ["gzip", "deflate"])
def test_triton_compression_images(server, compression):
    c = httpclient.InferenceServerClient(server.url)
    try:
        images = c.infer(IMAGE_MODEL, [image_input(png_batch(SAMPLES[:2]))], outputs=requested(),
                         request_compression_algorithm=compression,
                         response_compression_algorithm=compression)
        out = check_outputs(images, 2, model=IMAGE_MODEL)
        assert out["logits"].argmax(1).tolist() == [d for d, _ in SAMPLES[:2]]
    finally:
        c.close()


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_response_really_compressed(server, encoding):
    """tritonclient decodes an uncompressed answer too; check here that the server compresses
    (an answer of several KiB: a server may leave tiny answers uncompressed)."""
    body = json.dumps({"inputs": [{"name": "input", "shape": [8, 3, 32, 32], "datatype": "FP32",
                                   "data": tensor(8).ravel().tolist()}]}).encode()
    status, headers, payload = raw_request(server, "POST", f"/v2/models/{MODEL}/infer", body,
                                           {"Content-Type": "application/json", "Accept-Encoding": encoding})
    assert status == 200, (status, payload[:500])
    assert headers.get("content-encoding") == encoding, (headers, payload[:100])
    plain = gzip.decompress(payload) if encoding == "gzip" else zlib.decompress(payload)
    assert json.loads(plain)["model_name"] == MODEL


def _stats_entry(stats, name):
    found = [m for m in stats.get("model_stats", []) if m.get("name") == name]
    assert len(found) == 1, f"{name} not once in {stats}"
    return found[0]


def test_triton_statistics_model(server):
    c = httpclient.InferenceServerClient(server.url)
    try:
        for seed in range(3):
            c.infer(MODEL, [fp32_input(tensor(2, seed))], outputs=requested())
        one = c.get_inference_statistics(model_name=MODEL)
        assert [m["name"] for m in one["model_stats"]] == [MODEL], one
        m = one["model_stats"][0]
        assert m["version"] == "1", m
        assert m["inference_count"] == 6 and 1 <= m["execution_count"] <= 3, m
        assert m["inference_stats"]["success"]["count"] == 3, m
        assert m["inference_stats"]["success"]["ns"] > 0, m
        assert m["last_inference"] > 0, m
        versioned = c.get_inference_statistics(model_name=MODEL, model_version="1")
        assert _stats_entry(versioned, MODEL)["inference_count"] == 6, versioned
    finally:
        c.close()


def test_triton_statistics_image_model(server):
    c = httpclient.InferenceServerClient(server.url)
    try:
        c.infer(IMAGE_MODEL, [image_input(png_batch(SAMPLES[:4]))], outputs=requested())
        img = _stats_entry(c.get_inference_statistics(model_name=IMAGE_MODEL), IMAGE_MODEL)
        assert img["inference_count"] == 4 and img["inference_stats"]["success"]["count"] == 1, img
    finally:
        c.close()


def test_triton_statistics_all_models(server):
    c = httpclient.InferenceServerClient(server.url)
    try:
        c.infer(MODEL, [fp32_input(tensor(2))], outputs=requested())
        every = c.get_inference_statistics(model_name="")  # GET /v2/models/stats
        names = [m["name"] for m in every["model_stats"]]
        assert MODEL in names and IMAGE_MODEL in names, every
        assert _stats_entry(every, MODEL)["inference_count"] == 2, every
    finally:
        c.close()


# --------------------------------------------------------------------------- tritonclient.http.aio


def aio_run(server, body):
    async def run():
        async with aiohttpclient.InferenceServerClient(server.url) as c:
            return await body(c)
    return asyncio.run(run())


def test_triton_aio_health_metadata(server):
    async def body(c):
        assert await c.is_server_live()
        assert await c.is_server_ready()
        assert await c.is_model_ready(MODEL)
        _check_model_metadata(await c.get_model_metadata(MODEL), MODEL, "input", "FP32")
    aio_run(server, body)


@pytest.mark.parametrize("model", [MODEL, IMAGE_MODEL])
def test_triton_aio_model(server, model):
    name, datatype, data_type = MODEL_IO[model]

    async def body(c):
        assert await c.is_model_ready(model)
        _check_model_metadata(await c.get_model_metadata(model), model, name, datatype)
        _check_model_config(await c.get_model_config(model), model, name, data_type)
    aio_run(server, body)


def test_triton_aio_repository_index(server):
    async def body(c):
        index = await c.get_model_repository_index()
        assert {MODEL, IMAGE_MODEL} <= {m["name"] for m in index}, index
    aio_run(server, body)


@pytest.mark.parametrize("compression", [None, "gzip", "deflate"], ids=["plain", "gzip", "deflate"])
def test_triton_aio_infer(server, compression):
    """Concurrent requests in every encoding (binary/JSON in and out): all give the sync client's
    logits. Concurrent requests share batches, and a forward pass over a different batch
    composition may round differently (measured: 1 ulp), so equal up to float32 rounding here;
    the sequential tests above require bit-identical results."""
    x = tensor(2, seed=5)
    with httpclient.InferenceServerClient(server.url) as sync_client:
        ref = check_outputs(sync_client.infer(MODEL, [fp32_input(x)], outputs=requested()), 2)

    async def body(c):
        calls = [c.infer(MODEL, [fp32_input(x, in_binary)], outputs=requested(out_binary),
                         request_compression_algorithm=compression, response_compression_algorithm=compression)
                 for in_binary in (True, False) for out_binary in (True, False)]
        for r in await asyncio.gather(*calls):
            out = check_outputs(r, 2)
            for name in OUTPUTS:
                np.testing.assert_allclose(out[name], ref[name], rtol=1e-5, atol=1e-6, err_msg=name)
        r = await c.infer(MODEL, [fp32_input(x)],
                          outputs=[httpclient.InferRequestedOutput("probabilities", class_count=2)],
                          request_compression_algorithm=compression, response_compression_algorithm=compression)
        check_classification(r, "probabilities", ref["probabilities"], 2)
    aio_run(server, body)


def test_triton_aio_images(server):
    chunk = SAMPLES[::3]

    async def body(c):
        r = await c.infer(IMAGE_MODEL, [image_input(png_batch(chunk))], outputs=requested())
        predicted = check_outputs(r, len(chunk), model=IMAGE_MODEL)["logits"].argmax(1).tolist()
        assert predicted == [d for d, _ in chunk]
    aio_run(server, body)


def test_triton_aio_statistics(server):
    async def body(c):
        await asyncio.gather(*[c.infer(MODEL, [fp32_input(tensor(2, s))], outputs=requested()) for s in range(4)])
        stats = await c.get_inference_statistics(model_name=MODEL)
        assert _stats_entry(stats, MODEL)["inference_count"] == 8, stats
        every = await c.get_inference_statistics(model_name="")
        assert {MODEL, IMAGE_MODEL} <= {m["name"] for m in every["model_stats"]}, every
    aio_run(server, body)


# --------------------------------------------------------------------------- KServe


def _kserve(coro_fn):
    from kserve import InferenceRESTClient, RESTConfig

    async def run():
        client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=60, retries=1))
        try:
            return await coro_fn(client)
        finally:
            await client.close()

    return asyncio.run(run())


def test_kserve_health(server):
    async def body(client):
        assert await client.is_server_live(server.base) is True
        assert await client.is_server_ready(server.base) is True
        assert await client.is_model_ready(server.base, "no-such-model") is False

    _kserve(body)


@pytest.mark.parametrize("model", [MODEL, IMAGE_MODEL])
def test_kserve_model_ready(server, model):
    async def body(client):
        assert await client.is_model_ready(server.base, model) is True, f"GET /v2/models/{model}/ready is not 200"

    _kserve(body)


@pytest.mark.parametrize("model", [MODEL, IMAGE_MODEL])
def test_kserve_model_metadata(server, model):
    """InferenceRESTClient (kserve 0.21) has no metadata call: read /v2 and /v2/models/{m} with
    the client's own httpx session and validate them with KServe's v2 data models."""
    from kserve.protocol.rest.v2_datamodels import ModelMetadataResponse, ServerMetadataResponse

    async def body(client):
        r = await client._client.get(f"{server.base}/v2")
        assert r.status_code == 200, (r.status_code, r.text)
        ServerMetadataResponse.model_validate(r.json())
        r = await client._client.get(f"{server.base}/v2/models/{model}")
        assert r.status_code == 200, (r.status_code, r.text)
        return ModelMetadataResponse.model_validate(r.json())

    name, datatype, _ = MODEL_IO[model]
    _check_model_metadata(_kserve(body).model_dump(), model, name, datatype)


@pytest.mark.parametrize("kind", ["json", "binary", "binary-in-json-out"])
def test_kserve_infer_fp32(server, kind):
    """kind: JSON tensor with JSON outputs; binary tensor with binary outputs (request parameter
    binary_data_output); binary tensor with one requested output as JSON."""
    from kserve import InferInput, InferRequest
    from kserve.protocol.infer_type import RequestedOutput

    x = tensor(2, seed=6)
    with httpclient.InferenceServerClient(server.url) as c:
        ref = check_outputs(c.infer(MODEL, [fp32_input(x)], outputs=requested()), 2)

    async def body(client):
        inp = InferInput("input", list(x.shape), "FP32")
        inp.set_data_from_numpy(x, binary_data=kind != "json")
        if kind == "json":
            request = InferRequest(MODEL, [inp])
        elif kind == "binary":
            request = InferRequest(MODEL, [inp], parameters={"binary_data_output": True})
        else:
            request = InferRequest(MODEL, [inp], request_outputs=[RequestedOutput("logits", {"binary_data": False})])
        return await client.infer(server.base, request, model_name=MODEL)

    res = _kserve(body)
    assert res.model_name == MODEL, res
    names = ["logits"] if kind == "binary-in-json-out" else list(OUTPUTS)
    assert sorted(o.name for o in res.outputs) == sorted(names), res.outputs
    for name in names:
        got = res.get_output_by_name(name).as_numpy()
        assert got.shape == (2, OUTPUT_WIDTH[name]), (name, got.shape)
        np.testing.assert_array_equal(got.astype(np.float32), ref[name], err_msg=name)


@pytest.mark.parametrize("kind", ["binary-png", "json-base64"])
def test_kserve_infer_bytes(server, kind):
    """The sample PNGs to fastvim-digits_image: raw files as binary BYTES, or base64 strings in JSON."""
    from kserve import InferInput, InferRequest

    chunk = SAMPLES[1::3]

    async def body(client):
        if kind == "binary-png":
            inp = InferInput("image", [len(chunk)], "BYTES")
            inp.set_data_from_numpy(png_batch(chunk), binary_data=True)
            request = InferRequest(IMAGE_MODEL, [inp], parameters={"binary_data_output": True})
        else:
            inp = InferInput("image", [len(chunk)], "BYTES",
                             data=[base64.b64encode(p.read_bytes()).decode() for _, p in chunk])
            request = InferRequest(IMAGE_MODEL, [inp])
        return await client.infer(server.base, request, model_name=IMAGE_MODEL)

    res = _kserve(body)
    assert res.model_name == IMAGE_MODEL, res
    logits = res.get_output_by_name("logits").as_numpy().astype(np.float32)
    assert logits.shape == (len(chunk), 10), logits.shape
    assert logits.argmax(1).tolist() == [d for d, _ in chunk]
    with httpclient.InferenceServerClient(server.url) as c:
        ref = check_outputs(c.infer(IMAGE_MODEL, [image_input(png_batch(chunk))], outputs=requested()),
                            len(chunk), model=IMAGE_MODEL)
    np.testing.assert_array_equal(logits, ref["logits"])


# --------------------------------------------------------------------------- the repository extension


def test_triton_repository_load_unload(repo_server):
    """tritonclient's load_model, unload_model and get_model_repository_index, unmodified."""
    client = httpclient.InferenceServerClient(repo_server.url)
    index = {(e["name"], e.get("state")) for e in client.get_model_repository_index()}
    assert ("digits", "UNAVAILABLE") in index, index
    assert not client.is_model_ready("digits")
    client.load_model("digits")
    assert client.is_model_ready("digits")
    assert client.is_model_ready("digits_image", "1")
    index = client.get_model_repository_index()
    assert {"name": "digits", "version": "1", "state": "READY"} in index, index
    x = np.zeros((1, 3, 32, 32), dtype=np.float32)
    inp = httpclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    result = client.infer("digits", [inp], model_version="1")
    assert result.as_numpy("logits").shape == (1, 10)
    client.unload_model("digits")
    assert not client.is_model_ready("digits")
    with pytest.raises(InferenceServerException):
        client.load_model("no-such-model")

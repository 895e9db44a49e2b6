#!/usr/bin/env python3
"""torch_peer.py - PyTorch (Debian's python3-torch) as a peer of qbench on
the zoo's chain models, for scripts/bench-torch; not a test.

Each model is an ONNX file whose nodes form one chain (Conv, Relu, Clip,
MaxPool, AveragePool, GlobalAveragePool, Flatten, Gemm,
BatchNormalization: the zoo's cnn, dscnn, mlp). It is rebuilt as a
torch.nn.Sequential with the file's weights (a small protobuf reader
below: no onnx package needed) and checked against qbench's fp32 output on
the same input (`qbench run`; the script stops, exit 1, when they differ by
more than 1e-4 relative). PyTorch then runs it as TorchScript: fp32
traced, frozen and through torch.jit.optimize_for_inference (its oneDNN
conv fusion: about twice as fast as frozen alone on these models), int8
traced and frozen after FX graph-mode post-training quantization with
the quantized engine's default per-channel qconfig (oneDNN where it is
built, which is the case for Debian's 1.13; FBGEMM is not), calibrated on
the same seeded inputs. One thread (torch.set_num_threads(1),
OMP_NUM_THREADS=1 for qbench), batch 1, rounds interleaved: in each round,
per model, PyTorch fp32, PyTorch int8, qbench fp32 and qbench int8
(`qbench run --repeat N` on qbench's own int8-channel file of the same
fp32 model, its printed median). Prints per model and runtime the median
latency over the rounds (min-max), qbench/PyTorch per precision and
int8/fp32 per runtime, and writes a CSV.

  torch_peer.py --qbench Q --out CSV --rounds R --repeat N --work DIR \
                NAME=FP32.onnx,INT8.onnx,1x1x28x28 ...

Exit 2 on bad arguments, a model that is not a supported chain or a
missing PyTorch, with one message naming the file and node.
"""
import argparse
import os
import statistics
import struct
import subprocess
import sys
import time

ME = "bench-torch"


def die(msg, code=2):
    print(f"{ME}: {msg}", file=sys.stderr)
    sys.exit(code)


# ---- a minimal protobuf reader for ModelProto (wire format only) ----

def _varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        if c < 0x80:
            return v, i
        shift += 7


def _fields(b):
    """(field number, wire type, value) of a message's bytes; LEN values as bytes."""
    i, n = 0, len(b)
    while i < n:
        key, i = _varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 2:
            ln, i = _varint(b, i)
            v, i = b[i:i + ln], i + ln
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wt}")
        yield num, wt, v


def _ints(wt, v):
    """An int64 repeated field's value: packed (LEN) or one varint."""
    if wt == 0:
        return [v - (1 << 64) if v >= 1 << 63 else v]
    out, i = [], 0
    while i < len(v):
        x, i = _varint(v, i)
        out.append(x - (1 << 64) if x >= 1 << 63 else x)
    return out


def _tensor(b):
    import numpy as np
    dims, dt, name, raw, fl, i64 = [], 1, "", None, [], []
    for num, wt, v in _fields(b):
        if num == 1:
            dims += _ints(wt, v)
        elif num == 2:
            dt = v
        elif num == 4:
            fl += list(struct.unpack(f"<{len(v) // 4}f", v)) if wt == 2 else list(struct.unpack("<f", v))
        elif num == 7:
            i64 += _ints(wt, v)
        elif num == 8:
            name = v.decode()
        elif num == 9:
            raw = v
    types = {1: np.float32, 7: np.int64}
    if dt not in types:
        raise ValueError(f"initializer '{name}' has element type {dt} (float32 and int64 only)")
    if raw is not None:
        a = np.frombuffer(raw, dtype=types[dt]).copy()
    else:
        a = np.array(fl if dt == 1 else i64, dtype=types[dt])
    return name, a.reshape(dims)


def _attr(b):
    name, val = "", None
    fl, ints = [], []
    for num, wt, v in _fields(b):
        if num == 1:
            name = v.decode()
        elif num == 2:
            val = struct.unpack("<f", v)[0]
        elif num == 3:
            val = _ints(0, v)[0]
        elif num == 4:
            val = v.decode()
        elif num == 7:
            fl += list(struct.unpack(f"<{len(v) // 4}f", v)) if wt == 2 else list(struct.unpack("<f", v))
        elif num == 8:
            ints += _ints(wt, v)
    if ints:
        val = ints
    elif fl:
        val = fl
    return name, val


def load_onnx(path):
    """(nodes, initializers, input names, output names) of an ONNX file;
    nodes as dicts op, name, inputs, outputs, attrs."""
    with open(path, "rb") as f:
        b = f.read()
    graph = None
    for num, _, v in _fields(b):
        if num == 7:
            graph = v
    if graph is None:
        die(f"{path}: no graph (not an ONNX model)")
    nodes, inits, inputs, outputs = [], {}, [], []
    for num, _, v in _fields(graph):
        if num == 1:
            nd = {"inputs": [], "outputs": [], "name": "", "op": "", "attrs": {}}
            for n2, _, v2 in _fields(v):
                if n2 == 1:
                    nd["inputs"].append(v2.decode())
                elif n2 == 2:
                    nd["outputs"].append(v2.decode())
                elif n2 == 3:
                    nd["name"] = v2.decode()
                elif n2 == 4:
                    nd["op"] = v2.decode()
                elif n2 == 5:
                    k, val = _attr(v2)
                    nd["attrs"][k] = val
            nodes.append(nd)
        elif num == 5:
            try:
                k, a = _tensor(v)
            except ValueError as e:
                die(f"{path}: {e}")
            inits[k] = a
        elif num in (11, 12):
            nm = next((v2.decode() for n2, _, v2 in _fields(v) if n2 == 1), "")
            (inputs if num == 11 else outputs).append(nm)
    inputs = [i for i in inputs if i not in inits]
    return nodes, inits, inputs, outputs


# ---- the chain as torch modules ----

def build_chain(path):
    import torch
    from torch import nn
    nodes, inits, inputs, outputs = load_onnx(path)
    if len(inputs) != 1 or len(outputs) != 1:
        die(f"{path}: {len(inputs)} inputs and {len(outputs)} outputs; the torch peer takes one of each")
    cur, mods = inputs[0], []

    def w(nd, k):
        name = nd["inputs"][k] if k < len(nd["inputs"]) else ""
        if name and name not in inits:
            die(f"{path}: node '{nd['name']}' ({nd['op']}): input {k} '{name}' is not a constant")
        return torch.from_numpy(inits[name]) if name else None

    def sym_pads(nd, pads):
        h = len(pads) // 2
        if pads[:h] != pads[h:]:
            die(f"{path}: node '{nd['name']}' ({nd['op']}): asymmetric pads {pads}")
        return tuple(pads[:h])

    for nd in nodes:
        op, a = nd["op"], nd["attrs"]
        if not nd["inputs"] or nd["inputs"][0] != cur or len(nd["outputs"]) < 1:
            die(f"{path}: node '{nd['name']}' ({op}) does not continue the chain from '{cur}'")
        if op == "Conv":
            W, B = w(nd, 1), w(nd, 2)
            g = a.get("group", 1)
            k = tuple(W.shape[2:])
            m = nn.Conv2d(W.shape[1] * g, W.shape[0], k, stride=tuple(a.get("strides", [1, 1])),
                          padding=sym_pads(nd, a.get("pads", [0, 0, 0, 0])),
                          dilation=tuple(a.get("dilations", [1, 1])), groups=g, bias=B is not None)
            m.weight.data.copy_(W)
            if B is not None:
                m.bias.data.copy_(B)
        elif op == "Relu":
            m = nn.ReLU()
        elif op == "Clip":
            lo, hi = w(nd, 1), w(nd, 2)
            lo = float(lo) if lo is not None else a.get("min", float("-inf"))
            hi = float(hi) if hi is not None else a.get("max", float("inf"))
            m = nn.ReLU6() if (lo, hi) == (0.0, 6.0) else nn.Hardtanh(lo, hi)
        elif op == "MaxPool":
            m = nn.MaxPool2d(tuple(a["kernel_shape"]), stride=tuple(a.get("strides", a["kernel_shape"])),
                             padding=sym_pads(nd, a.get("pads", [0, 0, 0, 0])))
        elif op == "AveragePool":
            m = nn.AvgPool2d(tuple(a["kernel_shape"]), stride=tuple(a.get("strides", a["kernel_shape"])),
                             padding=sym_pads(nd, a.get("pads", [0, 0, 0, 0])),
                             count_include_pad=bool(a.get("count_include_pad", 0)))
        elif op == "GlobalAveragePool":
            m = nn.AdaptiveAvgPool2d(1)
        elif op == "Flatten":
            if a.get("axis", 1) != 1:
                die(f"{path}: node '{nd['name']}' (Flatten): axis {a['axis']}, the torch peer takes 1")
            m = nn.Flatten(1)
        elif op == "Gemm":
            W, B = w(nd, 1), w(nd, 2)
            if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
                die(f"{path}: node '{nd['name']}' (Gemm): transA, alpha or beta not at their defaults")
            if not a.get("transB", 0):
                W = W.t()
            m = nn.Linear(W.shape[1], W.shape[0], bias=B is not None)
            m.weight.data.copy_(W)
            if B is not None:
                m.bias.data.copy_(B.reshape(-1))
        elif op == "BatchNormalization":
            sc, bi, mean, var = (w(nd, k) for k in range(1, 5))
            m = nn.BatchNorm2d(sc.shape[0], eps=a.get("epsilon", 1e-5))
            m.weight.data.copy_(sc)
            m.bias.data.copy_(bi)
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
        else:
            die(f"{path}: node '{nd['name']}': operator {op} is not supported by the torch peer")
        mods.append(m)
        cur = nd["outputs"][0]
    if cur != outputs[0]:
        die(f"{path}: the chain ends at '{cur}', the graph's output is '{outputs[0]}'")
    return nn.Sequential(*mods).eval()


# ---- timing ----

def time_torch(fn, x, repeat):
    import torch
    with torch.no_grad():
        for _ in range(3):
            fn(x)
        t = []
        for _ in range(repeat):
            t0 = time.perf_counter_ns()
            fn(x)
            t.append((time.perf_counter_ns() - t0) / 1e6)
    return statistics.median(t)


def time_qbench(q, model, raw, shape, repeat, outdir):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([q, "run", model, "--input-raw", raw, "--shape", shape, "-o", outdir, "--repeat", str(repeat)],
                       capture_output=True, text=True, env=env)
    for line in (r.stdout + r.stderr).splitlines():
        if line.startswith("latency: median "):
            return float(line.split()[2])
    die(f"qbench run {model} failed (exit {r.returncode}): {(r.stderr or r.stdout).strip().splitlines()[-1:]}", 1)


def read_output_pb(path):
    with open(path, "rb") as f:
        return _tensor(f.read())[1]


def main():
    ap = argparse.ArgumentParser(prog=ME)
    ap.add_argument("--qbench", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=300)
    ap.add_argument("--work", required=True)
    ap.add_argument("--calib", type=int, default=32)
    ap.add_argument("models", nargs="+", help="NAME=FP32.onnx,INT8.onnx,SHAPE")
    o = ap.parse_args()
    try:
        import numpy as np
        import torch
        from torch.ao.quantization import get_default_qconfig_mapping
        from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    except ImportError as e:
        die(f"PyTorch is not installed ({e}); apt-get install python3-torch")
    torch.set_num_threads(1)
    engines = torch.backends.quantized.supported_engines
    engine = next((e for e in ("x86", "onednn", "fbgemm") if e in engines), None)
    if engine is None:
        die(f"no x86 quantized engine in this PyTorch (it has {engines})")
    torch.backends.quantized.engine = engine
    print(f"{ME}: torch {torch.__version__}, quantized engine {engine}, 1 thread; "
          f"load {os.getloadavg()[0]:.2f}", file=sys.stderr)
    rng = np.random.default_rng(1234)
    runs = []
    for spec in o.models:
        try:
            name, files = spec.split("=", 1)
            f32, i8, shape = files.split(",")
            dims = [int(d) for d in shape.split("x")]
        except ValueError:
            die(f"'{spec}': want NAME=FP32.onnx,INT8.onnx,AxBxC")
        for f in (f32, i8):
            if not os.path.isfile(f):
                die(f"{name}: {f}: no such file")
        model = build_chain(f32)
        x = torch.from_numpy(rng.uniform(-1, 1, size=dims).astype(np.float32))
        raw = os.path.join(o.work, f"{name}.torch-input.raw")
        x.numpy().tofile(raw)
        outdir = os.path.join(o.work, f"{name}.torch-out")
        os.makedirs(outdir, exist_ok=True)
        time_qbench(o.qbench, f32, raw, shape, 1, outdir)
        want = read_output_pb(os.path.join(outdir, "output_0.pb"))
        with torch.no_grad():
            ts32 = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, x)))
            got = ts32(x).numpy()
        err = float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want)))))
        if got.shape != want.shape or err > 1e-4:
            die(f"{name}: PyTorch's rebuilt {f32} differs from qbench's fp32 output (max relative {err:.3g})", 1)
        with torch.no_grad():
            qm = prepare_fx(build_chain(f32), get_default_qconfig_mapping(engine), (x,))
            for _ in range(o.calib):
                qm(torch.from_numpy(rng.uniform(-1, 1, size=dims).astype(np.float32)))
            qm = convert_fx(qm)
            ts8 = torch.jit.freeze(torch.jit.trace(qm, x))
            q8 = float(np.max(np.abs(ts8(x).numpy() - got)))
        print(f"{ME}: {name}: PyTorch fp32 matches qbench (max relative {err:.2g}); "
              f"PyTorch int8 max |int8 - fp32| {q8:.3g}", file=sys.stderr)
        runs.append((name, f32, i8, shape, raw, outdir, ts32, ts8, x))
    res = {}
    for r in range(o.rounds):
        for name, f32, i8, shape, raw, outdir, ts32, ts8, x in runs:
            res.setdefault((name, "pytorch", "fp32"), []).append(time_torch(ts32, x, o.repeat))
            res.setdefault((name, "pytorch", "int8"), []).append(time_torch(ts8, x, o.repeat))
            res.setdefault((name, "qbench", "fp32"), []).append(time_qbench(o.qbench, f32, raw, shape, o.repeat, outdir))
            res.setdefault((name, "qbench", "int8"), []).append(time_qbench(o.qbench, i8, raw, shape, o.repeat, outdir))
    med = {k: statistics.median(v) for k, v in res.items()}
    with open(o.out + ".tmp", "w") as f:
        f.write("model,runtime,precision,median_ms,min_ms,max_ms,rounds,repeat\n")
        for (name, rt, p), v in res.items():
            f.write(f"{name},{rt},{p},{med[(name, rt, p)]:.6f},{min(v):.6f},{max(v):.6f},{len(v)},{o.repeat}\n")
    os.replace(o.out + ".tmp", o.out)
    print("model   | runtime | fp32 ms (min-max)          | int8 ms (min-max)          | int8/fp32")
    for name, *_ in runs:
        for rt in ("pytorch", "qbench"):
            a, b = res[(name, rt, "fp32")], res[(name, rt, "int8")]
            print(f"{name:7s} | {rt:7s} | {med[(name, rt, 'fp32')]:.4f} ({min(a):.4f}-{max(a):.4f}) "
                  f"| {med[(name, rt, 'int8')]:.4f} ({min(b):.4f}-{max(b):.4f}) "
                  f"| {med[(name, rt, 'fp32')] / med[(name, rt, 'int8')]:.2f}")
        print(f"{name:7s} | qbench/pytorch: fp32 {med[(name, 'qbench', 'fp32')] / med[(name, 'pytorch', 'fp32')]:.2f}, "
              f"int8 {med[(name, 'qbench', 'int8')] / med[(name, 'pytorch', 'int8')]:.2f}")
    print(f"{ME}: wrote {o.out}", file=sys.stderr)


if __name__ == "__main__":
    main()

// driver.js - the measuring half of scripts/bench-runtimes: in this one
// node process, for each model and precision, interleaved rounds of
// qbench (`qbench run --repeat N`, one child process per round; its own
// median) and onnxruntime-node (one session per model file, created once;
// N timed runs per round), one thread, batch 1, the same seeded inputs.
// Prints medians over rounds with their spread and the ratios
// qbench/onnxruntime and int8/fp32; writes the CSV. onnxruntime's peak
// memory is measured in a child node process per model file (session +
// N runs), next to the same child with no session (node + the library).
// Before each round it prints the load and the CPU pair's round trip
// (`qbench info`): where the host has put the two vCPUs.
//
//   node driver.js PLAN.json
//   node driver.js --calib-data MODEL.json DIR N   (N seeded samples for
//       `qbench quantize --data DIR`: DIR/sNNN.npy for one input,
//       DIR/sNNN/NAME.npy for several)
// PLAN.json: {"qbench": path, "ort": dir with node_modules/onnxruntime-node
// or "", "rounds": R, "repeat": N, "csv": path, "workdir": dir,
//  "models": [{"name", "inputs": [{"name", "dtype": "float32"|"int64",
//  "shape": [..] ([] a scalar), "value": fill (optional)}], "fp32": path,
//  "int8": path or ""}]}; an entry with "shape": [..] instead of "inputs"
// has one float32 input (the file's first). Every input gets a seeded
// tensor of its shape and dtype (float32 uniform in [-1, 1), each input
// its own seed; an int64 input its "value", else 1); a model file gets
// the inputs it declares, by name (a QDQ file may declare fewer: Silero's
// sr is bound when quantizing).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');

const sessOpts = { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential',
                   graphOptimizationLevel: 'all' };
const mode = process.argv[2];
if (mode === '--peak') { // child: peak RSS of onnxruntime on one file (or none)
    peakChild(process.argv[3], process.argv[4], JSON.parse(process.argv[5] || '[]'), +process.argv[6]);
    return;
}
if (mode === '--calib-data') { // seeded calibration samples for qbench quantize --data
    calibData(JSON.parse(fs.readFileSync(process.argv[3], 'utf8')), process.argv[4], +process.argv[5]);
    return;
}
const plan = JSON.parse(fs.readFileSync(mode, 'utf8'));
let ort = null;
if (plan.ort) {
    try {
        ort = require(path.join(plan.ort, 'node_modules', 'onnxruntime-node'));
    } catch (err) {
        console.error(`bench-runtimes: onnxruntime-node not loadable from ${plan.ort} (${err.message}); qbench only`);
    }
}

function median(v) {
    const s = [...v].sort((a, b) => a - b), n = s.length;
    return n % 2 ? s[(n - 1) / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

// The model's inputs as a list [{name, dtype, shape, value}] (a plan entry
// with "shape" alone: one float32 input, named by the file).
function modelInputs(m) {
    return m.inputs || [{ name: null, dtype: 'float32', shape: m.shape }];
}

// Input k of a model as a seeded tensor (sample s): float32 uniform in
// [-1, 1) by xorshift32, its own seed per input and sample; int64 filled
// with the input's value (else 1). The same bytes for both runtimes.
function makeTensor(inp, k, sample = 0) {
    const n = inp.shape.reduce((a, b) => a * b, 1);
    if (inp.dtype === 'int64')
        return new BigInt64Array(n).fill(BigInt(inp.value === undefined ? 1 : inp.value));
    if (inp.dtype !== 'float32')
        throw new Error(`input ${inp.name}: dtype ${inp.dtype} (float32 or int64 only)`);
    const x = new Float32Array(n);
    let s = (0x9e3779b9 + 0x6d2b79f5 * (k + 16 * sample)) >>> 0 || 1;
    for (let i = 0; i < n; i++) {
        s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
        x[i] = s / 2147483648 - 1;
    }
    return x;
}

function rawBytes(x) { return Buffer.from(x.buffer, x.byteOffset, x.byteLength); }

function varintBytes(v) {
    const o = [];
    v = BigInt(v);
    do {
        let c = Number(v & 0x7fn);
        v >>= 7n;
        if (v)
            c |= 0x80;
        o.push(c);
    } while (v);
    return Buffer.from(o);
}

// One ONNX TensorProto (dims, data_type, name, raw_data) for `qbench run --input`.
function tensorPb(name, dtype, shape, x) {
    const parts = [];
    for (const d of shape)
        parts.push(Buffer.from([0x08]), varintBytes(d));
    parts.push(Buffer.from([0x10]), varintBytes(dtype === 'int64' ? 7 : 1));
    const nm = Buffer.from(name, 'utf8'), raw = rawBytes(x);
    parts.push(Buffer.from([0x42]), varintBytes(nm.length), nm, Buffer.from([0x4a]), varintBytes(raw.length), raw);
    return Buffer.concat(parts);
}

// One NumPy .npy file (format 1.0, little endian, C order).
function npyBytes(dtype, shape, x) {
    const shp = shape.length === 0 ? '()' : shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
    let h = `{'descr': '${dtype === 'int64' ? '<i8' : '<f4'}', 'fortran_order': False, 'shape': ${shp}, }`;
    h += ' '.repeat((64 - (10 + h.length + 1) % 64) % 64) + '\n';
    const head = Buffer.alloc(10);
    head.write('\x93NUMPY', 0, 'latin1');
    head[6] = 1;
    head.writeUInt16LE(h.length, 8);
    return Buffer.concat([head, Buffer.from(h, 'latin1'), rawBytes(x)]);
}

// The graph inputs a model file declares (graph.input less the
// initializers), read from its protobuf: field 7 of ModelProto is the
// graph, 11 of GraphProto an input (its name: field 1), 5 an initializer
// (its name: field 8).
function onnxInputNames(file) {
    const b = fs.readFileSync(file);
    const varint = pos => {
        let v = 0, mul = 1, c;
        do {
            if (pos.p >= b.length)
                throw new Error(`${file}: truncated protobuf`);
            c = b[pos.p++];
            v += (c & 0x7f) * mul;
            mul *= 128;
        } while (c & 0x80);
        return v;
    };
    const fields = (start, end, cb) => { // cb(field, start, end) for each length-delimited field
        const pos = { p: start };
        while (pos.p < end) {
            const key = varint(pos), w = key % 8;
            if (w === 0)
                varint(pos);
            else if (w === 1)
                pos.p += 8;
            else if (w === 5)
                pos.p += 4;
            else if (w === 2) {
                const n = varint(pos);
                cb(Math.floor(key / 8), pos.p, pos.p + n);
                pos.p += n;
            } else
                throw new Error(`${file}: not an ONNX model (protobuf wire type ${w})`);
        }
    };
    const nameIn = (s, e, field) => {
        let n = '';
        fields(s, e, (f, s2, e2) => { if (f === field) n = b.toString('utf8', s2, e2); });
        return n;
    };
    let graph = null;
    fields(0, b.length, (f, s, e) => { if (f === 7) graph = [s, e]; });
    if (!graph)
        throw new Error(`${file}: no graph in this ONNX file`);
    const names = [], inits = new Set();
    fields(graph[0], graph[1], (f, s, e) => {
        if (f === 11)
            names.push(nameIn(s, e, 1));
        else if (f === 5)
            inits.add(nameIn(s, e, 8));
    });
    return names.filter(n => !inits.has(n));
}

// For one model of the plan: its seeded tensors, one .pb per input in
// workdir, and the input names (legacy entries: the fp32 file's first).
function prepareInputs(m) {
    const ins = modelInputs(m).map(i => ({ ...i }));
    if (ins.length === 1 && !ins[0].name)
        ins[0].name = onnxInputNames(m.fp32)[0];
    for (const [k, i] of ins.entries()) {
        i.data = makeTensor(i, k);
        i.pb = path.join(plan.workdir, `${m.name}.${k}.pb`);
        fs.writeFileSync(i.pb, tensorPb(i.name, i.dtype, i.shape, i.data));
    }
    return ins;
}

// The inputs model file `file` declares, in its order, from ins (by name).
function inputsOf(file, ins) {
    return onnxInputNames(file).map(n => {
        const i = ins.find(j => j.name === n);
        if (!i)
            throw new Error(`${file} declares input '${n}', which the plan does not give (${ins.map(j => j.name)})`);
        return i;
    });
}

// --calib-data: N seeded samples of a model's inputs as .npy files in dir.
function calibData(m, dir, n) {
    const ins = modelInputs(m);
    fs.mkdirSync(dir, { recursive: true });
    for (let s = 0; s < n; s++) {
        const id = `s${String(s).padStart(3, '0')}`;
        if (ins.length === 1) {
            fs.writeFileSync(path.join(dir, `${id}.npy`), npyBytes(ins[0].dtype, ins[0].shape, makeTensor(ins[0], 0, s)));
            continue;
        }
        fs.mkdirSync(path.join(dir, id), { recursive: true });
        for (const [k, i] of ins.entries())
            fs.writeFileSync(path.join(dir, id, `${i.name}.npy`), npyBytes(i.dtype, i.shape, makeTensor(i, k, s)));
    }
}

// onnxruntime feeds for a session from ins.
function ortFeeds(o, sess, ins) {
    const feeds = {};
    for (const n of sess.inputNames) {
        const i = ins.find(j => j.name === n);
        if (!i)
            throw new Error(`input '${n}' is not in the plan`);
        feeds[n] = new o.Tensor(i.dtype, i.data, i.shape);
    }
    return feeds;
}

function qbenchRound(file, ins) {
    const args = ['run', file];
    for (const i of ins)
        args.push('--input', i.pb);
    const out = execFileSync(plan.qbench, [...args, '-o', path.join(plan.workdir, 'out'), '--repeat', String(plan.repeat)],
                             { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
    const r = /latency: median ([\d.]+) ms .* peak_rss ([\d.]+) MiB arena ([\d.]+) MiB/.exec(out);
    if (!r)
        throw new Error(`qbench run printed no latency line:\n${out}`);
    return { ms: +r[1], rss: +r[2], arena: +r[3] };
}

async function ortRound(sess, feeds) {
    const t = [];
    for (let i = 0; i < plan.repeat; i++) {
        const t0 = process.hrtime.bigint();
        await sess.run(feeds);
        t.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    return median(t);
}

async function peakChild(ortDir, file, inputs, repeat) {
    const o = require(path.join(ortDir, 'node_modules', 'onnxruntime-node'));
    if (file !== '-') {
        const s = await o.InferenceSession.create(file, sessOpts);
        const ins = inputs.map((i, k) => ({ ...i, data: makeTensor(i, k) }));
        const feeds = ortFeeds(o, s, ins);
        for (let i = 0; i < repeat; i++)
            await s.run(feeds);
    }
    // VmHWM: this address space's peak (getrusage's maximum is inherited across fork and exec)
    const m = /VmHWM:\s*(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    console.log(JSON.stringify({ rss_mib: (m ? +m[1] : process.resourceUsage().maxRSS) / 1024 }));
}

function peakOrt(file, ins) {
    const spec = ins.map(i => ({ name: i.name, dtype: i.dtype, shape: i.shape, value: i.value }));
    const out = execFileSync(process.execPath, [__filename, '--peak', plan.ort, file, JSON.stringify(spec),
                                                String(plan.repeat)], { encoding: 'utf8' });
    return JSON.parse(out.trim().split('\n').pop()).rss_mib;
}

// The cache-line round trip between the first two CPUs (`qbench info`):
// where the host has put the vCPUs when the round starts (docs/engine.md).
function cpuPair() {
    try {
        const info = execFileSync(plan.qbench, ['info'], { encoding: 'utf8' });
        const line = info.split('\n').find(l => l.startsWith('cpu pair'));
        return line ? line.replace(/ \(middle half.*/, '') : 'cpu pair round trip: not printed by qbench info';
    } catch (err) {
        return `cpu pair round trip: qbench info failed (${err.message.split('\n')[0]})`;
    }
}

function fmt(v, d = 3) { return v === undefined || v === null || Number.isNaN(v) ? '-' : v.toFixed(d); }

async function main() {
    fs.mkdirSync(plan.workdir, { recursive: true });
    const precs = ['fp32', 'int8'];
    const cells = []; // one per (model, prec): qbench and onnxruntime round medians
    for (const m of plan.models) {
        const ins = prepareInputs(m);
        for (const p of precs) {
            if (!m[p])
                continue;
            const c = { m, p, ins: [], q: [], o: [], rss: 0, arena: 0, sess: null, feeds: null, err: '', qerr: '' };
            try {
                c.ins = inputsOf(m[p], ins);
            } catch (err) {
                c.qerr = c.err = err.message;
                console.error(`bench-runtimes: ${c.err}`);
            }
            if (ort && !c.err) {
                try {
                    c.sess = await ort.InferenceSession.create(m[p], sessOpts);
                    c.feeds = ortFeeds(ort, c.sess, ins);
                    for (let w = 0; w < 3; w++) // warm-up
                        await c.sess.run(c.feeds);
                } catch (err) {
                    c.err = `onnxruntime cannot run ${m[p]}: ${err.message.split('\n')[0]}`;
                    console.error(`bench-runtimes: ${c.err}`);
                    c.sess = null;
                }
            }
            cells.push(c);
        }
    }
    for (let r = 0; r < plan.rounds; r++) { // interleaved: every cell once per round
        const load = os.loadavg().map(l => l.toFixed(2)).join(' ');
        process.stderr.write(`bench-runtimes: round ${r + 1}/${plan.rounds}: load ${load}, ${cpuPair()}\n`);
        for (const c of cells) {
            if (!c.qerr) {
                try {
                    const q = qbenchRound(c.m[c.p], c.ins);
                    c.q.push(q.ms);
                    c.rss = Math.max(c.rss, q.rss);
                    c.arena = q.arena;
                } catch (err) {
                    c.qerr = `qbench cannot run ${c.m[c.p]}: ${String(err.stderr || err.message).trim().split('\n').pop()}`;
                    console.error(`bench-runtimes: ${c.qerr}`);
                }
            }
            if (c.sess)
                c.o.push(await ortRound(c.sess, c.feeds));
        }
        process.stderr.write(`bench-runtimes: round ${r + 1}/${plan.rounds} done\n`);
    }
    const base = ort ? peakOrt('-', []) : null;
    const rows = [['model', 'precision', 'runtime', 'median_ms', 'min_ms', 'max_ms', 'rounds', 'repeat',
                   'peak_rss_mib', 'arena_mib', 'note']];
    const stat = {};
    for (const c of cells) {
        const key = `${c.m.name}/${c.p}`;
        stat[key] = { q: c.q.length ? median(c.q) : NaN, o: c.o.length ? median(c.o) : NaN };
        if (c.q.length)
            rows.push([c.m.name, c.p, 'qbench', median(c.q).toFixed(4), Math.min(...c.q).toFixed(4),
                       Math.max(...c.q).toFixed(4), c.q.length, plan.repeat, c.rss.toFixed(1), c.arena.toFixed(2), '']);
        else
            rows.push([c.m.name, c.p, 'qbench', '', '', '', 0, plan.repeat, '', '', c.qerr.replace(/,/g, ';')]);
        if (c.o.length) {
            const peak = peakOrt(c.m[c.p], c.ins);
            stat[key].orss = peak;
            rows.push([c.m.name, c.p, 'onnxruntime', median(c.o).toFixed(4), Math.min(...c.o).toFixed(4),
                       Math.max(...c.o).toFixed(4), c.o.length, plan.repeat, peak.toFixed(1), '',
                       `node+library alone ${base.toFixed(1)} MiB`]);
        } else if (ort) {
            rows.push([c.m.name, c.p, 'onnxruntime', '', '', '', 0, plan.repeat, '', '', c.err.replace(/,/g, ';')]);
        }
        stat[key].qrss = c.q.length ? c.rss : NaN;
        stat[key].qspread = c.q.length ? `${Math.min(...c.q).toFixed(3)}-${Math.max(...c.q).toFixed(3)}` : '-';
        stat[key].ospread = c.o.length ? `${Math.min(...c.o).toFixed(3)}-${Math.max(...c.o).toFixed(3)}` : '-';
    }
    fs.writeFileSync(plan.csv + '.tmp', rows.map(r => r.join(',')).join('\n') + '\n');
    fs.renameSync(plan.csv + '.tmp', plan.csv);
    console.log(`\nmedians over ${plan.rounds} interleaved rounds (each the median of ${plan.repeat} runs), ms; ` +
                `spread = min-max of the round medians; one thread, batch 1`);
    console.log(['model', 'prec', 'qbench', '(spread)', 'onnxrt', '(spread)', 'qb/ort', 'int8/fp32 speed-up qb',
                 'ort', 'peak MiB qb', 'ort'].join('\t'));
    for (const m of plan.models)
        for (const p of precs) {
            const s = stat[`${m.name}/${p}`];
            if (!s)
                continue;
            const f = stat[`${m.name}/fp32`];
            const upq = p === 'int8' && f ? f.q / s.q : NaN, upo = p === 'int8' && f ? f.o / s.o : NaN;
            console.log([m.name, p, fmt(s.q), s.qspread, fmt(s.o), s.ospread, fmt(s.q / s.o, 2), fmt(upq, 2),
                         fmt(upo, 2), fmt(s.qrss, 1), fmt(s.orss, 1)].join('\t'));
        }
    if (base !== null)
        console.log(`onnxruntime peak RSS includes node and the library: ${base.toFixed(1)} MiB with no session`);
    console.log(`wrote ${plan.csv}`);
}

main().catch(err => { console.error(`bench-runtimes: ${err.message}`); process.exit(1); });

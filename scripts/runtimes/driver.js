// driver.js - the measuring half of scripts/bench-runtimes: in this one
// node process, for each model and precision, interleaved rounds of
// qbench (`qbench run --repeat N`, one child process per round; its own
// median) and onnxruntime-node (one session per model file, created once;
// N timed runs per round), one thread, batch 1, the same seeded input.
// Prints medians over rounds with their spread and the ratios
// qbench/onnxruntime and int8/fp32; writes the CSV. onnxruntime's peak
// memory is measured in a child node process per model file (session +
// N runs), next to the same child with no session (node + the library).
//
//   node driver.js PLAN.json
// PLAN.json: {"qbench": path, "ort": dir with node_modules/onnxruntime-node
// or "", "rounds": R, "repeat": N, "csv": path, "workdir": dir,
//  "models": [{"name", "shape": [..], "fp32": path, "int8": path or ""}]}
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const sessOpts = { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential',
                   graphOptimizationLevel: 'all' };
const mode = process.argv[2];
if (mode === '--peak') { // child: peak RSS of onnxruntime on one file (or none)
    peakChild(process.argv[3], process.argv[4], JSON.parse(process.argv[5] || '[]'), +process.argv[6]);
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

// seeded uniform input in [-1, 1): the same bytes for both runtimes
function makeInput(shape, file) {
    const n = shape.reduce((a, b) => a * b, 1), x = new Float32Array(n);
    let s = 0x9e3779b9 >>> 0;
    for (let i = 0; i < n; i++) {
        s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
        x[i] = s / 2147483648 - 1;
    }
    fs.writeFileSync(file, Buffer.from(x.buffer));
    return x;
}

function qbenchRound(m, prec, input) {
    const out = execFileSync(plan.qbench, ['run', m[prec], '--input-raw', input, '--shape', m.shape.join('x'),
                                            '-o', path.join(plan.workdir, 'out'), '--repeat', String(plan.repeat)],
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

async function peakChild(ortDir, file, shape, repeat) {
    const o = require(path.join(ortDir, 'node_modules', 'onnxruntime-node'));
    if (file !== '-') {
        const s = await o.InferenceSession.create(file, sessOpts);
        const x = new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.5);
        const feeds = { [s.inputNames[0]]: new o.Tensor('float32', x, shape) };
        for (let i = 0; i < repeat; i++)
            await s.run(feeds);
    }
    // VmHWM: this address space's peak (getrusage's maximum is inherited across fork and exec)
    const m = /VmHWM:\s*(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    console.log(JSON.stringify({ rss_mib: (m ? +m[1] : process.resourceUsage().maxRSS) / 1024 }));
}

function peakOrt(file, shape) {
    const out = execFileSync(process.execPath, [__filename, '--peak', plan.ort, file, JSON.stringify(shape),
                                                String(plan.repeat)], { encoding: 'utf8' });
    return JSON.parse(out.trim().split('\n').pop()).rss_mib;
}

function fmt(v, d = 3) { return v === undefined || v === null || Number.isNaN(v) ? '-' : v.toFixed(d); }

async function main() {
    fs.mkdirSync(plan.workdir, { recursive: true });
    const precs = ['fp32', 'int8'];
    const cells = []; // one per (model, prec): qbench and onnxruntime round medians
    for (const m of plan.models) {
        const input = path.join(plan.workdir, `${m.name}.in`);
        const x = makeInput(m.shape, input);
        for (const p of precs) {
            if (!m[p])
                continue;
            const c = { m, p, input, q: [], o: [], rss: 0, arena: 0, sess: null, feeds: null, err: '', qerr: '' };
            if (ort) {
                try {
                    c.sess = await ort.InferenceSession.create(m[p], sessOpts);
                    c.feeds = { [c.sess.inputNames[0]]: new ort.Tensor('float32', x, m.shape) };
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
        for (const c of cells) {
            if (!c.qerr) {
                try {
                    const q = qbenchRound(c.m, c.p, c.input);
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
            const peak = peakOrt(c.m[c.p], c.m.shape);
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

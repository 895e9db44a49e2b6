#!/bin/sh
# reports.sh - tests of the reporting verbs (plot, report, compare, advise,
# history) and of the help every verb answers, on the crafted results in
# tests/fixtures/reports/ and variants of them made here (one column of
# one row changed). Run by `make test`: tests/reports.sh build/qbench
# The HTML report is also rendered in headless Chromium when it is
# installed (scripts/install-deps installs it); the screenshot is kept
# as reports/test-report.png.
set -u
QB=${1:?usage: tests/reports.sh QBENCH}
FIX=tests/fixtures/reports
BASE=$FIX/base.csv
T=$(mktemp -d /tmp/qbench-reports-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
n=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
bad() { n=$((n + 1)); fails=$((fails + 1)); echo "FAIL $n - $1"; }
# expect CODE NAME CMD...: run CMD, stdout+stderr in $T/out, check the exit code
expect() {
    want=$1; name=$2; shift 2
    "$@" > "$T/out" 2>&1
    got=$?
    if [ "$got" = "$want" ]; then ok "$name (exit $got)"; else bad "$name: exit $got, want $want"; sed 's/^/    /' "$T/out" | head -20; fi
}
# has PATTERN NAME: $T/out matches the extended regex
has() {
    if grep -Eq -- "$1" "$T/out"; then ok "$2"; else bad "$2: no '$1' in the output"; sed 's/^/    /' "$T/out" | head -20; fi
}
# setcol IN OUT CELLREGEX COLUMN VALUE: copy IN to OUT with COLUMN set to
# VALUE on the rows whose model/precision/method/isa matches CELLREGEX
setcol() {
    awk -F, -v OFS=, -v re="$3" -v col="$4" -v val="$5" '
        NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; print; next }
        { key = $c["model"] "/" $c["precision"] "/" $c["method"] "/" $c["isa"]
          if (key ~ re) $c[col] = val; print }' "$1" > "$2"
}

echo "== help and version"
for v in $("$QB" --help | awk '/^  qbench [a-z]/ { print $2 }' | sort -u); do
    expect 0 "$v --help" "$QB" "$v" --help
    has "^usage: qbench $v" "$v --help prints its usage"
    expect 0 "$v -h" "$QB" "$v" -h
done
expect 0 "--version" "$QB" --version
has "^qbench [0-9.]+ \(git [0-9a-f]+" "--version names the git sha"

echo "== compare: exit codes"
expect 0 "compare a file with itself" "$QB" compare "$BASE" "$BASE"
has "^\| mlp/int8-channel/ptq-percentile/avx2/t1/b1 \| 0.0580 \| 0.0580 \| \+0.0% " "Markdown row per cell"
has "31 matched, 0 accuracy regressions, 0 latency regressions" "summary line"
# slower by 20% with non-overlapping CIs: performance regression
setcol "$BASE" "$T/slow.csv" "^mlp/int8-channel/ptq-percentile/avx2$" latency_ms_median 0.0700
setcol "$T/slow.csv" "$T/slow2.csv" "^mlp/int8-channel/ptq-percentile/avx2$" latency_ms_median_ci_low 0.0690
setcol "$T/slow2.csv" "$T/slow.csv" "^mlp/int8-channel/ptq-percentile/avx2$" latency_ms_median_ci_high 0.0710
expect 3 "slower beyond tolerance and CIs" "$QB" compare "$BASE" "$T/slow.csv"
has "\*\*SLOWER\*\*" "the slower cell is marked"
expect 0 "a 25% tolerance lets it pass" "$QB" compare "$BASE" "$T/slow.csv" --latency-tol 25%
# slower by 10% but the CIs overlap: noise
setcol "$BASE" "$T/noise.csv" "^mlp/int8-channel/ptq-percentile/avx2$" latency_ms_median 0.0638
setcol "$T/noise.csv" "$T/noise2.csv" "^mlp/int8-channel/ptq-percentile/avx2$" latency_ms_median_ci_low 0.0500
expect 0 "slower within overlapping CIs" "$QB" compare "$BASE" "$T/noise2.csv"
has "within noise" "named as noise"
# the same without CI columns: the tolerance alone decides
cut -d, -f1-17,20- "$BASE" > "$T/noci-base.csv"
cut -d, -f1-17,20- "$T/noise2.csv" > "$T/noci-new.csv"
expect 3 "without CI columns the tolerance decides" "$QB" compare "$T/noci-base.csv" "$T/noci-new.csv"
has "no CI columns" "the rule says so"
# faster: improvement, exit 0
setcol "$BASE" "$T/fast.csv" "^cnn/int8-channel/ptq-kl/vnni$" latency_ms_median 0.1000
setcol "$T/fast.csv" "$T/fast2.csv" "^cnn/int8-channel/ptq-kl/vnni$" latency_ms_median_ci_high 0.1010
setcol "$T/fast2.csv" "$T/fast.csv" "^cnn/int8-channel/ptq-kl/vnni$" latency_ms_median_ci_low 0.0990
expect 0 "faster is not a failure" "$QB" compare "$BASE" "$T/fast.csv"
has "\| faster \|" "improvement listed"
# accuracy drop grows by 0.5 pt
setcol "$BASE" "$T/acc.csv" "^cnn/int8-channel/ptq-kl/avx2$" accuracy_drop_pt 1.00
expect 1 "accuracy regression" "$QB" compare "$BASE" "$T/acc.csv"
has "ACCURACY regression" "named"
expect 0 "within --accuracy-tol 0.6" "$QB" compare "$BASE" "$T/acc.csv" --accuracy-tol 0.6
# integer output hash changed
setcol "$BASE" "$T/hash.csv" "^mlp/int8-tensor/ptq-minmax/vnni$" output_hash changed-hash
expect 1 "changed output hash of an integer precision" "$QB" compare "$BASE" "$T/hash.csv"
has "integer output changed" "named"
# accuracy and performance both: accuracy wins (exit 1)
setcol "$T/slow.csv" "$T/both.csv" "^cnn/int8-channel/ptq-kl/avx2$" accuracy_drop_pt 1.00
expect 1 "accuracy and latency regressions: exit 1" "$QB" compare "$BASE" "$T/both.csv"
# missing and new cells
grep -v ",mlp,fashion-mnist,int4,qat,vnni," "$BASE" > "$T/missing.csv"
expect 0 "a disappeared cell is listed" "$QB" compare "$BASE" "$T/missing.csv"
has "^- mlp/int4/qat/vnni/t1/b1" "disappeared cell named"
expect 0 "an appeared cell is listed" "$QB" compare "$T/missing.csv" "$BASE"
has "^Appeared cells" "appeared section"
# failed now
setcol "$BASE" "$T/failed.csv" "^cnn/int4/qat/avx2$" status failed
expect 1 "a cell that now fails" "$QB" compare "$BASE" "$T/failed.csv"
# another machine: warning, or exit 2 with --strict
setcol "$BASE" "$T/other.csv" "." cpu "Other CPU 1"
expect 0 "different machine warns" "$QB" compare "$BASE" "$T/other.csv"
has "different machines" "warning printed"
expect 2 "different machine with --strict" "$QB" compare --strict "$BASE" "$T/other.csv"
# instructions: exact
setcol "$BASE" "$T/instr.csv" "^net/fp32/none/avx2$" instructions 9000001
expect 0 "latency gate ignores instructions" "$QB" compare "$BASE" "$T/instr.csv"
expect 3 "instructions gate is exact" "$QB" compare --metric instructions "$BASE" "$T/instr.csv"
# input errors
expect 2 "bad --latency-tol" "$QB" compare "$BASE" "$BASE" --latency-tol -5
has "^qbench compare: --latency-tol: bad value '-5'" "message names the option"
expect 2 "bad --metric" "$QB" compare "$BASE" "$BASE" --metric speed
has "--metric: bad value 'speed'" "message names the option"
expect 2 "one file" "$QB" compare "$BASE"
expect 2 "missing file" "$QB" compare "$BASE" "$T/none.csv"
has "none.csv: cannot open" "names the file"

echo "== malformed results name row and column"
setcol "$BASE" "$T/nan.csv" "^cnn/int4/qat/vnni$" latency_ms_median abc
expect 2 "a bad number" "$QB" compare "$BASE" "$T/nan.csv"
line=$(grep -n ",cnn,fashion-mnist,int4,qat,vnni," "$T/nan.csv" | cut -d: -f1)
has "nan.csv:$line: column latency_ms_median: 'abc' is not a number" "file, line and column named"
sed '5s/,ok,/,ok,extra,/' "$BASE" > "$T/fields.csv"
expect 2 "a row with a field too many" "$QB" advise "$T/fields.csv"
has "fields.csv:5: 35 fields, the header has 34" "file and line named"
sed '1s/^run_id,timestamp,host/run_id,timestamp,hostname/; 1s/,model,/,modell,/' "$BASE" > "$T/nomodel.csv"
expect 2 "no model column" "$QB" plot "$T/nomodel.csv" -o "$T/p0"
has "no column 'model'" "the missing column named"
printf 'model,precision,method,isa,status\n"mlp,fp32,none,avx2,ok\n' > "$T/quote.csv"
expect 2 "an unterminated quote" "$QB" advise "$T/quote.csv"
has "quote.csv:2: malformed CSV" "line named"

echo "== advise"
expect 0 "advise on crafted results" "$QB" advise "$BASE"
has "int8-channel: PTQ suffices\*\* best calibrator ptq-percentile, drop 0.10 pt" "PTQ suffices with the calibrator"
has "int4: QAT needed\*\* PTQ drop 3.50 pt \(best ptq-minmax\), QAT drop 0.60 pt, QAT cost 42 s" "QAT needed with its cost"
has "binary: mixed precision\*\* .*plan \(fc1:int4 fc2:int8-channel fc3:fp32\) drops 0.40 pt" "mixed with its plan"
has "cnn.*|int4: not reachable within budget\*\* best PTQ drop 5.00 pt, QAT drop 2.50 pt" "not reachable"
has "vnni\*\* int4 qat: 0.0400 ms median, 2.00x fp32's speed" "fastest within budget per ISA"
has "int8-channel on avx2: 2.2000 ms vs fp32 2.0000 ms" "int8 not faster: said"
expect 0 "a looser budget" "$QB" advise "$BASE" --budget 4
has "int4: PTQ suffices\*\* best calibrator ptq-minmax, drop 3.50 pt" "PTQ suffices at 4 points"
printf 'total 2.5000 ms: kernels 1.0000 ms (40.0%%), outside kernels 1.5000 ms (60.0%%)\n' > "$T/prof.txt"
expect 0 "advise with a profile" "$QB" advise "$BASE" --profile "net/int8-channel=$T/prof.txt"
has "profile net/int8-channel: 2.500 ms, 60% outside kernels" "the profile explains it"
# models without labels (public models on their own inputs): the argmax agreement bounds the drop; a model
# without a class axis has only SQNR and gets no verdict, but says so
{
    echo 'model,precision,method,isa,status,latency_ms_median,top1_agreement,sqnr_db'
    printf '%s\n' 'rec,fp32,none,avx2,ok,40,100,' 'rec,fp16,none,avx2,ok,45,100,48' \
        'rec,int8-channel,ptq-percentile,avx2,ok,20,99.5,20' 'rec,int4,ptq-percentile,avx2,ok,30,60,2' \
        'det,fp32,none,avx2,ok,5,,' 'det,int8-channel,ptq-minmax,avx2,ok,3,,15.5'
} > "$T/nolabels.csv"
expect 0 "advise without labels" "$QB" advise "$T/nolabels.csv"
has "int8-channel: PTQ suffices\*\* best calibrator ptq-percentile, drop at most 0.50 pt \(argmax agreement 99.50% with fp32, no labels; SQNR 20.0 dB\)" "without labels: the agreement bounds the drop"
has "int4: not reachable within budget\*\* best PTQ drop at most 40.00 pt .*QAT needs labelled training data" "without labels: no 'try qat'"
has "avx2\*\* int8-channel ptq-percentile: 20.0000 ms median, 2.00x fp32's speed, drop at most 0.50 pt" "without labels: fastest within the bound"
has "int8-channel:\*\* no labels and no class axis, so no drop to weigh: output SQNR 15.5 dB \(ptq-minmax\)" "only SQNR: no verdict, says why"
expect 2 "bad --budget" "$QB" advise "$BASE" --budget x
has "--budget: bad value 'x'" "names the option"

echo "== plot"
mkdir -p "$T/fake"
expect 2 "gnuplot missing" env QB_GNUPLOT="$T/fake/gnuplot" "$QB" plot "$BASE" -o "$T/p1"
has "gnuplot is not installed" "one clear message"
if command -v gnuplot > /dev/null; then
    cat > "$T/eval.txt" <<'EOF'
  per-layer SQNR of the outputs against fp32 (500 samples):
    layer                        precision      propagated dB    isolated dB
    fc1                          int8-channel           35.10          35.10
    fc2                          int4                   21.30          23.40
    fc3                          fp32                     inf            inf
  no layer below 20.0 dB
EOF
    printf 'precision,isa,kernel,m,n,k,group,median_ms,gops,cv,reps,check\nfp32,avx2,f32_avx2,64,256,1152,0,0.5,75.5,0.01,10,ok\nint8-channel,avx2,i8_avx2,64,256,1152,0,0.3,125.8,0.01,10,ok\nint4,avx2,i4_avx2,64,256,1152,32,0.4,94.4,0.01,10,ok\n' > "$T/kernels.csv"
    expect 0 "plot everything" "$QB" plot "$BASE" -o "$T/p2" --kernels "$T/kernels.csv" --per-layer "$T/eval.txt" \
        --profile "net/fp32=$T/prof.txt"
    for c in latency-mlp pareto-mlp energy-mlp counters-mlp latency-net kernels-avx2 layers-sqnr time-split; do
        for e in png svg gp dat; do
            if [ -s "$T/p2/$c.$e" ]; then :; else bad "plot: $c.$e missing or empty"; fi
        done
        if [ "$(head -c 8 "$T/p2/$c.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; then ok "$c.png is a PNG"
        else bad "$c.png: no PNG signature"; fi
        if grep -q '<svg' "$T/p2/$c.svg" && tail -c 200 "$T/p2/$c.svg" | grep -q '</svg>'; then ok "$c.svg is an SVG"
        else bad "$c.svg: not a complete SVG"; fi
    done
    if grep -q 'whiskers: 95% CI of the median' "$T/p2/latency-mlp.gp"; then ok "legend names the whiskers"; else bad "whisker legend"; fi
    (cd "$T/p2" && gnuplot latency-mlp.gp) && ok "a kept .gp script reruns" || bad "rerun of latency-mlp.gp"
    cut -d, -f1-17,20,22- "$BASE" > "$T/nowhisk.csv"
    expect 0 "plot without CI and p5" "$QB" plot "$T/nowhisk.csv" -o "$T/p3"
    if grep -q 'no whiskers' "$T/p3/latency-mlp.gp"; then ok "legend says: no whiskers"; else bad "no-whisker legend"; fi
    expect 2 "bad --kernels file" "$QB" plot -o "$T/p4" --kernels "$BASE"
    has "not a kernel table .*no column 'm'" "names the column"
    expect 2 "bad --per-layer file" "$QB" plot -o "$T/p4" --per-layer "$BASE"
    expect 2 "bad --profile" "$QB" plot -o "$T/p4" --profile "$T/prof.txt"
    has "--profile: bad value" "names the option"
    expect 0 "plot a model without labels" "$QB" plot "$T/nolabels.csv" -o "$T/p5"
    if [ -s "$T/p5/pareto-rec.png" ] && grep -q "argmax differs from fp32" "$T/p5/pareto-rec.gp"; then
        ok "without labels: accuracy vs speed-up by argmax disagreement"
    else bad "without labels: no pareto-rec chart by disagreement"; fi

    echo "== report"
    expect 0 "report" "$QB" report "$BASE" "$T/missing.csv" -o "$T/r" --title "fixture report" --per-layer "$T/eval.txt" \
        --kernels "$T/kernels.csv" --profile "net/int8-channel=$T/prof.txt"
    H="$T/r/report.html"
    for id in machine results charts advice not-measured; do
        if grep -q "<section id=\"$id\">" "$H"; then ok "section $id"; else bad "section $id missing"; fi
    done
    if grep -Eq '<script|src="http|href="http|<link ' "$H"; then bad "report has scripts or external assets"; else ok "no scripts, no external assets"; fi
    [ "$(grep -c '<svg' "$H")" -ge 10 ] && ok "SVG charts inline" || bad "fewer than 10 inline SVGs"
    if command -v chromium > /dev/null; then
        mkdir -p reports
        timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,3000 \
            --enable-logging=stderr --v=0 --screenshot="$PWD/reports/test-report.png" "file://$(readlink -f "$H")" \
            > "$T/chrome.out" 2>&1
        if [ -s reports/test-report.png ]; then ok "Chromium rendered a screenshot (reports/test-report.png)"; else bad "no screenshot"; sed 's/^/    /' "$T/chrome.out" | tail -5; fi
        if grep -q 'CONSOLE' "$T/chrome.out"; then bad "console messages while loading"; grep CONSOLE "$T/chrome.out" | head -5; else ok "no console errors"; fi
        timeout 120 chromium --headless --no-sandbox --disable-gpu --dump-dom "file://$(readlink -f "$H")" > "$T/dom.html" 2> /dev/null
        for id in machine results charts advice not-measured; do
            if grep -q "<section id=\"$id\">" "$T/dom.html"; then ok "Chromium DOM has section $id"; else bad "Chromium DOM lacks $id"; fi
        done
    else
        echo "skip: chromium is not installed (scripts/install-deps installs it): the browser check did not run"
    fi
else
    echo "skip: gnuplot is not installed: plot and report tests did not run"
fi

echo "== history"
expect 0 "history add" "$QB" history "$T/h.db" add "$BASE"
has "31 rows added, 0 already stored" "rows stored"
expect 0 "history add again" "$QB" history "$T/h.db" add "$BASE"
has "0 rows added, 31 already stored" "duplicates skipped"
sed 's/2026-12-01T00:/2026-12-02T00:/; s/abc123def456/fedcba654321/' "$T/slow.csv" > "$T/later.csv"
expect 0 "history add a later run" "$QB" history "$T/h.db" add "$T/later.csv"
expect 0 "history show" "$QB" history "$T/h.db" show --model mlp
has "^\| mlp/int8-channel/ptq-percentile/avx2/t1/b1 \| fedcba654321 \| 2026-12-02T00:04:00Z \| fixture-host \| ok \| 0.0700 \|" "the later run's row"
has "^38 rows of model mlp" "row count"
expect 2 "history show of a missing store" "$QB" history "$T/none.db" show
has "none.db: no such history store \(create it with" "the missing store is named, with the command that makes one"
expect 2 "compare against a missing store" "$QB" compare --history "$T/none.db:best" "$BASE"
has "^qbench compare: --history: .*none.db: no such history store" "compare names the option and the store"
expect 2 "history bad metric" "$QB" history "$T/h.db" show --metric speed
expect 0 "compare against the best of the history" "$QB" compare --history "$T/h.db:best" "$BASE"
expect 3 "compare the slow run against the best" "$QB" compare --history "$T/h.db:best" "$T/later.csv"
expect 0 "compare the slow run against the last" "$QB" compare --history "$T/h.db:last" "$T/later.csv"
if command -v gnuplot > /dev/null; then
    expect 0 "history plot" "$QB" history "$T/h.db" plot -o "$T/trend" --model mlp
    [ -s "$T/trend/trend.png" ] && [ -s "$T/trend/trend.svg" ] && ok "trend chart" || bad "trend chart missing"
fi

echo "== $n checks, $fails failed"
[ "$fails" = 0 ]

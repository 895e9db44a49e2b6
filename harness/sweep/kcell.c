/*
 * kcell.c - sweep cells whose "model" is a kernel microbenchmark shape
 * ([model NAME] with gemm = MxNxK or dwconv = HxWxC): the registry's
 * kernel for (precision, ISA) on seeded data (harness/eval/kernel_check),
 * checked once against the scalar reference, then timed with the
 * measurement loop. No quantization engine is involved: the data is
 * generated directly in each precision's format, so the method column
 * is only a label. Caches are hot (the same operands every call).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness/eval/kernel_check.h"
#include "harness/measure/loop.h"
#include "harness/sweep/kcell.h"

static int kc_run(void *ctx, long iter)
{
    (void)iter;
    qb_kcase_run(ctx);
    return 0;
}

static qb_check_case case_of(const qb_sc_model *m)
{
    if (!strcmp(m->kernel, "dwconv")) /* image H x W x C, 3x3 window, padding 1 on every side */
        return (qb_check_case){.h = (int)m->shape[0], .w = (int)m->shape[1], .n = (int)m->shape[2], .kh = 3, .kw = 3,
                               .sh = m->stride, .sw = m->stride, .dh = 1, .dw = 1, .pad_t = 1, .pad_l = 1,
                               .pad_b = 1, .pad_r = 1, .seed = 42};
    return (qb_check_case){.m = (int)m->shape[0], .n = (int)m->shape[1], .k = (int)m->shape[2], .group = m->group,
                           .seed = 42};
}

const qb_kernel *qb_kcell_kernel(const qb_sc_model *m, qb_precision p, qb_isa isa)
{
    return qb_kernel_get(!strcmp(m->kernel, "dwconv") ? QB_OP_DWCONV : QB_OP_GEMM, p, isa);
}

void *qb_kcell_open(const qb_sc_model *m, const qb_kernel *k, double *macs, char *err, size_t errlen)
{
    qb_check_case c = case_of(m);
    int oh, ow;
    if (!strcmp(m->kernel, "dwconv") && !qb_check_dw_out(&c, &oh, &ow))
        *macs = (double)oh * ow * c.n * 9;
    else if (!strcmp(m->kernel, "dwconv"))
        *macs = 0; /* no output: qb_kcase_new refuses the case */
    else
        *macs = (double)c.m * c.n * c.k;
    return qb_kcase_new(k, &c, err, errlen);
}

int qb_kcell_fn(void *ctx, long iter)
{
    return kc_run(ctx, iter);
}

int qb_kcell_check(void *kc, char *msg, size_t len)
{
    qb_check_result r;
    int rc = qb_kcase_compare(kc, &r);
    if (rc)
        snprintf(msg, len, "check against the scalar reference failed: %.300s", r.msg);
    return rc;
}

void qb_kcell_close(void *kc)
{
    qb_kcase_free(kc);
}

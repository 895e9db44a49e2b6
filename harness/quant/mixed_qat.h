/*
 * mixed_qat.h - QAT as a priced candidate of the cost-aware mixed search
 * (`-p mixed --cost C --with-qat`): the search's starting plan (every
 * searched layer int4, depthwise int8) fine-tuned with fake quantization
 * (harness/quant/qat.h), evaluated on the same validation samples as the
 * PTQ plans, priced at the plan's deployment cost plus its measured
 * training time, and added to the search's path so the Pareto set and
 * the verdict (mixed.h, qb_pareto_qat_verdict) say when QAT beats
 * keeping layers at higher precision.
 */
#ifndef QB_MIXED_QAT_H
#define QB_MIXED_QAT_H

#include "harness/quant/pipeline.h"

/* Fine-tune (or reuse the cached fine-tuning of) o->model at int4
 * (o->qat_epochs, o->qat_lr, o->qat_force), quantize it with the plan of
 * r->pareto's first point, evaluate it on d->valid against the FP32
 * model d->model, and append it to r->pareto (qat = 1, train_s the
 * measured time, or the time recorded when the model was trained), then
 * re-mark the Pareto set (the chosen plan stays a PTQ plan). 0, or -1
 * with a message. */
int qb_mixed_qat_candidate(const qb_pipeline_opts *o, qb_pipeline_data *d, qb_pipeline_result *r, qb_err *e);

#endif

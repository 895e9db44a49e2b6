/*
 * layer_sqnr.h - where a quantized model loses accuracy: the SQNR of every
 * quantizable layer's output against the FP32 model, with errors
 * propagated through the quantized model and with each layer fed the
 * FP32 inputs (its own error only). Needs the calibration's layer list,
 * hence in the quantization engine, not in eval/.
 */
#ifndef QB_LAYER_SQNR_H
#define QB_LAYER_SQNR_H

#include "harness/eval/runner.h"
#include "harness/quant/ptq.h"

/* Per-layer SQNR in dB of every layer's output of gq (unprepared,
 * ownership taken) against the FP32 model (a copy runs), over s: prop[i] with errors propagated, iso[i]
 * with every quantized layer fed the FP32 input (its own error only). */
int qb_per_layer_sqnr(const qb_graph *model, qb_graph *gq, const qb_calibration *c, const qb_samples *s, int batch,
                      int isa, double *prop, double *iso, qb_err *e);

#endif

/*
 * emulated.h - kernels the test build runs through emulation (the VNNI
 * sources compiled against SIMDe on x86), tested exactly like native ones.
 */
#ifndef QB_TEST_EMULATED_H
#define QB_TEST_EMULATED_H

#include "kernels/kernels.h"

/* The emulated kernels, and their count in *n (0 where there are none). */
const qb_kernel *qb_emulated_kernels(int *n);

#endif

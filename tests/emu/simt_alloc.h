/* The emulated device heap: every cudaMalloc of the emulated runtime is a
 * separate mapping that ends at a guard page, and is registered so that the
 * instruction wrappers can bounds-check each global access exactly. */
#ifndef TESSERA_TESTS_EMU_SIMT_ALLOC_H
#define TESSERA_TESTS_EMU_SIMT_ALLOC_H
#include <stddef.h>
/* Nonzero when [p, p+bytes) lies inside one live allocation. */
int tsr_simt_alloc_contains(const void *p, size_t bytes);
/* The start of the live allocation holding p (and its size in *bytes); NULL
 * when none does. */
const void *tsr_simt_alloc_base(const void *p, size_t *bytes);
#endif

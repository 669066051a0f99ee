/* What the header promises, checked call by call: each call of the random harness states the
 * set of statuses the header documents for the arguments it was given, and the answer must be
 * one of them. Thread-safe; counts calls per function and every violation. */
#ifndef OXRAY_RANDOM_EXPECT_H
#define OXRAY_RANDOM_EXPECT_H

#include <stdbool.h>
#include <stdint.h>

#include "oxray.h"

typedef uint32_t rc_mask;
#define RC_BIT(status) ((rc_mask)1u << (unsigned)(status))
#define RC_OK RC_BIT(OXRAY_OK)

/* Where the calling thread is in its sequence (printed with any violation). */
void rc_where(uint64_t seed, int thread, uint64_t step);

/* Checks `got` against `allowed` for a call of `fn` (a string literal). OK is allowed only
 * when the caller put it in the mask. Also checks oxray_last_error(): empty after OK, a
 * non-empty message after a failure. Returns whether the status was allowed. */
bool rc_expect(const char *fn, oxray_status got, rc_mask allowed);

/* Counts a call of a function that returns no status (it must merely not crash). */
void rc_count(const char *fn);

/* A failed check that is not about a status (`what` says what was wrong). */
void rc_fail(const char *fn, const char *what);

/* Totals. */
uint64_t rc_calls(void);
uint64_t rc_violations(void);
/* Prints how often each function was called; returns how many distinct functions were. */
int rc_print_coverage(void);
/* Whether every name in `names` (NULL-terminated) was called at least once. */
bool rc_all_called(const char *const *names);

#endif

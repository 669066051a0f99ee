/* Random arguments for the random call harness, each with what the header says about it:
 * strings (good, empty, NULL, invalid UTF-8, megabytes long, with an embedded NUL), JSON texts
 * (valid, invalid, too deep), trace headers. Everything generated for one call lives in an
 * arena released after the call. */
#ifndef OXRAY_RANDOM_INPUTS_H
#define OXRAY_RANDOM_INPUTS_H

#include <stdbool.h>
#include <stddef.h>

#include "rng.h"

/* Text after an embedded NUL carries this marker: no document may ever contain it. */
#define RC_LEAK_MARKER "ZZLEAKZZ"

typedef struct rc_arena {
    void *blocks[64];
    size_t count;
} rc_arena;

void *rc_alloc(rc_arena *a, size_t n);
void rc_arena_release(rc_arena *a);

typedef enum rc_kind {
    RC_GOOD,     /* valid UTF-8, not empty */
    RC_EMPTY,    /* "" */
    RC_NULL,     /* NULL pointer */
    RC_BAD_UTF8, /* not UTF-8 */
} rc_kind;

typedef struct rc_text {
    const char *p;
    rc_kind kind;
} rc_text;

typedef struct rc_inputs {
    rc_rng *rng;
    rc_arena *arena;
    bool huge_allowed; /* megabyte strings now and then */
} rc_inputs;

/* A string argument: mostly good, sometimes empty, NULL or invalid UTF-8. */
rc_text rc_string(rc_inputs *in);
/* Always valid UTF-8, never NULL (may be empty only if `may_be_empty`). */
const char *rc_good_string(rc_inputs *in, bool may_be_empty);

typedef enum rc_json_kind {
    RC_JSON_VALID,
    RC_JSON_INVALID, /* not one JSON value: OXRAY_INVALID_JSON */
    RC_JSON_DEEP,    /* nested deeper than parsers take: OK or OXRAY_INVALID_JSON */
    RC_JSON_NULL,
    RC_JSON_BAD_UTF8,
} rc_json_kind;

typedef struct rc_json {
    const char *p;
    rc_json_kind kind;
} rc_json;

rc_json rc_json_text(rc_inputs *in);

typedef enum rc_header_kind {
    RC_HEADER_NULL,
    RC_HEADER_BAD_UTF8,
    RC_HEADER_MALFORMED,   /* does not parse */
    RC_HEADER_SAMPLED,     /* Root + Parent + Sampled=1 */
    RC_HEADER_UNSAMPLED,   /* Root + Parent + Sampled=0 */
    RC_HEADER_UNDECIDED,   /* Root + Parent, Sampled absent or ? */
    RC_HEADER_ROOT_ONLY,   /* Root without Parent, Sampled=1 */
} rc_header_kind;

typedef struct rc_header {
    const char *p;
    rc_header_kind kind;
} rc_header;

rc_header rc_trace_header(rc_inputs *in);

/* 16 lowercase hex digits. */
void rc_hex(rc_rng *rng, char *out, size_t digits);

#endif

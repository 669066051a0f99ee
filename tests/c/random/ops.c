/* The operation table of the random harness, and the output-buffer convention checks. */
#include "ops.h"

#include <string.h>

void rc_out_begin(rc_world *w, rc_out_call *c) {
    static const size_t sizes[] = {1, 2, 8, 16, 17, 35, 36, 37, 64, 128, 512, 8192};
    c->len = sizes[rc_below(&w->rng, sizeof sizes / sizeof sizes[0])];
    c->buf = c->storage;
    c->misuse = 0;
    memset(c->storage, 0x55, sizeof c->storage);
    size_t pick = rc_below(&w->rng, 12);
    if (pick == 0) {
        c->buf = NULL; /* a size query */
        c->len = 0;
    } else if (pick == 1) {
        c->buf = NULL; /* buf may be NULL only when len is 0 */
        c->misuse = RC_BIT(OXRAY_NULL_ARGUMENT);
    }
    c->needed_value = (size_t)-1;
    c->needed = rc_one_in(&w->rng, 4) ? NULL : &c->needed_value;
}

bool rc_out_check_with(const char *fn, rc_out_call *c, oxray_status s, rc_mask extra) {
    rc_mask allowed = c->misuse ? c->misuse : RC_OK | RC_BIT(OXRAY_BUFFER_TOO_SMALL);
    if (!rc_expect(fn, s, allowed | extra)) {
        return false;
    }
    if (s == OXRAY_OK) {
        const char *end = memchr(c->buf, '\0', c->len);
        if (!end) {
            rc_fail(fn, "OK but the text is not NUL-terminated within the buffer");
            return false;
        }
        if (c->needed && *c->needed != (size_t)(end - c->buf) + 1) {
            rc_fail(fn, "*needed is not the text's size");
        }
    } else if (s == OXRAY_BUFFER_TOO_SMALL) {
        if (c->needed && *c->needed <= c->len) {
            rc_fail(fn, "BUFFER_TOO_SMALL but *needed fits the buffer");
        }
        if (c->buf && c->len > 0 && c->buf[0] != '\0') {
            rc_fail(fn, "BUFFER_TOO_SMALL but buf[0] was not set to NUL");
        }
    }
    return true;
}

void rc_out_end(rc_out_call *c) {
    (void)c;
}

typedef struct rc_op {
    void (*run)(rc_world *w);
    unsigned weight;
} rc_op;

static const rc_op OPS[] = {
    {rc_op_begin_subsegment, 14}, {rc_op_end, 10},         {rc_op_free, 7},
    {rc_op_annotation, 12},       {rc_op_metadata, 8},     {rc_op_flags, 4},
    {rc_op_http, 4},              {rc_op_aws, 3},          {rc_op_sql, 3},
    {rc_op_exception, 3},         {rc_op_cause, 2},        {rc_op_namespace, 3},
    {rc_op_send_in_progress, 1},  {rc_op_string_out, 5},   {rc_op_is_sampled, 2},
    {rc_op_current, 6},           {rc_op_deep_chain, 1},   {rc_op_begin_segment, 8},
    {rc_op_lambda_facade, 2},     {rc_op_recorder_queries, 3}, {rc_op_take_documents, 2},
    {rc_op_sampling_rules, 1},    {rc_op_recorder_lifecycle, 1}, {rc_op_trace_header, 3},
    {rc_op_daemon_address, 1},    {rc_op_rule_queries, 1}, {rc_op_status_and_version, 1},
    {rc_op_last_error, 1},        {rc_op_diagnostics, 1},
};
#define OP_COUNT (sizeof OPS / sizeof OPS[0])

void rc_step(rc_world *w) {
    unsigned total = 0;
    for (size_t i = 0; i < OP_COUNT; i++) {
        total += OPS[i].weight;
    }
    if (w->handle_count > 300) {
        rc_op_free(w); /* keep the pool of live handles bounded */
    } else {
        size_t pick = rc_below(&w->rng, total);
        size_t i = 0;
        while (pick >= OPS[i].weight) {
            pick -= OPS[i].weight;
            i++;
        }
        OPS[i].run(w);
    }
    rc_arena_release(&w->arena);
}

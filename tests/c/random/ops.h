/* The random harness's operations (one random call, or a short scripted burst such as a deep
 * chain), and the checks of the output-buffer convention they share. */
#ifndef OXRAY_RANDOM_OPS_H
#define OXRAY_RANDOM_OPS_H

#include "world.h"

/* An output buffer chosen at random: NULL with len 0 (a size query), NULL with len > 0 (a
 * misuse), too short, or large enough; `needed` sometimes NULL. */
typedef struct rc_out_call {
    char *buf;
    size_t len;
    size_t *needed;
    size_t needed_value;
    rc_mask misuse;
    char storage[8192];
} rc_out_call;

/* Sets up `*c` for one call (in place: `buf` and `needed` point into `*c` itself, so it must
 * not be returned or copied by value). */
void rc_out_begin(rc_world *w, rc_out_call *c);
/* Checks a status against the buffer convention (OK or BUFFER_TOO_SMALL with `*needed`
 * consistent, buf[0] NUL when short, the text NUL-terminated when OK). `extra` are further
 * documented statuses. Returns whether the answer was allowed. */
bool rc_out_check_with(const char *fn, rc_out_call *c, oxray_status s, rc_mask extra);
#define rc_out_check(fn, c, s) rc_out_check_with((fn), (c), (s), 0)
void rc_out_end(rc_out_call *c);

/* ops_entity.c */
void rc_op_begin_subsegment(rc_world *w);
void rc_op_end(rc_world *w);
void rc_op_free(rc_world *w);
void rc_op_annotation(rc_world *w);
void rc_op_metadata(rc_world *w);
void rc_op_flags(rc_world *w);
void rc_op_http(rc_world *w);
void rc_op_aws(rc_world *w);
void rc_op_sql(rc_world *w);
void rc_op_exception(rc_world *w);
void rc_op_cause(rc_world *w);
void rc_op_namespace(rc_world *w);
void rc_op_send_in_progress(rc_world *w);
void rc_op_string_out(rc_world *w);
void rc_op_is_sampled(rc_world *w);
void rc_op_current(rc_world *w);
void rc_op_deep_chain(rc_world *w);

/* ops_recorder.c */
void rc_op_begin_segment(rc_world *w);
void rc_op_lambda_facade(rc_world *w);
void rc_op_recorder_queries(rc_world *w);
void rc_op_take_documents(rc_world *w);
void rc_op_sampling_rules(rc_world *w);
void rc_op_recorder_lifecycle(rc_world *w);
/* The sampling rule texts the ops use, with whether each is valid. */
const char *rc_rules_text(size_t i, bool *valid);
size_t rc_rules_count(void);

/* ops_misc.c: functions without a handle */
void rc_op_trace_header(rc_world *w);
void rc_op_daemon_address(rc_world *w);
void rc_op_rule_queries(rc_world *w);
void rc_op_status_and_version(rc_world *w);
void rc_op_last_error(rc_world *w);
void rc_op_diagnostics(rc_world *w);
/* Routes diagnostics to a counting callback (they would flood stderr otherwise). */
void rc_diagnostics_install(void);
unsigned long rc_diagnostics_received(void);

#endif

/* Random calls on recorders: segments, Lambda facades, counters, flush, documents, sampling
 * rules, and recorders made and freed. */
#include <stdio.h>
#include <string.h>

#include "ops.h"
#include "sink.h"

/* Whether a new segment must be sampled (1), must not be (0), or the rules decide (-1). */
static int expected_sampling(const rc_recorder *r, rc_header_kind header) {
    if (r->disabled) {
        return 0;
    }
    if (header == RC_HEADER_SAMPLED || header == RC_HEADER_ROOT_ONLY) {
        return 1; /* an incoming decision is obeyed */
    }
    if (header == RC_HEADER_UNSAMPLED) {
        return 0;
    }
    return r->rate_one ? 1 : -1;
}

static rc_mask header_misuse(rc_header_kind kind) {
    return kind == RC_HEADER_BAD_UTF8 ? RC_BIT(OXRAY_INVALID_UTF8) : 0;
}

void rc_op_begin_segment(rc_world *w) {
    rc_recorder_arg r = rc_pick_recorder(w);
    rc_text name = rc_string(&w->in);
    rc_header header = rc_trace_header(&w->in);
    rc_mask hard = r.misuse | rc_optional(name.kind) | header_misuse(header.kind);
    oxray_entity *segment = (oxray_entity *)(void *)(uintptr_t)0x5a5a5a52u;
    oxray_entity **out = rc_one_in(&w->rng, 25) ? NULL : &segment;
    if (!out) {
        hard |= RC_BIT(OXRAY_NULL_ARGUMENT);
    }
    oxray_status s;
    const char *fn;
    if (rc_one_in(&w->rng, 3)) {
        rc_text host = rc_string(&w->in), method = rc_string(&w->in), path = rc_string(&w->in);
        oxray_sampling_request request = {host.p, method.p, path.p, NULL, rc_one_in(&w->rng, 2) ? "AWS::EC2::Instance" : NULL};
        bool null_request = rc_one_in(&w->rng, 4);
        if (!null_request) {
            hard |= rc_optional(host.kind) | rc_optional(method.kind) | rc_optional(path.kind);
        }
        fn = "oxray_recorder_begin_segment_for_request";
        s = oxray_recorder_begin_segment_for_request(r.h, name.p, header.p, null_request ? NULL : &request, out);
    } else {
        fn = "oxray_recorder_begin_segment";
        s = oxray_recorder_begin_segment(r.h, name.p, header.p, out);
    }
    rc_expect(fn, s, hard ? hard : RC_OK);
    if (s != OXRAY_OK && out && *out) {
        rc_fail(fn, "failed without setting *out to NULL");
    }
    if (s == OXRAY_OK) {
        const rc_recorder *rec = &w->recorders[r.index];
        rc_world_add(w, segment, rec->sink, expected_sampling(rec, header.kind), false, 0);
    }
}

void rc_op_lambda_facade(rc_world *w) {
    rc_recorder_arg r = rc_pick_recorder(w);
    rc_header header = rc_trace_header(&w->in);
    rc_mask hard = r.misuse | header_misuse(header.kind);
    oxray_entity *facade = NULL;
    oxray_entity **out = rc_one_in(&w->rng, 25) ? NULL : &facade;
    if (!out) {
        hard |= RC_BIT(OXRAY_NULL_ARGUMENT);
    }
    oxray_status s = oxray_recorder_lambda_facade(r.h, header.p, out);
    rc_expect("oxray_recorder_lambda_facade", s, hard ? hard : RC_OK);
    if (s == OXRAY_OK) {
        const rc_recorder *rec = &w->recorders[r.index];
        /* Without a usable header (Root and Parent, not Sampled=0) the facade is unsampled. */
        int sampled = rec->disabled ? 0
                      : header.kind == RC_HEADER_SAMPLED ? 1
                      : header.kind == RC_HEADER_UNDECIDED ? -1
                                                            : 0;
        rc_world_add(w, facade, rec->sink, sampled, true, 0);
    }
}

void rc_op_recorder_queries(rc_world *w) {
    rc_recorder_arg r = rc_pick_recorder(w);
    bool null_out = rc_one_in(&w->rng, 10);
    rc_mask hard = r.misuse | (null_out ? RC_BIT(OXRAY_NULL_ARGUMENT) : 0);
    switch (rc_below(&w->rng, 4)) {
    case 0: {
        oxray_counters c;
        rc_expect("oxray_recorder_counters", oxray_recorder_counters(r.h, null_out ? NULL : &c), hard ? hard : RC_OK);
        break;
    }
    case 1: {
        oxray_sampling_status st;
        rc_expect("oxray_recorder_sampling_status", oxray_recorder_sampling_status(r.h, null_out ? NULL : &st),
                  hard ? hard : RC_OK);
        break;
    }
    case 2: {
        static const uint32_t timeouts[] = {0, 1, 50, 5000};
        uint32_t t = timeouts[rc_below(&w->rng, 4)];
        /* A flush that runs out of time is documented (OXRAY_TIMEOUT); with 0 ms it may. */
        rc_expect("oxray_recorder_flush", oxray_recorder_flush(r.h, t),
                  r.misuse ? r.misuse : RC_OK | RC_BIT(OXRAY_TIMEOUT));
        break;
    }
    default:
        /* Only for a child after fork(): here only the misuses are called. */
        if (r.misuse) {
            rc_expect("oxray_recorder_after_fork_child", oxray_recorder_after_fork_child(r.h), r.misuse);
        }
        break;
    }
}

void rc_op_take_documents(rc_world *w) {
    rc_recorder_arg r = rc_pick_recorder(w);
    if (!r.misuse && w->recorders[r.index].memory) {
        rc_sink_take(r.h, w->recorders[r.index].sink);
        return;
    }
    rc_out_call call;
    rc_out_begin(w, &call);
    oxray_status s = oxray_recorder_take_documents(r.h, call.buf, call.len, call.needed);
    if (r.misuse) {
        rc_expect("oxray_recorder_take_documents", s, r.misuse | call.misuse);
    } else if (rc_out_check("oxray_recorder_take_documents", &call, s) && s == OXRAY_OK &&
               strcmp(call.buf, "[]") != 0) {
        rc_fail("oxray_recorder_take_documents", "a recorder not in memory mode answered documents");
    }
    rc_out_end(&call);
}

/* Rule texts with what oxray must say about them. */
static const struct {
    const char *text;
    bool valid;
} RULES[] = {
    {"{\"version\":2,\"rules\":[{\"description\":\"health\",\"host\":\"*\",\"http_method\":\"*\",\"url_path\":\"/health\","
     "\"fixed_target\":0,\"rate\":0}],\"default\":{\"fixed_target\":1,\"rate\":0.5}}",
     true},
    {"{\"version\":1,\"rules\":[{\"description\":\"all\",\"service_name\":\"*\",\"http_method\":\"*\",\"url_path\":\"*\","
     "\"fixed_target\":1,\"rate\":0.1}],\"default\":{\"fixed_target\":1,\"rate\":0.05}}",
     true},
    {"{\"version\":2,\"default\":{\"fixed_target\":1,\"rate\":2}}", false},
    {"{\"version\":3,\"default\":{\"fixed_target\":1,\"rate\":0.1}}", false},
    {"not json", false},
    {"/nonexistent/oxray/rules.json", false},
    {"{\"version\":2,\"rules\":[{\"description\":\"x\"}],\"default\":{\"fixed_target\":1,\"rate\":0.1}}", false},
};
#define RULE_COUNT (sizeof RULES / sizeof RULES[0])

void rc_op_sampling_rules(rc_world *w) {
    rc_recorder_arg r = rc_pick_recorder(w);
    /* Rules change sampling: only the recorder whose sampling the harness does not predict. */
    if (!r.misuse && w->recorders[r.index].rate_one) {
        return;
    }
    if (rc_one_in(&w->rng, 4)) {
        rc_mask allowed = r.misuse ? r.misuse
                          : w->recorders[r.index].disabled ? RC_BIT(OXRAY_INVALID_ARGUMENT)
                                                            : RC_OK;
        rc_expect("oxray_recorder_enable_centralized_sampling", oxray_recorder_enable_centralized_sampling(r.h),
                  allowed);
        return;
    }
    size_t i = rc_below(&w->rng, RULE_COUNT + 2);
    const char *text;
    rc_mask hard = r.misuse;
    if (i < RULE_COUNT) {
        text = RULES[i].text;
        hard |= RULES[i].valid ? 0 : RC_BIT(OXRAY_INVALID_ARGUMENT);
    } else {
        rc_text t = rc_string(&w->in);
        if (t.kind == RC_GOOD || t.kind == RC_EMPTY) {
            t = (rc_text){NULL, RC_NULL};
        }
        text = t.p;
        hard |= rc_required(t.kind);
    }
    rc_expect("oxray_recorder_set_sampling_rules", oxray_recorder_set_sampling_rules(r.h, text), hard ? hard : RC_OK);
}

const char *rc_rules_text(size_t i, bool *valid) {
    *valid = RULES[i % RULE_COUNT].valid;
    return RULES[i % RULE_COUNT].text;
}

size_t rc_rules_count(void) {
    return RULE_COUNT;
}

void rc_op_recorder_lifecycle(rc_world *w) {
    static const struct {
        const char *config;
        bool valid;
    } configs[] = {
        {"{\"emit_mode\":\"memory\"}", true},
        {"{\"emit_mode\":\"memory\",\"context_missing\":\"IGNORE_ERROR\",\"sample_rate\":0}", true},
        {"{\"emit_mode\":\"udp\",\"daemon_address\":\"127.0.0.1:9\"}", true},
        {"{\"emit_mode\":\"memory\",\"max_embedded_children\":1,\"max_embedded_bytes\":10}", true},
        {"{\"emit_mode\":\"bogus\"}", false},
        {"{\"unknown_key\":1}", false},
        {"[]", false},
        {"not json", false},
        {"{\"emit_mode\":\"memory\",\"sample_rate\":2}", false},
        {"{\"emit_mode\":\"memory\",\"queue_capacity\":-1}", false},
        {"{\"emit_mode\":\"memory\",\"context_missing\":\"SOMETIMES\"}", false},
        {"{\"emit_mode\":\"memory\",\"sampling_rules\":\"/nonexistent/oxray/rules.json\"}", false},
    };
    size_t i = rc_below(&w->rng, sizeof configs / sizeof configs[0] + 1);
    const char *config;
    rc_mask hard = 0;
    if (i < sizeof configs / sizeof configs[0]) {
        config = configs[i].config;
        hard = configs[i].valid ? 0 : RC_BIT(OXRAY_INVALID_CONFIG);
    } else {
        static const char bad_utf8_config[] = {'{', '"', (char)0xff, '"', ':', '1', '}', '\0'};
        config = bad_utf8_config;
        hard = RC_BIT(OXRAY_INVALID_UTF8);
    }
    oxray_recorder *recorder = (oxray_recorder *)(void *)(uintptr_t)0x5a5a5a51u;
    bool null_out = rc_one_in(&w->rng, 10);
    if (null_out) {
        hard = RC_BIT(OXRAY_NULL_ARGUMENT) | hard;
    }
    oxray_status s = oxray_recorder_new(config, null_out ? NULL : &recorder);
    rc_expect("oxray_recorder_new", s, hard ? hard : RC_OK);
    if (s != OXRAY_OK) {
        if (!null_out && recorder != NULL) {
            rc_fail("oxray_recorder_new", "failed without setting *out to NULL");
        }
        return;
    }
    oxray_counters c;
    rc_expect("oxray_recorder_counters", oxray_recorder_counters(recorder, &c), RC_OK);
    oxray_recorder_free(recorder);
    rc_count("oxray_recorder_free");
    oxray_recorder_free(recorder); /* a second free is ignored */
    rc_count("oxray_recorder_free");
    oxray_recorder_free(NULL);
    rc_count("oxray_recorder_free");
    rc_expect("oxray_recorder_counters", oxray_recorder_counters(recorder, &c), RC_BIT(OXRAY_INVALID_HANDLE));
    rc_graveyard_recorder(recorder);
}

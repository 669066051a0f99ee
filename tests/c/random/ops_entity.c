/* Random calls on entities: lifecycle, fields, identity, the current-entity slot. Each call
 * states what the header documents for its arguments (see world.h). */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops.h"
#include "sink.h"

static bool unsampled(const rc_world *w, int s) {
    return s >= 0 && !w->states[s].sampled;
}

/* The out-pointer of a call that makes a handle: sometimes NULL (a documented misuse). */
static oxray_entity **maybe_out(rc_world *w, oxray_entity **slot, rc_mask *hard) {
    *slot = (oxray_entity *)(void *)(uintptr_t)0x5a5a5a52u; /* must be set to NULL on failure */
    if (rc_one_in(&w->rng, 25)) {
        *hard |= RC_BIT(OXRAY_NULL_ARGUMENT);
        return NULL;
    }
    return slot;
}

static void check_out_cleared(const char *fn, oxray_status s, oxray_entity **out) {
    if (s != OXRAY_OK && out && *out != NULL) {
        rc_fail(fn, "failed without setting *out to NULL");
    }
}

void rc_op_begin_subsegment(rc_world *w) {
    rc_entity_arg parent = rc_pick_entity(w);
    rc_text name = rc_string(&w->in);
    rc_mask hard = parent.misuse | rc_required(name.kind);
    oxray_entity *child = NULL, **out = maybe_out(w, &child, &hard);
    oxray_status s = oxray_entity_begin_subsegment(parent.h, name.p, out);
    rc_expect("oxray_entity_begin_subsegment", s, rc_allowed(hard, 0, false));
    check_out_cleared("oxray_entity_begin_subsegment", s, out);
    if (s == OXRAY_OK && parent.state >= 0) {
        const rc_state *p = &w->states[parent.state];
        rc_world_add(w, child, p->sink, p->sampled ? 1 : 0, false, p->depth + 1);
    }
}

void rc_op_end(rc_world *w) {
    rc_entity_arg e = rc_pick_entity(w);
    if (e.state >= 0 && w->states[e.state].shared) {
        return; /* shared entities are ended by main once every thread is done */
    }
    rc_mask allowed = RC_OK;
    if (e.misuse) {
        allowed = e.misuse;
    } else if (w->states[e.state].ended) {
        allowed = RC_BIT(OXRAY_ALREADY_ENDED);
    } else if (w->states[e.state].facade) {
        allowed = RC_OK | RC_BIT(OXRAY_ALREADY_ENDED); /* the same facade may be another thread's too */
    }
    oxray_status s = oxray_entity_end(e.h);
    rc_expect("oxray_entity_end", s, allowed);
    if (s == OXRAY_OK && e.state >= 0) {
        rc_world_ended(w, e.state);
    }
}

void rc_op_free(rc_world *w) {
    if (w->handle_count > 0 && !rc_one_in(&w->rng, 10)) {
        int i = (int)rc_below(&w->rng, (size_t)w->handle_count);
        if (!w->handles[i].borrowed) {
            rc_world_free_handle(w, i);
        }
        return;
    }
    /* NULL and stale handles are ignored. */
    oxray_entity_free(rc_one_in(&w->rng, 2) ? NULL : rc_graveyard_pick_entity(&w->rng));
    rc_count("oxray_entity_free");
}

static double random_double(rc_rng *r) {
    static const double special[] = {0.0, -0.0, 1.5, -2.25e-308, DBL_MAX, -DBL_MAX, DBL_MIN, 4.9e-324, 1e21, 123456789.125};
    switch (rc_below(r, 6)) {
    case 0:
        return NAN;
    case 1:
        return rc_one_in(r, 2) ? INFINITY : -INFINITY;
    case 2:
        return special[rc_below(r, sizeof special / sizeof special[0])];
    default:
        return (double)(int64_t)rc_next(r) / (double)(1 + rc_below(r, 1000000));
    }
}

void rc_op_annotation(rc_world *w) {
    rc_entity_arg e = rc_pick_entity(w);
    if (!rc_may_write(w, &e)) {
        return;
    }
    rc_text key = rc_string(&w->in);
    rc_mask hard = e.misuse | rc_required(key.kind);
    rc_mask soft = rc_state_refusals(w, e.state) | (key.kind == RC_EMPTY ? RC_BIT(OXRAY_INVALID_ARGUMENT) : 0);
    oxray_status s;
    switch (rc_below(&w->rng, 4)) {
    case 0: {
        rc_text value = rc_string(&w->in);
        hard |= rc_required(value.kind);
        s = oxray_entity_put_annotation_string(e.h, key.p, value.p);
        rc_expect("oxray_entity_put_annotation_string", s, rc_allowed(hard, soft, unsampled(w, e.state)));
        break;
    }
    case 1:
        s = oxray_entity_put_annotation_int64(e.h, key.p, (int64_t)rc_next(&w->rng));
        rc_expect("oxray_entity_put_annotation_int64", s, rc_allowed(hard, soft, unsampled(w, e.state)));
        break;
    case 2:
        s = oxray_entity_put_annotation_double(e.h, key.p, random_double(&w->rng));
        rc_expect("oxray_entity_put_annotation_double", s, rc_allowed(hard, soft, unsampled(w, e.state)));
        break;
    default:
        s = oxray_entity_put_annotation_bool(e.h, key.p, rc_one_in(&w->rng, 2));
        rc_expect("oxray_entity_put_annotation_bool", s, rc_allowed(hard, soft, unsampled(w, e.state)));
        break;
    }
}

static rc_mask json_misuse(rc_json_kind kind, rc_mask *soft, bool json_is_soft) {
    rc_mask invalid = RC_BIT(OXRAY_INVALID_JSON);
    switch (kind) {
    case RC_JSON_NULL:
        return RC_BIT(OXRAY_NULL_ARGUMENT);
    case RC_JSON_BAD_UTF8:
        return RC_BIT(OXRAY_INVALID_UTF8);
    case RC_JSON_INVALID:
    case RC_JSON_DEEP:
        if (json_is_soft) {
            *soft |= invalid;
            return 0;
        }
        return invalid;
    default:
        return 0;
    }
}

void rc_op_metadata(rc_world *w) {
    rc_entity_arg e = rc_pick_entity(w);
    if (!rc_may_write(w, &e)) {
        return;
    }
    rc_text ns = rc_string(&w->in);
    if (rc_one_in(&w->rng, 12)) {
        ns = (rc_text){rc_one_in(&w->rng, 2) ? "AWS.reserved" : "AWS.", RC_GOOD};
    }
    bool reserved = ns.kind == RC_GOOD && strncmp(ns.p, "AWS.", 4) == 0;
    rc_text key = rc_string(&w->in);
    rc_json value = rc_json_text(&w->in);
    rc_mask soft = rc_state_refusals(w, e.state) | (reserved ? RC_BIT(OXRAY_RESERVED_NAMESPACE) : 0);
    rc_mask hard = e.misuse | rc_optional(ns.kind) | rc_required(key.kind) | json_misuse(value.kind, &soft, true);
    rc_mask allowed = rc_allowed(hard, soft, unsampled(w, e.state));
    if (value.kind == RC_JSON_DEEP && !hard) {
        allowed |= rc_allowed(0, soft & ~RC_BIT(OXRAY_INVALID_JSON), unsampled(w, e.state));
    }
    oxray_status s = oxray_entity_put_metadata(e.h, ns.p, key.p, value.p);
    rc_expect("oxray_entity_put_metadata", s, allowed);
}

void rc_op_flags(rc_world *w) {
    rc_entity_arg e = rc_pick_entity(w);
    rc_mask allowed = rc_allowed(e.misuse, rc_state_refusals(w, e.state), unsampled(w, e.state));
    bool on = rc_one_in(&w->rng, 2);
    switch (rc_below(&w->rng, 3)) {
    case 0:
        rc_expect("oxray_entity_set_error", oxray_entity_set_error(e.h, on), allowed);
        break;
    case 1:
        rc_expect("oxray_entity_set_fault", oxray_entity_set_fault(e.h, on), allowed);
        break;
    default:
        rc_expect("oxray_entity_set_throttle", oxray_entity_set_throttle(e.h, on), allowed);
        break;
    }
}

void rc_op_http(rc_world *w) {
    rc_entity_arg e = rc_pick_entity(w);
    if (!rc_may_write(w, &e)) {
        return;
    }
    rc_mask soft = rc_state_refusals(w, e.state);
    if (rc_one_in(&w->rng, 2)) {
        static const int32_t statuses[] = {200, 201, 404, 429, 500, 503, 100, 999, OXRAY_HTTP_STATUS_NONE, 99, 1000,
                                           -1, INT32_MIN, INT32_MAX};
        int32_t status = statuses[rc_below(&w->rng, sizeof statuses / sizeof statuses[0])];
        int64_t length = rc_one_in(&w->rng, 4) ? OXRAY_CONTENT_LENGTH_NONE : (int64_t)rc_next(&w->rng) >> rc_below(&w->rng, 63);
        bool bad = status != OXRAY_HTTP_STATUS_NONE && (status < 100 || status > 999);
        rc_mask hard = e.misuse | (bad ? RC_BIT(OXRAY_INVALID_ARGUMENT) : 0);
        rc_expect("oxray_entity_set_http_response", oxray_entity_set_http_response(e.h, status, length),
                  rc_allowed(hard, soft, unsampled(w, e.state)));
        return;
    }
    rc_text method = rc_string(&w->in), url = rc_string(&w->in), agent = rc_string(&w->in), ip = rc_string(&w->in);
    oxray_http_request request = {method.p, url.p, agent.p, ip.p, rc_one_in(&w->rng, 2), rc_one_in(&w->rng, 2)};
    bool null_request = rc_one_in(&w->rng, 20);
    rc_mask hard = e.misuse | (null_request ? RC_BIT(OXRAY_NULL_ARGUMENT)
                                            : rc_optional(method.kind) | rc_optional(url.kind) |
                                                  rc_optional(agent.kind) | rc_optional(ip.kind));
    rc_expect("oxray_entity_set_http_request", oxray_entity_set_http_request(e.h, null_request ? NULL : &request),
              rc_allowed(hard, soft, unsampled(w, e.state)));
}

void rc_op_aws(rc_world *w) {
    rc_entity_arg e = rc_pick_entity(w);
    if (!rc_may_write(w, &e)) {
        return;
    }
    rc_text key = rc_string(&w->in);
    rc_json value = rc_json_text(&w->in);
    rc_mask soft = rc_state_refusals(w, e.state), ignored = 0;
    rc_mask hard = e.misuse | rc_required(key.kind) | (key.kind == RC_EMPTY ? RC_BIT(OXRAY_INVALID_ARGUMENT) : 0) |
                   json_misuse(value.kind, &ignored, false);
    rc_mask allowed = rc_allowed(hard, soft, unsampled(w, e.state));
    if (value.kind == RC_JSON_DEEP && hard == RC_BIT(OXRAY_INVALID_JSON)) {
        allowed |= rc_allowed(0, soft, unsampled(w, e.state)); /* deep but within the parser's bound */
    }
    rc_expect("oxray_entity_set_aws", oxray_entity_set_aws(e.h, key.p, value.p), allowed);
}

void rc_op_sql(rc_world *w) {
    static const char *const good_urls[] = {"postgresql://db.example.com:5432/orders", "mysql://host/db?ssl=true",
                                            "jdbc:postgresql://h/d"};
    static const char *const bad_urls[] = {"postgresql://db.example.com", "postgresql://h/", "//host/db", "host/db",
                                           "", "pg://h/?x=1", "pg://h/d\nx"};
    static const char *const preparations[] = {"call", "statement", "CALL", "", "prepared"};
    rc_entity_arg e = rc_pick_entity(w);
    if (!rc_may_write(w, &e)) {
        return;
    }
    rc_mask hard = e.misuse;
    oxray_sql sql;
    memset(&sql, 0, sizeof sql);
    size_t u = rc_below(&w->rng, 10);
    if (u < 4) {
        sql.url = good_urls[rc_below(&w->rng, sizeof good_urls / sizeof good_urls[0])];
    } else if (u < 7) {
        sql.url = bad_urls[rc_below(&w->rng, sizeof bad_urls / sizeof bad_urls[0])];
        hard |= RC_BIT(OXRAY_INVALID_ARGUMENT);
    } else if (u == 7) {
        rc_text t = rc_string(&w->in);
        if (t.kind == RC_BAD_UTF8 || t.kind == RC_NULL) {
            sql.url = t.p;
            hard |= rc_optional(t.kind);
        }
    }
    size_t p = rc_below(&w->rng, 8);
    if (p < sizeof preparations / sizeof preparations[0]) {
        sql.preparation = preparations[p];
        hard |= p >= 2 ? RC_BIT(OXRAY_INVALID_ARGUMENT) : 0;
    }
    rc_text q = rc_string(&w->in), user = rc_string(&w->in), type = rc_string(&w->in);
    sql.sanitized_query = q.p;
    sql.user = user.p;
    sql.database_type = type.p;
    sql.connection_string = rc_one_in(&w->rng, 4) ? "user=x dbname=y" : NULL;
    sql.database_version = rc_one_in(&w->rng, 2) ? "16.1" : NULL;
    sql.driver_version = rc_one_in(&w->rng, 2) ? "libpq-16" : NULL;
    hard |= rc_optional(q.kind) | rc_optional(user.kind) | rc_optional(type.kind);
    bool null_sql = rc_one_in(&w->rng, 20);
    if (null_sql) {
        hard = e.misuse | RC_BIT(OXRAY_NULL_ARGUMENT);
    }
    rc_expect("oxray_entity_set_sql", oxray_entity_set_sql(e.h, null_sql ? NULL : &sql),
              rc_allowed(hard, rc_state_refusals(w, e.state), unsampled(w, e.state)));
}

void rc_op_exception(rc_world *w) {
    rc_entity_arg e = rc_pick_entity(w);
    if (!rc_may_write(w, &e)) {
        return;
    }
    rc_text type = rc_string(&w->in), message = rc_string(&w->in), wd = rc_string(&w->in);
    rc_mask hard = e.misuse | rc_optional(type.kind) | rc_optional(message.kind) | rc_optional(wd.kind);
    oxray_stack_frame frames[64];
    size_t depth = rc_one_in(&w->rng, 3) ? 0 : rc_below(&w->rng, rc_one_in(&w->rng, 10) ? 64 : 6);
    for (size_t i = 0; i < depth; i++) {
        rc_text path = rc_string(&w->in);
        frames[i].path = path.p;
        frames[i].label = i % 2 ? "handler" : NULL;
        frames[i].line = (int32_t)rc_next(&w->rng);
        hard |= rc_optional(path.kind);
    }
    oxray_exception ex = {type.p, message.p, rc_one_in(&w->rng, 2), frames, depth, (uint32_t)rc_next(&w->rng), wd.p};
    if (depth > 0 && rc_one_in(&w->rng, 20)) {
        ex.stack = NULL; /* frames promised but not given */
        hard = e.misuse | rc_optional(type.kind) | rc_optional(message.kind) | rc_optional(wd.kind) |
               RC_BIT(OXRAY_NULL_ARGUMENT);
    }
    bool null_exception = rc_one_in(&w->rng, 25);
    if (null_exception) {
        hard = e.misuse | RC_BIT(OXRAY_NULL_ARGUMENT);
    }
    char id[OXRAY_ENTITY_ID_SIZE + 8];
    memset(id, 0x55, sizeof id);
    size_t id_len = sizeof id;
    char *id_buf = id;
    size_t b = rc_below(&w->rng, 8);
    if (b == 0) {
        id_buf = NULL;
    } else if (b == 1) {
        id_len = rc_below(&w->rng, OXRAY_ENTITY_ID_SIZE); /* too small: nothing is recorded */
        hard |= RC_BIT(OXRAY_BUFFER_TOO_SMALL);
    }
    oxray_status s = oxray_entity_add_exception(e.h, null_exception ? NULL : &ex, id_buf, id_len);
    rc_expect("oxray_entity_add_exception", s, rc_allowed(hard, rc_state_refusals(w, e.state), unsampled(w, e.state)));
    if (s == OXRAY_OK && id_buf) {
        if (strlen(id) != 16) {
            rc_fail("oxray_entity_add_exception", "the exception id is not 16 characters");
        } else {
            memcpy(w->exception_ids[w->exception_count++ % 8], id, OXRAY_ENTITY_ID_SIZE);
        }
    }
}

void rc_op_cause(rc_world *w) {
    rc_entity_arg e = rc_pick_entity(w);
    char random_id[17];
    rc_hex(&w->rng, random_id, 16);
    const char *id = random_id;
    rc_mask hard = e.misuse;
    size_t pick = rc_below(&w->rng, 10);
    if (pick < 3 && w->exception_count > 0) {
        id = w->exception_ids[rc_below(&w->rng, (size_t)(w->exception_count < 8 ? w->exception_count : 8))];
    } else if (pick < 6) {
        static const char *const bad[] = {"", "xyz", "0123456789abcde", "0123456789abcdef0", "0123456789abcdeg",
                                          "-123456789abcdef"};
        id = bad[rc_below(&w->rng, sizeof bad / sizeof bad[0])];
        hard |= RC_BIT(OXRAY_INVALID_ARGUMENT);
    } else if (pick < 8) {
        rc_text t = rc_string(&w->in);
        if (t.kind == RC_NULL || t.kind == RC_BAD_UTF8) {
            id = t.p;
            hard |= rc_required(t.kind);
        }
    }
    rc_expect("oxray_entity_set_cause_exception_id", oxray_entity_set_cause_exception_id(e.h, id),
              rc_allowed(hard, rc_state_refusals(w, e.state), unsampled(w, e.state)));
}

void rc_op_namespace(rc_world *w) {
    static const char *const good[] = {"aws", "remote"};
    static const char *const bad[] = {"local", "", "AWS", "Remote", "aws ", "remote\t"};
    rc_entity_arg e = rc_pick_entity(w);
    rc_mask hard = e.misuse;
    const char *ns = NULL;
    size_t pick = rc_below(&w->rng, 10);
    if (pick < 5) {
        ns = good[rc_below(&w->rng, 2)];
    } else if (pick < 8) {
        ns = bad[rc_below(&w->rng, sizeof bad / sizeof bad[0])];
        hard |= RC_BIT(OXRAY_INVALID_ARGUMENT);
    } else if (pick == 8) {
        rc_text t = rc_string(&w->in);
        ns = t.p;
        hard |= t.kind == RC_GOOD || t.kind == RC_EMPTY ? RC_BIT(OXRAY_INVALID_ARGUMENT) : rc_optional(t.kind);
        if (t.kind == RC_GOOD && (strcmp(t.p, "aws") == 0 || strcmp(t.p, "remote") == 0)) {
            hard &= ~RC_BIT(OXRAY_INVALID_ARGUMENT);
        }
    }
    rc_expect("oxray_entity_set_namespace", oxray_entity_set_namespace(e.h, ns),
              rc_allowed(hard, rc_state_refusals(w, e.state), unsampled(w, e.state)));
}

void rc_op_send_in_progress(rc_world *w) {
    rc_entity_arg e = rc_pick_entity(w);
    /* As the setters: ALREADY_ENDED once ended, INVALID_ARGUMENT on a facade. */
    rc_mask allowed = rc_allowed(e.misuse, rc_state_refusals(w, e.state), unsampled(w, e.state));
    rc_expect("oxray_entity_send_in_progress", oxray_entity_send_in_progress(e.h), allowed);
}

typedef oxray_status (*entity_writer)(const oxray_entity *, char *, size_t, size_t *);

void rc_op_string_out(rc_world *w) {
    static const struct {
        const char *name;
        entity_writer fn;
    } writers[] = {
        {"oxray_entity_id", oxray_entity_id},
        {"oxray_entity_trace_id", oxray_entity_trace_id},
        {"oxray_entity_parent_id", oxray_entity_parent_id},
        {"oxray_entity_outgoing_header", oxray_entity_outgoing_header},
        {"oxray_entity_document", oxray_entity_document},
    };
    size_t which = rc_below(&w->rng, 5);
    rc_entity_arg e = rc_pick_entity(w);
    rc_out_call call;
    rc_out_begin(w, &call);
    oxray_status s = writers[which].fn(e.h, call.buf, call.len, call.needed);
    if (e.misuse) {
        rc_expect(writers[which].name, s, e.misuse | call.misuse);
        rc_out_end(&call);
        return;
    }
    if (rc_out_check(writers[which].name, &call, s) && s == OXRAY_OK && e.state >= 0) {
        const char *text = call.buf;
        bool ok = true;
        switch (which) {
        case 0:
            ok = strcmp(text, w->states[e.state].id) == 0;
            break;
        case 1:
            ok = strlen(text) == 35 && strncmp(text, "1-", 2) == 0;
            break;
        case 2:
            ok = strlen(text) == 16 || strlen(text) == 0;
            break;
        case 3:
            ok = strncmp(text, "Root=1-", 7) == 0 && strstr(text, w->states[e.state].id) != NULL;
            break;
        default:
            /* Empty (unsampled, ended, facade) or the open entity's document. */
            ok = text[0] == '\0' || (text[0] == '{' && strstr(text, w->states[e.state].id) != NULL &&
                                      strstr(text, "\"in_progress\":true") != NULL);
            break;
        }
        if (!ok) {
            char what[300];
            snprintf(what, sizeof what, "wrote \"%.200s\"", text);
            rc_fail(writers[which].name, what);
        }
    }
    rc_out_end(&call);
}

void rc_op_is_sampled(rc_world *w) {
    rc_entity_arg e = rc_pick_entity(w);
    bool sampled = false, null_out = rc_one_in(&w->rng, 10);
    oxray_status s = oxray_entity_is_sampled(e.h, null_out ? NULL : &sampled);
    rc_expect("oxray_entity_is_sampled", s, e.misuse | (null_out ? RC_BIT(OXRAY_NULL_ARGUMENT) : 0) | (e.misuse || null_out ? 0 : RC_OK));
    if (s == OXRAY_OK && e.state >= 0 && sampled != w->states[e.state].sampled) {
        rc_fail("oxray_entity_is_sampled", "the answer changed during the entity's life");
    }
}

void rc_op_current(rc_world *w) {
    switch (rc_below(&w->rng, 5)) {
    case 0: {
        rc_entity_arg e = rc_pick_entity(w);
        oxray_status s = oxray_current_set(e.h);
        rc_expect("oxray_current_set", s, e.misuse ? e.misuse : RC_OK);
        if (s == OXRAY_OK) {
            w->current = e.state;
        }
        break;
    }
    case 1: {
        oxray_entity *got = NULL;
        rc_mask hard = 0;
        oxray_entity **out = maybe_out(w, &got, &hard);
        oxray_status s = oxray_current_get(out);
        rc_expect("oxray_current_get", s, hard ? hard : w->current >= 0 ? RC_OK : RC_BIT(OXRAY_CONTEXT_MISSING));
        check_out_cleared("oxray_current_get", s, out);
        if (s == OXRAY_OK) {
            char id[OXRAY_ENTITY_ID_SIZE] = "";
            oxray_entity_id(got, id, sizeof id, NULL);
            if (strcmp(id, w->states[w->current].id) != 0) {
                rc_fail("oxray_current_get", "the current entity is not the one set");
            }
            rc_world_alias(w, got, w->current);
        }
        break;
    }
    case 2:
        oxray_current_clear();
        rc_count("oxray_current_clear");
        w->current = -1;
        break;
    default: {
        rc_recorder_arg r = rc_pick_recorder(w);
        rc_text name = rc_string(&w->in);
        rc_mask hard = r.misuse | rc_required(name.kind);
        oxray_entity *child = NULL, **out = maybe_out(w, &child, &hard);
        oxray_status s = oxray_current_begin_subsegment(r.h, name.p, out);
        rc_mask allowed;
        if (hard) {
            allowed = hard;
        } else if (w->current < 0 && w->recorders[r.index].runtime_error) {
            allowed = RC_BIT(OXRAY_CONTEXT_MISSING);
        } else {
            allowed = RC_OK;
        }
        rc_expect("oxray_current_begin_subsegment", s, allowed);
        check_out_cleared("oxray_current_begin_subsegment", s, out);
        if (s == OXRAY_OK) {
            if (w->current >= 0) {
                const rc_state *p = &w->states[w->current];
                rc_world_add(w, child, p->sink, p->sampled ? 1 : 0, false, p->depth + 1);
            } else {
                rc_world_add(w, child, -1, 0, false, 0); /* the stand-in records nothing */
            }
        }
        break;
    }
    }
}

void rc_op_deep_chain(rc_world *w) {
    if (w->handle_count == 0) {
        return;
    }
    int root = (int)rc_below(&w->rng, (size_t)w->handle_count);
    int depth = 1 + (int)rc_below(&w->rng, (size_t)w->max_depth);
    int first = w->handle_count;
    oxray_entity *parent = w->handles[root].h;
    int parent_state = w->handles[root].state;
    for (int i = 0; i < depth; i++) {
        char name[32];
        snprintf(name, sizeof name, "deep-%d", i);
        oxray_entity *child = NULL;
        oxray_status s = oxray_entity_begin_subsegment(parent, name, &child);
        if (!rc_expect("oxray_entity_begin_subsegment", s, RC_OK) || s != OXRAY_OK) {
            break;
        }
        const rc_state *p = &w->states[parent_state];
        int h = rc_world_add(w, child, p->sink, p->sampled ? 1 : 0, false, p->depth + 1);
        parent = child;
        parent_state = w->handles[h].state;
        rc_expect("oxray_entity_put_annotation_int64", oxray_entity_put_annotation_int64(child, "level", i),
                  RC_OK);
    }
    /* End them innermost first (some stay open), then free every handle. */
    for (int i = w->handle_count - 1; i >= first; i--) {
        if (!rc_one_in(&w->rng, 8)) {
            rc_expect("oxray_entity_end", oxray_entity_end(w->handles[i].h), RC_OK);
            rc_world_ended(w, w->handles[i].state);
        }
    }
    for (int i = w->handle_count - 1; i >= first; i--) {
        rc_world_free_handle(w, i);
    }
}

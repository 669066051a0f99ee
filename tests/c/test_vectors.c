/* The shared vectors in tests/vectors, run through the C API: trace headers, daemon addresses,
 * entity names, annotation keys, and the entity scripts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "suites.h"

/* Loads tests/vectors/<name>; NULL (and a failed check) if missing or not JSON. */
static json_value *load_vectors(const char *name, char **text) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", harness_vectors_dir, name);
    *text = json_read_file(path);
    if (!CHECK(*text != NULL)) {
        fprintf(stderr, "      cannot read %s\n", path);
        return NULL;
    }
    char error[200];
    json_value *v = json_parse(*text, error, sizeof error);
    if (!CHECK(v != NULL && v->type == JSON_ARRAY && v->count > 0)) {
        fprintf(stderr, "      %s: %s\n", path, v ? "not a non-empty array" : error);
        json_free(v);
        return NULL;
    }
    return v;
}

/* A NUL-terminated copy of a value's raw JSON text. */
static char *raw_text(const json_value *v) {
    char *s = malloc(v->raw_len + 1);
    memcpy(s, v->raw, v->raw_len);
    s[v->raw_len] = '\0';
    return s;
}

static bool is_true(const json_value *v) {
    return v && v->type == JSON_BOOL && v->boolean;
}

/* ---- trace_headers.json ---- */

static oxray_header_error error_kind(const char *name) {
    static const struct {
        const char *name;
        oxray_header_error kind;
    } kinds[] = {
        {"empty", OXRAY_HEADER_ERROR_EMPTY},
        {"too_long", OXRAY_HEADER_ERROR_TOO_LONG},
        {"missing_equals", OXRAY_HEADER_ERROR_MISSING_EQUALS},
        {"invalid_root", OXRAY_HEADER_ERROR_INVALID_ROOT},
        {"invalid_parent", OXRAY_HEADER_ERROR_INVALID_PARENT},
        {"invalid_sampled", OXRAY_HEADER_ERROR_INVALID_SAMPLED},
        {"invalid_character", OXRAY_HEADER_ERROR_INVALID_CHARACTER},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (name && strcmp(name, kinds[i].name) == 0) {
            return kinds[i].kind;
        }
    }
    return OXRAY_HEADER_ERROR_NONE;
}

static oxray_sampled sampled_kind(const char *text) {
    if (!text) return OXRAY_SAMPLED_ABSENT;
    if (strcmp(text, "1") == 0) return OXRAY_SAMPLED_YES;
    if (strcmp(text, "0") == 0) return OXRAY_SAMPLED_NO;
    return OXRAY_SAMPLED_REQUESTED;
}

static void trace_header_vectors(void) {
    char *text;
    json_value *cases = load_vectors("trace_headers.json", &text);
    for (size_t i = 0; cases && i < cases->count; i++) {
        const json_value *c = cases->items[i];
        const char *input = json_get_string(c, "input");
        oxray_trace_header_fields fields;
        char normalized[1024];
        oxray_status parsed = oxray_trace_header_parse(input, &fields);
        oxray_status normal = oxray_trace_header_normalize(input, normalized, sizeof normalized, NULL);
        bool ok;
        if (is_true(json_get(c, "valid"))) {
            const char *root = json_get_string(c, "root");
            const char *parent = json_get_string(c, "parent");
            ok = CHECK_OK(parsed) & CHECK_OK(normal) & CHECK_STR(fields.root, root ? root : "") &
                 CHECK_STR(fields.parent, parent ? parent : "") &
                 CHECK(fields.sampled == sampled_kind(json_get_string(c, "sampled"))) &
                 CHECK_STR(normalized, json_get_string(c, "formatted"));
        } else {
            ok = CHECK_STATUS(parsed, OXRAY_INVALID_HEADER) & CHECK_STATUS(normal, OXRAY_INVALID_HEADER) &
                 CHECK(fields.error == error_kind(json_get_string(c, "error")) &&
                       fields.error != OXRAY_HEADER_ERROR_NONE);
        }
        if (!ok) {
            fprintf(stderr, "      in vector %zu: %s\n", i, input);
        }
    }
    json_free(cases);
    free(text);
}

/* ---- daemon_addresses.json ---- */

static void daemon_address_vectors(void) {
    char *text;
    json_value *cases = load_vectors("daemon_addresses.json", &text);
    for (size_t i = 0; cases && i < cases->count; i++) {
        const json_value *c = cases->items[i];
        const json_value *input = json_get(c, "input");
        oxray_daemon_address address;
        oxray_status s = oxray_daemon_address_parse(input->string, &address);

        /* The same text as recorder configuration. */
        char *raw = raw_text(input);
        char config[512];
        snprintf(config, sizeof config, "{\"emit_mode\":\"memory\",\"daemon_address\":%s}", raw);
        free(raw);
        oxray_recorder *recorder = NULL;
        oxray_status configured = oxray_recorder_new(config, &recorder);
        oxray_recorder_free(recorder);

        bool ok;
        if (is_true(json_get(c, "valid"))) {
            ok = CHECK_OK(s) & CHECK_STR(address.udp, json_get_string(c, "udp")) &
                 CHECK_STR(address.tcp, json_get_string(c, "tcp")) & CHECK_OK(configured);
        } else {
            ok = CHECK_STATUS(s, OXRAY_INVALID_ADDRESS) & CHECK_STATUS(configured, OXRAY_INVALID_CONFIG);
        }
        if (!ok) {
            fprintf(stderr, "      in vector %zu: \"%s\"\n", i, input->string);
        }
    }
    json_free(cases);
    free(text);
}

/* ---- names.json and annotation_keys.json ---- */

static void name_vectors(void) {
    char *text;
    json_value *cases = load_vectors("names.json", &text);
    oxray_recorder *recorder = harness_memory_recorder("");
    for (size_t i = 0; cases && i < cases->count; i++) {
        const json_value *c = cases->items[i];
        const char *input = json_get_string(c, "input");
        const char *output = json_get_string(c, "output");
        oxray_entity *segment = NULL, *sub = NULL;
        CHECK_OK(oxray_recorder_begin_segment(recorder, input, NULL, &segment));
        CHECK_OK(oxray_entity_begin_subsegment(segment, input, &sub));
        CHECK_OK(oxray_entity_end(sub));
        CHECK_OK(oxray_entity_end(segment));
        oxray_entity_free(sub);
        oxray_entity_free(segment);
        harness_documents docs = harness_take_documents(recorder);
        const json_value *doc = harness_only_document(&docs);
        const json_value *subs = json_get(doc, "subsegments");
        bool ok = CHECK_STR(json_get_string(doc, "name"), output) &
                  CHECK(subs && subs->count == 1 && strcmp(json_get_string(subs->items[0], "name"), output) == 0);
        if (!ok) {
            fprintf(stderr, "      in vector %zu\n", i);
        }
        harness_documents_free(&docs);
    }
    oxray_recorder_free(recorder);
    json_free(cases);
    free(text);
}

static void annotation_key_vectors(void) {
    char *text;
    json_value *cases = load_vectors("annotation_keys.json", &text);
    oxray_recorder *recorder = harness_memory_recorder("");
    for (size_t i = 0; cases && i < cases->count; i++) {
        const json_value *c = cases->items[i];
        const char *input = json_get_string(c, "input");
        const json_value *output = json_get(c, "output");
        oxray_entity *segment = NULL;
        CHECK_OK(oxray_recorder_begin_segment(recorder, "svc", NULL, &segment));
        oxray_status s = oxray_entity_put_annotation_string(segment, input, "v");
        CHECK_OK(oxray_entity_end(segment));
        oxray_entity_free(segment);
        harness_documents docs = harness_take_documents(recorder);
        const json_value *annotations = json_get(harness_only_document(&docs), "annotations");
        bool ok;
        if (output->type == JSON_NULL) {
            ok = CHECK_STATUS(s, OXRAY_INVALID_ARGUMENT) & CHECK(annotations == NULL);
        } else {
            ok = CHECK_OK(s) & CHECK(annotations && annotations->count == 1) &
                 CHECK_STR(json_get_string(annotations, output->string), "v");
        }
        if (!ok) {
            fprintf(stderr, "      in vector %zu\n", i);
        }
        harness_documents_free(&docs);
    }
    oxray_recorder_free(recorder);
    json_free(cases);
    free(text);
}

/* ---- entity_scripts.json ---- */

#define MAX_NAMES 32

typedef struct script_state {
    oxray_recorder *recorder;
    const char *entity_names[MAX_NAMES];
    oxray_entity *entities[MAX_NAMES];
    size_t entity_count;
    const char *exception_names[MAX_NAMES];
    char exception_ids[MAX_NAMES][OXRAY_ENTITY_ID_SIZE];
    size_t exception_count;
} script_state;

static oxray_entity *entity_named(const script_state *st, const char *name) {
    for (size_t i = 0; name && i < st->entity_count; i++) {
        if (strcmp(st->entity_names[i], name) == 0) {
            return st->entities[i];
        }
    }
    return NULL;
}

static const char *exception_named(const script_state *st, const char *name) {
    for (size_t i = 0; name && i < st->exception_count; i++) {
        if (strcmp(st->exception_names[i], name) == 0) {
            return st->exception_ids[i];
        }
    }
    return NULL;
}

static void name_entity(script_state *st, const char *name, oxray_entity *entity) {
    if (CHECK(st->entity_count < MAX_NAMES && name != NULL)) {
        st->entity_names[st->entity_count] = name;
        st->entities[st->entity_count++] = entity;
    } else {
        oxray_entity_free(entity);
    }
}

static oxray_status op_annotation(oxray_entity *e, const json_value *op) {
    const char *key = json_get_string(op, "key");
    const json_value *v = json_get(op, "value");
    switch (v ? v->type : JSON_NULL) {
    case JSON_STRING: return oxray_entity_put_annotation_string(e, key, v->string);
    case JSON_BOOL: return oxray_entity_put_annotation_bool(e, key, v->boolean);
    case JSON_NUMBER:
        return v->is_integer ? oxray_entity_put_annotation_int64(e, key, (int64_t)v->number)
                             : oxray_entity_put_annotation_double(e, key, v->number);
    default: return OXRAY_INVALID_ARGUMENT;
    }
}

static oxray_status op_with_raw_json(oxray_entity *e, const json_value *op, bool metadata) {
    const json_value *v = json_get(op, "value");
    if (!v) return OXRAY_INVALID_ARGUMENT;
    char *raw = raw_text(v);
    oxray_status s = metadata ? oxray_entity_put_metadata(e, json_get_string(op, "namespace"),
                                                          json_get_string(op, "key"), raw)
                              : oxray_entity_set_aws(e, json_get_string(op, "key"), raw);
    free(raw);
    return s;
}

static oxray_status op_http_response(oxray_entity *e, const json_value *op) {
    const json_value *status = json_get(op, "status");
    const json_value *length = json_get(op, "content_length");
    return oxray_entity_set_http_response(e, status ? (int32_t)status->number : OXRAY_HTTP_STATUS_NONE,
                                          length ? (int64_t)length->number : OXRAY_CONTENT_LENGTH_NONE);
}

static oxray_status op_http_request(oxray_entity *e, const json_value *op) {
    oxray_http_request r = {0};
    r.method = json_get_string(op, "method");
    r.url = json_get_string(op, "url");
    r.user_agent = json_get_string(op, "user_agent");
    r.client_ip = json_get_string(op, "client_ip");
    r.traced = is_true(json_get(op, "traced"));
    r.x_forwarded_for = is_true(json_get(op, "x_forwarded_for"));
    return oxray_entity_set_http_request(e, &r);
}

static oxray_status op_sql(oxray_entity *e, const json_value *op) {
    oxray_sql s = {0};
    s.url = json_get_string(op, "url");
    s.connection_string = json_get_string(op, "connection_string");
    s.sanitized_query = json_get_string(op, "sanitized_query");
    s.database_type = json_get_string(op, "database_type");
    s.database_version = json_get_string(op, "database_version");
    s.driver_version = json_get_string(op, "driver_version");
    s.user = json_get_string(op, "user");
    s.preparation = json_get_string(op, "preparation");
    return oxray_entity_set_sql(e, &s);
}

static oxray_status op_exception(script_state *st, oxray_entity *e, const json_value *op) {
    oxray_exception ex = {0};
    oxray_stack_frame frames[32];
    ex.type_name = json_get_string(op, "type");
    ex.message = json_get_string(op, "message");
    ex.remote = is_true(json_get(op, "remote"));
    const json_value *stack = json_get(op, "stack");
    for (size_t i = 0; stack && i < stack->count && i < 32; i++) {
        const json_value *line = json_get(stack->items[i], "line");
        frames[i].path = json_get_string(stack->items[i], "path");
        frames[i].label = json_get_string(stack->items[i], "label");
        frames[i].line = line ? (int32_t)line->number : 0;
        ex.stack_len = i + 1;
    }
    ex.stack = frames;
    char id[OXRAY_ENTITY_ID_SIZE];
    oxray_status s = oxray_entity_add_exception(e, &ex, id, sizeof id);
    const char *name = json_get_string(op, "as");
    if (s == OXRAY_OK && name && CHECK(st->exception_count < MAX_NAMES)) {
        st->exception_names[st->exception_count] = name;
        memcpy(st->exception_ids[st->exception_count++], id, sizeof id);
    }
    return s;
}

/* Runs one op; the status is what oxray answered. */
static oxray_status run_op(script_state *st, const json_value *op) {
    const char *kind = json_get_string(op, "op");
    oxray_entity *e = entity_named(st, json_get_string(op, "entity"));
    oxray_entity *made = NULL;
    oxray_status s;
    if (strcmp(kind, "begin_segment") == 0) {
        s = oxray_recorder_begin_segment(st->recorder, json_get_string(op, "name"), json_get_string(op, "header"),
                                         &made);
    } else if (strcmp(kind, "lambda_facade") == 0) {
        s = oxray_recorder_lambda_facade(st->recorder, json_get_string(op, "header"), &made);
    } else if (strcmp(kind, "begin_subsegment") == 0) {
        s = oxray_entity_begin_subsegment(entity_named(st, json_get_string(op, "parent")),
                                          json_get_string(op, "name"), &made);
    } else if (strcmp(kind, "annotation") == 0) {
        s = op_annotation(e, op);
    } else if (strcmp(kind, "metadata") == 0) {
        s = op_with_raw_json(e, op, true);
    } else if (strcmp(kind, "aws") == 0) {
        s = op_with_raw_json(e, op, false);
    } else if (strcmp(kind, "namespace") == 0) {
        s = oxray_entity_set_namespace(e, json_get_string(op, "value"));
    } else if (strcmp(kind, "http_request") == 0) {
        s = op_http_request(e, op);
    } else if (strcmp(kind, "http_response") == 0) {
        s = op_http_response(e, op);
    } else if (strcmp(kind, "sql") == 0) {
        s = op_sql(e, op);
    } else if (strcmp(kind, "exception") == 0) {
        s = op_exception(st, e, op);
    } else if (strcmp(kind, "cause_ref") == 0) {
        s = oxray_entity_set_cause_exception_id(e, exception_named(st, json_get_string(op, "exception")));
    } else if (strcmp(kind, "error") == 0) {
        s = oxray_entity_set_error(e, true);
    } else if (strcmp(kind, "fault") == 0) {
        s = oxray_entity_set_fault(e, true);
    } else if (strcmp(kind, "throttle") == 0) {
        s = oxray_entity_set_throttle(e, true);
    } else if (strcmp(kind, "end") == 0) {
        s = oxray_entity_end(e);
    } else if (strcmp(kind, "flush") == 0) {
        s = oxray_recorder_flush(st->recorder, 5000);
    } else {
        fprintf(stderr, "      unknown op %s\n", kind);
        return OXRAY_PANIC;
    }
    if (made) {
        name_entity(st, json_get_string(op, "as"), made);
    }
    return s;
}

/* Resolves "$id:x", "$trace:x", "$exception:x" to the text they stand for (NULL if unknown). */
static const char *resolve(const script_state *st, const char *pattern, char *buf, size_t len) {
    if (strncmp(pattern, "$exception:", 11) == 0) {
        return exception_named(st, pattern + 11);
    }
    bool id = strncmp(pattern, "$id:", 4) == 0;
    bool trace = strncmp(pattern, "$trace:", 7) == 0;
    if (!id && !trace) {
        return pattern;
    }
    oxray_entity *e = entity_named(st, pattern + (id ? 4 : 7));
    oxray_status s = id ? oxray_entity_id(e, buf, len, NULL) : oxray_entity_trace_id(e, buf, len, NULL);
    return s == OXRAY_OK ? buf : NULL;
}

/* Subset match of `want` against `got` (see tests/vectors/README.md); reports the path. */
static bool matches(const script_state *st, const json_value *want, const json_value *got, const char *path) {
    char sub[512];
    if (want->type == JSON_STRING && want->string[0] == '$') {
        char buf[64];
        const char *expected = resolve(st, want->string, buf, sizeof buf);
        if (expected && got && got->type == JSON_STRING && strcmp(expected, got->string) == 0) {
            return true;
        }
        fprintf(stderr, "      %s: want %s (%s), got %.*s\n", path, want->string, expected ? expected : "?",
                got ? (int)got->raw_len : 6, got ? got->raw : "absent");
        return false;
    }
    if (want->type == JSON_OBJECT) {
        if (!got || got->type != JSON_OBJECT) {
            fprintf(stderr, "      %s: want an object\n", path);
            return false;
        }
        bool ok = true;
        for (size_t i = 0; i < want->count; i++) {
            const char *key = want->keys[i];
            const json_value *w = want->items[i];
            const json_value *g = json_get(got, key);
            snprintf(sub, sizeof sub, "%s.%s", path, key);
            if (strcmp(key, "start_time") == 0 || strcmp(key, "end_time") == 0) {
                continue;
            }
            if (w->type == JSON_STRING && strcmp(w->string, "$absent") == 0) {
                if (g) {
                    fprintf(stderr, "      %s: want absent, got %.*s\n", sub, (int)g->raw_len, g->raw);
                    ok = false;
                }
            } else if (!g) {
                fprintf(stderr, "      %s: missing\n", sub);
                ok = false;
            } else {
                ok = matches(st, w, g, sub) && ok;
            }
        }
        return ok;
    }
    if (want->type == JSON_ARRAY) {
        if (!got || got->type != JSON_ARRAY || got->count != want->count) {
            fprintf(stderr, "      %s: want an array of %zu\n", path, want->count);
            return false;
        }
        bool ok = true;
        for (size_t i = 0; i < want->count; i++) {
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            ok = matches(st, want->items[i], got->items[i], sub) && ok;
        }
        return ok;
    }
    if (!json_equal(want, got)) {
        fprintf(stderr, "      %s: want %.*s, got %.*s\n", path, (int)want->raw_len, want->raw,
                got ? (int)got->raw_len : 6, got ? got->raw : "absent");
        return false;
    }
    return true;
}

/* Statuses an op may answer when the script feeds it input oxray refuses by design. */
static bool is_refusal(oxray_status s) {
    return s == OXRAY_OK || s == OXRAY_INVALID_ARGUMENT || s == OXRAY_INVALID_JSON ||
           s == OXRAY_RESERVED_NAMESPACE || s == OXRAY_ALREADY_ENDED;
}

static void run_script(const json_value *script) {
    const char *name = json_get_string(script, "name");
    script_state st;
    memset(&st, 0, sizeof st);
    st.recorder = harness_memory_recorder("");
    const json_value *ops = json_get(script, "ops");
    bool ok = CHECK(ops && ops->type == JSON_ARRAY);
    for (size_t i = 0; ops && i < ops->count; i++) {
        oxray_status s = run_op(&st, ops->items[i]);
        if (!CHECK(is_refusal(s))) {
            fprintf(stderr, "      op %zu (%s) answered %s: %s\n", i, json_get_string(ops->items[i], "op"),
                    oxray_status_name((int32_t)s), harness_last_error());
            ok = false;
        }
    }
    harness_documents docs = harness_take_documents(st.recorder);
    const json_value *expect = json_get(script, "expect");
    size_t got = harness_documents_count(&docs);
    if (!CHECK(expect && expect->count == got)) {
        fprintf(stderr, "      want %zu documents, got %zu: %s\n", expect ? expect->count : 0, got,
                docs.text ? docs.text : "");
        ok = false;
    }
    for (size_t i = 0; expect && i < expect->count && i < got; i++) {
        char path[32];
        snprintf(path, sizeof path, "doc[%zu]", i);
        ok = CHECK(matches(&st, expect->items[i], harness_document(&docs, i), path)) && ok;
    }
    if (!ok) {
        fprintf(stderr, "      in script \"%s\"\n", name);
    }
    harness_documents_free(&docs);
    for (size_t i = 0; i < st.entity_count; i++) {
        oxray_entity_free(st.entities[i]);
    }
    oxray_recorder_free(st.recorder);
}

static void entity_script_vectors(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/entity_scripts.json", harness_vectors_dir);
    FILE *probe = fopen(path, "r");
    if (!probe) {
        /* Optional: the file may not exist yet (tests/vectors/README.md). */
        CHECK(true);
        printf("       (no entity_scripts.json: skipped)\n");
        return;
    }
    fclose(probe);
    char *text;
    json_value *scripts = load_vectors("entity_scripts.json", &text);
    for (size_t i = 0; scripts && i < scripts->count; i++) {
        run_script(scripts->items[i]);
    }
    json_free(scripts);
    free(text);
}

void suite_vectors(void) {
    RUN(trace_header_vectors);
    RUN(daemon_address_vectors);
    RUN(name_vectors);
    RUN(annotation_key_vectors);
    RUN(entity_script_vectors);
}

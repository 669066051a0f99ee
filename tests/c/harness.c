/* See harness.h. */
#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *harness_vectors_dir = "tests/vectors";
const char HARNESS_BAD_UTF8[] = {'b', 'a', 'd', (char)0xff, (char)0xfe, 'x', '\0'};

static int tests_passed;
static int tests_failed;
static int checks_run;
static int failures_in_test;
static FILE *documents_file;

bool harness_check(bool ok, const char *what, const char *file, int line) {
    checks_run++;
    if (!ok) {
        failures_in_test++;
        fprintf(stderr, "    check failed at %s:%d: %s\n", file, line, what);
    }
    return ok;
}

bool harness_check_status(oxray_status got, oxray_status want, const char *what, const char *file, int line) {
    checks_run++;
    if (got != want) {
        failures_in_test++;
        fprintf(stderr, "    check failed at %s:%d: %s\n      answered %s (%d), expected %s; last error: %s\n", file,
                line, what, oxray_status_name((int32_t)got), (int)got, oxray_status_name((int32_t)want),
                harness_last_error());
        return false;
    }
    return true;
}

bool harness_check_str(const char *got, const char *want, const char *what, const char *file, int line) {
    bool ok = (got == NULL && want == NULL) || (got && want && strcmp(got, want) == 0);
    checks_run++;
    if (!ok) {
        failures_in_test++;
        fprintf(stderr, "    check failed at %s:%d: %s\n      is   \"%s\"\n      want \"%s\"\n", file, line, what,
                got ? got : "(null)", want ? want : "(null)");
    }
    return ok;
}

void harness_run(const char *name, void (*test)(void)) {
    failures_in_test = 0;
    int before = checks_run;
    test();
    if (checks_run == before) {
        /* A test that checks nothing is a broken test. */
        failures_in_test++;
        fprintf(stderr, "    %s made no checks\n", name);
    }
    if (failures_in_test == 0) {
        tests_passed++;
        printf("ok     %s (%d checks)\n", name, checks_run - before);
    } else {
        tests_failed++;
        printf("FAILED %s (%d of %d checks failed)\n", name, failures_in_test, checks_run - before);
    }
    fflush(stdout);
}

int harness_finish(void) {
    if (documents_file) {
        fclose(documents_file);
        documents_file = NULL;
    }
    printf("%d checks\n", checks_run);
    printf("%d passed, %d failed\n", tests_passed, tests_failed);
    return tests_failed == 0 && tests_passed > 0 ? 0 : 1;
}

void harness_open_documents_file(const char *path) {
    if (path) {
        documents_file = fopen(path, "w");
        if (!documents_file) {
            fprintf(stderr, "cannot open %s\n", path);
            exit(2);
        }
    }
}

void harness_record_document(const char *json, size_t len) {
    if (documents_file) {
        fwrite(json, 1, len, documents_file);
        fputc('\n', documents_file);
    }
}

#define KEPT_DIAGNOSTICS 64
static pthread_mutex_t diagnostics_lock = PTHREAD_MUTEX_INITIALIZER;
static int diagnostics_count;
static char kept_diagnostics[KEPT_DIAGNOSTICS][256];

static void keep_diagnostic(oxray_level level, const char *message, void *user_data) {
    (void)level;
    (void)user_data;
    pthread_mutex_lock(&diagnostics_lock);
    snprintf(kept_diagnostics[diagnostics_count % KEPT_DIAGNOSTICS], sizeof kept_diagnostics[0], "%s", message);
    diagnostics_count++;
    pthread_mutex_unlock(&diagnostics_lock);
}

void harness_capture_diagnostics(void) {
    oxray_diagnostics_set_callback(keep_diagnostic, NULL);
}

int harness_diagnostics_count(void) {
    pthread_mutex_lock(&diagnostics_lock);
    int n = diagnostics_count;
    pthread_mutex_unlock(&diagnostics_lock);
    return n;
}

bool harness_diagnostics_contain(const char *needle) {
    bool found = false;
    pthread_mutex_lock(&diagnostics_lock);
    int kept = diagnostics_count < KEPT_DIAGNOSTICS ? diagnostics_count : KEPT_DIAGNOSTICS;
    for (int i = 0; i < kept && !found; i++) {
        found = strstr(kept_diagnostics[i], needle) != NULL;
    }
    pthread_mutex_unlock(&diagnostics_lock);
    return found;
}

const char *harness_last_error(void) {
    static char buf[1024];
    oxray_last_error(buf, sizeof buf);
    return buf;
}

harness_documents harness_take_documents(const oxray_recorder *recorder) {
    harness_documents docs = {NULL, NULL};
    size_t needed = 0;
    oxray_status s = oxray_recorder_take_documents(recorder, NULL, 0, &needed);
    if (!CHECK(s == OXRAY_BUFFER_TOO_SMALL && needed >= 3)) {
        return docs;
    }
    docs.text = malloc(needed);
    if (!CHECK(docs.text != NULL)) {
        return docs;
    }
    if (!CHECK_OK(oxray_recorder_take_documents(recorder, docs.text, needed, NULL))) {
        return docs;
    }
    char error[200];
    docs.array = json_parse(docs.text, error, sizeof error);
    if (!CHECK(docs.array != NULL && docs.array->type == JSON_ARRAY)) {
        fprintf(stderr, "      documents do not parse: %s\n", error);
        return docs;
    }
    for (size_t i = 0; i < docs.array->count; i++) {
        harness_record_document(docs.array->items[i]->raw, docs.array->items[i]->raw_len);
    }
    return docs;
}

void harness_documents_free(harness_documents *docs) {
    json_free(docs->array);
    free(docs->text);
    docs->array = NULL;
    docs->text = NULL;
}

size_t harness_documents_count(const harness_documents *docs) {
    return docs->array ? docs->array->count : 0;
}

const json_value *harness_only_document(const harness_documents *docs) {
    size_t n = harness_documents_count(docs);
    if (!CHECK(n == 1)) {
        fprintf(stderr, "      expected 1 document, got %zu: %s\n", n, docs->text ? docs->text : "(none)");
        return NULL;
    }
    return harness_document(docs, 0);
}

const json_value *harness_document(const harness_documents *docs, size_t i) {
    return docs->array && i < docs->array->count ? docs->array->items[i] : NULL;
}

oxray_recorder *harness_memory_recorder(const char *extra_config) {
    char config[512];
    snprintf(config, sizeof config, "{\"emit_mode\":\"memory\"%s%s}", extra_config[0] ? "," : "", extra_config);
    oxray_recorder *recorder = NULL;
    CHECK_OK(oxray_recorder_new(config, &recorder));
    return recorder;
}

void harness_entity_id(const oxray_entity *entity, char out[OXRAY_ENTITY_ID_SIZE]) {
    out[0] = '\0';
    CHECK_OK(oxray_entity_id(entity, out, OXRAY_ENTITY_ID_SIZE, NULL));
}

void harness_trace_id(const oxray_entity *entity, char out[OXRAY_TRACE_ID_SIZE]) {
    out[0] = '\0';
    CHECK_OK(oxray_entity_trace_id(entity, out, OXRAY_TRACE_ID_SIZE, NULL));
}

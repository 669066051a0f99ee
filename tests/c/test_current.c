/* The thread-local current-entity convenience and the context-missing strategies. */
#include <pthread.h>
#include <string.h>

#include "harness.h"
#include "suites.h"

static oxray_counters counters_of(const oxray_recorder *recorder) {
    oxray_counters c;
    memset(&c, 0, sizeof c);
    CHECK_OK(oxray_recorder_counters(recorder, &c));
    return c;
}

static void current_is_set_read_and_cleared(void) {
    oxray_recorder *recorder = harness_memory_recorder("");
    oxray_entity *segment = NULL, *current = HARNESS_BOGUS_ENTITY, *child = NULL;
    int diagnostics_before = harness_diagnostics_count();

    oxray_current_clear();
    CHECK_STATUS(oxray_current_get(&current), OXRAY_CONTEXT_MISSING);
    CHECK(current == NULL);
    CHECK(harness_diagnostics_count() == diagnostics_before); /* a query never logs */

    CHECK_OK(oxray_recorder_begin_segment(recorder, "svc", NULL, &segment));
    char segment_id[OXRAY_ENTITY_ID_SIZE], id[OXRAY_ENTITY_ID_SIZE], parent[OXRAY_ENTITY_ID_SIZE];
    harness_entity_id(segment, segment_id);
    CHECK_OK(oxray_current_set(segment));
    /* The slot holds its own reference: the caller's handle can go. */
    oxray_entity_free(segment);

    CHECK_OK(oxray_current_get(&current));
    harness_entity_id(current, id);
    CHECK_STR(id, segment_id);

    CHECK_OK(oxray_current_begin_subsegment(recorder, "step", &child));
    CHECK_OK(oxray_entity_parent_id(child, parent, sizeof parent, NULL));
    CHECK_STR(parent, segment_id);
    /* Descend, then come back. */
    CHECK_OK(oxray_current_set(child));
    oxray_entity *grandchild = NULL;
    CHECK_OK(oxray_current_begin_subsegment(recorder, "inner", &grandchild));
    char child_id[OXRAY_ENTITY_ID_SIZE];
    harness_entity_id(child, child_id);
    CHECK_OK(oxray_entity_parent_id(grandchild, parent, sizeof parent, NULL));
    CHECK_STR(parent, child_id);
    CHECK_OK(oxray_entity_end(grandchild));
    CHECK_OK(oxray_entity_end(child));
    CHECK_OK(oxray_current_set(current));

    CHECK_OK(oxray_entity_end(current));
    oxray_current_clear();
    oxray_current_clear(); /* clearing an empty slot is fine */
    oxray_entity *none = HARNESS_BOGUS_ENTITY;
    CHECK_STATUS(oxray_current_get(&none), OXRAY_CONTEXT_MISSING);
    CHECK(none == NULL);

    CHECK_STATUS(oxray_current_set(NULL), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_current_set(HARNESS_BOGUS_ENTITY), OXRAY_INVALID_HANDLE);
    CHECK_STATUS(oxray_current_get(NULL), OXRAY_NULL_ARGUMENT);

    oxray_entity_free(grandchild);
    oxray_entity_free(child);
    oxray_entity_free(current);
    harness_documents docs = harness_take_documents(recorder);
    const json_value *doc = harness_only_document(&docs);
    const json_value *subs = json_get(doc, "subsegments");
    CHECK(subs && subs->count == 1 && json_get(subs->items[0], "subsegments") != NULL);
    harness_documents_free(&docs);
    oxray_recorder_free(recorder);
}

typedef struct thread_probe {
    const oxray_recorder *recorder;
    oxray_status get_status;
    oxray_status set_status;
    oxray_status begin_status;
} thread_probe;

static void *probe_other_thread(void *arg) {
    thread_probe *probe = arg;
    oxray_entity *current = NULL, *own = NULL;
    probe->get_status = oxray_current_get(&current);
    oxray_recorder_begin_segment(probe->recorder, "other-thread", NULL, &own);
    probe->set_status = oxray_current_set(own);
    oxray_entity *child = NULL;
    probe->begin_status = oxray_current_begin_subsegment(probe->recorder, "child", &child);
    oxray_entity_end(child);
    oxray_entity_end(own);
    oxray_entity_free(child);
    oxray_entity_free(own);
    oxray_current_clear();
    return NULL;
}

static void each_thread_has_its_own_current_entity(void) {
    oxray_recorder *recorder = harness_memory_recorder("\"context_missing\":\"RUNTIME_ERROR\"");
    oxray_entity *segment = NULL, *current = NULL;
    CHECK_OK(oxray_recorder_begin_segment(recorder, "main-thread", NULL, &segment));
    CHECK_OK(oxray_current_set(segment));

    thread_probe probe = {recorder, OXRAY_OK, OXRAY_PANIC, OXRAY_PANIC};
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, probe_other_thread, &probe) == 0);
    CHECK(pthread_join(thread, NULL) == 0);
    CHECK_STATUS(probe.get_status, OXRAY_CONTEXT_MISSING);
    CHECK_OK(probe.set_status);
    CHECK_OK(probe.begin_status);

    /* The other thread's set did not touch this thread's slot. */
    CHECK_OK(oxray_current_get(&current));
    char a[OXRAY_ENTITY_ID_SIZE], b[OXRAY_ENTITY_ID_SIZE];
    harness_entity_id(segment, a);
    harness_entity_id(current, b);
    CHECK_STR(b, a);
    CHECK_OK(oxray_entity_end(segment));
    oxray_current_clear();
    oxray_entity_free(current);
    oxray_entity_free(segment);

    harness_documents docs = harness_take_documents(recorder);
    CHECK(harness_documents_count(&docs) == 2);
    harness_documents_free(&docs);
    oxray_recorder_free(recorder);
}

static void context_missing_log_error_gives_a_stand_in_and_warns(void) {
    oxray_current_clear();
    oxray_recorder *recorder = harness_memory_recorder("\"context_missing\":\"LOG_ERROR\"");
    oxray_entity *stand_in = NULL;
    CHECK_OK(oxray_current_begin_subsegment(recorder, "orphan", &stand_in));
    CHECK(stand_in != NULL);
    CHECK(counters_of(recorder).warnings == 1);
    CHECK(harness_diagnostics_contain("cannot find the current segment"));
    bool sampled = true;
    CHECK_OK(oxray_entity_is_sampled(stand_in, &sampled));
    CHECK(!sampled);
    /* Every call succeeds and records nothing. */
    CHECK_OK(oxray_entity_put_annotation_string(stand_in, "k", "v"));
    CHECK_OK(oxray_entity_put_metadata(stand_in, NULL, "k", "1"));
    CHECK_OK(oxray_entity_set_fault(stand_in, true));
    CHECK_OK(oxray_entity_end(stand_in));
    oxray_entity_free(stand_in);
    harness_documents docs = harness_take_documents(recorder);
    CHECK(harness_documents_count(&docs) == 0);
    harness_documents_free(&docs);
    oxray_recorder_free(recorder);
}

static void context_missing_ignore_error_is_silent(void) {
    oxray_current_clear();
    oxray_recorder *recorder = harness_memory_recorder("\"context_missing\":\"IGNORE_ERROR\"");
    int diagnostics_before = harness_diagnostics_count();
    oxray_entity *stand_in = NULL;
    CHECK_OK(oxray_current_begin_subsegment(recorder, "orphan", &stand_in));
    CHECK(stand_in != NULL);
    CHECK(counters_of(recorder).warnings == 0);
    CHECK(harness_diagnostics_count() == diagnostics_before);
    CHECK_OK(oxray_entity_end(stand_in));
    oxray_entity_free(stand_in);
    oxray_recorder_free(recorder);
}

static void context_missing_runtime_error_answers_a_status(void) {
    oxray_current_clear();
    oxray_recorder *recorder = harness_memory_recorder("\"context_missing\":\"RUNTIME_ERROR\"");
    oxray_entity *out = HARNESS_BOGUS_ENTITY;
    CHECK_STATUS(oxray_current_begin_subsegment(recorder, "orphan", &out), OXRAY_CONTEXT_MISSING);
    CHECK(out == NULL);
    CHECK(strstr(harness_last_error(), "orphan") != NULL);
    CHECK(counters_of(recorder).warnings == 1);

    CHECK_STATUS(oxray_current_begin_subsegment(NULL, "x", &out), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_current_begin_subsegment(HARNESS_BOGUS_RECORDER, "x", &out), OXRAY_INVALID_HANDLE);
    CHECK_STATUS(oxray_current_begin_subsegment(recorder, NULL, &out), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_current_begin_subsegment(recorder, HARNESS_BAD_UTF8, &out), OXRAY_INVALID_UTF8);
    CHECK_STATUS(oxray_current_begin_subsegment(recorder, "x", NULL), OXRAY_NULL_ARGUMENT);
    oxray_recorder_free(recorder);
}

#define WORKERS 4
#define SPANS_PER_WORKER 1500

typedef struct worker_args {
    const oxray_entity *parent;
    int failures;
} worker_args;

/* Each worker makes its own current entity: a subsegment of the shared segment. */
static void *worker(void *arg) {
    worker_args *w = arg;
    for (int i = 0; i < SPANS_PER_WORKER; i++) {
        oxray_entity *span = NULL, *inner = NULL;
        w->failures += oxray_entity_begin_subsegment(w->parent, "worker", &span) != OXRAY_OK;
        w->failures += oxray_current_set(span) != OXRAY_OK;
        oxray_entity_free(span); /* the current slot keeps it alive */
        w->failures += oxray_current_get(&inner) != OXRAY_OK;
        w->failures += oxray_entity_put_annotation_int64(inner, "i", i) != OXRAY_OK;
        w->failures += oxray_entity_end(inner) != OXRAY_OK;
        w->failures += oxray_entity_end(inner) != OXRAY_ALREADY_ENDED;
        oxray_entity_free(inner);
        oxray_current_clear();
    }
    return NULL;
}

static size_t count_named(const json_value *entity, const char *name) {
    size_t n = 0;
    const char *own = json_get_string(entity, "name");
    if (own && strcmp(own, name) == 0) {
        n++;
    }
    const json_value *subs = json_get(entity, "subsegments");
    for (size_t i = 0; subs && i < subs->count; i++) {
        n += count_named(subs->items[i], name);
    }
    return n;
}

static void threads_share_handles_and_lose_nothing(void) {
    oxray_recorder *recorder = harness_memory_recorder("");
    oxray_entity *segment = NULL;
    CHECK_OK(oxray_recorder_begin_segment(recorder, "shared", NULL, &segment));
    pthread_t threads[WORKERS];
    worker_args args[WORKERS];
    for (int t = 0; t < WORKERS; t++) {
        args[t].parent = segment;
        args[t].failures = 0;
        CHECK(pthread_create(&threads[t], NULL, worker, &args[t]) == 0);
    }
    for (int t = 0; t < WORKERS; t++) {
        CHECK(pthread_join(threads[t], NULL) == 0);
        CHECK(args[t].failures == 0);
    }
    CHECK_OK(oxray_entity_end(segment));
    oxray_entity_free(segment);

    /* Every span arrives once: embedded in the segment or streamed on its own. */
    harness_documents docs = harness_take_documents(recorder);
    size_t spans = 0;
    for (size_t i = 0; i < harness_documents_count(&docs); i++) {
        spans += count_named(harness_document(&docs, i), "worker");
    }
    CHECK(spans == (size_t)WORKERS * SPANS_PER_WORKER);
    oxray_counters c;
    CHECK_OK(oxray_recorder_counters(recorder, &c));
    CHECK(c.sent == harness_documents_count(&docs) && c.dropped == 0);
    harness_documents_free(&docs);
    oxray_recorder_free(recorder);
}

void suite_current(void) {
    RUN(current_is_set_read_and_cleared);
    RUN(each_thread_has_its_own_current_entity);
    RUN(threads_share_handles_and_lose_nothing);
    RUN(context_missing_log_error_gives_a_stand_in_and_warns);
    RUN(context_missing_ignore_error_is_silent);
    RUN(context_missing_runtime_error_answers_a_status);
}

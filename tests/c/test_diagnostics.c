/* oxray_diagnostics_set_callback / oxray_diagnostics_set_level. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "suites.h"

typedef struct sink {
    pthread_mutex_t lock;
    int calls;
    int last_level;
    char last[512];
    void *seen_user_data;
} sink;

static void record(oxray_level level, const char *message, void *user_data) {
    sink *s = user_data;
    pthread_mutex_lock(&s->lock);
    s->calls++;
    s->last_level = (int)level;
    snprintf(s->last, sizeof s->last, "%s", message);
    s->seen_user_data = user_data;
    pthread_mutex_unlock(&s->lock);
}

static void callback_receives_level_message_and_user_data(void) {
    sink s = {PTHREAD_MUTEX_INITIALIZER, 0, -1, "", NULL};
    CHECK_OK(oxray_diagnostics_set_callback(record, &s));
    oxray_recorder *recorder = harness_memory_recorder("");
    oxray_entity *segment = NULL;
    CHECK_OK(oxray_recorder_begin_segment(recorder, "svc", NULL, &segment));

    /* A warning. */
    CHECK_OK(oxray_entity_put_annotation_int64(segment, "a-b", 1));
    CHECK(s.calls == 1);
    CHECK(s.last_level == OXRAY_LEVEL_WARN);
    CHECK(strstr(s.last, "annotation key") != NULL);
    CHECK(s.seen_user_data == &s);

    /* Below the minimum level: discarded. */
    CHECK_OK(oxray_diagnostics_set_level(OXRAY_LEVEL_ERROR));
    CHECK_OK(oxray_entity_put_annotation_int64(segment, "c-d", 1));
    CHECK(s.calls == 1);

    /* An error (a bad daemon address in the environment) still comes through. */
    setenv("AWS_XRAY_DAEMON_ADDRESS", "garbage", 1);
    oxray_recorder *from_env = NULL;
    CHECK_OK(oxray_recorder_new(NULL, &from_env));
    unsetenv("AWS_XRAY_DAEMON_ADDRESS");
    CHECK(s.calls == 2);
    CHECK(s.last_level == OXRAY_LEVEL_ERROR);
    CHECK(strstr(s.last, "AWS_XRAY_DAEMON_ADDRESS") != NULL);
    oxray_recorder_free(from_env);

    /* Debug messages when asked for. */
    CHECK_OK(oxray_diagnostics_set_level(OXRAY_LEVEL_DEBUG));
    unsetenv("_X_AMZN_TRACE_ID");
    oxray_entity *facade = NULL;
    CHECK_OK(oxray_recorder_lambda_facade(recorder, NULL, &facade));
    CHECK(s.calls == 3);
    CHECK(s.last_level == OXRAY_LEVEL_DEBUG);
    CHECK(strstr(s.last, "no trace header") != NULL);
    oxray_entity_free(facade);

    CHECK_STATUS(oxray_diagnostics_set_level(3), OXRAY_INVALID_ARGUMENT);
    CHECK_STATUS(oxray_diagnostics_set_level(-1), OXRAY_INVALID_ARGUMENT);
    CHECK_OK(oxray_diagnostics_set_level(OXRAY_LEVEL_WARN));

    /* NULL restores the default sink (stderr); then the harness's capture again. */
    CHECK_OK(oxray_diagnostics_set_callback(NULL, NULL));
    CHECK_OK(oxray_entity_end(segment));
    oxray_entity_free(segment);
    harness_capture_diagnostics();
    CHECK(s.calls == 3);

    harness_documents docs = harness_take_documents(recorder);
    const json_value *doc = harness_only_document(&docs);
    CHECK(json_get(json_get(doc, "annotations"), "a_b") != NULL);
    harness_documents_free(&docs);
    oxray_recorder_free(recorder);
}

void suite_diagnostics(void) {
    RUN(callback_receives_level_message_and_user_data);
}

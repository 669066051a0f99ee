/* oxray_recorder_*: new/free, begin_segment, lambda_facade, flush, counters, take_documents. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "suites.h"

#define HEADER_SAMPLED "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

static oxray_counters counters_of(const oxray_recorder *recorder) {
    oxray_counters c;
    memset(&c, 0, sizeof c);
    CHECK_OK(oxray_recorder_counters(recorder, &c));
    return c;
}

static void new_takes_the_environment_or_json(void) {
    oxray_recorder *recorder = HARNESS_BOGUS_RECORDER;
    CHECK_OK(oxray_recorder_new(NULL, &recorder));
    CHECK(recorder != NULL && recorder != HARNESS_BOGUS_RECORDER);
    oxray_recorder_free(recorder);

    recorder = NULL;
    CHECK_OK(oxray_recorder_new("{\"emit_mode\":\"memory\",\"sample_rate\":1,\"queue_capacity\":8,"
                                "\"context_missing\":\"IGNORE_ERROR\",\"origin\":\"AWS::EC2::Instance\"}",
                                &recorder));
    oxray_entity *segment = NULL;
    CHECK_OK(oxray_recorder_begin_segment(recorder, "svc", NULL, &segment));
    CHECK_OK(oxray_entity_end(segment));
    oxray_entity_free(segment);
    harness_documents docs = harness_take_documents(recorder);
    const json_value *doc = harness_only_document(&docs);
    CHECK_STR(json_get_string(doc, "origin"), "AWS::EC2::Instance");
    CHECK_STR(json_get_string(json_get(json_get(doc, "aws"), "xray"), "sdk"), "oxray for C");
    harness_documents_free(&docs);
    oxray_recorder_free(recorder);
}

static void new_refuses_bad_config_naming_the_problem(void) {
    static const struct {
        const char *json;
        const char *mentions;
    } bad[] = {
        {"not json", "not JSON"},
        {"[1,2]", "JSON object"},
        {"{\"bogus\":1}", "bogus"},
        {"{\"emit_mode\":\"carrier-pigeon\"}", "emit_mode"},
        {"{\"daemon_address\":\"garbage\"}", "daemon_address"},
        {"{\"sample_rate\":2}", "sample_rate"},
        {"{\"queue_capacity\":0}", "queue_capacity"},
        {"{\"enabled\":\"yes\"}", "enabled"},
        {"{\"context_missing\":\"PANIC\"}", "context_missing"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        oxray_recorder *recorder = HARNESS_BOGUS_RECORDER;
        CHECK_STATUS(oxray_recorder_new(bad[i].json, &recorder), OXRAY_INVALID_CONFIG);
        CHECK(strstr(harness_last_error(), bad[i].mentions) != NULL);
        CHECK(recorder == NULL);
    }
    oxray_recorder *recorder = HARNESS_BOGUS_RECORDER;
    CHECK_STATUS(oxray_recorder_new(HARNESS_BAD_UTF8, &recorder), OXRAY_INVALID_UTF8);
    CHECK(recorder == NULL);
    CHECK_STATUS(oxray_recorder_new("{}", NULL), OXRAY_NULL_ARGUMENT);
}

static void free_accepts_null_and_stale_handles(void) {
    oxray_recorder_free(NULL);
    oxray_recorder *recorder = harness_memory_recorder("");
    oxray_recorder_free(recorder);
    oxray_recorder_free(recorder); /* ignored */
    oxray_recorder_free(HARNESS_BOGUS_RECORDER);

    oxray_entity *segment = HARNESS_BOGUS_ENTITY;
    oxray_counters c;
    char buf[64];
    CHECK_STATUS(oxray_recorder_begin_segment(recorder, "x", NULL, &segment), OXRAY_INVALID_HANDLE);
    CHECK(segment == NULL);
    CHECK_STATUS(oxray_recorder_lambda_facade(recorder, HEADER_SAMPLED, &segment), OXRAY_INVALID_HANDLE);
    CHECK_STATUS(oxray_recorder_flush(recorder, 100), OXRAY_INVALID_HANDLE);
    CHECK_STATUS(oxray_recorder_counters(recorder, &c), OXRAY_INVALID_HANDLE);
    CHECK_STATUS(oxray_recorder_after_fork_child(recorder), OXRAY_INVALID_HANDLE);
    CHECK_STATUS(oxray_recorder_take_documents(recorder, buf, sizeof buf, NULL), OXRAY_INVALID_HANDLE);
    CHECK(strstr(harness_last_error(), "not a live recorder handle") != NULL);
}

static void wrong_kind_of_handle_is_refused(void) {
    oxray_recorder *recorder = harness_memory_recorder("");
    oxray_entity *segment = NULL;
    CHECK_OK(oxray_recorder_begin_segment(recorder, "svc", NULL, &segment));
    /* An entity passed as a recorder and the reverse: a status, not a misread. */
    oxray_entity *other = NULL;
    CHECK_STATUS(oxray_recorder_begin_segment((const oxray_recorder *)(const void *)segment, "x", NULL, &other),
                 OXRAY_INVALID_HANDLE);
    CHECK_STATUS(oxray_entity_end((const oxray_entity *)(const void *)recorder), OXRAY_INVALID_HANDLE);
    /* Made-up handles, with and without a plausible tag. */
    CHECK_STATUS(oxray_recorder_flush(HARNESS_BOGUS_RECORDER, 10), OXRAY_INVALID_HANDLE);
    CHECK_STATUS(oxray_recorder_flush((oxray_recorder *)(void *)(size_t)0x7ffd1, 10), OXRAY_INVALID_HANDLE);
    CHECK_OK(oxray_entity_end(segment));
    oxray_entity_free(segment);
    harness_documents docs = harness_take_documents(recorder);
    CHECK(harness_documents_count(&docs) == 1);
    harness_documents_free(&docs);
    oxray_recorder_free(recorder);
}

static void entities_outlive_the_recorder_handle(void) {
    oxray_recorder *recorder = harness_memory_recorder("");
    oxray_entity *segment = NULL;
    CHECK_OK(oxray_recorder_begin_segment(recorder, "svc", NULL, &segment));
    oxray_recorder_free(recorder);
    CHECK_OK(oxray_entity_put_annotation_bool(segment, "still", true));
    CHECK_OK(oxray_entity_end(segment));
    oxray_entity_free(segment);
}

static void begin_segment_continues_an_incoming_trace(void) {
    oxray_recorder *recorder = harness_memory_recorder("");
    oxray_entity *segment = NULL;
    CHECK_OK(oxray_recorder_begin_segment(recorder, "checkout", HEADER_SAMPLED, &segment));
    char trace[OXRAY_TRACE_ID_SIZE], parent[OXRAY_ENTITY_ID_SIZE], id[OXRAY_ENTITY_ID_SIZE];
    harness_trace_id(segment, trace);
    CHECK_STR(trace, "1-5759e988-bd862e3fe1be46a994272793");
    CHECK_OK(oxray_entity_parent_id(segment, parent, sizeof parent, NULL));
    CHECK_STR(parent, "53995c3f42cd8ad8");
    harness_entity_id(segment, id);
    CHECK_OK(oxray_entity_end(segment));
    oxray_entity_free(segment);

    harness_documents docs = harness_take_documents(recorder);
    const json_value *doc = harness_only_document(&docs);
    CHECK_STR(json_get_string(doc, "name"), "checkout");
    CHECK_STR(json_get_string(doc, "id"), id);
    CHECK_STR(json_get_string(doc, "trace_id"), trace);
    CHECK_STR(json_get_string(doc, "parent_id"), "53995c3f42cd8ad8");
    CHECK(json_get(doc, "end_time") != NULL && json_get(doc, "in_progress") == NULL);
    harness_documents_free(&docs);
    oxray_recorder_free(recorder);
}

static void begin_segment_name_falls_back_and_tracing_name_wins(void) {
    oxray_recorder *recorder = harness_memory_recorder("");
    oxray_entity *segment = NULL;
    CHECK_OK(oxray_recorder_begin_segment(recorder, NULL, NULL, &segment));
    CHECK_OK(oxray_entity_end(segment));
    oxray_entity_free(segment);
    harness_documents docs = harness_take_documents(recorder);
    CHECK_STR(json_get_string(harness_only_document(&docs), "name"), "unnamed");
    harness_documents_free(&docs);
    oxray_recorder_free(recorder);

    recorder = harness_memory_recorder("\"tracing_name\":\"forced-name\"");
    CHECK_OK(oxray_recorder_begin_segment(recorder, "given", NULL, &segment));
    CHECK_OK(oxray_entity_end(segment));
    oxray_entity_free(segment);
    docs = harness_take_documents(recorder);
    CHECK_STR(json_get_string(harness_only_document(&docs), "name"), "forced-name");
    harness_documents_free(&docs);
    oxray_recorder_free(recorder);
}

static void malformed_incoming_header_starts_a_new_trace_and_is_counted(void) {
    oxray_recorder *recorder = harness_memory_recorder("");
    oxray_entity *segment = NULL;
    CHECK_OK(oxray_recorder_begin_segment(recorder, "svc", "Root=1-zzzz;Parent=1", &segment));
    CHECK(counters_of(recorder).warnings == 1);
    CHECK(harness_diagnostics_contain("incoming trace header ignored"));
    char parent[OXRAY_ENTITY_ID_SIZE];
    CHECK_OK(oxray_entity_parent_id(segment, parent, sizeof parent, NULL));
    CHECK_STR(parent, "");
    bool sampled = false;
    CHECK_OK(oxray_entity_is_sampled(segment, &sampled));
    CHECK(sampled);
    CHECK_OK(oxray_entity_end(segment));
    oxray_entity_free(segment);
    harness_documents docs = harness_take_documents(recorder);
    const json_value *doc = harness_only_document(&docs);
    CHECK(json_get(doc, "parent_id") == NULL);
    harness_documents_free(&docs);
    oxray_recorder_free(recorder);
}

static void begin_segment_refuses_bad_arguments(void) {
    oxray_recorder *recorder = harness_memory_recorder("");
    oxray_entity *segment = HARNESS_BOGUS_ENTITY;
    CHECK_STATUS(oxray_recorder_begin_segment(NULL, "svc", NULL, &segment), OXRAY_NULL_ARGUMENT);
    CHECK(segment == NULL);
    segment = HARNESS_BOGUS_ENTITY;
    CHECK_STATUS(oxray_recorder_begin_segment(recorder, HARNESS_BAD_UTF8, NULL, &segment), OXRAY_INVALID_UTF8);
    CHECK(strstr(harness_last_error(), "name is not valid UTF-8") != NULL);
    CHECK(segment == NULL);
    CHECK_STATUS(oxray_recorder_begin_segment(recorder, "svc", HARNESS_BAD_UTF8, &segment), OXRAY_INVALID_UTF8);
    CHECK(strstr(harness_last_error(), "trace_header") != NULL);
    CHECK_STATUS(oxray_recorder_begin_segment(recorder, "svc", NULL, NULL), OXRAY_NULL_ARGUMENT);
    harness_documents docs = harness_take_documents(recorder);
    CHECK(harness_documents_count(&docs) == 0);
    harness_documents_free(&docs);
    oxray_recorder_free(recorder);
}

static void lambda_facade_parents_standalone_subsegments(void) {
    oxray_recorder *recorder = harness_memory_recorder("");
    oxray_entity *facade = NULL, *again = NULL, *handler = NULL;
    CHECK_OK(oxray_recorder_lambda_facade(recorder, HEADER_SAMPLED, &facade));
    char id[OXRAY_ENTITY_ID_SIZE], again_id[OXRAY_ENTITY_ID_SIZE], trace[OXRAY_TRACE_ID_SIZE];
    harness_entity_id(facade, id);
    CHECK_STR(id, "53995c3f42cd8ad8");
    harness_trace_id(facade, trace);
    CHECK_STR(trace, "1-5759e988-bd862e3fe1be46a994272793");
    /* The same header while the facade lives gives the same facade. */
    CHECK_OK(oxray_recorder_lambda_facade(recorder, HEADER_SAMPLED, &again));
    harness_entity_id(again, again_id);
    CHECK_STR(again_id, id);
    oxray_entity_free(again);
    /* The facade is read-only. */
    CHECK_STATUS(oxray_entity_put_annotation_string(facade, "k", "v"), OXRAY_INVALID_ARGUMENT);
    CHECK(strstr(harness_last_error(), "read-only") != NULL);

    CHECK_OK(oxray_entity_begin_subsegment(facade, "## handler", &handler));
    CHECK_OK(oxray_entity_end(handler));
    harness_documents docs = harness_take_documents(recorder);
    const json_value *doc = harness_only_document(&docs);
    CHECK_STR(json_get_string(doc, "type"), "subsegment");
    CHECK_STR(json_get_string(doc, "parent_id"), "53995c3f42cd8ad8");
    CHECK_STR(json_get_string(doc, "trace_id"), trace);
    CHECK_STR(json_get_string(doc, "name"), "## handler");
    harness_documents_free(&docs);
    oxray_entity_free(handler);
    oxray_entity_free(facade);
    oxray_recorder_free(recorder);
}

static void lambda_facade_without_usable_header_records_nothing(void) {
    oxray_recorder *recorder = harness_memory_recorder("");
    oxray_entity *facade = NULL, *child = NULL;
    bool sampled = true;

    unsetenv("_X_AMZN_TRACE_ID");
    CHECK_OK(oxray_recorder_lambda_facade(recorder, NULL, &facade));
    CHECK_OK(oxray_entity_is_sampled(facade, &sampled));
    CHECK(!sampled);
    CHECK_OK(oxray_entity_begin_subsegment(facade, "work", &child));
    CHECK_OK(oxray_entity_put_annotation_int64(child, "n", 1));
    CHECK_OK(oxray_entity_end(child));
    oxray_entity_free(child);
    oxray_entity_free(facade);

    /* A malformed header: unsampled too, and counted. */
    CHECK_OK(oxray_recorder_lambda_facade(recorder, "Root=nope", &facade));
    CHECK_OK(oxray_entity_is_sampled(facade, &sampled));
    CHECK(!sampled);
    CHECK(counters_of(recorder).warnings == 1);
    oxray_entity_free(facade);

    /* From the environment, as Lambda sets it. */
    setenv("_X_AMZN_TRACE_ID", HEADER_SAMPLED, 1);
    CHECK_OK(oxray_recorder_lambda_facade(recorder, NULL, &facade));
    unsetenv("_X_AMZN_TRACE_ID");
    CHECK_OK(oxray_entity_is_sampled(facade, &sampled));
    CHECK(sampled);
    char id[OXRAY_ENTITY_ID_SIZE];
    harness_entity_id(facade, id);
    CHECK_STR(id, "53995c3f42cd8ad8");
    oxray_entity_free(facade);

    CHECK_STATUS(oxray_recorder_lambda_facade(recorder, HARNESS_BAD_UTF8, &facade), OXRAY_INVALID_UTF8);
    CHECK(facade == NULL);
    CHECK_STATUS(oxray_recorder_lambda_facade(NULL, HEADER_SAMPLED, &facade), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_recorder_lambda_facade(recorder, HEADER_SAMPLED, NULL), OXRAY_NULL_ARGUMENT);

    harness_documents docs = harness_take_documents(recorder);
    CHECK(harness_documents_count(&docs) == 0);
    harness_documents_free(&docs);
    oxray_recorder_free(recorder);
}

static void flush_streams_closed_children_and_counters_count(void) {
    oxray_recorder *recorder = harness_memory_recorder("");
    oxray_counters c = counters_of(recorder);
    CHECK(c.sent == 0 && c.dropped == 0 && c.truncated == 0 && c.streamed == 0 && c.send_errors == 0 &&
          c.warnings == 0);

    oxray_entity *segment = NULL, *child = NULL;
    CHECK_OK(oxray_recorder_begin_segment(recorder, "svc", NULL, &segment));
    CHECK_OK(oxray_entity_begin_subsegment(segment, "step", &child));
    CHECK_OK(oxray_entity_end(child));
    CHECK(counters_of(recorder).sent == 0); /* held by its open parent */
    CHECK_OK(oxray_recorder_flush(recorder, 1000));
    c = counters_of(recorder);
    CHECK(c.sent == 1 && c.streamed == 1);

    harness_documents docs = harness_take_documents(recorder);
    const json_value *doc = harness_only_document(&docs);
    CHECK_STR(json_get_string(doc, "name"), "step");
    CHECK_STR(json_get_string(doc, "type"), "subsegment");
    harness_documents_free(&docs);

    CHECK_OK(oxray_entity_end(segment));
    CHECK(counters_of(recorder).sent == 2);
    oxray_entity_free(child);
    oxray_entity_free(segment);

    CHECK_STATUS(oxray_recorder_counters(recorder, NULL), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_recorder_counters(NULL, &c), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_recorder_flush(NULL, 10), OXRAY_NULL_ARGUMENT);
    docs = harness_take_documents(recorder);
    CHECK(harness_documents_count(&docs) == 1);
    harness_documents_free(&docs);
    oxray_recorder_free(recorder);
}

static void take_documents_keeps_what_did_not_fit(void) {
    oxray_recorder *recorder = harness_memory_recorder("");
    oxray_entity *segment = NULL;
    CHECK_OK(oxray_recorder_begin_segment(recorder, "first", NULL, &segment));
    CHECK_OK(oxray_entity_end(segment));
    oxray_entity_free(segment);

    size_t needed = 0;
    CHECK_STATUS(oxray_recorder_take_documents(recorder, NULL, 0, &needed), OXRAY_BUFFER_TOO_SMALL);
    char *small = malloc(needed - 1);
    CHECK_STATUS(oxray_recorder_take_documents(recorder, small, needed - 1, NULL), OXRAY_BUFFER_TOO_SMALL);
    CHECK(small[0] == '\0');
    free(small);
    CHECK_STATUS(oxray_recorder_take_documents(recorder, NULL, 8, NULL), OXRAY_NULL_ARGUMENT);

    /* A newer document joins the one not yet delivered. */
    CHECK_OK(oxray_recorder_begin_segment(recorder, "second", NULL, &segment));
    CHECK_OK(oxray_entity_end(segment));
    oxray_entity_free(segment);
    harness_documents docs = harness_take_documents(recorder);
    CHECK(harness_documents_count(&docs) == 2);
    CHECK_STR(json_get_string(harness_document(&docs, 0), "name"), "first");
    CHECK_STR(json_get_string(harness_document(&docs, 1), "name"), "second");
    harness_documents_free(&docs);

    char buf[8];
    CHECK_OK(oxray_recorder_take_documents(recorder, buf, sizeof buf, &needed));
    CHECK_STR(buf, "[]");
    CHECK(needed == 3);
    oxray_recorder_free(recorder);

    /* Outside memory mode there is never anything to take. */
    CHECK_OK(oxray_recorder_new("{\"emit_mode\":\"udp\",\"daemon_address\":\"127.0.0.1:9\"}", &recorder));
    CHECK_OK(oxray_recorder_take_documents(recorder, buf, sizeof buf, NULL));
    CHECK_STR(buf, "[]");
    oxray_recorder_free(recorder);
}

void suite_recorder(void) {
    RUN(new_takes_the_environment_or_json);
    RUN(new_refuses_bad_config_naming_the_problem);
    RUN(free_accepts_null_and_stale_handles);
    RUN(wrong_kind_of_handle_is_refused);
    RUN(entities_outlive_the_recorder_handle);
    RUN(begin_segment_continues_an_incoming_trace);
    RUN(begin_segment_name_falls_back_and_tracing_name_wins);
    RUN(malformed_incoming_header_starts_a_new_trace_and_is_counted);
    RUN(begin_segment_refuses_bad_arguments);
    RUN(lambda_facade_parents_standalone_subsegments);
    RUN(lambda_facade_without_usable_header_records_nothing);
    RUN(flush_streams_closed_children_and_counters_count);
    RUN(take_documents_keeps_what_did_not_fit);
}

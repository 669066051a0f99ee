/* oxray_entity_*: lifecycle, ids, annotations, metadata, flags, namespace, outgoing header. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "suites.h"

#define HEADER_WITH_LINEAGE                                                                                      \
    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1;Tenant=t1"

/* A memory recorder and an open segment named "svc". */
typedef struct fixture {
    oxray_recorder *recorder;
    oxray_entity *segment;
} fixture;

static fixture open_fixture(void) {
    fixture f = {harness_memory_recorder(""), NULL};
    CHECK_OK(oxray_recorder_begin_segment(f.recorder, "svc", NULL, &f.segment));
    return f;
}

/* Ends the segment and returns its document (the only one expected). */
static const json_value *end_fixture(fixture *f, harness_documents *docs) {
    CHECK_OK(oxray_entity_end(f->segment));
    *docs = harness_take_documents(f->recorder);
    return harness_only_document(docs);
}

static void close_fixture(fixture *f, harness_documents *docs) {
    harness_documents_free(docs);
    oxray_entity_free(f->segment);
    oxray_recorder_free(f->recorder);
}

static void subsegments_nest_and_are_embedded(void) {
    fixture f = open_fixture();
    oxray_entity *child = NULL, *grandchild = NULL;
    CHECK_OK(oxray_entity_begin_subsegment(f.segment, "## load", &child));
    CHECK_OK(oxray_entity_begin_subsegment(child, "## parse", &grandchild));
    char seg_id[OXRAY_ENTITY_ID_SIZE], child_id[OXRAY_ENTITY_ID_SIZE], parent[OXRAY_ENTITY_ID_SIZE];
    harness_entity_id(f.segment, seg_id);
    harness_entity_id(child, child_id);
    CHECK_OK(oxray_entity_parent_id(child, parent, sizeof parent, NULL));
    CHECK_STR(parent, seg_id);
    CHECK_OK(oxray_entity_parent_id(grandchild, parent, sizeof parent, NULL));
    CHECK_STR(parent, child_id);
    char a[OXRAY_TRACE_ID_SIZE], b[OXRAY_TRACE_ID_SIZE];
    harness_trace_id(f.segment, a);
    harness_trace_id(grandchild, b);
    CHECK_STR(b, a);
    CHECK_OK(oxray_entity_end(grandchild));
    CHECK_OK(oxray_entity_end(child));
    oxray_entity_free(grandchild);
    oxray_entity_free(child);

    harness_documents docs;
    const json_value *doc = end_fixture(&f, &docs);
    const json_value *subs = json_get(doc, "subsegments");
    CHECK(subs && subs->type == JSON_ARRAY && subs->count == 1);
    if (subs && subs->count == 1) {
        const json_value *load = subs->items[0];
        CHECK_STR(json_get_string(load, "name"), "## load");
        CHECK_STR(json_get_string(load, "id"), child_id);
        const json_value *inner = json_get(load, "subsegments");
        CHECK(inner && inner->count == 1 && strcmp(json_get_string(inner->items[0], "name"), "## parse") == 0);
    }
    close_fixture(&f, &docs);
}

static void begin_subsegment_refuses_bad_arguments(void) {
    fixture f = open_fixture();
    oxray_entity *child = HARNESS_BOGUS_ENTITY;
    CHECK_STATUS(oxray_entity_begin_subsegment(f.segment, NULL, &child), OXRAY_NULL_ARGUMENT);
    CHECK(child == NULL);
    CHECK_STATUS(oxray_entity_begin_subsegment(f.segment, HARNESS_BAD_UTF8, &child), OXRAY_INVALID_UTF8);
    CHECK_STATUS(oxray_entity_begin_subsegment(NULL, "x", &child), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_entity_begin_subsegment(HARNESS_BOGUS_ENTITY, "x", &child), OXRAY_INVALID_HANDLE);
    CHECK_STATUS(oxray_entity_begin_subsegment(f.segment, "x", NULL), OXRAY_NULL_ARGUMENT);
    /* A name outside the X-Ray charset is cleaned, with a warning. */
    CHECK_OK(oxray_entity_begin_subsegment(f.segment, "what?*now", &child));
    CHECK_OK(oxray_entity_end(child));
    oxray_entity_free(child);
    harness_documents docs;
    const json_value *doc = end_fixture(&f, &docs);
    const json_value *subs = json_get(doc, "subsegments");
    CHECK(subs && subs->count == 1 && strcmp(json_get_string(subs->items[0], "name"), "whatnow") == 0);
    oxray_counters c;
    CHECK_OK(oxray_recorder_counters(f.recorder, &c));
    CHECK(c.warnings == 1);
    close_fixture(&f, &docs);
}

/* Names keep exactly the published schema's characters: letters and numbers of the Unicode
 * snapshot it spells out, nothing beyond U+FFFF, no combining marks (found by random_calls:
 * names the schema refused used to pass). */
static void names_keep_only_the_schemas_characters(void) {
    fixture f = open_fixture();
    oxray_entity *child = NULL;
    /* é and 日 stay; U+06DC (a combining mark), U+31416 (a letter added after the snapshot)
     * and U+1D49C (mathematical script A, beyond U+FFFF) go. */
    CHECK_OK(oxray_entity_begin_subsegment(f.segment, "caf\xc3\xa9-\xe6\x97\xa5\xdb\x9c\xf0\xb1\x90\x96\xf0\x9d\x92\x9c!", &child));
    CHECK_OK(oxray_entity_end(child));
    oxray_entity_free(child);
    harness_documents docs;
    const json_value *doc = end_fixture(&f, &docs);
    const json_value *subs = json_get(doc, "subsegments");
    CHECK(subs && subs->count == 1);
    if (subs && subs->count == 1) {
        CHECK_STR(json_get_string(subs->items[0], "name"), "caf\xc3\xa9-\xe6\x97\xa5");
    }
    close_fixture(&f, &docs);
}

static void freed_and_ended_handles_answer_with_a_status(void) {
    fixture f = open_fixture();
    oxray_entity *child = NULL;
    CHECK_OK(oxray_entity_begin_subsegment(f.segment, "step", &child));
    CHECK_OK(oxray_entity_end(child));
    CHECK_STATUS(oxray_entity_end(child), OXRAY_ALREADY_ENDED);
    CHECK_STATUS(oxray_entity_put_annotation_string(child, "k", "v"), OXRAY_ALREADY_ENDED);
    CHECK_STATUS(oxray_entity_put_annotation_int64(child, "k", 1), OXRAY_ALREADY_ENDED);
    CHECK_STATUS(oxray_entity_put_annotation_double(child, "k", 1.5), OXRAY_ALREADY_ENDED);
    CHECK_STATUS(oxray_entity_put_annotation_bool(child, "k", true), OXRAY_ALREADY_ENDED);
    CHECK_STATUS(oxray_entity_put_metadata(child, NULL, "k", "1"), OXRAY_ALREADY_ENDED);
    CHECK_STATUS(oxray_entity_set_error(child, true), OXRAY_ALREADY_ENDED);
    CHECK_STATUS(oxray_entity_set_fault(child, true), OXRAY_ALREADY_ENDED);
    CHECK_STATUS(oxray_entity_set_throttle(child, true), OXRAY_ALREADY_ENDED);
    CHECK_STATUS(oxray_entity_set_namespace(child, "remote"), OXRAY_ALREADY_ENDED);
    CHECK(strstr(harness_last_error(), "already ended") != NULL);
    oxray_entity_free(child);

    /* After free, every call on the handle is refused; free again is ignored. */
    char buf[64];
    bool sampled;
    oxray_entity *grandchild = HARNESS_BOGUS_ENTITY;
    CHECK_STATUS(oxray_entity_end(child), OXRAY_INVALID_HANDLE);
    CHECK_STATUS(oxray_entity_send_in_progress(child), OXRAY_INVALID_HANDLE);
    CHECK_STATUS(oxray_entity_begin_subsegment(child, "x", &grandchild), OXRAY_INVALID_HANDLE);
    CHECK(grandchild == NULL);
    CHECK_STATUS(oxray_entity_id(child, buf, sizeof buf, NULL), OXRAY_INVALID_HANDLE);
    CHECK_STATUS(oxray_entity_trace_id(child, buf, sizeof buf, NULL), OXRAY_INVALID_HANDLE);
    CHECK_STATUS(oxray_entity_parent_id(child, buf, sizeof buf, NULL), OXRAY_INVALID_HANDLE);
    CHECK_STATUS(oxray_entity_is_sampled(child, &sampled), OXRAY_INVALID_HANDLE);
    CHECK_STATUS(oxray_entity_outgoing_header(child, buf, sizeof buf, NULL), OXRAY_INVALID_HANDLE);
    CHECK_STATUS(oxray_entity_put_annotation_string(child, "k", "v"), OXRAY_INVALID_HANDLE);
    CHECK_STATUS(oxray_entity_put_annotation_int64(child, "k", 1), OXRAY_INVALID_HANDLE);
    CHECK_STATUS(oxray_entity_put_annotation_double(child, "k", 1), OXRAY_INVALID_HANDLE);
    CHECK_STATUS(oxray_entity_put_annotation_bool(child, "k", 1), OXRAY_INVALID_HANDLE);
    CHECK_STATUS(oxray_entity_put_metadata(child, NULL, "k", "1"), OXRAY_INVALID_HANDLE);
    CHECK_STATUS(oxray_entity_set_error(child, true), OXRAY_INVALID_HANDLE);
    CHECK_STATUS(oxray_entity_set_fault(child, true), OXRAY_INVALID_HANDLE);
    CHECK_STATUS(oxray_entity_set_throttle(child, true), OXRAY_INVALID_HANDLE);
    CHECK_STATUS(oxray_entity_set_namespace(child, NULL), OXRAY_INVALID_HANDLE);
    CHECK_STATUS(oxray_current_set(child), OXRAY_INVALID_HANDLE);
    CHECK(strstr(harness_last_error(), "not a live entity handle") != NULL);
    oxray_entity_free(child);
    oxray_entity_free(NULL);
    oxray_entity_free(HARNESS_BOGUS_ENTITY);

    /* NULL handles. */
    CHECK_STATUS(oxray_entity_end(NULL), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_entity_set_error(NULL, true), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_entity_id(NULL, buf, sizeof buf, NULL), OXRAY_NULL_ARGUMENT);

    harness_documents docs;
    const json_value *doc = end_fixture(&f, &docs);
    const json_value *subs = json_get(doc, "subsegments");
    CHECK(subs && subs->count == 1 && json_get(subs->items[0], "annotations") == NULL);
    close_fixture(&f, &docs);
}

static void an_entity_freed_without_end_is_sent_in_progress(void) {
    fixture f = open_fixture();
    oxray_entity *child = NULL;
    CHECK_OK(oxray_entity_begin_subsegment(f.segment, "done", &child));
    CHECK_OK(oxray_entity_end(child));
    oxray_entity_free(child);
    oxray_entity_free(f.segment); /* never ended */
    f.segment = NULL;
    harness_documents docs = harness_take_documents(f.recorder);
    /* The closed child is streamed on its own, then the segment goes out in progress. */
    CHECK(harness_documents_count(&docs) == 2);
    const json_value *child_doc = harness_document(&docs, 0);
    const json_value *segment_doc = harness_document(&docs, 1);
    CHECK_STR(json_get_string(child_doc, "name"), "done");
    CHECK_STR(json_get_string(child_doc, "type"), "subsegment");
    CHECK_STR(json_get_string(segment_doc, "name"), "svc");
    const json_value *in_progress = json_get(segment_doc, "in_progress");
    CHECK(in_progress && in_progress->type == JSON_BOOL && in_progress->boolean);
    CHECK(json_get(segment_doc, "end_time") == NULL);
    harness_documents_free(&docs);
    oxray_recorder_free(f.recorder);
}

static void send_in_progress_then_end_sends_both(void) {
    fixture f = open_fixture();
    CHECK_OK(oxray_entity_send_in_progress(f.segment));
    /* One in-progress document per entity (PROTOCOL.md 1.2): the second call sends nothing. */
    CHECK_OK(oxray_entity_send_in_progress(f.segment));
    CHECK_STATUS(oxray_entity_send_in_progress(NULL), OXRAY_NULL_ARGUMENT);
    CHECK_OK(oxray_entity_end(f.segment));
    CHECK_STATUS(oxray_entity_send_in_progress(f.segment), OXRAY_ALREADY_ENDED);
    harness_documents docs = harness_take_documents(f.recorder);
    CHECK(harness_documents_count(&docs) == 2);
    const json_value *first = harness_document(&docs, 0);
    const json_value *second = harness_document(&docs, 1);
    CHECK(json_get(first, "in_progress") != NULL && json_get(first, "end_time") == NULL);
    CHECK(json_get(second, "in_progress") == NULL && json_get(second, "end_time") != NULL);
    CHECK_STR(json_get_string(first, "id"), json_get_string(second, "id"));
    close_fixture(&f, &docs);
}

static void id_getters_follow_the_buffer_convention(void) {
    fixture f = open_fixture();
    char id[OXRAY_ENTITY_ID_SIZE];
    size_t needed = 0;
    CHECK_OK(oxray_entity_id(f.segment, id, sizeof id, &needed));
    CHECK(needed == OXRAY_ENTITY_ID_SIZE && strlen(id) == 16);
    CHECK(strspn(id, "0123456789abcdef") == 16);
    char small[16];
    memset(small, 'x', sizeof small);
    CHECK_STATUS(oxray_entity_id(f.segment, small, sizeof small, &needed), OXRAY_BUFFER_TOO_SMALL);
    CHECK(small[0] == '\0' && needed == 17);
    needed = 0;
    CHECK_STATUS(oxray_entity_id(f.segment, NULL, 0, &needed), OXRAY_BUFFER_TOO_SMALL);
    CHECK(needed == 17);
    CHECK_STATUS(oxray_entity_id(f.segment, NULL, 17, &needed), OXRAY_NULL_ARGUMENT);

    char trace[OXRAY_TRACE_ID_SIZE];
    CHECK_OK(oxray_entity_trace_id(f.segment, trace, sizeof trace, &needed));
    CHECK(needed == OXRAY_TRACE_ID_SIZE && strlen(trace) == 35 && trace[0] == '1' && trace[1] == '-' &&
          trace[10] == '-');
    char short_trace[OXRAY_TRACE_ID_SIZE - 1];
    CHECK_STATUS(oxray_entity_trace_id(f.segment, short_trace, sizeof short_trace, NULL), OXRAY_BUFFER_TOO_SMALL);

    char parent[OXRAY_ENTITY_ID_SIZE];
    CHECK_OK(oxray_entity_parent_id(f.segment, parent, sizeof parent, &needed));
    CHECK_STR(parent, "");
    CHECK(needed == 1);

    bool sampled = false;
    CHECK_OK(oxray_entity_is_sampled(f.segment, &sampled));
    CHECK(sampled);
    CHECK_STATUS(oxray_entity_is_sampled(f.segment, NULL), OXRAY_NULL_ARGUMENT);

    harness_documents docs;
    const json_value *doc = end_fixture(&f, &docs);
    CHECK_STR(json_get_string(doc, "id"), id);
    CHECK_STR(json_get_string(doc, "trace_id"), trace);
    close_fixture(&f, &docs);
}

static void document_shows_an_open_entity_without_sending_it(void) {
    fixture f = open_fixture();
    oxray_entity *child = NULL;
    CHECK_OK(oxray_entity_put_annotation_string(f.segment, "order", "o-1"));
    CHECK_OK(oxray_entity_begin_subsegment(f.segment, "## load", &child));
    CHECK_OK(oxray_entity_end(child));
    size_t needed = 0;
    CHECK_STATUS(oxray_entity_document(f.segment, NULL, 0, &needed), OXRAY_BUFFER_TOO_SMALL);
    char text[4096];
    CHECK(needed > 1 && needed <= sizeof text);
    CHECK_OK(oxray_entity_document(f.segment, text, sizeof text, NULL));
    CHECK(strlen(text) + 1 == needed);
    harness_record_document(text, strlen(text)); /* validated with the others by test.sh */
    json_value *doc = json_parse(text, NULL, 0);
    CHECK(doc != NULL);
    if (doc != NULL) {
        const json_value *in_progress = json_get(doc, "in_progress");
        CHECK(in_progress != NULL && in_progress->type == JSON_BOOL && in_progress->boolean);
        CHECK(json_get(doc, "end_time") == NULL);
        CHECK_STR(json_get_string(json_get(doc, "annotations"), "order"), "o-1");
        const json_value *subs = json_get(doc, "subsegments");
        CHECK(subs != NULL && subs->type == JSON_ARRAY && subs->count == 1);
        if (subs != NULL && subs->count == 1) CHECK_STR(json_get_string(subs->items[0], "name"), "## load");
        json_free(doc);
    }
    /* Reading sent nothing. */
    harness_documents none = harness_take_documents(f.recorder);
    CHECK(harness_documents_count(&none) == 0);
    harness_documents_free(&none);
    /* Ended: no document left to show, the empty string. */
    char after[16] = "x";
    CHECK_OK(oxray_entity_document(child, after, sizeof after, &needed));
    CHECK_STR(after, "");
    CHECK(needed == 1);
    oxray_entity_free(child);
    harness_documents docs;
    const json_value *sent = end_fixture(&f, &docs);
    CHECK(sent != NULL && json_get(sent, "end_time") != NULL);
    CHECK_STATUS(oxray_entity_document(HARNESS_BOGUS_ENTITY, after, sizeof after, NULL), OXRAY_INVALID_HANDLE);
    close_fixture(&f, &docs);
}

static void outgoing_header_carries_this_entity_and_the_lineage(void) {
    oxray_recorder *recorder = harness_memory_recorder("");
    oxray_entity *segment = NULL, *call = NULL;
    CHECK_OK(oxray_recorder_begin_segment(recorder, "svc", HEADER_WITH_LINEAGE, &segment));
    CHECK_OK(oxray_entity_begin_subsegment(segment, "downstream", &call));
    char id[OXRAY_ENTITY_ID_SIZE], expected[256], header[256];
    harness_entity_id(call, id);
    snprintf(expected, sizeof expected,
             "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=%s;Sampled=1;Lineage=a87bd80c:1;Tenant=t1", id);
    size_t needed = 0;
    CHECK_OK(oxray_entity_outgoing_header(call, header, sizeof header, &needed));
    CHECK_STR(header, expected);
    CHECK(needed == strlen(expected) + 1);
    CHECK_STATUS(oxray_entity_outgoing_header(call, header, 10, NULL), OXRAY_BUFFER_TOO_SMALL);
    CHECK(header[0] == '\0');
    CHECK_STATUS(oxray_entity_outgoing_header(call, NULL, 0, &needed), OXRAY_BUFFER_TOO_SMALL);
    CHECK(needed == strlen(expected) + 1);

    /* An unsampled trace propagates Sampled=0. */
    oxray_entity *unsampled = NULL;
    CHECK_OK(oxray_recorder_begin_segment(recorder, "svc", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0",
                                          &unsampled));
    CHECK_OK(oxray_entity_outgoing_header(unsampled, header, sizeof header, NULL));
    CHECK(strstr(header, ";Sampled=0") != NULL);
    CHECK_OK(oxray_entity_end(unsampled));
    oxray_entity_free(unsampled);

    CHECK_OK(oxray_entity_end(call));
    CHECK_OK(oxray_entity_end(segment));
    oxray_entity_free(call);
    oxray_entity_free(segment);
    harness_documents docs = harness_take_documents(recorder);
    CHECK(harness_documents_count(&docs) == 1); /* the unsampled segment sent nothing */
    harness_documents_free(&docs);
    oxray_recorder_free(recorder);
}

static void annotations_of_each_type(void) {
    fixture f = open_fixture();
    CHECK_OK(oxray_entity_put_annotation_string(f.segment, "order_id", "o-1"));
    CHECK_OK(oxray_entity_put_annotation_int64(f.segment, "count", -9007199254740993LL));
    CHECK_OK(oxray_entity_put_annotation_double(f.segment, "amount", 12.5));
    CHECK_OK(oxray_entity_put_annotation_bool(f.segment, "paid", true));
    CHECK_OK(oxray_entity_put_annotation_bool(f.segment, "refunded", false));
    CHECK_OK(oxray_entity_put_annotation_string(f.segment, "city", "Zürich"));
    /* Replacing keeps one value. */
    CHECK_OK(oxray_entity_put_annotation_string(f.segment, "order_id", "o-2"));
    /* Corrected, with warnings: a dotted key, a non-finite number. */
    CHECK_OK(oxray_entity_put_annotation_int64(f.segment, "http.status", 200));
    CHECK_OK(oxray_entity_put_annotation_double(f.segment, "ratio", NAN));
    /* Refused. */
    CHECK_STATUS(oxray_entity_put_annotation_string(f.segment, "", "v"), OXRAY_INVALID_ARGUMENT);
    CHECK_STATUS(oxray_entity_put_annotation_string(f.segment, NULL, "v"), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_entity_put_annotation_string(f.segment, "k", NULL), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_entity_put_annotation_string(f.segment, HARNESS_BAD_UTF8, "v"), OXRAY_INVALID_UTF8);
    CHECK_STATUS(oxray_entity_put_annotation_string(f.segment, "k", HARNESS_BAD_UTF8), OXRAY_INVALID_UTF8);
    CHECK_STATUS(oxray_entity_put_annotation_int64(f.segment, NULL, 1), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_entity_put_annotation_double(f.segment, HARNESS_BAD_UTF8, 1), OXRAY_INVALID_UTF8);
    CHECK_STATUS(oxray_entity_put_annotation_bool(f.segment, "", true), OXRAY_INVALID_ARGUMENT);

    harness_documents docs;
    const json_value *doc = end_fixture(&f, &docs);
    const json_value *ann = json_get(doc, "annotations");
    CHECK(ann && ann->type == JSON_OBJECT && ann->count == 8);
    CHECK_STR(json_get_string(ann, "order_id"), "o-2");
    const json_value *count = json_get(ann, "count");
    CHECK(count && count->type == JSON_NUMBER && count->raw_len == 17 &&
          strncmp(count->raw, "-9007199254740993", 17) == 0);
    const json_value *amount = json_get(ann, "amount");
    CHECK(amount && amount->type == JSON_NUMBER && amount->number == 12.5);
    const json_value *paid = json_get(ann, "paid");
    CHECK(paid && paid->type == JSON_BOOL && paid->boolean);
    const json_value *refunded = json_get(ann, "refunded");
    CHECK(refunded && refunded->type == JSON_BOOL && !refunded->boolean);
    CHECK_STR(json_get_string(ann, "city"), "Zürich");
    CHECK(json_get(ann, "http_status") != NULL);
    CHECK_STR(json_get_string(ann, "ratio"), "NaN");
    oxray_counters c;
    CHECK_OK(oxray_recorder_counters(f.recorder, &c));
    CHECK(c.warnings == 4); /* dotted key, NaN, two empty keys */
    close_fixture(&f, &docs);
}

static void metadata_takes_json_under_a_namespace(void) {
    fixture f = open_fixture();
    CHECK_OK(oxray_entity_put_metadata(f.segment, NULL, "request", "{\"items\":[1,2],\"note\":null}"));
    CHECK_OK(oxray_entity_put_metadata(f.segment, "payments", "card", "\"visa\""));
    CHECK_OK(oxray_entity_put_metadata(f.segment, "payments", "amount", " 12.5 "));
    CHECK_STATUS(oxray_entity_put_metadata(f.segment, "AWS.internal", "x", "1"), OXRAY_RESERVED_NAMESPACE);
    CHECK_STATUS(oxray_entity_put_metadata(f.segment, NULL, "bad", "{oops"), OXRAY_INVALID_JSON);
    CHECK_STATUS(oxray_entity_put_metadata(f.segment, NULL, "nan", "NaN"), OXRAY_INVALID_JSON);
    CHECK_STATUS(oxray_entity_put_metadata(f.segment, NULL, "two", "1 2"), OXRAY_INVALID_JSON);
    CHECK_STATUS(oxray_entity_put_metadata(f.segment, NULL, NULL, "1"), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_entity_put_metadata(f.segment, NULL, "k", NULL), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_entity_put_metadata(f.segment, HARNESS_BAD_UTF8, "k", "1"), OXRAY_INVALID_UTF8);
    CHECK_STATUS(oxray_entity_put_metadata(f.segment, NULL, HARNESS_BAD_UTF8, "1"), OXRAY_INVALID_UTF8);
    CHECK_STATUS(oxray_entity_put_metadata(f.segment, NULL, "k", HARNESS_BAD_UTF8), OXRAY_INVALID_UTF8);

    harness_documents docs;
    const json_value *doc = end_fixture(&f, &docs);
    const json_value *meta = json_get(doc, "metadata");
    CHECK(meta && meta->count == 2);
    const json_value *request = json_get(json_get(meta, "default"), "request");
    json_value *expected = json_parse("{\"items\":[1,2],\"note\":null}", NULL, 0);
    CHECK(json_equal(request, expected));
    json_free(expected);
    CHECK_STR(json_get_string(json_get(meta, "payments"), "card"), "visa");
    const json_value *amount = json_get(json_get(meta, "payments"), "amount");
    CHECK(amount && amount->number == 12.5);
    CHECK(json_get(meta, "AWS.internal") == NULL);
    close_fixture(&f, &docs);
}

static void flags_set_and_clear(void) {
    fixture f = open_fixture();
    CHECK_OK(oxray_entity_set_error(f.segment, true));
    CHECK_OK(oxray_entity_set_throttle(f.segment, true));
    CHECK_OK(oxray_entity_set_fault(f.segment, true));
    CHECK_OK(oxray_entity_set_fault(f.segment, false));
    harness_documents docs;
    const json_value *doc = end_fixture(&f, &docs);
    const json_value *error = json_get(doc, "error");
    const json_value *throttle = json_get(doc, "throttle");
    CHECK(error && error->type == JSON_BOOL && error->boolean);
    CHECK(throttle && throttle->type == JSON_BOOL && throttle->boolean);
    CHECK(json_get(doc, "fault") == NULL);
    CHECK_STATUS(oxray_entity_set_throttle(NULL, true), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_entity_set_fault(HARNESS_BOGUS_ENTITY, true), OXRAY_INVALID_HANDLE);
    close_fixture(&f, &docs);
}

static void namespace_is_aws_remote_or_none(void) {
    fixture f = open_fixture();
    oxray_entity *aws = NULL, *remote = NULL, *local = NULL;
    CHECK_OK(oxray_entity_begin_subsegment(f.segment, "DynamoDB", &aws));
    CHECK_OK(oxray_entity_begin_subsegment(f.segment, "api.example.com", &remote));
    CHECK_OK(oxray_entity_begin_subsegment(f.segment, "compute", &local));
    CHECK_OK(oxray_entity_set_namespace(aws, "aws"));
    CHECK_OK(oxray_entity_set_namespace(remote, "aws"));
    CHECK_OK(oxray_entity_set_namespace(remote, "remote"));
    CHECK_OK(oxray_entity_set_namespace(local, "remote"));
    CHECK_OK(oxray_entity_set_namespace(local, NULL));
    CHECK_STATUS(oxray_entity_set_namespace(local, "local"), OXRAY_INVALID_ARGUMENT);
    CHECK(strstr(harness_last_error(), "NULL for local work") != NULL);
    CHECK_STATUS(oxray_entity_set_namespace(local, "AWS"), OXRAY_INVALID_ARGUMENT);
    CHECK_STATUS(oxray_entity_set_namespace(local, HARNESS_BAD_UTF8), OXRAY_INVALID_UTF8);
    oxray_entity *all[] = {aws, remote, local};
    for (int i = 0; i < 3; i++) {
        CHECK_OK(oxray_entity_end(all[i]));
        oxray_entity_free(all[i]);
    }
    harness_documents docs;
    const json_value *doc = end_fixture(&f, &docs);
    const json_value *subs = json_get(doc, "subsegments");
    CHECK(subs && subs->count == 3);
    if (subs && subs->count == 3) {
        CHECK_STR(json_get_string(subs->items[0], "namespace"), "aws");
        CHECK_STR(json_get_string(subs->items[1], "namespace"), "remote");
        CHECK(json_get(subs->items[2], "namespace") == NULL);
    }
    close_fixture(&f, &docs);
}

void suite_entity(void) {
    RUN(subsegments_nest_and_are_embedded);
    RUN(begin_subsegment_refuses_bad_arguments);
    RUN(names_keep_only_the_schemas_characters);
    RUN(freed_and_ended_handles_answer_with_a_status);
    RUN(an_entity_freed_without_end_is_sent_in_progress);
    RUN(send_in_progress_then_end_sends_both);
    RUN(id_getters_follow_the_buffer_convention);
    RUN(document_shows_an_open_entity_without_sending_it);
    RUN(outgoing_header_carries_this_entity_and_the_lineage);
    RUN(annotations_of_each_type);
    RUN(metadata_takes_json_under_a_namespace);
    RUN(flags_set_and_clear);
    RUN(namespace_is_aws_remote_or_none);
}

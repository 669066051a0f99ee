/* Structured fields: http request/response, aws, sql, exceptions and cause references. */
#include <string.h>

#include "harness.h"
#include "suites.h"

/* A memory recorder, a segment, and one subsegment under it. */
typedef struct fixture {
    oxray_recorder *recorder;
    oxray_entity *segment;
    oxray_entity *sub;
} fixture;

static fixture open_fixture(void) {
    fixture f = {harness_memory_recorder(""), NULL, NULL};
    CHECK_OK(oxray_recorder_begin_segment(f.recorder, "svc", NULL, &f.segment));
    CHECK_OK(oxray_entity_begin_subsegment(f.segment, "call", &f.sub));
    return f;
}

/* Ends both and returns the segment's document; *sub_doc is the embedded subsegment. */
static const json_value *end_fixture(fixture *f, harness_documents *docs, const json_value **sub_doc) {
    CHECK_OK(oxray_entity_end(f->sub));
    CHECK_OK(oxray_entity_end(f->segment));
    *docs = harness_take_documents(f->recorder);
    const json_value *doc = harness_only_document(docs);
    const json_value *subs = json_get(doc, "subsegments");
    *sub_doc = subs && subs->count == 1 ? subs->items[0] : NULL;
    CHECK(*sub_doc != NULL);
    return doc;
}

static void close_fixture(fixture *f, harness_documents *docs) {
    harness_documents_free(docs);
    oxray_entity_free(f->sub);
    oxray_entity_free(f->segment);
    oxray_recorder_free(f->recorder);
}

static bool json_true(const json_value *v) {
    return v && v->type == JSON_BOOL && v->boolean;
}

static void http_request_and_response(void) {
    fixture f = open_fixture();
    char long_url[400];
    memset(long_url, 'u', sizeof long_url - 1);
    long_url[sizeof long_url - 1] = '\0';
    memcpy(long_url, "https://", 8);

    oxray_http_request seg_request = {0};
    seg_request.method = "POST";
    seg_request.url = long_url;
    seg_request.user_agent = "curl/8";
    seg_request.client_ip = "203.0.113.7";
    seg_request.x_forwarded_for = true;
    CHECK_OK(oxray_entity_set_http_request(f.segment, &seg_request));
    CHECK_OK(oxray_entity_set_http_response(f.segment, 200, 512));

    oxray_http_request sub_request;
    /* Filled by memset: the bool field holds the byte 0x02, not a valid _Bool. oxray reads it
     * as a byte (non-zero is true) instead of assuming 0 or 1. */
    memset(&sub_request, 0, sizeof sub_request);
    memset(&sub_request.traced, 0x02, 1);
    sub_request.method = "GET";
    sub_request.url = "https://api.example.com/x";
    CHECK_OK(oxray_entity_set_http_request(f.sub, &sub_request));
    CHECK_OK(oxray_entity_set_http_response(f.sub, 429, OXRAY_CONTENT_LENGTH_NONE));

    /* Refused. */
    oxray_http_request bad = {0};
    bad.method = HARNESS_BAD_UTF8;
    CHECK_STATUS(oxray_entity_set_http_request(f.sub, &bad), OXRAY_INVALID_UTF8);
    CHECK(strstr(harness_last_error(), "request.method") != NULL);
    CHECK_STATUS(oxray_entity_set_http_request(f.sub, NULL), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_entity_set_http_request(NULL, &sub_request), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_entity_set_http_response(f.sub, 42, 1), OXRAY_INVALID_ARGUMENT);
    CHECK_STATUS(oxray_entity_set_http_response(f.sub, 1000, 1), OXRAY_INVALID_ARGUMENT);
    CHECK_STATUS(oxray_entity_set_http_response(f.sub, -1, 1), OXRAY_INVALID_ARGUMENT);
    CHECK_STATUS(oxray_entity_set_http_response(HARNESS_BOGUS_ENTITY, 200, 1), OXRAY_INVALID_HANDLE);

    harness_documents docs;
    const json_value *sub;
    const json_value *doc = end_fixture(&f, &docs, &sub);
    const json_value *request = json_get(json_get(doc, "http"), "request");
    CHECK_STR(json_get_string(request, "method"), "POST");
    const char *url = json_get_string(request, "url");
    CHECK(url && strlen(url) == 250); /* cut to the schema's limit */
    CHECK_STR(json_get_string(request, "client_ip"), "203.0.113.7");
    CHECK_STR(json_get_string(request, "user_agent"), "curl/8");
    CHECK(json_true(json_get(request, "x_forwarded_for")));
    const json_value *response = json_get(json_get(doc, "http"), "response");
    CHECK(json_get(response, "status") && json_get(response, "status")->number == 200);
    CHECK(json_get(response, "content_length") && json_get(response, "content_length")->number == 512);
    CHECK(json_get(doc, "error") == NULL && json_get(doc, "fault") == NULL);

    const json_value *sub_http = json_get(sub, "http");
    CHECK(json_true(json_get(json_get(sub_http, "request"), "traced")));
    CHECK(json_get(json_get(sub_http, "response"), "status")->number == 429);
    CHECK(json_get(json_get(sub_http, "response"), "content_length") == NULL);
    CHECK(json_true(json_get(sub, "throttle")) && json_true(json_get(sub, "error")));
    close_fixture(&f, &docs);
}

static void http_status_without_response_fields(void) {
    fixture f = open_fixture();
    CHECK_OK(oxray_entity_set_http_response(f.sub, OXRAY_HTTP_STATUS_NONE, -1));
    CHECK_OK(oxray_entity_set_http_response(f.segment, 503, OXRAY_CONTENT_LENGTH_NONE));
    harness_documents docs;
    const json_value *sub;
    const json_value *doc = end_fixture(&f, &docs, &sub);
    const json_value *response = json_get(json_get(sub, "http"), "response");
    CHECK(json_get(response, "status") == NULL);
    CHECK(json_get(response, "content_length") && json_get(response, "content_length")->number == -1);
    CHECK(json_true(json_get(doc, "fault")));
    close_fixture(&f, &docs);
}

static void aws_fields_take_json_values(void) {
    fixture f = open_fixture();
    CHECK_OK(oxray_entity_set_namespace(f.sub, "aws"));
    CHECK_OK(oxray_entity_set_aws(f.sub, "operation", "\"PutItem\""));
    CHECK_OK(oxray_entity_set_aws(f.sub, "region", "\"eu-west-1\""));
    CHECK_OK(oxray_entity_set_aws(f.sub, "retries", "2"));
    CHECK_OK(oxray_entity_set_aws(f.sub, "resource_names", "[\"orders\"]"));
    CHECK_STATUS(oxray_entity_set_aws(f.sub, "operation", "PutItem"), OXRAY_INVALID_JSON);
    CHECK(strstr(harness_last_error(), "operation") != NULL);
    CHECK_STATUS(oxray_entity_set_aws(f.sub, "", "1"), OXRAY_INVALID_ARGUMENT);
    /* Fields the schema types keep their type (receivers drop a document that does not). */
    CHECK_STATUS(oxray_entity_set_aws(f.sub, "account_id", "3"), OXRAY_INVALID_ARGUMENT);
    CHECK(strstr(harness_last_error(), "aws.account_id") != NULL);
    CHECK_STATUS(oxray_entity_set_aws(f.sub, "region", "42"), OXRAY_INVALID_ARGUMENT);
    CHECK_STATUS(oxray_entity_set_aws(f.sub, "operation", "[1]"), OXRAY_INVALID_ARGUMENT);
    CHECK_STATUS(oxray_entity_set_aws(f.sub, "ec2", "\"i-1\""), OXRAY_INVALID_ARGUMENT);
    CHECK_STATUS(oxray_entity_set_aws(f.sub, "ec2", "{\"instance_id\":1}"), OXRAY_INVALID_ARGUMENT);
    CHECK_OK(oxray_entity_set_aws(f.sub, "ec2", "{\"instance_id\":\"i-1\"}"));
    CHECK_STATUS(oxray_entity_set_aws(f.sub, NULL, "1"), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_entity_set_aws(f.sub, "k", NULL), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_entity_set_aws(f.sub, HARNESS_BAD_UTF8, "1"), OXRAY_INVALID_UTF8);
    CHECK_STATUS(oxray_entity_set_aws(f.sub, "k", HARNESS_BAD_UTF8), OXRAY_INVALID_UTF8);
    CHECK_STATUS(oxray_entity_set_aws(NULL, "k", "1"), OXRAY_NULL_ARGUMENT);
    harness_documents docs;
    const json_value *sub;
    end_fixture(&f, &docs, &sub);
    const json_value *aws = json_get(sub, "aws");
    CHECK_STR(json_get_string(aws, "operation"), "PutItem");
    CHECK_STR(json_get_string(aws, "region"), "eu-west-1");
    CHECK(json_get(aws, "retries") && json_get(aws, "retries")->number == 2);
    json_value *names = json_parse("[\"orders\"]", NULL, 0);
    CHECK(json_equal(json_get(aws, "resource_names"), names));
    json_free(names);
    CHECK_STR(json_get_string(sub, "namespace"), "aws");
    close_fixture(&f, &docs);
}

static void sql_block_is_checked_for_receivers(void) {
    fixture f = open_fixture();
    oxray_sql sql = {0};
    sql.url = "postgresql://db.example.com:5432/orders";
    sql.sanitized_query = "SELECT * FROM orders WHERE id = $1";
    sql.database_type = "PostgreSQL";
    sql.database_version = "15.4";
    sql.driver_version = "libpq 15";
    sql.user = "app";
    sql.preparation = "statement";
    CHECK_OK(oxray_entity_set_namespace(f.sub, "remote"));
    CHECK_OK(oxray_entity_set_sql(f.sub, &sql));

    oxray_sql bad = sql;
    bad.url = "postgresql://db.example.com";
    CHECK_STATUS(oxray_entity_set_sql(f.sub, &bad), OXRAY_INVALID_ARGUMENT);
    CHECK(strstr(harness_last_error(), "does not name a database") != NULL);
    bad = sql;
    bad.preparation = "prepared";
    CHECK_STATUS(oxray_entity_set_sql(f.sub, &bad), OXRAY_INVALID_ARGUMENT);
    CHECK(strstr(harness_last_error(), "sql.preparation") != NULL);
    bad = sql;
    bad.user = HARNESS_BAD_UTF8;
    CHECK_STATUS(oxray_entity_set_sql(f.sub, &bad), OXRAY_INVALID_UTF8);
    CHECK(strstr(harness_last_error(), "sql.user") != NULL);
    CHECK_STATUS(oxray_entity_set_sql(f.sub, NULL), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_entity_set_sql(HARNESS_BOGUS_ENTITY, &sql), OXRAY_INVALID_HANDLE);

    /* A connection string instead of a URL is fine. */
    oxray_entity *other = NULL;
    oxray_sql by_connection = {0};
    by_connection.connection_string = "host=db dbname=orders";
    CHECK_OK(oxray_entity_begin_subsegment(f.segment, "other", &other));
    CHECK_OK(oxray_entity_set_sql(other, &by_connection));
    CHECK_OK(oxray_entity_end(other));
    oxray_entity_free(other);

    harness_documents docs;
    CHECK_OK(oxray_entity_end(f.sub));
    CHECK_OK(oxray_entity_end(f.segment));
    docs = harness_take_documents(f.recorder);
    const json_value *doc = harness_only_document(&docs);
    const json_value *subs = json_get(doc, "subsegments");
    CHECK(subs && subs->count == 2);
    if (subs && subs->count == 2) {
        /* Embedded in the order they ended: "other" first. */
        const json_value *s = json_get(subs->items[1], "sql");
        CHECK_STR(json_get_string(s, "url"), sql.url);
        CHECK_STR(json_get_string(s, "sanitized_query"), sql.sanitized_query);
        CHECK_STR(json_get_string(s, "database_type"), "PostgreSQL");
        CHECK_STR(json_get_string(s, "database_version"), "15.4");
        CHECK_STR(json_get_string(s, "driver_version"), "libpq 15");
        CHECK_STR(json_get_string(s, "user"), "app");
        CHECK_STR(json_get_string(s, "preparation"), "statement");
        CHECK_STR(json_get_string(json_get(subs->items[0], "sql"), "connection_string"), "host=db dbname=orders");
    }
    close_fixture(&f, &docs);
}

static void exceptions_are_recorded_and_referenced(void) {
    fixture f = open_fixture();
    oxray_stack_frame stack[2] = {
        {"app.c", "charge", 10},
        {"main.c", "handler", 0},
    };
    oxray_exception ex = {0};
    ex.type_name = "CardDeclined";
    ex.message = "card declined";
    ex.remote = true;
    ex.stack = stack;
    ex.stack_len = 2;
    ex.truncated = 3;
    ex.working_directory = "/srv/app";
    char id[OXRAY_ENTITY_ID_SIZE];
    CHECK_OK(oxray_entity_add_exception(f.sub, &ex, id, sizeof id));
    CHECK(strlen(id) == 16 && strspn(id, "0123456789abcdef") == 16);
    /* A second one, its id not wanted. */
    oxray_exception second = {0};
    second.message = "again";
    CHECK_OK(oxray_entity_add_exception(f.sub, &second, NULL, 0));

    /* Refused, and nothing recorded. */
    char small[8];
    CHECK_STATUS(oxray_entity_add_exception(f.sub, &second, small, sizeof small), OXRAY_BUFFER_TOO_SMALL);
    oxray_exception bad = ex;
    bad.stack = NULL;
    CHECK_STATUS(oxray_entity_add_exception(f.sub, &bad, NULL, 0), OXRAY_NULL_ARGUMENT);
    bad = ex;
    bad.message = HARNESS_BAD_UTF8;
    CHECK_STATUS(oxray_entity_add_exception(f.sub, &bad, NULL, 0), OXRAY_INVALID_UTF8);
    oxray_stack_frame bad_frame[1] = {{HARNESS_BAD_UTF8, NULL, 1}};
    bad = ex;
    bad.stack = bad_frame;
    bad.stack_len = 1;
    CHECK_STATUS(oxray_entity_add_exception(f.sub, &bad, NULL, 0), OXRAY_INVALID_UTF8);
    CHECK(strstr(harness_last_error(), "stack[0].path") != NULL);
    CHECK_STATUS(oxray_entity_add_exception(f.sub, NULL, NULL, 0), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_entity_add_exception(NULL, &ex, NULL, 0), OXRAY_NULL_ARGUMENT);

    /* The parent failed with the same exception: a reference, not a copy. */
    CHECK_OK(oxray_entity_set_cause_exception_id(f.segment, id));
    CHECK_STATUS(oxray_entity_set_cause_exception_id(f.segment, "xyz"), OXRAY_INVALID_ARGUMENT);
    CHECK_STATUS(oxray_entity_set_cause_exception_id(f.segment, "0123456789abcdeg"), OXRAY_INVALID_ARGUMENT);
    CHECK_STATUS(oxray_entity_set_cause_exception_id(f.segment, NULL), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_entity_set_cause_exception_id(f.segment, HARNESS_BAD_UTF8), OXRAY_INVALID_UTF8);
    CHECK_STATUS(oxray_entity_set_cause_exception_id(HARNESS_BOGUS_ENTITY, id), OXRAY_INVALID_HANDLE);

    harness_documents docs;
    const json_value *sub;
    const json_value *doc = end_fixture(&f, &docs, &sub);
    CHECK_STR(json_get_string(doc, "cause"), id);
    CHECK(json_true(json_get(doc, "fault")));
    CHECK(json_true(json_get(sub, "fault")));
    const json_value *cause = json_get(sub, "cause");
    CHECK_STR(json_get_string(cause, "working_directory"), "/srv/app");
    const json_value *exceptions = json_get(cause, "exceptions");
    CHECK(exceptions && exceptions->count == 2);
    if (exceptions && exceptions->count == 2) {
        const json_value *e = exceptions->items[0];
        CHECK_STR(json_get_string(e, "id"), id);
        CHECK_STR(json_get_string(e, "type"), "CardDeclined");
        CHECK_STR(json_get_string(e, "message"), "card declined");
        CHECK(json_true(json_get(e, "remote")));
        CHECK(json_get(e, "truncated") && json_get(e, "truncated")->number == 3);
        const json_value *frames = json_get(e, "stack");
        CHECK(frames && frames->count == 2);
        if (frames && frames->count == 2) {
            CHECK_STR(json_get_string(frames->items[0], "path"), "app.c");
            CHECK_STR(json_get_string(frames->items[0], "label"), "charge");
            CHECK(json_get(frames->items[0], "line") && json_get(frames->items[0], "line")->number == 10);
            CHECK(json_get(frames->items[1], "line") == NULL);
        }
        CHECK_STR(json_get_string(exceptions->items[1], "message"), "again");
    }
    close_fixture(&f, &docs);
}

void suite_fields(void) {
    RUN(http_request_and_response);
    RUN(http_status_without_response_fields);
    RUN(aws_fields_take_json_values);
    RUN(sql_block_is_checked_for_receivers);
    RUN(exceptions_are_recorded_and_referenced);
}

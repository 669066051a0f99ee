/* Trace header and daemon address helpers: the edges the shared vectors do not cover. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "suites.h"

#define ROOT "1-5759e988-bd862e3fe1be46a994272793"

static void parse_fills_fields_and_reports_why(void) {
    oxray_trace_header_fields fields;
    CHECK_OK(oxray_trace_header_parse("Root=" ROOT ";Parent=53995C3F42CD8AD8;Sampled=?", &fields));
    CHECK_STR(fields.root, ROOT);
    CHECK_STR(fields.parent, "53995c3f42cd8ad8");
    CHECK(fields.sampled == OXRAY_SAMPLED_REQUESTED);
    CHECK(fields.error == OXRAY_HEADER_ERROR_NONE);

    /* Too long (over 8,192 bytes). */
    size_t n = 9000;
    char *huge = malloc(n + 1);
    memcpy(huge, "Root=" ROOT ";X=", 5 + 35 + 3);
    memset(huge + 43, 'a', n - 43);
    huge[n] = '\0';
    CHECK_STATUS(oxray_trace_header_parse(huge, &fields), OXRAY_INVALID_HEADER);
    CHECK(fields.error == OXRAY_HEADER_ERROR_TOO_LONG);
    CHECK_STR(fields.root, "");
    free(huge);

    CHECK_STATUS(oxray_trace_header_parse(NULL, &fields), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_trace_header_parse(HARNESS_BAD_UTF8, &fields), OXRAY_INVALID_UTF8);
    CHECK_STATUS(oxray_trace_header_parse("Root=" ROOT, NULL), OXRAY_NULL_ARGUMENT);
}

static void normalize_and_format_write_canonical_headers(void) {
    char buf[256];
    size_t needed = 0;
    CHECK_OK(oxray_trace_header_normalize(" sampled=1 ; root=" ROOT " ", buf, sizeof buf, &needed));
    CHECK_STR(buf, "Root=" ROOT ";Sampled=1");
    CHECK(needed == strlen(buf) + 1);
    CHECK_STATUS(oxray_trace_header_normalize("Root=" ROOT, buf, 10, &needed), OXRAY_BUFFER_TOO_SMALL);
    CHECK(needed == 41);
    CHECK_STATUS(oxray_trace_header_normalize("Root", buf, sizeof buf, NULL), OXRAY_INVALID_HEADER);
    CHECK(strstr(harness_last_error(), "no '='") != NULL);
    CHECK_STATUS(oxray_trace_header_normalize(NULL, buf, sizeof buf, NULL), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_trace_header_normalize(HARNESS_BAD_UTF8, buf, sizeof buf, NULL), OXRAY_INVALID_UTF8);

    CHECK_OK(oxray_trace_header_format(ROOT, "53995c3f42cd8ad8", OXRAY_SAMPLED_YES, buf, sizeof buf, NULL));
    CHECK_STR(buf, "Root=" ROOT ";Parent=53995c3f42cd8ad8;Sampled=1");
    CHECK_OK(oxray_trace_header_format(ROOT, NULL, OXRAY_SAMPLED_NO, buf, sizeof buf, NULL));
    CHECK_STR(buf, "Root=" ROOT ";Sampled=0");
    CHECK_OK(oxray_trace_header_format(NULL, NULL, OXRAY_SAMPLED_REQUESTED, buf, sizeof buf, NULL));
    CHECK_STR(buf, "Sampled=?");
    CHECK_OK(oxray_trace_header_format("1-5759E988-BD862E3FE1BE46A994272793", NULL, OXRAY_SAMPLED_ABSENT, buf,
                                       sizeof buf, &needed));
    CHECK_STR(buf, "Root=" ROOT);
    CHECK(needed == 41);

    CHECK_STATUS(oxray_trace_header_format(NULL, NULL, OXRAY_SAMPLED_ABSENT, buf, sizeof buf, NULL),
                 OXRAY_INVALID_ARGUMENT);
    CHECK_STATUS(oxray_trace_header_format("2-5759e988-bd862e3fe1be46a994272793", NULL, 0, buf, sizeof buf, NULL),
                 OXRAY_INVALID_ARGUMENT);
    CHECK_STATUS(oxray_trace_header_format(ROOT, "53995c3f42cd8a", 0, buf, sizeof buf, NULL), OXRAY_INVALID_ARGUMENT);
    CHECK_STATUS(oxray_trace_header_format(ROOT, NULL, 4, buf, sizeof buf, NULL), OXRAY_INVALID_ARGUMENT);
    CHECK_STATUS(oxray_trace_header_format(HARNESS_BAD_UTF8, NULL, 1, buf, sizeof buf, NULL), OXRAY_INVALID_UTF8);
    CHECK_STATUS(oxray_trace_header_format(ROOT, HARNESS_BAD_UTF8, 1, buf, sizeof buf, NULL), OXRAY_INVALID_UTF8);
    CHECK_STATUS(oxray_trace_header_format(ROOT, NULL, 1, buf, 5, NULL), OXRAY_BUFFER_TOO_SMALL);
}

static void daemon_address_parse_edges(void) {
    oxray_daemon_address address;
    memset(&address, 'x', sizeof address);
    CHECK_OK(oxray_daemon_address_parse("localhost:2000", &address));
    CHECK_STR(address.udp, "127.0.0.1:2000");
    CHECK_STATUS(oxray_daemon_address_parse("nope", &address), OXRAY_INVALID_ADDRESS);
    CHECK(strstr(harness_last_error(), "nope") != NULL);
    CHECK_STR(address.udp, "");
    CHECK_STR(address.tcp, "");
    CHECK_STATUS(oxray_daemon_address_parse(NULL, &address), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_daemon_address_parse(HARNESS_BAD_UTF8, &address), OXRAY_INVALID_UTF8);
    CHECK_STATUS(oxray_daemon_address_parse("127.0.0.1:2000", NULL), OXRAY_NULL_ARGUMENT);
}

void suite_headers(void) {
    RUN(parse_fills_fields_and_reports_why);
    RUN(normalize_and_format_write_canonical_headers);
    RUN(daemon_address_parse_edges);
}

/* hello.c: trace one request from C with oxray.
 *
 * Build (from the repository root):
 *   cargo build -p oxray-c --release
 *   cc -std=c11 -Iinclude examples/c/hello.c target/release/liboxray.a -lpthread -ldl -lm -o hello
 * Run with an X-Ray daemon (or `oxray collect`) listening on AWS_XRAY_DAEMON_ADDRESS
 * (default 127.0.0.1:2000). An incoming X-Amzn-Trace-Id may be given as the first argument. */
#include <inttypes.h>
#include <stdio.h>

#include "oxray.h"

static int fail(const char *what) {
    char message[512];
    oxray_last_error(message, sizeof message);
    fprintf(stderr, "%s failed: %s\n", what, message);
    return 1;
}

int main(int argc, char **argv) {
    oxray_recorder *recorder = NULL;
    /* NULL: configure from the environment (AWS_XRAY_DAEMON_ADDRESS, AWS_XRAY_SDK_ENABLED, ...). */
    if (oxray_recorder_new(NULL, &recorder) != OXRAY_OK) {
        return fail("oxray_recorder_new");
    }

    oxray_entity *segment = NULL, *call = NULL;
    const char *incoming = argc > 1 ? argv[1] : NULL;
    if (oxray_recorder_begin_segment(recorder, "hello-service", incoming, &segment) != OXRAY_OK) {
        return fail("oxray_recorder_begin_segment");
    }
    oxray_entity_put_annotation_string(segment, "user", "alice");
    oxray_entity_put_metadata(segment, NULL, "request", "{\"path\":\"/hello\",\"items\":3}");

    /* A downstream call: its own subsegment, and the header to send with it. */
    oxray_entity_begin_subsegment(segment, "api.example.com", &call);
    oxray_entity_set_namespace(call, "remote");
    char header[256];
    if (oxray_entity_outgoing_header(call, header, sizeof header, NULL) == OXRAY_OK) {
        printf("X-Amzn-Trace-Id: %s\n", header);
    }
    oxray_http_request request = {0};
    request.method = "GET";
    request.url = "https://api.example.com/greeting";
    request.traced = true;
    oxray_entity_set_http_request(call, &request);
    oxray_entity_set_http_response(call, 200, 42);
    oxray_entity_end(call);

    oxray_entity_end(segment);
    oxray_recorder_flush(recorder, 1000); /* before exiting, so nothing queued is lost */

    oxray_counters counters;
    oxray_recorder_counters(recorder, &counters);
    printf("documents sent: %" PRIu64 ", dropped: %" PRIu64 "\n", counters.sent, counters.dropped);

    oxray_entity_free(call);
    oxray_entity_free(segment);
    oxray_recorder_free(recorder);
    return 0;
}

/* The oxray C test runner.
 * Usage: oxray_c_tests [vectors_dir [documents_out]]
 *   vectors_dir    the shared vectors (default tests/vectors)
 *   documents_out  file receiving every document seen, one per line, for schema validation */
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "suites.h"

int main(int argc, char **argv) {
    if (argc > 1) {
        harness_vectors_dir = argv[1];
    }
    harness_open_documents_file(argc > 2 ? argv[2] : NULL);
    /* Tests must not depend on the caller's environment. */
    unsetenv("AWS_XRAY_DAEMON_ADDRESS");
    unsetenv("AWS_XRAY_CONTEXT_MISSING");
    unsetenv("AWS_XRAY_SDK_ENABLED");
    unsetenv("AWS_XRAY_TRACING_NAME");
    unsetenv("AWS_LAMBDA_FUNCTION_NAME");
    unsetenv("_X_AMZN_TRACE_ID");
    harness_capture_diagnostics();

    suite_status();
    suite_recorder();
    suite_entity();
    suite_fields();
    suite_current();
    suite_diagnostics();
    suite_headers();
    suite_vectors();
    suite_udp();
    suite_sampling();

    oxray_current_clear();
    oxray_diagnostics_set_callback(NULL, NULL);
    return harness_finish();
}

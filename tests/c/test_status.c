/* oxray_version, oxray_status_name, oxray_last_error. */
#include <string.h>

#include "harness.h"
#include "suites.h"

static void version_is_a_static_semver(void) {
    const char *v = oxray_version();
    CHECK(v != NULL);
    CHECK(v && v[0] >= '0' && v[0] <= '9');
    CHECK(v && strchr(v, '.') != NULL);
}

static void every_status_has_its_fixed_number_and_name(void) {
    static const struct {
        oxray_status status;
        int number;
        const char *name;
    } table[] = {
        {OXRAY_OK, 0, "OXRAY_OK"},
        {OXRAY_NULL_ARGUMENT, 1, "OXRAY_NULL_ARGUMENT"},
        {OXRAY_INVALID_UTF8, 2, "OXRAY_INVALID_UTF8"},
        {OXRAY_INVALID_ARGUMENT, 3, "OXRAY_INVALID_ARGUMENT"},
        {OXRAY_INVALID_JSON, 4, "OXRAY_INVALID_JSON"},
        {OXRAY_INVALID_HANDLE, 5, "OXRAY_INVALID_HANDLE"},
        {OXRAY_ALREADY_ENDED, 6, "OXRAY_ALREADY_ENDED"},
        {OXRAY_RESERVED_NAMESPACE, 7, "OXRAY_RESERVED_NAMESPACE"},
        {OXRAY_CONTEXT_MISSING, 8, "OXRAY_CONTEXT_MISSING"},
        {OXRAY_BUFFER_TOO_SMALL, 9, "OXRAY_BUFFER_TOO_SMALL"},
        {OXRAY_TIMEOUT, 10, "OXRAY_TIMEOUT"},
        {OXRAY_INVALID_HEADER, 11, "OXRAY_INVALID_HEADER"},
        {OXRAY_INVALID_CONFIG, 12, "OXRAY_INVALID_CONFIG"},
        {OXRAY_INVALID_ADDRESS, 13, "OXRAY_INVALID_ADDRESS"},
        {OXRAY_PANIC, 100, "OXRAY_PANIC"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        CHECK((int)table[i].status == table[i].number);
        CHECK_STR(oxray_status_name(table[i].number), table[i].name);
    }
    CHECK_STR(oxray_status_name(14), "OXRAY_UNKNOWN_STATUS");
    CHECK_STR(oxray_status_name(-1), "OXRAY_UNKNOWN_STATUS");
    CHECK_STR(oxray_status_name(99), "OXRAY_UNKNOWN_STATUS");
}

static void last_error_describes_the_last_failure_only(void) {
    oxray_entity *segment = HARNESS_BOGUS_ENTITY;
    CHECK_STATUS(oxray_recorder_begin_segment(NULL, "x", NULL, &segment), OXRAY_NULL_ARGUMENT);
    CHECK(segment == NULL); /* out-pointers are reset on failure */

    size_t needed = oxray_last_error(NULL, 0);
    CHECK(needed > 1);
    char full[256];
    CHECK(oxray_last_error(full, sizeof full) == needed);
    CHECK(strlen(full) + 1 == needed);
    CHECK(strstr(full, "recorder must not be NULL") != NULL);

    /* A short buffer gets a NUL-terminated prefix and the full size is still reported. */
    char small[5];
    memset(small, 'x', sizeof small);
    CHECK(oxray_last_error(small, sizeof small) == needed);
    CHECK(small[4] == '\0');
    CHECK(strncmp(small, full, 4) == 0);

    /* A successful status-returning call clears the message. */
    CHECK_OK(oxray_diagnostics_set_level(OXRAY_LEVEL_WARN));
    CHECK(oxray_last_error(full, sizeof full) == 1);
    CHECK_STR(full, "");
}

void suite_status(void) {
    RUN(version_is_a_static_semver);
    RUN(every_status_has_its_fixed_number_and_name);
    RUN(last_error_describes_the_last_failure_only);
}

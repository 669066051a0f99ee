/* A tiny test harness for the oxray C tests: checks, test cases, and capture of every document
 * seen (written one per line to a file that test.sh validates against the schema). */
#ifndef OXRAY_TEST_HARNESS_H
#define OXRAY_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>

#include "json_reader.h"
#include "oxray.h"

/* Where the shared vectors are (tests/vectors), set by main. */
extern const char *harness_vectors_dir;

bool harness_check(bool ok, const char *what, const char *file, int line);
bool harness_check_status(oxray_status got, oxray_status want, const char *what, const char *file, int line);
bool harness_check_str(const char *got, const char *want, const char *what, const char *file, int line);

/* A boolean check. */
#define CHECK(cond) harness_check((cond), #cond, __FILE__, __LINE__)
/* `expr` (an oxray call) must answer `want`; on mismatch the names and last error are shown. */
#define CHECK_STATUS(expr, want) harness_check_status((expr), (want), #expr, __FILE__, __LINE__)
#define CHECK_OK(expr) CHECK_STATUS(expr, OXRAY_OK)
/* Two strings must be equal (NULL equals only NULL). */
#define CHECK_STR(got, want) harness_check_str((got), (want), #got, __FILE__, __LINE__)

/* Runs one test case; it fails if any check in it failed. */
void harness_run(const char *name, void (*test)(void));
#define RUN(test) harness_run(#test, test)

/* Prints "N passed, N failed" and returns the process exit code. */
int harness_finish(void);

/* Opens the file every seen document is appended to (one per line); NULL disables it. */
void harness_open_documents_file(const char *path);
/* Appends one document (exact bytes received) to that file. */
void harness_record_document(const char *json, size_t len);

/* Installs a diagnostics callback that keeps messages instead of printing them (thread-safe). */
void harness_capture_diagnostics(void);
/* Diagnostics received by that callback so far, and whether any contains `needle`. */
int harness_diagnostics_count(void);
bool harness_diagnostics_contain(const char *needle);

/* The message of oxray_last_error(), in a static buffer. */
const char *harness_last_error(void);

/* The documents of a memory-mode recorder, parsed. `text` backs the raw spans of `array`. */
typedef struct harness_documents {
    char *text;
    json_value *array;
} harness_documents;

/* Takes the recorder's documents (oxray_recorder_take_documents), records each one, and parses
 * them. On failure the array is NULL (and a check has failed). */
harness_documents harness_take_documents(const oxray_recorder *recorder);
void harness_documents_free(harness_documents *docs);
/* The number of documents, 0 if none or on failure. */
size_t harness_documents_count(const harness_documents *docs);
/* Checks that exactly one document was taken and returns it (NULL otherwise). */
const json_value *harness_only_document(const harness_documents *docs);
/* Document `i`, or NULL. */
const json_value *harness_document(const harness_documents *docs, size_t i);

/* A memory-mode recorder with the given extra config members (e.g. "\"context_missing\":\"IGNORE_ERROR\"",
 * or "" for none). */
oxray_recorder *harness_memory_recorder(const char *extra_config);

/* Copies an entity's id / trace id into caller buffers of OXRAY_ENTITY_ID_SIZE / OXRAY_TRACE_ID_SIZE. */
void harness_entity_id(const oxray_entity *entity, char out[OXRAY_ENTITY_ID_SIZE]);
void harness_trace_id(const oxray_entity *entity, char out[OXRAY_TRACE_ID_SIZE]);

/* A string that is not valid UTF-8. */
extern const char HARNESS_BAD_UTF8[];

/* A handle value that oxray never made. */
#define HARNESS_BOGUS_ENTITY ((oxray_entity *)(void *)(size_t)0x5a5a5a50u)
#define HARNESS_BOGUS_RECORDER ((oxray_recorder *)(void *)(size_t)0x5a5a5a50u)

#endif

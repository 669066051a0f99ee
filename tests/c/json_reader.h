/* A small JSON reader for the C tests: parses a whole text into a tree (strict RFC 8259,
 * UTF-8 in and out, \u escapes with surrogate pairs), keeps each value's raw text span so that
 * a sub-value can be handed to oxray as JSON text, and compares values. Not for production. */
#ifndef OXRAY_TEST_JSON_READER_H
#define OXRAY_TEST_JSON_READER_H

#include <stdbool.h>
#include <stddef.h>

typedef enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value json_value;

struct json_value {
    json_type type;
    bool boolean;
    double number;
    bool is_integer;   /* a number written without fraction or exponent */
    char *string;      /* decoded, NUL-terminated (may hold no NUL inside: such input is refused) */
    size_t count;      /* array items or object members */
    json_value **items;
    char **keys;       /* object member names, decoded */
    const char *raw;   /* this value's text in the source */
    size_t raw_len;
};

/* Parses `text`; NULL on error (with a message in `error`, if given, of `error_len` bytes).
 * The tree points into `text` (raw spans): keep `text` alive while using it. */
json_value *json_parse(const char *text, char *error, size_t error_len);
void json_free(json_value *value);

/* Object member by name, or NULL. */
const json_value *json_get(const json_value *object, const char *key);
/* Member string, or NULL if absent or not a string. */
const char *json_get_string(const json_value *object, const char *key);

/* Deep equality (numbers compared as doubles; object members in any order). */
bool json_equal(const json_value *a, const json_value *b);

/* Reads a whole file into a NUL-terminated buffer (free it); NULL on error. */
char *json_read_file(const char *path);

#endif

/* See json_reader.h. A recursive-descent parser with a depth bound. */
#include "json_reader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 1024

typedef struct parser {
    const char *p;
    const char *end;
    const char *error;
    int depth;
} parser;

static void skip_ws(parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) {
        ps->p++;
    }
}

static json_value *new_value(json_type type, const char *raw) {
    json_value *v = calloc(1, sizeof *v);
    if (v) {
        v->type = type;
        v->raw = raw;
    }
    return v;
}

static bool fail(parser *ps, const char *why) {
    if (!ps->error) {
        ps->error = why;
    }
    return false;
}

static bool append_utf8(char **buf, size_t *len, size_t *cap, unsigned long cp) {
    if (*len + 5 > *cap) {
        size_t next = *cap ? *cap * 2 : 32;
        char *grown = realloc(*buf, next);
        if (!grown) {
            return false;
        }
        *buf = grown;
        *cap = next;
    }
    char *o = *buf + *len;
    if (cp < 0x80) {
        o[0] = (char)cp;
        *len += 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        *len += 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        *len += 3;
    } else {
        o[0] = (char)(0xF0 | (cp >> 18));
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[3] = (char)(0x80 | (cp & 0x3F));
        *len += 4;
    }
    (*buf)[*len] = '\0';
    return true;
}

static int hex4(const char *s, unsigned long *out) {
    unsigned long v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= (unsigned long)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            v |= (unsigned long)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            v |= (unsigned long)(c - 'A' + 10);
        } else {
            return 0;
        }
    }
    *out = v;
    return 1;
}

/* Parses a string literal at ps->p (on the opening quote) into a new buffer. */
static char *parse_string_text(parser *ps) {
    char *buf = NULL;
    size_t len = 0, cap = 0;
    if (!append_utf8(&buf, &len, &cap, 'x')) {
        return NULL;
    }
    len = 0;
    buf[0] = '\0';
    ps->p++; /* opening quote */
    while (ps->p < ps->end) {
        unsigned char c = (unsigned char)*ps->p;
        if (c == '"') {
            ps->p++;
            return buf;
        }
        if (c < 0x20) {
            fail(ps, "control character in string");
            break;
        }
        if (c != '\\') {
            /* Raw UTF-8 bytes are copied as they are. */
            if (len + 2 > cap) {
                size_t next = cap * 2;
                char *grown = realloc(buf, next);
                if (!grown) {
                    break;
                }
                buf = grown;
                cap = next;
            }
            buf[len++] = (char)c;
            buf[len] = '\0';
            ps->p++;
            continue;
        }
        ps->p++;
        if (ps->p >= ps->end) {
            break;
        }
        char e = *ps->p++;
        unsigned long cp;
        switch (e) {
        case '"': cp = '"'; break;
        case '\\': cp = '\\'; break;
        case '/': cp = '/'; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u':
            if (ps->end - ps->p < 4 || !hex4(ps->p, &cp)) {
                fail(ps, "bad \\u escape");
                free(buf);
                return NULL;
            }
            ps->p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned long low;
                if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' || !hex4(ps->p + 2, &low) ||
                    low < 0xDC00 || low > 0xDFFF) {
                    fail(ps, "unpaired surrogate");
                    free(buf);
                    return NULL;
                }
                ps->p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                fail(ps, "unpaired surrogate");
                free(buf);
                return NULL;
            }
            if (cp == 0) {
                fail(ps, "\\u0000 is not supported");
                free(buf);
                return NULL;
            }
            break;
        default:
            fail(ps, "bad escape");
            free(buf);
            return NULL;
        }
        if (!append_utf8(&buf, &len, &cap, cp)) {
            break;
        }
    }
    fail(ps, "unterminated string");
    free(buf);
    return NULL;
}

static json_value *parse_value(parser *ps);

static bool push_item(json_value *v, json_value *item, char *key) {
    json_value **items = realloc(v->items, (v->count + 1) * sizeof *items);
    if (!items) {
        return false;
    }
    v->items = items;
    if (v->type == JSON_OBJECT) {
        char **keys = realloc(v->keys, (v->count + 1) * sizeof *keys);
        if (!keys) {
            return false;
        }
        v->keys = keys;
        v->keys[v->count] = key;
    }
    v->items[v->count++] = item;
    return true;
}

static json_value *parse_container(parser *ps, json_type type) {
    const char close = type == JSON_ARRAY ? ']' : '}';
    json_value *v = new_value(type, ps->p);
    if (!v) {
        return NULL;
    }
    if (++ps->depth > MAX_DEPTH) {
        fail(ps, "nested too deeply");
        json_free(v);
        return NULL;
    }
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        ps->depth--;
        v->raw_len = (size_t)(ps->p - v->raw);
        return v;
    }
    for (;;) {
        char *key = NULL;
        skip_ws(ps);
        if (type == JSON_OBJECT) {
            if (ps->p >= ps->end || *ps->p != '"') {
                fail(ps, "expected a member name");
                break;
            }
            key = parse_string_text(ps);
            if (!key) {
                break;
            }
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                fail(ps, "expected ':'");
                free(key);
                break;
            }
            ps->p++;
        }
        json_value *item = parse_value(ps);
        if (!item || !push_item(v, item, key)) {
            json_free(item);
            free(key);
            break;
        }
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            ps->depth--;
            v->raw_len = (size_t)(ps->p - v->raw);
            return v;
        }
        fail(ps, "expected ',' or a closing bracket");
        break;
    }
    json_free(v);
    return NULL;
}

static json_value *parse_number(parser *ps) {
    const char *start = ps->p;
    const char *q = ps->p;
    bool integer = true;
    if (q < ps->end && *q == '-') {
        q++;
    }
    if (q >= ps->end || !(*q >= '0' && *q <= '9')) {
        fail(ps, "bad number");
        return NULL;
    }
    if (*q == '0') {
        q++;
    } else {
        while (q < ps->end && *q >= '0' && *q <= '9') q++;
    }
    if (q < ps->end && *q == '.') {
        integer = false;
        q++;
        if (q >= ps->end || !(*q >= '0' && *q <= '9')) {
            fail(ps, "bad fraction");
            return NULL;
        }
        while (q < ps->end && *q >= '0' && *q <= '9') q++;
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        integer = false;
        q++;
        if (q < ps->end && (*q == '+' || *q == '-')) q++;
        if (q >= ps->end || !(*q >= '0' && *q <= '9')) {
            fail(ps, "bad exponent");
            return NULL;
        }
        while (q < ps->end && *q >= '0' && *q <= '9') q++;
    }
    json_value *v = new_value(JSON_NUMBER, start);
    if (!v) {
        return NULL;
    }
    char tmp[64];
    size_t n = (size_t)(q - start);
    if (n >= sizeof tmp) {
        n = sizeof tmp - 1;
    }
    memcpy(tmp, start, n);
    tmp[n] = '\0';
    v->number = strtod(tmp, NULL);
    v->is_integer = integer;
    v->raw_len = (size_t)(q - start);
    ps->p = q;
    return v;
}

static bool literal(parser *ps, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, word, n) == 0) {
        ps->p += n;
        return true;
    }
    return false;
}

static json_value *parse_value(parser *ps) {
    skip_ws(ps);
    if (ps->p >= ps->end) {
        fail(ps, "unexpected end of text");
        return NULL;
    }
    const char *start = ps->p;
    json_value *v = NULL;
    switch (*ps->p) {
    case '{': return parse_container(ps, JSON_OBJECT);
    case '[': return parse_container(ps, JSON_ARRAY);
    case '"': {
        char *s = parse_string_text(ps);
        if (!s) {
            return NULL;
        }
        v = new_value(JSON_STRING, start);
        if (!v) {
            free(s);
            return NULL;
        }
        v->string = s;
        break;
    }
    case 't':
    case 'f':
    case 'n':
        if (literal(ps, "true") || literal(ps, "false")) {
            v = new_value(JSON_BOOL, start);
            if (v) v->boolean = *start == 't';
        } else if (literal(ps, "null")) {
            v = new_value(JSON_NULL, start);
        } else {
            fail(ps, "bad literal");
            return NULL;
        }
        break;
    default:
        return parse_number(ps);
    }
    if (v) {
        v->raw_len = (size_t)(ps->p - start);
    }
    return v;
}

json_value *json_parse(const char *text, char *error, size_t error_len) {
    parser ps = {text, text + strlen(text), NULL, 0};
    json_value *v = parse_value(&ps);
    if (v) {
        skip_ws(&ps);
        if (ps.p != ps.end) {
            fail(&ps, "trailing text after the value");
            json_free(v);
            v = NULL;
        }
    }
    if (!v && error && error_len) {
        snprintf(error, error_len, "%s at offset %ld", ps.error ? ps.error : "out of memory",
                 (long)(ps.p - text));
    }
    return v;
}

void json_free(json_value *v) {
    if (!v) {
        return;
    }
    for (size_t i = 0; i < v->count; i++) {
        json_free(v->items[i]);
        if (v->keys) {
            free(v->keys[i]);
        }
    }
    free(v->items);
    free(v->keys);
    free(v->string);
    free(v);
}

const json_value *json_get(const json_value *object, const char *key) {
    if (!object || object->type != JSON_OBJECT) {
        return NULL;
    }
    for (size_t i = 0; i < object->count; i++) {
        if (strcmp(object->keys[i], key) == 0) {
            return object->items[i];
        }
    }
    return NULL;
}

const char *json_get_string(const json_value *object, const char *key) {
    const json_value *v = json_get(object, key);
    return v && v->type == JSON_STRING ? v->string : NULL;
}

bool json_equal(const json_value *a, const json_value *b) {
    if (!a || !b || a->type != b->type) {
        return false;
    }
    switch (a->type) {
    case JSON_NULL: return true;
    case JSON_BOOL: return a->boolean == b->boolean;
    case JSON_NUMBER: return a->number == b->number;
    case JSON_STRING: return strcmp(a->string, b->string) == 0;
    case JSON_ARRAY:
        if (a->count != b->count) return false;
        for (size_t i = 0; i < a->count; i++) {
            if (!json_equal(a->items[i], b->items[i])) return false;
        }
        return true;
    case JSON_OBJECT:
        if (a->count != b->count) return false;
        for (size_t i = 0; i < a->count; i++) {
            if (!json_equal(a->items[i], json_get(b, a->keys[i]))) return false;
        }
        return true;
    }
    return false;
}

char *json_read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            size_t next = cap ? cap * 2 : 8192;
            char *grown = realloc(buf, next);
            if (!grown) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = grown;
            cap = next;
        }
        size_t n = fread(buf + len, 1, 4096, f);
        len += n;
        if (n < 4096) {
            break;
        }
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

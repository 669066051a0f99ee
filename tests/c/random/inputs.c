/* See inputs.h. */
#include "inputs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *rc_alloc(rc_arena *a, size_t n) {
    if (a->count == sizeof a->blocks / sizeof a->blocks[0]) {
        abort(); /* a harness bug: one call never needs this many strings */
    }
    void *p = malloc(n);
    if (!p) {
        abort();
    }
    a->blocks[a->count++] = p;
    return p;
}

void rc_arena_release(rc_arena *a) {
    for (size_t i = 0; i < a->count; i++) {
        free(a->blocks[i]);
    }
    a->count = 0;
}

static const char *const WORDS[] = {
    "checkout", "payments.example.com", "## app.handler", "### step", "sélection", "日本語の名前", "emoji 😀 ok",
    "a b c", "x:y/z=1+2@h", "key_1", "Key-With.Dots", "AWS.reserved", "aws", "remote", "local", "default",
    "GET", "https://example.com/a?b=c", "10.0.0.1", "Mozilla/5.0", "statement", "call", "\t tabs\n lines",
    "quote\"back\\slash", "\xe2\x80\xa8 line separator", "\xef\xbf\xbf max BMP", "\xf4\x8f\xbf\xbf max code point",
};
#define WORD_COUNT (sizeof WORDS / sizeof WORDS[0])

/* Appends one valid UTF-8 character of 1-4 bytes; returns its length. */
static size_t put_char(rc_rng *r, char *out) {
    switch (rc_below(r, 8)) {
    case 0: { /* 2 bytes: U+0080..U+07FF */
        unsigned c = 0x80 + (unsigned)rc_below(r, 0x780);
        out[0] = (char)(0xc0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    case 1: { /* 3 bytes, outside the surrogates */
        unsigned c = 0x800 + (unsigned)rc_below(r, 0xf800 - 0x800);
        if (c >= 0xd800) {
            c += 0x800;
        }
        out[0] = (char)(0xe0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        out[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    case 2: { /* 4 bytes */
        unsigned c = 0x10000 + (unsigned)rc_below(r, 0x100000);
        out[0] = (char)(0xf0 | (c >> 18));
        out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
        out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
        out[3] = (char)(0x80 | (c & 0x3f));
        return 4;
    }
    default: /* printable ASCII and a few controls */
        out[0] = rc_one_in(r, 20) ? (char)(1 + rc_below(r, 31)) : (char)(' ' + rc_below(r, 95));
        return 1;
    }
}

/* `chars` random valid characters (up to 4 bytes each). */
static char *random_utf8(rc_inputs *in, size_t chars) {
    char *s = rc_alloc(in->arena, chars * 4 + 1);
    size_t n = 0;
    for (size_t i = 0; i < chars; i++) {
        n += put_char(in->rng, s + n);
    }
    s[n] = '\0';
    return s;
}

/* A valid string of `bytes` bytes or a little more (megabytes: one repeated pattern). */
static char *huge_utf8(rc_inputs *in, size_t bytes) {
    static const char pattern[] = "huge-\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x98\x80-";
    size_t plen = sizeof pattern - 1;
    char *s = rc_alloc(in->arena, bytes + plen + 1);
    size_t n = 0;
    while (n < bytes) {
        memcpy(s + n, pattern, plen);
        n += plen;
    }
    s[n] = '\0';
    return s;
}

static size_t huge_size(rc_inputs *in) {
    return (1u << 20) + rc_below(in->rng, 2u << 20); /* 1-3 MB */
}

const char *rc_good_string(rc_inputs *in, bool may_be_empty) {
    rc_rng *r = in->rng;
    size_t pick = rc_below(r, 100);
    if (may_be_empty && pick < 3) {
        return "";
    }
    if (pick < 45) {
        return WORDS[rc_below(r, WORD_COUNT)];
    }
    if (pick < 80) {
        return random_utf8(in, 1 + rc_below(r, 30));
    }
    if (pick < 90) {
        return random_utf8(in, 200 + rc_below(r, 1200)); /* over the 200/250/1000 limits */
    }
    if (pick < 96 || !in->huge_allowed || !rc_one_in(r, 32)) {
        /* Embedded NUL: only the part before it exists for oxray. */
        const char *prefix = WORDS[rc_below(r, WORD_COUNT)];
        size_t plen = strlen(prefix);
        char *s = rc_alloc(in->arena, plen + 32);
        memcpy(s, prefix, plen);
        s[plen] = '\0';
        memcpy(s + plen + 1, RC_LEAK_MARKER "\xff\xfe tail", sizeof RC_LEAK_MARKER + 7);
        return s;
    }
    return huge_utf8(in, huge_size(in));
}

static const char *const BAD_SEQUENCES[] = {
    "\xff",             /* never valid */
    "\xc0\x80",         /* overlong NUL */
    "\xed\xa0\x80",     /* a UTF-16 surrogate */
    "\xf4\x90\x80\x80", /* above U+10FFFF */
    "\x80",             /* lone continuation byte */
    "\xe2\x82",         /* truncated sequence */
    "\xf8\x88\x80\x80\x80",
    "\xc3",
};

static char *bad_utf8(rc_inputs *in) {
    rc_rng *r = in->rng;
    const char *bad = BAD_SEQUENCES[rc_below(r, sizeof BAD_SEQUENCES / sizeof BAD_SEQUENCES[0])];
    const char *prefix;
    if (in->huge_allowed && rc_one_in(r, 200)) {
        prefix = huge_utf8(in, huge_size(in)); /* the bad byte after megabytes of good text */
    } else {
        prefix = rc_one_in(r, 2) ? WORDS[rc_below(r, WORD_COUNT)] : random_utf8(in, rc_below(r, 20));
    }
    size_t plen = strlen(prefix), blen = strlen(bad);
    const char *suffix = rc_one_in(r, 2) ? "" : "tail";
    size_t slen = strlen(suffix);
    char *s = rc_alloc(in->arena, plen + blen + slen + 1);
    memcpy(s, prefix, plen);
    memcpy(s + plen, bad, blen);
    memcpy(s + plen + blen, suffix, slen + 1);
    return s;
}

rc_text rc_string(rc_inputs *in) {
    size_t pick = rc_below(in->rng, 100);
    if (pick < 6) {
        return (rc_text){NULL, RC_NULL};
    }
    if (pick < 12) {
        return (rc_text){bad_utf8(in), RC_BAD_UTF8};
    }
    if (pick < 16) {
        return (rc_text){"", RC_EMPTY};
    }
    return (rc_text){rc_good_string(in, false), RC_GOOD};
}

static const char *const VALID_JSON[] = {
    "42", "-1.5e3", "0", "true", "false", "null", "\"text\"", "\"caf\\u00e9 \\ud83d\\ude00 \\n\\t\\\"\"",
    "\"日本語\"", "[]", "{}", "[1,2,3]", "{\"a\":[1,2,{\"b\":\"c\"}],\"d\":null}", " { \"spaced\" : [ 1 , 2 ] } ",
    "1e308", "-0", "12345678901234567890", "{\"dup\":1,\"dup\":2}", "\"\\u2028\"",
};
static const char *const INVALID_JSON[] = {
    "", "{", "[1,]", "NaN", "Infinity", "-Infinity", "1 2", "'x'", "{\"a\":}", "\"unterminated", "01",
    "[1]]", "\"\x01\"", "{\"a\" 1}", "tru", "nul", "[", "\"\\x\"", "\"\\ud800\"x", "+1", ".5", "{a:1}",
};

/* Nested arrays and objects, `depth` levels. */
static char *nested_json(rc_inputs *in, size_t depth) {
    char *s = rc_alloc(in->arena, depth * 8 + 16);
    size_t n = 0;
    for (size_t i = 0; i < depth; i++) {
        if (i % 2) {
            memcpy(s + n, "{\"k\":", 5);
            n += 5;
        } else {
            s[n++] = '[';
        }
    }
    s[n++] = '1';
    for (size_t i = depth; i-- > 0;) {
        s[n++] = i % 2 ? '}' : ']';
    }
    s[n] = '\0';
    return s;
}

/* A JSON string holding `text` (which must need no escaping). */
static char *quoted(rc_inputs *in, const char *text) {
    size_t len = strlen(text);
    char *s = rc_alloc(in->arena, len + 3);
    s[0] = '"';
    memcpy(s + 1, text, len);
    s[len + 1] = '"';
    s[len + 2] = '\0';
    return s;
}

rc_json rc_json_text(rc_inputs *in) {
    rc_rng *r = in->rng;
    size_t pick = rc_below(r, 100);
    if (pick < 5) {
        return (rc_json){NULL, RC_JSON_NULL};
    }
    if (pick < 10) {
        return (rc_json){bad_utf8(in), RC_JSON_BAD_UTF8};
    }
    if (pick < 25) {
        return (rc_json){INVALID_JSON[rc_below(r, sizeof INVALID_JSON / sizeof INVALID_JSON[0])], RC_JSON_INVALID};
    }
    if (pick < 28) {
        return (rc_json){nested_json(in, 200 + rc_below(r, 2000)), RC_JSON_DEEP};
    }
    if (pick < 35) {
        return (rc_json){nested_json(in, 1 + rc_below(r, 20)), RC_JSON_VALID};
    }
    if (pick < 37 && in->huge_allowed && rc_one_in(r, 16)) {
        return (rc_json){quoted(in, huge_utf8(in, huge_size(in))), RC_JSON_VALID};
    }
    if (pick < 39) {
        /* A longer string value: kilobytes, pushing documents towards the bound. */
        size_t n = 1000 + rc_below(r, 20000);
        char *text = rc_alloc(in->arena, n + 1);
        memset(text, 'p', n);
        text[n] = '\0';
        return (rc_json){quoted(in, text), RC_JSON_VALID};
    }
    return (rc_json){VALID_JSON[rc_below(r, sizeof VALID_JSON / sizeof VALID_JSON[0])], RC_JSON_VALID};
}

void rc_hex(rc_rng *rng, char *out, size_t digits) {
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < digits; i++) {
        out[i] = hex[rc_below(rng, 16)];
    }
    out[digits] = '\0';
}

static const char *const MALFORMED_HEADERS[] = {
    "", ";;;", "Root", "Root=1-zz59e988-bd862e3fe1be46a994272793", "Root=1-5759e988-bd862e3fe1be46a99427279",
    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=2",
    "Root=2-5759e988-bd862e3fe1be46a994272793", "Parent=xyz;Sampled=1", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent",
};

rc_header rc_trace_header(rc_inputs *in) {
    rc_rng *r = in->rng;
    size_t pick = rc_below(r, 100);
    if (pick < 15) {
        return (rc_header){NULL, RC_HEADER_NULL};
    }
    if (pick < 20) {
        return (rc_header){bad_utf8(in), RC_HEADER_BAD_UTF8};
    }
    if (pick < 30) {
        return (rc_header){MALFORMED_HEADERS[rc_below(r, sizeof MALFORMED_HEADERS / sizeof MALFORMED_HEADERS[0])],
                           RC_HEADER_MALFORMED};
    }
    if (pick < 32) {
        /* Over the 8,192-byte bound: refused as a whole. */
        size_t n = 8200 + rc_below(r, 20000);
        char *s = rc_alloc(in->arena, n + 1);
        memcpy(s, "Root=1-5759e988-bd862e3fe1be46a994272793;X=", 43);
        memset(s + 43, 'v', n - 43);
        s[n] = '\0';
        return (rc_header){s, RC_HEADER_MALFORMED};
    }
    char epoch[9], random[25], parent[17];
    rc_hex(r, epoch, 8);
    rc_hex(r, random, 24);
    rc_hex(r, parent, 16);
    char *s = rc_alloc(in->arena, 256);
    const char *extra = rc_one_in(r, 4) ? ";Lineage=a87bd80c:1|68fd508a:5;Foo=bar" : "";
    switch (rc_below(r, 5)) {
    case 0:
        snprintf(s, 256, "Root=1-%s-%s;Parent=%s;Sampled=0%s", epoch, random, parent, extra);
        return (rc_header){s, RC_HEADER_UNSAMPLED};
    case 1:
        snprintf(s, 256, " Root=1-%s-%s;Parent=%s%s ", epoch, random, parent, rc_one_in(r, 2) ? ";Sampled=?" : "");
        return (rc_header){s, RC_HEADER_UNDECIDED};
    case 2:
        snprintf(s, 256, "Root=1-%s-%s;Sampled=1%s", epoch, random, extra);
        return (rc_header){s, RC_HEADER_ROOT_ONLY};
    default:
        snprintf(s, 256, "Self=1-abc;Root=1-%s-%s;Parent=%s;Sampled=1%s", epoch, random, parent, extra);
        return (rc_header){s, RC_HEADER_SAMPLED};
    }
}

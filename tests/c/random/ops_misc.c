/* Random calls of the functions that take no handle: trace headers, daemon addresses, rule
 * queries, status names, the last error, diagnostics. */
#include <stdio.h>
#include <string.h>

#include "ops.h"

void rc_op_trace_header(rc_world *w) {
    rc_header h = rc_trace_header(&w->in);
    rc_mask misuse = h.kind == RC_HEADER_NULL       ? RC_BIT(OXRAY_NULL_ARGUMENT)
                     : h.kind == RC_HEADER_BAD_UTF8  ? RC_BIT(OXRAY_INVALID_UTF8)
                     : h.kind == RC_HEADER_MALFORMED ? RC_BIT(OXRAY_INVALID_HEADER)
                                                     : 0;
    switch (rc_below(&w->rng, 3)) {
    case 0: {
        oxray_trace_header_fields f;
        memset(&f, 0x55, sizeof f);
        bool null_out = rc_one_in(&w->rng, 10);
        oxray_status s = oxray_trace_header_parse(h.p, null_out ? NULL : &f);
        rc_mask hard = misuse | (null_out ? RC_BIT(OXRAY_NULL_ARGUMENT) : 0);
        rc_expect("oxray_trace_header_parse", s, hard ? hard : RC_OK);
        if (s == OXRAY_INVALID_HEADER && (f.error == OXRAY_HEADER_ERROR_NONE || f.root[0] || f.parent[0])) {
            rc_fail("oxray_trace_header_parse", "a refused header left fields set or no error reason");
        }
        if (s == OXRAY_OK) {
            oxray_sampled want = h.kind == RC_HEADER_SAMPLED || h.kind == RC_HEADER_ROOT_ONLY ? OXRAY_SAMPLED_YES
                                 : h.kind == RC_HEADER_UNSAMPLED                              ? OXRAY_SAMPLED_NO
                                                                                              : f.sampled;
            if (strlen(f.root) != 35 || f.error != OXRAY_HEADER_ERROR_NONE || f.sampled != want ||
                (h.kind != RC_HEADER_ROOT_ONLY && strlen(f.parent) != 16)) {
                rc_fail("oxray_trace_header_parse", "the fields do not match the header");
            }
        }
        break;
    }
    case 1: {
        rc_out_call call;
    rc_out_begin(w, &call);
        oxray_status s = oxray_trace_header_normalize(h.p, call.buf, call.len, call.needed);
        if (misuse) {
            rc_expect("oxray_trace_header_normalize", s, misuse | call.misuse);
        } else if (rc_out_check("oxray_trace_header_normalize", &call, s) && s == OXRAY_OK &&
                   (strncmp(call.buf, "Root=1-", 7) != 0 || strstr(call.buf, "Self=") || strchr(call.buf, ' '))) {
            rc_fail("oxray_trace_header_normalize", "the canonical form is not Root first, without Self and spaces");
        }
        rc_out_end(&call);
        break;
    }
    default: {
        char root[40], parent[17];
        char epoch[9], random[25];
        rc_hex(&w->rng, epoch, 8);
        rc_hex(&w->rng, random, 24);
        snprintf(root, sizeof root, "1-%s-%s", epoch, random);
        rc_hex(&w->rng, parent, 16);
        const char *r = root, *p = parent;
        rc_mask hard = 0;
        size_t pr = rc_below(&w->rng, 6), pp = rc_below(&w->rng, 6);
        if (pr == 0) {
            r = NULL;
        } else if (pr == 1) {
            r = "1-xyz";
            hard |= RC_BIT(OXRAY_INVALID_ARGUMENT);
        } else if (pr == 2) {
            r = "\xff\xfe";
            hard |= RC_BIT(OXRAY_INVALID_UTF8);
        }
        if (pp == 0) {
            p = NULL;
        } else if (pp == 1) {
            p = "12345";
            hard |= RC_BIT(OXRAY_INVALID_ARGUMENT);
        } else if (pp == 2) {
            p = "\xc0\x80";
            hard |= RC_BIT(OXRAY_INVALID_UTF8);
        }
        int32_t sampled = (int32_t)rc_below(&w->rng, 6) - 1; /* -1..4: two are not oxray_sampled values */
        if (sampled < 0 || sampled > 3) {
            hard |= RC_BIT(OXRAY_INVALID_ARGUMENT);
        }
        if (!r && !p && sampled == OXRAY_SAMPLED_ABSENT) {
            hard |= RC_BIT(OXRAY_INVALID_ARGUMENT); /* no part at all */
        }
        rc_out_call call;
    rc_out_begin(w, &call);
        oxray_status s = oxray_trace_header_format(r, p, sampled, call.buf, call.len, call.needed);
        if (hard) {
            rc_expect("oxray_trace_header_format", s, hard | call.misuse);
        } else {
            rc_out_check("oxray_trace_header_format", &call, s);
        }
        rc_out_end(&call);
        break;
    }
    }
}

void rc_op_daemon_address(rc_world *w) {
    static const struct {
        const char *text;
        bool valid;
    } cases[] = {
        {"127.0.0.1:2000", true},
        {"tcp:127.0.0.1:2000 udp:127.0.0.2:2001", true},
        {"udp:127.0.0.1:2001 tcp:127.0.0.1:2000", true},
        {"", false},
        {"nohost", false},
        {"127.0.0.1:99999", false},
        {"127.0.0.1:", false},
        {"tcp:127.0.0.1:2000", false},
        {"udp:127.0.0.1:1 udp:127.0.0.1:2", false},
        {"127.0.0.1:2000 extra", false},
    };
    size_t i = rc_below(&w->rng, sizeof cases / sizeof cases[0] + 1);
    const char *text;
    rc_mask hard;
    if (i < sizeof cases / sizeof cases[0]) {
        text = cases[i].text;
        hard = cases[i].valid ? 0 : RC_BIT(OXRAY_INVALID_ADDRESS);
    } else {
        rc_text t = rc_string(&w->in);
        if (t.kind != RC_NULL && t.kind != RC_BAD_UTF8) {
            t = (rc_text){"\xe2\x82", RC_BAD_UTF8};
        }
        text = t.p;
        hard = rc_required(t.kind);
    }
    oxray_daemon_address out;
    memset(&out, 0x55, sizeof out);
    bool null_out = rc_one_in(&w->rng, 10);
    if (null_out) {
        hard |= RC_BIT(OXRAY_NULL_ARGUMENT);
    }
    oxray_status s = oxray_daemon_address_parse(text, null_out ? NULL : &out);
    rc_expect("oxray_daemon_address_parse", s, hard ? hard : RC_OK);
    if (s == OXRAY_INVALID_ADDRESS && (out.udp[0] || out.tcp[0])) {
        rc_fail("oxray_daemon_address_parse", "a refused address left the fields set");
    }
    if (s == OXRAY_OK && (strncmp(out.udp, "127.0.0.", 8) != 0 || strncmp(out.tcp, "127.0.0.", 8) != 0)) {
        rc_fail("oxray_daemon_address_parse", "the parsed addresses are not the ones given");
    }
}

void rc_op_rule_queries(rc_world *w) {
    bool valid;
    const char *rules = rc_rules_text(rc_below(&w->rng, rc_rules_count()), &valid);
    rc_mask hard = valid ? 0 : RC_BIT(OXRAY_INVALID_ARGUMENT);
    if (rc_one_in(&w->rng, 8)) {
        rc_text t = rc_string(&w->in);
        if (t.kind == RC_NULL || t.kind == RC_BAD_UTF8) {
            rules = t.p;
            hard = rc_required(t.kind);
        }
    }
    rc_out_call call;
    rc_out_begin(w, &call);
    oxray_status s;
    const char *fn;
    if (rc_one_in(&w->rng, 2)) {
        rc_text host = rc_string(&w->in), method = rc_string(&w->in), path = rc_string(&w->in);
        oxray_sampling_request request = {host.p, method.p, path.p, "svc", NULL};
        bool null_request = rc_one_in(&w->rng, 4);
        if (!null_request) {
            hard |= rc_optional(host.kind) | rc_optional(method.kind) | rc_optional(path.kind);
        }
        fn = "oxray_sampling_rule_for";
        s = oxray_sampling_rule_for(rules, null_request ? NULL : &request, call.buf, call.len, call.needed);
    } else {
        fn = "oxray_sampling_rule_order";
        s = oxray_sampling_rule_order(rules, call.buf, call.len, call.needed);
    }
    if (hard) {
        rc_expect(fn, s, hard | call.misuse);
    } else {
        rc_out_check(fn, &call, s);
    }
    rc_out_end(&call);
}

void rc_op_status_and_version(rc_world *w) {
    int32_t status = rc_one_in(&w->rng, 2) ? (int32_t)rc_below(&w->rng, 16) : (int32_t)rc_next(&w->rng);
    const char *name = oxray_status_name(status);
    rc_count("oxray_status_name");
    bool known = (status >= 0 && status <= 13) || status == 100;
    if (!name || strncmp(name, "OXRAY_", 6) != 0 || (strcmp(name, "OXRAY_UNKNOWN_STATUS") == 0) == known) {
        rc_fail("oxray_status_name", "not the status's name, or a name for a number that is no status");
    }
    const char *version = oxray_version();
    rc_count("oxray_version");
    if (!version || !version[0] || strchr(version, '.') == NULL) {
        rc_fail("oxray_version", "not a version string");
    }
}

/* Checks that `text` (NUL-terminated) is valid UTF-8. */
static bool is_utf8(const unsigned char *s) {
    while (*s) {
        int n = *s < 0x80 ? 0 : (*s & 0xe0) == 0xc0 ? 1 : (*s & 0xf0) == 0xe0 ? 2 : (*s & 0xf8) == 0xf0 ? 3 : -1;
        if (n < 0) {
            return false;
        }
        s++;
        for (int i = 0; i < n; i++, s++) {
            if ((*s & 0xc0) != 0x80) {
                return false;
            }
        }
    }
    return true;
}

void rc_op_last_error(rc_world *w) {
    /* Make a failure with a message holding multi-byte characters, then read it through
     * buffers of every size: always NUL-terminated, cut on a character boundary. */
    oxray_status s = oxray_daemon_address_parse("é€😀 not an address é€😀", NULL);
    rc_expect("oxray_daemon_address_parse", s, RC_BIT(OXRAY_NULL_ARGUMENT));
    s = oxray_daemon_address_parse("é€😀 not an address é€😀", &(oxray_daemon_address){0});
    rc_expect("oxray_daemon_address_parse", s, RC_BIT(OXRAY_INVALID_ADDRESS));
    size_t whole = oxray_last_error(NULL, 0);
    rc_count("oxray_last_error");
    char buf[512];
    size_t len = rc_below(&w->rng, whole + 2);
    memset(buf, 0x55, sizeof buf);
    size_t again = oxray_last_error(len ? buf : NULL, len);
    rc_count("oxray_last_error");
    if (again != whole || whole < 2 || whole > sizeof buf) {
        rc_fail("oxray_last_error", "the size needed changed or is implausible");
    } else if (len > 0 && (memchr(buf, '\0', len) == NULL || !is_utf8((const unsigned char *)buf))) {
        rc_fail("oxray_last_error", "the message was not NUL-terminated on a character boundary");
    } else if (len >= whole && strlen(buf) + 1 != whole) {
        rc_fail("oxray_last_error", "the whole message did not fit in a buffer of the size needed");
    }
}

static void quiet(oxray_level level, const char *message, void *user_data) {
    (void)level;
    if (!message || !is_utf8((const unsigned char *)message)) {
        rc_fail("diagnostics callback", "a message is NULL or not UTF-8");
    }
    if (user_data) {
        __atomic_fetch_add((unsigned long *)user_data, 1, __ATOMIC_RELAXED);
    }
}

static unsigned long diagnostics_received;

void rc_diagnostics_install(void) {
    oxray_diagnostics_set_callback(quiet, &diagnostics_received);
}

unsigned long rc_diagnostics_received(void) {
    return __atomic_load_n(&diagnostics_received, __ATOMIC_RELAXED);
}

void rc_op_diagnostics(rc_world *w) {
    int32_t level = (int32_t)rc_below(&w->rng, 6) - 2; /* -2..3: 0..2 are levels */
    rc_expect("oxray_diagnostics_set_level", oxray_diagnostics_set_level(level),
              level >= 0 && level <= 2 ? RC_OK : RC_BIT(OXRAY_INVALID_ARGUMENT));
    rc_expect("oxray_diagnostics_set_level", oxray_diagnostics_set_level(OXRAY_LEVEL_WARN), RC_OK);
    /* Swap the sink back and forth while other threads log. */
    rc_expect("oxray_diagnostics_set_callback", oxray_diagnostics_set_callback(quiet, NULL), RC_OK);
    rc_expect("oxray_diagnostics_set_callback",
              oxray_diagnostics_set_callback(quiet, &diagnostics_received), RC_OK);
}

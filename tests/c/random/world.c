/* See world.h. */
#include "world.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink.h"

#define GRAVEYARD 256
static _Atomic(uintptr_t) entity_graveyard[GRAVEYARD];
static _Atomic(uintptr_t) recorder_graveyard[GRAVEYARD];

void rc_graveyard_entity(oxray_entity *h) {
    static _Atomic unsigned next;
    atomic_store(&entity_graveyard[atomic_fetch_add(&next, 1) % GRAVEYARD], (uintptr_t)h);
}

void rc_graveyard_recorder(oxray_recorder *h) {
    static _Atomic unsigned next;
    atomic_store(&recorder_graveyard[atomic_fetch_add(&next, 1) % GRAVEYARD], (uintptr_t)h);
}

/* A made-up token: never issued (serials are small), with each possible tag. */
static uintptr_t made_up(rc_rng *r) {
    return (uintptr_t)(0x7f00000000000000ull | (rc_next(r) & 0x00ffffffffffff00ull) | rc_below(r, 4)) |
           (uintptr_t)(rc_below(r, 2) ? 0 : 0x10);
}

oxray_entity *rc_graveyard_pick_entity(rc_rng *r) {
    uintptr_t h = atomic_load(&entity_graveyard[rc_below(r, GRAVEYARD)]);
    return (oxray_entity *)(h ? h : made_up(r));
}

oxray_recorder *rc_graveyard_pick_recorder(rc_rng *r) {
    uintptr_t h = atomic_load(&recorder_graveyard[rc_below(r, GRAVEYARD)]);
    return (oxray_recorder *)(h ? h : made_up(r));
}

int rc_world_add(rc_world *w, oxray_entity *h, int sink, int sampled_expected, bool facade, int depth) {
    if (w->state_count == w->state_capacity) {
        w->state_capacity = w->state_capacity ? w->state_capacity * 2 : 256;
        w->states = realloc(w->states, (size_t)w->state_capacity * sizeof *w->states);
    }
    rc_state *st = &w->states[w->state_count];
    memset(st, 0, sizeof *st);
    st->sink = sink;
    st->facade = facade;
    st->depth = depth;
    oxray_status s = oxray_entity_id(h, st->id, sizeof st->id, NULL);
    rc_expect("oxray_entity_id", s, RC_OK);
    bool sampled = false;
    s = oxray_entity_is_sampled(h, &sampled);
    rc_expect("oxray_entity_is_sampled", s, RC_OK);
    if (sampled_expected >= 0 && sampled != (sampled_expected == 1)) {
        char what[160];
        snprintf(what, sizeof what, "entity %s is %s, the header says it must be %s", st->id,
                 sampled ? "sampled" : "unsampled", sampled_expected ? "sampled" : "unsampled");
        rc_fail("oxray_entity_is_sampled", what);
    }
    st->sampled = sampled;
    return rc_world_alias(w, h, w->state_count++);
}

int rc_world_alias(rc_world *w, oxray_entity *h, int state) {
    if (w->handle_count == w->handle_capacity) {
        w->handle_capacity = w->handle_capacity ? w->handle_capacity * 2 : 256;
        w->handles = realloc(w->handles, (size_t)w->handle_capacity * sizeof *w->handles);
    }
    w->handles[w->handle_count] = (rc_handle){h, state, false};
    return w->handle_count++;
}

void rc_world_free_handle(rc_world *w, int i) {
    oxray_entity *h = w->handles[i].h;
    oxray_entity_free(h);
    rc_count("oxray_entity_free");
    rc_graveyard_entity(h);
    w->handles[i] = w->handles[--w->handle_count];
}

void rc_world_ended(rc_world *w, int s) {
    rc_state *st = &w->states[s];
    st->ended = true;
    if (st->sampled && !st->facade && st->sink >= 0) {
        rc_ledger_ended(st->sink, st->id);
    }
}

rc_entity_arg rc_pick_entity(rc_world *w) {
    rc_rng *r = &w->rng;
    size_t pick = rc_below(r, 100);
    if (pick < 82 && w->handle_count > 0) {
        int i = (int)rc_below(r, (size_t)w->handle_count);
        return (rc_entity_arg){w->handles[i].h, i, w->handles[i].state, 0};
    }
    if (pick < 88) {
        return (rc_entity_arg){NULL, -1, -1, RC_BIT(OXRAY_NULL_ARGUMENT)};
    }
    if (pick < 96) {
        return (rc_entity_arg){rc_graveyard_pick_entity(r), -1, -1, RC_BIT(OXRAY_INVALID_HANDLE)};
    }
    /* A recorder handle where an entity is expected. */
    oxray_recorder *rec = w->recorders[rc_below(r, (size_t)w->recorder_count)].handle;
    return (rc_entity_arg){(oxray_entity *)(void *)rec, -1, -1, RC_BIT(OXRAY_INVALID_HANDLE)};
}

rc_recorder_arg rc_pick_recorder(rc_world *w) {
    rc_rng *r = &w->rng;
    size_t pick = rc_below(r, 100);
    if (pick < 86) {
        int i = (int)rc_below(r, (size_t)w->recorder_count);
        rc_mask misuse = w->recorders[i].freed ? RC_BIT(OXRAY_INVALID_HANDLE) : 0;
        return (rc_recorder_arg){w->recorders[i].handle, i, misuse};
    }
    if (pick < 91) {
        return (rc_recorder_arg){NULL, -1, RC_BIT(OXRAY_NULL_ARGUMENT)};
    }
    if (pick < 96 || w->handle_count == 0) {
        return (rc_recorder_arg){rc_graveyard_pick_recorder(r), -1, RC_BIT(OXRAY_INVALID_HANDLE)};
    }
    /* An entity handle where a recorder is expected. */
    oxray_entity *e = w->handles[rc_below(r, (size_t)w->handle_count)].h;
    return (rc_recorder_arg){(oxray_recorder *)(void *)e, -1, RC_BIT(OXRAY_INVALID_HANDLE)};
}

bool rc_may_write(rc_world *w, const rc_entity_arg *e) {
    if (e->state < 0) {
        return true; /* misuses write nothing */
    }
    rc_state *st = &w->states[e->state];
    return st->writes++ < (st->shared ? 2 : 40);
}

rc_mask rc_required(rc_kind kind) {
    return kind == RC_NULL ? RC_BIT(OXRAY_NULL_ARGUMENT) : kind == RC_BAD_UTF8 ? RC_BIT(OXRAY_INVALID_UTF8) : 0;
}

rc_mask rc_optional(rc_kind kind) {
    return kind == RC_BAD_UTF8 ? RC_BIT(OXRAY_INVALID_UTF8) : 0;
}

rc_mask rc_state_refusals(const rc_world *w, int s) {
    if (s < 0) {
        return 0;
    }
    const rc_state *st = &w->states[s];
    rc_mask m = 0;
    if (st->ended) {
        m |= RC_BIT(OXRAY_ALREADY_ENDED);
    }
    if (st->facade && st->sampled) {
        /* Read-only; and one facade (same header) may be ended through another handle. */
        m |= RC_BIT(OXRAY_INVALID_ARGUMENT) | RC_BIT(OXRAY_ALREADY_ENDED);
    }
    return m;
}

rc_mask rc_allowed(rc_mask hard, rc_mask soft, bool unsampled) {
    if (hard) {
        return hard | soft; /* which of several misuses is reported first is not documented */
    }
    if (soft) {
        return soft | (unsampled ? RC_OK : 0);
    }
    return RC_OK;
}

void rc_world_release(rc_world *w) {
    oxray_current_clear();
    rc_count("oxray_current_clear");
    w->current = -1;
    for (int i = w->handle_count - 1; i >= 0; i--) {
        if (w->handles[i].borrowed) {
            w->handles[i] = w->handles[--w->handle_count];
        } else {
            rc_world_free_handle(w, i);
        }
    }
    free(w->handles);
    free(w->states);
    w->handles = NULL;
    w->states = NULL;
    w->handle_count = w->handle_capacity = w->state_count = w->state_capacity = 0;
    rc_arena_release(&w->arena);
}

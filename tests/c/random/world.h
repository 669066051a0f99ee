/* The random harness's model of what one thread holds: recorders, entities (what the header
 * says each one is: sampled or not, a Lambda facade, a stand-in, ended or not) and handles,
 * live or freed. The ops consult it to know which statuses the header documents for a call. */
#ifndef OXRAY_RANDOM_WORLD_H
#define OXRAY_RANDOM_WORLD_H

#include <stdbool.h>
#include <stdint.h>

#include "expect.h"
#include "inputs.h"
#include "oxray.h"
#include "rng.h"

typedef struct rc_recorder {
    oxray_recorder *handle;
    int sink;          /* where its documents go: a memory sink, RC_SINK_UDP, or -1 (never) */
    bool memory;       /* emit_mode memory: take_documents answers its documents */
    bool disabled;     /* "enabled": false */
    bool rate_one;     /* sample_rate 1 and no rule changes: no header means sampled */
    bool runtime_error;/* context_missing RUNTIME_ERROR */
    bool freed;
} rc_recorder;

typedef struct rc_state {
    char id[OXRAY_ENTITY_ID_SIZE];
    int sink;
    bool sampled;
    bool facade;   /* a Lambda facade: read-only */
    bool ended;
    bool shared;   /* made by main, written by every thread, ended only after they finish */
    int depth;
    int writes; /* values written so far (see rc_may_write) */
} rc_state;

typedef struct rc_handle {
    oxray_entity *h;
    int state;
    bool borrowed; /* main's handle on a shared entity: never ended or freed by a thread */
} rc_handle;

typedef struct rc_world {
    uint64_t seed;
    int thread;
    rc_rng rng;
    rc_arena arena;
    rc_inputs in;
    rc_recorder *recorders;
    int recorder_count;
    rc_state *states;
    int state_count, state_capacity;
    rc_handle *handles;
    int handle_count, handle_capacity;
    int current; /* the state the thread-local slot holds, or -1 */
    char exception_ids[8][OXRAY_ENTITY_ID_SIZE];
    int exception_count;
    int max_depth;
} rc_world;

/* Adds an entity the harness just received a handle to; returns its handle index. The id is
 * read with oxray_entity_id (checked). */
int rc_world_add(rc_world *w, oxray_entity *h, int sink, int sampled_expected, bool facade, int depth);
/* A further handle on an existing state (oxray_current_get). */
int rc_world_alias(rc_world *w, oxray_entity *h, int state);
/* Frees handle `i` (oxray_entity_free) and forgets it; the token joins the graveyard. */
void rc_world_free_handle(rc_world *w, int i);
/* Records that state `s` was ended with OK. */
void rc_world_ended(rc_world *w, int s);

/* Stale tokens shared by all threads: freed entity and recorder handles. */
void rc_graveyard_entity(oxray_entity *h);
oxray_entity *rc_graveyard_pick_entity(rc_rng *r);
void rc_graveyard_recorder(oxray_recorder *h);
oxray_recorder *rc_graveyard_pick_recorder(rc_rng *r);

/* An entity argument: a live handle (state >= 0) or a misuse with its documented status. */
typedef struct rc_entity_arg {
    oxray_entity *h;
    int handle; /* index in w->handles, or -1 */
    int state;  /* index in w->states, or -1 */
    rc_mask misuse;
} rc_entity_arg;

rc_entity_arg rc_pick_entity(rc_world *w);

typedef struct rc_recorder_arg {
    oxray_recorder *h;
    int index; /* in w->recorders, or -1 */
    rc_mask misuse;
} rc_recorder_arg;

rc_recorder_arg rc_pick_recorder(rc_world *w);

/* Whether the harness may write one more value to the entity behind `e`. Writes to one
 * entity are capped: ending an entity that holds many values over the size bound costs time
 * quadratic in their number and size (json::fit re-serializes after each cut; about 1 s for 400
 * values of 40 KB in release), which would make run times depend on the seed. */
bool rc_may_write(rc_world *w, const rc_entity_arg *e);

/* Statuses the header documents for a string argument: required (NULL is a misuse) or not. */
rc_mask rc_required(rc_kind kind);
rc_mask rc_optional(rc_kind kind);

/* The statuses a write to state `s` may answer besides its argument checks: ended
 * (OXRAY_ALREADY_ENDED) or a sampled facade (OXRAY_INVALID_ARGUMENT). */
rc_mask rc_state_refusals(const rc_world *w, int s);

/* Combines argument misuses (`hard`, documented unconditionally) and refusals that depend on
 * the entity (`soft`; an unsampled entity accepts every call, so OK is also allowed). */
rc_mask rc_allowed(rc_mask hard, rc_mask soft, bool unsampled);

/* One random operation; the table is in ops.c. */
void rc_step(rc_world *w);

/* Releases everything the world holds (current slot, handles). */
void rc_world_release(rc_world *w);

#endif

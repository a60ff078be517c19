/*  test_blobs.c - blobs between members (tm_blobs): fetched in chunks on
    credit, verified against their digest, coalesced, asked for again when
    messages are lost, and refused when they are corrupt or malformed.

    Nodes are tm_blobs_t objects on stores of their own, wired through an
    in-memory queue of messages that a test can inspect, drop or corrupt
    before delivering them: no sockets, no threads.
*/
#include "tm_testutil.h"
#include "tm_blobs.h"
#include "tm_task.h"
#include <dirent.h>

typedef struct {
    char from [65];
    char to [65];
    json_t *msg;
    char *data;                 //  The bytes after the NUL, or NULL
    size_t size;
} s_msg_t;

typedef struct {
    char id [65];
    char *dir;
    tm_store_t *store;
    tm_blobs_t *blobs;
    tm_blobs_stats_t stats;
    int ready;                  //  ready () calls
    int failed;                 //  failed () calls
    char reason [512];          //  The last failure's reason
    char sources [512];         //  ... and the sources it named, joined
} s_node_t;

static zlistx_t *s_queue;       //  s_msg_t in flight
static s_node_t *s_nodes [4];
static size_t s_node_count;

static void
s_msg_destroy (s_msg_t **msg_p)
{
    s_msg_t *msg = *msg_p;
    if (msg) {
        json_decref (msg->msg);
        free (msg->data);
        free (msg);
        *msg_p = NULL;
    }
}

static void
s_send (void *arg, const char *to, json_t **msg_p, const void *data, size_t size)
{
    s_node_t *node = (s_node_t *) arg;
    s_msg_t *msg = (s_msg_t *) zmalloc (sizeof (s_msg_t));
    snprintf (msg->from, sizeof msg->from, "%s", node->id);
    snprintf (msg->to, sizeof msg->to, "%s", to);
    msg->msg = *msg_p;
    *msg_p = NULL;
    if (data) {
        msg->data = (char *) malloc (size + 1);
        memcpy (msg->data, data, size);
        msg->size = size;
    }
    zlistx_add_end (s_queue, msg);
}

static void
s_ready (void *arg, const char *hex)
{
    ((s_node_t *) arg)->ready++;
}

static void
s_failed (void *arg, const char *hex, const char *reason, const char *const *sources)
{
    s_node_t *node = (s_node_t *) arg;
    node->failed++;
    snprintf (node->reason, sizeof node->reason, "%s", reason);
    node->sources [0] = 0;
    for (size_t i = 0; sources [i]; i++)
        snprintf (node->sources + strlen (node->sources),
                  sizeof node->sources - strlen (node->sources), "%s%.2s",
                  i ? "," : "", sources [i]);
}

//  A node whose id is 64 times LETTER.
static s_node_t *
s_node (char letter)
{
    s_node_t *node = (s_node_t *) zmalloc (sizeof (s_node_t));
    memset (node->id, letter, 64);
    node->dir = tmu_scratch ();
    char *err = NULL;
    node->store = tm_store_new (node->dir, &err);
    cr_assert_not_null (node->store, "%s", err);
    tm_blobs_handler_t handler = { s_send, s_ready, s_failed, node, NULL };
    node->blobs = tm_blobs_new (node->store, &handler, &node->stats);
    if (!s_queue)
        s_queue = zlistx_new ();
    s_nodes [s_node_count++] = node;
    return node;
}

static void
s_teardown (void)
{
    for (size_t i = 0; i < s_node_count; i++) {
        s_node_t *node = s_nodes [i];
        tm_blobs_destroy (&node->blobs);
        tm_store_destroy (&node->store);
        tmu_rmrf (node->dir);
        free (node->dir);
        free (node);
    }
    s_node_count = 0;
    s_msg_t *msg;
    while (s_queue && (msg = (s_msg_t *) zlistx_detach (s_queue, NULL)))
        s_msg_destroy (&msg);
    zlistx_destroy (&s_queue);
}

TestSuite (blobs, .fini = s_teardown);

//  Puts SIZE bytes (a pattern from SEED) in NODE's store; returns the digest.
static char *
s_put (s_node_t *node, size_t size, int seed)
{
    char path [4200];
    snprintf (path, sizeof path, "%s/file-%d", node->dir, seed);
    FILE *file = fopen (path, "wb");
    cr_assert_not_null (file);
    for (size_t i = 0; i < size; i++)
        fputc ((int) ((i * 7 + i / 251 + (size_t) seed) & 0xff), file);
    fclose (file);
    char *hex = (char *) malloc (TM_STORE_HEX);
    uint64_t stored;
    bool exec;
    char *err = NULL;
    cr_assert_eq (tm_store_add_file (node->store, path, hex, &stored, &exec, &err), 0, "%s", err);
    return hex;
}

static s_node_t *
s_find (const char *id)
{
    for (size_t i = 0; i < s_node_count; i++)
        if (streq (s_nodes [i]->id, id))
            return s_nodes [i];
    return NULL;
}

//  What a test may do to a message before it is delivered: return false
//  to drop it.  May change its data.
typedef bool (s_filter_fn) (s_msg_t *msg, void *arg);

//  Delivers the messages in flight (and those they cause) until none is
//  left, or MAX were delivered.  Returns how many were delivered.
static int
s_deliver (s_filter_fn *filter, void *arg, int max)
{
    int delivered = 0;
    s_msg_t *msg;
    while (delivered < max && (msg = (s_msg_t *) zlistx_detach (s_queue, NULL))) {
        s_node_t *to = s_find (msg->to);
        if (to && (!filter || filter (msg, arg))) {
            tm_blobs_recv (to->blobs, msg->from, msg->msg, msg->data, msg->size);
            delivered++;
        }
        s_msg_destroy (&msg);
    }
    return delivered;
}

static bool
s_is (s_msg_t *msg, const char *type)
{
    return streq (json_string_value (json_object_get (msg->msg, "t")), type);
}

//  Chunks asked for by the fetch messages in flight.
static json_int_t
s_asked (void)
{
    json_int_t asked = 0;
    for (s_msg_t *msg = (s_msg_t *) zlistx_first (s_queue); msg;
         msg = (s_msg_t *) zlistx_next (s_queue))
        if (s_is (msg, "fetch"))
            asked += json_integer_value (json_object_get (msg->msg, "n"));
    return asked;
}

static bool
s_same_content (s_node_t *a, s_node_t *b, const char *hex)
{
    char pa [4200], pb [4200];
    snprintf (pa, sizeof pa, "%s/%s", tm_store_dir (a->store), hex);
    snprintf (pb, sizeof pb, "%s/%s", tm_store_dir (b->store), hex);
    struct stat sa, sb;
    if (stat (pa, &sa) != 0 || stat (pb, &sb) != 0 || sa.st_size != sb.st_size)
        return false;
    char *ca = tmu_slurp (pa), *cb = tmu_slurp (pb);
    bool same = memcmp (ca, cb, (size_t) sa.st_size) == 0;
    free (ca);
    free (cb);
    return same;
}

static int
s_temporary_files (s_node_t *node)
{
    DIR *dir = opendir (tm_store_dir (node->store));
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir)))
        count += strncmp (entry->d_name, "tmp.", 4) == 0;
    closedir (dir);
    return count;
}

#define S_SIZE (3 * TM_BLOBS_CHUNK + 12345)     //  Four chunks, the last short

Test (blobs, blob_is_fetched_in_chunks_on_credit_and_verified)
{
    s_node_t *server = s_node ('a'), *fetcher = s_node ('b');
    size_t size = 40 * TM_BLOBS_CHUNK + 5;
    char *hex = s_put (server, size, 1);
    cr_assert_eq (tm_blobs_want (fetcher->blobs, hex, size, true, server->id), 0);
    //  Never more than the credit asked for at once
    cr_assert_leq (s_asked (), TM_BLOBS_CREDIT);
    cr_assert_gt (s_asked (), 0);
    int rounds = 0;
    while (zlistx_size (s_queue) > 0) {
        size_t chunks_in_flight = 0;
        for (s_msg_t *msg = (s_msg_t *) zlistx_first (s_queue); msg;
             msg = (s_msg_t *) zlistx_next (s_queue))
            chunks_in_flight += s_is (msg, "chunk");
        cr_assert_leq (chunks_in_flight + (size_t) s_asked (), TM_BLOBS_CREDIT,
                       "more than the credit in flight");
        s_deliver (NULL, NULL, 1);
        cr_assert_lt (++rounds, 10000);
    }
    cr_assert_eq (fetcher->ready, 1);
    cr_assert_eq (fetcher->failed, 0);
    cr_assert (tm_store_has (fetcher->store, hex, size));
    cr_assert (s_same_content (server, fetcher, hex));
    cr_assert_eq (fetcher->stats.blobs_fetched, 1);
    cr_assert_eq (fetcher->stats.bytes_fetched, size);
    cr_assert_eq (server->stats.blobs_served, 1);
    cr_assert_eq (server->stats.bytes_served, size);
    cr_assert_eq (tm_blobs_fetching (fetcher->blobs), 0);
    //  Stored with the mode asked for
    char path [4200];
    snprintf (path, sizeof path, "%s/%s", tm_store_dir (fetcher->store), hex);
    struct stat st;
    cr_assert_eq (stat (path, &st), 0);
    cr_assert_eq (st.st_mode & 07777, 0555);
    free (hex);
}

Test (blobs, wants_of_one_digest_make_one_fetch_and_a_present_blob_none)
{
    s_node_t *server = s_node ('a'), *other = s_node ('c'), *fetcher = s_node ('b');
    char *hex = s_put (server, S_SIZE, 2);
    for (int i = 0; i < 50; i++)
        cr_assert_eq (tm_blobs_want (fetcher->blobs, hex, S_SIZE, false, server->id), 0);
    cr_assert_eq (tm_blobs_want (fetcher->blobs, hex, S_SIZE, false, other->id), 0);
    cr_assert_eq (tm_blobs_fetching (fetcher->blobs), 1);
    s_deliver (NULL, NULL, 100000);
    cr_assert_eq (fetcher->ready, 1);
    cr_assert_eq (fetcher->stats.blobs_fetched, 1);
    cr_assert_eq (fetcher->stats.bytes_fetched, S_SIZE, "the blob crossed more than once");
    cr_assert_eq (other->stats.bytes_served, 0, "the second source was asked too");
    //  Present now: answered at once, nothing sent
    cr_assert_eq (tm_blobs_want (fetcher->blobs, hex, S_SIZE, false, server->id), 1);
    cr_assert_eq (zlistx_size (s_queue), 0);
    //  Also after a restart (a new object on the same store)
    tm_blobs_destroy (&fetcher->blobs);
    tm_blobs_handler_t handler = { s_send, s_ready, s_failed, fetcher, NULL };
    fetcher->blobs = tm_blobs_new (fetcher->store, &handler, &fetcher->stats);
    cr_assert_eq (tm_blobs_want (fetcher->blobs, hex, S_SIZE, false, server->id), 1);
    cr_assert_eq (zlistx_size (s_queue), 0);
    free (hex);
}

static bool
s_corrupt_first (s_msg_t *msg, void *arg)
{
    int *left = (int *) arg;
    if (s_is (msg, "chunk") && msg->data && *left > 0
    &&  json_integer_value (json_object_get (msg->msg, "i")) == 2) {
        msg->data [100] ^= 0x40;
        (*left)--;
    }
    return true;
}

Test (blobs, corrupted_chunk_is_refused_counted_and_fetched_again)
{
    s_node_t *server = s_node ('a'), *fetcher = s_node ('b');
    char *hex = s_put (server, S_SIZE, 3);
    tm_blobs_want (fetcher->blobs, hex, S_SIZE, false, server->id);
    int corruptions = 1;
    s_deliver (s_corrupt_first, &corruptions, 100000);
    cr_assert_eq (corruptions, 0);
    cr_assert_eq (fetcher->stats.blobs_refused, 1);
    cr_assert_eq (fetcher->ready, 1);
    cr_assert_eq (fetcher->failed, 0);
    cr_assert (s_same_content (server, fetcher, hex));
    cr_assert_eq (fetcher->stats.blobs_fetched, 1);
    free (hex);
}

Test (blobs, blob_that_never_matches_its_digest_fails_and_leaves_nothing)
{
    s_node_t *server = s_node ('a'), *fetcher = s_node ('b');
    char *hex = s_put (server, S_SIZE, 4);
    tm_blobs_want (fetcher->blobs, hex, S_SIZE, false, server->id);
    int corruptions = 1000;
    s_deliver (s_corrupt_first, &corruptions, 100000);
    cr_assert_eq (fetcher->stats.blobs_refused, TM_BLOBS_TRIES);
    cr_assert_eq (fetcher->failed, 1);
    cr_assert_eq (fetcher->ready, 0);
    cr_assert (strstr (fetcher->reason, "did not match its digest"), "%s", fetcher->reason);
    cr_assert_str_eq (fetcher->sources, "aa");
    cr_assert_not (tm_store_has (fetcher->store, hex, S_SIZE), "a corrupt blob was stored");
    cr_assert_eq (s_temporary_files (fetcher), 0);
    cr_assert_eq (fetcher->stats.fetches_failed, 1);
    cr_assert_eq (tm_blobs_fetching (fetcher->blobs), 0);
    free (hex);
}

Test (blobs, malformed_and_unexpected_chunks_are_dropped_and_counted)
{
    s_node_t *server = s_node ('a'), *fetcher = s_node ('b'), *stranger = s_node ('c');
    char *hex = s_put (server, S_SIZE, 5);
    tm_blobs_want (fetcher->blobs, hex, S_SIZE, false, server->id);
    char data [TM_BLOBS_CHUNK];
    memset (data, 'x', sizeof data);
    struct {
        const char *json;
        size_t size;
        int rc;
    } cases [] = {
        { "{\"t\":\"chunk\",\"d\":\"%s\",\"i\":0,\"z\":%d}", 10, -1 },             //  Short
        { "{\"t\":\"chunk\",\"d\":\"%s\",\"i\":99,\"z\":%d}", TM_BLOBS_CHUNK, -1 }, //  Index
        { "{\"t\":\"chunk\",\"d\":\"%s\",\"i\":-1,\"z\":%d}", TM_BLOBS_CHUNK, -1 },
        { "{\"t\":\"chunk\",\"d\":\"%s\",\"i\":\"0\",\"z\":%d}", TM_BLOBS_CHUNK, -1 },
        { "{\"t\":\"chunk\",\"d\":\"%s\",\"i\":0,\"z\":1%d}", TM_BLOBS_CHUNK, -1 },  //  Size
        { "{\"t\":\"chunk\",\"d\":\"%s\",\"i\":0}", TM_BLOBS_CHUNK, -1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        char text [512];
        snprintf (text, sizeof text, cases [i].json, hex, S_SIZE);
        json_t *msg = json_loads (text, 0, NULL);
        cr_assert_not_null (msg, "%s", text);
        cr_assert_eq (tm_blobs_recv (fetcher->blobs, server->id, msg, data, cases [i].size),
                      cases [i].rc, "case %zu", i);
        json_decref (msg);
    }
    cr_assert_eq (fetcher->stats.chunks_dropped, 6);
    //  A well-formed chunk from a member we did not ask: dropped, counted
    json_t *msg = json_pack ("{s:s, s:s, s:i, s:i}", "t", "chunk", "d", hex, "i", 0, "z", S_SIZE);
    cr_assert_eq (tm_blobs_recv (fetcher->blobs, stranger->id, msg, data, TM_BLOBS_CHUNK), 0);
    json_decref (msg);
    cr_assert_eq (fetcher->stats.chunks_dropped, 7);
    //  Not a digest, not a type
    msg = json_pack ("{s:s, s:s}", "t", "chunk", "d", "../../etc/passwd");
    cr_assert_eq (tm_blobs_recv (fetcher->blobs, server->id, msg, NULL, 0), -1);
    json_decref (msg);
    msg = json_pack ("{s:s, s:s}", "t", "nonsense", "d", hex);
    cr_assert_eq (tm_blobs_recv (fetcher->blobs, server->id, msg, NULL, 0), -1);
    json_decref (msg);
    //  The real transfer is not disturbed
    s_deliver (NULL, NULL, 100000);
    cr_assert_eq (fetcher->ready, 1);
    cr_assert (s_same_content (server, fetcher, hex));
    free (hex);
}

Test (blobs, server_refuses_requests_beyond_its_bounds)
{
    s_node_t *server = s_node ('a'), *fetcher = s_node ('b');
    char *hex = s_put (server, S_SIZE, 6);
    json_t *msg = json_pack ("{s:s, s:s, s:i, s:i}", "t", "fetch", "d", hex, "i", 0,
                             "n", TM_BLOBS_ASK_MAX + 1);
    cr_assert_eq (tm_blobs_recv (server->blobs, fetcher->id, msg, NULL, 0), -1);
    json_decref (msg);
    cr_assert_eq (zlistx_size (s_queue), 0, "it sent something for a bad request");
    msg = json_pack ("{s:s, s:s, s:i, s:i}", "t", "fetch", "d", hex, "i", 1000, "n", 1);
    cr_assert_eq (tm_blobs_recv (server->blobs, fetcher->id, msg, NULL, 0), -1);
    json_decref (msg);
    //  It said why, and sent no chunk
    cr_assert_eq (zlistx_size (s_queue), 1);
    s_msg_t *reply = (s_msg_t *) zlistx_first (s_queue);
    cr_assert_not_null (json_object_get (reply->msg, "e"));
    cr_assert_null (reply->data);
    //  Data after a fetch is not a fetch
    msg = json_pack ("{s:s, s:s, s:i, s:i}", "t", "fetch", "d", hex, "i", 0, "n", 1);
    cr_assert_eq (tm_blobs_recv (server->blobs, fetcher->id, msg, "x", 1), -1);
    json_decref (msg);
    cr_assert_eq (server->stats.bytes_served, 0);
    free (hex);
}

static bool
s_drop_chunks (s_msg_t *msg, void *arg)
{
    int *left = (int *) arg;
    if (s_is (msg, "chunk") && *left > 0) {
        (*left)--;
        return false;
    }
    return true;
}

Test (blobs, lost_chunks_are_asked_for_again_after_a_stall)
{
    s_node_t *server = s_node ('a'), *fetcher = s_node ('b');
    tm_blobs_set_timing (fetcher->blobs, 0.02, 5);
    char *hex = s_put (server, S_SIZE, 7);
    tm_blobs_want (fetcher->blobs, hex, S_SIZE, false, server->id);
    int drops = 3;
    s_deliver (s_drop_chunks, &drops, 100000);
    cr_assert_eq (fetcher->ready, 0);
    double end = tmu_now () + 5;
    while (fetcher->ready == 0 && fetcher->failed == 0) {
        cr_assert_lt (tmu_now (), end, "the fetch never finished");
        usleep (25000);
        tm_blobs_tick (fetcher->blobs, tm_now ());
        s_deliver (NULL, NULL, 100000);
    }
    cr_assert_eq (fetcher->ready, 1);
    cr_assert (s_same_content (server, fetcher, hex));
    free (hex);
}

Test (blobs, silent_source_is_given_up_on_with_a_reason)
{
    s_node_t *server = s_node ('a'), *fetcher = s_node ('b');
    tm_blobs_set_timing (fetcher->blobs, 0.01, 3);
    char *hex = s_put (server, S_SIZE, 8);
    tm_blobs_want (fetcher->blobs, hex, S_SIZE, false, server->id);
    double end = tmu_now () + 5;
    while (fetcher->failed == 0) {
        cr_assert_lt (tmu_now (), end, "the fetch never failed");
        //  Everything the fetcher sends is lost
        s_msg_t *msg;
        while ((msg = (s_msg_t *) zlistx_detach (s_queue, NULL)))
            s_msg_destroy (&msg);
        usleep (15000);
        tm_blobs_tick (fetcher->blobs, tm_now ());
    }
    cr_assert (strstr (fetcher->reason, "no answer"), "%s", fetcher->reason);
    cr_assert_eq (s_temporary_files (fetcher), 0);
    free (hex);
}

Test (blobs, gone_or_empty_handed_source_makes_the_fetch_try_the_next)
{
    s_node_t *gone = s_node ('a'), *empty = s_node ('c'), *good = s_node ('d');
    s_node_t *fetcher = s_node ('b');
    char *hex = s_put (gone, S_SIZE, 9);
    char *same = s_put (good, S_SIZE, 9);
    cr_assert_str_eq (hex, same);
    tm_blobs_want (fetcher->blobs, hex, S_SIZE, false, gone->id);
    tm_blobs_want (fetcher->blobs, hex, S_SIZE, false, empty->id);
    tm_blobs_want (fetcher->blobs, hex, S_SIZE, false, good->id);
    //  The first source dies before answering
    s_msg_t *msg;
    while ((msg = (s_msg_t *) zlistx_detach (s_queue, NULL)))
        s_msg_destroy (&msg);
    tm_blobs_source_gone (fetcher->blobs, gone->id);
    //  The second has no copy ("no such blob"); the third sends it
    s_deliver (NULL, NULL, 100000);
    cr_assert_eq (fetcher->ready, 1);
    cr_assert_eq (fetcher->failed, 0);
    cr_assert_eq (good->stats.blobs_served, 1);
    cr_assert (s_same_content (good, fetcher, hex));
    free (hex);
    free (same);
}

//  Ticks NODE until it has no fetch under way, for at most 5 s.
static void
s_tick_until_done (s_node_t *node)
{
    double end = tm_now () + 5;
    while (tm_blobs_fetching (node->blobs) > 0) {
        cr_assert (tm_now () < end, "the fetch did not end");
        tm_blobs_tick (node->blobs, tm_now ());
        s_deliver (NULL, NULL, 100000);
        usleep (1000);
    }
}

Test (blobs, member_fetching_from_the_origin_answers_fetching_and_is_waited_for)
{
    s_node_t *origin = s_node ('a'), *holder = s_node ('b'), *owner = s_node ('c');
    tm_blobs_set_timing (holder->blobs, 0.01, 3);
    char *hex = s_put (origin, S_SIZE, 4);
    //  The owner fetches from the origin, its last (only) source; the
    //  holder asks the owner first, the origin last
    tm_blobs_want (owner->blobs, hex, S_SIZE, false, origin->id);
    tm_blobs_want (holder->blobs, hex, S_SIZE, false, owner->id);
    tm_blobs_want (holder->blobs, hex, S_SIZE, false, origin->id);
    //  The owner's first ask reaches the origin first, the holder's ask
    //  reaches the owner while it still fetches: "fetching", not "no such blob"
    s_deliver (NULL, NULL, 2);
    cr_assert_eq (owner->stats.busy_answers, 1);
    s_deliver (NULL, NULL, 100000);
    cr_assert_eq (owner->ready, 1);
    cr_assert_eq (holder->stats.busy_waits, 1);
    cr_assert_eq (holder->ready, 0, "the holder did not wait");
    s_tick_until_done (holder);
    cr_assert_eq (holder->ready, 1);
    cr_assert_eq (holder->failed, 0);
    cr_assert (s_same_content (origin, holder, hex));
    //  The origin sent it once; the owner relayed it
    cr_assert_eq (origin->stats.blobs_served, 1);
    cr_assert_eq (owner->stats.blobs_served, 1);
    free (hex);
}

Test (blobs, members_fetching_from_each_other_never_wait_for_each_other)
{
    s_node_t *origin = s_node ('a'), *b = s_node ('b'), *c = s_node ('c');
    char *hex = s_put (origin, S_SIZE, 5);
    //  Each asks the other first, then the origin: neither is on its
    //  last source, so each says "no such blob" and both go to the origin
    tm_blobs_want (b->blobs, hex, S_SIZE, false, c->id);
    tm_blobs_want (b->blobs, hex, S_SIZE, false, origin->id);
    tm_blobs_want (c->blobs, hex, S_SIZE, false, b->id);
    tm_blobs_want (c->blobs, hex, S_SIZE, false, origin->id);
    s_deliver (NULL, NULL, 100000);
    cr_assert_eq (b->ready + c->ready, 2);
    cr_assert_eq (b->stats.busy_waits + c->stats.busy_waits, 0);
    cr_assert_eq (origin->stats.blobs_served, 2);
    //  Each other's only source, and neither has it: both fail at once
    char other [TM_STORE_HEX];
    tm_store_digest ("nobody has this", 15, other);
    tm_blobs_want (b->blobs, other, 15, false, c->id);
    tm_blobs_want (c->blobs, other, 15, false, b->id);
    s_deliver (NULL, NULL, 100000);
    cr_assert_eq (b->failed + c->failed, 2);
    cr_assert_eq (b->stats.busy_answers + c->stats.busy_answers, 0);
    free (hex);
}

Test (blobs, fetch_fails_when_its_only_source_has_no_copy)
{
    s_node_t *empty = s_node ('a'), *fetcher = s_node ('b');
    char hex [TM_STORE_HEX];
    tm_store_digest ("nobody has this", 15, hex);
    tm_blobs_want (fetcher->blobs, hex, 15, false, empty->id);
    s_deliver (NULL, NULL, 100000);
    cr_assert_eq (fetcher->failed, 1);
    cr_assert (strstr (fetcher->reason, "no such blob"), "%s", fetcher->reason);
    cr_assert_str_eq (fetcher->sources, "aa");
}

Test (blobs, empty_blob_is_written_without_asking_anyone)
{
    s_node_t *server = s_node ('a'), *fetcher = s_node ('b');
    char hex [TM_STORE_HEX];
    tm_store_digest ("", 0, hex);
    cr_assert_eq (tm_blobs_want (fetcher->blobs, hex, 0, false, server->id), 1);
    cr_assert_eq (zlistx_size (s_queue), 0);
    cr_assert (tm_store_has (fetcher->store, hex, 0));
    //  A zero-byte file cannot have another digest: that fails, on the tick
    char other [TM_STORE_HEX];
    tm_store_digest ("x", 1, other);
    cr_assert_eq (tm_blobs_want (fetcher->blobs, other, 0, false, server->id), 0);
    cr_assert_eq (fetcher->failed, 0, "a callback from tm_blobs_want");
    tm_blobs_tick (fetcher->blobs, tm_now ());
    cr_assert_eq (fetcher->failed, 1);
}

Test (blobs, at_most_four_fetches_run_at_once_the_rest_wait_their_turn)
{
    s_node_t *server = s_node ('a'), *fetcher = s_node ('b');
    char *hexes [7];
    for (int i = 0; i < 7; i++) {
        hexes [i] = s_put (server, S_SIZE, 20 + i);
        cr_assert_eq (tm_blobs_want (fetcher->blobs, hexes [i], S_SIZE, false, server->id), 0);
    }
    zhashx_t *asked = zhashx_new ();
    for (s_msg_t *msg = (s_msg_t *) zlistx_first (s_queue); msg;
         msg = (s_msg_t *) zlistx_next (s_queue))
        zhashx_update (asked, json_string_value (json_object_get (msg->msg, "d")), (void *) 1);
    cr_assert_eq (zhashx_size (asked), TM_BLOBS_ACTIVE);
    zhashx_destroy (&asked);
    cr_assert_eq (tm_blobs_fetching (fetcher->blobs), 7);
    s_deliver (NULL, NULL, 1000000);
    cr_assert_eq (fetcher->ready, 7);
    for (int i = 0; i < 7; i++) {
        cr_assert (tm_store_has (fetcher->store, hexes [i], S_SIZE));
        free (hexes [i]);
    }
}

//  ---------------------------------------------------------------------
//  Background fetches: a blob handed to a new owner (no task needs it)

//  Digests asked for by the fetch messages in flight.
static zhashx_t *
s_asked_digests (void)
{
    zhashx_t *asked = zhashx_new ();
    for (s_msg_t *msg = (s_msg_t *) zlistx_first (s_queue); msg;
         msg = (s_msg_t *) zlistx_next (s_queue))
        if (s_is (msg, "fetch"))
            zhashx_update (asked, json_string_value (json_object_get (msg->msg, "d")),
                           (void *) 1);
    return asked;
}

Test (blobs, background_fetch_waits_behind_task_fetches_in_a_turn_of_its_own)
{
    s_node_t *server = s_node ('a'), *fetcher = s_node ('b');
    tm_blobs_set_background_rate (fetcher->blobs, 0);
    char *handed = s_put (server, S_SIZE, 40);
    char *hexes [TM_BLOBS_ACTIVE + 1];
    for (int i = 0; i < TM_BLOBS_ACTIVE + 1; i++) {
        hexes [i] = s_put (server, S_SIZE, 41 + i);
        tm_blobs_want (fetcher->blobs, hexes [i], S_SIZE, false, server->id);
    }
    //  A task's fetch waits for a turn: the background one waits behind it
    cr_assert_eq (tm_blobs_want_background (fetcher->blobs, handed, S_SIZE, false,
                                            server->id), 0);
    cr_assert (tm_blobs_background (fetcher->blobs, handed));
    zhashx_t *asked = s_asked_digests ();
    cr_assert_eq (zhashx_size (asked), TM_BLOBS_ACTIVE);
    cr_assert_null (zhashx_lookup (asked, handed), "the background fetch went first");
    zhashx_destroy (&asked);
    //  Once no task's fetch waits, it runs in its own turn, besides the
    //  TM_BLOBS_ACTIVE ordinary ones
    s_deliver (NULL, NULL, 1000000);
    cr_assert_eq (fetcher->ready, TM_BLOBS_ACTIVE + 2);
    cr_assert (tm_store_has (fetcher->store, handed, S_SIZE));
    cr_assert_eq (fetcher->stats.handoff_fetched, 1);
    cr_assert_eq (fetcher->stats.handoff_bytes, S_SIZE);
    cr_assert_eq (fetcher->stats.blobs_fetched, TM_BLOBS_ACTIVE + 2);
    char *more [TM_BLOBS_ACTIVE];
    for (int i = 0; i < TM_BLOBS_ACTIVE; i++) {
        more [i] = s_put (server, S_SIZE, 60 + i);
        tm_blobs_want (fetcher->blobs, more [i], S_SIZE, false, server->id);
    }
    char *second = s_put (server, S_SIZE, 70);
    tm_blobs_want_background (fetcher->blobs, second, S_SIZE, false, server->id);
    asked = s_asked_digests ();
    cr_assert_eq (zhashx_size (asked), TM_BLOBS_ACTIVE + 1, "no turn of its own");
    zhashx_destroy (&asked);
    s_deliver (NULL, NULL, 1000000);
    cr_assert_eq (fetcher->ready, 2 * TM_BLOBS_ACTIVE + 3);
    for (int i = 0; i < TM_BLOBS_ACTIVE; i++)
        free (more [i]);
    for (int i = 0; i < TM_BLOBS_ACTIVE + 1; i++)
        free (hexes [i]);
    free (handed);
    free (second);
}

Test (blobs, background_fetch_asks_no_faster_than_its_rate)
{
    s_node_t *server = s_node ('a'), *fetcher = s_node ('b');
    size_t size = 12 * TM_BLOBS_CHUNK;
    char *hex = s_put (server, size, 80);
    //  Two chunks a second, from an empty bucket; no stalls meanwhile
    tm_blobs_set_background_rate (fetcher->blobs, 2.0 * TM_BLOBS_CHUNK);
    tm_blobs_set_timing (fetcher->blobs, 1000, 5);
    tm_blobs_want_background (fetcher->blobs, hex, size, false, server->id);
    cr_assert_eq (s_asked (), 0, "asked with an empty bucket");
    double now = tm_now ();
    for (int second = 1; second <= 6; second++) {
        tm_blobs_tick (fetcher->blobs, now + second);
        cr_assert_eq (s_asked (), 2, "second %d: %lld chunks asked", second,
                      (long long) s_asked ());
        s_deliver (NULL, NULL, 1000000);
    }
    cr_assert_eq (fetcher->ready, 1);
    cr_assert (s_same_content (server, fetcher, hex));
    //  Saved up over a quiet spell: one fetch's credit at most
    char *next = s_put (server, size, 81);
    tm_blobs_tick (fetcher->blobs, now + 100);
    tm_blobs_want_background (fetcher->blobs, next, size, false, server->id);
    cr_assert_eq (s_asked (), TM_BLOBS_CREDIT);
    free (next);
    free (hex);
}

Test (blobs, task_wanting_a_blob_fetched_in_the_background_lifts_its_throttle)
{
    s_node_t *server = s_node ('a'), *fetcher = s_node ('b');
    char *hex = s_put (server, S_SIZE, 90);
    char *waiting = s_put (server, S_SIZE, 91);
    tm_blobs_set_background_rate (fetcher->blobs, 1);  //  Next to nothing
    tm_blobs_want_background (fetcher->blobs, hex, S_SIZE, false, server->id);
    tm_blobs_want_background (fetcher->blobs, waiting, S_SIZE, false, server->id);
    cr_assert_eq (s_asked (), 0);
    //  Active in its background turn: it keeps the turn, asks at once
    cr_assert_eq (tm_blobs_want (fetcher->blobs, hex, S_SIZE, false, server->id), 0);
    cr_assert_not (tm_blobs_background (fetcher->blobs, hex));
    cr_assert_eq (s_asked (), 4);
    //  Waiting for the background turn: it takes an ordinary one
    cr_assert_eq (tm_blobs_want (fetcher->blobs, waiting, S_SIZE, false, server->id), 0);
    cr_assert_eq (s_asked (), 8);
    s_deliver (NULL, NULL, 1000000);
    cr_assert_eq (fetcher->ready, 2);
    cr_assert_eq (fetcher->failed, 0);
    cr_assert (s_same_content (server, fetcher, hex));
    cr_assert (s_same_content (server, fetcher, waiting));
    free (hex);
    free (waiting);
}

Test (blobs, member_fetching_in_the_background_sends_askers_elsewhere_at_once)
{
    s_node_t *origin = s_node ('a'), *owner = s_node ('b'), *holder = s_node ('c');
    char *hex = s_put (origin, S_SIZE, 95);
    //  The owner fetches it in the background from its only source, and
    //  slowly: a holder that asks it must not wait for it
    tm_blobs_set_background_rate (owner->blobs, 1);
    tm_blobs_want_background (owner->blobs, hex, S_SIZE, false, origin->id);
    tm_blobs_want (holder->blobs, hex, S_SIZE, false, owner->id);
    tm_blobs_want (holder->blobs, hex, S_SIZE, false, origin->id);
    s_deliver (NULL, NULL, 1000000);
    cr_assert_eq (owner->stats.busy_answers, 0);
    cr_assert_eq (holder->stats.busy_waits, 0);
    cr_assert_eq (holder->ready, 1);
    cr_assert_eq (owner->ready, 0, "the throttled fetch finished");
    free (hex);
}

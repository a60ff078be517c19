/*  strip_seeds.c - prints a join token with its seed addresses removed.

    strip_seeds < TOKEN-FILE

    Reads a token ("tm1-...") on stdin (not argv: it holds the join
    secret) and prints the same token with no seed address, so that a
    node given it can only find the cluster by UDP beacon.  That is what
    tests/netns/lan_test.sh needs to test discovery; testmesh itself has
    no option to make such a token, on purpose (a seedless token is of no
    use off the LAN).

    Exit status: 0 printed, 1 the input is not a valid token.
*/
#include "tm_token.h"
#include <sodium.h>

int
main (void)
{
    char text [TM_TOKEN_TEXT_MAX + 2];
    size_t size = fread (text, 1, sizeof text - 1, stdin);
    text [size] = 0;
    tm_token_t token;
    char *err = NULL;
    int rc = 1;
    char *stripped = NULL;
    if (tm_token_parse (text, &token, &err) != 0)
        goto done;
    token.seed_count = 0;
    stripped = tm_token_format (&token, &err);
    if (!stripped)
        goto done;
    printf ("%s\n", stripped);
    rc = 0;

done:
    if (err)
        fprintf (stderr, "strip_seeds: %s\n", err);
    free (err);
    if (stripped) {
        sodium_memzero (stripped, strlen (stripped));
        free (stripped);
    }
    tm_token_wipe (&token);
    sodium_memzero (text, sizeof text);
    return rc;
}

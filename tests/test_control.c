/*  test_control.c - the control socket's size limits: a "run" request may
    be as large as TM_CONTROL_MAX, every other request must fit in
    TM_CONTROL_REQUEST_MAX. */
#include "tm_testutil.h"
#include "tm_control.h"

//  Sends a request of about SIZE bytes with command CMD from a DEALER to
//  the bound SERVER, and returns what tm_control_recv makes of it; the
//  DEALER is returned in *client for the reply.
static json_t *
s_send_big (zsock_t *server, const char *dir, const char *cmd, size_t size,
            zsock_t **client)
{
    char *endpoint = tm_control_endpoint (dir);
    *client = zsock_new_dealer (endpoint);
    free (endpoint);
    cr_assert_not_null (*client);
    char *text = (char *) malloc (size + 64);
    int head = snprintf (text, 64, "{\"cmd\":\"%s\",\"pad\":\"", cmd);
    memset (text + head, 'x', size);
    strcpy (text + head + size, "\"}");
    zstr_send (*client, text);
    free (text);
    zpoller_t *poller = zpoller_new (server, NULL);
    cr_assert_not_null (zpoller_wait (poller, 5000), "the request did not arrive");
    zpoller_destroy (&poller);
    zframe_t *routing_id = NULL;
    json_t *request = tm_control_recv (server, &routing_id);
    zframe_destroy (&routing_id);
    return request;
}

Test (control, a_run_request_may_be_larger_than_other_requests)
{
    char *dir = tmu_scratch ();
    char *err = NULL;
    zsock_t *server = tm_control_bind (dir, &err);
    cr_assert_not_null (server, "%s", err);
    zsock_t *client = NULL;
    json_t *request = s_send_big (server, dir, "run", 8 * 1024 * 1024, &client);
    cr_assert_not_null (request, "an 8 MiB run request is taken");
    cr_assert_str_eq (json_string_value (json_object_get (request, "cmd")), "run");
    json_decref (request);
    zsock_destroy (&client);
    zsock_destroy (&server);
    tmu_rmrf (dir);
    free (dir);
}

Test (control, other_requests_over_the_request_limit_are_refused)
{
    char *dir = tmu_scratch ();
    char *err = NULL;
    zsock_t *server = tm_control_bind (dir, &err);
    cr_assert_not_null (server, "%s", err);
    zsock_t *client = NULL;
    json_t *request = s_send_big (server, dir, "members", TM_CONTROL_REQUEST_MAX, &client);
    cr_assert_null (request, "a request over 1 MiB that is not a run");
    char *reply = zstr_recv (client);
    cr_assert_not_null (reply);
    cr_assert_not_null (strstr (reply, "request too large"), "%s", reply);
    free (reply);
    zsock_destroy (&client);
    //  Just under the limit is fine
    request = s_send_big (server, dir, "members", TM_CONTROL_REQUEST_MAX - 64, &client);
    cr_assert_not_null (request);
    json_decref (request);
    zsock_destroy (&client);
    zsock_destroy (&server);
    tmu_rmrf (dir);
    free (dir);
}

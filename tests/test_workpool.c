/*  test_workpool.c - the work pool's dispatch-latency ring and quantiles.

    The pool itself is exercised against real agents in test_cli_dist.c;
    these are the pieces `testmesh stats` summarises with.
*/
#include "tm_testutil.h"
#include "tm_workpool.h"

Test (workpool, quantile_is_the_nearest_rank)
{
    double samples [] = { 5, 1, 4, 2, 3, 10, 9, 8, 7, 6 };
    cr_assert_float_eq (tm_workpool_quantile (samples, 10, 0.50), 5, 1e-12);
    cr_assert_float_eq (tm_workpool_quantile (samples, 10, 0.99), 10, 1e-12);
    cr_assert_float_eq (tm_workpool_quantile (samples, 10, 0.10), 1, 1e-12);
    cr_assert_float_eq (tm_workpool_quantile (samples, 10, 0.11), 2, 1e-12);
    cr_assert_float_eq (tm_workpool_quantile (samples, 10, 1.0), 10, 1e-12);
    double one = 7.5;
    cr_assert_float_eq (tm_workpool_quantile (&one, 1, 0.5), 7.5, 1e-12);
    cr_assert_float_eq (tm_workpool_quantile (NULL, 0, 0.5), 0, 1e-12);
}

Test (workpool, empty_ring_reads_no_samples)
{
    static tm_workpool_ring_t ring;
    double *samples = (double *) 1;
    cr_assert_eq (tm_workpool_ring_read (&ring, &samples), 0);
    cr_assert_null (samples);
}

Test (workpool, ring_reads_the_last_samples_oldest_first_in_ms)
{
    static tm_workpool_ring_t ring;
    //  As the pool writes them: sample K at K mod the ring's size
    uint64_t total = TM_WORKPOOL_RING + 10;
    for (uint64_t k = 0; k < total; k++)
        ring.us [k % TM_WORKPOOL_RING] = (int64_t) k * 1000;
    ring.taken = total;
    double *samples = NULL;
    size_t count = tm_workpool_ring_read (&ring, &samples);
    cr_assert_eq (count, TM_WORKPOOL_RING);
    cr_assert_float_eq (samples [0], 10, 1e-9, "oldest kept is sample 10");
    cr_assert_float_eq (samples [count - 1], (double) (total - 1), 1e-9);
    for (size_t k = 1; k < count; k++)
        cr_assert (samples [k] > samples [k - 1]);
    free (samples);
}

Test (workpool, ring_keeps_a_negative_sample_from_clocks_that_disagree)
{
    static tm_workpool_ring_t ring;
    ring.us [0] = -2500;
    ring.us [1] = 1500;
    ring.taken = 2;
    double *samples = NULL;
    cr_assert_eq (tm_workpool_ring_read (&ring, &samples), 2);
    cr_assert_float_eq (samples [0], -2.5, 1e-9);
    cr_assert_float_eq (tm_workpool_quantile (samples, 2, 1.0), 1.5, 1e-9);
    free (samples);
}

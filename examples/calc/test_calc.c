/*  test_calc.c - the demo's Criterion suite: every test passes.

    A few tests sleep 0.1-0.3 s, standing in for slower real tests, so
    that testmesh's progress line has something to show.
*/
#include "calc.h"
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void
s_pause (double seconds)
{
    struct timespec ts = { 0, (long) (seconds * 1e9) };
    nanosleep (&ts, NULL);
}

Test (arith, add_small)           { int r; cr_assert_eq (calc_add (2, 3, &r), 0); cr_assert_eq (r, 5); }
Test (arith, add_negative)        { int r; cr_assert_eq (calc_add (-2, -3, &r), 0); cr_assert_eq (r, -5); }
Test (arith, add_overflow_fails)  { int r; cr_assert_eq (calc_add (INT_MAX, 1, &r), -1); }
Test (arith, mul_small)           { int r; cr_assert_eq (calc_mul (6, 7, &r), 0); cr_assert_eq (r, 42); }
Test (arith, mul_overflow_fails)  { int r; cr_assert_eq (calc_mul (INT_MAX, 2, &r), -1); }
Test (arith, div_truncates)       { int r; cr_assert_eq (calc_div (7, 2, &r), 0); cr_assert_eq (r, 3); }
Test (arith, div_by_zero_fails)   { int r; cr_assert_eq (calc_div (1, 0, &r), -1); }
Test (arith, div_min_by_minus_one_fails) { int r; cr_assert_eq (calc_div (INT_MIN, -1, &r), -1); }

Test (number, gcd_of_coprimes)    { cr_assert_eq (calc_gcd (9, 28), 1); }
Test (number, gcd_of_negatives)   { cr_assert_eq (calc_gcd (-12, 18), 6); }
Test (number, gcd_with_zero)      { cr_assert_eq (calc_gcd (0, 5), 5); }
Test (number, primes_below_30)
{
    int count = 0;
    for (long n = 0; n < 30; n++)
        count += calc_is_prime (n);
    cr_assert_eq (count, 10);
}
Test (number, large_prime)
{
    s_pause (0.2);
    cr_assert (calc_is_prime (1000000007));
}
Test (number, fib_start)          { cr_assert_eq (calc_fib (0), 0); cr_assert_eq (calc_fib (1), 1); }
Test (number, fib_50)
{
    s_pause (0.1);
    cr_assert_eq (calc_fib (50), 12586269025L);
}

Test (eval, precedence)           { long v; cr_assert_eq (calc_eval ("2 + 3 * 4", &v), 0); cr_assert_eq (v, 14); }
Test (eval, parentheses)          { long v; cr_assert_eq (calc_eval ("(2 + 3) * 4", &v), 0); cr_assert_eq (v, 20); }
Test (eval, unary_minus)          { long v; cr_assert_eq (calc_eval ("-(4 - 10)", &v), 0); cr_assert_eq (v, 6); }
Test (eval, modulo)               { long v; cr_assert_eq (calc_eval ("17 % 5", &v), 0); cr_assert_eq (v, 2); }
Test (eval, division_by_zero_fails) { long v; cr_assert_eq (calc_eval ("1 / (2 - 2)", &v), -1); }
Test (eval, trailing_garbage_fails) { long v; cr_assert_eq (calc_eval ("1 + 2 x", &v), -1); }
Test (eval, unbalanced_fails)     { long v; cr_assert_eq (calc_eval ("(1 + 2", &v), -1); }
Test (eval, long_expression)
{
    s_pause (0.3);
    char expr [4096] = "0";
    for (int i = 1; i <= 500; i++)
        snprintf (expr + strlen (expr), sizeof expr - strlen (expr), "+%d", i);
    long v;
    cr_assert_eq (calc_eval (expr, &v), 0);
    cr_assert_eq (v, 500 * 501 / 2);
}

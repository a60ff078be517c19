/*  calc.h - a tiny integer calculator, the demo's code under test.

    calc_eval evaluates an expression of integers, + - * / % and
    parentheses with the usual precedence.  Returns 0 and sets *value,
    or -1 on a syntax error, a division by zero or an overflow.
*/
#ifndef CALC_H_INCLUDED
#define CALC_H_INCLUDED

#include <stdbool.h>

int  calc_add (int a, int b, int *sum);
int  calc_mul (int a, int b, int *product);
int  calc_div (int a, int b, int *quotient);
long calc_gcd (long a, long b);
bool calc_is_prime (long n);
long calc_fib (int n);
int  calc_eval (const char *expr, long *value);

#endif

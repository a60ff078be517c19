/*  calc.c - a tiny integer calculator, the demo's code under test. */
#include "calc.h"
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>

int
calc_add (int a, int b, int *sum)
{
    return __builtin_add_overflow (a, b, sum) ? -1 : 0;
}

int
calc_mul (int a, int b, int *product)
{
    return __builtin_mul_overflow (a, b, product) ? -1 : 0;
}

int
calc_div (int a, int b, int *quotient)
{
    if (b == 0 || (a == INT_MIN && b == -1))
        return -1;
    *quotient = a / b;
    return 0;
}

long
calc_gcd (long a, long b)
{
    a = labs (a);
    b = labs (b);
    while (b) {
        long r = a % b;
        a = b;
        b = r;
    }
    return a;
}

bool
calc_is_prime (long n)
{
    if (n < 2)
        return false;
    for (long d = 2; d * d <= n; d++)
        if (n % d == 0)
            return false;
    return true;
}

long
calc_fib (int n)
{
    long a = 0, b = 1;
    for (int i = 0; i < n; i++) {
        long next = a + b;
        a = b;
        b = next;
    }
    return a;
}

//  Recursive descent: expr = term {(+|-) term}, term = factor {(*|/|%)
//  factor}, factor = [-] (number | '(' expr ')').
typedef struct {
    const char *p;              //  Next character to read
    int failed;                 //  Set on the first error
} s_parser_t;

static long s_expr (s_parser_t *self);

static void
s_skip (s_parser_t *self)
{
    while (isspace ((unsigned char) *self->p))
        self->p++;
}

static long
s_factor (s_parser_t *self)
{
    s_skip (self);
    if (*self->p == '-') {
        self->p++;
        return -s_factor (self);
    }
    if (*self->p == '(') {
        self->p++;
        long value = s_expr (self);
        s_skip (self);
        if (*self->p != ')')
            self->failed = 1;
        else
            self->p++;
        return value;
    }
    if (!isdigit ((unsigned char) *self->p)) {
        self->failed = 1;
        return 0;
    }
    char *end;
    long value = strtol (self->p, &end, 10);
    self->p = end;
    return value;
}

static long
s_term (s_parser_t *self)
{
    long value = s_factor (self);
    while (!self->failed) {
        s_skip (self);
        char op = *self->p;
        if (op != '*' && op != '/' && op != '%')
            break;
        self->p++;
        long rhs = s_factor (self);
        if (op == '*') {
            if (__builtin_mul_overflow (value, rhs, &value))
                self->failed = 1;
        }
        else
        if (rhs == 0)
            self->failed = 1;
        else
            value = op == '/' ? value / rhs : value % rhs;
    }
    return value;
}

static long
s_expr (s_parser_t *self)
{
    long value = s_term (self);
    while (!self->failed) {
        s_skip (self);
        char op = *self->p;
        if (op != '+' && op != '-')
            break;
        self->p++;
        long rhs = s_term (self);
        if (op == '+' ? __builtin_add_overflow (value, rhs, &value)
                      : __builtin_sub_overflow (value, rhs, &value))
            self->failed = 1;
    }
    return value;
}

int
calc_eval (const char *expr, long *value)
{
    s_parser_t parser = { expr, 0 };
    long result = s_expr (&parser);
    s_skip (&parser);
    if (parser.failed || *parser.p)
        return -1;
    *value = result;
    return 0;
}

/*  tm_wire.h - big-endian integers in byte buffers, for the wire formats
    of tm_keys and tm_envelope (docs/security.md).  The caller has
    checked that the buffer holds the bytes. */
#ifndef TM_WIRE_H_INCLUDED
#define TM_WIRE_H_INCLUDED

#include <stdint.h>

static inline void
tm_wire_put_u16 (uint8_t *p, uint16_t v)
{
    p [0] = (uint8_t) (v >> 8);
    p [1] = (uint8_t) v;
}

static inline void
tm_wire_put_u32 (uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p [i] = (uint8_t) v;
}

static inline void
tm_wire_put_u64 (uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p [i] = (uint8_t) v;
}

static inline uint16_t
tm_wire_get_u16 (const uint8_t *p)
{
    return (uint16_t) (p [0] << 8 | p [1]);
}

static inline uint32_t
tm_wire_get_u32 (const uint8_t *p)
{
    return (uint32_t) p [0] << 24 | (uint32_t) p [1] << 16 | (uint32_t) p [2] << 8 | p [3];
}

static inline uint64_t
tm_wire_get_u64 (const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p [i];
    return v;
}

#endif

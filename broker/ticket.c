// SPDX-License-Identifier: MIT
//  ticket - formats and parses `GGGGGGGG-SSSSSSSS` tickets; see ticket.h.
#include "ticket.h"
#include <errno.h>
#include <string.h>
#include <sys/random.h>

//  Crockford base 32 in lowercase: no i, l, o or u, so a ticket read
//  aloud or retyped is hard to get wrong and it needs no shell quoting.
static const char s_alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";

static int
s_digit (char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    const char *p = c ? strchr (s_alphabet + 10, c) : NULL;
    return p ? (int) (p - s_alphabet) : -1;
}

bool
ticket_generation_new (uint64_t *gen)
{
    uint64_t value = 0;
    size_t got = 0;
    while (got < sizeof value) {
        ssize_t n = getrandom ((uint8_t *) &value + got, sizeof value - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        got += (size_t) n;
    }
    *gen = value & TICKET_GEN_MAX;
    return true;
}

void
ticket_generation_text (uint64_t gen, char *buf)
{
    for (int i = TICKET_GEN_CHARS - 1; i >= 0; i--) {
        buf[i] = s_alphabet[gen & 31];
        gen >>= 5;
    }
    buf[TICKET_GEN_CHARS] = '\0';
}

size_t
ticket_format (uint64_t gen, uint64_t seq, char *buf)
{
    ticket_generation_text (gen, buf);
    buf[TICKET_GEN_CHARS] = '-';
    char digits[16];
    size_t n = 0;
    do {
        digits[n++] = s_alphabet[seq & 31];
        seq >>= 5;
    } while (seq);
    while (n < TICKET_SEQ_MIN)
        digits[n++] = '0';
    char *p = buf + TICKET_GEN_CHARS + 1;
    for (size_t i = 0; i < n; i++)
        p[i] = digits[n - 1 - i];
    p[n] = '\0';
    return TICKET_GEN_CHARS + 1 + n;
}

bool
ticket_parse (const char *text, size_t len, uint64_t *gen, uint64_t *seq)
{
    if (len < TICKET_GEN_CHARS + 1 + TICKET_SEQ_MIN || len > TICKET_MAX
        || text[TICKET_GEN_CHARS] != '-')
        return false;
    uint64_t g = 0;
    for (size_t i = 0; i < TICKET_GEN_CHARS; i++) {
        int d = s_digit (text[i]);
        if (d < 0)
            return false;
        g = (g << 5) | (uint64_t) d;
    }
    const char *p = text + TICKET_GEN_CHARS + 1;
    size_t n = len - TICKET_GEN_CHARS - 1;
    //  Past the minimum width a leading zero would be a second spelling
    //  of the same number.
    if (n > TICKET_SEQ_MIN && p[0] == '0')
        return false;
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++) {
        int d = s_digit (p[i]);
        if (d < 0 || s > (UINT64_MAX >> 5))
            return false;
        s = (s << 5) | (uint64_t) d;
    }
    *gen = g;
    *seq = s;
    return true;
}

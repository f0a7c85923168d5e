// SPDX-License-Identifier: MIT
//  ticket - formats and parses `GGGGGGGG-SSSSSSSS` tickets; see ticket.h.
#include "ticket.h"
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

//  Crockford base 32 in lowercase: no i, l, o or u, so a ticket read
//  aloud or retyped is hard to get wrong and it needs no shell quoting.
static const char s_alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";

//  Digit value of each byte, or -1: every ticket read from the wire goes
//  through here, and a table beats a strchr over the alphabet (profiled:
//  the ticket code was a fifth of the broker's instructions per task).
static int8_t s_digits[256];
static pthread_once_t s_digits_once = PTHREAD_ONCE_INIT;

static void
s_digits_init (void)
{
    memset (s_digits, -1, sizeof s_digits);
    for (int i = 0; i < 32; i++)
        s_digits[(unsigned char) s_alphabet[i]] = (int8_t) i;
}

static inline int
s_digit (char c)
{
    return s_digits[(unsigned char) c];
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
    //  A broker formats three tickets per task, nearly always of its own
    //  generation: keep that generation's text instead of recomputing it.
    static _Thread_local uint64_t cached_gen = UINT64_MAX;
    static _Thread_local char cached_text[TICKET_GEN_CHARS + 1];
    if (gen != cached_gen) {
        ticket_generation_text (gen, cached_text);
        cached_gen = gen;
    }
    memcpy (buf, cached_text, TICKET_GEN_CHARS);
    buf[TICKET_GEN_CHARS] = '-';
    //  Digits right to left, straight into place.
    size_t n = 0;
    for (uint64_t s = seq; s; s >>= 5)
        n++;
    if (n < TICKET_SEQ_MIN)
        n = TICKET_SEQ_MIN;
    char *p = buf + TICKET_GEN_CHARS + 1;
    p[n] = '\0';
    for (size_t i = n; i-- > 0; seq >>= 5)
        p[i] = s_alphabet[seq & 31];
    return TICKET_GEN_CHARS + 1 + n;
}

bool
ticket_parse (const char *text, size_t len, uint64_t *gen, uint64_t *seq)
{
    pthread_once (&s_digits_once, s_digits_init);
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

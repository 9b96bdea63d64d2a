/* Option values (base.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"

uint64_t parse_size(const char *s)
{
    char *end;
    if (!s || !isdigit((unsigned char)*s)) return 0;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned shift = 20; /* QEMU's -m default unit is MiB */
    if (*end) {
        switch (toupper((unsigned char)*end)) {
        case 'B': shift = 0; break;
        case 'K': shift = 10; break;
        case 'M': shift = 20; break;
        case 'G': shift = 30; break;
        case 'T': shift = 40; break;
        default: return 0;
        }
        if (end[1] && !(toupper((unsigned char)end[1]) == 'B' && !end[2]) &&
            !(toupper((unsigned char)end[1]) == 'I' && toupper((unsigned char)end[2]) == 'B' && !end[3]))
            return 0;
    }
    if (v == 0 || v > (UINT64_MAX >> shift)) return 0;
    return (uint64_t)v << shift;
}

int64_t parse_utc(const char *s)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, used = 0;
    int n = sscanf(s, "%d-%d-%dT%d:%d:%d%n", &y, &mo, &d, &h, &mi, &sec, &used);
    if (n == 3) {
        used = 0;
        sscanf(s, "%*d-%*d-%*d%n", &used);
    } else if (n != 6) {
        return -1;
    }
    if (s[used] != 0) return -1; /* trailing text */
    if (y < 1970 || y > 2099 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 ||
        mi < 0 || mi > 59 || sec < 0 || sec > 59)
        return -1;
    /* days from civil (proleptic Gregorian) */
    int yy = y - (mo <= 2);
    int era = yy / 400;
    int yoe = yy - era * 400;
    int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t)era * 146097 + doe - 719468;
    return days * 86400 + h * 3600 + mi * 60 + sec;
}

char *str_dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

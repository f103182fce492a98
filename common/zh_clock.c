/*  zh_clock.c — clocks and RFC 3339 formatting/parsing (UTC, milliseconds). */
#include "common/zh_clock.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t
zh_clock_wall_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
zh_clock_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
zh_clock_mono_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int
zh_time_format (int64_t ms, char *buf, size_t size)
{
    if (ms < 0 || ms > 253402300799999LL || size < 25)
        return -1;
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r (&secs, &tm))
        return -1;
    int n =
        snprintf (buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return (n == 24) ? 0 : -1;
}

/* Reads exactly n digits; returns the value or -1. */
static int
s_digits (const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit ((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return v;
}

static int
s_expect (const char **p, const char *chars)
{
    if (**p && strchr (chars, **p)) {
        (*p)++;
        return 0;
    }
    return -1;
}

static int
s_days_in_month (int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return days[month - 1] + (month == 2 && leap);
}

int
zh_time_parse (const char *text, int64_t *ms)
{
    const char *p = text;
    int year = s_digits (&p, 4);
    if (year < 1970 || s_expect (&p, "-"))
        return -1;
    int mon = s_digits (&p, 2);
    if (mon < 1 || mon > 12 || s_expect (&p, "-"))
        return -1;
    int day = s_digits (&p, 2);
    if (day < 1 || day > s_days_in_month (year, mon) || s_expect (&p, "Tt"))
        return -1;
    int hour = s_digits (&p, 2);
    if (hour < 0 || hour > 23 || s_expect (&p, ":"))
        return -1;
    int min = s_digits (&p, 2);
    if (min < 0 || min > 59 || s_expect (&p, ":"))
        return -1;
    int sec = s_digits (&p, 2);
    if (sec < 0 || sec > 60) /* 60: leap second, folded into the next minute */
        return -1;
    int frac_ms = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        while (isdigit ((unsigned char)*p)) {
            if (nd < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
            nd++;
            p++;
        }
        if (nd == 0 || nd > 9)
            return -1;
        for (; nd < 3; nd++)
            frac_ms *= 10;
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z')
        p++;
    else if (*p == '+' || *p == '-') {
        int sign = (*p == '-') ? -1 : 1;
        p++;
        int oh = s_digits (&p, 2);
        if (oh < 0 || oh > 23 || s_expect (&p, ":"))
            return -1;
        int om = s_digits (&p, 2);
        if (om < 0 || om > 59)
            return -1;
        offset_min = sign * (oh * 60 + om);
    }
    else
        return -1;
    if (*p)
        return -1;
    struct tm tm = {0};
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    time_t secs = timegm (&tm);
    if (secs == (time_t)-1)
        return -1;
    int64_t v = ((int64_t)secs - (int64_t)offset_min * 60) * 1000 + frac_ms;
    if (v < 0 || v > 253402300799999LL) /* keep every parsed time formattable */
        return -1;
    *ms = v;
    return 0;
}

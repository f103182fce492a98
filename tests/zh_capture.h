/*  zh_capture.h — unit-test support: capture what the code under test
 *  writes to fd 1 (the JSON log lines), to check it and keep the test
 *  output clean. Header only (each tests/zh_*.c is a tool with a main); include
 *  after <cmocka.h>, whose asserts it uses. */
#ifndef ZH_CAPTURE_H
#define ZH_CAPTURE_H

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

/* Points fd 1 at path (created or truncated); returns the real fd 1. */
static inline int
zh_capture_begin (const char *path)
{
    fflush (stdout);
    int saved = dup (STDOUT_FILENO);
    assert_true (saved >= 0);
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true (fd >= 0);
    assert_int_equal (dup2 (fd, STDOUT_FILENO), STDOUT_FILENO);
    close (fd);
    return saved;
}

/* Puts fd 1 back (saved, from zh_capture_begin, is closed) and reads what
 * path received into buf, NUL-terminated and cut at size - 1; returns buf. */
static inline char *
zh_capture_end (int saved, const char *path, char *buf, size_t size)
{
    fflush (stdout);
    assert_int_equal (dup2 (saved, STDOUT_FILENO), STDOUT_FILENO);
    close (saved);
    FILE *f = fopen (path, "rb");
    assert_non_null (f);
    size_t n = fread (buf, 1, size - 1, f);
    fclose (f);
    buf[n] = 0;
    return buf;
}

#endif

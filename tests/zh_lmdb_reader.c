/*  zh_lmdb_reader.c — test tool: a reader that holds an LMDB read txn.
 *
 *      zh_lmdb_reader DIR
 *
 *  Opens the environment in DIR read-only, begins a read transaction,
 *  prints "ready" and sleeps until killed. tests/e2e/t_reader.sh SIGKILLs
 *  it while the txn is open, leaving a stale slot in the reader table that
 *  pins the pages of that snapshot until mdb_reader_check clears it. */
#include <lmdb.h>
#include <stdio.h>
#include <time.h>

int
main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: zh_lmdb_reader DIR\n");
        return 2;
    }
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    int rc = mdb_env_create (&env);
    if (!rc)
        rc = mdb_env_set_maxdbs (env, 16);
    if (!rc)
        rc = mdb_env_open (env, argv[1], MDB_RDONLY, 0600);
    if (!rc)
        rc = mdb_txn_begin (env, NULL, MDB_RDONLY, &txn);
    if (rc) {
        fprintf (stderr, "zh_lmdb_reader: %s\n", mdb_strerror (rc));
        if (env)
            mdb_env_close (env);
        return 1;
    }
    printf ("ready\n");
    fflush (stdout);
    const struct timespec pause = {1, 0};
    for (;;)
        nanosleep (&pause, NULL);
}

/*
 * The C ceiling of make bench: libfcgi's own threaded responder, as its examples write it (each thread loops on
 * FCGX_Accept_r and keeps the connection nginx keeps), answering the same constant as leaderboard-bench-fcgi.
 * A kept connection belongs to one thread here, so this is only fair at no more connections than threads.
 *
 *   fcgi-c-responder SOCKET THREADS     e.g. /tmp/bench-c.sock 32        Stops on SIGTERM (killed by it).
 *
 * Built by Benchmarks/bench_stack.py: cc -O2 -pthread responder.c -lfcgi
 */
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int listen_socket;

static const char answer[] =
    "Status: 200 OK\r\nContent-Type: application/json\r\nContent-Length: 62\r\n\r\n"
    "{\"success\":true,\"statusCode\":200,\"message\":\"done\",\"data\":null}";

static void *serve(void *unused) {
    (void)unused;
    FCGX_Request request;
    FCGX_InitRequest(&request, listen_socket, 0);
    while (FCGX_Accept_r(&request) >= 0) {
        char scrap[4096];
        while (FCGX_GetStr(scrap, sizeof scrap, request.in) > 0) {
        }
        FCGX_PutStr(answer, sizeof answer - 1, request.out);
        FCGX_Finish_r(&request);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3 || atoi(argv[2]) <= 0) {
        fprintf(stderr, "usage: fcgi-c-responder SOCKET THREADS\n");
        return 2;
    }
    int threads = atoi(argv[2]);
    FCGX_Init();
    /* FCGX_Init's handler would only make accept() fail on the next connection: die at once instead. */
    signal(SIGTERM, SIG_DFL);
    unlink(argv[1]);
    listen_socket = FCGX_OpenSocket(argv[1], 1024);
    if (listen_socket < 0) {
        perror("FCGX_OpenSocket");
        return 1;
    }
    chmod(argv[1], 0660);
    pthread_t *ids = calloc(threads, sizeof *ids);
    for (int i = 0; i < threads; i++) pthread_create(&ids[i], NULL, serve, NULL);
    for (int i = 0; i < threads; i++) pthread_join(ids[i], NULL);
    return 0;
}

/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_serve.c: `cvmpi serve`, a local layer over HTTP for Neuroglancer (and the built-in slice
 * viewer at /view) until SIGINT/SIGTERM. Prints the precomputed:// source and a ready
 * Neuroglancer state URL. The server itself is src/serve/. */
#include "cli/cli.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#ifdef CV_HAVE_SERVE
#include "serve/serve.h"

#include <pthread.h>
#endif

static const char help[] =
    "usage: cvmpi serve PATH [--port 1337] [--bind 127.0.0.1] [--threads 8]\n"
    "                   [--lru-bytes 256M] [--neuroglancer-dir DIR | --neuroglancer URL]\n\n"
    "Serve a local layer over HTTP until Ctrl-C (SIGINT) or SIGTERM, so that\n"
    "precomputed://http://127.0.0.1:1337/ opens in Neuroglancer; prints that source and a\n"
    "ready Neuroglancer URL. Every request gets CORS headers for any origin; objects stored\n"
    "as NAME.gz/NAME.br are sent under NAME with Content-Encoding; byte ranges (206), HEAD,\n"
    "ETag and If-None-Match (304) work. Paths that leave the layer directory (\"..\", symlinks\n"
    "pointing out) are refused with 403.\n"
    "Also served: /view, a slice viewer in the page (scroll through z, contrast, segment\n"
    "colours), which reads /view/slice?mip=M&z=Z (one xy slice as raw voxels decoded by cvmpi).\n\n"
    "  --port N                 TCP port (default 1337; 0 = any free port)\n"
    "  --bind ADDR              numeric address to listen on (default 127.0.0.1; 0.0.0.0 or ::\n"
    "                           expose the layer to the network)\n"
    "  --threads N              worker threads answering requests (default 8)\n"
    "  --lru-bytes N            decoded chunks the slice viewer keeps in memory, so that\n"
    "                           scrolling through z decodes each chunk once instead of once\n"
    "                           per slice (default 256M; 0 = off; suffixes K, M, G)\n"
    "  --neuroglancer-dir DIR   also serve a Neuroglancer build (its index.html) at /ng/ and\n"
    "                           print a state URL there (works without internet access)\n"
    "  --neuroglancer URL       Neuroglancer app for the state URL\n"
    "                           (default https://neuroglancer-demo.appspot.com/)\n";

#ifdef CV_HAVE_SERVE
/* Percent-encode everything but unreserved characters (RFC 3986), for the URL fragment. */
static char *url_encode(const char *s)
{
    static const char hexd[] = "0123456789ABCDEF";
    char *out = cv_malloc(strlen(s) * 3 + 1);
    if (!out) {
        return NULL;
    }
    char *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-_.~", *p)) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hexd[*p >> 4];
            *o++ = hexd[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

/* Neuroglancer state: the layer at its own resolution, centred, one image or segmentation
 * layer named after the directory. */
static char *state_url(const char *app, const char *source, const char *name, const cv_info *info)
{
    const cv_scale *s = &info->scales[0];
    char dims[3][48], pos[3][40];
    for (int i = 0; i < 3; i++) {
        char num[32];
        cv_format_pyfloat(s->resolution[i], num, sizeof num);
        snprintf(dims[i], sizeof dims[i], "[%se-9,\"m\"]", num);
        cv_format_pyfloat((double)s->voxel_offset[i] + (double)s->size[i] / 2.0, pos[i],
                          sizeof pos[i]);
    }
    /* Zoom to fit: a 4-panel view has panels of about 400 pixels; the 3-D view shows the
     * whole box. Units are voxels, as the dimensions are the voxel size. */
    int64_t extent = s->size[0] > s->size[1] ? s->size[0] : s->size[1];
    int64_t extent3 = extent > s->size[2] ? extent : s->size[2];
    char zoom[32], zoom3[32];
    cv_format_pyfloat((double)extent / 350.0, zoom, sizeof zoom);
    cv_format_pyfloat((double)extent3 * 2.0, zoom3, sizeof zoom3);
    char *json = cv__asprintf("{\"dimensions\":{\"x\":%s,\"y\":%s,\"z\":%s},"
                              "\"position\":[%s,%s,%s],\"crossSectionScale\":%s,"
                              "\"projectionScale\":%s,\"layers\":[{\"type\":\"%s\","
                              "\"source\":\"precomputed://%s\",\"name\":\"%s\"}],"
                              "\"selectedLayer\":{\"layer\":\"%s\"},\"layout\":\"4panel\"}",
                              dims[0], dims[1], dims[2], pos[0], pos[1], pos[2], zoom, zoom3,
                              strcmp(info->type, "segmentation") == 0 ? "segmentation" : "image",
                              source, name, name);
    char *enc = json ? url_encode(json) : NULL;
    char *url = enc ? cv__asprintf("%s#!%s", app, enc) : NULL;
    cv_free(json);
    cv_free(enc);
    return url;
}

/* A layer name for Neuroglancer from the directory: its last component, JSON-safe. */
static void layer_name(const char *path, char *out, size_t cap)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') {
        n--;
    }
    size_t start = n;
    while (start > 0 && path[start - 1] != '/') {
        start--;
    }
    size_t o = 0;
    for (size_t i = start; i < n && o + 1 < cap; i++) {
        char ch = path[i];
        out[o++] = (ch == '"' || ch == '\\' || (unsigned char)ch < 0x20) ? '_' : ch;
    }
    if (o == 0 && cap > 6) {
        memcpy(out, "layer", 6);
        return;
    }
    out[o] = '\0';
}
#endif

int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {{"port", required_argument, NULL, 'p'},
                                         {"bind", required_argument, NULL, 'b'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"lru-bytes", required_argument, NULL, 'l'},
                                         {"neuroglancer-dir", required_argument, NULL, 'd'},
                                         {"neuroglancer", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int64_t port = 1337, threads = 8;
    /* One chunk row under a z-slice, for slices up to 4 MiB with 64-deep chunks
     * (2048x2048 uint8, 1024x1024 uint32): scrolling then decodes each chunk once. */
    size_t lru_bytes = (size_t)256 << 20;
    const char *bind_addr = "127.0.0.1", *ng_dir = NULL;
    const char *ng_app = "https://neuroglancer-demo.appspot.com/";
    for (int c; (c = cli_getopt(argc, argv, "h", opts)) != -1;) {
        switch (c) {
        case 'p':
            if (!cli_parse_i64(optarg, &port) || port < 0 || port > 65535) {
                return cli_usage(argv[0], "--port `%s' is not a port number (0-65535)", optarg);
            }
            break;
        case 'b':
            bind_addr = optarg;
            break;
        case 't':
            if (!cli_parse_i64(optarg, &threads) || threads < 1 || threads > 256) {
                return cli_usage(argv[0], "--threads `%s' is not a count in 1..256", optarg);
            }
            break;
        case 'l':
            /* 0 turns the LRU off; cli_parse_bytes takes positive sizes only. */
            if (strcmp(optarg, "0") == 0) {
                lru_bytes = 0;
            } else if (!cli_parse_bytes(optarg, &lru_bytes)) {
                return cli_usage(argv[0], "bad --lru-bytes `%s': want a size such as 256M", optarg);
            }
            break;
        case 'd':
            ng_dir = optarg;
            break;
        case 'n':
            ng_app = optarg;
            break;
        case 'h':
            return cli_help(help);
        default:
            return CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        return cli_usage(argv[0], "want exactly one PATH");
    }
#ifndef CV_HAVE_SERVE
    (void)bind_addr;
    (void)ng_dir;
    (void)ng_app;
    (void)lru_bytes;
    CV_FAIL(CV_ERR_UNSUPPORTED, "serve: this cvmpi was built without libmicrohttpd (Debian: "
                                "libmicrohttpd-dev, then -DCV_WITH_SERVE=ON)");
    return cli_fail();
#else
    /* Workers inherit the mask: only this thread takes SIGINT/SIGTERM, in sigwait. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    cv_serve_opts o = {argv[optind], ng_dir, bind_addr, (int)port, (int)threads, lru_bytes};
    cv_server *srv;
    if (cv__serve_start(&o, &srv) != CV_OK) {
        return cli_fail();
    }
    const char *base = cv__serve_base_url(srv);
    char name[128];
    layer_name(argv[optind], name, sizeof name);
    char *ng_local = ng_dir ? cv__asprintf("%sng/", base) : NULL;
    char *url =
        state_url(ng_local ? ng_local : ng_app, base, name, cv_volume_info(cv__serve_volume(srv)));
    if (strncmp(bind_addr, "127.", 4) != 0 && strcmp(bind_addr, "::1") != 0) {
        fprintf(stderr,
                "cvmpi serve: warning: listening on %s: anyone who can reach this "
                "machine can read the layer\n",
                bind_addr);
    }
    printf("serving %s\n", argv[optind]);
    printf("source:       precomputed://%s\n", base);
    printf("neuroglancer: %s\n", url ? url : "(out of memory)");
    printf("slice viewer: %sview\n", base);
    printf("stop with Ctrl-C\n");
    fflush(stdout);
    cv_free(url);
    cv_free(ng_local);

    int sig = 0;
    sigwait(&stop_signals, &sig);
    cv__serve_stop(srv);
    fprintf(stderr, "cvmpi serve: stopped (%s)\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    return CLI_OK;
#endif
}

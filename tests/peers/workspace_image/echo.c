/* A tiny workspace for the container tests: HTTP and WebSocket echo, built static (no libc in
 * the image). Serves on 0.0.0.0:$STUDYHALL_WORKSPACE_PORT and answers only requests carrying
 * `Authorization: token $STUDYHALL_WORKSPACE_TOKEN`, as JupyterLab does.
 *   GET  .../probe          {"uid", "capeff", "root_writable", "home_writable", "path"}
 *   PUT  .../files/<name>   keep the body in $HOME/<name>;  GET .../files/<name> read it back
 *   WebSocket (any path)    each text message m comes back as "echo:m", binary as is
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>

static const char *token;

/* ---- SHA-1 (RFC 3174), for the WebSocket handshake ---- */
#define ROL(v, n) (((v) << (n)) | ((v) >> (32 - (n))))
static void sha1(const unsigned char *msg, size_t len, unsigned char out[20]) {
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    size_t total = ((len + 8) / 64 + 1) * 64;
    unsigned char *buf = calloc(total, 1);
    memcpy(buf, msg, len);
    buf[len] = 0x80;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) buf[total - 1 - i] = (unsigned char)(bits >> (8 * i));
    for (size_t off = 0; off < total; off += 64) {
        uint32_t w[80];
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t)buf[off + 4 * i] << 24 | (uint32_t)buf[off + 4 * i + 1] << 16 |
                   (uint32_t)buf[off + 4 * i + 2] << 8 | buf[off + 4 * i + 3];
        for (int i = 16; i < 80; i++) w[i] = ROL(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int i = 0; i < 80; i++) {
            uint32_t f, k;
            if (i < 20) { f = (b & c) | (~b & d); k = 0x5A827999; }
            else if (i < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1; }
            else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDC; }
            else { f = b ^ c ^ d; k = 0xCA62C1D6; }
            uint32_t t = ROL(a, 5) + f + e + k + w[i];
            e = d; d = c; c = ROL(b, 30); b = a; a = t;
        }
        h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
    }
    free(buf);
    for (int i = 0; i < 20; i++) out[i] = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
}

static void base64(const unsigned char *in, size_t len, char *out) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? in[i + 1] << 8 : 0) | (i + 2 < len ? in[i + 2] : 0);
        out[o++] = t[v >> 18 & 63];
        out[o++] = t[v >> 12 & 63];
        out[o++] = i + 1 < len ? t[v >> 6 & 63] : '=';
        out[o++] = i + 2 < len ? t[v & 63] : '=';
    }
    out[o] = 0;
}

/* ---- I/O helpers ---- */
static int read_full(int fd, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

static void write_full(int fd, const void *buf, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, (const char *)buf + done, n - done);
        if (w <= 0) return;
        done += (size_t)w;
    }
}

static void reply(int fd, int status, const char *type, const char *body, size_t len) {
    char head[256];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status, type, len);
    write_full(fd, head, (size_t)n);
    write_full(fd, body, len);
}

static const char *header(const char *head, const char *name, char *value, size_t size) {
    size_t nlen = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ') v++;
            size_t l = strcspn(v, "\r\n");
            if (l >= size) l = size - 1;
            memcpy(value, v, l);
            value[l] = 0;
            return value;
        }
    }
    return NULL;
}

static void websocket(int fd, const char *key, const char *protocol) {
    char joined[256], accept[64];
    unsigned char digest[20];
    snprintf(joined, sizeof joined, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    sha1((unsigned char *)joined, strlen(joined), digest);
    base64(digest, 20, accept);
    char head[512];
    int n = snprintf(head, sizeof head, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n", accept);
    if (protocol[0]) {
        size_t l = strcspn(protocol, ", ");
        n += snprintf(head + n, sizeof head - (size_t)n, "Sec-WebSocket-Protocol: %.*s\r\n", (int)l, protocol);
    }
    n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    write_full(fd, head, (size_t)n);
    for (;;) {
        unsigned char h2[2], ext[8], mask[4] = {0, 0, 0, 0};
        if (read_full(fd, h2, 2)) return;
        int opcode = h2[0] & 15;
        uint64_t len = h2[1] & 127;
        if (len == 126) { if (read_full(fd, ext, 2)) return; len = (uint64_t)ext[0] << 8 | ext[1]; }
        else if (len == 127) { if (read_full(fd, ext, 8)) return; len = 0; for (int i = 0; i < 8; i++) len = len << 8 | ext[i]; }
        if (h2[1] & 128 && read_full(fd, mask, 4)) return;
        if (len > (64u << 20)) return;
        unsigned char *data = malloc(len + 5);
        memcpy(data, "echo:", 5);
        if (read_full(fd, data + 5, len)) return;
        for (uint64_t i = 0; i < len; i++) data[5 + i] ^= mask[i % 4];
        if (opcode == 8) { write_full(fd, "\x88\x00", 2); free(data); return; }
        if (opcode == 1 || opcode == 2) {
            unsigned char *payload = opcode == 1 ? data : data + 5;
            uint64_t size = opcode == 1 ? len + 5 : len;
            unsigned char fh[10];
            size_t fl = 2;
            fh[0] = (unsigned char)(0x80 | opcode);
            if (size < 126) fh[1] = (unsigned char)size;
            else if (size < 65536) { fh[1] = 126; fh[2] = (unsigned char)(size >> 8); fh[3] = (unsigned char)size; fl = 4; }
            else { fh[1] = 127; for (int i = 0; i < 8; i++) fh[2 + i] = (unsigned char)(size >> (56 - 8 * i)); fl = 10; }
            write_full(fd, fh, fl);
            write_full(fd, payload, size);
        }
        free(data);
    }
}

static int writable(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return 0;
    close(fd);
    unlink(path);
    return 1;
}

static void capeff(char *out, size_t size) {
    snprintf(out, size, "unknown");
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "CapEff:", 7) == 0) { sscanf(line + 7, "%63s", out); break; }
    fclose(f);
}

static void serve(int fd) {
    char head[16384];
    size_t got = 0;
    while (got < sizeof head - 1) {
        ssize_t r = read(fd, head + got, 1);
        if (r <= 0) return;
        got++;
        head[got] = 0;
        if (got >= 4 && memcmp(head + got - 4, "\r\n\r\n", 4) == 0) break;
    }
    char method[16] = "", path[4096] = "", value[1024], expected[512];
    sscanf(head, "%15s %4095s", method, path);
    snprintf(expected, sizeof expected, "token %s", token);
    if (!header(head, "Authorization", value, sizeof value) || strcmp(value, expected) != 0) {
        reply(fd, 403, "application/json", "{\"error\": \"bad token\"}", 22);
        return;
    }
    char upgrade[64] = "", key[128] = "", protocol[256] = "";
    if (header(head, "Upgrade", upgrade, sizeof upgrade) && strcasecmp(upgrade, "websocket") == 0 &&
        header(head, "Sec-WebSocket-Key", key, sizeof key)) {
        header(head, "Sec-WebSocket-Protocol", protocol, sizeof protocol);
        websocket(fd, key, protocol);
        return;
    }
    size_t length = header(head, "Content-Length", value, sizeof value) ? strtoul(value, NULL, 10) : 0;
    if (length > (8u << 20)) { reply(fd, 413, "text/plain", "", 0); return; }
    char *body = malloc(length + 1);
    if (read_full(fd, body, length)) { free(body); return; }
    const char *home = getenv("HOME");
    char *files = strstr(path, "/files/");
    if (files) {
        char file[4200];
        snprintf(file, sizeof file, "%s/%s", home, files + 7);
        if (strcmp(method, "PUT") == 0) {
            int out = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (out < 0) { reply(fd, 500, "text/plain", strerror(errno), strlen(strerror(errno))); free(body); return; }
            write_full(out, body, length);
            close(out);
            reply(fd, 201, "text/plain", "", 0);
        } else {
            int in = open(file, O_RDONLY);
            if (in < 0) { reply(fd, 404, "text/plain", "", 0); free(body); return; }
            char data[65536];
            ssize_t n = read(in, data, sizeof data);
            close(in);
            reply(fd, 200, "text/plain", data, n > 0 ? (size_t)n : 0);
        }
        free(body);
        return;
    }
    char caps[64], probe[2048], home_test[4200];
    capeff(caps, sizeof caps);
    snprintf(home_test, sizeof home_test, "%s/.probe", home);
    int n = snprintf(probe, sizeof probe,
                     "{\"uid\": %d, \"capeff\": \"%s\", \"root_writable\": %s, \"home_writable\": %s, \"method\": \"%s\", \"path\": \"%s\"}",
                     (int)getuid(), caps, writable("/probe") ? "true" : "false",
                     writable(home_test) ? "true" : "false", method, path);
    reply(fd, 200, "application/json", probe, (size_t)n);
    free(body);
}

static void bye(int sig) {
    (void)sig;
    _exit(0);
}

int main(void) {
    /* PID 1 of its container: without a handler SIGTERM would be ignored. */
    signal(SIGTERM, bye);
    token = getenv("STUDYHALL_WORKSPACE_TOKEN");
    const char *port = getenv("STUDYHALL_WORKSPACE_PORT");
    if (!token || !port) return 2;
    signal(SIGCHLD, SIG_IGN);
    int server = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
    if (bind(server, (struct sockaddr *)&addr, sizeof addr) || listen(server, 64)) return 3;
    for (;;) {
        int fd = accept(server, NULL, NULL);
        if (fd < 0) continue;
        if (fork() == 0) { close(server); serve(fd); close(fd); _exit(0); }
        close(fd);
    }
}

// SPDX-License-Identifier: MIT
//  security - CURVE keys and the ZAP handler of zjobd; see security.h.
//  czmq's zauth holds one certificate store for every domain and runs on
//  czmq's own context, so it can neither tell a client's key from a
//  worker's nor serve the broker's raw libzmq context: this handler is the
//  small piece that does both, answering ZAP (RFC 27) on the broker loop.
#include "security.h"
#include "log.h"
#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

//  ZAP frames in a request: version, request id, domain, address,
//  routing id, mechanism, then the mechanism's credentials.
#define ZAP_FRAMES 7
//  Refusals logged per second at most: a refused peer keeps reconnecting.
#define REFUSALS_PER_SEC 5

static const char *s_domain[] = {"clients", "workers"};

struct security {
    zcert_t *cert;              //  the broker's key pair
    zcertstore_t *store[2];     //  allow-lists, by broker_sock_t
    void *zap;                  //  REP socket on inproc://zeromq.zap.01
    int64_t warn_second;        //  second of the last refusal logged
    uint32_t warn_count;        //  refusals logged in it
};

static bool
s_dir_ok (const char *path, const char *flag, char *why, size_t why_len)
{
    struct stat st;
    const char *problem = stat (path, &st) != 0 ? strerror (errno)
                        : !S_ISDIR (st.st_mode) ? "not a directory" : NULL;
    if (problem)
        snprintf (why, why_len, "%s %s: %s; give a directory of public certificates "
                  "(NAME.key files made with zjob keygen NAME)", flag, path, problem);
    return !problem;
}

security_t *
security_new (const security_config_t *config, void *ctx, char *why, size_t why_len)
{
    if (!config->client_keys || !config->worker_keys) {
        snprintf (why, why_len, "--curve-secret needs both --client-keys DIR and "
                  "--worker-keys DIR: the broker admits only listed keys");
        return NULL;
    }
    if (!s_dir_ok (config->client_keys, "--client-keys", why, why_len)
        || !s_dir_ok (config->worker_keys, "--worker-keys", why, why_len))
        return NULL;
    if (!zmq_has ("curve")) {
        snprintf (why, why_len, "this libzmq has no CURVE support; install a libzmq built "
                  "with libsodium (Debian's libzmq5 is)");
        return NULL;
    }
    security_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (why, why_len, "out of memory");
        return NULL;
    }
    self->cert = zcert_load (config->secret_file);
    if (!self->cert || !*zcert_secret_txt (self->cert)
        || strspn (zcert_secret_txt (self->cert), "0") == 40) {
        snprintf (why, why_len, "--curve-secret %s: %s; give the NAME.key_secret file that "
                  "zjob keygen NAME wrote", config->secret_file,
                  self->cert ? "holds no secret key (is it the public .key file?)"
                             : "cannot read a certificate from it");
        security_destroy (&self);
        return NULL;
    }
    struct stat st;
    if (stat (config->secret_file, &st) == 0 && (st.st_mode & 077))
        log_warn ("secret key readable by others", "path=%s mode=%03o hint=\"chmod 600 %s\"",
                  config->secret_file, (unsigned) (st.st_mode & 0777), config->secret_file);
    self->store[BROKER_CLIENTS] = zcertstore_new (config->client_keys);
    self->store[BROKER_WORKERS] = zcertstore_new (config->worker_keys);
    self->zap = zmq_socket (ctx, ZMQ_REP);
    int linger = 0;
    if (!self->store[0] || !self->store[1] || !self->zap
        || zmq_setsockopt (self->zap, ZMQ_LINGER, &linger, sizeof linger) != 0
        || zmq_bind (self->zap, "inproc://zeromq.zap.01") != 0) {
        snprintf (why, why_len, "cannot start the ZAP handler: %s", zmq_strerror (errno));
        security_destroy (&self);
        return NULL;
    }
    return self;
}

void
security_destroy (security_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    security_t *self = *self_p;
    if (self->zap)
        zmq_close (self->zap);
    zcertstore_destroy (&self->store[0]);
    zcertstore_destroy (&self->store[1]);
    zcert_destroy (&self->cert);
    free (self);
    *self_p = NULL;
}

bool
security_apply (security_t *self, void *sock, broker_sock_t which)
{
    int one = 1;
    const char *domain = s_domain[which];
    return zmq_setsockopt (sock, ZMQ_CURVE_SERVER, &one, sizeof one) == 0
        && zmq_setsockopt (sock, ZMQ_CURVE_SECRETKEY, zcert_secret_key (self->cert), 32) == 0
        && zmq_setsockopt (sock, ZMQ_ZAP_DOMAIN, domain, strlen (domain)) == 0;
}

void *
security_socket (security_t *self)
{
    return self->zap;
}

const char *
security_public_txt (security_t *self)
{
    return zcert_public_txt (self->cert);
}

static void
s_refused (security_t *self, const char *domain, size_t dlen, const char *key,
           const char *address, const char *why)
{
    int64_t second = zclock_mono () / 1000;
    if (second != self->warn_second) {
        self->warn_second = second;
        self->warn_count = 0;
    }
    if (self->warn_count++ < REFUSALS_PER_SEC)
        log_warn ("peer refused", "socket=%.*s key=%s address=%s why=\"%s\"", (int) dlen,
                  domain, key, address, why);
}

//  Decide one request; frames are the request's parts.
static const char *
s_decide (security_t *self, zmq_msg_t *frames, size_t n, char *key)
{
    strcpy (key, "-");
    if (n < ZAP_FRAMES || zmq_msg_size (&frames[0]) != 3
        || memcmp (zmq_msg_data (&frames[0]), "1.0", 3) != 0)
        return "malformed ZAP request";
    const char *mech = zmq_msg_data (&frames[5]);
    if (zmq_msg_size (&frames[5]) != 5 || memcmp (mech, "CURVE", 5) != 0
        || zmq_msg_size (&frames[6]) != 32)
        return "not CURVE";
    zmq_z85_encode (key, zmq_msg_data (&frames[6]), 32);
    const char *domain = zmq_msg_data (&frames[2]);
    size_t dlen = zmq_msg_size (&frames[2]);
    for (int i = 0; i < 2; i++)
        if (dlen == strlen (s_domain[i]) && memcmp (domain, s_domain[i], dlen) == 0)
            return zcertstore_lookup (self->store[i], key)
                 ? NULL : "key not in this socket's allow-list";
    return "unknown ZAP domain";
}

//  Receive one whole request into frames (the extra ones are read and
//  dropped). Returns the parts read, 0 when nothing waits.
static size_t
s_recv (security_t *self, zmq_msg_t *frames)
{
    size_t n = 0;
    bool more = true;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init (&part);
        if (zmq_msg_recv (&part, self->zap, n ? 0 : ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&part);
            return n;
        }
        more = zmq_msg_more (&part);
        if (n < ZAP_FRAMES)
            frames[n++] = part;     //  moves the message
        else
            zmq_msg_close (&part);
    }
    return n;
}

bool
security_drain (security_t *self, size_t budget)
{
    for (size_t i = 0; i < budget; i++) {
        zmq_msg_t frames[ZAP_FRAMES];
        size_t n = s_recv (self, frames);
        if (n == 0)
            return false;
        char key[41], address[64] = "-";
        const char *refusal = s_decide (self, frames, n, key);
        if (n > 3)
            snprintf (address, sizeof address, "%.*s", (int) zmq_msg_size (&frames[3]),
                      (const char *) zmq_msg_data (&frames[3]));
        if (refusal)
            s_refused (self, n > 2 ? zmq_msg_data (&frames[2]) : "", n > 2 ? zmq_msg_size (&frames[2]) : 0,
                       key, address, refusal);
        else
            log_debug ("peer admitted", "socket=%.*s key=%s address=%s",
                       (int) zmq_msg_size (&frames[2]), (const char *) zmq_msg_data (&frames[2]),
                       key, address);
        //  The reply: version, request id, status code, text, user id
        //  (the key, so that metadata could name the peer), metadata.
        zmq_send (self->zap, "1.0", 3, ZMQ_SNDMORE);
        if (n > 1)
            zmq_send (self->zap, zmq_msg_data (&frames[1]), zmq_msg_size (&frames[1]), ZMQ_SNDMORE);
        else
            zmq_send (self->zap, "", 0, ZMQ_SNDMORE);
        zmq_send (self->zap, refusal ? "400" : "200", 3, ZMQ_SNDMORE);
        const char *text = refusal ? refusal : "OK";
        zmq_send (self->zap, text, strlen (text), ZMQ_SNDMORE);
        zmq_send (self->zap, refusal ? "" : key, refusal ? 0 : 40, ZMQ_SNDMORE);
        zmq_send (self->zap, "", 0, 0);
        for (size_t f = 0; f < n; f++)
            zmq_msg_close (&frames[f]);
    }
    return true;
}

bool
security_endpoint_local (const char *endpoint)
{
    if (strncmp (endpoint, "ipc://", 6) == 0 || strncmp (endpoint, "inproc://", 9) == 0)
        return true;
    if (strncmp (endpoint, "tcp://", 6) != 0)
        return false;
    const char *host = endpoint + 6;
    //  A tcp endpoint may name a source address first: "src;dest".
    const char *semi = strchr (host, ';');
    if (semi)
        host = semi + 1;
    return strncmp (host, "127.", 4) == 0 || strncmp (host, "[::1]", 5) == 0
        || strncmp (host, "localhost:", 10) == 0;
}

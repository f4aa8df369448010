#include "CTLS.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ctls_context { SSL_CTX *ctx; };
struct ctls_connection { SSL *ssl; };

static void ctls_last_error(char *error, size_t error_len, const char *what) {
    if (!error || error_len == 0) return;
    unsigned long code = ERR_get_error();
    char detail[256] = "";
    if (code) ERR_error_string_n(code, detail, sizeof detail);
    snprintf(error, error_len, "%s%s%s", what, code ? ": " : "", detail);
    ERR_clear_error();
}

// Prefer h2, then http/1.1; a client offering neither gets no ALPN (plain HTTP/1.1 after).
static int ctls_select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                            unsigned int inlen, void *arg) {
    (void)ssl;
    (void)arg;
    static const unsigned char preferred[] = "\x02h2\x08http/1.1";
    unsigned char *selected = NULL;
    if (SSL_select_next_proto(&selected, outlen, preferred, sizeof preferred - 1, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
        *out = selected;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

ctls_context *ctls_context_new(const char *cert_path, const char *key_path, char *error, size_t error_len) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        ctls_last_error(error, error_len, "SSL_CTX_new");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    // No renegotiation, no compression (CRIME), server cipher preference; partial writes
    // let the event loop write whatever the socket takes.
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1) {
        ctls_last_error(error, error_len, "cannot load the TLS certificate");
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1) {
        ctls_last_error(error, error_len, "cannot load the TLS private key");
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ctls_last_error(error, error_len, "the TLS private key does not match the certificate");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_alpn_select_cb(ctx, ctls_select_alpn, NULL);
    ctls_context *context = calloc(1, sizeof *context);
    if (!context) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    context->ctx = ctx;
    return context;
}

int ctls_context_require_client_certificates(ctls_context *context, const char *ca_path, char *error, size_t error_len) {
    if (SSL_CTX_load_verify_locations(context->ctx, ca_path, NULL) != 1) {
        ctls_last_error(error, error_len, "cannot load the client CA bundle");
        return CTLS_ERROR;
    }
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca_path);
    if (!names) {
        ctls_last_error(error, error_len, "the client CA bundle holds no certificate");
        return CTLS_ERROR;
    }
    // Sent in the CertificateRequest so that clients pick a certificate this CA signed.
    SSL_CTX_set_client_CA_list(context->ctx, names);
    SSL_CTX_set_verify(context->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    // Session resumption with client verification needs a session id context.
    static const unsigned char sid[] = "fastvim-mtls";
    SSL_CTX_set_session_id_context(context->ctx, sid, sizeof sid - 1);
    return CTLS_OK;
}

void ctls_sha256(const void *data, size_t length, unsigned char *digest) {
    SHA256((const unsigned char *)data, length, digest);
}

void ctls_context_free(ctls_context *context) {
    if (!context) return;
    SSL_CTX_free(context->ctx);
    free(context);
}

ctls_connection *ctls_connection_new(ctls_context *context, int fd) {
    SSL *ssl = SSL_new(context->ctx);
    if (!ssl) return NULL;
    if (SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_accept_state(ssl);
    ctls_connection *connection = calloc(1, sizeof *connection);
    if (!connection) {
        SSL_free(ssl);
        return NULL;
    }
    connection->ssl = ssl;
    return connection;
}

void ctls_connection_free(ctls_connection *connection) {
    if (!connection) return;
    SSL_free(connection->ssl);
    free(connection);
}

static int ctls_status(SSL *ssl, int ret) {
    switch (SSL_get_error(ssl, ret)) {
    case SSL_ERROR_WANT_READ: return CTLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE: return CTLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN: return CTLS_CLOSED;
    case SSL_ERROR_SYSCALL:
        // EOF without close_notify: treat as a close, the peer is gone either way.
        if (ERR_peek_error() == 0) return CTLS_CLOSED;
        return CTLS_ERROR;
    default: return CTLS_ERROR;
    }
}

int ctls_handshake(ctls_connection *connection, char *error, size_t error_len) {
    ERR_clear_error();
    int ret = SSL_do_handshake(connection->ssl);
    if (ret == 1) return CTLS_OK;
    int status = ctls_status(connection->ssl, ret);
    if (status == CTLS_ERROR || status == CTLS_CLOSED) {
        ctls_last_error(error, error_len, "TLS handshake failed");
        return CTLS_ERROR;
    }
    return status;
}

long ctls_read(ctls_connection *connection, void *buffer, size_t length) {
    ERR_clear_error();
    size_t got = 0;
    int ret = SSL_read_ex(connection->ssl, buffer, length, &got);
    if (ret == 1) return (long)got;
    int status = ctls_status(connection->ssl, ret);
    ERR_clear_error();
    return status;
}

long ctls_write(ctls_connection *connection, const void *buffer, size_t length) {
    ERR_clear_error();
    size_t written = 0;
    int ret = SSL_write_ex(connection->ssl, buffer, length, &written);
    if (ret == 1) return (long)written;
    int status = ctls_status(connection->ssl, ret);
    ERR_clear_error();
    return status == CTLS_CLOSED ? CTLS_ERROR : status;
}

void ctls_shutdown(ctls_connection *connection) {
    ERR_clear_error();
    (void)SSL_shutdown(connection->ssl);
    ERR_clear_error();
}

int ctls_alpn(ctls_connection *connection) {
    const unsigned char *data = NULL;
    unsigned int len = 0;
    SSL_get0_alpn_selected(connection->ssl, &data, &len);
    if (len == 2 && memcmp(data, "h2", 2) == 0) return 2;
    if (len == 8 && memcmp(data, "http/1.1", 8) == 0) return 1;
    return 0;
}

const char *ctls_version(ctls_connection *connection) { return SSL_get_version(connection->ssl); }
